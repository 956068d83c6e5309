//! The stdio transport: an MCP server as a child process speaking newline-delimited JSON-RPC on
//! stdin/stdout, read by helper threads; its stderr lines go to sluice's log.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::thread;

use serde_json::Value;

use super::transport::{EventSink, Outgoing, Transport, TransportEvent};
use crate::config::Secret;
use crate::mcp::MAX_RESULT_BYTES;
use crate::mcp::jsonrpc::{Line, LineFramer, MAX_LINE_BYTES, peek_numeric_id};

/// A child-process MCP server.
pub struct StdioTransport {
    server: String,
    command: String,
    args: Vec<String>,
    env: Vec<(String, Secret)>,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
}

impl StdioTransport {
    pub fn new(
        server: &str,
        command: &str,
        args: &[String],
        env: &[(String, Secret)],
    ) -> StdioTransport {
        StdioTransport {
            server: server.to_owned(),
            command: command.to_owned(),
            args: args.to_vec(),
            env: env.to_vec(),
            child: None,
            stdin: None,
        }
    }
}

impl Transport for StdioTransport {
    fn connect(&mut self, generation: u64, sink: EventSink) -> Result<(), String> {
        self.disconnect();
        let mut command = Command::new(&self.command);
        command
            .args(&self.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in &self.env {
            command.env(name, value.expose());
        }
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start `{}`: {e}", self.command))?;
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        self.stdin = child.stdin.take();
        self.child = Some(child);
        if let Some(stderr) = stderr {
            let server = self.server.clone();
            thread::Builder::new()
                .name(format!("mcp-{server}-stderr"))
                .spawn(move || {
                    for line in BufReader::new(stderr).lines() {
                        match line {
                            Ok(line) => eprintln!("sluice: mcp server {server}: {line}"),
                            Err(_) => break,
                        }
                    }
                })
                .map_err(|e| format!("cannot start a stderr reader: {e}"))?;
        }
        if let Some(stdout) = stdout {
            thread::Builder::new()
                .name(format!("mcp-{}-stdout", self.server))
                .spawn(move || read_stdout(stdout, generation, &sink))
                .map_err(|e| format!("cannot start a stdout reader: {e}"))?;
        }
        Ok(())
    }

    fn send(&mut self, message: Outgoing) -> Result<(), String> {
        let stdin = self.stdin.as_mut().ok_or("not connected")?;
        let mut line = message.bytes;
        line.push(b'\n');
        stdin
            .write_all(&line)
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("cannot write to the server's stdin: {e}"))
    }

    fn initialized(&mut self, _protocol_version: &str) {}

    fn disconnect(&mut self) {
        self.stdin = None;
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for StdioTransport {
    fn drop(&mut self) {
        self.disconnect();
    }
}

/// Reads the child's stdout until it closes, one message per line.
fn read_stdout(mut stdout: impl Read, generation: u64, sink: &EventSink) {
    let mut framer = LineFramer::new(MAX_LINE_BYTES);
    let mut buffer = vec![0u8; 64 * 1024];
    let reason = loop {
        let n = match stdout.read(&mut buffer) {
            Ok(0) => break "the server closed its stdout (exited)".to_owned(),
            Ok(n) => n,
            Err(e) => break format!("cannot read the server's stdout: {e}"),
        };
        framer.feed(&buffer[..n], |line| match line {
            Line::Complete(bytes) => match serde_json::from_slice::<Value>(bytes) {
                Ok(message) => sink(TransportEvent::Message {
                    generation,
                    message,
                }),
                Err(e) => eprintln!("sluice: mcp: a stdio server wrote a line that is not JSON: {e}"),
            },
            Line::Oversized { head, len } => match peek_numeric_id(head) {
                Some(id) => sink(TransportEvent::RequestFailed {
                    generation,
                    id,
                    error: format!(
                        "the MCP server's answer is {len} bytes, over the {MAX_RESULT_BYTES}-byte limit"
                    ),
                }),
                None => eprintln!("sluice: mcp: dropped a {len}-byte message from a stdio server"),
            },
        });
    };
    sink(TransportEvent::Closed { generation, reason });
}
