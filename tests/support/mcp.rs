//! The official MCP SDK fixtures the MCP tests start: the Streamable HTTP server on a free port
//! (restartable on the same port), and the paths of the venv's Python and the fixture scripts.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use super::clients;
use super::{Gateway, Response};

/// The newest protocol version sluice speaks.
pub const NEWEST: &str = "2025-11-25";

pub fn python() -> PathBuf {
    clients::setup().join("venv/bin/python")
}

pub fn script(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(name)
        .display()
        .to_string()
}

/// A fixture HTTP server on a free port; killed on drop.
pub struct HttpServer {
    child: Child,
    pub port: u16,
    json: bool,
}

impl HttpServer {
    pub fn start(port: Option<u16>, json: bool) -> HttpServer {
        let port = port.unwrap_or_else(|| {
            TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port()
        });
        let mut command = Command::new(python());
        command
            .arg(script("mcp_server_http.py"))
            .arg(port.to_string())
            .env("MCP_FIXTURE_TOKEN", "sesame")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        if json {
            command.arg("json");
        }
        let child = command.spawn().expect("python");
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the fixture HTTP server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        HttpServer { child, port, json }
    }

    pub fn restart(mut self) -> HttpServer {
        let (port, json) = (self.port, self.json);
        let _ = self.child.kill();
        let _ = self.child.wait();
        HttpServer::start(Some(port), json)
    }

    /// A `[[mcp_servers]]` entry named `web` for this server (its token from `env:FIXTURE_TOKEN`).
    pub fn config(&self, timeout_ms: u64) -> String {
        format!(
            "[[mcp_servers]]\nname = \"web\"\nurl = \"http://127.0.0.1:{}/mcp\"\nheaders = {{ Authorization = \"env:FIXTURE_TOKEN\" }}\ncall_timeout_ms = {timeout_ms}\n",
            self.port
        )
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw `/mcp` POST on a new connection (with two shards, some land on the session's other
/// shard).
pub fn post(
    gateway: &Gateway,
    key: Option<&str>,
    session: Option<&str>,
    version: Option<&str>,
    body: &[u8],
) -> Response {
    let bearer = key.map(|k| format!("Bearer {k}"));
    let mut headers = vec![
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
    ];
    if let Some(bearer) = &bearer {
        headers.push(("authorization", bearer));
    }
    if let Some(session) = session {
        headers.push(("mcp-session-id", session));
    }
    if let Some(version) = version {
        headers.push(("mcp-protocol-version", version));
    }
    gateway.client().request("POST", "/mcp", &headers, body)
}

/// `initialize` then `notifications/initialized` for `key`; the session id.
pub fn initialize(gateway: &Gateway, key: &str) -> String {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": NEWEST, "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}});
    let response = post(gateway, Some(key), None, None, body.to_string().as_bytes());
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["result"]["protocolVersion"], NEWEST);
    let session = response.header("mcp-session-id").expect("a session id");
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let response = post(
        gateway,
        Some(key),
        Some(&session),
        Some(NEWEST),
        initialized.to_string().as_bytes(),
    );
    assert_eq!(response.status, 202);
    session
}

/// The JSON-RPC error code of a JSON answer (0: none).
pub fn rpc_code(response: &Response) -> i64 {
    response.json()["error"]["code"]
        .as_i64()
        .unwrap_or_default()
}

/// The JSON-RPC message of an answer sent as JSON or as one SSE event.
pub fn rpc_answer(response: &Response) -> serde_json::Value {
    let sse = response
        .header("content-type")
        .unwrap_or_default()
        .starts_with("text/event-stream");
    if !sse {
        return response.json();
    }
    let text = response.text();
    let data = text
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .unwrap_or_else(|| panic!("no SSE event in {text}"));
    serde_json::from_str(data).unwrap()
}

/// One `tools/call` of `name` with `arguments` in `session`, on a new connection.
pub fn call_tool(
    gateway: &Gateway,
    key: &str,
    session: &str,
    id: u64,
    name: &str,
    arguments: serde_json::Value,
) -> Response {
    let call = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": name, "arguments": arguments}});
    post(
        gateway,
        Some(key),
        Some(session),
        Some(NEWEST),
        call.to_string().as_bytes(),
    )
}

/// How one `tools/call` of an echo tool ended.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    Ok,
    /// Refused by a limit: the `data.reason`.
    Refused(String),
}

/// Calls the echo tool `tool` (`<server>__echo`) with call `id` as its text: served (the echo
/// checked), or refused with sluice's rate-limit error (its message and `data.reason`).
pub fn echo_call(gateway: &Gateway, key: &str, session: &str, id: u64, tool: &str) -> Outcome {
    let response = call_tool(
        gateway,
        key,
        session,
        id,
        tool,
        json!({"text": id.to_string()}),
    );
    assert_eq!(response.status, 200, "{}", response.text());
    let answer = rpc_answer(&response);
    if answer["error"].is_object() {
        let rate_limited = sluice::mcp::jsonrpc::RATE_LIMITED;
        assert_eq!(answer["error"]["code"], rate_limited, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "{answer}");
        let reason = answer["error"]["data"]["reason"]
            .as_str()
            .unwrap_or_default();
        return Outcome::Refused(reason.to_owned());
    }
    assert_eq!(
        answer["result"]["content"][0]["text"],
        format!("echo: {id}")
    );
    Outcome::Ok
}
