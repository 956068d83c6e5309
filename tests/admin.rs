//! End to end: the admin listener's /metrics and /health, the access log, and a graceful
//! SIGTERM that lets an in-flight stream finish before the process exits 0.

mod support;

use std::time::Duration;

use support::fixtures::{self, MODEL};
use support::mock::{Gate, LAST_CHUNK, chunk};
use support::{EVENTUALLY, Gateway, MockUpstream, wait_for};

/// The value of the first sample line of `name` whose labels include every one of `labels`.
fn sample(metrics: &str, name: &str, labels: &[&str]) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        let (labels_text, value) = match rest.strip_prefix('{') {
            Some(inner) => {
                let end = inner.find('}')?;
                (&inner[..end], inner[end + 1..].trim())
            }
            None if rest.starts_with(' ') => ("", rest.trim()),
            None => return None,
        };
        let wanted = labels
            .iter()
            .all(|l| labels_text.split(',').any(|have| have.trim() == *l));
        if wanted {
            value.split_whitespace().next()?.parse().ok()
        } else {
            None
        }
    })
}

#[test]
fn metrics_count_requests_by_path_and_status_with_overhead_histogram() {
    let mock = MockUpstream::start(fixtures::anthropic_handler);
    let gateway = Gateway::start(&mock.base_url(), None, &[]);
    let mut client = gateway.client();
    let streamed = client.request(
        "POST",
        "/v1/messages",
        &fixtures::claude_code_headers(),
        fixtures::request_body(true, 0).as_bytes(),
    );
    assert_eq!(streamed.status, 200);
    assert_eq!(client.get("/v1/nowhere").status, 404);

    let metrics = wait_for(EVENTUALLY, || {
        let scrape = gateway.admin_client().get("/metrics");
        assert_eq!(scrape.status, 200);
        let text = scrape.text();
        let counted = sample(
            &text,
            "sluice_requests_total",
            &["path=\"/v1/messages\"", "status=\"200\""],
        )
        .is_some_and(|v| v >= 1.0);
        counted.then_some((scrape, text))
    });
    let (scrape, text) = metrics.unwrap_or_else(|| {
        panic!(
            "/metrics never counted the request:\n{}",
            gateway.admin_client().get("/metrics").text()
        )
    });
    assert!(
        scrape
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/plain")),
        "Prometheus text content type, got {:?}",
        scrape.header("content-type")
    );
    assert!(text.ends_with('\n'), "every line ends with a newline");
    assert!(text.contains("# TYPE sluice_requests_total counter"));
    assert!(
        sample(&text, "sluice_requests_total", &["status=\"404\""]).is_some_and(|v| v >= 1.0),
        "the 404 is counted too:\n{text}"
    );
    assert!(
        text.contains("# TYPE sluice_overhead_seconds histogram"),
        "{text}"
    );
    let inf = sample(&text, "sluice_overhead_seconds_bucket", &["le=\"+Inf\""]);
    let count = sample(&text, "sluice_overhead_seconds_count", &[]);
    assert!(
        inf.is_some_and(|v| v >= 1.0),
        "overhead histogram has observations:\n{text}"
    );
    assert_eq!(inf, count, "+Inf bucket equals _count");
    assert!(sample(&text, "sluice_overhead_seconds_sum", &[]).is_some());
}

#[test]
fn admin_health_answers() {
    let mock = MockUpstream::start(fixtures::anthropic_handler);
    let gateway = Gateway::start(&mock.base_url(), None, &[]);
    assert_eq!(gateway.admin_client().get("/health").status, 200);
    assert_eq!(gateway.client().get("/health").status, 200);
}

#[test]
fn access_log_has_one_json_line_per_request() {
    let mock = MockUpstream::start(fixtures::anthropic_handler);
    let gateway = Gateway::start(&mock.base_url(), None, &[]);
    let mut client = gateway.client();
    let headers = fixtures::claude_code_headers();
    assert_eq!(
        client
            .request(
                "POST",
                "/v1/messages?beta=true",
                &headers,
                fixtures::request_body(true, 0).as_bytes()
            )
            .status,
        200
    );
    assert_eq!(
        client
            .request(
                "POST",
                "/v1/messages",
                &headers,
                fixtures::request_body(false, 0).as_bytes()
            )
            .status,
        200
    );
    let lines = wait_for(EVENTUALLY, || {
        let lines = gateway.access_log();
        (lines.len() >= 2).then_some(lines)
    })
    .unwrap_or_else(|| {
        panic!(
            "fewer than 2 access-log lines on stderr:\n{}",
            gateway.stderr()
        )
    });
    assert_eq!(lines.len(), 2, "one line per request: {lines:?}");
    for (line, stream) in lines.iter().zip([true, false]) {
        assert_eq!(line["method"], "POST", "{line}");
        assert!(
            line["path"]
                .as_str()
                .is_some_and(|p| p.starts_with("/v1/messages")),
            "{line}"
        );
        assert_eq!(line["status"], 200, "{line}");
        assert_eq!(line["upstream_status"], 200, "{line}");
        assert_eq!(line["model"], MODEL, "{line}");
        assert_eq!(line["stream"], stream, "{line}");
        for key in ["request_id", "duration_us", "overhead_us"] {
            assert!(
                line.get(key).is_some_and(|v| !v.is_null()),
                "{key} missing in {line}"
            );
        }
        // Usage and tool calls as the observer read them from the response.
        assert_eq!(line["input_tokens"], 2095, "{line}");
        assert_eq!(line["output_tokens"], 412, "{line}");
        assert_eq!(line["cache_read_tokens"], 1024, "{line}");
        assert_eq!(line["cache_creation_tokens"], 0, "{line}");
        assert_eq!(line["stop_reason"], "tool_use", "{line}");
        assert_eq!(line["tool_calls"], 2, "{line}");
    }
    assert_ne!(lines[0]["request_id"], lines[1]["request_id"]);
    let secret = "sk-ant-test-key";
    assert!(
        !gateway.stderr().contains(secret),
        "the API key never reaches the log"
    );
}

#[test]
fn sigterm_lets_an_in_flight_stream_finish_then_exits_0() {
    let gate = Gate::new();
    let events = fixtures::stream_events();
    let mut rest = chunk(events[1..].concat().as_bytes());
    rest.extend_from_slice(LAST_CHUNK);
    let mock = support::stream_held_after_first_event(&gate, rest);
    let mut gateway = Gateway::start(&mock.base_url(), None, &[]);
    let mut client = gateway.client();
    let mut head = support::begin_stream(&mut client, &fixtures::claude_code_headers());
    let mut received = client.read_body_piece(&mut head).unwrap().unwrap();

    gateway.sigterm();
    // Give the signal a chance to land (the listener closing shows it has) before the upstream
    // goes on; this waits, it asserts nothing.
    let addr = gateway.addr;
    let _ = wait_for(Duration::from_secs(3), || {
        std::net::TcpStream::connect(addr).is_err().then_some(())
    });
    gate.open();

    let rest = client.finish(head);
    assert!(
        rest.complete,
        "the in-flight stream completes after SIGTERM"
    );
    received.extend_from_slice(&rest.body);
    assert_eq!(received, fixtures::stream_body());
    drop(client);
    let status = gateway
        .wait_exit(EVENTUALLY)
        .expect("sluice exits after draining");
    assert!(
        status.success(),
        "exit status {status:?}\n{}",
        gateway.stderr()
    );
}
