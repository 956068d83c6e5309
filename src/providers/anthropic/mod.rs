//! Anthropic, the passthrough provider and the format sluice's clients speak: its envelope
//! (headers and addressing of the upstream request), its dialect (the Messages body peek, the
//! stream observer and the non-streaming summary that extract usage), its response codec and
//! its error body.

pub mod codec;
pub mod envelope;
pub mod error_body;
pub mod json_body;
pub mod observer;
pub mod request_peek;

pub use codec::{Anthropic, EventStreamCodec, KIND, MessageCodec};
pub use envelope::write_request_head;
pub use json_body::{error_type_of, summarize_message_json};
pub use observer::{AnthropicObserver, ResponseSummary, ToolCall, Usage};
pub use request_peek::{PeekError, RequestPeek, peek_request, substitute_model};

// The stream tests reuse the SSE parser's fixtures.
#[cfg(test)]
use crate::sse::{parser, parser_tests};

#[cfg(test)]
mod codec_tests;
#[cfg(test)]
mod json_body_tests;
#[cfg(test)]
mod observer_tests;
#[cfg(test)]
mod request_peek_tests;
