//! `sluice-mcp-overhead`: what sluice adds to an MCP `tools/call`. Starts `sluice-mock-mcp`
//! and sluice (one shard, the mock as its `[[mcp_servers]]`), then runs bounded loops of
//! sequential calls on one keep-alive connection each, directly to the mock and through
//! sluice's `/mcp`, interleaved in rounds so both see the same machine load; prints the
//! p50/p90/p99 of each and the difference of the p50s. The client is a minimal blocking
//! HTTP/1.1 loop, so its own cost (the same on both sides) stays a few microseconds.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use clap::Parser;

const KEY: &str = "sk-bench-mcp";
const VERSION: &str = "2025-11-25";

#[derive(Debug, Parser)]
#[command(name = "sluice-mcp-overhead")]
struct Args {
    /// The sluice binary.
    sluice: PathBuf,
    /// The sluice-mock-mcp binary.
    mock: PathBuf,
    /// Calls per side per round.
    #[arg(long, default_value_t = 5000)]
    calls: usize,
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// sluice's `server.spin_before_park_us` (0: its default, the shard sleeps at once).
    #[arg(long, default_value_t = 0)]
    spin_before_park_us: u64,
}

/// A child process killed on drop, and the address it printed (`listening ADDR`).
struct Started(Child, String);

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(command: &mut Command) -> Started {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start a child");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("its first line");
    let addr = line
        .split_whitespace()
        .nth(1)
        .expect("an address")
        .to_owned();
    Started(child, addr)
}

/// One keep-alive connection and the headers every call sends.
struct Conn {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
    headers: String,
}

impl Conn {
    fn open(addr: &str, authorization: Option<&str>) -> Conn {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut headers = format!(
            "host: {addr}\r\ncontent-type: application/json\r\naccept: application/json, text/event-stream\r\n"
        );
        if let Some(key) = authorization {
            headers.push_str(&format!("authorization: Bearer {key}\r\n"));
        }
        let mut conn = Conn {
            stream,
            reader,
            headers,
        };
        let init = format!(
            r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":"{VERSION}","capabilities":{{}},"clientInfo":{{"name":"bench","version":"1"}}}}}}"#
        );
        let (_, session, _) = conn.post(&init);
        if let Some(session) = session {
            conn.headers
                .push_str(&format!("mcp-session-id: {session}\r\n"));
        }
        conn.headers
            .push_str(&format!("mcp-protocol-version: {VERSION}\r\n"));
        conn.post(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        conn
    }

    /// One POST; (status, session id, body).
    fn post(&mut self, body: &str) -> (u16, Option<String>, Vec<u8>) {
        let request = format!(
            "POST /mcp HTTP/1.1\r\n{}content-length: {}\r\n\r\n{body}",
            self.headers,
            body.len()
        );
        self.stream.write_all(request.as_bytes()).expect("write");
        let mut status_line = String::new();
        self.reader.read_line(&mut status_line).expect("status");
        let status = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let (mut length, mut session) = (0usize, None);
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).expect("header");
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap_or(0),
                    "mcp-session-id" => session = Some(value.trim().to_owned()),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body).expect("body");
        (status, session, body)
    }

    /// `calls` sequential echo calls; each one's time in µs.
    fn run(&mut self, tool: &str, calls: usize) -> Vec<f64> {
        let mut samples = Vec::with_capacity(calls);
        for i in 0..calls {
            let body = format!(
                r#"{{"jsonrpc":"2.0","id":{},"method":"tools/call","params":{{"name":"{tool}","arguments":{{"text":"hello"}}}}}}"#,
                i + 1
            );
            let started = Instant::now();
            let (status, _, answer) = self.post(&body);
            samples.push(started.elapsed().as_secs_f64() * 1e6);
            if status != 200 || !answer.windows(8).any(|w| w == b"\"result\"") {
                panic!("{tool}: {status} {}", String::from_utf8_lossy(&answer));
            }
        }
        samples
    }
}

fn pct(samples: &[f64], p: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn main() {
    let mut args = Args::parse();
    for path in [&mut args.sluice, &mut args.mock] {
        *path = std::fs::canonicalize(&*path).expect("the binaries exist");
    }
    let mock = start(Command::new(&args.mock).args(["--listen", "127.0.0.1:0"]));
    let work = std::env::temp_dir().join(format!("sluice-mcp-overhead-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("work dir");
    let config = work.join("sluice.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\ncores = 1\n\
             spin_before_park_us = {}\n\n\
             [[providers]]\nname = \"anthropic\"\nkind = \"anthropic\"\nbase_url = \"http://127.0.0.1:9\"\n\n\
             [governance]\nstate_dir = \"{}\"\n\n[[teams]]\nid = \"bench\"\n\n\
             [[virtual_keys]]\nid = \"bench\"\nsecret = \"{KEY}\"\nteam = \"bench\"\nmcp_tools = [\"mock__*\"]\n\n\
             [[mcp_servers]]\nname = \"mock\"\nurl = \"http://{}/mcp\"\n",
            args.spin_before_park_us,
            work.join("state").display(),
            mock.1
        ),
    )
    .expect("config");
    let sluice = start(
        Command::new(&args.sluice)
            .args(["serve", "--config"])
            .arg(&config)
            .current_dir(&work),
    );
    let mut direct = Conn::open(&mock.1, None);
    let mut through = Conn::open(&sluice.1, Some(KEY));
    direct.run("echo", 500); // warm-up
    through.run("mock__echo", 500);
    let (mut all_direct, mut all_through) = (Vec::new(), Vec::new());
    for round in 0..args.rounds {
        let d = direct.run("echo", args.calls);
        let t = through.run("mock__echo", args.calls);
        println!(
            "round {round}: direct p50 {:.1} µs, through sluice p50 {:.1} µs, added {:.1} µs",
            pct(&d, 0.5),
            pct(&t, 0.5),
            pct(&t, 0.5) - pct(&d, 0.5)
        );
        all_direct.extend(d);
        all_through.extend(t);
    }
    for (name, s) in [("direct", &all_direct), ("through sluice", &all_through)] {
        println!(
            "{name}: n={} p50 {:.1} µs p90 {:.1} µs p99 {:.1} µs",
            s.len(),
            pct(s, 0.5),
            pct(s, 0.9),
            pct(s, 0.99)
        );
    }
    println!(
        "added p50: {:.1} µs",
        pct(&all_through, 0.5) - pct(&all_direct, 0.5)
    );
    drop(sluice);
    let _ = std::fs::remove_dir_all(&work);
}
