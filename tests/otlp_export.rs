//! The OTLP exporter against a loopback OTLP/HTTP receiver that decodes with the official
//! protobuf definitions (`opentelemetry-proto`): every attribute, parent/child ids, a
//! continued `traceparent`, retry on 503, and a dead or stuck collector never blocking the
//! caller while the drop counters rise.

mod support;

use std::net::TcpListener;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;
use sluice::config::{Config, TelemetryConfig};
use sluice::observe::audit::ToolCallRecord;
use sluice::observe::trace::{
    AttemptSpan, RequestSpan, SpanUsage, TraceExporter, format_traceparent, parse_traceparent,
    unix_nanos_now,
};
use support::otlp::{attr, double_attr, int_attr, receiver, string_attr};

fn telemetry(endpoint: &str, capture_content: bool) -> TelemetryConfig {
    let text = format!(
        "[telemetry]\notlp_endpoint = \"{endpoint}\"\ncapture_content = {capture_content}\n\
         timeout_ms = 2000\n[telemetry.headers]\nx-vendor-key = \"env:OTLP_TEST_VENDOR_KEY\"\n\
         [telemetry.resource_attributes]\n\"deployment.environment\" = \"test\"\n"
    );
    Config::from_toml_str_with_env(&text, &|_| Some("vendor-secret-42".into()))
        .unwrap()
        .telemetry
        .unwrap()
}

/// A streamed tool-call request that needed a second attempt.
fn tool_call_request(
    trace: sluice::observe::trace::TraceStart,
    attempt_ids: [sluice::observe::trace::SpanId; 2],
) -> RequestSpan {
    let now = unix_nanos_now();
    RequestSpan {
        trace: Some(trace),
        start_unix_nanos: now - 3_000_000_000,
        end_unix_nanos: now,
        operation: "chat",
        provider: Some("anthropic".into()),
        request_model: Some("claude-sonnet-4-5".into()),
        max_tokens: Some(32_000),
        response_model: Some("claude-sonnet-4-5-20250929".into()),
        response_id: Some("msg_01XYZ".into()),
        finish_reasons: vec!["tool_use".into()],
        usage: SpanUsage {
            input_tokens: 1200,
            output_tokens: 85,
            cache_read_input_tokens: 9000,
            cache_creation_input_tokens: 400,
        },
        server_address: Some("api.anthropic.com".into()),
        status: 200,
        error_type: None,
        key_id: Some("alice".into()),
        team: Some("platform".into()),
        customer: Some("acme".into()),
        cost_pico_usd: 4_500_000_000,
        ttft_nanos: Some(450_000_000),
        overhead_nanos: 35_000,
        tool_calls: vec![ToolCallRecord {
            id: "toolu_01A".into(),
            name: "Bash".into(),
            input_json: r#"{"command":"ls -la"}"#.into(),
        }],
        attempts: vec![
            AttemptSpan {
                span_id: Some(attempt_ids[0]),
                start_unix_nanos: now - 3_000_000_000,
                end_unix_nanos: now - 2_900_000_000,
                provider: "anthropic".into(),
                model: "claude-sonnet-4-5".into(),
                server_address: "api.anthropic.com".into(),
                server_port: Some(443),
                status: Some(529),
                error_type: Some("overloaded_error".into()),
            },
            AttemptSpan {
                span_id: Some(attempt_ids[1]),
                start_unix_nanos: now - 2_900_000_000,
                end_unix_nanos: now,
                provider: "anthropic".into(),
                model: "claude-sonnet-4-5".into(),
                server_address: "api.anthropic.com".into(),
                server_port: Some(443),
                status: Some(200),
                error_type: None,
            },
        ],
    }
}

#[test]
fn spans_reach_the_collector_with_every_attribute_and_a_continued_parent() {
    let (endpoint, received) = receiver(1);
    let exporter = TraceExporter::start(&telemetry(&endpoint, false)).unwrap();
    let stats = exporter.stats();
    let tracer = exporter.shard_tracer().unwrap();
    let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let trace = tracer.start(Some(incoming.as_bytes()), Some(b"vendor=abc".as_slice()));
    assert_eq!(
        trace.trace_id,
        parse_traceparent(incoming.as_bytes()).unwrap().trace_id
    );
    let attempts = [tracer.attempt_span_id(), tracer.attempt_span_id()];
    let upstream = trace.upstream_traceparent(attempts[1]);
    assert_eq!(
        upstream,
        format_traceparent(trace.trace_id, attempts[1], true)
    );
    assert!(upstream.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
    assert!(tracer.finish(tool_call_request(trace.clone(), attempts)));
    drop(tracer);
    exporter.shutdown();

    let got = received
        .recv_timeout(Duration::from_secs(60))
        .expect("an export");
    assert_eq!(got.path, "/v1/traces");
    assert_eq!(got.headers["content-type"], "application/x-protobuf");
    assert_eq!(got.headers["x-vendor-key"], "vendor-secret-42");
    // The first POST got 503 and was retried; the header secret never enters a span.
    assert_eq!(stats.retries.load(Ordering::Relaxed), 1);
    let encoded = got.body.encode_to_vec();
    assert!(!encoded.windows(16).any(|w| w == b"vendor-secret-42"));
    let resource_spans = &got.body.resource_spans[0];
    let resource = resource_spans.resource.as_ref().unwrap();
    let resource_attr = |key: &str| {
        resource
            .attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                Value::StringValue(s) => Some(s.clone()),
                _ => None,
            })
    };
    assert_eq!(resource_attr("service.name").as_deref(), Some("sluice"));
    assert_eq!(
        resource_attr("deployment.environment").as_deref(),
        Some("test")
    );
    let spans = &resource_spans.scope_spans[0].spans;
    assert_eq!(spans.len(), 3);
    let server = &spans[0];
    assert_eq!(server.name, "chat claude-sonnet-4-5");
    assert_eq!(server.kind, SpanKind::Server as i32);
    assert_eq!(server.trace_id, trace.trace_id.0);
    assert_eq!(server.span_id, trace.span_id.0);
    assert_eq!(
        server.parent_span_id,
        [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]
    );
    assert_eq!(server.trace_state, "vendor=abc");
    assert_eq!(string_attr(server, "gen_ai.operation.name"), "chat");
    assert_eq!(string_attr(server, "gen_ai.provider.name"), "anthropic");
    assert_eq!(
        string_attr(server, "gen_ai.request.model"),
        "claude-sonnet-4-5"
    );
    assert_eq!(int_attr(server, "gen_ai.request.max_tokens"), 32_000);
    assert_eq!(
        string_attr(server, "gen_ai.response.model"),
        "claude-sonnet-4-5-20250929"
    );
    assert_eq!(string_attr(server, "gen_ai.response.id"), "msg_01XYZ");
    match attr(server, "gen_ai.response.finish_reasons") {
        Some(Value::ArrayValue(list)) => {
            assert_eq!(
                list.values[0].value,
                Some(Value::StringValue("tool_use".into()))
            );
        }
        other => panic!("finish_reasons: {other:?}"),
    }
    assert_eq!(int_attr(server, "gen_ai.usage.input_tokens"), 1200);
    assert_eq!(int_attr(server, "gen_ai.usage.output_tokens"), 85);
    assert_eq!(
        int_attr(server, "gen_ai.usage.cache_read.input_tokens"),
        9000
    );
    assert_eq!(
        int_attr(server, "gen_ai.usage.cache_creation.input_tokens"),
        400
    );
    assert_eq!(string_attr(server, "server.address"), "api.anthropic.com");
    assert_eq!(int_attr(server, "http.response.status_code"), 200);
    assert!(attr(server, "error.type").is_none());
    assert_eq!(string_attr(server, "sluice.virtual_key.id"), "alice");
    assert_eq!(string_attr(server, "sluice.team.id"), "platform");
    assert_eq!(string_attr(server, "sluice.customer.id"), "acme");
    assert_eq!(double_attr(server, "sluice.cost.usd"), 0.0045);
    assert_eq!(int_attr(server, "sluice.attempts"), 2);
    assert_eq!(double_attr(server, "sluice.time_to_first_token"), 0.45);
    assert_eq!(double_attr(server, "sluice.gateway.overhead"), 35e-6);
    let event = &server.events[0];
    assert_eq!(event.name, "gen_ai.tool.call");
    let event_attr = |key: &str| {
        event
            .attributes
            .iter()
            .find(|kv| kv.key == key)
            .map(|kv| kv.value.clone())
    };
    assert!(event_attr("gen_ai.tool.name").is_some());
    assert!(event_attr("gen_ai.tool.call.id").is_some());
    assert!(
        event_attr("gen_ai.tool.call.arguments").is_none(),
        "inputs only with capture_content"
    );

    for (child, id) in spans[1..].iter().zip(attempts) {
        assert_eq!(child.kind, SpanKind::Client as i32);
        assert_eq!(child.trace_id, server.trace_id);
        assert_eq!(child.parent_span_id, server.span_id);
        assert_eq!(child.span_id, id.0);
        assert_eq!(string_attr(child, "server.address"), "api.anthropic.com");
        assert_eq!(int_attr(child, "server.port"), 443);
    }
    assert_eq!(int_attr(&spans[1], "http.response.status_code"), 529);
    assert_eq!(string_attr(&spans[1], "error.type"), "overloaded_error");
    assert_eq!(int_attr(&spans[2], "http.response.status_code"), 200);
}

#[test]
fn capture_content_puts_tool_inputs_on_the_event_and_new_traces_get_new_ids() {
    let (endpoint, received) = receiver(0);
    let exporter = TraceExporter::start(&telemetry(&endpoint, true)).unwrap();
    let stats = exporter.stats();
    let tracer = exporter.shard_tracer().unwrap();
    // No (or an invalid) traceparent: a new root trace.
    let trace = tracer.start(Some(b"00-bogus".as_slice()), Some(b"x=y".as_slice()));
    assert_eq!(trace.parent_span_id, None);
    assert_eq!(trace.tracestate, None);
    let ids = [tracer.attempt_span_id(), tracer.attempt_span_id()];
    assert!(tracer.finish(tool_call_request(trace.clone(), ids)));
    drop(tracer);
    exporter.shutdown();
    assert_eq!(stats.exported.load(Ordering::Relaxed), 1);
    let got = received.recv_timeout(Duration::from_secs(60)).unwrap();
    let server = &got.body.resource_spans[0].scope_spans[0].spans[0];
    assert!(server.parent_span_id.is_empty());
    let arguments = server.events[0]
        .attributes
        .iter()
        .find(|kv| kv.key == "gen_ai.tool.call.arguments")
        .and_then(|kv| kv.value.clone()?.value);
    assert_eq!(
        arguments,
        Some(Value::StringValue(r#"{"command":"ls -la"}"#.into()))
    );
}

#[test]
fn unsampled_parents_are_followed_and_not_exported() {
    let (endpoint, _received) = receiver(0);
    let exporter = TraceExporter::start(&telemetry(&endpoint, false)).unwrap();
    let tracer = exporter.shard_tracer().unwrap();
    let trace = tracer.start(
        Some(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00".as_slice()),
        None,
    );
    assert!(!trace.sampled);
    assert!(
        trace
            .upstream_traceparent(tracer.attempt_span_id())
            .ends_with("-00")
    );
    assert!(!tracer.finish(tool_call_request(
        trace,
        [tracer.attempt_span_id(), tracer.attempt_span_id()]
    )));
}

#[test]
fn a_dead_collector_never_blocks_and_failures_are_counted() {
    // A port with nothing listening.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let exporter =
        TraceExporter::start(&telemetry(&format!("http://127.0.0.1:{port}"), false)).unwrap();
    let stats = exporter.stats();
    let tracer = exporter.shard_tracer().unwrap();
    for _ in 0..10 {
        let trace = tracer.start(None, None);
        let ids = [tracer.attempt_span_id(), tracer.attempt_span_id()];
        tracer.finish(tool_call_request(trace, ids));
    }
    drop(tracer);
    exporter.shutdown();
    assert_eq!(stats.exported.load(Ordering::Relaxed), 0);
    assert_eq!(
        stats.dropped_export_failed.load(Ordering::Relaxed)
            + stats.dropped_queue_full.load(Ordering::Relaxed),
        10
    );
}

#[test]
fn a_stuck_collector_fills_the_queue_and_the_drop_counter_rises() {
    // Accepts connections and never answers: the exporter waits out its timeout while the
    // caller keeps finishing requests without blocking.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let (hold_tx, hold_rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
            if hold_rx.try_recv().is_ok() {
                return;
            }
        }
    });
    let capacity = 16;
    let exporter =
        TraceExporter::start_with_capacity(&telemetry(&endpoint, false), capacity).unwrap();
    let stats = exporter.stats();
    let tracer = exporter.shard_tracer().unwrap();
    let sent = capacity + sluice::observe::trace::exporter::MAX_EXPORT_BATCH + 100;
    let mut queued = 0;
    for _ in 0..sent {
        let trace = tracer.start(None, None);
        let ids = [tracer.attempt_span_id(), tracer.attempt_span_id()];
        queued += usize::from(tracer.finish(tool_call_request(trace, ids)));
    }
    let dropped = stats.dropped_queue_full.load(Ordering::Relaxed) as usize;
    assert!(dropped >= 100, "dropped {dropped}");
    assert_eq!(queued + dropped, sent);
    let _ = hold_tx.send(());
    drop(tracer);
    drop(exporter); // shutting down would wait out the timeout; the thread ends on its own
}
