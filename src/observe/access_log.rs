//! The access log: one JSON line per request, built on the shard and written by a background
//! thread (stderr or a file), so a slow disk never blocks a shard. The file is reopened on
//! request (SIGUSR1/SIGHUP, for logrotate): the writer thread reopens between two writes, so no
//! line is lost or split across the old and the new file.
//!
//! Under a steady stream of requests the writer lets lines gather for [`GATHER`] after each
//! write instead of being woken for every line: a wake-up per request cost the shard a futex
//! call and allocator-lock contention when the writer freed the lines (seen profiling `/mcp`
//! `tools/call`, BENCHMARKS.md). It gathers only when its previous wake-up was less than
//! [`BUSY`] before, so a lone request's line is written at once; a line waits at most about
//! [`GATHER`].

use std::io::Write;
use std::sync::mpsc;
use std::thread::Thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::record::RequestRecord;
use crate::config::AccessLogTarget;
use crate::error::GatewayError;
use crate::http::head::RequestHead;
use crate::json::{write_json_string, write_key, write_u64};

/// How long a busy writer lets lines gather after each write before it looks again.
pub const GATHER: Duration = Duration::from_millis(5);
/// Two wake-ups closer than this: lines are arriving steadily, let them gather.
pub const BUSY: Duration = Duration::from_millis(1);
/// How long [`AccessLogWriter::finish`] waits for the queued lines to be written (a stalled
/// stderr reader must not hold the exit forever).
pub const FINISH_WAIT: Duration = Duration::from_secs(5);

/// The writer thread's handle.
pub struct AccessLogWriter {
    tx: Option<mpsc::Sender<Vec<u8>>>,
    /// The writer thread, and what tells that it ended (its sender is dropped with it).
    thread: Option<(Thread, mpsc::Receiver<()>)>,
}

/// Asks the writer thread to reopen its file (cloned into the signal thread).
#[derive(Clone)]
pub struct AccessLogReopen {
    tx: Option<mpsc::Sender<Vec<u8>>>,
}

/// The message that asks the writer to reopen: an empty line (a real line is never empty).
/// It travels in the same channel as the lines, so every line recorded before the request is
/// written to the old file and every line after it to the new one.
const REOPEN: Vec<u8> = Vec::new();
/// The message that asks the writer to write what is queued before it and stop (a real line
/// ends with a newline, so it is never this).
const STOP: &[u8] = b"\0stop";

impl AccessLogReopen {
    /// Asks for the file to be reopened after the lines already queued are written.
    pub fn reopen(&self) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(REOPEN);
        }
    }
}

/// Where the writer thread writes, and how it reopens it.
enum Sink {
    Stderr(std::io::Stderr),
    File(std::path::PathBuf, std::fs::File),
}

impl Sink {
    fn open_file(path: &std::path::Path) -> std::io::Result<std::fs::File> {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
    }

    fn write(&mut self, bytes: &[u8]) {
        let _ = match self {
            Sink::Stderr(err) => err.write_all(bytes).and_then(|()| err.flush()),
            Sink::File(_, file) => file.write_all(bytes),
        };
    }

    /// Reopens the file by its path (a renamed file keeps its old name's lines); on failure
    /// the old file stays in use and the error goes to stderr.
    fn reopen(&mut self) {
        if let Sink::File(path, file) = self {
            match Sink::open_file(path) {
                Ok(fresh) => *file = fresh,
                Err(e) => eprintln!(
                    "sluice: cannot reopen the access log {}: {e}",
                    path.display()
                ),
            }
        }
    }
}

/// A shard's end of the access log channel (a no-op when the log is off).
#[derive(Clone)]
pub struct AccessLogSender {
    tx: Option<mpsc::Sender<Vec<u8>>>,
}

impl AccessLogWriter {
    /// Starts the writer thread for `target`.
    pub fn start(target: &AccessLogTarget) -> std::io::Result<Self> {
        let mut sink = match target {
            AccessLogTarget::Off => {
                return Ok(AccessLogWriter {
                    tx: None,
                    thread: None,
                });
            }
            AccessLogTarget::Stderr => Sink::Stderr(std::io::stderr()),
            AccessLogTarget::File(path) => Sink::File(path.clone(), Sink::open_file(path)?),
        };
        let (tx, rx) = mpsc::channel::<Vec<u8>>();
        let (ended_tx, ended) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("sluice-access-log".into())
            .spawn(move || {
                write_lines(&rx, &mut sink);
                drop(ended_tx);
            })?;
        Ok(AccessLogWriter {
            tx: Some(tx),
            thread: Some((thread.thread().clone(), ended)),
        })
    }

    /// The handle that asks for the file to be reopened.
    pub fn reopener(&self) -> AccessLogReopen {
        AccessLogReopen {
            tx: self.tx.clone(),
        }
    }

    pub fn sender(&self) -> AccessLogSender {
        AccessLogSender {
            tx: self.tx.clone(),
        }
    }

    /// Writes every line queued so far and stops the writer (call it once the shards are
    /// gone: a line recorded after it is dropped). Waits at most [`FINISH_WAIT`].
    pub fn finish(mut self) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(STOP.to_vec());
        }
        if let Some((thread, ended)) = self.thread.take() {
            thread.unpark();
            let _ = ended.recv_timeout(FINISH_WAIT);
        }
    }
}

/// The writer thread: waits for a line, writes everything queued by then in one write, and
/// when lines are arriving steadily lets the next ones gather for [`GATHER`] (cut short by
/// [`AccessLogWriter::finish`]).
fn write_lines(rx: &mpsc::Receiver<Vec<u8>>, sink: &mut Sink) {
    let mut batch = Vec::with_capacity(64 * 1024);
    let mut last_wake: Option<Instant> = None;
    while let Ok(first) = rx.recv() {
        let woke = Instant::now();
        let busy = last_wake.is_some_and(|last| woke.duration_since(last) < BUSY);
        last_wake = Some(woke);
        let mut next = Some(first);
        while let Some(line) = next.take() {
            if line == STOP {
                sink.write(&batch);
                return;
            }
            if line.is_empty() {
                // Everything queued before the reopen goes to the old file.
                sink.write(&batch);
                batch.clear();
                sink.reopen();
            } else {
                batch.extend_from_slice(&line);
            }
            next = rx.try_recv().ok();
        }
        sink.write(&batch);
        batch.clear();
        if busy {
            std::thread::park_timeout(GATHER);
        }
    }
    sink.write(&batch);
}

impl AccessLogSender {
    /// Writes the line for one finished request.
    pub fn record(
        &self,
        head: Option<&RequestHead>,
        ctx: &RequestRecord<'_>,
        provider: Option<&str>,
        error: Option<&GatewayError>,
    ) {
        let Some(tx) = &self.tx else {
            return;
        };
        let _ = tx.send(format_line(head, ctx, provider, error));
    }
}

impl AccessLogSender {
    /// Writes the audit log's head anchor (`{"ts_ms":..,"audit_head":{"seq":..,"hash":..}}`),
    /// so a copy of it exists outside the audit directory.
    pub fn record_audit_head(&self, seq: u64, hash: &str) {
        let Some(tx) = &self.tx else {
            return;
        };
        let _ = tx.send(format_audit_head(seq, hash));
    }
}

/// One MCP `tools/call`, as its own access-log line names it (the `/mcp` request carrying it
/// has its line too).
#[derive(Clone, Copy, Debug)]
pub struct McpCallLine<'a> {
    pub key_id: &'a str,
    pub server: &'a str,
    /// The tool's name on its server.
    pub tool: &'a str,
    /// `ok`, `tool_error`, `timeout`, `rate_limited` or `error`.
    pub outcome: &'static str,
    pub duration: std::time::Duration,
    /// The JSON-RPC error's message, when the call ended in one.
    pub error: Option<&'a str>,
}

impl AccessLogSender {
    /// Writes the line for one finished MCP tool call.
    pub fn record_mcp_call(&self, call: &McpCallLine<'_>) {
        let Some(tx) = &self.tx else {
            return;
        };
        let _ = tx.send(format_mcp_call(call));
    }
}

/// Formats an MCP call's line: `{"ts_ms":..,"mcp_call":{"key_id":..,"server":..,"tool":..,
/// "outcome":..,"duration_ms":..,"error":..}}` (with the trailing newline).
pub fn format_mcp_call(call: &McpCallLine<'_>) -> Vec<u8> {
    let mut out = line_start(256);
    write_key(&mut out, "mcp_call");
    out.push(b'{');
    for (key, value) in [
        ("key_id", call.key_id),
        ("server", call.server),
        ("tool", call.tool),
        ("outcome", call.outcome),
    ] {
        write_key(&mut out, key);
        write_json_string(&mut out, value);
        out.push(b',');
    }
    write_key(&mut out, "duration_ms");
    write_u64(&mut out, call.duration.as_millis() as u64);
    out.push(b',');
    write_key(&mut out, "error");
    write_opt_string(&mut out, call.error);
    out.extend_from_slice(b"}}\n");
    out
}

/// A line's opening: `{"ts_ms":<now>,`.
fn line_start(capacity: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(capacity);
    let ts_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    out.push(b'{');
    write_key(&mut out, "ts_ms");
    write_u64(&mut out, ts_ms);
    out.push(b',');
    out
}

/// Formats the audit head line (with the trailing newline).
pub fn format_audit_head(seq: u64, hash: &str) -> Vec<u8> {
    let mut out = line_start(160);
    write_key(&mut out, "audit_head");
    out.extend_from_slice(b"{");
    write_key(&mut out, "seq");
    write_u64(&mut out, seq);
    out.extend_from_slice(b",");
    write_key(&mut out, "hash");
    write_json_string(&mut out, hash);
    out.extend_from_slice(b"}}\n");
    out
}

/// Formats one access-log line (with the trailing newline).
pub fn format_line(
    head: Option<&RequestHead>,
    ctx: &RequestRecord<'_>,
    provider: Option<&str>,
    error: Option<&GatewayError>,
) -> Vec<u8> {
    let mut out = line_start(384);
    write_key(&mut out, "request_id");
    write_json_string(&mut out, ctx.request_id);
    out.push(b',');
    write_key(&mut out, "client_addr");
    write_client_addr(&mut out, ctx.client_addr);
    out.push(b',');
    write_key(&mut out, "method");
    write_json_string(&mut out, head.map_or("", |h| h.method()));
    out.push(b',');
    write_key(&mut out, "path");
    write_json_string(&mut out, head.map_or("", |h| h.path()));
    out.push(b',');
    write_key(&mut out, "status");
    write_u64(&mut out, u64::from(ctx.status));
    out.push(b',');
    write_key(&mut out, "upstream_status");
    match ctx.upstream_status {
        Some(s) => write_u64(&mut out, u64::from(s)),
        None => out.extend_from_slice(b"null"),
    }
    out.push(b',');
    write_key(&mut out, "key_id");
    write_opt_string(&mut out, ctx.key_id);
    out.push(b',');
    write_key(&mut out, "provider");
    write_opt_string(&mut out, provider);
    out.push(b',');
    write_key(&mut out, "model");
    write_opt_string(&mut out, ctx.model);
    out.push(b',');
    write_key(&mut out, "stream");
    out.extend_from_slice(if ctx.stream { b"true" } else { b"false" });
    let usage = ctx.summary.map(|s| &s.usage);
    for (key, value) in [
        ("input_tokens", usage.map(|u| u.input_tokens)),
        ("output_tokens", usage.map(|u| u.output_tokens)),
        (
            "cache_read_tokens",
            usage.map(|u| u.cache_read_input_tokens),
        ),
        (
            "cache_creation_tokens",
            usage.map(|u| u.cache_creation_input_tokens),
        ),
    ] {
        out.push(b',');
        write_key(&mut out, key);
        write_u64(&mut out, value.unwrap_or(0));
    }
    out.push(b',');
    write_key(&mut out, "cost_usd");
    match ctx.cost_pico {
        Some(pico) => out.extend_from_slice(crate::governance::format_usd(pico).as_bytes()),
        None => out.extend_from_slice(b"null"),
    }
    out.push(b',');
    write_key(&mut out, "rejected");
    write_opt_string(&mut out, ctx.rejection);
    out.push(b',');
    write_key(&mut out, "stop_reason");
    write_opt_string(&mut out, ctx.summary.and_then(|s| s.stop_reason.as_deref()));
    out.push(b',');
    write_key(&mut out, "tool_calls");
    write_u64(
        &mut out,
        ctx.summary.map_or(0, |s| s.tool_calls.len() as u64),
    );
    out.push(b',');
    write_key(&mut out, "duration_us");
    write_u64(&mut out, ctx.started.elapsed().as_micros() as u64);
    out.push(b',');
    write_key(&mut out, "overhead_us");
    write_u64(&mut out, ctx.overhead.as_micros() as u64);
    out.push(b',');
    write_key(&mut out, "upstream_ttfb_us");
    match ctx.upstream_ttfb {
        Some(d) => write_u64(&mut out, d.as_micros() as u64),
        None => out.extend_from_slice(b"null"),
    }
    if !ctx.attempts.is_empty() {
        out.push(b',');
        write_attempts(&mut out, ctx.attempts);
    }
    out.push(b',');
    write_key(&mut out, "client_gone");
    out.extend_from_slice(if ctx.client_gone { b"true" } else { b"false" });
    out.push(b',');
    write_key(&mut out, "error");
    write_opt_string(&mut out, error.map(|e| e.message.as_ref()));
    out.extend_from_slice(b"}\n");
    out
}

/// `"127.0.0.1:50000"` or `null`, written in place (no allocation).
fn write_client_addr(out: &mut Vec<u8>, addr: Option<std::net::SocketAddr>) {
    use std::io::Write as _;
    match addr {
        // An address formats to digits, dots, colons and brackets: nothing to escape.
        Some(addr) => {
            let _ = write!(out, "\"{addr}\"");
        }
        None => out.extend_from_slice(b"null"),
    }
}

fn write_opt_string(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        Some(s) => write_json_string(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// `"attempts":[{"provider":..,"key":..,"status":..|"error":..,"ms":..},...]`.
fn write_attempts(out: &mut Vec<u8>, attempts: &[crate::observe::record::AttemptLine<'_>]) {
    write_key(out, "attempts");
    out.push(b'[');
    for (i, a) in attempts.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'{');
        write_key(out, "provider");
        write_json_string(out, a.provider);
        out.push(b',');
        write_key(out, "key");
        write_opt_string(out, a.key);
        out.push(b',');
        match (a.status, a.error) {
            (Some(status), _) => {
                write_key(out, "status");
                write_u64(out, u64::from(status));
            }
            (None, error) => {
                write_key(out, "error");
                write_opt_string(out, error);
            }
        }
        out.push(b',');
        write_key(out, "ms");
        write_u64(out, a.ms);
        out.push(b'}');
    }
    out.push(b']');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::observe::request_id::RequestId;

    #[test]
    fn finish_writes_every_line_of_a_burst_that_is_still_gathering() {
        let dir = std::env::temp_dir().join(format!("sluice-access-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("access.log");
        let writer = AccessLogWriter::start(&AccessLogTarget::File(path.clone())).unwrap();
        let sender = writer.sender();
        // A burst makes the writer gather; `finish` must not leave the tail of it queued.
        for i in 0..2000 {
            sender.record_audit_head(i, "h");
        }
        drop(sender);
        writer.finish();
        let written = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(written.lines().count(), 2000);
        assert!(
            written.ends_with("\"seq\":1999,\"hash\":\"h\"}}\n"),
            "{written}"
        );
    }

    #[test]
    fn the_audit_head_line_is_one_json_object() {
        let line = format_audit_head(41, "ab12");
        assert!(line.ends_with(b"}\n"));
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["audit_head"]["seq"], 41);
        assert_eq!(v["audit_head"]["hash"], "ab12");
        assert!(v["ts_ms"].as_u64().unwrap() > 0);
    }

    #[test]
    fn an_mcp_call_line_names_its_server_and_tool() {
        let line = format_mcp_call(&McpCallLine {
            key_id: "alice",
            server: "git\"hub",
            tool: "create_issue",
            outcome: "error",
            duration: std::time::Duration::from_millis(12),
            error: Some("line\nbreak"),
        });
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        let call = &v["mcp_call"];
        assert_eq!(call["key_id"], "alice");
        assert_eq!(call["server"], "git\"hub");
        assert_eq!(call["tool"], "create_issue");
        assert_eq!(call["outcome"], "error");
        assert_eq!(call["duration_ms"], 12);
        assert_eq!(call["error"], "line\nbreak");
    }

    #[test]
    fn a_line_is_one_json_object() {
        let id = RequestId::new(1, 0, 7);
        let mut ctx = RequestRecord::new(id.as_str());
        ctx.status = 502;
        ctx.model = Some("claude-\"x\"");
        let err = GatewayError::new(ErrorKind::UpstreamUnreachable, "refused");
        let line = format_line(None, &ctx, Some("anthropic"), Some(&err));
        assert_eq!(line.last(), Some(&b'\n'));
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["request_id"], "req_sl1_0_7");
        assert_eq!(v["provider"], "anthropic");
        assert_eq!(v["status"], 502);
        assert_eq!(v["model"], "claude-\"x\"");
        assert_eq!(v["error"], "refused");
        assert_eq!(v["upstream_status"], serde_json::Value::Null);
    }
}
