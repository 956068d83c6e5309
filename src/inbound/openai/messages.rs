//! Translates Chat Completions `messages` into Anthropic's `system` blocks and alternating
//! turns: system and developer messages (wherever they appear) become `system` text blocks in
//! order; user content parts become text, image (data URLs → base64, http(s) → url source) and
//! PDF document blocks; assistant `tool_calls` (and the legacy `function_call`) become
//! `tool_use` blocks after the assistant's text, `arguments` parsed to the input object; `tool`
//! (and legacy `function`) messages become `tool_result` blocks, and consecutive turns of one
//! role merge, so a run of tool results and the user message after it form one user turn in
//! their original order. Tool call ids keep only the characters Anthropic accepts
//! (`[A-Za-z0-9_-]`, others become `_`), the same way in `tool_use` and `tool_result`.

use serde_json::{Value, json};

use super::request::RequestError;

type Blocks = Vec<Value>;

/// `system` blocks and `messages` for the Anthropic body.
pub(super) fn translate_messages(messages: &[Value]) -> Result<(Blocks, Blocks), RequestError> {
    let mut system = Vec::new();
    let mut turns = Turns::default();
    let mut legacy_call: Option<String> = None;
    for (i, message) in messages.iter().enumerate() {
        let at = |field: &str| format!("messages[{i}]{field}");
        let Some(message) = message.as_object() else {
            return Err(RequestError::wrong_type(at(""), "an object"));
        };
        let role = match message.get("role") {
            Some(Value::String(role)) => role.as_str(),
            Some(_) => return Err(RequestError::wrong_type(at(".role"), "a string")),
            None => {
                return Err(RequestError::Missing {
                    param: at(".role").into(),
                });
            }
        };
        let content = message.get("content").filter(|c| !c.is_null());
        match role {
            "system" | "developer" => {
                let content = content.ok_or_else(|| RequestError::Missing {
                    param: at(".content").into(),
                })?;
                text_parts(content, &at(".content"), &mut system)?;
            }
            "user" => {
                let content = content.ok_or_else(|| RequestError::Missing {
                    param: at(".content").into(),
                })?;
                let mut blocks = Vec::new();
                user_parts(content, &at(".content"), &mut blocks)?;
                turns.push("user", blocks);
            }
            "assistant" => {
                let mut blocks = Vec::new();
                if let Some(content) = content {
                    text_parts(content, &at(".content"), &mut blocks)?;
                }
                match message.get("tool_calls") {
                    None | Some(Value::Null) => {}
                    Some(Value::Array(calls)) => {
                        for (j, call) in calls.iter().enumerate() {
                            blocks.push(tool_use(call, &at(&format!(".tool_calls[{j}]")))?);
                        }
                    }
                    Some(_) => return Err(RequestError::wrong_type(at(".tool_calls"), "an array")),
                }
                if let Some(call) = message.get("function_call").filter(|c| !c.is_null()) {
                    let id = format!("call_function_{i}");
                    let with_id = json!({"id": id, "function": call});
                    blocks.push(tool_use(&with_id, &at(".function_call"))?);
                    legacy_call = Some(id);
                }
                turns.push("assistant", blocks);
            }
            "tool" => {
                let id = match message.get("tool_call_id") {
                    Some(Value::String(id)) if !id.is_empty() => sanitize_id(id),
                    Some(_) => {
                        return Err(RequestError::wrong_type(
                            at(".tool_call_id"),
                            "a non-empty string",
                        ));
                    }
                    None => {
                        return Err(RequestError::Missing {
                            param: at(".tool_call_id").into(),
                        });
                    }
                };
                let content = content.ok_or_else(|| RequestError::Missing {
                    param: at(".content").into(),
                })?;
                turns.push("user", vec![tool_result(id, content, &at(".content"))?]);
            }
            "function" => {
                let id = legacy_call.take().ok_or_else(|| {
                    RequestError::invalid(
                        at(".role"),
                        "a function message must follow an assistant function_call",
                    )
                })?;
                let content = content.unwrap_or(&Value::Null);
                let content = if content.is_null() {
                    &Value::String(String::new())
                } else {
                    content
                };
                turns.push("user", vec![tool_result(id, content, &at(".content"))?]);
            }
            _ => {
                return Err(RequestError::invalid(
                    at(".role"),
                    "must be one of system, developer, user, assistant, tool, function",
                ));
            }
        }
    }
    if turns.0.is_empty() {
        return Err(RequestError::invalid(
            "messages",
            "must contain at least one user or assistant message",
        ));
    }
    let turns = turns
        .0
        .into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect();
    Ok((system, turns))
}

/// Whether the last assistant message asks for tools (a tool loop is in progress).
pub(super) fn last_assistant_has_tool_calls(messages: &[Value]) -> bool {
    messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("assistant"))
        .is_some_and(|m| {
            m.get("tool_calls")
                .and_then(Value::as_array)
                .is_some_and(|c| !c.is_empty())
                || m.get("function_call").is_some_and(|c| !c.is_null())
        })
}

/// Anthropic turns being built; a push of the same role as the last turn extends it.
#[derive(Default)]
struct Turns(Vec<(&'static str, Blocks)>);

impl Turns {
    fn push(&mut self, role: &'static str, blocks: Blocks) {
        if blocks.is_empty() {
            return;
        }
        match self.0.last_mut() {
            Some((last, content)) if *last == role => content.extend(blocks),
            _ => self.0.push((role, blocks)),
        }
    }
}

fn text_block(text: &str) -> Value {
    json!({"type": "text", "text": text})
}

/// A string or an array of `text` (or `refusal`) parts → non-empty text blocks.
fn text_parts(content: &Value, at: &str, out: &mut Blocks) -> Result<(), RequestError> {
    match content {
        Value::String(text) => {
            if !text.is_empty() {
                out.push(text_block(text));
            }
        }
        Value::Array(parts) => {
            for (k, part) in parts.iter().enumerate() {
                let text = match part.get("type").and_then(Value::as_str) {
                    Some("text") => part.get("text"),
                    Some("refusal") => part.get("refusal"),
                    _ => {
                        return Err(RequestError::invalid(
                            format!("{at}[{k}].type"),
                            "only text parts are allowed here",
                        ));
                    }
                };
                match text {
                    Some(Value::String(text)) if !text.is_empty() => out.push(text_block(text)),
                    Some(Value::String(_)) => {}
                    _ => {
                        return Err(RequestError::wrong_type(
                            format!("{at}[{k}].text"),
                            "a string",
                        ));
                    }
                }
            }
        }
        _ => {
            return Err(RequestError::wrong_type(
                at.to_owned(),
                "a string or an array of parts",
            ));
        }
    }
    Ok(())
}

/// User content: a string, or text / image_url / file parts.
fn user_parts(content: &Value, at: &str, out: &mut Blocks) -> Result<(), RequestError> {
    let Value::Array(parts) = content else {
        return text_parts(content, at, out);
    };
    for (k, part) in parts.iter().enumerate() {
        let at = format!("{at}[{k}]");
        match part.get("type").and_then(Value::as_str) {
            Some("text") => text_parts(&Value::Array(vec![part.clone()]), &at, out)?,
            Some("image_url") => {
                let url = part
                    .get("image_url")
                    .and_then(|i| i.get("url").or(Some(i)))
                    .and_then(Value::as_str)
                    .ok_or_else(|| RequestError::Missing {
                        param: format!("{at}.image_url.url").into(),
                    })?;
                out.push(image_block(url, &format!("{at}.image_url.url"))?);
            }
            Some("file") => {
                let data = part
                    .get("file")
                    .and_then(|f| f.get("file_data"))
                    .and_then(Value::as_str)
                    .ok_or(RequestError::Unsupported {
                        param: format!("{at}.file").into(),
                        reason: "only inline file_data (a base64 PDF data URL) is supported",
                    })?;
                let (media_type, data) = data_url(data, &format!("{at}.file.file_data"))?;
                if media_type != "application/pdf" {
                    return Err(RequestError::Unsupported {
                        param: format!("{at}.file.file_data").into(),
                        reason: "only PDF files are supported",
                    });
                }
                out.push(json!({"type": "document", "source": {"type": "base64", "media_type": media_type, "data": data}}));
            }
            Some(_) => {
                return Err(RequestError::Unsupported {
                    param: format!("{at}.type").into(),
                    reason: "supported content parts are text, image_url and file",
                });
            }
            None => {
                return Err(RequestError::Missing {
                    param: format!("{at}.type").into(),
                });
            }
        }
    }
    Ok(())
}

fn image_block(url: &str, at: &str) -> Result<Value, RequestError> {
    if url.starts_with("data:") {
        let (media_type, data) = data_url(url, at)?;
        return Ok(
            json!({"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}),
        );
    }
    if url.starts_with("https://") || url.starts_with("http://") {
        return Ok(json!({"type": "image", "source": {"type": "url", "url": url}}));
    }
    Err(RequestError::invalid(
        at.to_owned(),
        "must be an http(s) URL or a base64 data URL",
    ))
}

/// `data:<media type>;base64,<data>` → (media type, data).
fn data_url<'a>(url: &'a str, at: &str) -> Result<(&'a str, &'a str), RequestError> {
    url.strip_prefix("data:")
        .and_then(|rest| rest.split_once(','))
        .and_then(|(meta, data)| Some((meta.strip_suffix(";base64")?, data)))
        .filter(|(media_type, data)| !media_type.is_empty() && !data.is_empty())
        .ok_or_else(|| {
            RequestError::invalid(
                at.to_owned(),
                "must be a base64 data URL (data:<type>;base64,<data>)",
            )
        })
}

/// `{id, type: "function", function: {name, arguments}}` → a `tool_use` block.
fn tool_use(call: &Value, at: &str) -> Result<Value, RequestError> {
    let id = match call.get("id") {
        Some(Value::String(id)) if !id.is_empty() => sanitize_id(id),
        Some(_) => {
            return Err(RequestError::wrong_type(
                format!("{at}.id"),
                "a non-empty string",
            ));
        }
        None => {
            return Err(RequestError::Missing {
                param: format!("{at}.id").into(),
            });
        }
    };
    let function = call.get("function").ok_or_else(|| RequestError::Missing {
        param: format!("{at}.function").into(),
    })?;
    let name = match function.get("name") {
        Some(Value::String(name)) if !name.is_empty() => name.as_str(),
        Some(_) => {
            return Err(RequestError::wrong_type(
                format!("{at}.function.name"),
                "a non-empty string",
            ));
        }
        None => {
            return Err(RequestError::Missing {
                param: format!("{at}.function.name").into(),
            });
        }
    };
    let input = match function.get("arguments") {
        None | Some(Value::Null) => json!({}),
        Some(Value::String(args)) if args.trim().is_empty() => json!({}),
        Some(Value::String(args)) => match serde_json::from_str::<Value>(args) {
            Ok(input @ Value::Object(_)) => input,
            Ok(_) => {
                return Err(RequestError::invalid(
                    format!("{at}.function.arguments"),
                    "must be a JSON object",
                ));
            }
            Err(e) => {
                return Err(RequestError::invalid(
                    format!("{at}.function.arguments"),
                    format!("is not valid JSON ({e})"),
                ));
            }
        },
        Some(_) => {
            return Err(RequestError::wrong_type(
                format!("{at}.function.arguments"),
                "a string",
            ));
        }
    };
    Ok(json!({"type": "tool_use", "id": id, "name": name, "input": input}))
}

fn tool_result(id: String, content: &Value, at: &str) -> Result<Value, RequestError> {
    let content = match content {
        Value::String(text) => Value::from(text.as_str()),
        Value::Array(_) => {
            let mut blocks = Vec::new();
            text_parts(content, at, &mut blocks)?;
            Value::Array(blocks)
        }
        _ => {
            return Err(RequestError::wrong_type(
                at.to_owned(),
                "a string or an array of text parts",
            ));
        }
    };
    Ok(json!({"type": "tool_result", "tool_use_id": id, "content": content}))
}

/// A tool call id with every character Anthropic rejects replaced by `_`.
fn sanitize_id(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
