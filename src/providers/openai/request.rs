//! Rewrites an Anthropic Messages request body into an OpenAI Chat Completions request body for
//! one provider flavor, so a Claude Code request can be served by an OpenAI-format model.

use serde_json::{Map, Value, json};

use super::quirks::Quirks;
use super::tool_names::ToolNameMap;

/// The translated request and what its response translation needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TranslatedRequest {
    /// The OpenAI Chat Completions JSON body.
    pub body: Vec<u8>,
    /// Tool names that were shortened, to restore in the response.
    pub tool_names: ToolNameMap,
    /// The client asked for a stream.
    pub stream: bool,
}

/// Why a body could not be translated; every case is the client's fault (400
/// `invalid_request_error`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestError {
    /// Not JSON at all (the parser's message).
    NotJson(String),
    /// JSON, but not an object.
    NotAnObject,
    /// `messages` is missing or not an array.
    NoMessages,
    /// `messages[index]` has an unknown role or unusable content.
    BadMessage { index: usize, reason: &'static str },
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RequestError::NotJson(why) => write!(f, "request body is not valid JSON: {why}"),
            RequestError::NotAnObject => f.write_str("request body must be a JSON object"),
            RequestError::NoMessages => f.write_str("messages: field required (an array)"),
            RequestError::BadMessage { index, reason } => write!(f, "messages.{index}: {reason}"),
        }
    }
}

impl std::error::Error for RequestError {}

/// Thinking budgets below this map to `reasoning_effort: "low"`.
pub const LOW_EFFORT_BUDGET: u64 = 4096;
/// Thinking budgets below this (and at least [`LOW_EFFORT_BUDGET`]) map to `"medium"`; larger
/// ones to `"high"`.
pub const MEDIUM_EFFORT_BUDGET: u64 = 16384;

/// Translates `body` (an Anthropic Messages request) for an OpenAI-format provider with the
/// given quirks; `model` is the upstream model name (after the provider's model map).
///
/// Mapping: `system` (string or text blocks) and mid-conversation `system` messages become
/// `system` messages; each user turn's `tool_result` blocks become `tool` messages, in order,
/// before the rest of the turn; assistant `tool_use` blocks become `tool_calls` whose
/// `arguments` is the input as a JSON string; images become `image_url` parts (base64 as a data
/// URL); PDF documents become `file` parts; tools become functions (`input_schema` →
/// `parameters`; server tools without a schema are dropped); `tool_choice` auto/any/tool/none →
/// auto/required/named function/none, `disable_parallel_tool_use` → `parallel_tool_calls:
/// false`; `stop_sequences` → `stop`; `max_tokens` → the quirk's field; `metadata.user_id` →
/// `user`; `temperature` and `top_p` kept; `thinking`/`output_config.effort` →
/// `reasoning_effort` where the quirks allow it; `stream` adds `stream_options.include_usage`.
/// Everything else (cache_control, thinking blocks and signatures, top_k, context_management,
/// ...) is dropped. Tool names OpenAI rejects are shortened (see [`super::tool_names`]).
pub fn translate_request(
    body: &[u8],
    model: &str,
    quirks: &Quirks,
) -> Result<TranslatedRequest, RequestError> {
    let mut request: Value =
        serde_json::from_slice(body).map_err(|e| RequestError::NotJson(e.to_string()))?;
    // Strings and schemas are moved out of the parsed request, not copied.
    let request = request.as_object_mut().ok_or(RequestError::NotAnObject)?;
    let mut names = ToolNameMap::new();
    let mut out = Map::new();
    out.insert("model".into(), Value::from(model));

    let mut messages = Vec::new();
    if let Some(system) = request.get_mut("system") {
        let text = take_text(system);
        if !text.is_empty() {
            messages.push(json!({"role": "system", "content": text}));
        }
    }
    let history = request
        .get_mut("messages")
        .and_then(Value::as_array_mut)
        .ok_or(RequestError::NoMessages)?;
    for (index, message) in history.iter_mut().enumerate() {
        translate_message(message, &mut messages, &mut names)
            .map_err(|reason| RequestError::BadMessage { index, reason })?;
    }
    for message in &mut messages {
        if let Some(fields) = message.as_object_mut() {
            for field in quirks.unsupported_message_fields {
                fields.remove(*field);
            }
        }
    }
    out.insert("messages".into(), Value::Array(messages));

    let tools = translate_tools(request.get_mut("tools"), &mut names);
    if !tools.is_empty() {
        out.insert("tools".into(), Value::Array(tools));
        if let Some(choice) = request.get("tool_choice") {
            translate_tool_choice(choice, &mut out, &mut names);
        }
    }
    if let Some(max) = request.get("max_tokens").filter(|v| v.is_u64()) {
        out.insert(quirks.max_tokens_field.name().into(), max.clone());
    }
    for field in ["temperature", "top_p"] {
        if let Some(value) = request.get(field).filter(|v| v.is_number()) {
            out.insert(field.into(), value.clone());
        }
    }
    if let Some(stop) = request.get("stop_sequences").and_then(Value::as_array)
        && !stop.is_empty()
    {
        out.insert("stop".into(), Value::Array(stop.clone()));
    }
    if let Some(user) = request
        .get("metadata")
        .and_then(|m| m.get("user_id"))
        .and_then(Value::as_str)
    {
        out.insert("user".into(), Value::from(user));
    }
    if quirks.reasoning_effort
        && let Some(effort) = reasoning_effort(request)
    {
        out.insert("reasoning_effort".into(), Value::from(effort));
    }
    let stream = request.get("stream").and_then(Value::as_bool) == Some(true);
    if stream {
        out.insert("stream".into(), Value::Bool(true));
        out.insert("stream_options".into(), json!({"include_usage": true}));
    }
    for field in quirks.unsupported_fields {
        out.remove(*field);
    }
    let body = serde_json::to_vec(&Value::Object(out)).unwrap_or_default();
    Ok(TranslatedRequest {
        body,
        tool_names: names,
        stream,
    })
}

/// The text of a `system` value or of a content value, moved out of it: a string, or its
/// `text` blocks joined by newlines (other blocks ignored).
fn take_text(value: &mut Value) -> String {
    match value {
        Value::String(s) => std::mem::take(s),
        Value::Array(blocks) => {
            let mut text = String::new();
            for block in blocks {
                if let Some(t) = block.get("text").and_then(Value::as_str)
                    && block.get("type").and_then(Value::as_str) == Some("text")
                {
                    if !text.is_empty() {
                        text.push('\n');
                    }
                    text.push_str(t);
                }
            }
            text
        }
        _ => String::new(),
    }
}

fn translate_message(
    message: &mut Value,
    out: &mut Vec<Value>,
    names: &mut ToolNameMap,
) -> Result<(), &'static str> {
    let Some(message) = message.as_object_mut() else {
        return Err("a message must be an object");
    };
    let mut content = message.remove("content").ok_or("content: field required")?;
    match message.get("role").and_then(Value::as_str) {
        Some("system") => {
            out.push(json!({"role": "system", "content": take_text(&mut content)}));
        }
        Some("user") => translate_user(content, out)?,
        Some("assistant") => translate_assistant(content, out, names)?,
        _ => return Err("role must be user, assistant or system"),
    }
    Ok(())
}

fn translate_user(content: Value, out: &mut Vec<Value>) -> Result<(), &'static str> {
    let blocks = match content {
        Value::String(text) => {
            out.push(json!({"role": "user", "content": text}));
            return Ok(());
        }
        Value::Array(blocks) => blocks,
        _ => return Err("content must be a string or an array of blocks"),
    };
    let mut parts = Vec::new();
    for mut block in blocks {
        match block.get("type").and_then(Value::as_str) {
            Some("tool_result") => {
                let mut result = block
                    .get_mut("content")
                    .map(Value::take)
                    .unwrap_or_default();
                let id = block
                    .get("tool_use_id")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let text = take_text(&mut result);
                out.push(json!({"role": "tool", "tool_call_id": id, "content": text}));
                // A tool message carries text only: its images join the user turn.
                if let Some(inner) = result.as_array() {
                    parts.extend(inner.iter().filter_map(media_part));
                }
            }
            Some("text") => {
                if let Some(text @ Value::String(_)) = block.get_mut("text").map(Value::take) {
                    parts.push(json!({"type": "text", "text": text}));
                }
            }
            _ => parts.extend(media_part(&block)),
        }
    }
    if parts.is_empty() {
        return Ok(());
    }
    let content = if parts.iter().all(|p| p.get("type") == Some(&json!("text"))) {
        let texts: Vec<&str> = parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect();
        Value::from(texts.join("\n"))
    } else {
        Value::Array(parts)
    };
    out.push(json!({"role": "user", "content": content}));
    Ok(())
}

/// An image or document block as an OpenAI content part; `None` for other blocks.
fn media_part(block: &Value) -> Option<Value> {
    let source = block.get("source")?;
    let kind = source.get("type").and_then(Value::as_str)?;
    let media_type = source.get("media_type").and_then(Value::as_str);
    match (block.get("type").and_then(Value::as_str)?, kind) {
        ("image", "base64") => {
            let data = source.get("data").and_then(Value::as_str)?;
            let url = format!("data:{};base64,{data}", media_type.unwrap_or("image/png"));
            Some(json!({"type": "image_url", "image_url": {"url": url}}))
        }
        ("image", "url") => {
            let url = source.get("url").and_then(Value::as_str)?;
            Some(json!({"type": "image_url", "image_url": {"url": url}}))
        }
        ("document", "base64") => {
            let data = source.get("data").and_then(Value::as_str)?;
            let media_type = media_type.unwrap_or("application/pdf");
            Some(json!({"type": "file", "file": {
                "filename": "document.pdf",
                "file_data": format!("data:{media_type};base64,{data}"),
            }}))
        }
        ("document", "text") => {
            let text = source.get("data").and_then(Value::as_str)?;
            Some(json!({"type": "text", "text": text}))
        }
        _ => None,
    }
}

fn translate_assistant(
    content: Value,
    out: &mut Vec<Value>,
    names: &mut ToolNameMap,
) -> Result<(), &'static str> {
    let blocks = match content {
        Value::String(text) => {
            out.push(json!({"role": "assistant", "content": text}));
            return Ok(());
        }
        Value::Array(blocks) => blocks,
        _ => return Err("content must be a string or an array of blocks"),
    };
    let mut text = String::new();
    let mut calls = Vec::new();
    for block in blocks {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => {
                if let Some(t) = block.get("text").and_then(Value::as_str) {
                    if !text.is_empty() {
                        text.push('\n');
                    }
                    text.push_str(t);
                }
            }
            Some("tool_use") => {
                let id = block.get("id").and_then(Value::as_str).unwrap_or("");
                let name = block.get("name").and_then(Value::as_str).unwrap_or("");
                let arguments = match block.get("input") {
                    Some(input) => serde_json::to_string(input).unwrap_or_else(|_| "{}".into()),
                    None => "{}".to_owned(),
                };
                calls.push(json!({
                    "id": id,
                    "type": "function",
                    "function": {"name": names.outbound(name), "arguments": arguments},
                }));
            }
            // Thinking, redacted thinking and server-tool blocks have no OpenAI form.
            _ => {}
        }
    }
    if text.is_empty() && calls.is_empty() {
        return Ok(());
    }
    let mut message = Map::new();
    message.insert("role".into(), Value::from("assistant"));
    message.insert(
        "content".into(),
        if text.is_empty() {
            Value::Null
        } else {
            Value::from(text)
        },
    );
    if !calls.is_empty() {
        message.insert("tool_calls".into(), Value::Array(calls));
    }
    out.push(Value::Object(message));
    Ok(())
}

/// Client tools (those with an `input_schema`) as OpenAI functions; server tools are dropped.
fn translate_tools(tools: Option<&mut Value>, names: &mut ToolNameMap) -> Vec<Value> {
    let Some(tools) = tools.and_then(Value::as_array_mut) else {
        return Vec::new();
    };
    tools
        .iter_mut()
        .filter_map(|tool| {
            let schema = tool.get_mut("input_schema").map(Value::take)?;
            let name = tool.get("name").and_then(Value::as_str)?;
            let mut function = Map::new();
            function.insert("name".into(), Value::from(names.outbound(name)));
            if let Some(description) = tool.get("description").and_then(Value::as_str) {
                function.insert("description".into(), Value::from(description));
            }
            function.insert("parameters".into(), schema);
            Some(json!({"type": "function", "function": function}))
        })
        .collect()
}

fn translate_tool_choice(choice: &Value, out: &mut Map<String, Value>, names: &mut ToolNameMap) {
    let mapped = match choice.get("type").and_then(Value::as_str) {
        Some("auto") => Value::from("auto"),
        Some("any") => Value::from("required"),
        Some("none") => Value::from("none"),
        Some("tool") => match choice.get("name").and_then(Value::as_str) {
            Some(name) => json!({"type": "function", "function": {"name": names.outbound(name)}}),
            None => return,
        },
        _ => return,
    };
    out.insert("tool_choice".into(), mapped);
    if choice
        .get("disable_parallel_tool_use")
        .and_then(Value::as_bool)
        == Some(true)
    {
        out.insert("parallel_tool_calls".into(), Value::Bool(false));
    }
}

/// `reasoning_effort` for a request that asks for thinking: `output_config.effort` when given
/// (`max` → `high`), else from `thinking.budget_tokens` (see [`LOW_EFFORT_BUDGET`],
/// [`MEDIUM_EFFORT_BUDGET`]); adaptive thinking → `medium`; no or disabled thinking → none.
fn reasoning_effort(request: &Map<String, Value>) -> Option<&'static str> {
    let thinking = request.get("thinking")?;
    let budget = match thinking.get("type").and_then(Value::as_str)? {
        "enabled" => thinking.get("budget_tokens").and_then(Value::as_u64),
        "adaptive" => None,
        _ => return None,
    };
    let effort = request
        .get("output_config")
        .and_then(|c| c.get("effort"))
        .and_then(Value::as_str);
    Some(match (effort, budget) {
        (Some("low"), _) => "low",
        (Some("medium"), _) => "medium",
        (Some("high" | "max"), _) => "high",
        (_, Some(b)) if b < LOW_EFFORT_BUDGET => "low",
        (_, Some(b)) if b < MEDIUM_EFFORT_BUDGET => "medium",
        (_, Some(_)) => "high",
        (_, None) => "medium",
    })
}
