//! Traces and the audit log through the real gateway: a streamed tool-call request reaches a
//! loopback OTLP receiver as a SERVER span with a CLIENT child per attempt (the child's id is
//! the `traceparent` the upstream saw; a client's trace is continued); a dead collector costs
//! nothing but dropped spans; the audit log holds the request's tool calls and tool results,
//! admin actions with their caller, verifies with `sluice audit verify`, and no secret appears
//! in any output.

mod support;

use std::path::Path;

use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use support::audit::{assert_verifies, audit_records, audit_text, audit_toml, sha256_hex};
use support::fixtures::{self, TOOL_1_ID};
use support::governance::{
    ADMIN_TOKEN, GovConfig, PROVIDER_KEY, admin, customer_toml, key_toml, team_toml, vkey,
};
use support::otlp::{Received, int_attr, receiver, string_attr};
use support::temp::TempDir;
use support::{EVENTUALLY, Gateway, MockUpstream, wait_for};

/// The client's trace: continued by the gateway's request span.
const CLIENT_TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN_ID: &str = "00f067aa0ba902b7";

fn governed(upstream: &str, state_dir: &Path, secret: &str, extra: &str) -> String {
    let mut config = GovConfig::new(upstream, state_dir);
    config.hierarchy = format!(
        "{}{}{}",
        customer_toml("acme", ""),
        team_toml("platform", Some("acme"), ""),
        key_toml("alice", secret, "platform", "")
    );
    let mut toml = config.toml();
    // The fixture's model, priced (a virtual key's request needs a price).
    toml.push_str(
        "\n[[pricing]]\nmodel = \"anthropic/claude-sonnet-*\"\ninput = 3.0\noutput = 15.0\n\
         cache_write = 3.75\ncache_read = 0.3\n",
    );
    toml.push_str(extra);
    toml
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn spans(received: &Received) -> Vec<Span> {
    received
        .body
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| s.spans.clone())
        .collect()
}

fn streamed_tool_call(gateway: &Gateway, secret: &str, traceparent: Option<&str>) -> String {
    let body = fixtures::request_body(true, 0);
    let mut headers = vec![("x-api-key", secret), ("content-type", "application/json")];
    if let Some(tp) = traceparent {
        headers.push(("traceparent", tp));
        headers.push(("tracestate", "vendor=abc"));
    }
    let response = gateway
        .client()
        .request("POST", "/v1/messages", &headers, body.as_bytes());
    assert_eq!(response.status, 200, "{}", response.text());
    assert!(response.complete);
    response.text()
}

#[test]
fn a_streamed_tool_call_becomes_a_trace_with_an_attempt_child() {
    let upstream = MockUpstream::start(fixtures::anthropic_handler);
    let state = TempDir::new("otlp-e2e");
    let (endpoint, spans_rx) = receiver(0);
    let secret = vkey("trace");
    let telemetry =
        format!("\n[telemetry]\notlp_endpoint = \"{endpoint}\"\ncapture_content = true\n");
    let gateway = Gateway::start_config(&governed(
        &upstream.base_url(),
        state.path(),
        &secret,
        &telemetry,
    ));
    let traceparent = format!("00-{CLIENT_TRACE_ID}-{CLIENT_SPAN_ID}-01");
    streamed_tool_call(&gateway, &secret, Some(&traceparent));

    let received = spans_rx.recv_timeout(EVENTUALLY).expect("spans exported");
    assert_eq!(received.path, "/v1/traces");
    let spans = spans(&received);
    assert_eq!(spans.len(), 2, "one request span and one attempt span");
    let server = spans
        .iter()
        .find(|s| s.kind == SpanKind::Server as i32)
        .unwrap();
    let client = spans
        .iter()
        .find(|s| s.kind == SpanKind::Client as i32)
        .unwrap();

    // The client's trace is continued; the attempt is the request's child.
    assert_eq!(hex(&server.trace_id), CLIENT_TRACE_ID);
    assert_eq!(hex(&server.parent_span_id), CLIENT_SPAN_ID);
    assert_eq!(client.trace_id, server.trace_id);
    assert_eq!(client.parent_span_id, server.span_id);
    // The upstream got the attempt span's context, not the client's.
    let sent = upstream.requests();
    let upstream_tp = sent[0].header_str("traceparent").unwrap();
    assert_eq!(
        upstream_tp,
        format!("00-{CLIENT_TRACE_ID}-{}-01", hex(&client.span_id))
    );
    assert_eq!(sent[0].headers_named("traceparent").len(), 1);
    assert_eq!(
        sent[0].header_str("tracestate").as_deref(),
        Some("vendor=abc")
    );

    assert_eq!(server.name, format!("chat {}", fixtures::MODEL));
    for (key, want) in [
        ("gen_ai.operation.name", "chat"),
        ("gen_ai.provider.name", "anthropic"),
        ("gen_ai.request.model", fixtures::MODEL),
        ("gen_ai.response.model", fixtures::MODEL),
        ("gen_ai.response.id", fixtures::MESSAGE_ID),
        ("server.address", "127.0.0.1"),
        ("sluice.virtual_key.id", "alice"),
        ("sluice.team.id", "platform"),
        ("sluice.customer.id", "acme"),
    ] {
        assert_eq!(string_attr(server, key), want, "{key}");
    }
    assert_eq!(int_attr(server, "gen_ai.request.max_tokens"), 32_000);
    assert_eq!(int_attr(server, "http.response.status_code"), 200);
    assert_eq!(int_attr(server, "sluice.attempts"), 1);
    assert!(int_attr(server, "gen_ai.usage.input_tokens") > 0);
    assert!(int_attr(server, "gen_ai.usage.output_tokens") > 0);
    for key in [
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.response.finish_reasons",
        "sluice.cost.usd",
        "sluice.time_to_first_token",
        "sluice.gateway.overhead",
    ] {
        assert!(support::otlp::attr(server, key).is_some(), "{key} missing");
    }
    let tools: Vec<String> = server
        .events
        .iter()
        .filter(|e| e.name == "gen_ai.tool.call")
        .map(|e| {
            e.attributes
                .iter()
                .map(|kv| format!("{}={:?}", kv.key, kv.value))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    assert_eq!(tools.len(), 2, "{tools:?}");
    assert!(
        tools[0].contains("Bash") && tools[0].contains(TOOL_1_ID),
        "{tools:?}"
    );
    assert!(tools[0].contains("gen_ai.tool.call.arguments"), "{tools:?}");
    assert_eq!(int_attr(client, "http.response.status_code"), 200);
    assert_eq!(string_attr(client, "gen_ai.provider.name"), "anthropic");

    // No secret in the spans or the gateway's output.
    let raw = format!("{:?}", received.body);
    let stderr = gateway.stderr();
    for needle in [secret.as_str(), PROVIDER_KEY, ADMIN_TOKEN] {
        assert!(!raw.contains(needle), "a secret is in the spans");
        assert!(!stderr.contains(needle), "a secret is in stderr");
    }
}

#[test]
fn a_dead_collector_costs_requests_nothing_and_counts_drops() {
    let upstream = MockUpstream::start(fixtures::anthropic_handler);
    let state = TempDir::new("otlp-dead");
    let secret = vkey("dead");
    let endpoint = support::gateway::closed_port_url();
    let telemetry = format!("\n[telemetry]\notlp_endpoint = \"{endpoint}\"\ntimeout_ms = 200\n");
    let gateway = Gateway::start_config(&governed(
        &upstream.base_url(),
        state.path(),
        &secret,
        &telemetry,
    ));
    for _ in 0..5 {
        streamed_tool_call(&gateway, &secret, None);
    }
    let dropped = wait_for(EVENTUALLY, || {
        let metrics = gateway.admin_client().get("/metrics").text();
        metrics
            .lines()
            .find(|l| {
                l.starts_with("sluice_trace_requests_dropped_total{reason=\"export_failed\"}")
            })
            .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .filter(|&n| n >= 5)
    });
    assert!(dropped.is_some(), "the drop counter did not rise");
    let metrics = gateway.admin_client().get("/metrics").text();
    assert!(metrics.contains("gen_ai_client_token_usage"), "{metrics}");
    assert!(metrics.contains("gen_ai_client_operation_duration_seconds"));
}

/// A follow-up turn as Claude Code sends it: the model's Bash call, then its result.
fn tool_result_body(output: &str) -> String {
    serde_json::json!({
        "model": fixtures::MODEL,
        "max_tokens": 1024,
        "stream": true,
        "messages": [
            {"role": "user", "content": "list the files"},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": TOOL_1_ID, "name": "Bash", "input": fixtures::tool_1_input()}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": TOOL_1_ID, "content": output}
            ]}
        ]
    })
    .to_string()
}

#[test]
fn the_audit_log_holds_tool_calls_results_and_admin_actions() {
    let upstream = MockUpstream::start(fixtures::anthropic_handler);
    let state = TempDir::new("audit-e2e");
    let audit_dir = state.join("audit");
    let secret = vkey("audit");
    let audit = audit_toml(&audit_dir, "\"100ms\"");
    let mut gateway = Gateway::start_config(&governed(
        &upstream.base_url(),
        state.path(),
        &secret,
        &audit,
    ));
    streamed_tool_call(&gateway, &secret, None);
    let output = "total 0\ndrwxr-xr-x src\n";
    let body = tool_result_body(output);
    let response = gateway.client().request(
        "POST",
        "/v1/messages",
        &[("authorization", &format!("Bearer {secret}"))],
        body.as_bytes(),
    );
    assert_eq!(response.status, 200);
    let created = admin(
        &gateway,
        "POST",
        "/admin/keys",
        Some(ADMIN_TOKEN),
        Some(&serde_json::json!({"id": "bob", "team": "platform"})),
    );
    assert_eq!(created.status, 201, "{}", created.text());
    let bob_secret = created.json()["secret"].as_str().unwrap().to_owned();
    gateway.sigterm();
    assert!(gateway.wait_exit(EVENTUALLY).is_some());

    assert_verifies(&audit_dir);
    let records = audit_records(&audit_dir);
    let requests: Vec<_> = records.iter().filter(|r| r["kind"] == "request").collect();
    assert_eq!(requests.len(), 2, "{records:?}");
    let first = requests[0];
    assert_eq!(first["key_id"], "alice");
    assert_eq!(first["team"], "platform");
    assert_eq!(first["customer"], "acme");
    assert_eq!(first["status"], 200);
    assert_eq!(first["provider"], "anthropic");
    assert_eq!(first["attempts"][0]["status"], 200);
    assert_eq!(first["tool_calls"][0]["name"], "Bash");
    assert_eq!(first["tool_calls"][0]["id"], TOOL_1_ID);
    assert_eq!(
        first["tool_calls"][0]["input"]["value"],
        fixtures::tool_1_input()
    );
    let result = &requests[1]["tool_results"][0];
    assert_eq!(result["tool_use_id"], TOOL_1_ID);
    assert_eq!(result["content"]["sha256"], sha256_hex(output));
    assert_eq!(result["content"]["bytes"], output.len());
    assert!(
        result["content"].get("value").is_none(),
        "digest mode keeps no content"
    );
    let admin = records
        .iter()
        .find(|r| r["kind"] == "admin")
        .expect("an admin record");
    assert_eq!(admin["action"], "key_created");
    assert_eq!(admin["target"], "bob");
    assert_eq!(admin["caller"], "admin_token");

    // No secret anywhere: audit files, access log (stderr).
    // The head's outside copy: the access log (stderr here) carries it.
    let head_line = gateway
        .stderr()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v.get("audit_head").is_some())
        .expect("an audit_head line in the access log");
    let seq = head_line["audit_head"]["seq"].as_u64().unwrap();
    let anchored = records.iter().find(|r| r["seq"] == seq).unwrap();
    assert_eq!(head_line["audit_head"]["hash"], anchored["hash"]);
    let all = gateway.stderr() + &audit_text(&audit_dir);
    for needle in [
        secret.as_str(),
        bob_secret.as_str(),
        PROVIDER_KEY,
        ADMIN_TOKEN,
    ] {
        assert!(!all.contains(needle), "a secret appears in the outputs");
    }
}
