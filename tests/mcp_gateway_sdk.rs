//! The MCP gateway core with the official MCP Python SDK on both sides: the SDK's client
//! (tests/clients/mcp_client.py) talks Streamable HTTP to an `McpGateway` behind a minimal
//! one-connection-at-a-time HTTP/1.1 harness on loopback, and the gateway calls the SDK's stdio
//! server through its upstream client. Until `/mcp` is routed on the data listener this is how
//! the gateway meets a real client: protocol negotiation (including the SDK's probe of the
//! stateless revision and its fall-back), paged listing, per-key filtering, calls.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::rc::Rc;
use std::time::Duration;

use futures_lite::future::block_on;
use serde_json::{Value, json};

use sluice::config::Config;
use sluice::mcp::{
    Caller, HttpMethod, Hub, McpError, McpGateway, McpReply, McpRequest, McpResponse, ToolPolicy,
};
use support::clients;

/// Most bytes of a request head the harness reads.
const MAX_HEAD: usize = 64 * 1024;

/// The key a bearer token stands for, and its tools.
fn caller_for(token: &str) -> Option<Caller> {
    let globs: &[&str] = match token {
        "alice-key" => &["files__*"],
        "bob-key" => &["files__echo", "files__filler_0*"],
        _ => return None,
    };
    let globs: Vec<String> = globs.iter().map(|g| g.to_string()).collect();
    Some(Caller {
        key_id: token.to_owned(),
        policy: ToolPolicy::from_levels([Some(&globs[..])]),
    })
}

struct Parsed {
    method: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Parsed {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn read_request(stream: &mut TcpStream) -> Option<Parsed> {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut request = httparse::Request::new(&mut headers);
        if let Ok(httparse::Status::Complete(head_len)) = request.parse(&bytes) {
            let headers: Vec<(String, String)> = request
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_owned(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect();
            let method = request.method?.to_owned();
            let length: usize = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            while bytes.len() < head_len + length {
                let n = stream.read(&mut chunk).ok()?;
                if n == 0 {
                    return None;
                }
                bytes.extend_from_slice(&chunk[..n]);
            }
            let body = bytes[head_len..head_len + length].to_vec();
            return Some(Parsed {
                method,
                headers,
                body,
            });
        }
        if bytes.len() > MAX_HEAD {
            return None;
        }
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        bytes.extend_from_slice(&chunk[..n]);
    }
}

fn write_response(stream: &mut TcpStream, response: &McpResponse) {
    let mut head = format!(
        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        response.status,
        response.body.len()
    );
    if let Some(content_type) = response.content_type {
        head.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    if let Some(session_id) = &response.session_id {
        head.push_str(&format!("Mcp-Session-Id: {session_id}\r\n"));
    }
    if let Some(allow) = response.allow {
        head.push_str(&format!("Allow: {allow}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&response.body);
}

/// Serves `/mcp` from `gateway`, one connection at a time, each closed after its answer.
fn serve(listener: TcpListener, gateway: Rc<McpGateway>) {
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let Some(request) = read_request(&mut stream) else {
            continue;
        };
        let token = request
            .header("authorization")
            .and_then(|v| v.strip_prefix("Bearer "));
        let Some(caller) = token.and_then(caller_for) else {
            write_response(&mut stream, &McpError::Unauthorized.into_response());
            continue;
        };
        let method = HttpMethod::parse(&request.method);
        if method == HttpMethod::Get {
            // The harness holds no long-lived streams; the spec lets a server refuse GET.
            write_response(&mut stream, &McpError::MethodNotAllowed.into_response());
            continue;
        }
        let mcp = McpRequest {
            method,
            session_id: request.header("mcp-session-id"),
            protocol_version: request.header("mcp-protocol-version"),
            accept: request.header("accept"),
            content_type: request.header("content-type"),
            body: &request.body,
        };
        match block_on(gateway.handle(mcp, &caller)) {
            McpReply::Full(response) => write_response(&mut stream, &response),
            McpReply::Stream { .. } => {
                write_response(&mut stream, &McpError::MethodNotAllowed.into_response())
            }
        }
    }
}

fn run_client(url: &str, token: &str, calls: &Value, mode: &str) -> Value {
    let deps = clients::setup();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/mcp_client.py");
    let output = clients::run_bounded(
        Command::new(deps.join("venv/bin/python"))
            .arg(script)
            .arg(url)
            .arg(token)
            .arg(calls.to_string())
            .arg(mode),
        Duration::from_secs(120),
    );
    assert!(
        output.status.success(),
        "mcp_client.py failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("no JSON ({e}): {}", String::from_utf8_lossy(&output.stdout)))
}

/// Starts the SDK's stdio server behind a hub and the gateway behind the harness; returns the
/// `/mcp` URL (the threads live until the test process ends).
fn start() -> String {
    let deps = clients::setup();
    let toml = format!(
        "[[mcp_servers]]\nname = \"files\"\ncommand = \"{}\"\nargs = [\"{}\"]\ncall_timeout_ms = 3000\n",
        deps.join("venv/bin/python").display(),
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/clients/mcp_server_stdio.py")
            .display()
    );
    let config = Config::from_toml_str(&toml).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let hub = Hub::start(&config.mcp_servers).unwrap();
        assert!(hub.wait_for_tools(Duration::from_secs(60)));
        let gateway = McpGateway::new(0, hub.handle());
        let mut events = hub.handle().subscribe();
        while let Ok(event) = events.try_recv() {
            gateway.apply(event);
        }
        ready_tx.send(()).unwrap();
        serve(listener, gateway);
        drop(hub);
    });
    ready_rx
        .recv_timeout(Duration::from_secs(90))
        .expect("gateway ready");
    url
}

#[test]
fn the_official_sdk_client_lists_and_calls_through_the_gateway() {
    let url = start();
    let calls = json!([
        {"name": "files__echo", "arguments": {"text": "hi"}},
        {"name": "files__weather", "arguments": {"city": "Oslo"}},
        {"name": "files__fail", "arguments": {"reason": "because"}},
        {"name": "files__slow", "arguments": {"seconds": 30}},
        {"name": "files__echo", "arguments": {"text": "still here"}},
    ]);
    for mode in ["auto", "legacy"] {
        let alice = run_client(&url, "alice-key", &calls, mode);
        assert_eq!(alice["server_info"]["name"], "sluice", "{mode}");
        assert_eq!(
            alice["protocol_version"], "2025-11-25",
            "{mode}: the newest handshake version"
        );
        let tools = alice["tools"].as_array().unwrap();
        assert_eq!(tools.len(), 68, "{mode}: every tool");
        assert_eq!(alice["pages"], 2, "{mode}: the gateway pages its list");
        assert!(
            tools
                .iter()
                .all(|t| t.as_str().unwrap().starts_with("files__"))
        );
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
        assert!(timeout.contains("3000 ms"), "{mode}: {}", outcomes[3]);
        assert_eq!(
            outcomes[4]["content"][0]["text"], "echo: still here",
            "the session survives"
        );
    }
}

#[test]
fn each_key_sees_and_calls_only_its_tools() {
    let url = start();
    let calls = json!([
        {"name": "files__echo", "arguments": {"text": "ok"}},
        {"name": "files__weather", "arguments": {"city": "Oslo"}},
    ]);
    let bob = run_client(&url, "bob-key", &calls, "legacy");
    let mut tools: Vec<&str> = bob["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    tools.sort();
    let mut expected = vec!["files__echo".to_owned()];
    expected.extend((0..10).map(|i| format!("files__filler_{i:02}")));
    assert_eq!(tools, expected);
    assert_eq!(bob["pages"], 1);
    let outcomes = bob["calls"].as_array().unwrap();
    assert_eq!(outcomes[0]["content"][0]["text"], "echo: ok");
    let refused = outcomes[1]["error"].as_str().unwrap_or_default();
    assert!(refused.contains("not permitted"), "{}", outcomes[1]);
    let alice = run_client(&url, "alice-key", &json!([]), "legacy");
    assert_eq!(
        alice["tools"].as_array().unwrap().len(),
        68,
        "another key, another view"
    );
}
