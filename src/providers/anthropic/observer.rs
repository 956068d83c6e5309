//! Watches an Anthropic Messages stream from the side, event by event, and keeps what metering,
//! tracing and audit need (ids, model, usage, stop reason, tool calls, errors, first token)
//! without touching the bytes that are forwarded.

use memchr::memmem;
use simd_json::prelude::*;
use simd_json::tape::Value as JsonValue;

use super::json_body::{JsonScratch, read_usage};
pub use crate::governance::Usage;
pub use crate::observe::summary::{ResponseSummary, ToolCall};
use crate::sse::parser::SseEvent;

/// Most tool calls recorded for one response; later `tool_use` blocks are not recorded.
pub const MAX_TOOL_CALLS: usize = 1024;

/// Most bytes of one tool call's input JSON kept; once a fragment would pass it, that fragment
/// and every later one for the call are dropped (the kept prefix is then not valid JSON).
pub const MAX_TOOL_INPUT_BYTES: usize = 16 * 1024 * 1024;

/// The Anthropic stream events the observer reads; every other event is ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EventKind {
    MessageStart,
    MessageDelta,
    MessageStop,
    ContentBlockStart,
    ContentBlockDelta,
    ContentBlockStop,
    Error,
}

impl EventKind {
    fn from_name(name: &[u8]) -> Option<Self> {
        Some(match name {
            b"message_start" => Self::MessageStart,
            b"message_delta" => Self::MessageDelta,
            b"message_stop" => Self::MessageStop,
            b"content_block_start" => Self::ContentBlockStart,
            b"content_block_delta" => Self::ContentBlockDelta,
            b"content_block_stop" => Self::ContentBlockStop,
            b"error" => Self::Error,
            _ => return None,
        })
    }
}

/// Where a `tool_use` content block's input goes.
#[derive(Clone, Copy, Debug)]
struct ToolSlot {
    /// The block's `index` in the stream.
    block_index: u64,
    /// Its position in `ResponseSummary::tool_calls`.
    call: usize,
    /// A fragment did not fit [`MAX_TOOL_INPUT_BYTES`]: ignore the rest.
    full: bool,
}

/// Observer for one response; feed it every event of the stream in order.
pub struct AnthropicObserver {
    summary: ResponseSummary,
    tool_slots: Vec<ToolSlot>,
    json: JsonScratch,
    input_json_delta: memmem::Finder<'static>,
}

impl Default for AnthropicObserver {
    fn default() -> Self {
        Self::new()
    }
}

impl AnthropicObserver {
    pub fn new() -> Self {
        Self {
            summary: ResponseSummary::default(),
            tool_slots: Vec::new(),
            json: JsonScratch::new(),
            input_json_delta: memmem::Finder::new(br#""input_json_delta""#),
        }
    }

    /// Take note of one event. Never panics; malformed or unknown events are ignored.
    pub fn on_event(&mut self, ev: &SseEvent<'_>) {
        let named = EventKind::from_name(ev.event);
        match named {
            // `ping` and event types we do not read: nothing to parse.
            None if !ev.event.is_empty() => return,
            Some(EventKind::MessageStop) => {
                self.summary.saw_message_stop = true;
                return;
            }
            // Text and thinking deltas are most of a stream and, once the first token is noted,
            // carry nothing we keep: skip their parse. A tool-input delta carries the raw text
            // `"input_json_delta"` (providers do not \u-escape plain ASCII, and a raw `"` only
            // delimits strings, so text cannot hide it); a rare false positive costs one parse.
            Some(EventKind::ContentBlockDelta)
                if self.summary.first_token_seen
                    && self.input_json_delta.find(ev.data).is_none() =>
            {
                return;
            }
            _ => {}
        }
        let Self {
            summary,
            tool_slots,
            json,
            ..
        } = self;
        json.with_parsed(ev.data, |root| {
            // An event without an `event:` line is typed by its JSON `type`.
            let kind = named.or_else(|| {
                root.get_str("type")
                    .and_then(|name| EventKind::from_name(name.as_bytes()))
            });
            if let Some(kind) = kind {
                apply(kind, root, summary, tool_slots);
            }
        });
    }

    pub fn summary(&self) -> &ResponseSummary {
        &self.summary
    }

    pub fn into_summary(self) -> ResponseSummary {
        self.summary
    }
}

fn apply(
    kind: EventKind,
    root: JsonValue<'_, '_>,
    summary: &mut ResponseSummary,
    tool_slots: &mut Vec<ToolSlot>,
) {
    match kind {
        EventKind::MessageStart => {
            let Some(message) = root.get("message") else {
                return;
            };
            if let Some(id) = message.get_str("id") {
                summary.message_id = Some(id.to_owned());
            }
            if let Some(model) = message.get_str("model") {
                summary.model = Some(model.to_owned());
            }
            if let Some(usage) = message.get("usage") {
                read_usage(usage, &mut summary.usage);
            }
        }
        EventKind::MessageDelta => {
            let delta = root.get("delta");
            if let Some(stop_reason) = delta.as_ref().and_then(|d| d.get_str("stop_reason")) {
                summary.stop_reason = Some(stop_reason.to_owned());
            }
            if let Some(usage) = root.get("usage") {
                read_usage(usage, &mut summary.usage);
            }
        }
        EventKind::MessageStop => summary.saw_message_stop = true,
        EventKind::ContentBlockStart => {
            let (Some(block_index), Some(block)) =
                (root.get_u64("index"), root.get("content_block"))
            else {
                return;
            };
            if block.get_str("type") != Some("tool_use")
                || summary.tool_calls.len() >= MAX_TOOL_CALLS
            {
                return;
            }
            tool_slots.retain(|slot| slot.block_index != block_index);
            tool_slots.push(ToolSlot {
                block_index,
                call: summary.tool_calls.len(),
                full: false,
            });
            summary.tool_calls.push(ToolCall {
                id: block.get_str("id").unwrap_or_default().to_owned(),
                name: block.get_str("name").unwrap_or_default().to_owned(),
                input_json: String::new(),
            });
        }
        EventKind::ContentBlockDelta => {
            let Some(delta) = root.get("delta") else {
                return;
            };
            match delta.get_str("type") {
                Some("text_delta" | "thinking_delta") => summary.first_token_seen = true,
                Some("input_json_delta") => {
                    summary.first_token_seen = true;
                    let (Some(block_index), Some(fragment)) =
                        (root.get_u64("index"), delta.get_str("partial_json"))
                    else {
                        return;
                    };
                    append_tool_input(block_index, fragment, summary, tool_slots);
                }
                _ => {}
            }
        }
        EventKind::ContentBlockStop => {
            let Some(block_index) = root.get_u64("index") else {
                return;
            };
            let slot = tool_slots
                .iter()
                .find(|s| s.block_index == block_index && !s.full);
            if let Some(call) = slot.and_then(|s| summary.tool_calls.get_mut(s.call))
                && call.input_json.is_empty()
            {
                // A tool without parameters streams only `""`; its input is the empty object.
                call.input_json.push_str("{}");
            }
        }
        EventKind::Error => {
            let error = root.get("error");
            if let Some(error_type) = error.as_ref().and_then(|e| e.get_str("type")) {
                summary.error_type = Some(error_type.to_owned());
            }
        }
    }
}

fn append_tool_input(
    block_index: u64,
    fragment: &str,
    summary: &mut ResponseSummary,
    tool_slots: &mut [ToolSlot],
) {
    let Some(slot) = tool_slots.iter_mut().find(|s| s.block_index == block_index) else {
        return;
    };
    if slot.full {
        return;
    }
    let Some(call) = summary.tool_calls.get_mut(slot.call) else {
        return;
    };
    if call.input_json.len() + fragment.len() > MAX_TOOL_INPUT_BYTES {
        slot.full = true;
        return;
    }
    call.input_json.push_str(fragment);
}
