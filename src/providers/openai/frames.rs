//! Writes the Anthropic stream events the translation emits, straight into the output buffer
//! (no intermediate JSON values): one function per event shape.

use crate::json::{write_json_string, write_u64};
use crate::providers::anthropic::error_body::anthropic_error_body;

use super::Usage;

/// The kind of a content block the translation opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockKind {
    Thinking,
    Text,
    ToolUse,
}

fn open(out: &mut Vec<u8>, event: &str) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(event.as_bytes());
    out.extend_from_slice(b"\ndata: {\"type\":\"");
    out.extend_from_slice(event.as_bytes());
    out.extend_from_slice(b"\"");
}

fn close(out: &mut Vec<u8>) {
    out.extend_from_slice(b"}\n\n");
}

fn usage(out: &mut Vec<u8>, usage: &Usage) {
    out.extend_from_slice(b"{\"input_tokens\":");
    write_u64(out, usage.input_tokens);
    out.extend_from_slice(b",\"cache_creation_input_tokens\":");
    write_u64(out, usage.cache_creation_input_tokens);
    out.extend_from_slice(b",\"cache_read_input_tokens\":");
    write_u64(out, usage.cache_read_input_tokens);
    out.extend_from_slice(b",\"output_tokens\":");
    write_u64(out, usage.output_tokens);
    out.push(b'}');
}

pub fn message_start(out: &mut Vec<u8>, id: &str, model: &str, initial: &Usage) {
    open(out, "message_start");
    out.extend_from_slice(b",\"message\":{\"id\":");
    write_json_string(out, id);
    out.extend_from_slice(b",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
    write_json_string(out, model);
    out.extend_from_slice(
        b",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":",
    );
    usage(out, initial);
    out.push(b'}');
    close(out);
}

/// `content_block_start`; `id` and `name` are used by tool_use blocks only.
pub fn block_start(out: &mut Vec<u8>, index: u32, kind: BlockKind, id: &str, name: &str) {
    open(out, "content_block_start");
    out.extend_from_slice(b",\"index\":");
    write_u64(out, u64::from(index));
    match kind {
        BlockKind::Thinking => out.extend_from_slice(
            b",\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}",
        ),
        BlockKind::Text => {
            out.extend_from_slice(b",\"content_block\":{\"type\":\"text\",\"text\":\"\"}")
        }
        BlockKind::ToolUse => {
            out.extend_from_slice(b",\"content_block\":{\"type\":\"tool_use\",\"id\":");
            write_json_string(out, id);
            out.extend_from_slice(b",\"name\":");
            write_json_string(out, name);
            out.extend_from_slice(b",\"input\":{}}");
        }
    }
    close(out);
}

/// `content_block_delta` of the kind's delta type (thinking_delta, text_delta,
/// input_json_delta).
pub fn block_delta(out: &mut Vec<u8>, index: u32, kind: BlockKind, fragment: &str) {
    open(out, "content_block_delta");
    out.extend_from_slice(b",\"index\":");
    write_u64(out, u64::from(index));
    out.extend_from_slice(match kind {
        BlockKind::Thinking => b",\"delta\":{\"type\":\"thinking_delta\",\"thinking\":",
        BlockKind::Text => b",\"delta\":{\"type\":\"text_delta\",\"text\":",
        BlockKind::ToolUse => b",\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":",
    });
    write_json_string(out, fragment);
    out.push(b'}');
    close(out);
}

pub fn block_stop(out: &mut Vec<u8>, index: u32) {
    open(out, "content_block_stop");
    out.extend_from_slice(b",\"index\":");
    write_u64(out, u64::from(index));
    close(out);
}

pub fn message_delta(out: &mut Vec<u8>, stop_reason: &str, final_usage: &Usage) {
    open(out, "message_delta");
    out.extend_from_slice(b",\"delta\":{\"stop_reason\":");
    write_json_string(out, stop_reason);
    out.extend_from_slice(b",\"stop_sequence\":null},\"usage\":");
    usage(out, final_usage);
    close(out);
}

pub fn message_stop(out: &mut Vec<u8>) {
    open(out, "message_stop");
    close(out);
}

/// `event: error` with the Anthropic error body.
pub fn error(out: &mut Vec<u8>, error_type: &str, message: &str) {
    out.extend_from_slice(b"event: error\ndata: ");
    anthropic_error_body(out, error_type, message);
    out.extend_from_slice(b"\n\n");
}
