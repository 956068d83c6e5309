//! Real clients to a model on an OpenAI-format provider through sluice: Claude Code (pinned)
//! runs a Bash tool the OpenAI mock asks for and gets the answer after the tool result; the
//! Anthropic Python SDK's accumulated streamed message holds the mock's tool calls, stop reason
//! and usage. The client's own key never reaches the OpenAI mock.
//!
//! OpenAI-format clients through sluice: the official `openai` Python SDK (pinned by
//! tests/clients/setup.sh) on `/v1/chat/completions`, served by the Anthropic mock through the
//! reverse translation; the model lists in both shapes; errors in OpenAI's shape.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::claude_openai::claude_code_openai_handler;
use support::clients;
use support::fixtures;
use support::gateway::config_toml;
use support::openai_mock::{
    Flavor, OpenAiMock, OpenAiReply, StreamScript, finish_chunk, role_chunk, text_chunk,
    tool_call_chunks, usage_chunk,
};
use support::temp::token;
use support::{Gateway, MockUpstream, Reply, TempDir};

const UPSTREAM_KEY: &str = "sk-openai-upstream-OWN-5150";

fn gateway_for(anthropic: &str, openai_base: &str) -> Gateway {
    let mut toml = config_toml(anthropic, None, &[]);
    toml.push_str(&format!(
        "\n[[providers]]\nname = \"openai\"\nkind = \"openai\"\nbase_url = \"{openai_base}\"\n\
         keys = [{{ secret = \"{UPSTREAM_KEY}\" }}]\n"
    ));
    Gateway::start_config(&toml)
}

#[test]
fn claude_code_runs_a_bash_tool_on_an_openai_model_through_sluice() {
    let token = token();
    let home = TempDir::new("claude-home");
    let work = TempDir::new("claude-work");
    let marker = work.join("sluice-marker.txt");
    let openai = MockUpstream::start(claude_code_openai_handler(
        token.clone(),
        marker.clone(),
        UPSTREAM_KEY.to_owned(),
    ));
    // Whatever Claude Code still asks Anthropic for (model lists, probes) gets the usual mock.
    let anthropic = MockUpstream::start(clients::claude_code_handler(
        token.clone(),
        work.join("unused.txt"),
    ));
    let gateway = gateway_for(&anthropic.base_url(), &format!("{}/v1", openai.base_url()));
    let model = "openai/mock-gpt";
    let output = clients::run_claude_with_vars(
        &format!("http://{}", gateway.addr),
        home.path(),
        work.path(),
        &token,
        &[
            ("ANTHROPIC_MODEL", model),
            ("ANTHROPIC_DEFAULT_HAIKU_MODEL", model),
            ("ANTHROPIC_DEFAULT_SONNET_MODEL", model),
            ("ANTHROPIC_SMALL_FAST_MODEL", model),
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let seen: Vec<String> = openai
        .requests()
        .iter()
        .map(|r| {
            let body: String = String::from_utf8_lossy(&r.body).chars().take(300).collect();
            format!("{} {} {body}", r.method, r.target)
        })
        .collect();
    let context = format!(
        "status {}\nstdout: {stdout}\nstderr: {}\nopenai mock saw:\n{}\nsluice:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        seen.join("\n"),
        gateway.stderr()
    );
    clients::assert_bash_scenario(&output, &stdout, &marker, &token, &context);
    let turns = openai.requests();
    assert!(
        turns.len() >= 2,
        "a tool-call turn and a tool-result turn: {context}"
    );
    assert!(
        turns
            .iter()
            .any(|t| String::from_utf8_lossy(&t.body).contains("\"role\":\"tool\"")),
        "the tool result went back as a tool message: {context}"
    );
    for turn in &turns {
        let head = String::from_utf8_lossy(&turn.head);
        assert!(
            !head.contains("test-key"),
            "the client's key reached the OpenAI mock"
        );
        assert!(turn.header_str("x-api-key").is_none());
    }
}

#[test]
fn anthropic_sdk_streams_openai_tool_calls_through_sluice() {
    let first = r#"{"file_path":"héllo.txt","content":"line \"one\"\n日本語 ✓"}"#;
    let second = r#"{"command":"ls -la"}"#;
    let mut payloads = vec![role_chunk(), text_chunk("Writing it. ")];
    payloads.extend(tool_call_chunks(0, "call_w", "Write", first, 7));
    payloads.extend(tool_call_chunks(1, "call_b", "Bash", second, 3));
    payloads.push(finish_chunk("tool_calls"));
    payloads.push(usage_chunk(321, 21, 45));
    let script = StreamScript::new(payloads).split(&[3, 1, 8, 2, 21], Duration::ZERO);
    let mock = OpenAiMock::start_with_key(
        Flavor::OpenAi,
        Some(UPSTREAM_KEY),
        vec![OpenAiReply::Stream(script)],
    );
    let gateway = gateway_for(&support::gateway::closed_port_url(), &mock.base_url());
    let client_key = "sk-ant-sdk-client-OWN-8080";
    let result = clients::run_python_sdk_tools(
        &format!("http://{}", gateway.addr),
        "openai/gpt-5",
        client_key,
    );
    let final_message = &result["final"];
    let content = final_message["content"].as_array().expect("content");
    let kinds: Vec<&str> = content
        .iter()
        .map(|b| b["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["text", "tool_use", "tool_use"], "{result}");
    assert_eq!(content[0]["text"], "Writing it. ");
    assert_eq!(
        (content[1]["id"].as_str(), content[1]["name"].as_str()),
        (Some("call_w"), Some("Write"))
    );
    assert_eq!(
        content[1]["input"],
        serde_json::from_str::<Value>(first).unwrap()
    );
    assert_eq!(content[2]["name"], "Bash");
    assert_eq!(content[2]["input"], json!({"command": "ls -la"}));
    assert_eq!(final_message["stop_reason"], "tool_use");
    assert_eq!(final_message["usage"]["input_tokens"], 300);
    assert_eq!(final_message["usage"]["cache_read_input_tokens"], 21);
    assert_eq!(final_message["usage"]["output_tokens"], 45);
    let requests = mock.wait_requests(1, support::EVENTUALLY);
    assert_eq!(requests.len(), 1);
    let head = String::from_utf8_lossy(&requests[0].head);
    assert!(
        !head.contains(client_key),
        "the client's key reached the OpenAI mock:\n{head}"
    );
    let sent: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(sent["model"], "gpt-5");
    assert_eq!(sent["stream_options"]["include_usage"], true);
}

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
    assert_eq!(
        result["stream_finish_reasons"],
        serde_json::json!(["tool_calls"])
    );
    let usage = &result["stream_usage_chunks"][0];
    assert_eq!(usage["prompt_tokens"], 2095 + 1024);
    assert_eq!(usage["completion_tokens"], 412);

    let created = &result["create"]["choices"][0];
    assert_eq!(created["finish_reason"], "tool_calls");
    assert_eq!(
        created["message"]["tool_calls"].as_array().map(Vec::len),
        Some(2)
    );

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
    // The Anthropic provider's own models (re-shaped), then every model_map key and literal
    // route name it lacks, once each.
    let all = [
        "claude-sonnet-4-5-20250929",
        "claude-haiku-4-5-20251001",
        "fast",
        "sonnet",
    ];
    assert_eq!(ids, all, "{result}");
    let first = &result["models"][0];
    assert_eq!(first["object"], "model", "{result}");
    assert_eq!(first["owned_by"], "anthropic", "{result}");
    assert_eq!(
        first["created"], 1_759_104_000u64,
        "created_at as Unix seconds"
    );
    assert_eq!(result["models"][2]["owned_by"], "sluice", "{result}");
    // Asked upstream in one page, with the anthropic-version the OpenAI SDK does not send.
    let asked = mock.requests();
    let list_request = asked.last().expect("the list was asked upstream");
    assert_eq!(list_request.method, "GET");
    assert_eq!(list_request.target, "/v1/models?limit=1000");
    assert_eq!(
        list_request.header_str("anthropic-version").as_deref(),
        Some("2023-06-01")
    );
    let bare = gateway.client().get("/v1/models");
    assert_eq!(bare.status, 200);
    assert_eq!(bare.json()["object"], "list");
    assert_eq!(model_ids(&bare.json()), all);
    // With anthropic-version: the Anthropic provider's own answer, plus every model_map key
    // and literal route name it lacks, once each.
    let anthropic = gateway.client().request(
        "GET",
        "/v1/models",
        &[("anthropic-version", "2023-06-01")],
        b"",
    );
    assert_eq!(anthropic.status, 200);
    let list = anthropic.json();
    assert!(list.get("object").is_none(), "{}", anthropic.text());
    assert_eq!(
        model_ids(&list),
        [
            "claude-sonnet-4-5-20250929",
            "claude-haiku-4-5-20251001",
            "fast",
            "sonnet"
        ]
    );
    assert_eq!(list["data"][0]["display_name"], "Claude Sonnet 4.5");
    assert_eq!(list["data"][2]["type"], "model");
    assert_eq!(list["last_id"], "sonnet");
    assert_eq!(list["has_more"], false);
}

fn model_ids(list: &Value) -> Vec<&str> {
    let data = list["data"].as_array().expect("data");
    data.iter()
        .map(|m| m["id"].as_str().unwrap_or(""))
        .collect()
}

/// The OpenAI-shaped list is behind the same keys as every other route: without a virtual key
/// a 401 in OpenAI's shape, nothing asked upstream; with one, the provider's list asked with
/// the provider's key; an upstream refusal reaches the client in OpenAI's error shape.
#[test]
fn openai_model_list_requires_a_virtual_key_and_maps_upstream_errors() {
    use support::governance as gov;
    let fail = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let failing = fail.clone();
    let mock = MockUpstream::start(move |request: &support::Recorded| {
        if failing.load(std::sync::atomic::Ordering::SeqCst) {
            let body = fixtures::error_json("rate_limit_error", "slow down");
            let headers = [("content-type", "application/json"), ("retry-after", "7")];
            return Reply::full(429, &headers, body.as_bytes());
        }
        fixtures::anthropic_handler(request)
    });
    let state = TempDir::new("openai-models-keyed");
    let key = gov::vkey("models");
    let mut toml = config_toml(&mock.base_url(), None, &[]);
    toml.push_str("keys = [{ id = \"ant-key\", secret = \"sk-ant-models\" }]\n");
    toml.push_str(&gov::soft_keyed_toml(
        state.path(),
        &["anthropic/claude-*"],
        &key,
    ));
    let gateway = Gateway::start_config(&toml);

    for path in ["/openai/v1/models", "/v1/models"] {
        let anonymous = gateway.client().get(path);
        assert_eq!(anonymous.status, 401, "{path}: {}", anonymous.text());
        let error = &anonymous.json()["error"];
        assert_eq!(error["type"], "invalid_request_error", "{path}");
        assert_eq!(error["code"], "invalid_api_key", "{path}");
        assert!(error.get("param").is_some(), "{path}");
    }
    assert!(
        mock.requests().is_empty(),
        "nothing asked upstream without a key"
    );

    let bearer = format!("Bearer {key}");
    let auth = [("authorization", bearer.as_str())];
    let listed = gateway
        .client()
        .request("GET", "/openai/v1/models", &auth, b"");
    assert_eq!(listed.status, 200, "{}", listed.text());
    assert_eq!(
        model_ids(&listed.json()),
        ["claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001"]
    );
    let asked = mock.requests();
    let upstream = asked.last().expect("asked upstream");
    assert_eq!(
        upstream.header_str("x-api-key").as_deref(),
        Some("sk-ant-models")
    );
    assert!(
        asked
            .iter()
            .all(|r| !String::from_utf8_lossy(&r.head).contains(&key)),
        "the virtual key never reaches the provider"
    );

    fail.store(true, std::sync::atomic::Ordering::SeqCst);
    let refused = gateway
        .client()
        .request("GET", "/openai/v1/models", &auth, b"");
    assert_eq!(refused.status, 429, "{}", refused.text());
    assert_eq!(refused.json()["error"]["type"], "requests");
    assert_eq!(refused.json()["error"]["code"], "rate_limit_exceeded");
    assert_eq!(refused.header("retry-after").as_deref(), Some("7"));
    assert_eq!(gateway.client().get("/health").status, 200);
}

/// A first target on an OpenAI-format provider has no Anthropic-shaped list: sluice answers
/// both shapes from the configuration (never a "no provider" error).
#[test]
fn model_lists_for_an_openai_format_provider_come_from_the_configuration() {
    let openai = OpenAiMock::start(Flavor::OpenAi, vec![OpenAiReply::Json(json!({}))]);
    let toml = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n\n[[providers]]\nname = \"oa\"\nkind = \"openai\"\nbase_url = \"{}\"\nkeys = [{{ secret = \"sk-oa\" }}]\nmodel_map = {{ \"fast\" = \"gpt-5-mini\", \"gpt-*\" = \"gpt-5\" }}\n\n[[routes]]\nmatch = \"smart\"\ntargets = [\"oa/gpt-5\"]\n\n[[routes]]\nmatch = \"fast\"\ntargets = [\"oa\"]\n",
        openai.base_url()
    );
    let gateway = Gateway::start_config(&toml);
    let anthropic = gateway.client().request(
        "GET",
        "/v1/models",
        &[("anthropic-version", "2023-06-01")],
        b"",
    );
    assert_eq!(anthropic.status, 200, "{}", anthropic.text());
    let list = anthropic.json();
    assert_eq!(model_ids(&list), ["fast", "smart"], "deduplicated");
    assert_eq!(list["data"][0]["type"], "model");
    assert!(list["data"][0]["created_at"].is_string());
    assert_eq!(
        (&list["first_id"], &list["last_id"]),
        (&json!("fast"), &json!("smart"))
    );
    let openai_shape = gateway.client().get("/openai/v1/models");
    assert_eq!(openai_shape.status, 200);
    assert_eq!(model_ids(&openai_shape.json()), ["fast", "smart"]);
    assert!(openai.requests().is_empty(), "answered by sluice");
}

/// The same request to an OpenAI-format provider passes byte for byte, and its usage is read.
#[test]
fn openai_sdk_through_sluice_to_openai_passes_through() {
    use support::openai_mock::{
        self, Flavor, OpenAiMock, OpenAiReply, StreamScript, completion_json,
    };
    let mut payloads = vec![
        openai_mock::role_chunk(),
        openai_mock::text_chunk("Héllo 日本"),
    ];
    payloads.extend(openai_mock::tool_call_chunks(
        0,
        "call_a",
        "Bash",
        r#"{"command":"ls"}"#,
        3,
    ));
    payloads.push(openai_mock::finish_chunk("tool_calls"));
    payloads.push(openai_mock::usage_chunk(120, 20, 33));
    let stream =
        OpenAiReply::Stream(StreamScript::new(payloads).split(&[7, 31], std::time::Duration::ZERO));
    let usage =
        serde_json::json!({"prompt_tokens": 120, "completion_tokens": 33, "total_tokens": 153});
    let whole = OpenAiReply::Json(completion_json(Some("Done."), &[], "stop", usage));
    let mock = OpenAiMock::start_with_key(
        Flavor::OpenAi,
        Some("sk-provider"),
        vec![stream.clone(), stream.clone(), stream, whole],
    );
    let toml = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n\n[[providers]]\nname = \"oa\"\nkind = \"openai\"\nbase_url = \"{}\"\nkeys = [{{ secret = \"sk-provider\" }}]\n\n[[routes]]\nmatch = \"gpt-*\"\ntargets = [\"oa\"]\n",
        mock.base_url()
    );
    let gateway = Gateway::start_config(&toml);
    let body = r#"{"model":"gpt-5","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}"#;
    let headers = [
        ("content-type", "application/json"),
        ("authorization", "Bearer sk-provider"),
    ];
    let mut direct = support::RawClient::connect(mock.upstream().addr());
    let direct = direct.request("POST", "/v1/chat/completions", &headers, body.as_bytes());
    let through = gateway.client().request(
        "POST",
        "/v1/chat/completions",
        &headers[..1],
        body.as_bytes(),
    );
    assert_eq!(through.status, 200, "{}", through.text());
    assert_eq!(
        through.text(),
        direct.text(),
        "the stream passes byte for byte"
    );
    let requests = mock.requests();
    assert_eq!(
        requests[1].body,
        body.as_bytes(),
        "the request passes byte for byte"
    );

    let base_url = format!("http://{}/openai/v1", gateway.addr);
    let result = clients::run_openai_sdk(&base_url, "sk-any", "chat", "gpt-5");
    assert_eq!(
        result["stream_finish_reasons"],
        serde_json::json!(["tool_calls"]),
        "{result}"
    );
    assert_eq!(result["stream_usage_chunks"][0]["prompt_tokens"], 120);
    assert_eq!(
        result["create"]["choices"][0]["message"]["content"],
        "Done."
    );

    let log = gateway.access_log();
    let metered: Vec<_> = log
        .iter()
        .filter(|r| {
            r["path"] == "/v1/chat/completions" || r["path"] == "/openai/v1/chat/completions"
        })
        .map(|r| (r["input_tokens"].clone(), r["output_tokens"].clone()))
        .collect();
    assert_eq!(metered.len(), 3, "{log:?}");
    for (input, output) in metered {
        assert_eq!(output, 33, "usage read from the passed-through response");
        assert!(input.as_u64().is_some_and(|n| n >= 100), "{input}");
    }

    // A model no route and no OpenAI-format provider serves: 400 in OpenAI's shape.
    let body = r#"{"model":"claude-nothing","messages":[{"role":"user","content":"hi"}]}"#;
    let unknown = gateway.client().request(
        "POST",
        "/v1/chat/completions",
        &headers[..1],
        body.as_bytes(),
    );
    assert_eq!(unknown.status, 400, "{}", unknown.text());
    assert_eq!(unknown.json()["error"]["type"], "invalid_request_error");
    assert!(unknown.json()["error"]["message"].is_string());
    assert_eq!(
        mock.requests().len(),
        4,
        "the unknown model did not go upstream"
    );
    assert_eq!(gateway.client().get("/health").status, 200);
}
