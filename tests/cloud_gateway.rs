//! `kind = "bedrock"` and `kind = "vertex"` through the real binary against mock upstreams that
//! speak the clouds' wire formats: Bedrock's event stream (the fixtures of
//! tests/fixtures/eventstream) relayed as Anthropic SSE, its exceptions before and after the
//! first event, the InvokeModel and rawPredict envelopes, and the beta filter.

mod support;

use std::path::Path;

use support::gateway::config_toml;
use support::http_client::request_bytes;
use support::mock::{Gate, response_head};
use support::{Gateway, MockUpstream, RawClient, Reply, Response};

const MODEL_ID: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
const BETAS: &str =
    "claude-code-20250219,interleaved-thinking-2025-05-14,not-a-real-beta-2099-01-01";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/eventstream")
            .join(name),
    )
    .expect("fixture")
}

/// The first frame's length (the prelude's total length, big-endian).
fn first_frame_len(bytes: &[u8]) -> usize {
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize
}

fn eventstream(body: Vec<u8>) -> Reply {
    Reply::full(
        200,
        &[
            ("content-type", "application/vnd.amazon.eventstream"),
            ("x-amzn-requestid", "req-1"),
        ],
        &body,
    )
}

fn bedrock_gateway(mock: &MockUpstream, auth: &str) -> Gateway {
    let mut toml = config_toml("http://127.0.0.1:9", None, &[]);
    toml.push_str(&format!(
        "\n[[providers]]\nname = \"bedrock\"\nkind = \"bedrock\"\nregion = \"us-east-1\"\nbase_url = \"{}\"\n{auth}\nmodel_map = {{ \"claude-sonnet-4-5\" = \"{MODEL_ID}\" }}\n",
        mock.base_url()
    ));
    Gateway::start_config(&toml)
}

const STATIC_KEYS: &str =
    "aws_access_key_id = \"AKIDSLUICE\"\naws_secret_access_key = \"sluice/secret+key\"";

fn stream_request(client: &mut RawClient) -> Response {
    let body = br#"{"model":"bedrock/claude-sonnet-4-5","max_tokens":1024,"stream":true,"thinking":{"type":"enabled","budget_tokens":512},"messages":[{"role":"user","content":"list src"}]}"#;
    client.request(
        "POST",
        "/v1/messages",
        &[
            ("content-type", "application/json"),
            ("x-api-key", "sk-ant-client-own"),
            ("anthropic-version", "2023-06-01"),
            ("anthropic-beta", BETAS),
        ],
        body,
    )
}

#[test]
fn a_bedrock_stream_reaches_the_client_as_the_anthropic_events_it_carries() {
    let mock = MockUpstream::start(|_| eventstream(fixture("thinking_tool_use.bin")));
    let gateway = bedrock_gateway(&mock, STATIC_KEYS);
    let response = stream_request(&mut gateway.client());
    assert_eq!(response.status, 200, "{}", response.text());
    assert!(
        response
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/event-stream")),
        "{:?}",
        response.headers
    );
    assert_eq!(
        response.text(),
        String::from_utf8(fixture("expected_thinking_tool_use.sse")).unwrap()
    );

    let request = &mock.requests()[0];
    assert_eq!(
        request.path(),
        "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke-with-response-stream"
    );
    let auth = request.header_str("authorization").expect("signed");
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDSLUICE/"),
        "{auth}"
    );
    assert!(auth.contains("/us-east-1/bedrock/aws4_request"), "{auth}");
    assert!(request.header("x-amz-date").is_some());
    // The client's own credential and headers never reach Bedrock.
    assert!(request.header("x-api-key").is_none());
    assert!(request.header("anthropic-beta").is_none());
    let body: serde_json::Value = serde_json::from_slice(&request.body).expect("json body");
    assert!(body.get("model").is_none() && body.get("stream").is_none());
    assert_eq!(body["anthropic_version"], "bedrock-2023-05-31");
    // Only the betas Bedrock's shipped table accepts go; the rest are dropped, not failed.
    assert_eq!(
        body["anthropic_beta"],
        serde_json::json!(["interleaved-thinking-2025-05-14"])
    );
    assert_eq!(body["thinking"]["budget_tokens"], 512);
    let metrics = gateway.admin_client().get("/metrics").text();
    assert!(
        metrics.contains(
            "sluice_betas_dropped_total{provider=\"bedrock\",beta=\"not-a-real-beta-2099-01-01\"} 1\n"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("sluice_credential_refresh_failures_total{provider=\"bedrock\"} 0\n"));
}

#[test]
fn a_throttling_exception_before_the_first_event_is_a_429_in_anthropic_shape() {
    let throttled = fixture("throttled_after_start.bin");
    let exception_only = throttled[first_frame_len(&throttled)..].to_vec();
    let mock = MockUpstream::start(move |_| eventstream(exception_only.clone()));
    let gateway = bedrock_gateway(&mock, STATIC_KEYS);
    let response = stream_request(&mut gateway.client());
    assert_eq!(response.status, 429, "{}", response.text());
    let json = response.json();
    assert_eq!(json["type"], "error");
    assert_eq!(json["error"]["type"], "rate_limit_error");
    assert!(
        json["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("throttlingException")),
        "{json}"
    );
}

/// A mock that sends the first frame of `bytes`, waits for the test to open the gate (once the
/// client has seen the first event), then sends the rest and closes.
fn after_first_event(bytes: Vec<u8>) -> (MockUpstream, Gate) {
    let gate = Gate::new();
    let held = gate.clone();
    let mock = MockUpstream::start(move |_| {
        let first = first_frame_len(&bytes);
        let mut start = response_head(
            200,
            &[
                ("content-type", "application/vnd.amazon.eventstream"),
                ("connection", "close"),
            ],
        );
        start.extend_from_slice(&bytes[..first]);
        Reply::new()
            .write(start)
            .gate(&held)
            .write(&bytes[first..])
            .close()
    });
    (mock, gate)
}

/// Sends the streamed request, reads until the first event arrived, opens the gate, reads the rest.
fn stream_past_first_event(gateway: &Gateway, gate: &Gate) -> String {
    let mut client = gateway.client();
    let body = br#"{"model":"bedrock/claude-sonnet-4-5","max_tokens":1024,"stream":true,"messages":[{"role":"user","content":"list src"}]}"#;
    client
        .send(&request_bytes(
            "POST",
            "/v1/messages",
            &[("content-type", "application/json")],
            body,
        ))
        .expect("send");
    let mut head = client.read_head().expect("head");
    assert_eq!(head.status, 200);
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("\n\n") {
        let piece = client.read_body_piece(&mut head).expect("piece");
        let Some(piece) = piece else {
            panic!("ended without a ping: {}", String::from_utf8_lossy(&seen));
        };
        seen.extend_from_slice(&piece);
    }
    gate.open();
    let rest = client.finish(head);
    seen.extend_from_slice(&rest.body);
    String::from_utf8(seen).expect("utf-8")
}

#[test]
fn a_throttling_exception_after_the_first_event_ends_the_stream_with_an_error_event() {
    let (mock, gate) = after_first_event(fixture("throttled_after_start.bin"));
    let gateway = bedrock_gateway(&mock, STATIC_KEYS);
    let text = stream_past_first_event(&gateway, &gate);
    assert!(text.starts_with("event: message_start\n"), "{text}");
    assert!(
        text.ends_with("\n\n")
            && text.contains(
                "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\""
            ),
        "{text}"
    );
}

#[test]
fn a_silent_bedrock_stream_gets_pings_between_its_events() {
    let (mock, gate) = after_first_event(fixture("thinking_tool_use.bin"));
    let mut toml = config_toml("http://127.0.0.1:9", None, &[("stream_ping_ms", "50")]);
    toml.push_str(&format!(
        "\n[[providers]]\nname = \"bedrock\"\nkind = \"bedrock\"\nregion = \"us-east-1\"\nbase_url = \"{}\"\n{STATIC_KEYS}\nmodel_map = {{ \"claude-sonnet-4-5\" = \"{MODEL_ID}\" }}\n",
        mock.base_url()
    ));
    let gateway = Gateway::start_config(&toml);
    let mut client = gateway.client();
    let body = br#"{"model":"bedrock/claude-sonnet-4-5","max_tokens":1024,"stream":true,"messages":[{"role":"user","content":"list src"}]}"#;
    client
        .send(&request_bytes(
            "POST",
            "/v1/messages",
            &[("content-type", "application/json")],
            body,
        ))
        .expect("send");
    let mut head = client.read_head().expect("head");
    assert_eq!(head.status, 200);
    // Bedrock sends no pings and is silent after its first event (the gate is shut): sluice's
    // own pings arrive meanwhile.
    let ping = std::str::from_utf8(support::sse::PING_EVENT).expect("utf-8");
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains(ping) {
        let piece = client.read_body_piece(&mut head).expect("piece");
        let Some(piece) = piece else {
            panic!("ended without a ping: {}", String::from_utf8_lossy(&seen));
        };
        seen.extend_from_slice(&piece);
    }
    gate.open();
    seen.extend_from_slice(&client.finish(head).body);
    let text = String::from_utf8(seen).expect("utf-8");
    assert!(text.starts_with("event: message_start\n"), "{text}");
    // Without the pings, the stream is exactly the events Bedrock carried.
    let events = text.replace(ping, "");
    assert_eq!(
        events,
        String::from_utf8(fixture("expected_thinking_tool_use.sse")).unwrap()
    );
}

#[test]
fn a_bedrock_error_body_becomes_an_anthropic_error_with_its_status() {
    let mock = MockUpstream::start(|_| {
        Reply::full(
            403,
            &[
                ("content-type", "application/json"),
                (
                    "x-amzn-errortype",
                    "AccessDeniedException:http://internal.amazon.com/coral/",
                ),
            ],
            br#"{"message":"You don't have access to the model"}"#,
        )
    });
    let gateway = bedrock_gateway(&mock, "keys = [{ secret = \"bedrock-api-key-1\" }]");
    let response = stream_request(&mut gateway.client());
    assert_eq!(response.status, 403, "{}", response.text());
    assert_eq!(response.json()["error"]["type"], "permission_error");
    let request = &mock.requests()[0];
    assert_eq!(
        request.header_str("authorization").as_deref(),
        Some("Bearer bedrock-api-key-1")
    );
}

#[test]
fn a_corrupt_frame_mid_stream_ends_with_an_error_event() {
    let mut bytes = fixture("thinking_tool_use.bin");
    let second = first_frame_len(&bytes);
    bytes[second + 20] ^= 0xff; // inside the second frame: its CRC no longer matches
    let (mock, gate) = after_first_event(bytes);
    let gateway = bedrock_gateway(&mock, STATIC_KEYS);
    let text = stream_past_first_event(&gateway, &gate);
    assert!(text.starts_with("event: message_start\n"), "{text}");
    assert!(text.contains("event: error\n"), "{text}");
    assert!(!text.contains("content_block_start"), "{text}");
}

#[test]
fn a_corrupt_first_frame_is_a_502_before_anything_is_sent() {
    let mut bytes = fixture("thinking_tool_use.bin");
    bytes[20] ^= 0xff;
    let mock = MockUpstream::start(move |_| eventstream(bytes.clone()));
    let gateway = bedrock_gateway(&mock, STATIC_KEYS);
    let response = stream_request(&mut gateway.client());
    assert_eq!(response.status, 502, "{}", response.text());
    assert_eq!(response.json()["error"]["type"], "api_error");
}

#[test]
fn vertex_gets_the_raw_predict_envelope_and_its_stream_is_relayed_byte_for_byte() {
    let sse = fixture("expected_thinking_tool_use.sse");
    let reply = sse.clone();
    let mock = MockUpstream::start(move |request| {
        if request.path().contains("count-tokens") {
            return Reply::json(200, r#"{"input_tokens":9}"#);
        }
        Reply::full(200, &[("content-type", "text/event-stream")], &reply)
    });
    let mut toml = config_toml("http://127.0.0.1:9", None, &[]);
    toml.push_str(&format!(
        "\n[[providers]]\nname = \"vertex\"\nkind = \"vertex\"\nproject = \"my-proj\"\nlocation = \"us-east5\"\nbase_url = \"{}/v1\"\nkeys = [{{ secret = \"ya29.static\" }}]\nmodel_map = {{ \"claude-sonnet-4-5\" = \"claude-sonnet-4-5@20250929\" }}\n",
        mock.base_url()
    ));
    let gateway = Gateway::start_config(&toml);
    let body = br#"{"model":"vertex/claude-sonnet-4-5","max_tokens":1024,"stream":true,"messages":[{"role":"user","content":"list src"}]}"#;
    let response = gateway.client().request(
        "POST",
        "/v1/messages",
        &[
            ("content-type", "application/json"),
            ("x-api-key", "sk-ant-client-own"),
            ("anthropic-beta", BETAS),
        ],
        body,
    );
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.body, sse);
    let request = &mock.requests()[0];
    assert_eq!(
        request.path(),
        "/v1/projects/my-proj/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict"
    );
    assert_eq!(
        request.header_str("authorization").as_deref(),
        Some("Bearer ya29.static")
    );
    assert!(request.header("x-api-key").is_none());
    let sent: serde_json::Value = serde_json::from_slice(&request.body).expect("json");
    assert!(sent.get("model").is_none());
    assert_eq!(sent["anthropic_version"], "vertex-2023-10-16");
    assert_eq!(sent["stream"], true);
    let betas = request.header_str("anthropic-beta").unwrap_or_default();
    assert!(!betas.contains("not-a-real-beta"), "{betas}");

    let counted = gateway.client().request(
        "POST",
        "/v1/messages/count_tokens",
        &[("content-type", "application/json")],
        br#"{"model":"vertex/claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}]}"#,
    );
    assert_eq!(counted.status, 200, "{}", counted.text());
    assert_eq!(counted.json()["input_tokens"], 9);
    let request = &mock.requests()[1];
    assert_eq!(
        request.path(),
        "/v1/projects/my-proj/locations/us-east5/publishers/anthropic/models/count-tokens:rawPredict"
    );
}

#[test]
fn without_keys_bedrock_signs_with_instance_metadata_credentials() {
    let imds = MockUpstream::start(|request| {
        let path = request.path();
        if request.method == "PUT" && path == "/latest/api/token" {
            return Reply::full(
                200,
                &[("content-type", "text/plain")],
                b"imds-session-token",
            );
        }
        if request.header_str("x-aws-ec2-metadata-token").as_deref() != Some("imds-session-token") {
            return Reply::full(401, &[], b"");
        }
        match path {
            "/latest/meta-data/iam/security-credentials/" => {
                Reply::full(200, &[("content-type", "text/plain")], b"sluice-role")
            }
            "/latest/meta-data/iam/security-credentials/sluice-role" => Reply::full(
                200,
                &[("content-type", "application/json")],
                br#"{"Code":"Success","AccessKeyId":"ASIAIMDS","SecretAccessKey":"imds/secret","Token":"imds-session","Expiration":"2099-01-01T00:00:00Z"}"#,
            ),
            _ => Reply::full(404, &[], b""),
        }
    });
    let bedrock = MockUpstream::start(|_| eventstream(fixture("thinking_tool_use.bin")));
    let home = support::TempDir::new("aws-home");
    let missing = home.join("none");
    let missing = missing.to_str().expect("path");
    let mut toml = config_toml("http://127.0.0.1:9", None, &[]);
    toml.push_str(&format!(
        "\n[[providers]]\nname = \"bedrock\"\nkind = \"bedrock\"\nregion = \"us-east-1\"\nbase_url = \"{}\"\nmodel_map = {{ \"claude-sonnet-4-5\" = \"{MODEL_ID}\" }}\n",
        bedrock.base_url()
    ));
    let endpoint = imds.base_url();
    let gateway = Gateway::start_config_env(
        &toml,
        &[
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", endpoint.as_str()),
            ("AWS_CONFIG_FILE", missing),
            ("AWS_SHARED_CREDENTIALS_FILE", missing),
            ("HOME", home.path().to_str().expect("home")),
        ],
    );
    let response = stream_request(&mut gateway.client());
    assert_eq!(response.status, 200, "{}", response.text());
    let request = &bedrock.requests()[0];
    let auth = request.header_str("authorization").expect("signed");
    assert!(auth.contains("Credential=ASIAIMDS/"), "{auth}");
    assert_eq!(
        request.header_str("x-amz-security-token").as_deref(),
        Some("imds-session")
    );
}
