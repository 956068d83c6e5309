//! Tests for one shard's `/mcp` gateway and the upstream client behind it, against an in-memory
//! upstream MCP server behind the transport trait: the session state machine, version and
//! header rules, filtering, paging, routing, timeouts, cancellation, upstream death.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_lite::future::{block_on, poll_once};
use serde_json::{Value, json};

use super::jsonrpc::{
    INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR, REQUEST_TIMEOUT, RpcError,
};
use super::session::new_session_id;
use super::upstream::transport::{EventSink, Outgoing, Transport, TransportEvent};
use super::*;

/// What the fake upstream saw, shared with the test.
#[derive(Default)]
struct Seen {
    messages: Vec<Value>,
    connects: u64,
}

/// An upstream MCP server in memory: `tools` tools named `t000`..., listed two per page, plus
/// `echo`, `hang` (never answers) and `die` (the connection drops).
struct FakeUpstream {
    tools: usize,
    seen: Arc<Mutex<Seen>>,
    sink: Option<(u64, EventSink)>,
}

impl Transport for FakeUpstream {
    fn connect(&mut self, generation: u64, sink: EventSink) -> Result<(), String> {
        self.seen.lock().unwrap().connects += 1;
        self.sink = Some((generation, sink));
        Ok(())
    }

    fn send(&mut self, message: Outgoing) -> Result<(), String> {
        let value: Value = serde_json::from_slice(&message.bytes).unwrap();
        self.seen.lock().unwrap().messages.push(value.clone());
        let (generation, sink) = self.sink.clone().ok_or("not connected")?;
        let reply = |result: Value| {
            sink(TransportEvent::Message {
                generation,
                message: json!({"jsonrpc": "2.0", "id": value["id"], "result": result}),
            })
        };
        match value["method"].as_str().unwrap_or("") {
            "initialize" => reply(json!({"protocolVersion": "2025-06-18",
                "capabilities": {"tools": {"listChanged": true}}, "serverInfo": {"name": "fake", "version": "1"}})),
            "tools/list" => {
                let mut names: Vec<String> = (0..self.tools).map(|i| format!("t{i:03}")).collect();
                names.extend(["echo", "hang", "die"].map(String::from));
                let start: usize = value["params"]["cursor"]
                    .as_str()
                    .map_or(0, |c| c.parse().unwrap());
                let page: Vec<Value> = names
                    .iter()
                    .skip(start)
                    .take(2)
                    .map(|n| json!({"name": n, "inputSchema": {"type": "object"}}))
                    .collect();
                let mut result = json!({"tools": page});
                if start + 2 < names.len() {
                    result["nextCursor"] = json!((start + 2).to_string());
                }
                reply(result)
            }
            "tools/call" => match value["params"]["name"].as_str().unwrap_or("") {
                "hang" => {}
                "die" => sink(TransportEvent::Closed {
                    generation,
                    reason: "fake died".into(),
                }),
                name => reply(json!({"content": [{"type": "text", "text": name}],
                    "structuredContent": {"arguments": value["params"]["arguments"]}, "isError": false})),
            },
            _ => {}
        }
        Ok(())
    }

    fn initialized(&mut self, _protocol_version: &str) {}

    fn disconnect(&mut self) {
        self.sink = None;
    }
}

struct Fixture {
    hub: Hub,
    seen: Arc<Mutex<Seen>>,
    gateway: std::rc::Rc<McpGateway>,
}

fn fixture(tools: usize, timeout: Duration) -> Fixture {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let fake = FakeUpstream {
        tools,
        seen: seen.clone(),
        sink: None,
    };
    let hub = Hub::start_with(vec![("fake".into(), Box::new(fake), timeout)]).unwrap();
    assert!(hub.wait_for_tools(Duration::from_secs(10)));
    let gateway = McpGateway::new(1, hub.handle());
    let mut events = hub.handle().subscribe();
    while let Ok(event) = events.try_recv() {
        gateway.apply(event);
    }
    Fixture { hub, seen, gateway }
}

fn everything() -> Caller {
    Caller {
        key_id: "alice".into(),
        policy: ToolPolicy::from_levels([Some(&["*".to_owned()][..])]),
    }
}

fn caller(key: &str, globs: &[&str]) -> Caller {
    let globs: Vec<String> = globs.iter().map(|g| g.to_string()).collect();
    Caller {
        key_id: key.into(),
        policy: ToolPolicy::from_levels([Some(&globs[..])]),
    }
}

fn post<'a>(session: Option<&'a str>, body: &'a str) -> McpRequest<'a> {
    McpRequest {
        method: HttpMethod::Post,
        session_id: session,
        protocol_version: None,
        accept: Some("application/json, text/event-stream"),
        content_type: Some("application/json"),
        body: body.as_bytes(),
    }
}

fn full(reply: McpReply) -> McpResponse {
    match reply {
        McpReply::Full(response) => response,
        McpReply::Stream { .. } => panic!("a full response"),
    }
}

fn send(gateway: &McpGateway, request: McpRequest<'_>, caller: &Caller) -> (McpResponse, Value) {
    let response = full(block_on(gateway.handle(request, caller)));
    let body = if response.body.is_empty() || response.content_type == Some("text/event-stream") {
        Value::Null
    } else {
        serde_json::from_slice(&response.body).unwrap()
    };
    (response, body)
}

fn initialize(gateway: &McpGateway, caller: &Caller, version: &str) -> String {
    let body = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
    .to_string();
    let (response, value) = send(gateway, post(None, &body), caller);
    assert_eq!(response.status, 200);
    let session = response.session_id.expect("a session id");
    let (response, _) = send(
        gateway,
        post(
            Some(&session),
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        ),
        caller,
    );
    assert_eq!(response.status, 202);
    assert_eq!(
        value["result"]["capabilities"],
        json!({"tools": {"listChanged": true}})
    );
    session
}

fn call(id: u64, name: &str) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": name, "arguments": {"q": id}}})
    .to_string()
}

fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !condition() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn initialize_negotiates_and_issues_a_session() {
    let f = fixture(1, Duration::from_secs(30));
    for (offered, answered) in [
        ("2025-06-18", "2025-06-18"),
        ("2025-03-26", "2025-03-26"),
        ("2025-11-25", "2025-11-25"),
        ("2099-01-01", "2025-11-25"),
    ] {
        let body = json!({"jsonrpc": "2.0", "id": "init", "method": "initialize",
            "params": {"protocolVersion": offered, "capabilities": {}}})
        .to_string();
        let (response, value) = send(&f.gateway, post(None, &body), &everything());
        assert_eq!(response.status, 200);
        assert_eq!(value["id"], "init");
        assert_eq!(value["result"]["protocolVersion"], answered);
        assert_eq!(value["result"]["serverInfo"]["name"], "sluice");
        assert_eq!(
            owner_shard(response.session_id.as_deref().unwrap()),
            Some(1)
        );
    }
    let (response, value) = send(
        &f.gateway,
        post(
            None,
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#,
        ),
        &everything(),
    );
    assert_eq!(
        (response.status, value["error"]["code"].as_i64()),
        (200, Some(INVALID_PARAMS))
    );
    assert_eq!(f.gateway.session_count(), 4);
}

#[test]
fn sessions_and_version_headers_are_enforced() {
    let f = fixture(1, Duration::from_secs(30));
    let alice = everything();
    let session = initialize(&f.gateway, &alice, "2025-06-18");
    let ping = r#"{"jsonrpc":"2.0","id":5,"method":"ping"}"#;
    let (response, value) = send(&f.gateway, post(None, ping), &alice);
    assert_eq!(
        (response.status, value["error"]["code"].as_i64()),
        (400, Some(INVALID_REQUEST))
    );
    let stranger = new_session_id(1).unwrap();
    assert_eq!(
        send(&f.gateway, post(Some(&stranger), ping), &alice)
            .0
            .status,
        404
    );
    assert_eq!(
        send(
            &f.gateway,
            post(Some(&session), ping),
            &caller("bob", &["*"])
        )
        .0
        .status,
        404,
        "another key cannot use the session"
    );
    let (response, value) = send(&f.gateway, post(Some(&session), ping), &alice);
    assert_eq!(
        (response.status, &value["result"]),
        (200, &json!({})),
        "no header: the negotiated version"
    );
    for (header, status) in [
        ("2025-06-18", 200),
        ("2025-03-26", 400),
        ("2026-07-28", 400),
        ("junk", 400),
    ] {
        let request = McpRequest {
            protocol_version: Some(header),
            ..post(Some(&session), ping)
        };
        assert_eq!(
            send(&f.gateway, request, &alice).0.status,
            status,
            "{header}"
        );
    }
}

#[test]
fn bad_input_gets_its_status_and_json_rpc_error() {
    let f = fixture(1, Duration::from_secs(30));
    let alice = everything();
    let session = initialize(&f.gateway, &alice, "2025-06-18");
    let (response, value) = send(&f.gateway, post(Some(&session), "{not json"), &alice);
    assert_eq!(
        (response.status, value["error"]["code"].as_i64()),
        (400, Some(PARSE_ERROR))
    );
    let (response, value) = send(
        &f.gateway,
        post(Some(&session), r#"{"jsonrpc":"2.0","id":1}"#),
        &alice,
    );
    assert_eq!(
        (response.status, value["error"]["code"].as_i64()),
        (400, Some(INVALID_REQUEST))
    );
    assert_eq!(value["id"], 1);
    let batch =
        r#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"ping"}]"#;
    let (response, value) = send(&f.gateway, post(Some(&session), batch), &alice);
    assert_eq!(
        (response.status, value["error"]["code"].as_i64()),
        (400, Some(INVALID_REQUEST))
    );
    assert!(
        value["error"]["message"]
            .as_str()
            .unwrap()
            .contains("batch")
    );
    let (response, value) = send(
        &f.gateway,
        post(
            Some(&session),
            r#"{"jsonrpc":"2.0","id":3,"method":"resources/list"}"#,
        ),
        &alice,
    );
    assert_eq!(
        (response.status, value["error"]["code"].as_i64()),
        (200, Some(METHOD_NOT_FOUND))
    );
    let wrong_type = McpRequest {
        content_type: Some("text/plain"),
        ..post(Some(&session), "{}")
    };
    assert_eq!(send(&f.gateway, wrong_type, &alice).0.status, 415);
    let wrong_accept = McpRequest {
        accept: Some("text/html"),
        ..post(Some(&session), "{}")
    };
    assert_eq!(send(&f.gateway, wrong_accept, &alice).0.status, 406);
    let put = McpRequest {
        method: HttpMethod::Other,
        ..post(Some(&session), "{}")
    };
    let response = send(&f.gateway, put, &alice).0;
    assert_eq!(
        (response.status, response.allow),
        (405, Some("GET, POST, DELETE"))
    );
    // The body limit, at and one past.
    let pad = |total: usize| {
        let head = r#"{"jsonrpc":"2.0","id":9,"method":"ping","params":{"p":""#;
        format!("{head}{}\"}}}}", "x".repeat(total - head.len() - 3))
    };
    let at_limit = pad(MAX_BODY_BYTES);
    assert_eq!(at_limit.len(), MAX_BODY_BYTES);
    assert_eq!(
        send(&f.gateway, post(Some(&session), &at_limit), &alice)
            .0
            .status,
        200
    );
    let past = pad(MAX_BODY_BYTES + 1);
    assert_eq!(
        send(&f.gateway, post(Some(&session), &past), &alice)
            .0
            .status,
        413
    );
    // Still serving.
    let (response, _) = send(
        &f.gateway,
        post(
            Some(&session),
            r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
        ),
        &alice,
    );
    assert_eq!(response.status, 200);
}

#[test]
fn batches_work_where_the_version_allows_them() {
    let f = fixture(1, Duration::from_secs(30));
    let alice = everything();
    let session = initialize(&f.gateway, &alice, "2025-03-26");
    let batch = format!(
        r#"[{{"jsonrpc":"2.0","id":1,"method":"ping"}},{},{{"jsonrpc":"2.0","method":"notifications/x"}},7]"#,
        call(2, "fake__echo")
    );
    let (response, value) = send(&f.gateway, post(Some(&session), &batch), &alice);
    assert_eq!(response.status, 200);
    let answers = value.as_array().unwrap();
    assert_eq!(
        answers.len(),
        3,
        "two requests and one invalid element: {value}"
    );
    assert_eq!(answers[0]["result"], json!({}));
    assert_eq!(answers[1]["result"]["content"][0]["text"], "echo");
    assert_eq!(answers[2]["error"]["code"], INVALID_REQUEST);
    let init_in_batch = r#"[{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26"}}]"#;
    let (_, value) = send(&f.gateway, post(Some(&session), init_in_batch), &alice);
    assert_eq!(value[0]["error"]["code"], INVALID_REQUEST);
}

fn list_all(gateway: &McpGateway, session: &str, caller: &Caller) -> Vec<String> {
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let params = cursor.as_ref().map_or(json!({}), |c| json!({"cursor": c}));
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": params})
            .to_string();
        let (response, value) = send(gateway, post(Some(session), &body), caller);
        assert_eq!(response.status, 200, "{value}");
        names.extend(
            value["result"]["tools"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["name"].as_str().unwrap().to_owned()),
        );
        match value["result"]["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return names,
        }
    }
}

#[test]
fn tools_are_listed_in_pages_and_filtered_per_key() {
    let f = fixture(TOOLS_PAGE_SIZE + 5, Duration::from_secs(30));
    assert_eq!(
        f.gateway.catalog().len(),
        TOOLS_PAGE_SIZE + 8,
        "every upstream page was read"
    );
    let alice = everything();
    let session = initialize(&f.gateway, &alice, "2025-06-18");
    let names = list_all(&f.gateway, &session, &alice);
    assert_eq!(names.len(), TOOLS_PAGE_SIZE + 8);
    assert!(names.contains(&"fake__echo".to_owned()));
    let bob = caller("bob", &["fake__t00*", "fake__echo"]);
    let bob_session = initialize(&f.gateway, &bob, "2025-06-18");
    let names = list_all(&f.gateway, &bob_session, &bob);
    assert_eq!(names.len(), 11);
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("fake__t00") || n == "fake__echo")
    );
    let nobody = Caller {
        key_id: "carol".into(),
        policy: ToolPolicy::none(),
    };
    let carol_session = initialize(&f.gateway, &nobody, "2025-06-18");
    assert!(list_all(&f.gateway, &carol_session, &nobody).is_empty());
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"cursor":"bogus"}}"#;
    let (_, value) = send(&f.gateway, post(Some(&session), body), &alice);
    assert_eq!(value["error"]["code"], INVALID_PARAMS);
}

#[test]
fn calls_route_to_the_upstream_and_filtered_tools_are_refused() {
    let f = fixture(1, Duration::from_secs(30));
    let bob = caller("bob", &["fake__echo"]);
    let session = initialize(&f.gateway, &bob, "2025-06-18");
    let (response, value) = send(
        &f.gateway,
        post(Some(&session), &call(4, "fake__echo")),
        &bob,
    );
    assert_eq!(response.status, 200);
    assert_eq!(value["id"], 4);
    assert_eq!(value["result"]["content"][0]["text"], "echo");
    assert_eq!(
        value["result"]["structuredContent"]["arguments"],
        json!({"q": 4})
    );
    let sent = f.seen.lock().unwrap().messages.clone();
    let upstream_call = sent.iter().rfind(|m| m["method"] == "tools/call").unwrap();
    assert_eq!(
        upstream_call["params"],
        json!({"name": "echo", "arguments": {"q": 4}}),
        "the upstream name"
    );
    for (name, message) in [
        ("fake__t000", "not permitted"),
        ("fake__nope", "not permitted"),
    ] {
        let (_, value) = send(&f.gateway, post(Some(&session), &call(5, name)), &bob);
        assert_eq!(value["error"]["code"], INVALID_PARAMS);
        assert!(
            value["error"]["message"]
                .as_str()
                .unwrap()
                .contains(message),
            "{value}"
        );
    }
    let alice = everything();
    let alice_session = initialize(&f.gateway, &alice, "2025-06-18");
    let (_, value) = send(
        &f.gateway,
        post(Some(&alice_session), &call(6, "fake__nope")),
        &alice,
    );
    assert!(
        value["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Unknown tool")
    );
    let (_, value) = send(
        &f.gateway,
        post(
            Some(&alice_session),
            r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"fake__echo","arguments":[1]}}"#,
        ),
        &alice,
    );
    assert_eq!(value["error"]["code"], INVALID_PARAMS);
    // SSE answers when the client takes only a stream.
    let body = call(8, "fake__echo");
    let sse = McpRequest {
        accept: Some("text/event-stream"),
        ..post(Some(&alice_session), &body)
    };
    let response = full(block_on(f.gateway.handle(sse, &alice)));
    assert_eq!(response.content_type, Some("text/event-stream"));
    let text = String::from_utf8(response.body).unwrap();
    assert!(
        text.starts_with("event: message\ndata: {") && text.ends_with("}\n\n"),
        "{text}"
    );
    assert!(text.contains("\"id\":8"));
}

#[test]
fn a_slow_tool_times_out_and_the_session_survives() {
    let f = fixture(1, Duration::from_millis(200));
    let alice = everything();
    let session = initialize(&f.gateway, &alice, "2025-06-18");
    let (response, value) = send(
        &f.gateway,
        post(Some(&session), &call(1, "fake__hang")),
        &alice,
    );
    assert_eq!(response.status, 200);
    assert_eq!(value["error"]["code"], REQUEST_TIMEOUT, "{value}");
    let sent = f.seen.lock().unwrap().messages.clone();
    let hang_id = sent
        .iter()
        .rfind(|m| m["params"]["name"] == "hang")
        .unwrap()["id"]
        .clone();
    assert!(
        sent.iter().any(
            |m| m["method"] == "notifications/cancelled" && m["params"]["requestId"] == hang_id
        )
    );
    let (_, value) = send(
        &f.gateway,
        post(Some(&session), &call(2, "fake__echo")),
        &alice,
    );
    assert_eq!(value["result"]["content"][0]["text"], "echo");
}

#[test]
fn a_client_that_goes_away_cancels_its_upstream_call() {
    let f = fixture(1, Duration::from_secs(60));
    let alice = everything();
    let session = initialize(&f.gateway, &alice, "2025-06-18");
    let body = call(1, "fake__hang");
    let mut future = Box::pin(f.gateway.handle(post(Some(&session), &body), &alice));
    assert!(
        block_on(poll_once(&mut future)).is_none(),
        "the call is in flight"
    );
    drop(future);
    wait_until("notifications/cancelled upstream", || {
        f.seen
            .lock()
            .unwrap()
            .messages
            .iter()
            .any(|m| m["method"] == "notifications/cancelled")
    });
    // And a client-sent cancellation does the same.
    let body = call(2, "fake__hang");
    let mut future = Box::pin(f.gateway.handle(post(Some(&session), &body), &alice));
    assert!(block_on(poll_once(&mut future)).is_none());
    let cancel = r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2}}"#;
    assert_eq!(
        send(&f.gateway, post(Some(&session), cancel), &alice)
            .0
            .status,
        202
    );
    let reply = full(block_on(future));
    let value: Value = serde_json::from_slice(&reply.body).unwrap();
    assert!(
        value["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cancelled"),
        "{value}"
    );
    let cancels = f
        .seen
        .lock()
        .unwrap()
        .messages
        .iter()
        .filter(|m| m["method"] == "notifications/cancelled")
        .count();
    assert_eq!(cancels, 2);
}

#[test]
fn an_upstream_dying_mid_call_is_an_error_and_a_reconnect() {
    let f = fixture(1, Duration::from_secs(30));
    let alice = everything();
    let session = initialize(&f.gateway, &alice, "2025-06-18");
    let (_, value) = send(
        &f.gateway,
        post(Some(&session), &call(1, "fake__die")),
        &alice,
    );
    assert!(
        value["error"]["message"]
            .as_str()
            .unwrap()
            .contains("reconnecting"),
        "{value}"
    );
    let (_, value) = send(
        &f.gateway,
        post(Some(&session), &call(2, "fake__echo")),
        &alice,
    );
    assert_eq!(
        value["result"]["content"][0]["text"], "echo",
        "served after the reconnect"
    );
    assert_eq!(f.seen.lock().unwrap().connects, 2);
}

#[test]
fn delete_and_revocation_end_sessions_and_streams_get_list_changed() {
    let f = fixture(1, Duration::from_secs(30));
    let alice = everything();
    let session = initialize(&f.gateway, &alice, "2025-06-18");
    let get = McpRequest {
        method: HttpMethod::Get,
        accept: Some("text/event-stream"),
        ..post(Some(&session), "")
    };
    let McpReply::Stream {
        response,
        mut events,
    } = block_on(f.gateway.handle(get, &alice))
    else {
        panic!("a stream");
    };
    assert_eq!(
        (response.status, response.content_type),
        (200, Some("text/event-stream"))
    );
    let json_only = McpRequest {
        accept: Some("application/json"),
        ..get
    };
    assert_eq!(
        full(block_on(f.gateway.handle(json_only, &alice))).status,
        406
    );
    f.gateway.apply(HubEvent::Tools {
        server: "other".into(),
        tools: Arc::new(vec![json!({"name": "x"})]),
    });
    let frame = events.try_recv().unwrap();
    assert!(
        String::from_utf8(frame)
            .unwrap()
            .contains("notifications/tools/list_changed")
    );
    let delete = McpRequest {
        method: HttpMethod::Delete,
        ..post(Some(&session), "")
    };
    assert_eq!(full(block_on(f.gateway.handle(delete, &alice))).status, 200);
    assert!(
        matches!(
            events.try_recv(),
            Err(futures_channel::mpsc::TryRecvError::Closed)
        ),
        "the stream ended with the session"
    );
    let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    assert_eq!(
        send(&f.gateway, post(Some(&session), ping), &alice)
            .0
            .status,
        404
    );
    let bob = caller("bob", &["*"]);
    let bob_session = initialize(&f.gateway, &bob, "2025-06-18");
    let kept = initialize(&f.gateway, &alice, "2025-06-18");
    f.gateway.end_sessions_of_key("bob");
    assert_eq!(
        send(&f.gateway, post(Some(&bob_session), ping), &bob)
            .0
            .status,
        404
    );
    assert_eq!(
        send(&f.gateway, post(Some(&kept), ping), &alice).0.status,
        200
    );
}

#[test]
fn requests_for_another_shards_session_are_forwarded() {
    let f = fixture(1, Duration::from_secs(30));
    let elsewhere = new_session_id(7).unwrap();
    assert_eq!(f.gateway.placement(Some(&elsewhere)), Placement::Shard(7));
    let mine = new_session_id(1).unwrap();
    assert_eq!(f.gateway.placement(Some(&mine)), Placement::Here);
    assert_eq!(f.gateway.placement(Some("not-ours")), Placement::Here);
    assert_eq!(f.gateway.placement(None), Placement::Here);
    // The owner runs a forwarded request as its own.
    let alice = everything();
    let session = initialize(&f.gateway, &alice, "2025-06-18");
    let (reply, answer) = futures_channel::oneshot::channel();
    let forwarded = ForwardedRequest {
        method: HttpMethod::Post,
        session_id: session,
        protocol_version: Some("2025-06-18".into()),
        accept: Some("application/json".into()),
        content_type: Some("application/json".into()),
        body: call(3, "fake__echo").into_bytes(),
        key_id: alice.key_id.clone(),
        policy: alice.policy.clone(),
        reply,
    };
    block_on(f.gateway.handle_forwarded(forwarded));
    let response = full(block_on(answer).unwrap());
    let value: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(value["result"]["content"][0]["text"], "echo");
    drop(f.hub);
}

#[test]
fn every_refusal_maps_to_its_status() {
    let cases = [
        (McpError::Unauthorized, 401),
        (McpError::MethodNotAllowed, 405),
        (McpError::NotAcceptable, 406),
        (McpError::UnsupportedMediaType, 415),
        (McpError::PayloadTooLarge, 413),
        (McpError::MissingSession, 400),
        (McpError::UnknownSession, 404),
        (McpError::UnsupportedVersion("x".into()), 400),
        (
            McpError::VersionMismatch {
                header: "a".into(),
                negotiated: "b".into(),
            },
            400,
        ),
        (McpError::TooManySessions, 503),
        (McpError::Internal("x".into()), 500),
    ];
    for (error, status) in cases {
        let response = error.clone().into_response();
        assert_eq!(response.status, status, "{error:?}");
        let value: Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(value["jsonrpc"], "2.0");
        assert!(value["error"]["code"].is_i64());
    }
}

#[test]
fn idle_sessions_expire_after_the_timeout_but_not_before() {
    use super::session::SESSION_IDLE_TIMEOUT;
    let f = fixture(1, Duration::from_secs(30));
    let alice = everything();
    let session = initialize(&f.gateway, &alice, "2025-06-18");
    let streaming = initialize(&f.gateway, &alice, "2025-06-18");
    let get = McpRequest {
        method: HttpMethod::Get,
        accept: Some("text/event-stream"),
        ..post(Some(&streaming), "")
    };
    let McpReply::Stream {
        events: _events, ..
    } = block_on(f.gateway.handle(get, &alice))
    else {
        panic!("a stream");
    };
    let used = Instant::now();
    assert_eq!(
        f.gateway
            .expire_idle(used + SESSION_IDLE_TIMEOUT - Duration::from_secs(1)),
        0
    );
    let past = Instant::now() + SESSION_IDLE_TIMEOUT + Duration::from_secs(1);
    assert_eq!(
        f.gateway.expire_idle(past),
        1,
        "only the session without a stream"
    );
    let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    assert_eq!(
        send(&f.gateway, post(Some(&session), ping), &alice)
            .0
            .status,
        404
    );
    assert_eq!(
        send(&f.gateway, post(Some(&streaming), ping), &alice)
            .0
            .status,
        200
    );
}

#[test]
fn calls_in_flight_to_one_server_are_capped() {
    use super::upstream::worker::MAX_CALLS_PER_SERVER;
    let f = fixture(1, Duration::from_secs(60));
    let hub = f.hub.handle();
    let mut waiting: Vec<_> = (0..MAX_CALLS_PER_SERVER as u64)
        .map(|id| hub.call(id, "fake", "hang", None))
        .collect();
    wait_until("every call sent upstream", || {
        let seen = f.seen.lock().unwrap();
        seen.messages
            .iter()
            .filter(|m| m["params"]["name"] == "hang")
            .count()
            == MAX_CALLS_PER_SERVER
    });
    let refused = block_on(hub.call(9999, "fake", "echo", None)).unwrap();
    assert!(refused.unwrap_err().message.contains("in flight"));
    hub.cancel("fake", 0, "test");
    let answered = block_on(hub.call(10_000, "fake", "echo", None)).unwrap();
    assert_eq!(
        answered.unwrap()["content"][0]["text"],
        "echo",
        "room again after one ended"
    );
    assert!(
        block_on(poll_once(&mut waiting[1])).is_none(),
        "the others still wait"
    );
}

#[test]
fn the_gate_refuses_before_the_upstream_and_ready_http_sessions_are_called_directly() {
    use std::cell::RefCell;
    use std::rc::Rc;

    let f = fixture(1, Duration::from_secs(30));
    let alice = everything();
    let session = initialize(&f.gateway, &alice, "2025-06-18");
    let outcomes = Rc::new(RefCell::new(Vec::new()));
    let seen_outcomes = Rc::clone(&outcomes);
    f.gateway.observe(Box::new(move |report| {
        seen_outcomes.borrow_mut().push(report.outcome_label());
    }));
    let upstream_calls = || {
        let seen = f.seen.lock().unwrap();
        seen.messages
            .iter()
            .filter(|m| m["method"] == "tools/call")
            .count()
    };
    f.gateway.gate(Box::new(|key| {
        let key = key.to_owned();
        Box::pin(async move {
            match key.as_str() {
                "alice" => Err(RpcError::new(super::jsonrpc::RATE_LIMITED, "limited")),
                _ => Ok(()),
            }
        })
    }));
    let before = upstream_calls();
    let (_, value) = send(
        &f.gateway,
        post(Some(&session), &call(1, "fake__echo")),
        &alice,
    );
    assert_eq!(
        value["error"]["code"],
        super::jsonrpc::RATE_LIMITED,
        "{value}"
    );
    assert_eq!(
        upstream_calls(),
        before,
        "a refused call never goes upstream"
    );
    assert_eq!(*outcomes.borrow(), ["rate_limited"]);

    f.gateway.gate(Box::new(|_| Box::pin(async { Ok(()) })));
    f.gateway.call_directly(Box::new(|call| {
        Box::pin(async move {
            let text = format!("direct {} {}", call.tool, call.session.generation);
            Ok(json!({"content": [{"type": "text", "text": text}]}))
        })
    }));
    let text = |id| {
        let (_, value) = send(
            &f.gateway,
            post(Some(&session), &call(id, "fake__echo")),
            &alice,
        );
        value["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(text(2), "echo", "no HTTP session: through the hub");
    let ready = UpstreamSession {
        session_id: Some("s-1".into()),
        protocol_version: "2025-06-18",
        generation: 7,
    };
    f.gateway.apply(HubEvent::Session {
        server: "fake".into(),
        session: Some(ready),
    });
    let before = upstream_calls();
    assert_eq!(text(3), "direct echo 7");
    assert_eq!(upstream_calls(), before, "called by the shard, not the hub");
    f.gateway.apply(HubEvent::Session {
        server: "fake".into(),
        session: None,
    });
    assert_eq!(text(4), "echo", "session gone: through the hub again");
}
