//! Server-Sent Events, IO-free: the incremental parser that finds complete events in a byte
//! stream split anywhere. Only the SSE protocol lives here; what the events mean belongs to the
//! provider whose stream it is (`providers::anthropic::observer`).

pub mod parser;

pub use parser::{MAX_EVENT_BYTES, SseEvent, SseParser};

#[cfg(test)]
pub(crate) mod parser_tests;
