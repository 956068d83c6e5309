//! Turns a whole (non-streaming) OpenAI chat.completion body into the Anthropic Messages
//! response a client asked for, with the same summary the streaming translation reports.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::chunk::stop_reason;
use super::error::{TranslatedError, translate_error};
use super::tool_names::ToolNameMap;
use super::usage::OpenAiUsage;
use super::{ResponseSummary, ToolCall};

/// Why an upstream 200 body could not be translated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResponseError {
    /// Not a chat.completion (the reason); the client should get 502 `api_error`.
    Malformed(String),
    /// The body was an error object despite the 200: already in Anthropic form.
    Upstream(TranslatedError),
}

impl std::fmt::Display for ResponseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResponseError::Malformed(why) => write!(f, "malformed upstream response: {why}"),
            ResponseError::Upstream(e) => write!(f, "upstream error ({})", e.error_type),
        }
    }
}

impl std::error::Error for ResponseError {}

#[derive(Deserialize)]
struct Completion {
    #[serde(default)]
    id: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<OpenAiUsage>,
}

#[derive(Deserialize)]
struct Choice {
    message: Message,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    reasoning_content: Option<String>,
    #[serde(default)]
    reasoning: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    tool_calls: Vec<FunctionCall>,
}

#[derive(Deserialize)]
struct FunctionCall {
    #[serde(default)]
    id: String,
    function: Function,
}

#[derive(Deserialize)]
struct Function {
    name: String,
    #[serde(default)]
    arguments: String,
}

/// Translates a chat.completion body: content blocks in the order thinking (reasoning), text
/// (content, or the refusal), tool_use (name restored through `names`, `input` parsed from the
/// arguments; empty arguments are `{}`); `stop_reason` mapped as in streams; usage split as in
/// [`OpenAiUsage::to_anthropic`]; `fallback_model` when the body names no model.
pub fn translate_response(
    body: &[u8],
    names: &ToolNameMap,
    fallback_model: &str,
) -> Result<(Vec<u8>, ResponseSummary), ResponseError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ResponseError::Malformed(e.to_string()))?;
    if value.get("error").is_some_and(|e| !e.is_null()) {
        return Err(ResponseError::Upstream(translate_error(500, body)));
    }
    let completion: Completion =
        serde_json::from_value(value).map_err(|e| ResponseError::Malformed(e.to_string()))?;
    let choice = completion
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| ResponseError::Malformed("no choices".into()))?;
    let message = choice.message;
    let mut summary = ResponseSummary::default();
    let mut content = Vec::new();
    if let Some(thinking) = message
        .reasoning_content
        .or(message.reasoning)
        .filter(|t| !t.is_empty())
    {
        content.push(json!({"type": "thinking", "thinking": thinking, "signature": ""}));
    }
    if let Some(text) = message
        .content
        .or(message.refusal)
        .filter(|t| !t.is_empty())
    {
        content.push(json!({"type": "text", "text": text}));
    }
    for (ordinal, call) in message.tool_calls.into_iter().enumerate() {
        let arguments = call.function.arguments.trim();
        let input: Value = if arguments.is_empty() {
            Value::Object(Map::new())
        } else {
            serde_json::from_str(arguments).map_err(|e| {
                ResponseError::Malformed(format!("tool call arguments are not JSON: {e}"))
            })?
        };
        let id = if call.id.is_empty() {
            format!("call_{ordinal}")
        } else {
            call.id
        };
        let name = names.inbound(&call.function.name).to_owned();
        summary.tool_calls.push(ToolCall {
            id: id.clone(),
            name: name.clone(),
            input_json: serde_json::to_string(&input).unwrap_or_default(),
        });
        content.push(json!({"type": "tool_use", "id": id, "name": name, "input": input}));
    }
    let stop = stop_reason(choice.finish_reason.as_deref().unwrap_or("stop"));
    let usage = completion.usage.unwrap_or_default().to_anthropic();
    let id = match completion.id.as_str() {
        "" => "msg_openai".to_owned(),
        id if id.starts_with("msg_") => id.to_owned(),
        id => format!("msg_{id}"),
    };
    let model = if completion.model.is_empty() {
        fallback_model.to_owned()
    } else {
        completion.model
    };
    let out = json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": null,
        "usage": {
            "input_tokens": usage.input_tokens,
            "cache_creation_input_tokens": usage.cache_creation_input_tokens,
            "cache_read_input_tokens": usage.cache_read_input_tokens,
            "output_tokens": usage.output_tokens,
        },
    });
    summary.message_id = Some(id);
    summary.model = Some(model);
    summary.usage = usage;
    summary.stop_reason = Some(stop.to_owned());
    summary.saw_message_stop = true;
    summary.first_token_seen = true;
    Ok((serde_json::to_vec(&out).unwrap_or_default(), summary))
}
