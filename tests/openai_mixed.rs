//! End to end: an OpenAI-format client whose route lists targets of both dialects. The official
//! `openai` Python SDK (pinned by tests/clients/setup.sh) on `/v1/chat/completions` through the
//! real binary: an Anthropic target answering 529 fails over to an OpenAI-format target (the
//! request readied in OpenAI's format for it, the response passed through), and an
//! OpenAI-format target answering 503 fails over to an Anthropic target (the request
//! translated for it, the response translated back). Each request is charged once. And a
//! metered stream whose client did not ask for `stream_options.include_usage` gets it added
//! upstream: the usage chunk reaches the client valid per OpenAI's spec and is charged.

mod support;

use serde_json::Value;
use support::clients;
use support::fixtures;
use support::gateway::config_toml;
use support::governance::{self as gov, MAX_TOKENS, REQUEST_COST_MICRO};
use support::openai_mock::{
    Flavor, OpenAiMock, OpenAiReply, StreamScript, completion_json, error_json, finish_chunk,
    role_chunk, text_chunk, tool_call_chunks, usage, usage_chunk,
};
use support::{Gateway, MockUpstream, Reply, TempDir};

const OPENAI_KEY: &str = "sk-openai-mixed-4471";
/// The model the SDK asks for: only the route knows it.
const ROUTED_MODEL: &str = "mixed-model";
/// Input tokens the OpenAI mock reports.
const PROMPT_TOKENS: u64 = gov::USAGE_INPUT_TOKENS;

fn overloaded(_: &support::mock::Recorded) -> Reply {
    let body = br#"{"type":"error","error":{"type":"overloaded_error","message":"busy"}}"#;
    Reply::full(529, &[("content-type", "application/json")], body)
}

/// sluice with an Anthropic provider at `anthropic` and an OpenAI one at `openai`, the route
/// `mixed-*` over `targets`, governed by `key` (soft budgets, both models priced alike).
fn gateway(anthropic: &str, openai: &str, targets: &str, state: &TempDir, key: &str) -> Gateway {
    let mut toml = config_toml(anthropic, None, &[]);
    toml.push_str("keys = [{ id = \"ant-key\", secret = \"sk-ant-mixed\" }]\n");
    toml.push_str(&format!(
        "\n[[providers]]\nname = \"openai\"\nkind = \"openai\"\nbase_url = \"{openai}\"\n\
         keys = [{{ id = \"openai-key\", secret = \"{OPENAI_KEY}\" }}]\n"
    ));
    toml.push_str(&format!(
        "\n[[routes]]\nmatch = \"mixed-*\"\ntargets = {targets}\n"
    ));
    toml.push_str("\n[routing]\nbackoff_ms = 0\n");
    toml.push_str(&gov::soft_keyed_toml(
        state.path(),
        &["anthropic/claude-*", "openai/gpt-test"],
        key,
    ));
    Gateway::start_config(&toml)
}

fn arguments(call: &Value) -> Value {
    let text = call["function"]["arguments"].as_str().unwrap_or("");
    serde_json::from_str(text).unwrap_or(Value::Null)
}

#[test]
fn an_anthropic_529_fails_over_to_an_openai_target_for_the_openai_sdk() {
    let primary = MockUpstream::start(overloaded);
    let mut payloads = vec![role_chunk(), text_chunk("from the backup")];
    payloads.extend(tool_call_chunks(
        0,
        "call_1",
        "Bash",
        r#"{"command":"ls"}"#,
        3,
    ));
    payloads.push(finish_chunk("tool_calls"));
    payloads.push(usage_chunk(PROMPT_TOKENS, 0, MAX_TOKENS));
    let stream = StreamScript::new(payloads).split(&[5, 17], std::time::Duration::ZERO);
    let whole = completion_json(
        Some("whole from the backup"),
        &[],
        "stop",
        usage(PROMPT_TOKENS, 0, MAX_TOKENS),
    );
    let openai = OpenAiMock::start_with_key(
        Flavor::OpenAi,
        Some(OPENAI_KEY),
        vec![OpenAiReply::Stream(stream), OpenAiReply::Json(whole)],
    );
    let state = TempDir::new("openai-mixed");
    let key = gov::vkey("mixed");
    let targets = r#"["anthropic/claude-mixed", "openai/gpt-test"]"#;
    let gateway = gateway(
        &primary.base_url(),
        &openai.base_url(),
        targets,
        &state,
        &key,
    );

    let base_url = format!("http://{}/v1", gateway.addr);
    let result = clients::run_openai_sdk(&base_url, &key, "chat", ROUTED_MODEL);
    let message = &result["stream_final"]["choices"][0]["message"];
    assert_eq!(message["content"], "from the backup", "{result}");
    assert_eq!(
        arguments(&message["tool_calls"][0]),
        serde_json::json!({"command": "ls"})
    );
    assert_eq!(
        result["stream_finish_reasons"],
        serde_json::json!(["tool_calls"])
    );
    assert_eq!(
        result["stream_usage_chunks"][0]["prompt_tokens"],
        PROMPT_TOKENS
    );
    assert_eq!(
        result["create"]["choices"][0]["message"]["content"],
        "whole from the backup"
    );

    // The Anthropic target got Messages bodies; the OpenAI one Chat Completions bodies for its
    // own model.
    let tried = primary.requests();
    assert_eq!(tried.len(), 2);
    for request in &tried {
        assert_eq!(request.path(), "/v1/messages");
        let body = request.json().expect("JSON");
        assert_eq!(body["model"], "claude-mixed");
        assert!(body["max_tokens"].as_u64().is_some_and(|n| n > 0));
    }
    let served = openai.requests();
    assert_eq!(served.len(), 2);
    for request in &served {
        assert_eq!(request.path(), "/v1/chat/completions");
        assert_eq!(
            request.header_str("authorization").as_deref(),
            Some(&*format!("Bearer {OPENAI_KEY}"))
        );
        let body = request.json().expect("JSON");
        assert_eq!(body["model"], "gpt-test");
        assert!(
            body["messages"][0]["content"].is_string(),
            "OpenAI's format: {body}"
        );
    }
    assert_eq!(
        served[0].json().unwrap()["stream_options"]["include_usage"],
        true
    );
    assert_eq!(
        gov::spent_micro(&gateway, "key", "alice"),
        2 * REQUEST_COST_MICRO,
        "each request charged once"
    );
}

#[test]
fn an_openai_503_fails_over_to_an_anthropic_target_for_the_openai_sdk() {
    let anthropic = MockUpstream::start(fixtures::anthropic_handler);
    let unavailable = OpenAiReply::Error {
        status: 503,
        body: error_json("try later", "server_error", None),
        retry_after: None,
    };
    let openai = OpenAiMock::start_with_key(
        Flavor::OpenAi,
        Some(OPENAI_KEY),
        vec![unavailable.clone(), unavailable],
    );
    let state = TempDir::new("openai-mixed-reverse");
    let key = gov::vkey("mixed-reverse");
    let targets = format!(r#"["openai/gpt-test", "anthropic/{}"]"#, fixtures::MODEL);
    let gateway = gateway(
        &anthropic.base_url(),
        &openai.base_url(),
        &targets,
        &state,
        &key,
    );

    let base_url = format!("http://{}/v1", gateway.addr);
    let result = clients::run_openai_sdk(&base_url, &key, "chat", ROUTED_MODEL);
    let message = &result["stream_final"]["choices"][0]["message"];
    let calls = message["tool_calls"].as_array().expect("tool calls");
    assert_eq!(calls.len(), 2, "{result}");
    assert_eq!(arguments(&calls[0]), fixtures::tool_1_input());
    assert_eq!(arguments(&calls[1]), fixtures::tool_2_input());
    assert_eq!(
        result["stream_finish_reasons"],
        serde_json::json!(["tool_calls"])
    );
    assert_eq!(
        result["stream_usage_chunks"][0]["prompt_tokens"],
        2095 + 1024
    );
    assert_eq!(
        result["create"]["choices"][0]["finish_reason"],
        "tool_calls"
    );

    assert_eq!(
        openai.requests().len(),
        2,
        "the OpenAI target was tried first"
    );
    let served = anthropic.requests();
    assert_eq!(served.len(), 2);
    for request in &served {
        assert_eq!(request.path(), "/v1/messages");
        let body = request.json().expect("JSON");
        assert_eq!(body["model"], fixtures::MODEL);
        assert!(body["max_tokens"].as_u64().is_some_and(|n| n > 0));
        assert_eq!(
            request.header_str("anthropic-version").as_deref(),
            Some("2023-06-01")
        );
    }
    let spent = gov::spent_micro(&gateway, "key", "alice");
    assert!(spent > 0, "charged for what the Anthropic target served");
    let log = gateway.access_log();
    let lines: Vec<_> = log.iter().filter(|l| l["attempts"].is_array()).collect();
    assert_eq!(lines.len(), 2, "{log:?}");
    for line in lines {
        assert_eq!(line["attempts"][0]["provider"], "openai");
        assert_eq!(line["attempts"][0]["status"], 503);
        assert_eq!(line["attempts"][1]["provider"], "anthropic");
        assert_eq!(line["attempts"][1]["status"], 200);
    }
}

#[test]
fn a_metered_stream_without_include_usage_gets_it_added_and_is_charged() {
    let primary = MockUpstream::start(overloaded);
    let payloads = vec![
        role_chunk(),
        text_chunk("counted"),
        finish_chunk("stop"),
        usage_chunk(PROMPT_TOKENS, 0, MAX_TOKENS),
    ];
    let stream = StreamScript::new(payloads).split(&[3, 11], std::time::Duration::ZERO);
    let openai = OpenAiMock::start_with_key(
        Flavor::OpenAi,
        Some(OPENAI_KEY),
        vec![OpenAiReply::Stream(stream)],
    );
    let state = TempDir::new("openai-include-usage");
    let key = gov::vkey("include-usage");
    let targets = r#"["openai/gpt-test"]"#;
    let gateway = gateway(
        &primary.base_url(),
        &openai.base_url(),
        targets,
        &state,
        &key,
    );
    let body = format!(
        r#"{{"model":"{ROUTED_MODEL}","stream":true,"messages":[{{"role":"user","content":"hi"}}]}}"#
    );
    let bearer = format!("Bearer {key}");
    let headers = [
        ("content-type", "application/json"),
        ("authorization", bearer.as_str()),
    ];
    let response =
        gateway
            .client()
            .request("POST", "/v1/chat/completions", &headers, body.as_bytes());
    assert_eq!(response.status, 200, "{}", response.text());

    // Upstream: the top-level rewrite asked for usage, nothing else changed.
    let sent = openai.requests();
    assert_eq!(sent.len(), 1);
    let upstream: Value = sent[0].json().expect("JSON");
    assert_eq!(
        upstream["stream_options"],
        serde_json::json!({"include_usage": true})
    );
    assert_eq!(upstream["model"], "gpt-test");
    assert_eq!(
        upstream["messages"],
        serde_json::json!([{"role": "user", "content": "hi"}])
    );

    // The client: every data line a chunk object, the usage chunk with empty `choices` and the
    // three counts, then `[DONE]` (OpenAI's spec for `include_usage`).
    let text = response.text();
    let data: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert_eq!(data.last(), Some(&"[DONE]"), "{text}");
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).expect("each chunk is JSON"))
        .collect();
    for chunk in &chunks {
        assert_eq!(chunk["object"], "chat.completion.chunk", "{chunk}");
    }
    let usage_chunk = chunks.last().expect("chunks");
    assert_eq!(
        usage_chunk["choices"],
        serde_json::json!([]),
        "{usage_chunk}"
    );
    assert_eq!(usage_chunk["usage"]["prompt_tokens"], PROMPT_TOKENS);
    assert_eq!(usage_chunk["usage"]["completion_tokens"], MAX_TOKENS);
    assert_eq!(
        usage_chunk["usage"]["total_tokens"],
        PROMPT_TOKENS + MAX_TOKENS
    );
    assert!(
        chunks[..chunks.len() - 1]
            .iter()
            .all(|c| c.get("usage").is_none_or(Value::is_null)),
        "only the last chunk carries usage"
    );
    assert_eq!(
        gov::spent_micro(&gateway, "key", "alice"),
        REQUEST_COST_MICRO,
        "charged"
    );
}
