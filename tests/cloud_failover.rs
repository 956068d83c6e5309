//! Cloud providers under the routing of docs/ARCHITECTURE.md ("Request flow"): a Bedrock
//! exception frame arriving before the first event fails over to the next target before any
//! byte reaches the client, and a reload (SIGHUP) that reorders `[[providers]]` keeps each cloud
//! provider's own credentials and region (they are found by provider name).

mod support;

use std::path::Path;

use sluice::providers::bedrock::eventstream::encode_exception;
use support::gateway::config_toml;
use support::{EVENTUALLY, Gateway, MockUpstream, Recorded, Reply, wait_for};

const MODEL_ID: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/eventstream")
            .join(name),
    )
    .expect("fixture")
}

/// The exception frame alone: `throttled_after_start.bin` without its first (event) frame.
fn exception_only() -> Vec<u8> {
    let throttled = fixture("throttled_after_start.bin");
    let first = u32::from_be_bytes([throttled[0], throttled[1], throttled[2], throttled[3]]);
    throttled[first as usize..].to_vec()
}

fn bedrock_provider(name: &str, base_url: &str, region: &str, key_id: &str) -> String {
    format!(
        "\n[[providers]]\nname = \"{name}\"\nkind = \"bedrock\"\nregion = \"{region}\"\nbase_url = \"{base_url}\"\naws_access_key_id = \"{key_id}\"\naws_secret_access_key = \"sluice/secret+key\"\nmodel_map = {{ \"claude-sonnet-4-5\" = \"{MODEL_ID}\" }}\n"
    )
}

fn post(gateway: &Gateway, model: &str, stream: bool) -> support::Response {
    let body = format!(
        r#"{{"model":"{model}","max_tokens":1024,"stream":{stream},"messages":[{{"role":"user","content":"list src"}}]}}"#
    );
    gateway.client().request(
        "POST",
        "/v1/messages",
        &[
            ("content-type", "application/json"),
            ("x-api-key", "sk-ant-client-own"),
            ("anthropic-version", "2023-06-01"),
        ],
        body.as_bytes(),
    )
}

#[test]
fn a_throttling_exception_before_the_first_event_fails_over_to_the_next_target() {
    let exception = exception_only();
    let bedrock = MockUpstream::start(move |_| {
        Reply::full(
            200,
            &[("content-type", "application/vnd.amazon.eventstream")],
            &exception,
        )
    });
    let sse = fixture("expected_thinking_tool_use.sse");
    let reply = sse.clone();
    let anthropic = MockUpstream::start(move |_| {
        Reply::full(200, &[("content-type", "text/event-stream")], &reply)
    });
    let gateway = bedrock_then_anthropic(&bedrock, &anthropic);
    let response = post(&gateway, "claude-sonnet-4-5", true);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.text(), String::from_utf8(sse).unwrap());
    assert_eq!(bedrock.requests().len(), 1);
    let requests = anthropic.requests();
    assert_eq!(requests.len(), 1);
    // The Anthropic target gets the client's original body (model unmapped, stream kept).
    let sent: serde_json::Value = serde_json::from_slice(&requests[0].body).expect("json");
    assert_eq!(sent["model"], "claude-sonnet-4-5");
    assert_eq!(sent["stream"], true);
    // Both attempts are in the access log line: the first failed with Bedrock's 429.
    let line = wait_for(EVENTUALLY, || {
        (gateway.access_log().into_iter()).find(|l| l["attempts"].is_array())
    })
    .expect("the access log lists the attempts");
    let attempts = line["attempts"].as_array().expect("attempts listed");
    assert_eq!(attempts.len(), 2, "{line}");
    assert_eq!(attempts[0]["provider"], "bedrock");
    assert_eq!(attempts[0]["status"], 429);
    assert_eq!(attempts[1]["provider"], "anthropic");
    assert_eq!(attempts[1]["status"], 200);
}

#[test]
fn a_validation_exception_before_the_first_event_is_not_failed_over() {
    let mut frame = Vec::new();
    encode_exception("validationException", "max_tokens: too large", &mut frame);
    let bedrock = MockUpstream::start(move |_| {
        Reply::full(
            200,
            &[("content-type", "application/vnd.amazon.eventstream")],
            &frame,
        )
    });
    let anthropic = MockUpstream::start(|_| Reply::json(200, "{}"));
    let gateway = bedrock_then_anthropic(&bedrock, &anthropic);
    let response = post(&gateway, "claude-sonnet-4-5", true);
    assert_eq!(response.status, 400, "{}", response.text());
    let json = response.json();
    assert_eq!(json["error"]["type"], "invalid_request_error", "{json}");
    assert!(
        anthropic.requests().is_empty(),
        "a 400 is not retried elsewhere"
    );
}

/// A non-streaming Bedrock answer naming who served it.
fn bedrock_answer(text: &str) -> Reply {
    Reply::json(
        200,
        &format!(
            r#"{{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{{"type":"text","text":"{text}"}}],"stop_reason":"end_turn","stop_sequence":null,"usage":{{"input_tokens":3,"output_tokens":2}}}}"#
        ),
    )
}

fn signed_by(request: &Recorded) -> String {
    request.header_str("authorization").expect("signed")
}

#[test]
fn a_sighup_reload_that_reorders_providers_keeps_each_ones_credentials() {
    let east = MockUpstream::start(|_| bedrock_answer("east"));
    let west = MockUpstream::start(|_| bedrock_answer("west"));
    let (east_url, west_url) = (east.base_url(), west.base_url());
    let config = |order_east_first: bool, anthropic_upstream: &str| {
        let mut toml = config_toml(anthropic_upstream, None, &[]);
        let east = bedrock_provider("east", &east_url, "us-east-1", "AKIDEAST");
        let west = bedrock_provider("west", &west_url, "us-west-2", "AKIDWEST");
        if order_east_first {
            toml.push_str(&east);
            toml.push_str(&west);
        } else {
            toml.push_str(&west);
            toml.push_str(&east);
        }
        toml
    };
    let first_anthropic = MockUpstream::start(|_| Reply::json(200, r#"{"from":"first"}"#));
    let gateway = Gateway::start_config(&config(true, &first_anthropic.base_url()));
    assert_eq!(post(&gateway, "east/claude-sonnet-4-5", false).status, 200);
    assert_eq!(post(&gateway, "west/claude-sonnet-4-5", false).status, 200);

    // The reload swaps the two clouds' positions (and changes the Anthropic upstream, which
    // shows when the new file is in use).
    let second_anthropic = MockUpstream::start(|_| Reply::json(200, r#"{"from":"second"}"#));
    std::fs::write(
        &gateway.config_path,
        config(false, &second_anthropic.base_url()),
    )
    .unwrap();
    gateway.signal(libc::SIGHUP);
    wait_for(EVENTUALLY, || {
        let response = post(&gateway, "anthropic/claude-sonnet-4-5", false);
        (response.json()["from"] == "second").then_some(())
    })
    .expect("the reloaded configuration never applied");

    for _ in 0..4 {
        let response = post(&gateway, "east/claude-sonnet-4-5", false);
        assert_eq!(response.status, 200, "{}", response.text());
        assert_eq!(response.json()["content"][0]["text"], "east");
        let response = post(&gateway, "west/claude-sonnet-4-5", false);
        assert_eq!(response.status, 200, "{}", response.text());
        assert_eq!(response.json()["content"][0]["text"], "west");
    }
    for request in east.requests() {
        let auth = signed_by(&request);
        assert!(auth.contains("Credential=AKIDEAST/"), "{auth}");
        assert!(auth.contains("/us-east-1/bedrock/aws4_request"), "{auth}");
    }
    for request in west.requests() {
        let auth = signed_by(&request);
        assert!(auth.contains("Credential=AKIDWEST/"), "{auth}");
        assert!(auth.contains("/us-west-2/bedrock/aws4_request"), "{auth}");
    }
    assert_eq!(east.requests().len(), 5);
    assert_eq!(west.requests().len(), 5);
}

#[test]
fn a_reload_with_an_invalid_cloud_provider_is_refused_and_the_running_one_stays() {
    let east = MockUpstream::start(|_| bedrock_answer("east"));
    let first = MockUpstream::start(|_| Reply::json(200, r#"{"from":"first"}"#));
    let mut toml = config_toml(&first.base_url(), None, &[]);
    toml.push_str(&bedrock_provider(
        "east",
        &east.base_url(),
        "us-east-1",
        "AKIDEAST",
    ));
    let gateway = Gateway::start_config(&toml);
    assert_eq!(post(&gateway, "east/claude-sonnet-4-5", false).status, 200);

    // SigV4 keys and a Bedrock API key at once: the cloud validation (not the generic config
    // check) refuses that.
    let second = MockUpstream::start(|_| Reply::json(200, r#"{"from":"second"}"#));
    let mut broken = config_toml(&second.base_url(), None, &[]);
    broken.push_str(&bedrock_provider(
        "east",
        &east.base_url(),
        "us-east-1",
        "AKIDEAST",
    ));
    broken.push_str("keys = [{ secret = \"bedrock-api-key\" }]\n");
    std::fs::write(&gateway.config_path, broken).unwrap();
    gateway.signal(libc::SIGHUP);
    wait_for(EVENTUALLY, || {
        gateway.stderr().contains("reload refused").then_some(())
    })
    .unwrap_or_else(|| panic!("the reload was not refused: {}", gateway.stderr()));
    assert!(
        gateway.stderr().contains("provider `east`"),
        "{}",
        gateway.stderr()
    );
    let response = post(&gateway, "anthropic/claude-sonnet-4-5", false);
    assert_eq!(
        response.json()["from"],
        "first",
        "the running configuration stays"
    );
    let response = post(&gateway, "east/claude-sonnet-4-5", false);
    assert_eq!(response.status, 200, "{}", response.text());
    assert!(second.requests().is_empty());
}

/// sluice routing `claude-*` to `bedrock` first, then to `anthropic`.
fn bedrock_then_anthropic(bedrock: &MockUpstream, anthropic: &MockUpstream) -> Gateway {
    let mut toml = config_toml(&anthropic.base_url(), None, &[]);
    toml.push_str(&bedrock_provider(
        "bedrock",
        &bedrock.base_url(),
        "us-east-1",
        "AKIDSLUICE",
    ));
    toml.push_str("\n[[routes]]\nmatch = \"claude-*\"\ntargets = [\"bedrock\", \"anthropic\"]\n");
    Gateway::start_config(&toml)
}
