//! Reads what metering and audit need (usage, stop reason, tool calls, error type) out of an
//! Anthropic non-streaming response body, and holds the reusable simd-json scratch the stream
//! observer parses event data with.

use simd_json::prelude::*;
use simd_json::tape::{Tape, Value as JsonValue};

use super::observer::{ResponseSummary, ToolCall, Usage};

/// Reusable simd-json parse state: a padded copy of the input (simd-json unescapes strings in
/// place, so it never parses the caller's bytes), its stage buffers and its tape. After the first
/// few documents, parsing one allocates nothing.
pub(crate) struct JsonScratch {
    input: Vec<u8>,
    buffers: simd_json::Buffers,
    /// Always empty between calls; kept only for its allocation.
    tape: Tape<'static>,
}

impl JsonScratch {
    pub(crate) fn new() -> Self {
        Self {
            input: Vec::new(),
            buffers: simd_json::Buffers::new(0),
            tape: Tape(Vec::new()),
        }
    }

    /// Parse `json` and hand its root to `read`; `None` when `json` is not valid JSON.
    pub(crate) fn with_parsed<R>(
        &mut self,
        json: &[u8],
        read: impl FnOnce(JsonValue<'_, '_>) -> R,
    ) -> Option<R> {
        self.input.clear();
        self.input.extend_from_slice(json);
        self.input.resize(json.len() + simd_json::INPUT_PADDING, 0);
        let mut tape = std::mem::replace(&mut self.tape, Tape(Vec::new())).reset();
        let parsed =
            simd_json::fill_tape_padded(&mut self.input, json.len(), &mut self.buffers, &mut tape);
        let result = parsed.ok().map(|()| read(tape.as_value()));
        self.tape = tape.reset();
        result
    }
}

/// Summarise an Anthropic non-streaming Message (`{"id","type":"message","model","content",
/// "stop_reason","usage"}`): id, model, usage, stop reason and the `tool_use` blocks, each input
/// serialised compactly. An error body (`"type":"error"`) gives a summary with only `error_type`.
/// `saw_message_stop` and `first_token_seen` stay false: they describe streams. `None` when the
/// body is not a JSON object.
pub fn summarize_message_json(body: &[u8]) -> Option<ResponseSummary> {
    JsonScratch::new()
        .with_parsed(body, |root| {
            root.is_object().then(|| {
                if root.get_str("type") == Some("error") {
                    return ResponseSummary {
                        error_type: error_type_in(root),
                        ..ResponseSummary::default()
                    };
                }
                let mut summary = ResponseSummary {
                    message_id: root.get_str("id").map(str::to_owned),
                    model: root.get_str("model").map(str::to_owned),
                    stop_reason: root.get_str("stop_reason").map(str::to_owned),
                    ..ResponseSummary::default()
                };
                if let Some(usage) = root.get("usage") {
                    read_usage(usage, &mut summary.usage);
                }
                let blocks = root.get_array("content");
                for block in blocks.iter().flat_map(|blocks| blocks.iter()) {
                    if block.get_str("type") == Some("tool_use") {
                        summary.tool_calls.push(ToolCall {
                            id: block.get_str("id").unwrap_or_default().to_owned(),
                            name: block.get_str("name").unwrap_or_default().to_owned(),
                            input_json: block
                                .get("input")
                                .map_or_else(|| "{}".to_owned(), |input| input.encode()),
                        });
                    }
                }
                summary
            })
        })
        .flatten()
}

/// The `error.type` of an Anthropic error body (`{"type":"error","error":{"type":..}}`); `None`
/// when the body is not JSON, has no `error.type` string, or has a top-level `type` other than
/// `"error"`.
pub fn error_type_of(body: &[u8]) -> Option<String> {
    JsonScratch::new()
        .with_parsed(body, |root| match root.get_str("type") {
            None | Some("error") => error_type_in(root),
            Some(_) => None,
        })
        .flatten()
}

fn error_type_in(root: JsonValue<'_, '_>) -> Option<String> {
    root.get("error")?.get_str("type").map(str::to_owned)
}

/// Copy every usage count present in `usage` into `into`, replacing what was there (Anthropic
/// counts are cumulative); counts that are absent, null or not integers are left alone.
pub(crate) fn read_usage(usage: JsonValue<'_, '_>, into: &mut Usage) {
    let fields = [
        ("input_tokens", &mut into.input_tokens),
        ("output_tokens", &mut into.output_tokens),
        ("cache_read_input_tokens", &mut into.cache_read_input_tokens),
        (
            "cache_creation_input_tokens",
            &mut into.cache_creation_input_tokens,
        ),
    ];
    for (key, slot) in fields {
        if let Some(count) = usage.get_u64(key) {
            *slot = count;
        }
    }
}
