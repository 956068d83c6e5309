//! End to end over TLS: sluice reaches an https upstream whose certificate chains to a CA made
//! in the test (the provider's `ca_file`), streams it byte for byte, and refuses untrusted ones.

mod support;

use support::fixtures;
use support::mock::{chunk, response_head};
use support::sse;
use support::tls::TestPki;
use support::{EVENTUALLY, Gateway, MockUpstream, RawClient, Reply, assert_same_response};

#[test]
fn tls_stream_through_sluice_equals_direct() {
    let pki = TestPki::new();
    let mock = MockUpstream::start_tls(&pki, fixtures::anthropic_handler);
    let gateway = Gateway::start(&mock.base_url(), Some(&pki.ca_file), &[]);
    let headers = fixtures::claude_code_headers();
    let body = fixtures::request_body(true, 0);
    let direct = RawClient::connect_tls(mock.addr(), &pki).request(
        "POST",
        "/v1/messages?beta=true",
        &headers,
        body.as_bytes(),
    );
    assert_eq!(direct.body, fixtures::stream_body());
    let mut client = gateway.client();
    let through = client.request("POST", "/v1/messages?beta=true", &headers, body.as_bytes());
    assert_same_response(&direct, &through);

    let message_body = fixtures::request_body(false, 0);
    let direct = RawClient::connect_tls(mock.addr(), &pki).request(
        "POST",
        "/v1/messages",
        &headers,
        message_body.as_bytes(),
    );
    let through = client.request("POST", "/v1/messages", &headers, message_body.as_bytes());
    assert_same_response(&direct, &through);

    let requests = mock.wait_requests(4, EVENTUALLY);
    assert_eq!(requests[1].body, body.as_bytes());
    assert_eq!(requests[1].target, "/v1/messages?beta=true");
    assert_eq!(
        requests[1].header_str("host"),
        Some(format!("localhost:{}", mock.addr().port()))
    );
}

#[test]
fn tls_upstream_not_signed_by_a_trusted_ca_is_502() {
    let pki = TestPki::new();
    let mock = MockUpstream::start_tls(&pki, fixtures::anthropic_handler);
    let gateway = Gateway::start(&mock.base_url(), None, &[]);
    let body = fixtures::request_body(true, 0);
    let response = gateway.client().request(
        "POST",
        "/v1/messages",
        &fixtures::claude_code_headers(),
        body.as_bytes(),
    );
    assert_eq!(response.status, 502, "{}", response.text());
    assert_eq!(response.error_type(), "api_error");
    assert!(
        mock.requests().is_empty(),
        "no request is sent over an unverified connection"
    );
}

#[test]
fn tls_stream_reset_mid_way_ends_with_an_error_event() {
    let pki = TestPki::new();
    let events = fixtures::stream_events();
    let complete = events[..6].concat();
    let sent = complete.clone();
    let mock = MockUpstream::start_tls(&pki, move |_| {
        Reply::new()
            .write(response_head(200, &fixtures::sse_headers()))
            .write(chunk(sent.as_bytes()))
            .sleep_ms(50)
            .reset()
    });
    let gateway = Gateway::start(&mock.base_url(), Some(&pki.ca_file), &[]);
    let body = fixtures::request_body(true, 0);
    let response = gateway.client().request(
        "POST",
        "/v1/messages",
        &fixtures::claude_code_headers(),
        body.as_bytes(),
    );
    assert_eq!(response.status, 200);
    assert!(response.complete, "a clean end of the chunked body");
    assert!(response.body.starts_with(complete.as_bytes()));
    let tail = sse::parse_events(&response.body[complete.len()..]);
    assert_eq!(tail.len(), 1, "{}", response.text());
    assert_eq!(tail[0].name, "error");
    assert_eq!(tail[0].json()["error"]["type"], "api_error");
}
