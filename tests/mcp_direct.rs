//! The shards' own `tools/call`s to a Streamable HTTP MCP server (a Rust mock that records
//! what it receives), through the real binary on two shards: calls go out from the shards over
//! pooled keep-alive connections on the session sluice's helper opened; a call past its
//! timeout and a call whose client went away are cancelled upstream; a server that forgot the
//! session gets a reconnect; the result size cap holds at the limit and one past it.

mod support;

use std::collections::BTreeSet;
use std::io::Write;
use std::net::TcpStream;

use serde_json::{Value, json};

use support::governance::{GovConfig, key_toml, team_toml};
use support::mcp::{call_tool, initialize, rpc_answer};
use support::mcp_mock::McpMock;
use support::{EVENTUALLY, Gateway, TempDir, wait_for};

const KEY: &str = "sk-direct-key";
const CALL_TIMEOUT_MS: u64 = 1500;

fn start(mock: &McpMock, state: &TempDir) -> Gateway {
    let mut config = GovConfig::new(&support::gateway::closed_port_url(), state.path());
    config.hierarchy = team_toml("eng", None, "mcp_tools = [\"web__*\"]");
    config.hierarchy.push_str(&key_toml("k", KEY, "eng", ""));
    let mut toml = config.toml();
    toml.push('\n');
    toml.push_str(&mock.config("web", CALL_TIMEOUT_MS));
    let gateway = Gateway::start_config(&toml);
    assert_eq!(gateway.shards, 2);
    gateway
}

/// The `notifications/cancelled` the mock got for request `id`, waiting for it.
fn cancelled(mock: &McpMock, id: &Value) -> Value {
    wait_for(EVENTUALLY, || {
        mock.with_method("notifications/cancelled")
            .into_iter()
            .find(|r| r.params["requestId"] == *id)
            .map(|r| r.params)
    })
    .unwrap_or_else(|| panic!("no notifications/cancelled for {id}"))
}

#[test]
fn shards_call_the_server_themselves_on_pooled_connections() {
    let mock = McpMock::start();
    let state = TempDir::new("mcp-direct");
    let gateway = start(&mock, &state);
    let session = initialize(&gateway, KEY);
    for n in 0..16u64 {
        let response = call_tool(
            &gateway,
            KEY,
            &session,
            n,
            "web__echo",
            json!({"text": n.to_string()}),
        );
        let answer = rpc_answer(&response);
        assert_eq!(
            answer["result"]["content"][0]["text"],
            format!("echo: {n}"),
            "{answer}"
        );
    }
    let initializes = mock.with_method("initialize");
    assert_eq!(initializes.len(), 1, "one upstream session");
    let calls = mock.with_method("tools/call");
    assert_eq!(calls.len(), 16);
    let connections: BTreeSet<u64> = calls.iter().map(|c| c.connection).collect();
    for call in &calls {
        // Sent by a shard (string ids), on the helper's session.
        assert!(
            call.id.as_str().is_some_and(|id| id.starts_with("sluice-")),
            "{call:?}"
        );
        assert_eq!(call.session.as_deref(), Some("mock-session-1"));
    }
    assert!(
        connections.len() <= 2,
        "one kept-alive connection per shard, got {connections:?}"
    );
}

#[test]
fn a_timeout_and_a_client_that_leaves_cancel_the_call_upstream() {
    let mock = McpMock::start();
    let state = TempDir::new("mcp-direct-cancel");
    let gateway = start(&mock, &state);
    let session = initialize(&gateway, KEY);

    let response = call_tool(&gateway, KEY, &session, 1, "web__slow", json!({"ms": 4000}));
    let answer = rpc_answer(&response);
    assert_eq!(
        answer["error"]["code"],
        sluice::mcp::jsonrpc::REQUEST_TIMEOUT,
        "{answer}"
    );
    let id = mock.with_method("tools/call")[0].id.clone();
    assert_eq!(cancelled(&mock, &id)["reason"], "timed out in sluice");
    // The session survives.
    let again = call_tool(
        &gateway,
        KEY,
        &session,
        2,
        "web__echo",
        json!({"text": "after"}),
    );
    assert_eq!(
        rpc_answer(&again)["result"]["content"][0]["text"],
        "echo: after"
    );

    // A client that sends a slow call and goes away.
    let call = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "web__slow", "arguments": {"ms": 1000}}})
    .to_string();
    let request = format!(
        "POST /mcp HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\naccept: application/json\r\n\
         authorization: Bearer {KEY}\r\nmcp-session-id: {session}\r\nmcp-protocol-version: {}\r\n\
         content-length: {}\r\n\r\n{call}",
        support::mcp::NEWEST,
        call.len()
    );
    let mut client = TcpStream::connect(gateway.addr).unwrap();
    client.write_all(request.as_bytes()).unwrap();
    let id = wait_for(EVENTUALLY, || {
        mock.with_method("tools/call")
            .into_iter()
            .find(|c| c.params["arguments"]["ms"] == 1000)
            .map(|c| c.id)
    })
    .expect("the slow call reached the server");
    drop(client);
    assert_eq!(cancelled(&mock, &id)["reason"], "the client disconnected");
}

#[test]
fn a_forgotten_session_is_an_error_then_a_new_session() {
    let mock = McpMock::start();
    let state = TempDir::new("mcp-direct-404");
    let gateway = start(&mock, &state);
    let session = initialize(&gateway, KEY);
    mock.forget_sessions();
    let response = call_tool(
        &gateway,
        KEY,
        &session,
        1,
        "web__echo",
        json!({"text": "lost"}),
    );
    let answer = rpc_answer(&response);
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("reconnecting"), "{answer}");
    let text = wait_for(EVENTUALLY, || {
        let response = call_tool(
            &gateway,
            KEY,
            &session,
            2,
            "web__echo",
            json!({"text": "back"}),
        );
        rpc_answer(&response)["result"]["content"][0]["text"]
            .as_str()
            .map(str::to_owned)
    });
    assert_eq!(text.as_deref(), Some("echo: back"));
    assert_eq!(
        mock.with_method("initialize").len(),
        2,
        "the helper reconnected"
    );
    let last = mock.with_method("tools/call").pop().unwrap();
    assert_eq!(last.session.as_deref(), Some("mock-session-2"));
}

#[test]
fn the_result_size_cap_holds_at_the_limit_and_one_past_it() {
    let mock = McpMock::start();
    let state = TempDir::new("mcp-direct-size");
    let gateway = start(&mock, &state);
    let session = initialize(&gateway, KEY);
    let limit = sluice::mcp::MAX_RESULT_BYTES as u64;
    let at = call_tool(
        &gateway,
        KEY,
        &session,
        1,
        "web__sized",
        json!({"bytes": limit}),
    );
    let text = rpc_answer(&at)["result"]["content"][0]["text"]
        .as_str()
        .map(str::len)
        .unwrap_or_default();
    assert!(
        text > limit as usize - 200,
        "at the limit the result passes ({text} bytes)"
    );
    let past = call_tool(
        &gateway,
        KEY,
        &session,
        2,
        "web__sized",
        json!({"bytes": limit + 1}),
    );
    let answer = rpc_answer(&past);
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("limit"), "{answer}");
    let after = call_tool(
        &gateway,
        KEY,
        &session,
        3,
        "web__echo",
        json!({"text": "ok"}),
    );
    assert_eq!(
        rpc_answer(&after)["result"]["content"][0]["text"],
        "echo: ok"
    );
}
