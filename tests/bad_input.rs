//! End to end: malformed and hostile requests get their status (400 for smuggling shapes, 431,
//! 413, 408) and the gateway goes on serving, on the same connection where it stays open or on
//! a new one.

mod support;

use std::time::Duration;

use support::fixtures;
use support::{EVENTUALLY, Gateway, MockUpstream, RawClient};

/// What must happen to the connection after the error response.
#[derive(Clone, Copy, Debug)]
enum After {
    /// The gateway closes it.
    Closed,
    /// It may stay open (then it must serve the next request) or close.
    SameOrNew,
}

fn health_ok(client: &mut RawClient) -> bool {
    client
        .send(b"GET /health HTTP/1.1\r\nHost: sluice.test\r\n\r\n")
        .and_then(|_| client.read_response())
        .is_ok_and(|r| r.status == 200)
}

/// Sends `bytes`, expects `status`, then checks the connection and that the gateway still serves.
fn expect_status(gateway: &Gateway, name: &str, bytes: &[u8], status: u16, after: After) {
    let mut client = gateway.client();
    client.send(bytes).unwrap();
    let response = client
        .read_response()
        .unwrap_or_else(|e| panic!("{name}: no response: {e}"));
    assert_eq!(response.status, status, "{name}: body {}", response.text());
    if status >= 400 && !response.body.is_empty() {
        let json = response.json();
        assert_eq!(json["type"], "error", "{name}: Anthropic error shape");
        assert!(json["error"]["type"].is_string(), "{name}: error.type");
    }
    match after {
        After::Closed => {
            assert!(
                client.closed_within(EVENTUALLY),
                "{name}: the connection must be closed after {status}"
            );
        }
        After::SameOrNew => {
            if health_ok(&mut client) {
                return;
            }
        }
    }
    assert!(
        health_ok(&mut gateway.client()),
        "{name}: a new connection is served afterwards"
    );
}

fn post_head(extra_headers: &str) -> Vec<u8> {
    format!(
        "POST /v1/messages HTTP/1.1\r\nHost: sluice.test\r\nx-api-key: k\r\nanthropic-version: 2023-06-01\r\ncontent-type: application/json\r\n{extra_headers}\r\n"
    )
    .into_bytes()
}

fn with_body(mut head: Vec<u8>, body: &[u8]) -> Vec<u8> {
    head.extend_from_slice(body);
    head
}

#[test]
fn request_smuggling_shapes_get_400_and_close() {
    let mock = MockUpstream::start(fixtures::anthropic_handler);
    let gateway = Gateway::start(&mock.base_url(), None, &[]);
    let body = br#"{"a":1}"#;
    let chunked_body = b"7\r\n{\"a\":1}\r\n0\r\n\r\n";
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "content-length with transfer-encoding",
            with_body(
                post_head("Content-Length: 19\r\nTransfer-Encoding: chunked\r\n"),
                chunked_body,
            ),
        ),
        (
            "transfer-encoding with content-length",
            with_body(
                post_head("Transfer-Encoding: chunked\r\nContent-Length: 19\r\n"),
                chunked_body,
            ),
        ),
        (
            "duplicate content-length",
            with_body(
                post_head("Content-Length: 7\r\nContent-Length: 7\r\n"),
                body,
            ),
        ),
        (
            "differing content-length",
            with_body(
                post_head("Content-Length: 7\r\nContent-Length: 8\r\n"),
                body,
            ),
        ),
        (
            "content-length not a number",
            with_body(post_head("Content-Length: +7\r\n"), body),
        ),
        (
            "transfer-encoding gzip",
            with_body(post_head("Transfer-Encoding: gzip\r\n"), body),
        ),
        (
            "transfer-encoding chunked then gzip",
            with_body(
                post_head("Transfer-Encoding: chunked, gzip\r\n"),
                chunked_body,
            ),
        ),
        (
            "bad chunk size",
            with_body(
                post_head("Transfer-Encoding: chunked\r\n"),
                b"zz\r\n{\"a\":1}\r\n0\r\n\r\n",
            ),
        ),
        (
            "overflowing chunk size",
            with_body(
                post_head("Transfer-Encoding: chunked\r\n"),
                b"fffffffffffffffffffff7\r\n{\"a\":1}\r\n0\r\n\r\n",
            ),
        ),
        (
            "negative chunk size",
            with_body(
                post_head("Transfer-Encoding: chunked\r\n"),
                b"-7\r\n{\"a\":1}\r\n0\r\n\r\n",
            ),
        ),
        (
            "malformed chunk extension",
            with_body(
                post_head("Transfer-Encoding: chunked\r\n"),
                b"7;\"x\r\n{\"a\":1}\r\n0\r\n\r\n",
            ),
        ),
        (
            "chunk data longer than its size",
            with_body(
                post_head("Transfer-Encoding: chunked\r\n"),
                b"3\r\n{\"a\":1}\r\n0\r\n\r\n",
            ),
        ),
        (
            "bare LF in the head",
            b"GET /health HTTP/1.1\r\nHost: sluice.test\nX-A: b\r\n\r\n".to_vec(),
        ),
        (
            "bare LF after the request line",
            b"GET /health HTTP/1.1\nHost: sluice.test\r\n\r\n".to_vec(),
        ),
        (
            "NUL in a header value",
            b"GET /health HTTP/1.1\r\nHost: sluice.test\r\nX-A: a\0b\r\n\r\n".to_vec(),
        ),
        (
            "obsolete line fold",
            b"GET /health HTTP/1.1\r\nHost: sluice.test\r\nX-A: a\r\n b\r\n\r\n".to_vec(),
        ),
        (
            "space before the colon",
            b"GET /health HTTP/1.1\r\nHost : sluice.test\r\n\r\n".to_vec(),
        ),
        ("garbage request line", b"HELLO\r\n\r\n".to_vec()),
    ];
    for (name, bytes) in &cases {
        expect_status(&gateway, name, bytes, 400, After::Closed);
    }
    assert!(
        mock.requests().is_empty(),
        "no malformed request reaches the upstream: {:?}",
        mock.requests()
            .iter()
            .map(|r| r.target.clone())
            .collect::<Vec<_>>()
    );
}

#[test]
fn oversized_head_gets_431_and_a_large_head_below_the_limit_is_served() {
    let mock = MockUpstream::start(fixtures::anthropic_handler);
    let gateway = Gateway::start(&mock.base_url(), None, &[]);
    let big = format!(
        "GET /health HTTP/1.1\r\nHost: sluice.test\r\nX-Big: {}\r\n\r\n",
        "a".repeat(70 * 1024)
    );
    expect_status(
        &gateway,
        "head over 64 KiB",
        big.as_bytes(),
        431,
        After::SameOrNew,
    );
    let fits = format!(
        "GET /health HTTP/1.1\r\nHost: sluice.test\r\nX-Big: {}\r\n\r\n",
        "a".repeat(60 * 1024)
    );
    expect_status(
        &gateway,
        "head of 60 KiB",
        fits.as_bytes(),
        200,
        After::SameOrNew,
    );
}

#[test]
fn body_over_max_body_bytes_gets_413() {
    let mock = MockUpstream::start(fixtures::anthropic_handler);
    let gateway = Gateway::start(&mock.base_url(), None, &[("max_body_bytes", "1024")]);
    let declared = post_head("Content-Length: 4096\r\n");
    let mut client = gateway.client();
    client.send(&declared).unwrap();
    let response = client.read_response().unwrap();
    assert_eq!(response.status, 413, "{}", response.text());
    assert_eq!(response.error_type(), "request_too_large");
    drop(client);

    let mut chunked = post_head("Transfer-Encoding: chunked\r\n");
    chunked.extend_from_slice(&support::mock::chunk(&[b'x'; 1025]));
    chunked.extend_from_slice(b"0\r\n\r\n");
    let mut client = gateway.client();
    client.send(&chunked).unwrap();
    let response = client.read_response().unwrap();
    assert_eq!(response.status, 413, "{}", response.text());
    assert_eq!(response.error_type(), "request_too_large");
    drop(client);

    // At the limit exactly: served.
    let prefix = format!(
        r#"{{"model":"{}","max_tokens":1,"messages":[],"pad":""#,
        fixtures::MODEL
    );
    let trimmed = format!("{prefix}{}\"}}", "p".repeat(1024 - prefix.len() - 2));
    assert_eq!(trimmed.len(), 1024);
    let at_limit = with_body(
        post_head(&format!("Content-Length: {}\r\n", trimmed.len())),
        trimmed.as_bytes(),
    );
    expect_status(
        &gateway,
        "body at max_body_bytes",
        &at_limit,
        200,
        After::SameOrNew,
    );
    assert!(health_ok(&mut gateway.client()));
    assert_eq!(
        mock.wait_requests(1, EVENTUALLY).len(),
        1,
        "only the body within the limit went upstream"
    );
}

#[test]
fn invalid_json_body_gets_400_invalid_request_error() {
    let mock = MockUpstream::start(fixtures::anthropic_handler);
    let gateway = Gateway::start(&mock.base_url(), None, &[]);
    let body = b"{\"model\": \"claude\", \"messages\": [";
    let bytes = with_body(
        post_head(&format!("Content-Length: {}\r\n", body.len())),
        body,
    );
    let mut client = gateway.client();
    client.send(&bytes).unwrap();
    let response = client.read_response().unwrap();
    assert_eq!(response.status, 400, "{}", response.text());
    assert_eq!(response.error_type(), "invalid_request_error");
    assert!(health_ok(&mut client) || health_ok(&mut gateway.client()));
    assert!(
        mock.requests().is_empty(),
        "the malformed body is not sent upstream"
    );
}

#[test]
fn slow_head_gets_408_and_close() {
    let mock = MockUpstream::start(fixtures::anthropic_handler);
    let gateway = Gateway::start(&mock.base_url(), None, &[("header_read_timeout_ms", "500")]);

    // A head that stops arriving.
    let mut client = gateway.client();
    client.send(b"GET /health HTTP/1.1\r\nHo").unwrap();
    let response = client.read_response().unwrap();
    assert_eq!(response.status, 408, "{}", response.text());
    assert!(client.closed_within(EVENTUALLY), "closed after 408");

    // A head that trickles in one byte at a time (slowloris): the limit is for the whole head.
    let mut client = gateway.client();
    let trickle = format!(
        "GET /health HTTP/1.1\r\nHost: sluice.test\r\nX-Slow: {}\r\n\r\n",
        "s".repeat(200)
    );
    for byte in trickle.as_bytes() {
        if client.readable_within(Duration::from_millis(50)) || client.send(&[*byte]).is_err() {
            break;
        }
    }
    let response = client.read_response().unwrap();
    assert_eq!(response.status, 408, "a trickled head times out as a whole");
    assert!(client.closed_within(EVENTUALLY), "closed after 408");
    assert!(
        health_ok(&mut gateway.client()),
        "a new connection is served afterwards"
    );
}
