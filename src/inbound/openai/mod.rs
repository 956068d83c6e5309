//! OpenAI Chat Completions clients on sluice: the IO-free reverse translation that lets an
//! OpenAI SDK call `/v1/chat/completions` and be served by an Anthropic-dialect provider
//! (request → Messages body, Anthropic stream → `chat.completion.chunk` lines, Anthropic
//! message → `chat.completion`, errors in OpenAI's shape), plus what an OpenAI-format upstream
//! needs on the passthrough path (`stream_options.include_usage` spliced in) and the
//! `/v1/models` lists in both shapes.
//!
//! Model substitution on the passthrough path is `crate::sse::substitute_model`, which is
//! format-agnostic (it reads only the top-level `model` span); usage in OpenAI chunks is read by
//! the OpenAI-format providers' usage extractor.

mod chunks;
pub mod error;
mod messages;
pub mod models;
pub mod passthrough;
pub mod request;
pub mod response;
pub mod stream;

#[cfg(test)]
mod request_tests;
#[cfg(test)]
mod stream_props;
#[cfg(test)]
mod stream_tests;

// What this module uses from lower layers, in one place.
use crate::json::{write_json_string, write_u64};
use crate::sse::parser::SseParser;

pub use chunks::{AnthropicUsage, finish_reason};
pub use error::{OpenAiError, gateway_error, openai_type_and_code, upstream_error};
pub use models::{
    anthropic_models_body, merge_anthropic_models, openai_models_body, openai_models_from_anthropic,
};
pub use passthrough::ensure_include_usage;
pub use request::{RequestError, TranslatedRequest, translate_request};
pub use response::{ResponseError, translate_response};
pub use stream::{ChunkStream, StreamOutcome};
