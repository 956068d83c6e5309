//! Whole-response translation: content blocks, stop reasons, usage, names restored, and bad
//! bodies (every truncation included) rejected without a panic.

use serde_json::{Value, json};

use super::response::{ResponseError, translate_response};
use super::tool_names::ToolNameMap;

fn completion() -> Value {
    json!({
        "id": "chatcmpl-9", "object": "chat.completion", "created": 1, "model": "gpt-5-2025",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": "Let me look.", "reasoning_content": "hmm",
            "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "Bash", "arguments": "{\"command\":\"ls -la\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "Glob", "arguments": ""}}
            ]}}],
        "usage": {"prompt_tokens": 50, "completion_tokens": 12,
                  "prompt_tokens_details": {"cached_tokens": 20}}
    })
}

#[test]
fn a_completion_becomes_an_anthropic_message() {
    let body = serde_json::to_vec(&completion()).unwrap();
    let (out, summary) = translate_response(&body, &ToolNameMap::new(), "fallback").unwrap();
    let out: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        out,
        json!({
            "id": "msg_chatcmpl-9", "type": "message", "role": "assistant", "model": "gpt-5-2025",
            "content": [
                {"type": "thinking", "thinking": "hmm", "signature": ""},
                {"type": "text", "text": "Let me look."},
                {"type": "tool_use", "id": "call_1", "name": "Bash", "input": {"command": "ls -la"}},
                {"type": "tool_use", "id": "call_2", "name": "Glob", "input": {}}
            ],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 30, "cache_creation_input_tokens": 0,
                      "cache_read_input_tokens": 20, "output_tokens": 12}
        })
    );
    assert_eq!(summary.stop_reason.as_deref(), Some("tool_use"));
    assert_eq!(summary.usage.input_tokens, 30);
    assert_eq!(summary.tool_calls.len(), 2);
    assert_eq!(summary.tool_calls[1].input_json, "{}");
    assert!(summary.saw_message_stop);
}

#[test]
fn stop_reasons_names_and_fallback_model() {
    let mut names = ToolNameMap::new();
    let long = "t".repeat(80);
    let short = names.outbound(&long);
    for (finish, stop) in [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("content_filter", "refusal"),
        ("function_call", "tool_use"),
        ("weird", "end_turn"),
    ] {
        let body = json!({"choices": [{"finish_reason": finish, "message": {"content": null,
            "tool_calls": [{"id": "c", "function": {"name": short, "arguments": "{}"}}]}}]});
        let body = serde_json::to_vec(&body).unwrap();
        let (out, _) = translate_response(&body, &names, "asked-model").unwrap();
        let out: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(out["stop_reason"], stop);
        assert_eq!(out["model"], "asked-model");
        assert_eq!(out["content"][0]["name"], long.as_str());
        assert_eq!(out["usage"]["output_tokens"], 0);
    }
}

#[test]
fn bad_bodies_are_errors_not_panics() {
    let bad = |body: &[u8]| translate_response(body, &ToolNameMap::new(), "m").unwrap_err();
    assert!(matches!(bad(b"nope"), ResponseError::Malformed(_)));
    assert!(matches!(
        bad(br#"{"choices":[]}"#),
        ResponseError::Malformed(_)
    ));
    assert!(matches!(
        bad(br#"{"choices":[{}]}"#),
        ResponseError::Malformed(_)
    ));
    let bad_args = br#"{"choices":[{"message":{"tool_calls":[{"id":"c","function":{"name":"A","arguments":"{\"a\":"}}]}}]}"#;
    assert!(matches!(bad(bad_args), ResponseError::Malformed(_)));
    match bad(br#"{"error":{"message":"boom","type":"server_error"}}"#) {
        ResponseError::Upstream(e) => {
            assert_eq!((e.status, e.error_type), (500, "api_error"));
        }
        other => panic!("{other:?}"),
    }
    let body = serde_json::to_vec(&completion()).unwrap();
    for end in 0..body.len() {
        assert!(translate_response(&body[..end], &ToolNameMap::new(), "m").is_err());
    }
}
