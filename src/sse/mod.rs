//! Server-Sent Events and Anthropic Messages bodies, IO-free: an incremental SSE parser, an
//! observer that reads usage and tool calls from an Anthropic stream on the side, the same
//! summary for non-streaming bodies, and the request peek that reads the deciding fields of a
//! client's body without re-serialising it.

pub mod json_body;
pub mod observer;
pub mod parser;
pub mod request_peek;

pub use json_body::{error_type_of, summarize_message_json};
pub use observer::{AnthropicObserver, ResponseSummary, ToolCall, Usage};
pub use parser::{MAX_EVENT_BYTES, SseEvent, SseParser};
pub use request_peek::{PeekError, RequestPeek, peek_request, substitute_model};

#[cfg(test)]
mod json_body_tests;
#[cfg(test)]
mod observer_tests;
#[cfg(test)]
mod parser_tests;
#[cfg(test)]
mod request_peek_tests;
