//! `kind = "openai"`: OpenAI's Chat Completions API (`base_url` default
//! `https://api.openai.com/v1`, `POST {base_url}/chat/completions`, `Authorization: Bearer`).

use super::openai::Quirks;
use super::openai::envelope::Addressing;
use super::openai::provider::OpenAiFormat;

/// The `openai` kind.
pub static OPENAI: OpenAiFormat = OpenAiFormat {
    quirks: Quirks::OPENAI,
    addressing: Addressing::ChatCompletions,
};
