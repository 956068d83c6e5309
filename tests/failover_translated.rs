//! End to end: failover across dialects. One `[[routes]]` entry sends `claude-*` first to an
//! Anthropic upstream that answers 529 (overloaded), then to an OpenAI-format upstream as
//! `gpt-test`. The Anthropic client must get a well-formed Anthropic response translated from
//! the OpenAI one (whole and streamed), the OpenAI upstream must get a translated body with
//! its own key only, and the virtual key's budget must be charged once per request.

mod support;

use serde_json::Value;
use support::gateway::config_toml;
use support::governance::{
    self as gov, Auth, MAX_TOKENS, REQUEST_COST_MICRO, TEST_MODEL, USAGE_INPUT_TOKENS, body_for,
    post,
};
use support::openai_mock::{
    Flavor, OpenAiMock, OpenAiReply, StreamScript, completion_json, finish_chunk, role_chunk,
    text_chunk, usage, usage_chunk,
};
use support::sse::parse_events;
use support::{EVENTUALLY, Gateway, MockUpstream, Reply, TempDir, wait_for};

const PRIMARY_KEY: &str = "sk-ant-primary-5521";
const OPENAI_KEY: &str = "sk-openai-OWN-8812";

fn overloaded(_: &support::mock::Recorded) -> Reply {
    let body = br#"{"type":"error","error":{"type":"overloaded_error","message":"busy"}}"#;
    Reply::full(529, &[("content-type", "application/json")], body)
}

fn gateway(primary: &MockUpstream, openai: &OpenAiMock, state: &TempDir, key: &str) -> Gateway {
    let mut toml = config_toml(&primary.base_url(), None, &[]);
    toml.push_str(&format!(
        "keys = [{{ id = \"primary-key\", secret = \"{PRIMARY_KEY}\" }}]\n"
    ));
    toml.push_str(&format!(
        "\n[[providers]]\nname = \"openai\"\nkind = \"openai\"\nbase_url = \"{}\"\n\
         keys = [{{ id = \"openai-key\", secret = \"{OPENAI_KEY}\" }}]\n",
        openai.base_url()
    ));
    toml.push_str(
        "\n[[routes]]\nmatch = \"claude-*\"\ntargets = [\"anthropic\", \"openai/gpt-test\"]\n",
    );
    toml.push_str("\n[routing]\nbackoff_ms = 0\n");
    toml.push_str(&gov::soft_keyed_toml(
        state.path(),
        &["anthropic/claude-gov-*", "openai/gpt-test"],
        key,
    ));
    Gateway::start_config(&toml)
}

#[test]
fn anthropic_529_fails_over_to_an_openai_target_translated_and_charged_once() {
    let primary = MockUpstream::start(overloaded);
    let whole = completion_json(
        Some("translated answer"),
        &[],
        "stop",
        usage(USAGE_INPUT_TOKENS, 0, MAX_TOKENS),
    );
    let streamed = StreamScript::new(vec![
        role_chunk(),
        text_chunk("streamed "),
        text_chunk("answer"),
        finish_chunk("stop"),
        usage_chunk(USAGE_INPUT_TOKENS, 0, MAX_TOKENS),
    ])
    .split(&[1, 7, 13], std::time::Duration::ZERO);
    let openai = OpenAiMock::start_with_key(
        Flavor::OpenAi,
        Some(OPENAI_KEY),
        vec![OpenAiReply::Json(whole), OpenAiReply::Stream(streamed)],
    );
    let state = TempDir::new("failover-translated");
    let key = gov::vkey("translated");
    let gateway = gateway(&primary, &openai, &state, &key);

    // Whole: an Anthropic message, from the OpenAI completion.
    let response = post(
        &mut gateway.client(),
        Auth::XApiKey(&key),
        &body_for(TEST_MODEL, MAX_TOKENS, false),
    );
    assert_eq!(response.status, 200, "{}", response.text());
    let message = response.json();
    assert_eq!(message["type"], "message", "{message}");
    assert_eq!(message["role"], "assistant");
    assert_eq!(message["content"][0]["type"], "text");
    assert_eq!(message["content"][0]["text"], "translated answer");
    assert_eq!(message["stop_reason"], "end_turn");
    assert_eq!(message["usage"]["input_tokens"], USAGE_INPUT_TOKENS);
    assert_eq!(message["usage"]["output_tokens"], MAX_TOKENS);

    // Streamed: Anthropic events, from the OpenAI chunks.
    let response = post(
        &mut gateway.client(),
        Auth::XApiKey(&key),
        &body_for(TEST_MODEL, MAX_TOKENS, true),
    );
    assert_eq!(response.status, 200, "{}", response.text());
    assert!(response.complete);
    let events = parse_events(&response.body);
    let names: Vec<&str> = events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names.first(), Some(&"message_start"), "{names:?}");
    assert_eq!(names.last(), Some(&"message_stop"), "{names:?}");
    let text: String = events
        .iter()
        .filter(|e| e.name == "content_block_delta")
        .filter_map(|e| {
            let data: Value = serde_json::from_str(&e.data).ok()?;
            data["delta"]["text"].as_str().map(str::to_owned)
        })
        .collect();
    assert_eq!(text, "streamed answer");

    // Each request went to the Anthropic upstream first (with its key, the client's body),
    // then to the OpenAI upstream (with its own key, a translated body for `gpt-test`).
    let tried = primary.wait_requests(2, EVENTUALLY);
    for request in &tried {
        assert_eq!(
            request.header_str("x-api-key").as_deref(),
            Some(PRIMARY_KEY)
        );
        let sent: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(sent["model"], TEST_MODEL);
    }
    let served = openai.wait_requests(2, EVENTUALLY);
    assert_eq!(served.len(), 2);
    for request in &served {
        let authorization = request.header_str("authorization");
        assert_eq!(
            authorization.as_deref(),
            Some(format!("Bearer {OPENAI_KEY}").as_str())
        );
        assert!(request.header_str("x-api-key").is_none(), "no client key");
        let raw = String::from_utf8_lossy(&request.body);
        assert!(!raw.contains(&key), "the virtual key never goes upstream");
        let sent: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(sent["model"], "gpt-test");
        assert_eq!(sent["messages"][0]["role"], "user");
        assert!(sent.get("max_tokens").is_some() || sent.get("max_completion_tokens").is_some());
    }

    // Charged once per request, from the translated usage.
    let spent = wait_for(EVENTUALLY, || {
        let spent = gov::spent_micro(&gateway, "key", "alice");
        (spent == 2 * REQUEST_COST_MICRO).then_some(spent)
    });
    assert_eq!(
        spent,
        Some(2 * REQUEST_COST_MICRO),
        "each charged once: {}",
        gov::spent_micro(&gateway, "key", "alice")
    );
    let log = wait_for(EVENTUALLY, || {
        let log = gateway.access_log();
        (log.iter().filter(|l| l["attempts"].is_array()).count() == 2).then_some(log)
    })
    .expect("both requests list their attempts");
    for line in log.iter().filter(|l| l["attempts"].is_array()) {
        let attempts = line["attempts"].as_array().unwrap();
        assert_eq!(attempts.len(), 2, "{line}");
        assert_eq!(attempts[0]["provider"], "anthropic");
        assert_eq!(attempts[0]["status"], 529);
        assert_eq!(attempts[1]["provider"], "openai");
        assert_eq!(attempts[1]["status"], 200);
    }
}
