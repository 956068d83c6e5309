//! The mock MCP server binary over loopback: the handshake, tools/list and an echo tools/call on
//! one keep-alive connection, in JSON and in SSE mode, read back with the harness's own parsers.

mod support;

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

struct Mock(Child, String);

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(extra: &[&str]) -> Mock {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice-mock-mcp"))
        .args(["--tools", "4"])
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.trim().strip_prefix("listening ").unwrap().to_owned();
    Mock(child, addr)
}

/// Sends one POST to `/mcp` and reads its whole response: (status, head text, body).
fn post(stream: &mut TcpStream, body: &str) -> (u16, String, Vec<u8>) {
    support::post(stream, "/mcp", body)
}

fn json_of(body: &[u8], sse: bool) -> Value {
    let text = std::str::from_utf8(body).unwrap();
    let data = if sse {
        text.lines().find_map(|l| l.strip_prefix("data: ")).unwrap()
    } else {
        text
    };
    serde_json::from_str(data).unwrap()
}

fn session(sse: bool) {
    let mock = start(if sse { &["--sse"] } else { &[] });
    let mut stream = TcpStream::connect(&mock.1).unwrap();
    let (status, head, body) = post(
        &mut stream,
        r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{}}}"#,
    );
    assert_eq!(status, 200);
    assert!(head.contains("Mcp-Session-Id: "), "{head}");
    assert_eq!(
        json_of(&body, sse)["result"]["protocolVersion"],
        "2025-06-18"
    );
    let (status, _, _) = post(
        &mut stream,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    );
    assert_eq!(status, 202);
    let (_, _, body) = post(
        &mut stream,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
    );
    assert_eq!(
        json_of(&body, sse)["result"]["tools"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    let (_, head, body) = post(
        &mut stream,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}"#,
    );
    assert!(head.contains(if sse {
        "text/event-stream"
    } else {
        "application/json"
    }));
    let value = json_of(&body, sse);
    assert_eq!(value["id"], 2);
    assert_eq!(value["result"]["content"][0]["text"], "hello");
}

#[test]
fn json_session_over_loopback() {
    session(false);
}

#[test]
fn sse_session_over_loopback() {
    session(true);
}
