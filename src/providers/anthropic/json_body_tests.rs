//! Tests of the non-streaming body summary and the error-type peek.

use super::json_body::{error_type_of, summarize_message_json};
use super::observer::{ResponseSummary, ToolCall, Usage};

const MESSAGE: &str = r#"{
  "id": "msg_01Abc",
  "type": "message",
  "role": "assistant",
  "model": "claude-opus-4-1-20250805",
  "content": [
    {"type": "thinking", "thinking": "plan", "signature": "c2ln"},
    {"type": "text", "text": "Running both."},
    {"type": "tool_use", "id": "toolu_1", "name": "Read",
     "input": {"file_path": "/tmp/caf\u00e9 😀.txt", "offset": 0, "limit": 2.5}},
    {"type": "tool_use", "id": "toolu_2", "name": "Bash",
     "input": {"command": "echo \"hi\" \\ done", "flags": [true, null, {"n": -1}], "empty": {}}}
  ],
  "stop_reason": "tool_use",
  "stop_sequence": null,
  "usage": {"input_tokens": 21, "cache_creation_input_tokens": 300,
            "cache_read_input_tokens": 9000, "output_tokens": 77,
            "service_tier": "standard"}
}"#;

#[test]
fn message_with_two_tool_calls() {
    let summary = summarize_message_json(MESSAGE.as_bytes()).unwrap();
    let expected = ResponseSummary {
        message_id: Some("msg_01Abc".into()),
        model: Some("claude-opus-4-1-20250805".into()),
        usage: Usage {
            input_tokens: 21,
            output_tokens: 77,
            cache_read_input_tokens: 9000,
            cache_creation_input_tokens: 300,
        },
        stop_reason: Some("tool_use".into()),
        tool_calls: vec![
            ToolCall {
                id: "toolu_1".into(),
                name: "Read".into(),
                input_json: r#"{"file_path":"/tmp/café 😀.txt","offset":0,"limit":2.5}"#.into(),
            },
            ToolCall {
                id: "toolu_2".into(),
                name: "Bash".into(),
                input_json:
                    r#"{"command":"echo \"hi\" \\ done","flags":[true,null,{"n":-1}],"empty":{}}"#
                        .into(),
            },
        ],
        saw_message_stop: false,
        error_type: None,
        first_token_seen: false,
    };
    assert_eq!(summary, expected);
    let original: serde_json::Value = serde_json::from_str(MESSAGE).unwrap();
    for (n, call) in summary.tool_calls.iter().enumerate() {
        let input: serde_json::Value = serde_json::from_str(&call.input_json).unwrap();
        assert_eq!(input, original["content"][n + 2]["input"]);
    }
}

const ERROR: &str = r#"{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"},"request_id":"req_1"}"#;

#[test]
fn error_body() {
    assert_eq!(
        error_type_of(ERROR.as_bytes()).as_deref(),
        Some("rate_limit_error")
    );
    let summary = summarize_message_json(ERROR.as_bytes()).unwrap();
    assert_eq!(summary.error_type.as_deref(), Some("rate_limit_error"));
    assert_eq!(summary.tool_calls, vec![]);
    assert_eq!(summary.usage, Usage::default());
}

#[test]
fn error_type_of_rejects_other_bodies() {
    for body in [
        MESSAGE,
        "",
        "<html>502 Bad Gateway</html>",
        r#"{"type":"error","error":"overloaded"}"#,
        r#"{"type":"error","error":{"type":7}}"#,
        r#"{"type":"error","error":{"type":"x""#,
    ] {
        assert_eq!(error_type_of(body.as_bytes()), None, "{body}");
    }
}

#[test]
fn non_json_or_non_object_is_none() {
    for body in ["", "nope", "[1,2]", "\"message\"", r#"{"id":"x""#, "{} {}"] {
        assert_eq!(summarize_message_json(body.as_bytes()), None, "{body}");
    }
}
