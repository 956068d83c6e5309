//! `kind = "openai"`: OpenAI's Chat Completions API (`base_url` default
//! `https://api.openai.com/v1`, `POST {base_url}/chat/completions`, `Authorization: Bearer`).

use super::openai::Quirks;
use super::openai::envelope::Addressing;
use super::openai::provider::OpenAiFormat;
use super::options::{KindOptions, no_options};
use crate::config::ProviderKind;

/// `kind = "openai"`.
pub const KIND: ProviderKind = ProviderKind::named("openai");

/// The `openai` kind.
pub static OPENAI: OpenAiFormat = OpenAiFormat {
    quirks: Quirks::OPENAI,
    addressing: Addressing::ChatCompletions,
    options: &OPENAI_OPTIONS,
};

/// No options of its own; `base_url` defaults to OpenAI's API; `keys` required.
static OPENAI_OPTIONS: KindOptions = KindOptions {
    keys: &[],
    needs_keys: true,
    check: |_, given| no_options(given, Some("https://api.openai.com/v1")),
};
