//! End to end: the real sluice binary in front of a mock Anthropic upstream passes streams,
//! messages, count_tokens, models, headers, queries and request bodies through byte for byte.

mod support;

use support::fixtures::{self, MODEL};
use support::mock::{Gate, LAST_CHUNK, chunk, response_head, split_by_sizes};
use support::sse;
use support::{EVENTUALLY, Gateway, MockUpstream, RawClient, Reply, assert_same_response};

fn messages_headers() -> Vec<(&'static str, &'static str)> {
    fixtures::claude_code_headers()
}

fn post_messages(client: &mut RawClient, target: &str, body: &str) -> support::Response {
    client.request("POST", target, &messages_headers(), body.as_bytes())
}

#[test]
fn fixture_stream_is_wire_correct() {
    for raw in fixtures::stream_events() {
        let event = sse::parse_event(raw.as_bytes());
        let data = event.json();
        assert_eq!(
            data["type"],
            event.name.as_str(),
            "event name equals its type"
        );
    }
    assert_eq!(
        fixtures::tool_1_input()["command"],
        r#"ls -la "src dir" | grep \.rs"#
    );
    assert_eq!(fixtures::tool_2_input()["file_path"], "/tmp/h\u{e9}llo.txt");
    let message: serde_json::Value = serde_json::from_str(&fixtures::message_json()).unwrap();
    assert_eq!(message["content"][2]["input"], fixtures::tool_1_input());
    assert_eq!(message["content"][3]["input"], fixtures::tool_2_input());
    // The awkward writes must cut through multi-byte UTF-8 somewhere, or they prove little.
    let wire = fixtures::stream_response_bytes(&fixtures::stream_body());
    let mut at = 0;
    let mut splits_inside_a_char = 0;
    let writes = fixtures::awkward_writes(&wire, &fixtures::SMALL_WRITES);
    assert_eq!(writes.concat(), wire);
    for piece in &writes {
        at += piece.len();
        if at < wire.len() && wire[at] & 0xC0 == 0x80 {
            splits_inside_a_char += 1;
        }
    }
    assert!(
        splits_inside_a_char > 0,
        "no write boundary falls inside a multi-byte character"
    );
}

#[test]
fn stream_through_sluice_equals_direct() {
    let mock = MockUpstream::start(fixtures::anthropic_handler);
    let gateway = Gateway::start(&mock.base_url(), None, &[]);
    let body = fixtures::request_body(true, 0);

    let direct = post_messages(
        &mut RawClient::connect(mock.addr()),
        "/v1/messages?beta=true",
        &body,
    );
    assert_eq!(
        direct.body,
        fixtures::stream_body(),
        "mock sends the fixture"
    );
    let through = post_messages(&mut gateway.client(), "/v1/messages?beta=true", &body);
    assert_same_response(&direct, &through);

    let requests = mock.wait_requests(2, EVENTUALLY);
    assert_eq!(requests.len(), 2);
    let upstream = &requests[1];
    assert_eq!(upstream.method, "POST");
    assert_eq!(upstream.target, "/v1/messages?beta=true");
    assert_eq!(
        upstream.body,
        body.as_bytes(),
        "request body reaches the upstream byte for byte"
    );
    let events = sse::parse_events(&through.body);
    assert_eq!(events.last().map(|e| e.name.as_str()), Some("message_stop"));
}

#[test]
fn stream_in_big_writes_through_sluice_equals_direct() {
    let mock = MockUpstream::start(|_| fixtures::stream_reply(&[4096, 1, 4096]));
    let gateway = Gateway::start(&mock.base_url(), None, &[]);
    let body = fixtures::request_body(true, 0);
    let direct = post_messages(&mut RawClient::connect(mock.addr()), "/v1/messages", &body);
    let through = post_messages(&mut gateway.client(), "/v1/messages", &body);
    assert_same_response(&direct, &through);
}

#[test]
fn stream_events_reach_the_client_before_the_stream_ends() {
    let gate = Gate::new();
    let events = fixtures::stream_events();
    let mut rest = chunk(events[1..].concat().as_bytes());
    rest.extend_from_slice(LAST_CHUNK);
    let mock = support::stream_held_after_first_event(&gate, rest);
    let gateway = Gateway::start(&mock.base_url(), None, &[]);
    let mut client = gateway.client();
    let mut head = support::begin_stream(&mut client, &messages_headers());
    // The upstream is held after message_start: it must reach the client now, not at the end.
    let mut received = Vec::new();
    while received.len() < events[0].len() {
        let piece = client
            .read_body_piece(&mut head)
            .unwrap()
            .expect("stream ended early");
        received.extend_from_slice(&piece);
    }
    assert_eq!(received, events[0].as_bytes());
    gate.open();
    let rest = client.finish(head);
    assert!(rest.complete);
    received.extend_from_slice(&rest.body);
    assert_eq!(received, fixtures::stream_body());
}

#[test]
fn non_streaming_message_passes_through() {
    let mock = MockUpstream::start(fixtures::anthropic_handler);
    let gateway = Gateway::start(&mock.base_url(), None, &[]);
    let body = fixtures::request_body(false, 0);
    let direct = post_messages(&mut RawClient::connect(mock.addr()), "/v1/messages", &body);
    let through = post_messages(&mut gateway.client(), "/v1/messages", &body);
    assert_same_response(&direct, &through);
    assert_eq!(through.body, fixtures::message_json().as_bytes());
}

#[test]
fn max_tokens_one_probe_passes_through() {
    let mock = MockUpstream::start(fixtures::anthropic_handler);
    let gateway = Gateway::start(&mock.base_url(), None, &[]);
    let body = format!(
        r#"{{"model":"{MODEL}","max_tokens":1,"messages":[{{"role":"user","content":"quota"}}]}}"#
    );
    let through = post_messages(&mut gateway.client(), "/v1/messages?beta=true", &body);
    assert_eq!(through.status, 200);
    let requests = mock.wait_requests(1, EVENTUALLY);
    assert_eq!(requests[0].body, body.as_bytes());
}

#[test]
fn count_tokens_passes_through() {
    let mock = MockUpstream::start(fixtures::anthropic_handler);
    let gateway = Gateway::start(&mock.base_url(), None, &[]);
    let body = fixtures::request_body(false, 0);
    let target = "/v1/messages/count_tokens?beta=true";
    let direct = post_messages(&mut RawClient::connect(mock.addr()), target, &body);
    let through = post_messages(&mut gateway.client(), target, &body);
    assert_same_response(&direct, &through);
    assert_eq!(through.body, fixtures::COUNT_TOKENS_JSON.as_bytes());
    let requests = mock.wait_requests(2, EVENTUALLY);
    assert_eq!(requests[1].target, target);
    assert_eq!(requests[1].body, body.as_bytes());
}

#[test]
fn models_list_passes_through_with_its_query() {
    let mock = MockUpstream::start(fixtures::anthropic_handler);
    let gateway = Gateway::start(&mock.base_url(), None, &[]);
    let headers = [
        ("x-api-key", "sk-ant-test"),
        ("anthropic-version", "2023-06-01"),
    ];
    let direct =
        RawClient::connect(mock.addr()).request("GET", "/v1/models?limit=1000", &headers, b"");
    let through = gateway
        .client()
        .request("GET", "/v1/models?limit=1000", &headers, b"");
    assert_same_response(&direct, &through);
    let requests = mock.wait_requests(2, EVENTUALLY);
    assert_eq!(requests[1].method, "GET");
    assert_eq!(requests[1].target, "/v1/models?limit=1000");
    assert_eq!(
        requests[1].header_str("x-api-key").as_deref(),
        Some("sk-ant-test")
    );
}

#[test]
fn anthropic_prefix_routes_like_the_bare_paths() {
    let mock = MockUpstream::start(fixtures::anthropic_handler);
    let gateway = Gateway::start(&mock.base_url(), None, &[]);
    let mut client = gateway.client();
    let streamed = post_messages(
        &mut client,
        "/anthropic/v1/messages?beta=true",
        &fixtures::request_body(true, 0),
    );
    assert_eq!(streamed.status, 200);
    assert_eq!(streamed.body, fixtures::stream_body());
    let counted = post_messages(
        &mut client,
        "/anthropic/v1/messages/count_tokens",
        &fixtures::request_body(false, 0),
    );
    assert_eq!(counted.body, fixtures::COUNT_TOKENS_JSON.as_bytes());
    let models = client.get("/anthropic/v1/models");
    assert_eq!(models.body, fixtures::models_json().as_bytes());
    let targets: Vec<String> = mock
        .wait_requests(3, EVENTUALLY)
        .into_iter()
        .map(|r| r.target)
        .collect();
    assert_eq!(
        targets,
        [
            "/v1/messages?beta=true",
            "/v1/messages/count_tokens",
            "/v1/models"
        ],
        "the /anthropic prefix is not sent upstream; the query is kept"
    );
}

#[test]
fn end_to_end_headers_forwarded_verbatim_hop_by_hop_stripped() {
    let mock = MockUpstream::start(fixtures::anthropic_handler);
    let gateway = Gateway::start(&mock.base_url(), None, &[]);
    let mut sent = fixtures::claude_code_headers();
    sent.extend([
        ("Authorization", "Bearer sk-ant-oat01-client-token"),
        ("X-Custom-Thing", "  value with  inner  spaces"),
        ("x-repeated", "first"),
        ("x-repeated", "second"),
        ("x-claude-code-agent-id", "agent_0001"),
        ("Connection", "keep-alive"),
        ("Keep-Alive", "timeout=5"),
        ("TE", "trailers"),
        ("Trailer", "x-checksum"),
        ("Upgrade", "h2c"),
        ("Proxy-Authorization", "Basic c2VjcmV0"),
        ("Proxy-Connection", "keep-alive"),
    ]);
    let body = fixtures::request_body(true, 0);
    let response =
        gateway
            .client()
            .request("POST", "/v1/messages?beta=true", &sent, body.as_bytes());
    assert_eq!(response.status, 200, "{}", response.text());
    let upstream = &mock.wait_requests(1, EVENTUALLY)[0];

    let hop_by_hop = [
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-authorization",
        "proxy-connection",
    ];
    for (name, _) in &upstream.headers {
        assert!(
            !hop_by_hop.contains(&name.to_ascii_lowercase().as_str()),
            "hop-by-hop header {name} was forwarded: {}",
            String::from_utf8_lossy(&upstream.head)
        );
    }
    let forwarded: Vec<(String, Vec<u8>)> = upstream
        .headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .filter(|(n, _)| n != "host" && n != "content-length")
        .collect();
    let expected: Vec<(String, Vec<u8>)> = sent
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.trim().as_bytes().to_vec()))
        .filter(|(n, _)| !hop_by_hop.contains(&n.as_str()))
        // A Messages response is read for the log and metrics: identity is asked for.
        .filter(|(n, _)| n != "accept-encoding")
        .collect();
    assert_eq!(
        forwarded, expected,
        "end-to-end headers reach the upstream with the same values, in order"
    );
    assert_eq!(upstream.header_str("accept-encoding"), None);
    assert_eq!(
        upstream.header_str("host"),
        Some(format!("127.0.0.1:{}", mock.addr().port())),
        "Host names the upstream"
    );
    assert_eq!(
        upstream.header_str("content-length"),
        Some(body.len().to_string())
    );
}

#[test]
fn chunked_request_body_arrives_byte_exact_with_content_length() {
    let mock = MockUpstream::start(fixtures::anthropic_handler);
    let gateway = Gateway::start(&mock.base_url(), None, &[]);
    let body = fixtures::request_body(true, 20_000);
    let mut bytes = b"POST /v1/messages?beta=true HTTP/1.1\r\nHost: sluice.test\r\n".to_vec();
    for (name, value) in messages_headers() {
        bytes.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    bytes.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
    bytes.extend_from_slice(&support::mock::chunked(
        body.as_bytes(),
        &[1, 300, 4096, 17],
    ));
    bytes.extend_from_slice(b"3;ext=1\r\n   \r\n");
    bytes.extend_from_slice(LAST_CHUNK);
    let mut client = gateway.client();
    for piece in split_by_sizes(&bytes, &[5, 999, 3, 7000]) {
        client.send(piece).unwrap();
    }
    let response = client.read_response().unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.body, fixtures::stream_body());
    let upstream = &mock.wait_requests(1, EVENTUALLY)[0];
    let mut expected = body.into_bytes();
    expected.extend_from_slice(b"   ");
    assert!(
        !upstream.body_was_chunked,
        "sluice sends the upstream a Content-Length body"
    );
    assert_eq!(
        upstream.header_str("content-length"),
        Some(expected.len().to_string())
    );
    assert_eq!(upstream.body, expected);
}

#[test]
fn large_body_in_odd_writes_arrives_byte_exact() {
    let mock = MockUpstream::start(fixtures::anthropic_handler);
    let gateway = Gateway::start(&mock.base_url(), None, &[]);
    let body = fixtures::request_body(false, 90_000);
    let bytes = support::http_client::request_bytes(
        "POST",
        "/v1/messages",
        &messages_headers(),
        body.as_bytes(),
    );
    let mut client = gateway.client();
    for piece in split_by_sizes(&bytes, &[1, 2, 3, 1000, 65_536]) {
        client.send(piece).unwrap();
    }
    let response = client.read_response().unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.body, fixtures::message_json().as_bytes());
    assert_eq!(mock.wait_requests(1, EVENTUALLY)[0].body, body.as_bytes());
}

#[test]
fn upstream_error_statuses_pass_through_unchanged() {
    let mock = MockUpstream::start(|request| {
        let status: u16 = request
            .header_str("x-test-status")
            .unwrap()
            .parse()
            .unwrap();
        let (kind, message) = match status {
            400 => (
                "invalid_request_error",
                "messages.1.content: Input should be a valid list",
            ),
            401 => ("authentication_error", "invalid x-api-key"),
            403 => (
                "permission_error",
                "Your API key does not have permission to use the specified resource.",
            ),
            404 => ("not_found_error", "model: claude-nonexistent"),
            413 => (
                "request_too_large",
                "Request exceeds the maximum allowed number of bytes.",
            ),
            429 => (
                "rate_limit_error",
                "This request would exceed your organization's rate limit.",
            ),
            500 => ("api_error", "Internal server error"),
            _ => ("overloaded_error", "Overloaded"),
        };
        let body = fixtures::error_json(kind, message);
        let mut headers = fixtures::json_headers();
        if status == 429 {
            headers.push(("retry-after", "17"));
            headers.push(("anthropic-ratelimit-requests-reset", "2025-11-04T10:00:17Z"));
        }
        if status == 529 {
            headers.push(("x-should-retry", "true"));
        }
        Reply::full(status, &headers, body.as_bytes())
    });
    let gateway = Gateway::start(&mock.base_url(), None, &[]);
    let body = fixtures::request_body(true, 0);
    let mut through_client = gateway.client();
    for status in ["400", "401", "403", "404", "413", "429", "500", "529"] {
        let mut headers = messages_headers();
        headers.push(("x-test-status", status));
        let direct = RawClient::connect(mock.addr()).request(
            "POST",
            "/v1/messages",
            &headers,
            body.as_bytes(),
        );
        assert_eq!(direct.status.to_string(), status);
        let through = through_client.request("POST", "/v1/messages", &headers, body.as_bytes());
        assert_same_response(&direct, &through);
        if status == "429" {
            assert_eq!(through.header("retry-after").as_deref(), Some("17"));
        }
    }
}

#[test]
fn unusual_sse_framing_passes_through_byte_exact() {
    // CRLF line ends, a comment line, data without a space, and a multi-line data field.
    let body = concat!(
        ": a comment line\r\n\r\n",
        "event: message_start\r\ndata:{\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\r\n\r\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\ndata: \"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        "event: content_block_delta\rdata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"h\u{e9}\"}}\r\r",
        "event: content_block_stop\r\ndata: {\"type\":\"content_block_stop\",\"index\":0}\r\n\r\n",
        "event: message_delta\r\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":2}}\r\n\r\n",
        "event: message_stop\r\ndata: {\"type\":\"message_stop\"}\r\n\r\n",
    );
    let mock = MockUpstream::start(move |_| {
        let mut bytes = response_head(200, &fixtures::sse_headers());
        bytes.extend_from_slice(&support::mock::chunked(body.as_bytes(), &[7, 1, 90]));
        bytes.extend_from_slice(LAST_CHUNK);
        Reply::new().write_split(&bytes, &[3, 50], std::time::Duration::ZERO)
    });
    let gateway = Gateway::start(&mock.base_url(), None, &[]);
    let request = fixtures::request_body(true, 0);
    let direct = post_messages(
        &mut RawClient::connect(mock.addr()),
        "/v1/messages",
        &request,
    );
    assert_eq!(direct.body, body.as_bytes());
    let through = post_messages(&mut gateway.client(), "/v1/messages", &request);
    assert_same_response(&direct, &through);
}
