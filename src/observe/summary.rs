//! What one response said about itself, as plain values: filled by the provider's response
//! codec while it relays, read by metrics, the access log and settlement.

use crate::governance::Usage;

/// One `tool_use` block the model produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The tool input as JSON text, exactly as the model streamed it (`{}` if it streamed none).
    pub input_json: String,
}

/// What one response said about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResponseSummary {
    pub message_id: Option<String>,
    pub model: Option<String>,
    pub usage: Usage,
    pub stop_reason: Option<String>,
    pub tool_calls: Vec<ToolCall>,
    pub saw_message_stop: bool,
    /// `error.type` of an `error` event (e.g. `overloaded_error`).
    pub error_type: Option<String>,
    /// A `text`, `thinking` or `input_json` delta has arrived.
    pub first_token_seen: bool,
}
