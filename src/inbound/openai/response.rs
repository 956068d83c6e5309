//! Turns a whole (non-streaming) Anthropic message into an OpenAI `chat.completion` body: text
//! blocks concatenated into `message.content` (null when there is none, as OpenAI sends with
//! tool calls), thinking into `message.reasoning_content`, `tool_use` blocks into `tool_calls`
//! with the input as a JSON string, the stop reason mapped, usage as in the stream.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::chunks::{AnthropicUsage, finish_reason};

/// The upstream's success body is not an Anthropic message: an upstream protocol failure
/// (502 for the client).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseError(pub String);

impl std::fmt::Display for ResponseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "upstream response is not an Anthropic message: {}",
            self.0
        )
    }
}

impl std::error::Error for ResponseError {}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    model: Option<String>,
    content: Vec<Value>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: AnthropicUsage,
}

/// Translates an Anthropic message body; `created` is the Unix time reported, `fallback_model`
/// the model reported when the body names none.
pub fn translate_response(
    body: &[u8],
    created: u64,
    fallback_model: &str,
) -> Result<Vec<u8>, ResponseError> {
    let message: Message =
        serde_json::from_slice(body).map_err(|e| ResponseError(e.to_string()))?;
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut tool_calls = Vec::new();
    for block in &message.content {
        let field = |name: &str| block.get(name).and_then(Value::as_str).unwrap_or_default();
        match field("type") {
            "text" => text.push_str(field("text")),
            "thinking" => reasoning.push_str(field("thinking")),
            "tool_use" => {
                let input = block.get("input").cloned().unwrap_or_else(|| json!({}));
                tool_calls.push(json!({
                    "id": field("id"),
                    "type": "function",
                    "function": {"name": field("name"), "arguments": input.to_string()},
                }));
            }
            _ => {}
        }
    }
    let mut reply = Map::new();
    reply.insert("role".into(), Value::from("assistant"));
    let has_text = !text.is_empty() || tool_calls.is_empty();
    reply.insert(
        "content".into(),
        if has_text {
            Value::from(text)
        } else {
            Value::Null
        },
    );
    reply.insert("refusal".into(), Value::Null);
    if !reasoning.is_empty() {
        reply.insert("reasoning_content".into(), Value::from(reasoning));
    }
    if !tool_calls.is_empty() {
        reply.insert("tool_calls".into(), Value::Array(tool_calls));
    }
    let usage = message.usage;
    let prompt = usage.prompt_tokens();
    let completion = json!({
        "id": message.id.filter(|id| !id.is_empty()).unwrap_or_else(|| super::stream::FALLBACK_ID.to_owned()),
        "object": "chat.completion",
        "created": created,
        "model": message.model.filter(|m| !m.is_empty()).unwrap_or_else(|| fallback_model.to_owned()),
        "choices": [{
            "index": 0,
            "message": reply,
            "logprobs": null,
            "finish_reason": finish_reason(message.stop_reason.as_deref().unwrap_or("end_turn")),
        }],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": usage.output_tokens,
            "total_tokens": prompt.saturating_add(usage.output_tokens),
            "prompt_tokens_details": {"cached_tokens": usage.cache_read_input_tokens},
        },
    });
    serde_json::to_vec(&completion).map_err(|e| ResponseError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn translated(body: &str) -> Value {
        serde_json::from_slice(
            &translate_response(body.as_bytes(), 1_700_000_000, "asked").unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn text_thinking_and_tools_become_one_message() {
        let body = r#"{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5",
            "content":[{"type":"thinking","thinking":"hmm","signature":"s"},
                       {"type":"text","text":"Let me look. "},{"type":"text","text":"«ok» 😀"},
                       {"type":"tool_use","id":"toolu_1","name":"Bash","input":{"command":"ls \"a b\""}},
                       {"type":"tool_use","id":"toolu_2","name":"Read","input":{}}],
            "stop_reason":"tool_use","stop_sequence":null,
            "usage":{"input_tokens":10,"cache_creation_input_tokens":5,"cache_read_input_tokens":100,"output_tokens":42}}"#;
        let v = translated(body);
        assert_eq!(v["id"], "msg_01");
        assert_eq!(v["object"], "chat.completion");
        assert_eq!(v["created"], 1_700_000_000u64);
        assert_eq!(v["model"], "claude-sonnet-4-5");
        let choice = &v["choices"][0];
        assert_eq!(choice["finish_reason"], "tool_calls");
        let message = &choice["message"];
        assert_eq!(message["role"], "assistant");
        assert_eq!(message["content"], "Let me look. «ok» 😀");
        assert_eq!(message["reasoning_content"], "hmm");
        let calls = message["tool_calls"].as_array().unwrap();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0]["id"], "toolu_1");
        assert_eq!(calls[0]["type"], "function");
        assert_eq!(calls[0]["function"]["name"], "Bash");
        let args: Value =
            serde_json::from_str(calls[0]["function"]["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(args, json!({"command": "ls \"a b\""}));
        assert_eq!(calls[1]["function"]["arguments"], "{}");
        assert_eq!(
            v["usage"],
            json!({"prompt_tokens": 115, "completion_tokens": 42, "total_tokens": 157,
                   "prompt_tokens_details": {"cached_tokens": 100}})
        );
    }

    #[test]
    fn tool_calls_only_has_null_content_and_text_only_has_no_tool_calls() {
        let v = translated(
            r#"{"id":"m","model":"x","content":[{"type":"tool_use","id":"t","name":"n","input":{"a":1}}],"stop_reason":"tool_use","usage":{}}"#,
        );
        assert_eq!(v["choices"][0]["message"]["content"], Value::Null);
        let v = translated(
            r#"{"id":"m","model":"x","content":[{"type":"text","text":"hi"}],"stop_reason":"max_tokens","usage":{"input_tokens":1,"output_tokens":2}}"#,
        );
        assert_eq!(v["choices"][0]["message"]["content"], "hi");
        assert!(v["choices"][0]["message"].get("tool_calls").is_none());
        assert_eq!(v["choices"][0]["finish_reason"], "length");
        assert_eq!(v["usage"]["total_tokens"], 3);
    }

    #[test]
    fn every_stop_reason_maps() {
        for (stop, finish) in crate::inbound::openai::chunks::STOP_REASONS {
            let body = format!(r#"{{"content":[],"stop_reason":"{stop}"}}"#);
            let v = translated(&body);
            assert_eq!(v["choices"][0]["finish_reason"], finish, "{stop}");
            assert_eq!(v["model"], "asked");
            assert_eq!(v["id"], "chatcmpl-sluice");
            assert_eq!(v["choices"][0]["message"]["content"], "");
        }
    }

    #[test]
    fn a_body_that_is_not_a_message_is_an_error() {
        for body in [
            &b"{not json"[..],
            b"[]",
            b"{\"type\":\"message\"}",
            b"",
            b"{\"content\":3}",
        ] {
            assert!(translate_response(body, 0, "m").is_err(), "{body:?}");
        }
    }
}
