//! Request translation: every mapped field, the drops, the quirks of each flavor, and every
//! truncation of a body failing cleanly.

use serde_json::{Value, json};

use super::quirks::Quirks;
use super::request::{RequestError, translate_request};
use super::tool_names::ToolNameMap;

fn translate(request: &Value, quirks: &Quirks) -> (Value, ToolNameMap, bool) {
    let body = serde_json::to_vec(request).unwrap();
    let translated = translate_request(&body, "gpt-5", quirks).unwrap();
    let value = serde_json::from_slice(&translated.body).unwrap();
    (value, translated.tool_names, translated.stream)
}

fn long_tool_name() -> String {
    format!("mcp__very_long_server_name__{}", "tool".repeat(12))
}

/// A request shaped like Claude Code's: system blocks with cache_control, tools, thinking, a
/// mid-conversation system message, a tool round trip, images.
fn claude_code_like() -> Value {
    json!({
        "model": "openai/gpt-5",
        "max_tokens": 32000,
        "stream": true,
        "temperature": 1,
        "top_k": 5,
        "system": [
            {"type": "text", "text": "You are Claude Code."},
            {"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}
        ],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "list files"}]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "use ls", "signature": "sig"},
                {"type": "text", "text": "Listing."},
                {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}},
                {"type": "tool_use", "id": "toolu_2", "name": long_tool_name(), "input": {}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "a.rs\nb.rs",
                 "cache_control": {"type": "ephemeral"}},
                {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": true,
                 "content": [{"type": "text", "text": "no"}, {"type": "image",
                   "source": {"type": "base64", "media_type": "image/jpeg", "data": "QUJD"}}]},
                {"type": "text", "text": "now summarise"}
            ]},
            {"role": "system", "content": "mid reminder"},
            {"role": "user", "content": [
                {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
                {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "UERG"}},
                {"type": "text", "text": "look"}
            ]}
        ],
        "tools": [
            {"name": "Bash", "description": "Run a command", "input_schema":
                {"type": "object", "properties": {"command": {"type": "string"}}},
             "cache_control": {"type": "ephemeral"}},
            {"name": long_tool_name(), "input_schema": {"type": "object"}, "defer_loading": true},
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}
        ],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
        "stop_sequences": ["END"],
        "metadata": {"user_id": "user_abc"},
        "thinking": {"type": "enabled", "budget_tokens": 10000},
        "context_management": {"edits": []},
    })
}

#[test]
fn a_claude_code_request_maps_field_by_field() {
    let (out, names, stream) = translate(&claude_code_like(), &Quirks::OPENAI);
    assert!(stream);
    let short = names_sent(&out)[1].clone();
    assert_eq!(names.inbound(&short), long_tool_name());
    assert!(short.len() <= 64);
    let expected = json!({
        "model": "gpt-5",
        "max_completion_tokens": 32000,
        "stream": true,
        "stream_options": {"include_usage": true},
        "temperature": 1,
        "stop": ["END"],
        "user": "user_abc",
        "reasoning_effort": "medium",
        "tool_choice": "required",
        "parallel_tool_calls": false,
        "tools": [
            {"type": "function", "function": {"name": "Bash", "description": "Run a command",
             "parameters": {"type": "object", "properties": {"command": {"type": "string"}}}}},
            {"type": "function", "function": {"name": short, "parameters": {"type": "object"}}}
        ],
        "messages": [
            {"role": "system", "content": "You are Claude Code.\nBe brief."},
            {"role": "user", "content": "list files"},
            {"role": "assistant", "content": "Listing.", "tool_calls": [
                {"id": "toolu_1", "type": "function",
                 "function": {"name": "Bash", "arguments": "{\"command\":\"ls\"}"}},
                {"id": "toolu_2", "type": "function",
                 "function": {"name": short, "arguments": "{}"}}
            ]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "a.rs\nb.rs"},
            {"role": "tool", "tool_call_id": "toolu_2", "content": "no"},
            {"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,QUJD"}},
                {"type": "text", "text": "now summarise"}
            ]},
            {"role": "system", "content": "mid reminder"},
            {"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
                {"type": "file", "file": {"filename": "document.pdf",
                 "file_data": "data:application/pdf;base64,UERG"}},
                {"type": "text", "text": "look"}
            ]}
        ]
    });
    assert_eq!(out, expected);
}

fn names_sent(out: &Value) -> Vec<String> {
    out["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn compatible_and_groq_flavors_use_max_tokens_and_drop_what_they_reject() {
    for quirks in [Quirks::GROQ, Quirks::COMPATIBLE] {
        let (out, _, _) = translate(&claude_code_like(), &quirks);
        assert_eq!(out["max_tokens"], 32000);
        assert!(out.get("max_completion_tokens").is_none());
        for field in ["logprobs", "logit_bias", "top_logprobs", "n"] {
            assert!(out.get(field).is_none());
        }
        assert!(
            out["messages"]
                .as_array()
                .unwrap()
                .iter()
                .all(|m| m.get("name").is_none())
        );
    }
    for quirks in [Quirks::GROQ, Quirks::COMPATIBLE] {
        let (out, _, _) = translate(&claude_code_like(), &quirks);
        assert!(out.get("reasoning_effort").is_none());
    }
    let (azure, _, _) = translate(&claude_code_like(), &Quirks::AZURE);
    assert_eq!(azure["max_completion_tokens"], 32000);
}

#[test]
fn tool_choice_maps_each_kind() {
    let cases = [
        (json!({"type": "auto"}), json!("auto")),
        (json!({"type": "any"}), json!("required")),
        (json!({"type": "none"}), json!("none")),
        (
            json!({"type": "tool", "name": "Bash"}),
            json!({"type": "function", "function": {"name": "Bash"}}),
        ),
    ];
    for (choice, expected) in cases {
        let mut request = claude_code_like();
        request["tool_choice"] = choice;
        let (out, _, _) = translate(&request, &Quirks::OPENAI);
        assert_eq!(out["tool_choice"], expected);
        assert!(out.get("parallel_tool_calls").is_none());
    }
    let mut no_tools = claude_code_like();
    no_tools["tools"] = json!([]);
    let (out, _, _) = translate(&no_tools, &Quirks::OPENAI);
    assert!(out.get("tools").is_none() && out.get("tool_choice").is_none());
}

#[test]
fn thinking_maps_to_reasoning_effort_by_budget_or_effort() {
    let cases = [
        (
            json!({"type": "enabled", "budget_tokens": 1024}),
            None,
            Some("low"),
        ),
        (
            json!({"type": "enabled", "budget_tokens": 4095}),
            None,
            Some("low"),
        ),
        (
            json!({"type": "enabled", "budget_tokens": 4096}),
            None,
            Some("medium"),
        ),
        (
            json!({"type": "enabled", "budget_tokens": 16383}),
            None,
            Some("medium"),
        ),
        (
            json!({"type": "enabled", "budget_tokens": 16384}),
            None,
            Some("high"),
        ),
        (json!({"type": "adaptive"}), None, Some("medium")),
        (json!({"type": "adaptive"}), Some("max"), Some("high")),
        (json!({"type": "adaptive"}), Some("low"), Some("low")),
        (json!({"type": "disabled"}), Some("high"), None),
    ];
    for (thinking, effort, expected) in cases {
        let mut request = claude_code_like();
        request["thinking"] = thinking.clone();
        if let Some(effort) = effort {
            request["output_config"] = json!({"effort": effort});
        }
        let (out, _, _) = translate(&request, &Quirks::OPENAI);
        assert_eq!(
            out.get("reasoning_effort").and_then(Value::as_str),
            expected,
            "{thinking} {effort:?}"
        );
    }
}

#[test]
fn a_plain_non_streaming_request_is_minimal() {
    let request = json!({"model": "m", "max_tokens": 1, "system": "sys",
        "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]});
    let (out, names, stream) = translate(&request, &Quirks::OPENAI);
    assert!(!stream && names.is_empty());
    assert_eq!(
        out,
        json!({"model": "gpt-5", "max_completion_tokens": 1, "messages": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "yo"}]})
    );
}

#[test]
fn assistant_turns_of_only_tool_calls_or_only_thinking() {
    let request = json!({"messages": [
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "t", "name": "A", "input": {"q": "\"x\""}}]},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": "s"}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t"}]}
    ]});
    let (out, _, _) = translate(&request, &Quirks::OPENAI);
    assert_eq!(
        out["messages"],
        json!([
            {"role": "assistant", "content": null, "tool_calls": [{"id": "t", "type": "function",
             "function": {"name": "A", "arguments": "{\"q\":\"\\\"x\\\"\"}"}}]},
            {"role": "tool", "tool_call_id": "t", "content": ""}
        ])
    );
}

#[test]
fn bad_bodies_are_client_errors() {
    let bad = |body: &[u8]| translate_request(body, "m", &Quirks::OPENAI).unwrap_err();
    assert!(matches!(bad(b"{"), RequestError::NotJson(_)));
    assert_eq!(bad(b"[]"), RequestError::NotAnObject);
    assert_eq!(bad(b"{}"), RequestError::NoMessages);
    assert_eq!(
        bad(br#"{"messages":[{"role":"user","content":"a"},{"role":"tool","content":"x"}]}"#),
        RequestError::BadMessage {
            index: 1,
            reason: "role must be user, assistant or system"
        }
    );
    assert!(matches!(
        bad(br#"{"messages":[{"role":"user"}]}"#),
        RequestError::BadMessage { index: 0, .. }
    ));
    assert!(matches!(
        bad(br#"{"messages":[{"role":"user","content":5}]}"#),
        RequestError::BadMessage { index: 0, .. }
    ));
    assert_eq!(
        bad(br#"{"messages":[{"role":"user"}]}"#).to_string(),
        "messages.0: content: field required"
    );
}

#[test]
fn every_truncation_of_a_body_fails_without_panicking() {
    let body = serde_json::to_vec(&claude_code_like()).unwrap();
    for end in 0..body.len() {
        let result = translate_request(&body[..end], "m", &Quirks::OPENAI);
        assert!(
            matches!(result, Err(RequestError::NotJson(_))),
            "prefix {end}"
        );
    }
    assert!(translate_request(&body, "m", &Quirks::OPENAI).is_ok());
}
