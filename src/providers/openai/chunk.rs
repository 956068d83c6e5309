//! The shape of one OpenAI Chat Completions stream chunk, borrowed from its `data:` bytes
//! (strings without escapes are not copied); unknown fields (Azure's content-filter results,
//! logprobs, ...) are ignored.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;

use super::usage::{GroqExtra, OpenAiUsage};

#[derive(Deserialize)]
pub(super) struct Chunk<'a> {
    #[serde(borrow, default)]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub model: Option<Cow<'a, str>>,
    /// Empty on Azure's first chunk and on the usage chunk; `null` on some servers.
    #[serde(borrow, default)]
    pub choices: Option<Vec<Choice<'a>>>,
    #[serde(default)]
    pub usage: Option<OpenAiUsage>,
    #[serde(default)]
    pub x_groq: Option<GroqExtra>,
    /// A mid-stream error object.
    #[serde(default)]
    pub error: Option<Value>,
}

impl Chunk<'_> {
    pub fn usage(&self) -> Option<OpenAiUsage> {
        self.usage
            .or_else(|| self.x_groq.as_ref().and_then(|g| g.usage))
    }
}

#[derive(Deserialize)]
pub(super) struct Choice<'a> {
    #[serde(default)]
    pub index: u64,
    #[serde(borrow, default)]
    pub delta: Option<Delta<'a>>,
    #[serde(borrow, default)]
    pub finish_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
pub(super) struct Delta<'a> {
    #[serde(borrow, default)]
    pub content: Option<Cow<'a, str>>,
    /// DeepSeek and vLLM's reasoning text.
    #[serde(borrow, default)]
    pub reasoning_content: Option<Cow<'a, str>>,
    /// Groq, Ollama and OpenRouter's reasoning text.
    #[serde(borrow, default)]
    pub reasoning: Option<Cow<'a, str>>,
    /// OpenAI's refusal text, shown to the client as text.
    #[serde(borrow, default)]
    pub refusal: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub tool_calls: Option<Vec<ToolCallDelta<'a>>>,
}

#[derive(Deserialize)]
pub(super) struct ToolCallDelta<'a> {
    #[serde(default)]
    pub index: u64,
    #[serde(borrow, default)]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub function: Option<FunctionDelta<'a>>,
}

#[derive(Deserialize)]
pub(super) struct FunctionDelta<'a> {
    #[serde(borrow, default)]
    pub name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub arguments: Option<Cow<'a, str>>,
}

/// Anthropic's stop reason for an OpenAI `finish_reason`: stop → end_turn, length →
/// max_tokens, tool_calls / function_call → tool_use, content_filter → refusal; anything else
/// → end_turn.
pub fn stop_reason(finish_reason: &str) -> &'static str {
    match finish_reason {
        "length" => "max_tokens",
        "tool_calls" | "function_call" => "tool_use",
        "content_filter" => "refusal",
        _ => "end_turn",
    }
}
