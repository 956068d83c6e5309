//! sluice's upstream MCP clients against the official MCP Python SDK servers (pinned, installed by
//! tests/clients/setup.sh): a stdio child process and a Streamable HTTP server (SSE and JSON
//! answers, a bearer header from an `env:` secret). Paged listing, text and structured results,
//! an erroring tool, a slow tool hitting the timeout, list_changed, an oversized result, and an
//! upstream that dies or restarts mid-session.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::future::block_on;
use serde_json::{Value, json};

use sluice::config::Config;
use sluice::mcp::jsonrpc::REQUEST_TIMEOUT;
use sluice::mcp::{Catalog, Hub, HubEvent, HubHandle, MAX_RESULT_BYTES};
use support::mcp::{HttpServer, python, script};

/// Tools each fixture server offers at start (tests/clients/mcp_fixture_tools.py).
const FIXTURE_TOOLS: usize = 68;

fn hub_from(toml: &str) -> Hub {
    let env = |name: &str| (name == "FIXTURE_TOKEN").then(|| "Bearer sesame".to_owned());
    let config = Config::from_toml_str_with_env(toml, &env).expect("config");
    let hub = Hub::start(&config.mcp_servers).expect("hub");
    assert!(
        hub.wait_for_tools(Duration::from_secs(60)),
        "every server listed its tools"
    );
    hub
}

fn stdio_hub(timeout_ms: u64) -> Hub {
    hub_from(&format!(
        "[[mcp_servers]]\nname = \"files\"\ncommand = \"{}\"\nargs = [\"{}\"]\ncall_timeout_ms = {timeout_ms}\n",
        python().display(),
        script("mcp_server_stdio.py")
    ))
}

fn call(
    hub: &HubHandle,
    server: &str,
    tool: &str,
    arguments: Value,
) -> Result<Value, (i64, String)> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    block_on(hub.call(id, server, tool, Some(arguments)))
        .expect("an answer")
        .map_err(|e| (e.code, e.message))
}

fn text_of(result: &Value) -> &str {
    result["content"][0]["text"].as_str().unwrap_or("")
}

/// The checks both transports must pass.
fn exercise(hub: &Hub, server: &str) {
    let tools = hub.tools();
    let listed = &tools[server];
    assert_eq!(
        listed.len(),
        FIXTURE_TOOLS,
        "every page of tools/list was read"
    );
    let (catalog, problems) = Catalog::build(&tools);
    assert!(problems.is_empty(), "{problems:?}");
    let echo = catalog
        .get(&format!("{server}__echo"))
        .expect("prefixed name");
    assert_eq!(echo.definition["description"], "Echo the text back.");
    assert_eq!(
        echo.definition["inputSchema"]["properties"]["text"]["type"], "string",
        "schemas pass through"
    );
    let handle = hub.handle();
    let result = call(&handle, server, "echo", json!({"text": "hi"})).unwrap();
    assert_eq!(text_of(&result), "echo: hi");
    assert_eq!(result["isError"], false);
    let result = call(&handle, server, "weather", json!({"city": "Oslo"})).unwrap();
    assert_eq!(
        result["structuredContent"],
        json!({"city": "Oslo", "celsius": 21, "conditions": "sunny"})
    );
    let result = call(&handle, server, "fail", json!({"reason": "r"})).unwrap();
    assert_eq!(result["isError"], true);
    assert!(text_of(&result).contains("failed on purpose: r"));
    let result = call(&handle, server, "filler_07", json!({"value": "v"})).unwrap();
    assert_eq!(text_of(&result), "filler 7: v");
    // A result over the cap is a clear error; the connection goes on.
    let (code, message) = call(
        &handle,
        server,
        "big",
        json!({"size": MAX_RESULT_BYTES + 1}),
    )
    .unwrap_err();
    assert!(message.contains("limit"), "{code}: {message}");
    let result = call(&handle, server, "big", json!({"size": 1000})).unwrap();
    assert_eq!(text_of(&result).len(), 1000);
    // list_changed: the new tool shows up for subscribers.
    let mut events = handle.subscribe();
    let result = call(&handle, server, "grow", json!({})).unwrap();
    assert_eq!(text_of(&result), "grown");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(
            Instant::now() < deadline,
            "no tool list with `added` arrived"
        );
        match events.try_recv() {
            Ok(HubEvent::Tools { server: s, tools })
                if s == server && has_tool(&tools, "added") =>
            {
                break;
            }
            Ok(_) => {}
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    assert_eq!(
        text_of(&call(&handle, server, "added", json!({})).unwrap()),
        "added"
    );
}

fn has_tool(tools: &Arc<Vec<Value>>, name: &str) -> bool {
    tools.iter().any(|t| t["name"] == name)
}

fn pid_of(hub: &HubHandle, server: &str) -> String {
    text_of(&call(hub, server, "pid", json!({})).unwrap()).to_owned()
}

#[test]
fn stdio_server_lists_calls_and_follows_changes() {
    let hub = stdio_hub(60_000);
    exercise(&hub, "files");
    hub.shutdown();
}

#[test]
fn stdio_slow_tool_times_out_and_the_session_survives() {
    let hub = stdio_hub(1_500);
    let handle = hub.handle();
    let pid = pid_of(&handle, "files");
    let (code, message) = call(&handle, "files", "slow", json!({"seconds": 20})).unwrap_err();
    assert_eq!(code, REQUEST_TIMEOUT, "{message}");
    assert!(message.contains("1500 ms"), "{message}");
    assert_eq!(
        text_of(&call(&handle, "files", "echo", json!({"text": "after"})).unwrap()),
        "echo: after"
    );
    assert_eq!(pid_of(&handle, "files"), pid, "same child, same session");
}

#[test]
fn stdio_server_dying_mid_call_is_an_error_then_a_restart() {
    let hub = stdio_hub(60_000);
    let handle = hub.handle();
    let first = pid_of(&handle, "files");
    let (_, message) = call(&handle, "files", "crash", json!({})).unwrap_err();
    assert!(message.contains("reconnecting"), "{message}");
    // The next call waits for the restarted child.
    let second = pid_of(&handle, "files");
    assert_ne!(first, second, "a new child process");
    assert_eq!(
        text_of(&call(&handle, "files", "echo", json!({"text": "x"})).unwrap()),
        "echo: x"
    );
}

#[test]
fn http_server_with_sse_answers() {
    let server = HttpServer::start(None, false);
    let hub = hub_from(&server.config(60_000));
    exercise(&hub, "web");
}

#[test]
fn http_server_with_json_answers() {
    let server = HttpServer::start(None, true);
    let hub = hub_from(&server.config(60_000));
    let handle = hub.handle();
    assert_eq!(hub.tools()["web"].len(), FIXTURE_TOOLS);
    let result = call(&handle, "web", "weather", json!({"city": "Rome"})).unwrap();
    assert_eq!(result["structuredContent"]["city"], "Rome");
    let result = call(&handle, "web", "fail", json!({"reason": "j"})).unwrap();
    assert_eq!(result["isError"], true);
}

#[test]
fn http_slow_tool_times_out_and_a_restarted_server_gets_a_new_session() {
    let server = HttpServer::start(None, false);
    let hub = hub_from(&server.config(1_500));
    let handle = hub.handle();
    let (code, _) = call(&handle, "web", "slow", json!({"seconds": 20})).unwrap_err();
    assert_eq!(code, REQUEST_TIMEOUT);
    let first = pid_of(&handle, "web");
    let server = server.restart();
    // The old session is unknown to the new process: that call fails and sluice reconnects.
    let mut answers = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let second = loop {
        assert!(Instant::now() < deadline, "never reconnected: {answers:?}");
        match call(&handle, "web", "pid", json!({})) {
            Ok(result) => break text_of(&result).to_owned(),
            Err(error) => answers.push(error),
        }
    };
    assert_ne!(first, second, "served by the restarted process");
    assert_eq!(
        text_of(&call(&handle, "web", "echo", json!({"text": "y"})).unwrap()),
        "echo: y"
    );
    drop(server);
}

#[test]
fn a_wrong_bearer_token_never_lists_tools() {
    let server = HttpServer::start(None, true);
    let toml = server
        .config(5_000)
        .replace("env:FIXTURE_TOKEN", "Bearer wrong");
    let config = Config::from_toml_str(&toml).unwrap();
    let hub = Hub::start(&config.mcp_servers).unwrap();
    assert!(!hub.wait_for_tools(Duration::from_secs(3)));
    let (_, message) = call(&hub.handle(), "web", "echo", json!({"text": "x"})).unwrap_err();
    assert!(message.contains("web"), "{message}");
    assert_eq!(hub.tools(), BTreeMap::new());
}
