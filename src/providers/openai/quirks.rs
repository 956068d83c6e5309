//! What differs between OpenAI-format servers, as data: the translation reads one [`Quirks`]
//! value per provider flavor instead of branching on the provider in code.

/// The request field that carries the output-token limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaxTokensField {
    /// `max_completion_tokens` (OpenAI and Azure OpenAI; required by reasoning models).
    MaxCompletionTokens,
    /// `max_tokens` (deprecated by OpenAI, but what most compatible servers read).
    MaxTokens,
}

impl MaxTokensField {
    pub fn name(self) -> &'static str {
        match self {
            MaxTokensField::MaxCompletionTokens => "max_completion_tokens",
            MaxTokensField::MaxTokens => "max_tokens",
        }
    }
}

/// One OpenAI-format provider flavor's differences from the OpenAI Chat Completions API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quirks {
    /// Where `max_tokens` of the Anthropic request goes.
    pub max_tokens_field: MaxTokensField,
    /// The target accepts `reasoning_effort`, so Anthropic `thinking` / `output_config.effort`
    /// map to it; otherwise they are dropped.
    pub reasoning_effort: bool,
    /// Top-level request fields the target rejects: removed from the translated body.
    pub unsupported_fields: &'static [&'static str],
    /// Fields of each `messages[]` entry the target rejects: removed from every message.
    pub unsupported_message_fields: &'static [&'static str],
}

/// Fields Groq rejects (its OpenAI-compatibility notes): log probabilities, logit bias, `n`.
const GROQ_UNSUPPORTED: &[&str] = &["logprobs", "logit_bias", "top_logprobs", "n"];

impl Quirks {
    /// api.openai.com.
    pub const OPENAI: Quirks = Quirks {
        max_tokens_field: MaxTokensField::MaxCompletionTokens,
        reasoning_effort: true,
        unsupported_fields: &[],
        unsupported_message_fields: &[],
    };

    /// Azure OpenAI deployments: OpenAI's own models and field names.
    pub const AZURE: Quirks = Quirks::OPENAI;

    /// Groq's OpenAI-compatible endpoint: `max_tokens`, no log probabilities, logit bias,
    /// `messages[].name` or `n`; `reasoning_effort` is off because only some of its models
    /// accept it (a per-model override belongs in provider config).
    pub const GROQ: Quirks = Quirks {
        max_tokens_field: MaxTokensField::MaxTokens,
        reasoning_effort: false,
        unsupported_fields: GROQ_UNSUPPORTED,
        unsupported_message_fields: &["name"],
    };

    /// Any other OpenAI-compatible server (Together, Fireworks, DeepSeek, Mistral, vLLM,
    /// Ollama): the conservative common subset.
    pub const COMPATIBLE: Quirks = Quirks {
        max_tokens_field: MaxTokensField::MaxTokens,
        reasoning_effort: false,
        unsupported_fields: GROQ_UNSUPPORTED,
        unsupported_message_fields: &["name"],
    };
}
