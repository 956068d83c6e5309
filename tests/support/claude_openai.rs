//! An OpenAI-format upstream scripted the way a Claude Code session needs it when its model
//! lives on an OpenAI-format provider: the turn that mentions the token gets a streamed Bash
//! tool call (arguments in fragments) writing it to a marker file, the turn carrying that
//! tool's result (a `tool` message) gets "done: <output>", any other call a short text.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use super::mock::{Recorded, Reply};
use super::openai_mock::{
    StreamScript, completion_json, error_json, finish_chunk, role_chunk, text_chunk,
    tool_call_chunks, usage, usage_chunk,
};

/// The handler; answers 401 unless the request carries `Authorization: Bearer <key>`.
pub fn claude_code_openai_handler(
    token: String,
    marker: PathBuf,
    key: String,
) -> impl Fn(&Recorded) -> Reply + Send + Sync {
    move |request: &Recorded| {
        let json_reply = |status: u16, body: &Value| {
            Reply::full(
                status,
                &[("content-type", "application/json")],
                body.to_string().as_bytes(),
            )
        };
        if request.method != "POST" || request.path() != "/v1/chat/completions" {
            return json_reply(
                404,
                &error_json("Unknown request URL", "invalid_request_error", None),
            );
        }
        if request.header_str("authorization") != Some(format!("Bearer {key}")) {
            return json_reply(
                401,
                &error_json("Incorrect API key", "invalid_request_error", None),
            );
        }
        let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
            return json_reply(400, &error_json("bad json", "invalid_request_error", None));
        };
        let messages = body["messages"].as_array().cloned().unwrap_or_default();
        let last = messages.last().cloned().unwrap_or(Value::Null);
        let has_bash = body["tools"]
            .as_array()
            .is_some_and(|tools| tools.iter().any(|t| t["function"]["name"] == "Bash"));
        let asked = messages
            .iter()
            .any(|m| m["role"] == "user" && m["content"].to_string().contains(&token));
        let (text, tool) = if last["role"] == "tool" {
            let output = match &last["content"] {
                Value::String(s) => s.clone(),
                other => other
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p["text"].as_str())
                    .collect::<Vec<_>>()
                    .join("\n"),
            };
            (format!("done: {}", output.trim()), None)
        } else if has_bash && asked {
            let command = format!(
                "echo sluice-ok-{token} > {} && cat {}",
                marker.display(),
                marker.display()
            );
            let arguments =
                json!({"command": command, "description": "Write the sluice marker file"});
            ("Running it now.".to_owned(), Some(arguments.to_string()))
        } else {
            ("Sluice test session".to_owned(), None)
        };
        let finish = if tool.is_some() { "tool_calls" } else { "stop" };
        if body["stream"] == true {
            let mut payloads = vec![role_chunk(), text_chunk(&text)];
            if let Some(arguments) = &tool {
                payloads.extend(tool_call_chunks(
                    0,
                    "call_sluice_bash_1",
                    "Bash",
                    arguments,
                    6,
                ));
            }
            payloads.push(finish_chunk(finish));
            payloads.push(usage_chunk(120, 0, 30));
            StreamScript::new(payloads)
                .split(&[5, 11, 3, 29], Duration::ZERO)
                .reply()
        } else {
            let calls: Vec<(&str, &str, &str)> = tool
                .as_deref()
                .map(|a| vec![("call_sluice_bash_1", "Bash", a)])
                .unwrap_or_default();
            json_reply(
                200,
                &completion_json(Some(&text), &calls, finish, usage(120, 0, 30)),
            )
        }
    }
}
