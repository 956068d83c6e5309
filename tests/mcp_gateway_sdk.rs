//! `/mcp` through the real binary: the official MCP Python SDK client (tests/clients/mcp_client.py)
//! talks to sluice on two shards, which aggregates two official SDK servers started by the test
//! (one Streamable HTTP, one stdio). Paged listing, text and structured results, an erroring
//! tool, the call timeout, an upstream restarted mid-session, per-key filtering, sessions used
//! from connections landing on either shard, revocation ending a session, and bad input.

mod support;

use std::time::Duration;

use serde_json::{Value, json};

use support::clients;
use support::governance::{ADMIN_TOKEN, admin_ok, key_toml, team_toml};
use support::mcp::{HttpServer, NEWEST, initialize, post, python, rpc_code, script};
use support::{Gateway, MockUpstream, TempDir};

/// Tools each fixture server offers (tests/clients/mcp_fixture_tools.py).
const FIXTURE_TOOLS: usize = 68;
/// sluice's page size for `tools/list`.
const PAGE: usize = sluice::mcp::TOOLS_PAGE_SIZE;

/// sluice on two shards in front of both fixture servers. `require_virtual_key = false`: `/mcp`
/// must still refuse a caller without one.
fn start(http: &HttpServer, state: &TempDir) -> Gateway {
    start_for(&support::gateway::closed_port_url(), http, state)
}

/// [`start`] with the model provider at `upstream`.
fn start_for(upstream: &str, http: &HttpServer, state: &TempDir) -> Gateway {
    let mut toml = support::gateway::config_toml(upstream, None, &[("cores", "2")]);
    toml.push_str(&format!(
        "\n[governance]\nrequire_virtual_key = false\nstate_dir = \"{}\"\nadmin_token = \"{ADMIN_TOKEN}\"\n\n[audit]\nfsync = \"always\"\n\n",
        state.path().display()
    ));
    toml.push_str(&team_toml("eng", None, ""));
    toml.push_str(&key_toml(
        "alice",
        "alice-key",
        "eng",
        "mcp_tools = [\"files__*\", \"web__*\"]",
    ));
    toml.push_str(&key_toml(
        "bob",
        "bob-key",
        "eng",
        "mcp_tools = [\"files__echo\", \"files__filler_0*\"]",
    ));
    toml.push_str(&key_toml(
        "carol",
        "carol-key",
        "eng",
        "mcp_tools = [\"web__echo\"]",
    ));
    toml.push_str(&key_toml("dave", "dave-key", "eng", ""));
    toml.push_str(&format!(
        "[[mcp_servers]]\nname = \"files\"\ncommand = \"{}\"\nargs = [\"{}\"]\ncall_timeout_ms = 3000\n\n",
        python().display(),
        script("mcp_server_stdio.py")
    ));
    toml.push_str(
        &http
            .config(3000)
            .replace("\"env:FIXTURE_TOKEN\"", "\"Bearer sesame\""),
    );
    let gateway = Gateway::start_config(&toml);
    assert_eq!(gateway.shards, 2);
    gateway
}

fn url(gateway: &Gateway) -> String {
    format!("http://{}/mcp", gateway.addr)
}

fn names(report: &Value) -> Vec<String> {
    let mut names: Vec<String> = report["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn the_official_sdk_lists_calls_and_survives_an_upstream_restart() {
    let state = TempDir::new("mcp-state");
    let http = HttpServer::start(None, false);
    let gateway = start(&http, &state);
    let signal = state.join("restart-web");
    let calls = json!([
        {"name": "files__echo", "arguments": {"text": "hi"}},
        {"name": "files__weather", "arguments": {"city": "Oslo"}},
        {"name": "files__fail", "arguments": {"reason": "because"}},
        {"name": "files__slow", "arguments": {"seconds": 30}},
        {"name": "files__echo", "arguments": {"text": "still here"}},
        {"name": "web__pid", "arguments": {}},
        {"name": "web__pid", "arguments": {}, "signal": signal.display().to_string(), "retries": 60},
        {"name": "web__echo", "arguments": {"text": "after"}},
    ]);
    let url = url(&gateway);
    let client =
        std::thread::spawn(move || clients::run_mcp_client(&url, "alice-key", &calls, "auto"));
    // Restart the HTTP upstream while the client's session is open.
    support::wait_for(Duration::from_secs(120), || signal.exists().then_some(()))
        .expect("the client reached the restart point");
    let http = http.restart();
    std::fs::write(format!("{}.done", signal.display()), b"").unwrap();
    let alice = client.join().unwrap();

    assert_eq!(alice["server_info"]["name"], "sluice");
    assert_eq!(alice["protocol_version"], NEWEST);
    let tools = names(&alice);
    assert_eq!(tools.len(), 2 * FIXTURE_TOOLS, "both servers' tools");
    assert_eq!(alice["pages"], (2 * FIXTURE_TOOLS).div_ceil(PAGE));
    assert!(tools.contains(&"files__echo".to_owned()) && tools.contains(&"web__echo".to_owned()));
    let outcomes = alice["calls"].as_array().unwrap();
    assert_eq!(outcomes[0]["content"][0]["text"], "echo: hi");
    assert_eq!(outcomes[0]["is_error"], false);
    assert_eq!(
        outcomes[1]["structured"],
        json!({"city": "Oslo", "celsius": 21, "conditions": "sunny"})
    );
    assert_eq!(outcomes[2]["is_error"], true);
    assert!(
        outcomes[2]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("because")
    );
    let timeout = outcomes[3]["error"].as_str().unwrap_or_default();
    assert!(timeout.contains("3000 ms"), "{}", outcomes[3]);
    assert_eq!(outcomes[4]["content"][0]["text"], "echo: still here");
    let before = &outcomes[5]["content"][0]["text"];
    let after = &outcomes[6]["content"][0]["text"];
    assert!(before.is_string() && after.is_string(), "{outcomes:?}");
    assert_ne!(before, after, "the restarted upstream answers");
    assert_eq!(outcomes[7]["content"][0]["text"], "echo: after");
    drop(http);

    // Every call is counted on /metrics, by server, tool and outcome, with its latency.
    let metrics = gateway.admin_client().get("/metrics").text();
    for line in [
        "sluice_mcp_calls_total{server=\"files\",tool=\"echo\",outcome=\"ok\"} 2",
        "sluice_mcp_calls_total{server=\"files\",tool=\"fail\",outcome=\"tool_error\"} 1",
        "sluice_mcp_calls_total{server=\"files\",tool=\"slow\",outcome=\"timeout\"} 1",
        "sluice_mcp_call_duration_seconds_count{server=\"web\"}",
    ] {
        assert!(metrics.contains(line), "{line} missing from:\n{metrics}");
    }
    // And audited: key, server, tool, arguments, a digest of the result, the error.
    let records = support::wait_for(support::EVENTUALLY, || {
        let records = mcp_audit_records(&state);
        (records.len() >= 5).then_some(records)
    })
    .expect("the MCP calls reach the audit log");
    let echo = records
        .iter()
        .find(|r| r["tool"] == "echo" && r["server"] == "files")
        .unwrap();
    assert_eq!(echo["key_id"], "alice");
    assert_eq!(echo["arguments"], json!({"text": "hi"}));
    assert_eq!(echo["result_sha256"].as_str().unwrap().len(), 64);
    let fail = records.iter().find(|r| r["tool"] == "fail").unwrap();
    assert_eq!(fail["is_error"], true);
    let slow = records.iter().find(|r| r["tool"] == "slow").unwrap();
    assert!(
        slow["error"].as_str().unwrap().contains("3000 ms"),
        "{slow}"
    );
}

/// The `mcp_call` records of the audit log (under the state directory).
fn mcp_audit_records(state: &TempDir) -> Vec<Value> {
    let mut records = Vec::new();
    for entry in std::fs::read_dir(state.join("audit"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        for line in text.lines() {
            if let Ok(record) = serde_json::from_str::<Value>(line)
                && record["kind"] == "mcp_call"
            {
                records.push(record);
            }
        }
    }
    records
}

#[test]
fn each_key_sees_and_calls_only_its_tools() {
    let state = TempDir::new("mcp-state");
    let http = HttpServer::start(None, true);
    let gateway = start(&http, &state);
    let calls = json!([
        {"name": "files__echo", "arguments": {"text": "ok"}},
        {"name": "files__weather", "arguments": {"city": "Oslo"}},
        {"name": "web__echo", "arguments": {"text": "guessed"}},
    ]);
    let bob = clients::run_mcp_client(&url(&gateway), "bob-key", &calls, "legacy");
    let mut expected = vec!["files__echo".to_owned()];
    expected.extend((0..10).map(|i| format!("files__filler_{i:02}")));
    assert_eq!(names(&bob), expected);
    assert_eq!(bob["pages"], 1);
    let outcomes = bob["calls"].as_array().unwrap();
    assert_eq!(outcomes[0]["content"][0]["text"], "echo: ok");
    for refused in &outcomes[1..] {
        let error = refused["error"].as_str().unwrap_or_default();
        assert!(error.contains("not permitted"), "{refused}");
    }
    let carol = clients::run_mcp_client(&url(&gateway), "carol-key", &json!([]), "legacy");
    assert_eq!(names(&carol), ["web__echo"]);
    let dave = clients::run_mcp_client(&url(&gateway), "dave-key", &json!([]), "legacy");
    assert_eq!(
        names(&dave),
        Vec::<String>::new(),
        "no list anywhere: no tool"
    );
}

#[test]
fn a_session_works_from_connections_on_either_shard() {
    let state = TempDir::new("mcp-state");
    let http = HttpServer::start(None, true);
    let gateway = start(&http, &state);
    let session = initialize(&gateway, "alice-key");
    for id in 0..16 {
        let call = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "web__echo", "arguments": {"text": format!("n{id}")}}});
        let response = post(
            &gateway,
            Some("alice-key"),
            Some(&session),
            Some(NEWEST),
            call.to_string().as_bytes(),
        );
        assert_eq!(response.status, 200, "connection {id}: {}", response.text());
        let text = if response
            .header("content-type")
            .unwrap_or_default()
            .starts_with("text/event-stream")
        {
            let data = response.text();
            let line = data
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .unwrap()
                .to_owned();
            serde_json::from_str::<Value>(&line).unwrap()
        } else {
            response.json()
        };
        assert_eq!(text["result"]["content"][0]["text"], format!("echo: n{id}"));
    }
    // Another key does not see the session, whichever shard it lands on.
    for _ in 0..4 {
        let list = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/list"});
        let response = post(
            &gateway,
            Some("bob-key"),
            Some(&session),
            Some(NEWEST),
            list.to_string().as_bytes(),
        );
        assert_eq!(response.status, 404, "{}", response.text());
    }
}

#[test]
fn bad_input_gets_its_specified_error_and_the_gateway_lives_on() {
    let state = TempDir::new("mcp-state");
    let http = HttpServer::start(None, true);
    let gateway = start(&http, &state);
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}).to_string();

    // No virtual key (although require_virtual_key = false), or an unknown one: 401.
    for key in [None, Some("nobody")] {
        let response = post(&gateway, key, None, None, list.as_bytes());
        assert_eq!(response.status, 401, "{}", response.text());
        assert!(
            response.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains("virtual key")
        );
        assert!(response.header("www-authenticate").is_some());
    }
    let session = initialize(&gateway, "alice-key");
    let ok = post(
        &gateway,
        Some("alice-key"),
        Some(&session),
        Some(NEWEST),
        list.as_bytes(),
    );
    assert_eq!(ok.status, 200, "{}", ok.text());

    // Not JSON: 400 with the parse error.
    let response = post(
        &gateway,
        Some("alice-key"),
        Some(&session),
        Some(NEWEST),
        b"{not json",
    );
    assert_eq!((response.status, rpc_code(&response)), (400, -32700));
    // A batch, which this protocol version forbids: 400 invalid request.
    let batch = format!("[{list}]");
    let response = post(
        &gateway,
        Some("alice-key"),
        Some(&session),
        Some(NEWEST),
        batch.as_bytes(),
    );
    assert_eq!((response.status, rpc_code(&response)), (400, -32600));
    // A session id sluice never issued (for either shard): 404.
    for unknown in [
        format!("0000{}", "ab".repeat(16)),
        format!("0001{}", "cd".repeat(16)),
        "nonsense".into(),
    ] {
        let response = post(
            &gateway,
            Some("alice-key"),
            Some(&unknown),
            Some(NEWEST),
            list.as_bytes(),
        );
        assert_eq!(response.status, 404, "{unknown}: {}", response.text());
    }
    // No session id at all after initialize: 400.
    let response = post(
        &gateway,
        Some("alice-key"),
        None,
        Some(NEWEST),
        list.as_bytes(),
    );
    assert_eq!(response.status, 400);
    // No MCP-Protocol-Version: the session's negotiated version applies (the spec's fallback
    // is only for servers with no other way to know it); an unsupported one is 400.
    let response = post(
        &gateway,
        Some("alice-key"),
        Some(&session),
        None,
        list.as_bytes(),
    );
    assert_eq!(response.status, 200, "{}", response.text());
    let response = post(
        &gateway,
        Some("alice-key"),
        Some(&session),
        Some("1999-01-01"),
        list.as_bytes(),
    );
    assert_eq!(response.status, 400);
    // A body over the /mcp limit: 413, at the limit it is parsed (and is not JSON-RPC: 400).
    for (size, status) in [
        (sluice::mcp::MAX_BODY_BYTES + 1, 413),
        (sluice::mcp::MAX_BODY_BYTES, 400),
    ] {
        let mut body = vec![b' '; size];
        body[0] = b'{';
        body[size - 1] = b'}';
        let response = post(
            &gateway,
            Some("alice-key"),
            Some(&session),
            Some(NEWEST),
            &body,
        );
        assert_eq!(response.status, status, "{size} bytes: {}", response.text());
    }
    // An unknown method: the JSON-RPC "method not found".
    let unknown = json!({"jsonrpc": "2.0", "id": 3, "method": "resources/list"}).to_string();
    let response = post(
        &gateway,
        Some("alice-key"),
        Some(&session),
        Some(NEWEST),
        unknown.as_bytes(),
    );
    assert_eq!((response.status, rpc_code(&response)), (200, -32601));
    // Still alive; DELETE ends the session.
    assert_eq!(gateway.client().get("/health").status, 200);
    let bearer = "Bearer alice-key";
    let headers = [
        ("authorization", bearer),
        ("mcp-session-id", session.as_str()),
    ];
    let response = gateway.client().request("DELETE", "/mcp", &headers, b"");
    assert_eq!(response.status, 200);
    let response = post(
        &gateway,
        Some("alice-key"),
        Some(&session),
        Some(NEWEST),
        list.as_bytes(),
    );
    assert_eq!(response.status, 404);
}

#[test]
fn revoking_a_key_ends_its_sessions_and_their_streams() {
    let state = TempDir::new("mcp-state");
    let http = HttpServer::start(None, true);
    let gateway = start(&http, &state);
    let session = initialize(&gateway, "carol-key");
    let mut stream = gateway.client();
    let bearer = "Bearer carol-key";
    stream
        .send(&support::http_client::request_bytes(
            "GET",
            "/mcp",
            &[
                ("authorization", bearer),
                ("accept", "text/event-stream"),
                ("mcp-session-id", &session),
                ("mcp-protocol-version", NEWEST),
            ],
            b"",
        ))
        .unwrap();
    let mut head = stream.read_head().unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-type").as_deref(),
        Some("text/event-stream")
    );
    admin_ok(&gateway, "DELETE", "/admin/keys/carol", None, 200);
    // The stream ends (its last chunk) once the session is gone.
    while let Some(piece) = stream.read_body_piece(&mut head).unwrap() {
        assert!(
            piece.starts_with(b":"),
            "only keep-alive comments: {piece:?}"
        );
    }
    // And the key no longer opens anything.
    let response = post(
        &gateway,
        Some("carol-key"),
        Some(&session),
        Some(NEWEST),
        b"{}",
    );
    assert_eq!(response.status, 401);
}

#[test]
fn claude_code_calls_an_upstream_mcp_tool_through_sluice() {
    let state = TempDir::new("mcp-state");
    let home = TempDir::new("claude-home");
    let work = TempDir::new("claude-work");
    let http = HttpServer::start(None, true);
    let token = support::temp::token();
    let mock = MockUpstream::start(clients::claude_code_calling(
        token.clone(),
        "mcp__tools__files__echo".to_owned(),
        json!({"text": format!("from-claude-{token}")}),
    ));
    let gateway = start_for(&mock.base_url(), &http, &state);
    let mcp_config = work.join("mcp.json");
    let config = json!({"mcpServers": {"tools": {"type": "http", "url": url(&gateway),
        "headers": {"Authorization": "Bearer bob-key"}}}});
    std::fs::write(&mcp_config, config.to_string()).unwrap();
    let output = clients::run_claude_with(
        &format!("http://{}", gateway.addr),
        home.path(),
        work.path(),
        &format!("use the echo tool with {token}"),
        &[
            "--mcp-config",
            &mcp_config.display().to_string(),
            "--allowedTools",
            "mcp__tools__files__echo",
        ],
        // MCP tools in the request itself, not deferred behind Claude Code's tool search.
        &[("ENABLE_TOOL_SEARCH", "false")],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let context = format!(
        "status {}\nstdout: {stdout}\nstderr: {}\nsluice: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        gateway.stderr()
    );
    assert!(output.status.success(), "claude failed: {context}");
    // The tool ran on the upstream MCP server, and its result reached the model in the next
    // request's tool_result.
    let expected = format!("echo: from-claude-{token}");
    let carried = mock.requests().iter().any(|r| {
        let body = String::from_utf8_lossy(&r.body);
        body.contains("tool_result") && body.contains(&expected)
    });
    assert!(carried, "no tool_result with {expected:?}: {context}");
    // And the model's answer to it is Claude Code's result.
    let result = serde_json::from_str::<Value>(&stdout).map(|v| v["result"].to_string());
    let result = result.unwrap_or_default();
    assert!(
        result.starts_with("\"done: ") && result.contains(&expected),
        "{context}"
    );
}
