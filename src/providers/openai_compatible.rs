//! `kind = "openai_compatible"`: servers speaking OpenAI's wire format (Groq, Together,
//! Fireworks, DeepSeek, Mistral, vLLM, Ollama) at a required `base_url`. Their differences
//! are data ([`Quirks::COMPATIBLE`]: `max_tokens`, no `logprobs`/`logit_bias`/`n`/`name`).

use super::openai::Quirks;
use super::openai::envelope::Addressing;
use super::openai::provider::OpenAiFormat;
use super::options::{KindOptions, no_options};
use crate::config::ProviderKind;

/// `kind = "openai_compatible"`.
pub const KIND: ProviderKind = ProviderKind::named("openai_compatible");

/// The `openai_compatible` kind.
pub static OPENAI_COMPATIBLE: OpenAiFormat = OpenAiFormat {
    quirks: Quirks::COMPATIBLE,
    addressing: Addressing::ChatCompletions,
    options: &COMPATIBLE_OPTIONS,
};

/// No options of its own; `base_url` and `keys` required.
static COMPATIBLE_OPTIONS: KindOptions = KindOptions {
    keys: &[],
    needs_keys: true,
    check: |_, given| no_options(given, None),
};
