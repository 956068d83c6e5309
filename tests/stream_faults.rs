//! End to end: what the client sees when the upstream misbehaves — resets or stops mid-stream,
//! goes silent, cannot be reached or answers too late — and when the client itself goes away.

mod support;

use support::fixtures;
use support::gateway::closed_port_url;
use support::mock::{Closed, Gate, LAST_CHUNK, chunk, response_head};
use support::sse::{self, PING_EVENT};
use support::{EVENTUALLY, Gateway, MockUpstream, RawClient, Reply, Response};

fn post_stream(client: &mut RawClient) -> Response {
    let body = fixtures::request_body(true, 0);
    client.request(
        "POST",
        "/v1/messages?beta=true",
        &fixtures::claude_code_headers(),
        body.as_bytes(),
    )
}

/// The first `count` events of the fixture stream, and half of the next one.
fn complete_and_half(count: usize) -> (String, String) {
    let events = fixtures::stream_events();
    let half = &events[count][..events[count].len() / 2];
    (events[..count].concat(), half.to_string())
}

/// Asserts `response` carries exactly `complete` followed by one Anthropic error event, and
/// that the chunked body ended cleanly.
fn assert_complete_events_then_error(response: &Response, complete: &str) {
    assert_eq!(response.status, 200);
    assert!(
        response.complete,
        "the chunked body must end with its last chunk, not a silent close"
    );
    let body = &response.body;
    assert!(
        body.starts_with(complete.as_bytes()),
        "the complete events come first, unchanged; got {}",
        response.text()
    );
    let (events, tail) = sse::split_events(&body[complete.len()..]);
    assert!(
        tail.is_empty(),
        "ends inside an event: {:?}",
        String::from_utf8_lossy(tail)
    );
    assert_eq!(
        events.len(),
        1,
        "exactly one event follows: {}",
        response.text()
    );
    let error = sse::parse_event(events[0]);
    assert_eq!(error.name, "error");
    let data = error.json();
    assert_eq!(data["type"], "error");
    assert_eq!(data["error"]["type"], "api_error");
    assert!(
        data["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
}

#[test]
fn mid_stream_reset_ends_with_an_error_event() {
    let (complete, half) = complete_and_half(9);
    let (sent_complete, sent_half) = (complete.clone(), half.clone());
    let mock = MockUpstream::start(move |_| {
        Reply::new()
            .write(response_head(200, &fixtures::sse_headers()))
            .write(chunk(sent_complete.as_bytes()))
            .write(chunk(sent_half.as_bytes()))
            .sleep_ms(50)
            .reset()
    });
    let gateway = Gateway::start(&mock.base_url(), None, &[]);
    let response = post_stream(&mut gateway.client());
    assert_complete_events_then_error(&response, &complete);
}

#[test]
fn chunked_stream_that_stops_early_ends_with_an_error_event() {
    let (complete, _) = complete_and_half(12);
    let sent = complete.clone();
    let mock = MockUpstream::start(move |_| {
        Reply::new()
            .write(response_head(200, &fixtures::sse_headers()))
            .write(chunk(sent.as_bytes()))
            .close()
    });
    let gateway = Gateway::start(&mock.base_url(), None, &[]);
    let response = post_stream(&mut gateway.client());
    assert_complete_events_then_error(&response, &complete);
}

/// SSE headers without any framing header: the body ends when the upstream closes.
fn close_delimited_sse_headers() -> Vec<(&'static str, &'static str)> {
    fixtures::sse_headers()
        .into_iter()
        .filter(|(name, _)| !name.eq_ignore_ascii_case("transfer-encoding"))
        .collect()
}

#[test]
fn close_delimited_stream_cut_before_message_stop_ends_with_an_error_event() {
    let (complete, _) = complete_and_half(12);
    let sent = complete.clone();
    let mock = MockUpstream::start(move |_| {
        Reply::new()
            .write(response_head(200, &close_delimited_sse_headers()))
            .write(sent.as_bytes())
            .close()
    });
    let gateway = Gateway::start(&mock.base_url(), None, &[]);
    let response = post_stream(&mut gateway.client());
    assert_complete_events_then_error(&response, &complete);
}

#[test]
fn close_delimited_stream_that_reached_message_stop_ends_cleanly() {
    let body = fixtures::stream_body();
    let sent = body.clone();
    let mock = MockUpstream::start(move |_| {
        Reply::new()
            .write(response_head(200, &close_delimited_sse_headers()))
            .write(sent.clone())
            .close()
    });
    let gateway = Gateway::start(&mock.base_url(), None, &[]);
    let response = post_stream(&mut gateway.client());
    assert_eq!(response.status, 200);
    assert!(response.complete, "re-framed as chunked and ended cleanly");
    assert_eq!(response.body, body, "the whole stream, nothing added");
}

#[test]
fn silent_upstream_gets_pings_between_events_never_inside_one() {
    // No upstream pings in this stream, so every ping the client sees was injected.
    let events: Vec<String> = fixtures::stream_events()
        .into_iter()
        .filter(|e| e.as_bytes() != PING_EVENT)
        .collect();
    let original = events.concat();
    let first = events[0].clone();
    let second = events[1].clone();
    let rest = events[2..].concat();
    let mock = MockUpstream::start(move |_| {
        let (a, b) = second.split_at(second.len() / 2);
        Reply::new()
            .write(response_head(200, &fixtures::sse_headers()))
            .write(chunk(first.as_bytes()))
            .sleep_ms(1500)
            .write(chunk(a.as_bytes()))
            .sleep_ms(1500)
            .write(chunk(b.as_bytes()))
            .write(chunk(rest.as_bytes()))
            .write(LAST_CHUNK)
    });
    let gateway = Gateway::start(&mock.base_url(), None, &[("stream_ping_ms", "200")]);
    let response = post_stream(&mut gateway.client());
    assert_eq!(response.status, 200);
    assert!(response.complete);
    let injected = sse::match_with_injected_pings(original.as_bytes(), &response.body)
        .unwrap_or_else(|e| panic!("{e}\nbody: {}", response.text()));
    assert!(
        injected.contains(&1),
        "a ping is injected while the upstream is silent after message_start; pings at {injected:?}"
    );
}

#[test]
fn client_disconnect_closes_the_upstream_connection() {
    for abort in [false, true] {
        let gate = Gate::new();
        let mock = support::stream_held_after_first_event(&gate, LAST_CHUNK.to_vec());
        // Pings far apart, so only watching the client can notice it left.
        let gateway = Gateway::start(&mock.base_url(), None, &[("stream_ping_ms", "600000")]);
        let mut client = gateway.client();
        let mut head = support::begin_stream(&mut client, &fixtures::claude_code_headers());
        let piece = client.read_body_piece(&mut head).unwrap();
        assert!(piece.is_some_and(|p| !p.is_empty()));
        let requests = mock.wait_requests(1, EVENTUALLY);
        let conn = requests[0].conn;
        if abort {
            support::mock::abort_on_close(client.tcp());
        }
        drop(client);
        let closed = mock.wait_closed(conn, EVENTUALLY);
        gate.open();
        assert_eq!(
            closed,
            Some(Closed::ByPeer),
            "sluice closes the upstream connection when the client {} mid-stream",
            if abort { "resets" } else { "closes" }
        );
    }
}

#[test]
fn unreachable_upstream_is_502_api_error() {
    let gateway = Gateway::start(&closed_port_url(), None, &[]);
    let mut client = gateway.client();
    let response = post_stream(&mut client);
    assert_eq!(response.status, 502, "{}", response.text());
    assert_eq!(response.json()["type"], "error");
    assert_eq!(response.error_type(), "api_error");
    let models = gateway.client().request(
        "GET",
        "/v1/models",
        &[("anthropic-version", "2023-06-01")],
        b"",
    );
    assert_eq!(models.status, 502);
    assert_eq!(models.error_type(), "api_error");
}

#[test]
fn upstream_that_never_answers_is_504_timeout_error() {
    let gate = Gate::new();
    let held = gate.clone();
    let mock = MockUpstream::start(move |_| Reply::new().gate(&held).write(LAST_CHUNK));
    let gateway = Gateway::start(
        &mock.base_url(),
        None,
        &[("upstream_read_timeout_ms", "500")],
    );
    let response = post_stream(&mut gateway.client());
    gate.open();
    assert_eq!(response.status, 504, "{}", response.text());
    assert_eq!(response.json()["type"], "error");
    assert_eq!(response.error_type(), "timeout_error");
}

#[test]
fn gateway_keeps_serving_after_upstream_faults() {
    let resets = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = resets.clone();
    let mock = MockUpstream::start(move |request| {
        if flag.swap(false, std::sync::atomic::Ordering::SeqCst) {
            Reply::new().write(b"HTTP/1.1 200 OK\r\nContent-Ty").reset()
        } else {
            fixtures::anthropic_handler(request)
        }
    });
    let gateway = Gateway::start(&mock.base_url(), None, &[]);
    let broken = post_stream(&mut gateway.client());
    assert_eq!(
        broken.status, 502,
        "a reset before the head completes is a bad gateway"
    );
    assert_eq!(broken.error_type(), "api_error");
    let healthy = post_stream(&mut gateway.client());
    assert_eq!(healthy.status, 200);
    assert_eq!(healthy.body, fixtures::stream_body());
}

#[test]
fn upstream_error_event_and_unknown_events_pass_through_untouched() {
    let events = fixtures::stream_events();
    let mut original = events[..4].concat();
    original.push_str("event: future_event\ndata: {\"type\":\"future_event\",\"x\":[1,2]}\n\n");
    original.push_str(
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
    );
    let sent = original.clone();
    let mock = MockUpstream::start(move |_| {
        Reply::new()
            .write(response_head(200, &fixtures::sse_headers()))
            .write(support::mock::chunked(sent.as_bytes(), &[61]))
            .write(LAST_CHUNK)
    });
    let gateway = Gateway::start(&mock.base_url(), None, &[]);
    let response = post_stream(&mut gateway.client());
    assert_eq!(response.status, 200);
    assert!(response.complete);
    assert_eq!(
        response.text(),
        original,
        "the upstream's own error event ends the stream as it sent it, with nothing added"
    );
}
