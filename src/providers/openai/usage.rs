//! Reads token usage from OpenAI-format responses (stream chunks and whole completions) into the
//! same [`Usage`] the Anthropic observer reports, so metering settles both wire formats alike.

use serde::Deserialize;

use super::Usage;

/// The `usage` object of a chunk or a completion.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct OpenAiUsage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
    #[serde(default)]
    pub prompt_tokens_details: Option<PromptDetails>,
    /// DeepSeek's name for the cached part of the prompt.
    #[serde(default)]
    pub prompt_cache_hit_tokens: Option<u64>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct PromptDetails {
    #[serde(default)]
    pub cached_tokens: Option<u64>,
}

impl OpenAiUsage {
    /// Anthropic's split: `input_tokens` excludes the cached part, which is
    /// `cache_read_input_tokens`; `output_tokens` is `completion_tokens`.
    pub fn to_anthropic(self) -> Usage {
        let cached = self
            .prompt_tokens_details
            .and_then(|d| d.cached_tokens)
            .or(self.prompt_cache_hit_tokens)
            .unwrap_or(0)
            .min(self.prompt_tokens);
        Usage {
            input_tokens: self.prompt_tokens - cached,
            output_tokens: self.completion_tokens,
            cache_read_input_tokens: cached,
            cache_creation_input_tokens: 0,
        }
    }
}

/// What the extractor reads of a chunk: `usage`, or Groq's `x_groq.usage`.
#[derive(Deserialize)]
struct WithUsage {
    #[serde(default)]
    usage: Option<OpenAiUsage>,
    #[serde(default)]
    x_groq: Option<GroqExtra>,
}

#[derive(Deserialize)]
pub(super) struct GroqExtra {
    #[serde(default)]
    pub(super) usage: Option<OpenAiUsage>,
}

/// Usage carried by one stream chunk's `data` (or a whole completion body), if any. Malformed
/// JSON or a chunk without usage gives `None`.
pub fn usage_of(json: &[u8]) -> Option<Usage> {
    let parsed: WithUsage = serde_json::from_slice(json).ok()?;
    parsed
        .usage
        .or(parsed.x_groq.and_then(|g| g.usage))
        .map(OpenAiUsage::to_anthropic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_tokens_are_split_out_of_the_prompt() {
        let chunk = br#"{"choices":[],"usage":{"prompt_tokens":100,"completion_tokens":7,"total_tokens":107,"prompt_tokens_details":{"cached_tokens":60}}}"#;
        let usage = usage_of(chunk).unwrap();
        assert_eq!(
            usage,
            Usage {
                input_tokens: 40,
                output_tokens: 7,
                cache_read_input_tokens: 60,
                cache_creation_input_tokens: 0
            }
        );
    }

    #[test]
    fn groq_and_deepseek_shapes_are_read() {
        let groq = br#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"x_groq":{"id":"req_1","usage":{"prompt_tokens":5,"completion_tokens":2}}}"#;
        assert_eq!(usage_of(groq).unwrap().input_tokens, 5);
        let deepseek =
            br#"{"usage":{"prompt_tokens":9,"completion_tokens":1,"prompt_cache_hit_tokens":4}}"#;
        let usage = usage_of(deepseek).unwrap();
        assert_eq!((usage.input_tokens, usage.cache_read_input_tokens), (5, 4));
    }

    #[test]
    fn no_usage_or_bad_json_reads_none() {
        assert_eq!(usage_of(br#"{"choices":[]}"#), None);
        assert_eq!(usage_of(br#"{"usage":null}"#), None);
        assert_eq!(usage_of(b"{not json"), None);
        assert_eq!(usage_of(b""), None);
    }

    #[test]
    fn cached_above_prompt_never_underflows() {
        let odd = br#"{"usage":{"prompt_tokens":3,"prompt_tokens_details":{"cached_tokens":9}}}"#;
        let usage = usage_of(odd).unwrap();
        assert_eq!((usage.input_tokens, usage.cache_read_input_tokens), (0, 3));
    }
}
