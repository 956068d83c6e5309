//! Failover time: the real sluice binary in front of a primary that answers 529 and a backup
//! that answers 200, against the same binary routed straight to the backup (the baseline, same
//! run). Prints the median and p99 of the client-observed latency of both and the difference,
//! plus sluice's own `sluice_failover_seconds` (first failure to the fallback's head).
//!
//! `cargo bench --bench failover` (sequential requests on keep-alive connections).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Requests measured per case (after the warm-up).
const REQUESTS: usize = 2_000;
/// Requests sent first and not measured.
const WARMUP: usize = 200;

const BODY: &str =
    r#"{"model":"claude-bench","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}"#;
const OK: &str = r#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-bench","content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":1}}"#;
const OVERLOADED: &str =
    r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;

/// A keep-alive mock answering every request with `status` and `body`.
fn mock(status: u16, body: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve(stream, status, body));
        }
    });
    addr
}

fn serve(stream: TcpStream, status: u16, body: &str) {
    let _ = stream.set_nodelay(true);
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let response = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    while let Some(len) = read_request(&mut reader) {
        let mut sink = vec![0; len];
        if reader.read_exact(&mut sink).is_err() || writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// Reads a request head; returns its Content-Length (None at end of stream).
fn read_request(reader: &mut impl BufRead) -> Option<usize> {
    let mut len = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            return Some(len);
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            len = value.trim().parse().ok()?;
        }
    }
}

struct Sluice {
    child: Child,
    addr: SocketAddr,
    admin: SocketAddr,
    _dir: std::path::PathBuf,
}

impl Drop for Sluice {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self._dir);
    }
}

fn start(name: &str, targets: &str, providers: &[(&str, SocketAddr)]) -> Sluice {
    let dir = std::env::temp_dir().join(format!(
        "sluice-bench-failover-{name}-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let mut toml = String::from(
        "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\ncores = 1\naccess_log = \"off\"\n",
    );
    for (provider, addr) in providers {
        toml.push_str(&format!(
            "[[providers]]\nname = \"{provider}\"\nkind = \"anthropic\"\nbase_url = \"http://{addr}\"\n\
             keys = [{{ secret = \"sk-{provider}\" }}]\n"
        ));
    }
    toml.push_str(&format!(
        "[[routes]]\nmatch = \"claude-*\"\ntargets = {targets}\n[routing]\nbreaker_failures = 1000000000\n"
    ));
    let path = dir.join("sluice.toml");
    std::fs::write(&path, toml).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("serve")
        .arg("--config")
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let (addr, admin) = parse_listening(&line).unwrap_or_else(|| panic!("unexpected: {line}"));
    Sluice {
        child,
        addr,
        admin,
        _dir: dir,
    }
}

/// Finds the data and admin addresses in sluice's "listening" line.
fn parse_listening(line: &str) -> Option<(SocketAddr, SocketAddr)> {
    let addrs: Vec<SocketAddr> = line
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter_map(|w| w.parse().ok())
        .collect();
    Some((*addrs.first()?, *addrs.get(1)?))
}

/// Client-observed latencies of `n` sequential requests on one keep-alive connection.
fn run(addr: SocketAddr, n: usize) -> Vec<Duration> {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let request = format!(
        "POST /v1/messages HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\n\
         anthropic-version: 2023-06-01\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let mut took = Vec::with_capacity(n);
    for _ in 0..n {
        let t0 = Instant::now();
        writer.write_all(request.as_bytes()).unwrap();
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        assert!(status.contains(" 200 "), "{status}");
        let len = read_request(&mut reader).unwrap();
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        took.push(t0.elapsed());
    }
    took
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn measure(sluice: &Sluice) -> (Duration, Duration) {
    run(sluice.addr, WARMUP);
    let mut took = run(sluice.addr, REQUESTS);
    took.sort();
    (percentile(&took, 0.5), percentile(&took, 0.99))
}

fn scrape(admin: SocketAddr, metric: &str) -> Option<f64> {
    let mut stream = TcpStream::connect(admin).ok()?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nhost: bench\r\nconnection: close\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let line = text.lines().find(|l| l.starts_with(metric))?;
    line.rsplit(' ').next()?.parse().ok()
}

fn main() {
    let primary = mock(529, OVERLOADED);
    let backup = mock(200, OK);
    let baseline = start("baseline", "[\"backup\"]", &[("backup", backup)]);
    let failover = start(
        "failover",
        "[\"primary\", \"backup\"]",
        &[("primary", primary), ("backup", backup)],
    );
    let (base_p50, base_p99) = measure(&baseline);
    let (fail_p50, fail_p99) = measure(&failover);
    let sum = scrape(failover.admin, "sluice_failover_seconds_sum").unwrap_or(f64::NAN);
    let count = scrape(failover.admin, "sluice_failover_seconds_count").unwrap_or(f64::NAN);
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!("requests per case: {REQUESTS} (after {WARMUP} warm-up), sequential, one connection");
    println!(
        "baseline (route: backup only)      p50 {:8.1} us  p99 {:8.1} us",
        us(base_p50),
        us(base_p99)
    );
    println!(
        "failover (primary 529 -> backup)   p50 {:8.1} us  p99 {:8.1} us",
        us(fail_p50),
        us(fail_p99)
    );
    println!(
        "added by failover                  p50 {:8.1} us  p99 {:8.1} us",
        us(fail_p50) - us(base_p50),
        us(fail_p99) - us(base_p99)
    );
    println!(
        "sluice_failover_seconds mean (first failure -> fallback head): {:.1} us over {count} requests",
        sum / count * 1e6
    );
}
