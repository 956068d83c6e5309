//! Request translation tests: every mapped field, the tool loop shape Anthropic requires, and
//! one test per refused input with the `param` OpenAI clients see.

use serde_json::{Value, json};

use super::request::{EFFORT_BUDGETS, MIN_THINKING_BUDGET, RequestError, translate_request};

const MODEL_MAX: u64 = 64_000;

fn anthropic(body: Value) -> Value {
    let translated = translate_request(body.to_string().as_bytes()).unwrap();
    serde_json::from_slice(&translated.into_anthropic_body("claude-sonnet-4-5", MODEL_MAX)).unwrap()
}

fn refused(body: Value) -> RequestError {
    translate_request(body.to_string().as_bytes()).unwrap_err()
}

fn user(text: &str) -> Value {
    json!({"role": "user", "content": text})
}

#[test]
fn a_tool_loop_conversation_translates_in_order() {
    let body = json!({
        "model": "fast",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Use tools."}]},
            {"role": "user", "content": "List files and read «a».txt"},
            {"role": "assistant", "content": "Sure.", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "Bash", "arguments": "{\"command\":\"ls \\\"x\\\"\"}"}},
                {"id": "call.2", "type": "function", "function": {"name": "Read", "arguments": ""}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "a.txt\nb.txt"},
            {"role": "tool", "tool_call_id": "call.2", "content": [{"type": "text", "text": "contents é"}]},
            {"role": "user", "content": "Thanks"},
            {"role": "system", "content": "Late rule."}
        ],
        "tools": [{"type": "function", "function": {"name": "Bash", "description": "Run", "parameters": {"type": "object", "properties": {"command": {"type": "string"}}}}},
                  {"type": "function", "function": {"name": "Read"}}],
        "tool_choice": "required",
        "stop": "END",
        "user": "user-42",
        "temperature": 1.7,
        "top_p": 0.9,
        "stream": true,
        "stream_options": {"include_usage": true},
        "logprobs": true,
        "frequency_penalty": 0.5,
        "unknown_field": {"x": 1}
    });
    let translated = translate_request(body.to_string().as_bytes()).unwrap();
    assert_eq!(translated.model, "fast");
    assert!(translated.stream && translated.include_usage);
    assert_eq!(translated.max_tokens, None);
    let out: Value =
        serde_json::from_slice(&translated.into_anthropic_body("claude-sonnet-4-5", MODEL_MAX))
            .unwrap();
    assert_eq!(
        out,
        json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": MODEL_MAX,
            "stream": true,
            "system": [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Use tools."}, {"type": "text", "text": "Late rule."}],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "List files and read «a».txt"}]},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "Sure."},
                    {"type": "tool_use", "id": "call_1", "name": "Bash", "input": {"command": "ls \"x\""}},
                    {"type": "tool_use", "id": "call_2", "name": "Read", "input": {}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "call_1", "content": "a.txt\nb.txt"},
                    {"type": "tool_result", "tool_use_id": "call_2", "content": [{"type": "text", "text": "contents é"}]},
                    {"type": "text", "text": "Thanks"}
                ]}
            ],
            "tools": [
                {"name": "Bash", "description": "Run", "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}}},
                {"name": "Read", "input_schema": {"type": "object", "properties": {}}}
            ],
            "tool_choice": {"type": "any"},
            "stop_sequences": ["END"],
            "metadata": {"user_id": "user-42"},
            "temperature": 1.0,
            "top_p": 0.9
        })
    );
}

#[test]
fn max_tokens_prefers_max_completion_tokens_then_max_tokens_then_the_model_maximum() {
    let base = || json!({"model": "m", "messages": [user("hi")]});
    assert_eq!(anthropic(base())["max_tokens"], MODEL_MAX);
    let mut body = base();
    body["max_tokens"] = json!(100);
    assert_eq!(anthropic(body.clone())["max_tokens"], 100);
    body["max_completion_tokens"] = json!(200);
    assert_eq!(anthropic(body)["max_tokens"], 200);
    let mut body = base();
    body["max_tokens"] = Value::Null;
    assert_eq!(anthropic(body)["max_tokens"], MODEL_MAX);
}

#[test]
fn images_and_pdfs_become_anthropic_sources() {
    let out = anthropic(
        json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "high"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
            {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0="}}
        ]}]}),
    );
    assert_eq!(
        out["messages"][0]["content"],
        json!([
            {"type": "text", "text": "What is this?"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
            {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}}
        ])
    );
}

#[test]
fn tool_choice_forms_and_parallel_tool_calls() {
    let tools =
        json!([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]);
    for (choice, parallel, expected) in [
        (json!("auto"), Value::Null, json!({"type": "auto"})),
        (json!("none"), Value::Null, json!({"type": "none"})),
        (
            json!("required"),
            json!(false),
            json!({"type": "any", "disable_parallel_tool_use": true}),
        ),
        (
            json!({"type": "function", "function": {"name": "f"}}),
            Value::Null,
            json!({"type": "tool", "name": "f"}),
        ),
        (
            Value::Null,
            json!(false),
            json!({"type": "auto", "disable_parallel_tool_use": true}),
        ),
        (json!("none"), json!(false), json!({"type": "none"})),
    ] {
        let out = anthropic(
            json!({"model": "m", "messages": [user("x")], "tools": tools,
            "tool_choice": choice, "parallel_tool_calls": parallel}),
        );
        assert_eq!(out["tool_choice"], expected, "{choice} {parallel}");
    }
    // Without tools, tool_choice is not sent (Anthropic refuses it alone).
    let out = anthropic(json!({"model": "m", "messages": [user("x")], "tool_choice": "auto"}));
    assert!(out.get("tool_choice").is_none() && out.get("tools").is_none());
}

#[test]
fn legacy_functions_and_function_call_messages_translate() {
    let out = anthropic(json!({"model": "m",
    "functions": [{"name": "weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}],
    "function_call": {"name": "weather"},
    "messages": [
        user("Weather in Paris?"),
        {"role": "assistant", "content": null, "function_call": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
        {"role": "function", "name": "weather", "content": "sunny"}
    ]}));
    assert_eq!(out["tools"][0]["name"], "weather");
    assert_eq!(
        out["tool_choice"],
        json!({"type": "tool", "name": "weather"})
    );
    assert_eq!(
        out["messages"][1]["content"],
        json!([{"type": "tool_use", "id": "call_function_1", "name": "weather", "input": {"city": "Paris"}}])
    );
    assert_eq!(
        out["messages"][2]["content"],
        json!([{"type": "tool_result", "tool_use_id": "call_function_1", "content": "sunny"}])
    );
}

#[test]
fn reasoning_effort_maps_to_a_thinking_budget_under_max_tokens() {
    for &(effort, budget) in &EFFORT_BUDGETS {
        let out = anthropic(
            json!({"model": "m", "messages": [user("x")], "reasoning_effort": effort, "temperature": 0.2, "top_p": 0.5}),
        );
        assert_eq!(
            out["thinking"],
            json!({"type": "enabled", "budget_tokens": budget}),
            "{effort}"
        );
        assert!(
            out.get("temperature").is_none() && out.get("top_p").is_none(),
            "{effort}"
        );
    }
    let out = anthropic(
        json!({"model": "m", "messages": [user("x")], "reasoning_effort": "none", "temperature": 0.2}),
    );
    assert!(out.get("thinking").is_none());
    assert_eq!(out["temperature"], 0.2);
    // The budget stays below max_tokens; at the minimum budget + 1 thinking still fits, at the
    // minimum itself it does not.
    let at = |max: u64| {
        anthropic(
            json!({"model": "m", "messages": [user("x")], "reasoning_effort": "high", "max_tokens": max}),
        )
    };
    assert_eq!(at(5000)["thinking"]["budget_tokens"], 4999);
    assert_eq!(
        at(MIN_THINKING_BUDGET + 1)["thinking"]["budget_tokens"],
        MIN_THINKING_BUDGET
    );
    assert!(at(MIN_THINKING_BUDGET).get("thinking").is_none());
}

#[test]
fn thinking_is_dropped_where_anthropic_refuses_it() {
    let tools = json!([{"type": "function", "function": {"name": "f"}}]);
    let forced = anthropic(
        json!({"model": "m", "messages": [user("x")], "tools": tools, "tool_choice": "required", "reasoning_effort": "low"}),
    );
    assert!(forced.get("thinking").is_none());
    let in_loop = anthropic(
        json!({"model": "m", "reasoning_effort": "low", "tools": tools, "messages": [
            user("x"),
            {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c", "content": "ok"}
        ]}),
    );
    assert!(in_loop.get("thinking").is_none());
    let after_loop = anthropic(
        json!({"model": "m", "reasoning_effort": "low", "messages": [
            user("x"),
            {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c", "content": "ok"},
            {"role": "assistant", "content": "done"},
            user("next")
        ]}),
    );
    assert_eq!(after_loop["thinking"]["budget_tokens"], 2048);
}

#[test]
fn stop_lists_and_empty_assistant_turns() {
    let out = anthropic(json!({"model": "m", "stop": ["a", "b"], "messages": [
        user("x"), {"role": "assistant", "content": ""}, user("y")]}));
    assert_eq!(out["stop_sequences"], json!(["a", "b"]));
    // The empty assistant turn is dropped and the two user turns merge.
    assert_eq!(
        out["messages"],
        json!([{"role": "user", "content": [{"type": "text", "text": "x"}, {"type": "text", "text": "y"}]}])
    );
    let out = anthropic(json!({"model": "m", "stop": [], "messages": [user("x")]}));
    assert!(out.get("stop_sequences").is_none());
}

#[test]
fn refused_inputs_name_their_param() {
    let ok = || json!({"model": "m", "messages": [user("x")]});
    let with = |key: &str, value: Value| {
        let mut body = ok();
        body[key] = value;
        body
    };
    let call = |args: &str| {
        json!({"model": "m", "messages": [user("x"),
        {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": args}}]}]})
    };
    let cases: Vec<(Value, Option<&str>, Option<&str>)> = vec![
        (json!([1]), None, None),
        (
            json!({"messages": [user("x")]}),
            Some("model"),
            Some("missing_required_parameter"),
        ),
        (
            json!({"model": "m"}),
            Some("messages"),
            Some("missing_required_parameter"),
        ),
        (
            with("messages", json!("hi")),
            Some("messages"),
            Some("invalid_type"),
        ),
        (
            with("messages", json!([])),
            Some("messages"),
            Some("invalid_value"),
        ),
        (
            with(
                "messages",
                json!([{"role": "system", "content": "only system"}]),
            ),
            Some("messages"),
            Some("invalid_value"),
        ),
        (with("model", json!(3)), Some("model"), Some("invalid_type")),
        (
            with("model", json!("")),
            Some("model"),
            Some("invalid_value"),
        ),
        (with("n", json!(2)), Some("n"), Some("unsupported_value")),
        (with("n", json!("1")), Some("n"), Some("invalid_type")),
        (
            with("stream", json!("yes")),
            Some("stream"),
            Some("invalid_type"),
        ),
        (
            with("stream_options", json!({"include_usage": 1})),
            Some("stream_options.include_usage"),
            Some("invalid_type"),
        ),
        (
            with("max_tokens", json!(0)),
            Some("max_tokens"),
            Some("invalid_value"),
        ),
        (
            with("max_completion_tokens", json!(-5)),
            Some("max_completion_tokens"),
            Some("invalid_type"),
        ),
        (
            with("temperature", json!(2.5)),
            Some("temperature"),
            Some("invalid_value"),
        ),
        (
            with("top_p", json!("high")),
            Some("top_p"),
            Some("invalid_type"),
        ),
        (
            with("reasoning_effort", json!("extreme")),
            Some("reasoning_effort"),
            Some("invalid_value"),
        ),
        (with("stop", json!([1])), Some("stop"), Some("invalid_type")),
        (with("user", json!(7)), Some("user"), Some("invalid_type")),
        (
            with("tool_choice", json!("sometimes")),
            Some("tool_choice"),
            Some("invalid_value"),
        ),
        (
            with("tool_choice", json!({"type": "function"})),
            Some("tool_choice.function.name"),
            Some("missing_required_parameter"),
        ),
        (
            with("tools", json!([{"type": "custom", "custom": {}}])),
            Some("tools[0].type"),
            Some("unsupported_value"),
        ),
        (
            with(
                "tools",
                json!([{"type": "function", "function": {"parameters": {}}}]),
            ),
            Some("tools[0].function.name"),
            Some("missing_required_parameter"),
        ),
        (
            with(
                "tools",
                json!([{"type": "function", "function": {"name": "f", "parameters": []}}]),
            ),
            Some("tools[0].function.parameters"),
            Some("invalid_type"),
        ),
        (
            call("{not json"),
            Some("messages[1].tool_calls[0].function.arguments"),
            Some("invalid_value"),
        ),
        (
            call("[1,2]"),
            Some("messages[1].tool_calls[0].function.arguments"),
            Some("invalid_value"),
        ),
        (
            with("messages", json!([{"role": "robot", "content": "x"}])),
            Some("messages[0].role"),
            Some("invalid_value"),
        ),
        (
            with("messages", json!([{"content": "x"}])),
            Some("messages[0].role"),
            Some("missing_required_parameter"),
        ),
        (
            with("messages", json!([{"role": "user"}])),
            Some("messages[0].content"),
            Some("missing_required_parameter"),
        ),
        (
            with("messages", json!([{"role": "tool", "content": "x"}])),
            Some("messages[0].tool_call_id"),
            Some("missing_required_parameter"),
        ),
        (
            with("messages", json!([{"role": "function", "content": "x"}])),
            Some("messages[0].role"),
            Some("invalid_value"),
        ),
        (
            with(
                "messages",
                json!([{"role": "user", "content": [{"type": "input_audio"}]}]),
            ),
            Some("messages[0].content[0].type"),
            Some("unsupported_value"),
        ),
        (
            with(
                "messages",
                json!([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}]}]),
            ),
            Some("messages[0].content[0].image_url.url"),
            Some("invalid_value"),
        ),
        (
            with(
                "messages",
                json!([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png,abc"}}]}]),
            ),
            Some("messages[0].content[0].image_url.url"),
            Some("invalid_value"),
        ),
        (
            with(
                "messages",
                json!([{"role": "user", "content": [{"type": "file", "file": {"file_id": "file-1"}}]}]),
            ),
            Some("messages[0].content[0].file"),
            Some("unsupported_value"),
        ),
        (
            with("messages", json!([{"role": "user", "content": 5}])),
            Some("messages[0].content"),
            Some("invalid_type"),
        ),
        (
            with("messages", json!(["hi"])),
            Some("messages[0]"),
            Some("invalid_type"),
        ),
    ];
    for (body, param, code) in cases {
        let e = refused(body.clone());
        assert_eq!(e.param(), param, "{body}");
        assert_eq!(e.code(), code, "{body}");
        let answer = e.to_openai();
        assert_eq!(answer.status, 400);
        let v: Value = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["param"], param.map_or(Value::Null, Value::from));
        assert_eq!(v["error"]["message"], e.to_string());
    }
}

#[test]
fn malformed_json_is_a_400_without_param() {
    for body in [&b"{"[..], b"", b"{\"model\":\"m\",}", b"\xff"] {
        let e = translate_request(body).unwrap_err();
        assert!(matches!(e, RequestError::NotJson(_)), "{body:?}");
        assert_eq!(e.param(), None);
        let v: Value = serde_json::from_slice(&e.to_openai().body).unwrap();
        assert_eq!(v["error"]["param"], Value::Null);
        assert_eq!(v["error"]["code"], Value::Null);
    }
}
