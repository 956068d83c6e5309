//! Writes the OpenAI `chat.completion.chunk` lines the stream translation emits straight into
//! the output buffer: every chunk starts with the same pre-rendered `id`, `object`, `created`
//! and `model`, so they are consistent across the stream and cost one copy each.

use serde::Deserialize;

use super::error::write_optional;
use super::{write_json_string, write_u64};

/// Token counts as Anthropic reports them (`message_start`, `message_delta`, a whole message).
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct AnthropicUsage {
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
    #[serde(default)]
    pub cache_read_input_tokens: u64,
    #[serde(default)]
    pub cache_creation_input_tokens: u64,
}

/// A usage report whose fields may be absent (a `message_delta` carries only what changed).
#[derive(Clone, Copy, Debug, Default, Deserialize)]
pub(super) struct UsageUpdate {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
}

impl AnthropicUsage {
    /// Applies a report: each field present replaces the one held (Anthropic's counts are
    /// cumulative).
    pub(super) fn update(&mut self, update: &UsageUpdate) {
        let pairs = [
            (&mut self.input_tokens, update.input_tokens),
            (&mut self.output_tokens, update.output_tokens),
            (
                &mut self.cache_read_input_tokens,
                update.cache_read_input_tokens,
            ),
            (
                &mut self.cache_creation_input_tokens,
                update.cache_creation_input_tokens,
            ),
        ];
        for (held, new) in pairs {
            if let Some(new) = new {
                *held = new;
            }
        }
    }

    /// OpenAI's `prompt_tokens`: every input token, cached or not.
    pub fn prompt_tokens(&self) -> u64 {
        self.input_tokens
            .saturating_add(self.cache_read_input_tokens)
            .saturating_add(self.cache_creation_input_tokens)
    }

    /// Appends OpenAI's `usage` object: `prompt_tokens` (input + cache read + cache creation),
    /// `completion_tokens` (output), `total_tokens`, `prompt_tokens_details.cached_tokens`
    /// (cache read).
    pub fn write_openai(&self, out: &mut Vec<u8>) {
        let prompt = self.prompt_tokens();
        out.extend_from_slice(b"{\"prompt_tokens\":");
        write_u64(out, prompt);
        out.extend_from_slice(b",\"completion_tokens\":");
        write_u64(out, self.output_tokens);
        out.extend_from_slice(b",\"total_tokens\":");
        write_u64(out, prompt.saturating_add(self.output_tokens));
        out.extend_from_slice(b",\"prompt_tokens_details\":{\"cached_tokens\":");
        write_u64(out, self.cache_read_input_tokens);
        out.extend_from_slice(b"}}");
    }
}

/// Every Anthropic stop reason with the finish reason it maps to (plus an unknown one).
#[cfg(test)]
pub(super) const STOP_REASONS: [(&str, &str); 8] = [
    ("end_turn", "stop"),
    ("stop_sequence", "stop"),
    ("pause_turn", "stop"),
    ("max_tokens", "length"),
    ("model_context_window_exceeded", "length"),
    ("tool_use", "tool_calls"),
    ("refusal", "content_filter"),
    ("something_new", "stop"),
];

/// OpenAI's `finish_reason` for an Anthropic stop reason: end_turn, stop_sequence, pause_turn
/// → stop; max_tokens, model_context_window_exceeded → length; tool_use → tool_calls; refusal
/// → content_filter; anything else → stop.
pub fn finish_reason(stop_reason: &str) -> &'static str {
    match stop_reason {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        _ => "stop",
    }
}

/// The chunk lines of one response.
pub(super) struct ChunkWriter {
    /// `data: {"id":..,"object":"chat.completion.chunk","created":..,"model":..,"choices":[`
    prefix: Vec<u8>,
    /// With `include_usage`, every chunk but the last carries `"usage":null` (as OpenAI's do).
    usage_null: bool,
}

impl ChunkWriter {
    pub fn new(id: &str, created: u64, model: &str, include_usage: bool) -> Self {
        let mut prefix = Vec::with_capacity(id.len() + model.len() + 96);
        prefix.extend_from_slice(b"data: {\"id\":");
        write_json_string(&mut prefix, id);
        prefix.extend_from_slice(b",\"object\":\"chat.completion.chunk\",\"created\":");
        write_u64(&mut prefix, created);
        prefix.extend_from_slice(b",\"model\":");
        write_json_string(&mut prefix, model);
        prefix.extend_from_slice(b",\"choices\":[");
        ChunkWriter {
            prefix,
            usage_null: include_usage,
        }
    }

    /// One chunk with one choice: `delta` writes the delta object's fields.
    fn choice(&self, out: &mut Vec<u8>, delta: impl FnOnce(&mut Vec<u8>), finish: Option<&str>) {
        out.extend_from_slice(&self.prefix);
        out.extend_from_slice(b"{\"index\":0,\"delta\":{");
        delta(out);
        out.extend_from_slice(b"},\"finish_reason\":");
        write_optional(out, finish);
        out.extend_from_slice(if self.usage_null {
            b"}],\"usage\":null}\n\n"
        } else {
            b"}]}\n\n"
        });
    }

    /// The first chunk: `{"role":"assistant","content":""}`.
    pub fn role(&self, out: &mut Vec<u8>) {
        self.choice(
            out,
            |o| o.extend_from_slice(b"\"role\":\"assistant\",\"content\":\"\""),
            None,
        );
    }

    /// `delta.content` (text) or `delta.reasoning_content` (thinking).
    pub fn text(&self, out: &mut Vec<u8>, field: TextField, text: &str) {
        self.choice(
            out,
            |o| {
                o.extend_from_slice(match field {
                    TextField::Content => b"\"content\":",
                    TextField::Reasoning => b"\"reasoning_content\":",
                });
                write_json_string(o, text);
            },
            None,
        );
    }

    /// A tool call's first chunk: index, id, type, name and empty arguments.
    pub fn tool_start(&self, out: &mut Vec<u8>, ordinal: u32, id: &str, name: &str) {
        self.choice(
            out,
            |o| {
                tool_call_index(o, ordinal);
                o.extend_from_slice(b",\"id\":");
                write_json_string(o, id);
                o.extend_from_slice(b",\"type\":\"function\",\"function\":{\"name\":");
                write_json_string(o, name);
                o.extend_from_slice(b",\"arguments\":\"\"}}]");
            },
            None,
        );
    }

    /// A fragment of a tool call's arguments.
    pub fn tool_arguments(&self, out: &mut Vec<u8>, ordinal: u32, fragment: &str) {
        self.choice(
            out,
            |o| {
                tool_call_index(o, ordinal);
                o.extend_from_slice(b",\"function\":{\"arguments\":");
                write_json_string(o, fragment);
                o.extend_from_slice(b"}}]");
            },
            None,
        );
    }

    /// The chunk with an empty delta and the finish reason.
    pub fn finish(&self, out: &mut Vec<u8>, reason: &str) {
        self.choice(out, |_| {}, Some(reason));
    }

    /// The usage chunk: empty `choices`, `usage` filled.
    pub fn usage(&self, out: &mut Vec<u8>, usage: &AnthropicUsage) {
        out.extend_from_slice(&self.prefix);
        out.extend_from_slice(b"],\"usage\":");
        usage.write_openai(out);
        out.extend_from_slice(b"}\n\n");
    }
}

/// `"tool_calls":[{"index":N` (the call's ordinal).
fn tool_call_index(out: &mut Vec<u8>, ordinal: u32) {
    out.extend_from_slice(b"\"tool_calls\":[{\"index\":");
    write_u64(out, u64::from(ordinal));
}

/// Which text field of the delta a fragment goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TextField {
    Content,
    Reasoning,
}

/// The end of every successful stream.
pub(super) const DONE: &[u8] = b"data: [DONE]\n\n";
