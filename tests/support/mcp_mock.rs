//! A Streamable HTTP MCP server in Rust for the tests of sluice's own (shard-side) tool calls:
//! keep-alive connections, sessions it can forget (as a restarted server would), tools that
//! echo, sleep or answer a body of an exact size, and a record of every message with the
//! connection it came on.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

/// One JSON-RPC message the mock received.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub id: Value,
    pub params: Value,
    pub session: Option<String>,
    /// Which TCP connection it came on (numbered from 1).
    pub connection: u64,
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    sessions: Vec<String>,
    issued: usize,
}

/// The running mock; its threads end with the test process.
pub struct McpMock {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl McpMock {
    pub fn start() -> McpMock {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        let connections = Arc::new(AtomicU64::new(0));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = Arc::clone(&shared);
                let n = connections.fetch_add(1, Ordering::Relaxed) + 1;
                std::thread::spawn(move || serve(stream, n, &state));
            }
        });
        McpMock { addr, state }
    }

    /// A `[[mcp_servers]]` entry named `name` for this mock.
    pub fn config(&self, name: &str, call_timeout_ms: u64) -> String {
        format!(
            "[[mcp_servers]]\nname = \"{name}\"\nurl = \"http://{}/mcp\"\nheaders = {{ Authorization = \"Bearer mock\" }}\ncall_timeout_ms = {call_timeout_ms}\n",
            self.addr
        )
    }

    /// Every message received so far.
    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// The messages received with this method.
    pub fn with_method(&self, method: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.method == method)
            .collect()
    }

    /// Forgets every session, as a restarted server would: their requests get 404.
    pub fn forget_sessions(&self) {
        self.state.lock().unwrap().sessions.clear();
    }
}

fn serve(stream: TcpStream, connection: u64, state: &Mutex<State>) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let method = line.split(' ').next().unwrap_or("").to_owned();
        let (mut length, mut session, mut authorized) = (0usize, None, false);
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            let (name, value) = header.split_once(':').unwrap_or((header, ""));
            let value = value.trim();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.parse().unwrap_or(0),
                "mcp-session-id" => session = Some(value.to_owned()),
                "authorization" => authorized = value == "Bearer mock",
                _ => {}
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let reply = answer(&method, &body, session, authorized, connection, state);
        if writer.write_all(&reply).is_err() {
            return;
        }
    }
}

fn answer(
    method: &str,
    body: &[u8],
    session: Option<String>,
    authorized: bool,
    connection: u64,
    state: &Mutex<State>,
) -> Vec<u8> {
    if !authorized {
        return response(401, None, b"");
    }
    match method {
        "POST" => {}
        "DELETE" => return response(200, None, b""),
        _ => return response(405, None, b""),
    }
    let message: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let rpc_method = message["method"].as_str().unwrap_or("").to_owned();
    let id = message.get("id").cloned().unwrap_or(Value::Null);
    let params = message.get("params").cloned().unwrap_or(Value::Null);
    let new_session = {
        let mut state = state.lock().unwrap();
        state.received.push(Received {
            method: rpc_method.clone(),
            id: id.clone(),
            params: params.clone(),
            session: session.clone(),
            connection,
        });
        if rpc_method == "initialize" {
            state.issued += 1;
            let id = format!("mock-session-{}", state.issued);
            state.sessions.push(id.clone());
            Some(id)
        } else {
            if !session.is_some_and(|s| state.sessions.contains(&s)) {
                return response(404, None, b"");
            }
            None
        }
    };
    if id.is_null() {
        return response(202, None, b""); // a notification
    }
    let result = match rpc_method.as_str() {
        "initialize" => json!({
            "protocolVersion": params["protocolVersion"],
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "mcp-mock", "version": "1"},
        }),
        "tools/list" => {
            let tools = ["echo", "slow", "sized"].map(|name| {
                json!({"name": name, "description": name, "inputSchema": {"type": "object"}})
            });
            json!({ "tools": tools })
        }
        "tools/call" => call(&params, &id),
        _ => json!({}),
    };
    let mut bytes = json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string();
    if let Some(size) = params["arguments"]["bytes"].as_u64() {
        // `sized`: the body padded (inside the text) to exactly `size` bytes.
        let missing = (size as usize).saturating_sub(bytes.len());
        bytes = bytes.replace("\"pad\"", &format!("\"{}\"", "x".repeat(missing + 3)));
    }
    response(200, new_session.as_deref(), bytes.as_bytes())
}

fn call(params: &Value, id: &Value) -> Value {
    let arguments = &params["arguments"];
    match params["name"].as_str().unwrap_or("") {
        "slow" => {
            let ms = arguments["ms"].as_u64().unwrap_or(0);
            std::thread::sleep(Duration::from_millis(ms));
            json!({"content": [{"type": "text", "text": "late"}]})
        }
        // The text is `pad` (3 bytes), replaced by padding to the size asked for.
        "sized" => json!({"content": [{"type": "text", "text": "pad"}]}),
        _ => {
            json!({"content": [{"type": "text", "text": format!("echo: {}", arguments["text"].as_str().unwrap_or(""))}],
                    "structuredContent": {"id": id}})
        }
    }
}

fn response(status: u16, session: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut head = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", body.len());
    if !body.is_empty() {
        head.push_str("content-type: application/json\r\n");
    }
    if let Some(session) = session {
        head.push_str(&format!("mcp-session-id: {session}\r\n"));
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    out
}
