//! Shared harness for the end-to-end tests: the real `sluice` binary, a scripted mock Anthropic
//! upstream, a raw HTTP/1.1 client, SSE helpers and wire fixtures.
//!
//! Every test file includes it with `mod support;`; not every file uses every helper.
#![allow(dead_code, unused_imports)]

pub mod audit;
pub mod claude_openai;
pub mod clients;
pub mod fixtures;
pub mod gateway;
pub mod governance;
pub mod http_client;
pub mod mcp;
pub mod mcp_mock;
pub mod mock;
pub mod openai_mock;
pub mod otlp;
pub mod redis_gov;
pub mod redis_server;
pub mod sse;
pub mod temp;
pub mod tls;
pub mod wire;

pub use gateway::Gateway;
pub use http_client::{RawClient, Response};
pub use mock::{MockUpstream, Recorded, Reply};
pub use temp::TempDir;

use std::time::{Duration, Instant};

/// The longest any "it eventually happens" wait in these tests may take.
pub const EVENTUALLY: Duration = Duration::from_secs(20);

/// Polls `check` until it returns `Some` or `limit` passes.
pub fn wait_for<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(found) = check() {
            return Some(found);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Headers that describe one hop (RFC 9110 §7.6.1), never forwarded.
pub const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
];

/// The end-to-end headers (names lowercased, values as sent, order kept), without hop-by-hop
/// headers and without Content-Length, which is framing each hop may choose.
pub fn end_to_end(headers: &[(String, Vec<u8>)]) -> Vec<(String, Vec<u8>)> {
    headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .filter(|(n, _)| !HOP_BY_HOP.contains(&n.as_str()) && n != "content-length")
        .collect()
}

/// Asserts the response through sluice equals the one straight from the upstream: status,
/// end-to-end headers, and body bytes; both complete.
pub fn assert_same_response(direct: &Response, through: &Response) {
    assert!(
        direct.complete,
        "the direct response is incomplete (mock bug)"
    );
    assert_eq!(
        through.status,
        direct.status,
        "status differs; body through sluice: {}",
        through.text()
    );
    assert_eq!(
        end_to_end(&through.headers),
        end_to_end(&direct.headers),
        "end-to-end response headers differ"
    );
    assert!(through.complete, "the response through sluice ended early");
    if through.body != direct.body {
        panic!(
            "body differs ({} bytes through sluice, {} direct)\nthrough: {}\ndirect:  {}",
            through.body.len(),
            direct.body.len(),
            through.text(),
            direct.text()
        );
    }
}

/// A mock that sends the fixture stream's head and first event, holds until `gate` opens,
/// then writes `after_gate` (raw bytes, already chunk-framed).
pub fn stream_held_after_first_event(gate: &mock::Gate, after_gate: Vec<u8>) -> MockUpstream {
    let held = gate.clone();
    let first = fixtures::stream_events()[0].clone();
    MockUpstream::start(move |_| {
        Reply::new()
            .write(mock::response_head(200, &fixtures::sse_headers()))
            .write(mock::chunk(first.as_bytes()))
            .gate(&held)
            .write(&after_gate)
    })
}

/// Sends the fixture's streaming request on `client` with `headers` and reads a 200 head.
pub fn begin_stream(client: &mut RawClient, headers: &[(&str, &str)]) -> http_client::Head {
    let body = fixtures::request_body(true, 0);
    client
        .send(&http_client::request_bytes(
            "POST",
            "/v1/messages",
            headers,
            body.as_bytes(),
        ))
        .unwrap();
    let head = client.read_head().unwrap();
    assert_eq!(head.status, 200);
    head
}
