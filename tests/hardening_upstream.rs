//! End to end, limits against a hostile upstream, each at the limit and one past it: one
//! unfinished SSE event (`max_upstream_event_bytes`: the stream ends with `event: error`), a
//! non-streamed body (`max_upstream_body_bytes`: 502 before anything is sent, a cut connection
//! after), and the response head (64 KiB, answered 502). The gateway serves on afterwards.

mod support;

use support::fixtures;
use support::mock::{Gate, LAST_CHUNK, chunk, response_head};
use support::sse;
use support::{EVENTUALLY, Gateway, MockUpstream, RawClient, Reply, Response, wait_for};

/// The caps the tests configure (small, so the bodies stay small).
const EVENT_CAP: usize = 4096;
const BODY_CAP: usize = 4096;
/// The response-head limit (`http::limits::MAX_HEAD_BYTES`).
const HEAD_CAP: usize = 64 * 1024;

fn post(client: &mut RawClient, stream: bool) -> Response {
    client.request(
        "POST",
        "/v1/messages",
        &fixtures::claude_code_headers(),
        fixtures::request_body(stream, 0).as_bytes(),
    )
}

/// A thinking delta for block 0 whose text makes the whole event `len` bytes.
fn big_event(len: usize) -> String {
    let start = r#"event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":""#;
    let end = "\"}}\n\n";
    let pad = len - start.len() - end.len();
    format!("{start}{}{end}", "t".repeat(pad))
}

/// Streams the fixture's first three events, then `held` bytes of an event of `EVENT_CAP + 64`
/// bytes; after `gate` opens, the rest of it and of the stream.
fn stream_holding(held: usize, gate: &Gate) -> MockUpstream {
    let events = fixtures::stream_events();
    let first = events[..3].concat();
    let big = big_event(EVENT_CAP + 64);
    let rest = format!("{}{}", &big[held..], events[3..].concat());
    let gate = gate.clone();
    MockUpstream::start(move |_| {
        Reply::new()
            .write(response_head(200, &fixtures::sse_headers()))
            .write(chunk(first.as_bytes()))
            .sleep_ms(100)
            .write(chunk(&big.as_bytes()[..held]))
            .gate(&gate)
            .write(chunk(rest.as_bytes()))
            .write(LAST_CHUNK)
    })
}

#[test]
fn an_unfinished_event_at_the_cap_is_held_one_byte_past_ends_the_stream() {
    let cap = EVENT_CAP.to_string();
    let overrides = [("max_upstream_event_bytes", cap.as_str())];

    // At the cap: the event completes later and the stream is whole.
    let gate = Gate::new();
    let mock = stream_holding(EVENT_CAP, &gate);
    let gateway = Gateway::start(&mock.base_url(), None, &overrides);
    let opener = {
        let gate = gate.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            gate.open();
        })
    };
    let whole = post(&mut gateway.client(), true);
    opener.join().expect("opener");
    assert_eq!(whole.status, 200);
    assert!(whole.complete, "{}", whole.text());
    let names: Vec<String> = sse::parse_events(&whole.body)
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert!(!names.iter().any(|n| n == "error"), "{names:?}");
    assert_eq!(names.last().map(String::as_str), Some("message_stop"));
    assert!(
        whole.text().contains(&big_event(EVENT_CAP + 64)),
        "the large event passes unchanged"
    );

    // One past: the stream ends with an error event while the upstream still holds the rest.
    let gate = Gate::new();
    let mock = stream_holding(EVENT_CAP + 1, &gate);
    let gateway = Gateway::start(&mock.base_url(), None, &overrides);
    let cut = post(&mut gateway.client(), true);
    gate.open();
    assert_eq!(cut.status, 200);
    assert!(cut.complete, "the chunked body still ends cleanly");
    let events = sse::parse_events(&cut.body);
    let last = events.last().expect("events");
    assert_eq!(last.name, "error", "{}", cut.text());
    let message = last.json()["error"]["message"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(message.contains("max_upstream_event_bytes"), "{message}");
    assert!(!cut.text().contains("message_stop"));
    // The shard serves on.
    assert_eq!(post(&mut gateway.client(), true).status, 200);
}

/// A Messages JSON body padded with spaces to exactly `len` bytes.
fn padded_message(len: usize) -> String {
    let json = fixtures::message_json();
    format!("{json}{}", " ".repeat(len - json.len()))
}

fn json_reply(body: &str, chunked: bool) -> Reply {
    let mut headers = fixtures::json_headers();
    if chunked {
        headers.push(("Transfer-Encoding", "chunked"));
        Reply::new()
            .write(response_head(200, &headers))
            .write(chunk(body.as_bytes()))
            .write(LAST_CHUNK)
    } else {
        Reply::full(200, &headers, body.as_bytes())
    }
}

#[test]
fn a_body_at_the_cap_is_relayed_one_byte_past_is_refused_or_cut() {
    let cap = BODY_CAP.to_string();
    for chunked in [false, true] {
        for len in [BODY_CAP, BODY_CAP + 1] {
            let body = padded_message(len);
            let mock = MockUpstream::start(move |_| json_reply(&body, chunked));
            let gateway =
                Gateway::start(&mock.base_url(), None, &[("max_upstream_body_bytes", &cap)]);
            let response = post(&mut gateway.client(), false);
            let case = format!("chunked {chunked}, {len} bytes");
            if len == BODY_CAP {
                assert_eq!(response.status, 200, "{case}");
                assert!(response.complete, "{case}");
                assert_eq!(response.body.len(), len, "{case}");
                let line = wait_for(EVENTUALLY, || gateway.access_log().into_iter().next())
                    .expect("access-log line");
                assert!(line["output_tokens"].as_u64().is_some(), "{case}: {line}");
            } else if chunked {
                // The head went out with the first bytes: the client sees the body cut.
                assert!(!response.complete, "{case}: {}", response.text());
            } else {
                // The declared length is over the cap: refused before anything is sent.
                assert_eq!(response.status, 502, "{case}");
                let error = response.json();
                assert_eq!(error["type"], "error", "{case}: {error}");
                let message = error["error"]["message"].as_str().unwrap_or("");
                assert!(
                    message.contains("max_upstream_body_bytes"),
                    "{case}: {message}"
                );
            }
            let health = gateway.client().request("GET", "/health", &[], b"");
            assert_eq!(health.status, 200, "{case}: serves on");
        }
    }
}

/// A response head of exactly `len` bytes declaring `content_length` (a padding header makes up
/// the length).
fn head_of(len: usize, content_length: usize) -> Vec<u8> {
    let content_length = content_length.to_string();
    let base = response_head(
        200,
        &[
            ("Content-Type", "application/json"),
            ("Content-Length", &content_length),
            ("X-Pad", ""),
        ],
    );
    assert!(base.ends_with(b"X-Pad: \r\n\r\n"));
    let mut head = base[..base.len() - 4].to_vec();
    head.extend(std::iter::repeat_n(b'p', len - base.len()));
    head.extend_from_slice(b"\r\n\r\n");
    head
}

#[test]
fn a_response_head_at_64_kib_is_read_one_byte_past_is_502() {
    for len in [HEAD_CAP, HEAD_CAP + 1] {
        let body = fixtures::message_json();
        let mock = MockUpstream::start(move |_| {
            let mut bytes = head_of(len, body.len());
            assert_eq!(bytes.len(), len);
            bytes.extend_from_slice(body.as_bytes());
            Reply::new().write(bytes)
        });
        let gateway = Gateway::start(&mock.base_url(), None, &[]);
        let response = post(&mut gateway.client(), false);
        if len == HEAD_CAP {
            assert_eq!(response.status, 200, "{}", response.text());
            assert_eq!(response.json()["type"], "message");
        } else {
            assert_eq!(response.status, 502, "{}", response.text());
            assert_eq!(response.json()["type"], "error");
        }
        // The shard serves on (the mock answers every request the same way).
        assert_eq!(post(&mut gateway.client(), false).status, response.status);
    }
}
