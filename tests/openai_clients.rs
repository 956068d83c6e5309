//! OpenAI-format clients through sluice: the official `openai` Python SDK (pinned by
//! tests/clients/setup.sh) on `/v1/chat/completions`, served by the Anthropic mock through the
//! reverse translation; the model lists in both shapes; errors in OpenAI's shape.

mod support;

use serde_json::Value;

use support::clients;
use support::fixtures;
use support::{Gateway, MockUpstream, Reply};

fn arguments(call: &Value) -> Value {
    let text = call["function"]["arguments"].as_str().expect("arguments");
    serde_json::from_str(text).expect("arguments are JSON")
}

#[test]
fn openai_sdk_through_sluice_to_anthropic() {
    let mock = MockUpstream::start(fixtures::anthropic_handler);
    let gateway = Gateway::start(&mock.base_url(), None, &[]);
    let base_url = format!("http://{}/v1", gateway.addr);
    let result = clients::run_openai_sdk(&base_url, "sk-client", "chat", fixtures::MODEL);

    let message = &result["stream_final"]["choices"][0]["message"];
    assert!(message["content"].as_str().is_some_and(|t| !t.is_empty()));
    let calls = message["tool_calls"].as_array().expect("tool calls");
    assert_eq!(calls.len(), 2, "{result}");
    assert_eq!(arguments(&calls[0]), fixtures::tool_1_input());
    assert_eq!(arguments(&calls[1]), fixtures::tool_2_input());
    assert_eq!(result["stream_finish_reasons"], serde_json::json!(["tool_calls"]));
    let usage = &result["stream_usage_chunks"][0];
    assert_eq!(usage["prompt_tokens"], 2095 + 1024);
    assert_eq!(usage["completion_tokens"], 412);

    let created = &result["create"]["choices"][0];
    assert_eq!(created["finish_reason"], "tool_calls");
    assert_eq!(created["message"]["tool_calls"].as_array().map(Vec::len), Some(2));

    // Upstream saw Anthropic Messages bodies with a max_tokens and the API version.
    let requests = mock.requests();
    assert_eq!(requests.len(), 2);
    for request in &requests {
        assert_eq!(request.path(), "/v1/messages");
        let body = request.json().expect("JSON body");
        assert!(body["max_tokens"].as_u64().is_some_and(|n| n > 0));
        assert!(body["messages"].is_array());
    }
    assert!(gateway.client().get("/health").status == 200);
}

#[test]
fn rate_limit_reaches_the_sdk_as_rate_limit_error() {
    let mock = MockUpstream::start(|_| {
        Reply::full(
            429,
            &[("content-type", "application/json"), ("retry-after", "7")],
            fixtures::error_json("rate_limit_error", "slow down").as_bytes(),
        )
    });
    let gateway = Gateway::start(&mock.base_url(), None, &[]);
    let base_url = format!("http://{}/v1", gateway.addr);
    let result = clients::run_openai_sdk(&base_url, "sk-client", "error", fixtures::MODEL);
    assert_eq!(result["class"], "RateLimitError", "{result}");
    assert_eq!(result["status"], 429);
    assert_eq!(result["body"]["code"], "rate_limit_exceeded");
    assert_eq!(result["body"]["message"], "slow down");
    assert!(gateway.client().get("/health").status == 200);
}

#[test]
fn bad_requests_are_400_in_openai_shape() {
    let mock = MockUpstream::start(fixtures::anthropic_handler);
    let gateway = Gateway::start(&mock.base_url(), None, &[]);
    let json = [("content-type", "application/json")];
    for (path, body) in [
        ("/v1/chat/completions", "{not json".to_owned()),
        (
            "/openai/v1/chat/completions",
            format!(r#"{{"model":"{}"}}"#, fixtures::MODEL),
        ),
        (
            "/v1/chat/completions",
            format!(r#"{{"model":"{}","messages":"hi"}}"#, fixtures::MODEL),
        ),
    ] {
        let response = gateway
            .client()
            .request("POST", path, &json, body.as_bytes());
        assert_eq!(response.status, 400, "{body}: {}", response.text());
        let error = &response.json()["error"];
        assert_eq!(error["type"], "invalid_request_error", "{body}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(error.get("param").is_some() && error.get("code").is_some());
        assert_eq!(gateway.client().get("/health").status, 200);
    }
    assert!(mock.requests().is_empty(), "nothing bad went upstream");
}

#[test]
fn unknown_model_is_400_in_openai_shape() {
    let mock = MockUpstream::start(fixtures::anthropic_handler);
    let toml = format!(
        "{}\n[[routes]]\nmatch = \"claude-*\"\ntargets = [\"anthropic\"]\n",
        support::gateway::config_toml(&mock.base_url(), None, &[])
    );
    let gateway = Gateway::start_config(&toml);
    let body = r#"{"model":"gpt-nothing","messages":[{"role":"user","content":"hi"}]}"#;
    let json = [("content-type", "application/json")];
    let response = gateway
        .client()
        .request("POST", "/v1/chat/completions", &json, body.as_bytes());
    assert_eq!(response.status, 400, "{}", response.text());
    assert!(response.json()["error"]["message"].is_string());
    assert!(mock.requests().is_empty());
    assert_eq!(gateway.client().get("/health").status, 200);
}

#[test]
fn model_lists_in_both_shapes() {
    let mock = MockUpstream::start(fixtures::anthropic_handler);
    let toml = format!(
        "{}model_map = {{ \"fast\" = \"claude-haiku-4-5\", \"claude-*-old\" = \"claude-3\" }}\n\n[[routes]]\nmatch = \"sonnet\"\ntargets = [\"anthropic\"]\n\n[[routes]]\nmatch = \"claude-*\"\ntargets = [\"anthropic\"]\n",
        support::gateway::config_toml(&mock.base_url(), None, &[])
    );
    let gateway = Gateway::start_config(&toml);
    let base_url = format!("http://{}/openai/v1", gateway.addr);
    let result = clients::run_openai_sdk(&base_url, "sk-client", "models", fixtures::MODEL);
    let ids: Vec<&str> = result["models"]
        .as_array()
        .expect("models")
        .iter()
        .map(|m| m["id"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(ids, ["fast", "sonnet"], "{result}");
    let bare = gateway.client().get("/v1/models");
    assert_eq!(bare.status, 200);
    assert_eq!(bare.json()["object"], "list");
    // With anthropic-version: the Anthropic provider's own answer.
    let anthropic = gateway.client().request(
        "GET",
        "/v1/models",
        &[("anthropic-version", "2023-06-01")],
        b"",
    );
    assert_eq!(anthropic.status, 200);
    assert!(anthropic.json()["data"].is_array());
    assert!(anthropic.json().get("object").is_none(), "{}", anthropic.text());
}
