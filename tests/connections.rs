//! End to end: connection handling — keep-alive, pipelining, Expect: 100-continue, idle
//! timeout, pooled upstream connections the upstream closed while idle, and sluice's own routes.

mod support;

use support::fixtures;
use support::http_client::request_bytes;
use support::mock::Closed;
use support::{EVENTUALLY, Gateway, MockUpstream, Reply};

#[test]
fn keep_alive_serves_many_requests_on_one_connection_and_reuses_upstream() {
    let mock = MockUpstream::start(fixtures::anthropic_handler);
    let gateway = Gateway::start(&mock.base_url(), None, &[]);
    let mut client = gateway.client();
    let headers = fixtures::claude_code_headers();
    for round in 0..3 {
        let streamed = client.request(
            "POST",
            "/v1/messages",
            &headers,
            fixtures::request_body(true, 0).as_bytes(),
        );
        assert_eq!(streamed.body, fixtures::stream_body(), "round {round}");
        let message = client.request(
            "POST",
            "/v1/messages",
            &headers,
            fixtures::request_body(false, 0).as_bytes(),
        );
        assert_eq!(
            message.body,
            fixtures::message_json().as_bytes(),
            "round {round}"
        );
        let models = client.request(
            "GET",
            "/v1/models",
            &[("anthropic-version", "2023-06-01")],
            b"",
        );
        assert_eq!(
            models.body,
            fixtures::models_json().as_bytes(),
            "round {round}"
        );
    }
    assert_eq!(mock.wait_requests(9, EVENTUALLY).len(), 9);
    assert_eq!(
        mock.connections_accepted(),
        1,
        "sequential requests reuse one pooled upstream connection"
    );
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let mock = MockUpstream::start(fixtures::anthropic_handler);
    let gateway = Gateway::start(&mock.base_url(), None, &[]);
    let headers = fixtures::claude_code_headers();
    let mut bytes = Vec::new();
    bytes.extend(request_bytes(
        "POST",
        "/v1/messages/count_tokens",
        &headers,
        fixtures::request_body(false, 0).as_bytes(),
    ));
    bytes.extend(request_bytes(
        "GET",
        "/v1/models",
        &[("anthropic-version", "2023-06-01")],
        b"",
    ));
    bytes.extend(request_bytes(
        "POST",
        "/v1/messages",
        &headers,
        fixtures::request_body(true, 0).as_bytes(),
    ));
    bytes.extend(request_bytes("GET", "/health", &[], b""));
    bytes.extend(request_bytes("GET", "/v1/nowhere", &[], b""));
    bytes.extend(request_bytes(
        "POST",
        "/v1/messages",
        &headers,
        fixtures::request_body(false, 0).as_bytes(),
    ));
    bytes.extend(request_bytes("HEAD", "/", &[], b""));
    let mut client = gateway.client();
    client.send(&bytes).unwrap();

    let counted = client.read_response().unwrap();
    assert_eq!(counted.body, fixtures::COUNT_TOKENS_JSON.as_bytes());
    let models = client.read_response().unwrap();
    assert_eq!(models.body, fixtures::models_json().as_bytes());
    let streamed = client.read_response().unwrap();
    assert_eq!(streamed.body, fixtures::stream_body());
    let health = client.read_response().unwrap();
    assert_eq!(health.status, 200);
    let missing = client.read_response().unwrap();
    assert_eq!(missing.status, 404);
    let message = client.read_response().unwrap();
    assert_eq!(message.body, fixtures::message_json().as_bytes());
    let head = client.read_response_to_head().unwrap();
    assert_eq!(head.status, 200);
    let after = client.get("/health");
    assert_eq!(
        after.status, 200,
        "the connection still serves after the pipeline"
    );
}

#[test]
fn expect_100_continue_gets_continue_then_the_answer() {
    let mock = MockUpstream::start(fixtures::anthropic_handler);
    let gateway = Gateway::start(&mock.base_url(), None, &[]);
    let body = fixtures::request_body(true, 5000);
    let mut headers = fixtures::claude_code_headers();
    headers.push(("Expect", "100-continue"));
    let bytes = request_bytes("POST", "/v1/messages", &headers, body.as_bytes());
    let head_len = bytes.len() - body.len();
    let mut client = gateway.client();
    client.send(&bytes[..head_len]).unwrap();
    let interim = client.read_head().unwrap();
    assert_eq!(
        interim.status, 100,
        "sluice asks for the body with 100 Continue"
    );
    client.send(&bytes[head_len..]).unwrap();
    let response = client.read_response().unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.body, fixtures::stream_body());
    assert_eq!(mock.wait_requests(1, EVENTUALLY)[0].body, body.as_bytes());
}

#[test]
fn upstream_closing_an_idle_pooled_connection_does_not_fail_the_next_request() {
    for reset in [false, true] {
        let mock = MockUpstream::start(move |request| {
            let reply = fixtures::anthropic_handler(request).sleep_ms(100);
            if reset { reply.reset() } else { reply.close() }
        });
        let gateway = Gateway::start(&mock.base_url(), None, &[]);
        let mut client = gateway.client();
        let headers = fixtures::claude_code_headers();
        for round in 1..=3u64 {
            let response = client.request(
                "POST",
                "/v1/messages",
                &headers,
                fixtures::request_body(round == 2, 0).as_bytes(),
            );
            assert_eq!(
                response.status,
                200,
                "round {round} (reset: {reset}): {}",
                response.text()
            );
            let requests = mock.wait_requests(round as usize, EVENTUALLY);
            let conn = requests.last().unwrap().conn;
            assert_eq!(
                mock.wait_closed(conn, EVENTUALLY),
                Some(Closed::ByMock),
                "the mock closed its connection while idle"
            );
        }
        let requests = mock.requests();
        assert_eq!(requests.len(), 3, "each request went upstream exactly once");
    }
}

#[test]
fn idle_client_connection_is_closed_after_idle_timeout() {
    let mock = MockUpstream::start(fixtures::anthropic_handler);
    let gateway = Gateway::start(&mock.base_url(), None, &[("idle_timeout_ms", "300")]);
    let mut client = gateway.client();
    assert_eq!(client.get("/health").status, 200);
    assert!(
        client.closed_within(EVENTUALLY),
        "an idle keep-alive connection is closed"
    );
    assert_eq!(gateway.client().get("/health").status, 200);
}

#[test]
fn own_routes_health_head_root_and_404() {
    let mock = MockUpstream::start(|_| Reply::json(500, "{}"));
    let gateway = Gateway::start(&mock.base_url(), None, &[]);
    let mut client = gateway.client();
    assert_eq!(client.get("/health").status, 200);
    let head = client.request("HEAD", "/", &[], b"");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    for (method, target) in [
        ("GET", "/v2/messages"),
        ("POST", "/v1/nowhere"),
        ("GET", "/anthropic/v1/nope"),
        ("GET", "/openai-ish"),
    ] {
        let response = client.request(method, target, &[], b"");
        assert_eq!(response.status, 404, "{method} {target}");
        let json = response.json();
        assert_eq!(json["type"], "error");
        assert_eq!(json["error"]["type"], "not_found_error");
        assert!(json["error"]["message"].is_string());
    }
    assert_eq!(
        client.get("/health").status,
        200,
        "a 404 leaves the connection usable"
    );
    assert!(
        mock.requests().is_empty(),
        "none of these reached the upstream"
    );
}
