//! Runs the real `sluice` binary on port 0 with a config written for the test, reads its
//! "listening" line, keeps its stderr in a file, and kills it on drop.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{RawClient, TempDir};

/// How long the binary may take to print its listening line.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// `[server]` settings every test starts from; overrides replace them by key.
const SERVER_DEFAULTS: [(&str, &str); 9] = [
    ("listen", "\"127.0.0.1:0\""),
    ("admin_listen", "\"127.0.0.1:0\""),
    ("cores", "2"),
    ("max_body_bytes", "33554432"),
    ("header_read_timeout_ms", "10000"),
    ("idle_timeout_ms", "60000"),
    ("stream_ping_ms", "10000"),
    ("upstream_connect_timeout_ms", "5000"),
    ("upstream_read_timeout_ms", "600000"),
];

/// A running gateway.
pub struct Gateway {
    child: Child,
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub shards: u32,
    stderr_path: PathBuf,
    pub config_path: PathBuf,
    _dir: TempDir,
}

/// Builds the config TOML for one Anthropic provider at `upstream`.
pub fn config_toml(upstream: &str, ca_file: Option<&Path>, overrides: &[(&str, &str)]) -> String {
    let mut toml = String::from("[server]\n");
    for (key, default) in SERVER_DEFAULTS {
        let value = overrides
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
            .unwrap_or(default);
        toml.push_str(&format!("{key} = {value}\n"));
    }
    for (key, value) in overrides {
        if !SERVER_DEFAULTS.iter().any(|(k, _)| k == key) {
            toml.push_str(&format!("{key} = {value}\n"));
        }
    }
    toml.push_str(&format!(
        "\n[[providers]]\nname = \"anthropic\"\nkind = \"anthropic\"\nbase_url = \"{upstream}\"\n"
    ));
    if let Some(ca) = ca_file {
        toml.push_str(&format!("ca_file = \"{}\"\n", ca.display()));
    }
    toml
}

impl Gateway {
    /// Starts sluice in front of `upstream` with `[server]` overrides (`key`, TOML value).
    pub fn start(upstream: &str, ca_file: Option<&Path>, overrides: &[(&str, &str)]) -> Gateway {
        Gateway::start_config(&config_toml(upstream, ca_file, overrides))
    }

    /// Starts sluice with this exact config file content.
    pub fn start_config(toml: &str) -> Gateway {
        Gateway::start_config_env(toml, &[])
    }

    /// Starts sluice with this config and these environment variables; the proxy variables
    /// of the test's own environment are never passed on.
    pub fn start_config_env(toml: &str, env: &[(&str, &str)]) -> Gateway {
        let dir = TempDir::new("gateway");
        let config_path = dir.join("sluice.toml");
        std::fs::write(&config_path, toml).unwrap();
        let stderr_path = dir.join("stderr.log");
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let binary = gateway_binary();
        // Run inside the temp dir, so the default `./sluice-data` ledger is this gateway's own.
        let mut child = Command::new(&binary)
            .current_dir(dir.path())
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .env_remove("HTTPS_PROXY")
            .env_remove("https_proxy")
            .env_remove("HTTP_PROXY")
            .env_remove("http_proxy")
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
        let stdout = child.stdout.take().unwrap();
        let (lines_tx, lines_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let line = match lines_rx.recv_timeout(STARTUP_TIMEOUT) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                panic!(
                    "sluice printed no listening line within {STARTUP_TIMEOUT:?} (exit: {status:?})\n\
                     config:\n{toml}\nstderr:\n{}",
                    std::fs::read_to_string(&stderr_path).unwrap_or_default()
                );
            }
        };
        // Keep draining stdout so the gateway never blocks on a full pipe.
        std::thread::spawn(move || while lines_rx.recv().is_ok() {});
        let (addr, admin, shards) = parse_listening_line(&line)
            .unwrap_or_else(|| panic!("unexpected first stdout line from sluice: {line:?}"));
        Gateway {
            child,
            addr,
            admin,
            shards,
            stderr_path,
            config_path,
            _dir: dir,
        }
    }

    pub fn client(&self) -> RawClient {
        RawClient::connect(self.addr)
    }

    pub fn admin_client(&self) -> RawClient {
        RawClient::connect(self.admin)
    }

    /// Everything sluice wrote to stderr so far (logs, access log lines).
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// The access-log lines (JSON objects) on stderr so far, once the log writer has caught
    /// up: it writes on its own thread, gathering lines for up to 5 ms under steady load, so
    /// this reads until two reads 25 ms apart agree (for at most 2 s).
    pub fn access_log(&self) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut seen = self.access_log_now();
        loop {
            std::thread::sleep(Duration::from_millis(25));
            let now = self.access_log_now();
            if now.len() == seen.len() || Instant::now() > deadline {
                return now;
            }
            seen = now;
        }
    }

    /// The access-log lines on stderr at this instant.
    fn access_log_now(&self) -> Vec<serde_json::Value> {
        self.stderr()
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|v| v.get("request_id").is_some() && v.get("status").is_some())
            .collect()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn sigterm(&self) {
        self.signal(libc::SIGTERM);
    }

    /// Sends `signal` (SIGHUP, SIGUSR1, ...) to the gateway.
    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: sending a signal to our own child process by its pid.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
        assert_eq!(rc, 0, "kill({signal}) failed");
    }

    /// Waits (bounded) for the process to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = self.stderr();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!("---- sluice stderr (last {} lines) ----", tail.len());
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

/// The binary under test: `$SLUICE_BIN` when set (e.g. a release build), else Cargo's build.
pub fn gateway_binary() -> PathBuf {
    std::env::var_os("SLUICE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_sluice")))
}

/// Parses `listening 127.0.0.1:PORT admin 127.0.0.1:APORT shards N`.
pub fn parse_listening_line(line: &str) -> Option<(SocketAddr, SocketAddr, u32)> {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["listening", addr, "admin", admin, "shards", shards] => Some((
            addr.parse().ok()?,
            admin.parse().ok()?,
            shards.parse().ok()?,
        )),
        _ => None,
    }
}

/// A loopback address where nothing listens (bound, then released).
pub fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}
