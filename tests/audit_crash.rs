//! `kill -9` of the gateway under load, with the audit log on: the log still verifies (a torn
//! last line is only a warning), the restarted gateway continues the same chain, and the
//! records acknowledged to clients but missing afterwards (the loss window) are counted.

mod support;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use support::audit::{assert_verifies, audit_records, audit_toml};
use support::gateway::config_toml;
use support::governance::signal;
use support::http_client::request_bytes;
use support::{EVENTUALLY, Gateway, MockUpstream, TempDir, fixtures};

/// Client threads sending requests until the kill.
const LOADERS: usize = 4;
/// How long the load runs before the kill.
const LOAD_BEFORE_KILL: Duration = Duration::from_millis(1_500);

/// A request whose last user turn returns tool result `id`: its audit record names `id`.
fn marked_body(id: &str) -> String {
    serde_json::json!({
        "model": fixtures::MODEL,
        "max_tokens": 16,
        "messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": id, "name": "Bash", "input": {"command": "true"}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": id, "content": "ok"}
            ]}
        ]
    })
    .to_string()
}

/// One request on a new connection; whether a complete 200 came back.
fn acked(addr: SocketAddr, id: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let body = marked_body(id);
    let bytes = request_bytes(
        "POST",
        "/v1/messages",
        &[
            ("content-type", "application/json"),
            ("x-api-key", "k"),
            ("Connection", "close"),
        ],
        body.as_bytes(),
    );
    if stream.write_all(&bytes).is_err() {
        return false;
    }
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    text.starts_with("HTTP/1.1 200") && text.trim_end().ends_with('}')
}

fn tool_result_ids(records: &[serde_json::Value]) -> HashSet<String> {
    records
        .iter()
        .flat_map(|r| r["tool_results"].as_array().into_iter().flatten())
        .filter_map(|t| t["tool_use_id"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn kill_9_under_load_keeps_a_verifiable_chain_that_continues() {
    let mock = MockUpstream::start(fixtures::anthropic_handler);
    let state = TempDir::new("audit-crash");
    let audit_dir = state.join("audit");
    let mut toml = config_toml(&mock.base_url(), None, &[]);
    toml.push_str(&audit_toml(&audit_dir, "\"100ms\""));
    let gateway = Gateway::start_config(&toml);
    let addr = gateway.addr;

    let stop = AtomicBool::new(false);
    let next = AtomicU64::new(0);
    let acknowledged: Mutex<Vec<String>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..LOADERS {
            scope.spawn(|| {
                while !stop.load(Ordering::SeqCst) {
                    let id = format!("toolu_load_{}", next.fetch_add(1, Ordering::SeqCst));
                    if acked(addr, &id) {
                        acknowledged.lock().unwrap().push(id);
                    }
                }
            });
        }
        std::thread::sleep(LOAD_BEFORE_KILL);
        signal(&gateway, libc::SIGKILL);
        stop.store(true, Ordering::SeqCst);
    });
    drop(gateway);
    let acknowledged = acknowledged.into_inner().unwrap();
    assert!(
        acknowledged.len() >= 10,
        "too little load: {}",
        acknowledged.len()
    );

    // The crashed log verifies (a torn tail is a warning, not a failure).
    let report = assert_verifies(&audit_dir);
    let before = audit_records(&audit_dir);
    let last_seq = before
        .iter()
        .filter_map(|r| r["seq"].as_u64())
        .max()
        .unwrap();
    let recorded = tool_result_ids(&before);
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !recorded.contains(*id))
        .collect();
    eprintln!(
        "kill -9 loss window: {} of {} acknowledged requests missing from the audit log \
         (fsync 100ms); verify said: {}",
        lost.len(),
        acknowledged.len(),
        report.trim()
    );

    // Restart: the chain continues after the last whole record.
    let mut gateway = Gateway::start_config(&toml);
    assert!(acked(gateway.addr, "toolu_after_restart"));
    gateway.sigterm();
    assert!(gateway.wait_exit(EVENTUALLY).is_some());
    assert_verifies(&audit_dir);
    let after = audit_records(&audit_dir);
    let resumed = after
        .iter()
        .find(|r| r["tool_results"][0]["tool_use_id"] == "toolu_after_restart")
        .expect("the request after the restart is recorded");
    assert!(resumed["seq"].as_u64().unwrap() > last_seq);
    let seqs: Vec<u64> = after.iter().filter_map(|r| r["seq"].as_u64()).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "one unbroken sequence across the crash"
    );
}
