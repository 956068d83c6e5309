//! Turns an OpenAI Chat Completions request body into an Anthropic Messages request body, so an
//! OpenAI SDK client can be served by any Anthropic-dialect provider. Parsing and validation
//! happen first ([`translate_request`]); the routed model and the model's output limit are
//! filled in last ([`TranslatedRequest::into_anthropic_body`]), once the caller knows them.
//!
//! Field mapping:
//! - `messages`: see [`super::messages`] (system/developer → `system`, tool results merged into
//!   user turns, `tool_calls` → `tool_use`, images).
//! - `tools` (and the legacy `functions`) → `tools` with `parameters` → `input_schema`;
//!   `tool_choice` (and legacy `function_call`) auto/required/none/named → auto/any/none/tool;
//!   `parallel_tool_calls: false` → `disable_parallel_tool_use: true`.
//! - `stop` (string or array) → `stop_sequences`; `max_completion_tokens` (else `max_tokens`)
//!   → `max_tokens`, or the model's maximum output when absent; `temperature` (OpenAI's 0–2)
//!   clamped to Anthropic's 0–1; `top_p`; `user` → `metadata.user_id`; `stream`.
//! - `reasoning_effort` → `thinking: {type: enabled, budget_tokens}`: minimal 1024, low 2048,
//!   medium 8192, high 24576, xhigh 32768, none → no thinking; the budget is kept below
//!   `max_tokens` (thinking is dropped when that leaves less than 1024). Anthropic refuses
//!   thinking with a forced tool choice, with `temperature`/`top_p` changed, and in a tool loop
//!   whose assistant turn carries no thinking block (OpenAI clients never send one back): so
//!   thinking is dropped when `tool_choice` forces a tool or the last assistant message has
//!   tool calls, and `temperature`/`top_p` are dropped when thinking is on.
//! - `n` other than 1 → 400 (`param: "n"`). Everything else (`logprobs`, `seed`,
//!   `response_format`, penalties, `logit_bias`, `store`, `metadata`, `modalities`, unknown
//!   fields) is dropped.

use std::borrow::Cow;

use serde_json::{Map, Value, json};

use super::error::{OpenAiError, write_error_body};
use super::messages::{last_assistant_has_tool_calls, translate_messages};

/// Smallest thinking budget Anthropic accepts.
pub const MIN_THINKING_BUDGET: u64 = 1024;

/// The thinking budget each `reasoning_effort` maps to (`none` turns thinking off).
pub const EFFORT_BUDGETS: [(&str, u64); 5] = [
    ("minimal", MIN_THINKING_BUDGET),
    ("low", 2048),
    ("medium", 8192),
    ("high", 24576),
    ("xhigh", 32768),
];

/// Why a Chat Completions body cannot be served; every case is a 400 `invalid_request_error`
/// naming the field at fault in `param`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestError {
    /// The body is not JSON (the parser's message).
    NotJson(String),
    /// JSON, but not an object.
    NotAnObject,
    /// A required field is absent.
    Missing { param: Cow<'static, str> },
    /// A field has the wrong JSON type.
    InvalidType {
        param: Cow<'static, str>,
        expected: &'static str,
    },
    /// A field's value is not acceptable.
    InvalidValue {
        param: Cow<'static, str>,
        reason: Cow<'static, str>,
    },
    /// A valid OpenAI value sluice cannot serve on an Anthropic model (e.g. `n: 2`).
    Unsupported {
        param: Cow<'static, str>,
        reason: &'static str,
    },
}

impl RequestError {
    pub fn invalid(
        param: impl Into<Cow<'static, str>>,
        reason: impl Into<Cow<'static, str>>,
    ) -> Self {
        RequestError::InvalidValue {
            param: param.into(),
            reason: reason.into(),
        }
    }

    pub fn wrong_type(param: impl Into<Cow<'static, str>>, expected: &'static str) -> Self {
        RequestError::InvalidType {
            param: param.into(),
            expected,
        }
    }

    /// OpenAI's `param`: the field at fault, e.g. `messages[2].tool_calls[0].function.arguments`.
    pub fn param(&self) -> Option<&str> {
        match self {
            RequestError::NotJson(_) | RequestError::NotAnObject => None,
            RequestError::Missing { param }
            | RequestError::InvalidType { param, .. }
            | RequestError::InvalidValue { param, .. }
            | RequestError::Unsupported { param, .. } => Some(param),
        }
    }

    /// OpenAI's `code` for the case.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            RequestError::NotJson(_) | RequestError::NotAnObject => None,
            RequestError::Missing { .. } => Some("missing_required_parameter"),
            RequestError::InvalidType { .. } => Some("invalid_type"),
            RequestError::InvalidValue { .. } => Some("invalid_value"),
            RequestError::Unsupported { .. } => Some("unsupported_value"),
        }
    }

    /// The 400 answer in OpenAI's shape.
    pub fn to_openai(&self) -> OpenAiError {
        let message = self.to_string();
        let mut body = Vec::with_capacity(message.len() + 128);
        write_error_body(
            &mut body,
            &message,
            "invalid_request_error",
            self.param(),
            self.code(),
        );
        OpenAiError { status: 400, body }
    }
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RequestError::NotJson(why) => write!(
                f,
                "We could not parse the JSON body of your request ({why}). The body must be a JSON object."
            ),
            RequestError::NotAnObject => f.write_str("The request body must be a JSON object."),
            RequestError::Missing { param } => write!(f, "Missing required parameter: '{param}'."),
            RequestError::InvalidType { param, expected } => {
                write!(f, "Invalid type for '{param}': expected {expected}.")
            }
            RequestError::InvalidValue { param, reason } => {
                write!(f, "Invalid value for '{param}': {reason}")
            }
            RequestError::Unsupported { param, reason } => {
                write!(f, "Unsupported value for '{param}': {reason}")
            }
        }
    }
}

impl std::error::Error for RequestError {}

/// A validated Chat Completions request, translated except for the two fields the route
/// decides.
#[derive(Clone, Debug, PartialEq)]
pub struct TranslatedRequest {
    /// The model the client asked for (what routing and the pricing table look up).
    pub model: String,
    /// `stream: true`.
    pub stream: bool,
    /// `stream_options.include_usage: true`: the stream ends with a usage chunk.
    pub include_usage: bool,
    /// `max_completion_tokens` or `max_tokens`, as the client sent it.
    pub max_tokens: Option<u64>,
    /// The `reasoning_effort` budget, before it is fitted under `max_tokens`.
    thinking_budget: Option<u64>,
    /// `temperature`/`top_p`, sent only without thinking.
    sampling: Map<String, Value>,
    /// Every other Anthropic field.
    body: Map<String, Value>,
}

impl TranslatedRequest {
    /// The Anthropic Messages body for `upstream_model`; `model_max_output_tokens` (the model's
    /// maximum output from the pricing table) is the `max_tokens` when the client sent none.
    pub fn into_anthropic_body(
        self,
        upstream_model: &str,
        model_max_output_tokens: u64,
    ) -> Vec<u8> {
        let TranslatedRequest {
            max_tokens,
            thinking_budget,
            sampling,
            mut body,
            ..
        } = self;
        let max_tokens = max_tokens.unwrap_or(model_max_output_tokens).max(1);
        body.insert("model".into(), Value::from(upstream_model));
        body.insert("max_tokens".into(), Value::from(max_tokens));
        let budget = thinking_budget
            .map(|b| b.min(max_tokens.saturating_sub(1)))
            .filter(|&b| b >= MIN_THINKING_BUDGET);
        match budget {
            Some(budget) => {
                body.insert(
                    "thinking".into(),
                    json!({"type": "enabled", "budget_tokens": budget}),
                );
            }
            None => body.extend(sampling),
        }
        serde_json::to_vec(&Value::Object(body)).unwrap_or_default()
    }
}

/// Parses and validates a Chat Completions body and translates everything but the model and
/// the output limit (see the module docs for the mapping).
pub fn translate_request(body: &[u8]) -> Result<TranslatedRequest, RequestError> {
    let request: Value =
        serde_json::from_slice(body).map_err(|e| RequestError::NotJson(e.to_string()))?;
    let request = request.as_object().ok_or(RequestError::NotAnObject)?;
    let field = |name: &str| request.get(name).filter(|v| !v.is_null());

    let model = match field("model") {
        None => {
            return Err(RequestError::Missing {
                param: "model".into(),
            });
        }
        Some(Value::String(model)) if !model.is_empty() => model.clone(),
        Some(Value::String(_)) => return Err(RequestError::invalid("model", "must not be empty")),
        Some(_) => return Err(RequestError::wrong_type("model", "a string")),
    };
    let messages = match field("messages") {
        None => {
            return Err(RequestError::Missing {
                param: "messages".into(),
            });
        }
        Some(Value::Array(messages)) => messages,
        Some(_) => return Err(RequestError::wrong_type("messages", "an array")),
    };
    if messages.is_empty() {
        return Err(RequestError::invalid(
            "messages",
            "must contain at least one message",
        ));
    }
    match field("n") {
        None => {}
        Some(n) if n.as_u64() == Some(1) => {}
        Some(n) if n.is_u64() => {
            return Err(RequestError::Unsupported {
                param: "n".into(),
                reason: "only n = 1 is supported for this model",
            });
        }
        Some(_) => return Err(RequestError::wrong_type("n", "an integer")),
    }
    let stream = bool_field(field("stream"), "stream")?;
    let include_usage = match field("stream_options") {
        None => false,
        Some(Value::Object(options)) => bool_field(
            options.get("include_usage").filter(|v| !v.is_null()),
            "stream_options.include_usage",
        )?,
        Some(_) => return Err(RequestError::wrong_type("stream_options", "an object")),
    };
    let max_tokens = match field("max_completion_tokens") {
        Some(max) => Some(positive(max, "max_completion_tokens")?),
        None => field("max_tokens")
            .map(|max| positive(max, "max_tokens"))
            .transpose()?,
    };

    let mut out = Map::new();
    let (system, anthropic_messages) = translate_messages(messages)?;
    if !system.is_empty() {
        out.insert("system".into(), Value::Array(system));
    }
    out.insert("messages".into(), Value::Array(anthropic_messages));
    if stream {
        out.insert("stream".into(), Value::Bool(true));
    }

    let tools = translate_tools(field("tools"), field("functions"))?;
    let choice = translate_tool_choice(
        field("tool_choice").or(field("function_call")),
        field("parallel_tool_calls"),
    )?;
    let forced_tool = choice
        .as_ref()
        .and_then(|c| c.get("type"))
        .and_then(Value::as_str)
        .is_some_and(|t| t == "any" || t == "tool");
    if !tools.is_empty() {
        out.insert("tools".into(), Value::Array(tools));
        if let Some(choice) = choice {
            out.insert("tool_choice".into(), choice);
        }
    }
    if let Some(stop) = translate_stop(field("stop"))? {
        out.insert("stop_sequences".into(), stop);
    }
    match field("user") {
        None => {}
        Some(Value::String(user)) => {
            out.insert("metadata".into(), json!({ "user_id": user }));
        }
        Some(_) => return Err(RequestError::wrong_type("user", "a string")),
    }

    let mut sampling = Map::new();
    if let Some(temperature) = field("temperature") {
        let t = temperature
            .as_f64()
            .ok_or_else(|| RequestError::wrong_type("temperature", "a number"))?;
        if !(0.0..=2.0).contains(&t) {
            return Err(RequestError::invalid(
                "temperature",
                "must be between 0 and 2",
            ));
        }
        sampling.insert("temperature".into(), Value::from(t.min(1.0)));
    }
    if let Some(top_p) = field("top_p") {
        let p = top_p
            .as_f64()
            .ok_or_else(|| RequestError::wrong_type("top_p", "a number"))?;
        if !(0.0..=1.0).contains(&p) {
            return Err(RequestError::invalid("top_p", "must be between 0 and 1"));
        }
        sampling.insert("top_p".into(), top_p.clone());
    }
    let thinking_budget = match field("reasoning_effort") {
        None => None,
        Some(Value::String(effort)) => {
            let budget = match EFFORT_BUDGETS.iter().find(|(name, _)| name == effort) {
                Some(&(_, budget)) => Some(budget),
                None if effort == "none" => None,
                None => {
                    return Err(RequestError::invalid(
                        "reasoning_effort",
                        "must be one of none, minimal, low, medium, high, xhigh",
                    ));
                }
            };
            budget.filter(|_| !forced_tool && !last_assistant_has_tool_calls(messages))
        }
        Some(_) => return Err(RequestError::wrong_type("reasoning_effort", "a string")),
    };

    Ok(TranslatedRequest {
        model,
        stream,
        include_usage,
        max_tokens,
        thinking_budget,
        sampling,
        body: out,
    })
}

fn bool_field(value: Option<&Value>, param: &'static str) -> Result<bool, RequestError> {
    match value {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(RequestError::wrong_type(param, "a boolean")),
    }
}

fn positive(value: &Value, param: &'static str) -> Result<u64, RequestError> {
    match value.as_u64() {
        Some(0) => Err(RequestError::invalid(param, "must be at least 1")),
        Some(n) => Ok(n),
        None => Err(RequestError::wrong_type(param, "a positive integer")),
    }
}

/// `tools: [{type: "function", function: {name, description, parameters}}]` and the legacy
/// `functions: [{name, description, parameters}]` → Anthropic tools.
fn translate_tools(
    tools: Option<&Value>,
    functions: Option<&Value>,
) -> Result<Vec<Value>, RequestError> {
    let mut out = Vec::new();
    if let Some(tools) = tools {
        let tools = tools
            .as_array()
            .ok_or_else(|| RequestError::wrong_type("tools", "an array"))?;
        for (i, tool) in tools.iter().enumerate() {
            let kind = tool
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("function");
            if kind != "function" {
                return Err(RequestError::Unsupported {
                    param: format!("tools[{i}].type").into(),
                    reason: "only function tools are supported for this model",
                });
            }
            let function = tool.get("function").ok_or_else(|| RequestError::Missing {
                param: format!("tools[{i}].function").into(),
            })?;
            out.push(function_to_tool(function, || {
                format!("tools[{i}].function")
            })?);
        }
    }
    if let Some(functions) = functions {
        let functions = functions
            .as_array()
            .ok_or_else(|| RequestError::wrong_type("functions", "an array"))?;
        for (i, function) in functions.iter().enumerate() {
            out.push(function_to_tool(function, || format!("functions[{i}]"))?);
        }
    }
    Ok(out)
}

fn function_to_tool(function: &Value, at: impl Fn() -> String) -> Result<Value, RequestError> {
    let name = match function.get("name") {
        Some(Value::String(name)) if !name.is_empty() => name,
        Some(_) => {
            return Err(RequestError::wrong_type(
                format!("{}.name", at()),
                "a non-empty string",
            ));
        }
        None => {
            return Err(RequestError::Missing {
                param: format!("{}.name", at()).into(),
            });
        }
    };
    let mut tool = Map::new();
    tool.insert("name".into(), Value::from(name.as_str()));
    if let Some(description) = function.get("description").and_then(Value::as_str) {
        tool.insert("description".into(), Value::from(description));
    }
    let schema = match function.get("parameters") {
        None | Some(Value::Null) => json!({"type": "object", "properties": {}}),
        Some(schema @ Value::Object(_)) => schema.clone(),
        Some(_) => {
            return Err(RequestError::wrong_type(
                format!("{}.parameters", at()),
                "an object",
            ));
        }
    };
    tool.insert("input_schema".into(), schema);
    Ok(Value::Object(tool))
}

/// `tool_choice` (or legacy `function_call`) and `parallel_tool_calls` → Anthropic's
/// `tool_choice`.
fn translate_tool_choice(
    choice: Option<&Value>,
    parallel: Option<&Value>,
) -> Result<Option<Value>, RequestError> {
    let mut out = match choice {
        None => None,
        Some(Value::String(mode)) => Some(match mode.as_str() {
            "auto" => json!({"type": "auto"}),
            "required" | "any" => json!({"type": "any"}),
            "none" => json!({"type": "none"}),
            _ => {
                return Err(RequestError::invalid(
                    "tool_choice",
                    "must be none, auto, required or a named function",
                ));
            }
        }),
        Some(Value::Object(named)) => {
            let name = named
                .get("function")
                .and_then(|f| f.get("name"))
                .or_else(|| named.get("name"))
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .ok_or_else(|| RequestError::Missing {
                    param: "tool_choice.function.name".into(),
                })?;
            Some(json!({"type": "tool", "name": name}))
        }
        Some(_) => {
            return Err(RequestError::wrong_type(
                "tool_choice",
                "a string or an object",
            ));
        }
    };
    match parallel {
        None | Some(Value::Bool(true)) => {}
        Some(Value::Bool(false)) => {
            let choice = out.get_or_insert_with(|| json!({"type": "auto"}));
            if choice.get("type").and_then(Value::as_str) != Some("none")
                && let Some(fields) = choice.as_object_mut()
            {
                fields.insert("disable_parallel_tool_use".into(), Value::Bool(true));
            }
        }
        Some(_) => return Err(RequestError::wrong_type("parallel_tool_calls", "a boolean")),
    }
    Ok(out)
}

fn translate_stop(stop: Option<&Value>) -> Result<Option<Value>, RequestError> {
    match stop {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(json!([s]))),
        Some(Value::Array(list)) if list.iter().all(Value::is_string) => {
            Ok((!list.is_empty()).then(|| Value::Array(list.clone())))
        }
        Some(_) => Err(RequestError::wrong_type(
            "stop",
            "a string or an array of strings",
        )),
    }
}
