//! OpenAI-format providers (OpenAI, Azure OpenAI, Groq and other compatible servers): the
//! IO-free translation between Anthropic Messages and OpenAI Chat Completions (requests,
//! streams, whole responses, errors), token estimates and usage, with provider differences as
//! data ([`Quirks`]).

mod chunk;
pub mod codec;
pub mod count_tokens;
pub mod envelope;
pub mod error;
mod frames;
pub mod provider;
pub mod quirks;
pub mod request;
pub mod response;
pub mod stream;
pub mod tool_names;
pub mod usage;

#[cfg(test)]
mod request_tests;
#[cfg(test)]
mod response_tests;
#[cfg(test)]
mod stream_props;
#[cfg(test)]
mod stream_tests;

/// The summary types the Anthropic observer reports; translated responses report the same.
pub use crate::governance::Usage;
pub use crate::observe::summary::{ResponseSummary, ToolCall};
pub use crate::providers::anthropic::observer::{MAX_TOOL_CALLS, MAX_TOOL_INPUT_BYTES};

pub use chunk::stop_reason;
pub use count_tokens::{count_tokens_body, estimate_input_tokens};
pub use error::{TranslatedError, anthropic_status, translate_error};
pub use quirks::{MaxTokensField, Quirks};
pub use request::{RequestError, TranslatedRequest, translate_request};
pub use response::{ResponseError, translate_response};
pub use stream::{StreamOutcome, StreamTranslator};
pub use tool_names::ToolNameMap;
pub use usage::{OpenAiUsage, usage_of};
