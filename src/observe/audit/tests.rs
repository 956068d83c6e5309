//! Writer tests: the round trip through the writer thread, rotation, torn-tail repair,
//! refusal to continue a cut log, and that no secret reaches a record.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::*;
use crate::config::{AuditConfig, FsyncPolicy, ToolResultsMode};

static NEXT_DIR: AtomicU64 = AtomicU64::new(0);

/// A fresh directory removed on drop.
pub(super) struct TempDir(pub PathBuf);

impl TempDir {
    pub(super) fn new(name: &str) -> TempDir {
        let n = NEXT_DIR.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("sluice-audit-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(super) fn config(dir: &Path) -> AuditConfig {
    let mut config = AuditConfig::with_defaults(dir);
    config.dir = dir.to_path_buf();
    config.fsync = FsyncPolicy::Always;
    config
}

pub(super) const BODY: &str = r#"{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"run ls"},{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"Bash","input":{"command":"ls"}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"Cargo.toml\nsrc\n"}]}]}"#;

pub(super) fn request(n: u64) -> RequestRecord {
    RequestRecord {
        time: UnixMillis(1_780_000_000_000 + n * 1_000),
        request_id: format!("req-{n}"),
        key_id: Some(if n.is_multiple_of(2) { "alice" } else { "bob" }.to_owned()),
        team: Some("platform".into()),
        customer: None,
        client_addr: Some("127.0.0.1:50000".into()),
        method: "POST".into(),
        path: "/v1/messages".into(),
        provider: Some("anthropic".into()),
        model_requested: Some("claude-sonnet-4-5".into()),
        model_served: Some("claude-sonnet-4-5-20250929".into()),
        attempts: vec![AttemptRecord {
            provider: "anthropic".into(),
            status: Some(200),
            error: None,
        }],
        status: 200,
        tokens: TokenRecord {
            input: 10,
            output: 20,
            cache_read: 0,
            cache_write: 0,
        },
        cost_pico_usd: 330_000_000,
        latency_ms: 1200,
        ttft_ms: Some(300),
        stop_reason: Some("tool_use".into()),
        ..RequestRecord::default()
    }
}

pub(super) fn bash_call() -> ToolCallRecord {
    ToolCallRecord {
        id: "toolu_2".into(),
        name: "Bash".into(),
        input_json: r#"{"command": "cat Cargo.toml"}"#.into(),
    }
}

/// Writes `n` request records (and closes the log).
pub(super) fn write_log(cfg: &AuditConfig, n: u64) {
    let log = AuditLog::open(cfg).unwrap();
    let sender = log.sender().unwrap();
    for i in 0..n {
        assert!(sender.record_request(
            request(i),
            vec![bash_call()],
            Some(BODY.as_bytes().to_vec())
        ));
    }
    sender.sync_blocking();
    drop(sender);
    log.shutdown();
}

pub(super) fn log_lines(dir: &Path) -> Vec<serde_json::Value> {
    reader::read_lines(dir, reader::Cursor::default())
        .unwrap()
        .0
        .iter()
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect()
}

#[test]
fn round_trip_writes_a_verifiable_chain_with_tools() {
    let dir = TempDir::new("roundtrip");
    let cfg = config(&dir.0);
    write_log(&cfg, 10);
    let log = AuditLog::open(&cfg).unwrap();
    let sender = log.sender().unwrap();
    sender.record_admin(AdminRecord {
        time: UnixMillis::now(),
        action: AdminAction::KeyCreated,
        target: Some("carol".into()),
        caller: "admin_token from 127.0.0.1:4000".into(),
        detail: Some("team platform".into()),
        status: Some(201),
    });
    sender.sync_blocking();
    let head = log.stats().head.lock().unwrap().clone().unwrap();
    assert_eq!(head.seq, 10);
    assert_eq!(log.stats().written.load(Ordering::Relaxed), 1);
    drop(sender);
    log.shutdown();

    let report = verify_dir(&dir.0).unwrap();
    assert_eq!(report.records, 11);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert_eq!(report.last.as_ref().unwrap().1, head.hash);
    let lines = log_lines(&dir.0);
    let first = &lines[0];
    assert_eq!(first["seq"], 0);
    assert_eq!(first["prev"], chain::GENESIS_HASH);
    assert_eq!(first["kind"], "request");
    assert_eq!(first["tool_calls"][0]["name"], "Bash");
    assert_eq!(
        first["tool_calls"][0]["input"]["value"]["command"],
        "cat Cargo.toml"
    );
    let result = &first["tool_results"][0];
    assert_eq!(result["tool_use_id"], "toolu_1");
    assert_eq!(
        result["content"]["sha256"],
        chain::sha256_hex(b"Cargo.toml\nsrc\n")
    );
    assert_eq!(result["content"]["bytes"], 15);
    assert!(result["content"].get("value").is_none());
    assert_eq!(lines[10]["kind"], "admin");
    assert_eq!(lines[10]["action"], "key_created");
}

#[test]
fn interval_fsync_moves_the_head_too() {
    let dir = TempDir::new("interval");
    let cfg = AuditConfig {
        fsync: FsyncPolicy::Interval(Duration::from_millis(5)),
        ..config(&dir.0)
    };
    write_log(&cfg, 3);
    let head = files::read_head(&dir.0).unwrap().unwrap();
    assert_eq!(head.seq, 2);
    assert!(verify_dir(&dir.0).unwrap().warnings.is_empty());
}

#[test]
fn rotation_keeps_one_chain_across_three_files() {
    let dir = TempDir::new("rotate");
    let cfg = AuditConfig {
        rotate_bytes: 4_000,
        ..config(&dir.0)
    };
    write_log(&cfg, 12);
    let files = files::list_log_files(&dir.0).unwrap();
    assert!(files.len() >= 3, "{} files", files.len());
    let report = verify_dir(&dir.0).unwrap();
    assert!(report.records > 12);
    // Each later file opens with a file_start note chained to the previous file's last hash.
    for pair in files.windows(2) {
        let before = std::fs::read(&pair[0].1).unwrap();
        let last = before.split(|&b| b == b'\n').rev().nth(1).unwrap();
        let last = chain::open_line(last).unwrap();
        let first = chain::open_line(&files::first_line(&pair[1].1).unwrap().unwrap()).unwrap();
        assert_eq!(first.prev, last.hash);
        assert_eq!(first.record["note"], "file_start");
    }
}

#[test]
fn torn_tail_is_cut_noted_and_the_chain_continues() {
    let dir = TempDir::new("torn");
    let cfg = config(&dir.0);
    write_log(&cfg, 4);
    let path = files::list_log_files(&dir.0).unwrap().pop().unwrap().1;
    let good_len = std::fs::metadata(&path).unwrap().len();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(br#"{"seq":4,"prev":"ab"#);
    std::fs::write(&path, &bytes).unwrap();
    let report = verify_dir(&dir.0).unwrap();
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    assert!(report.warnings[0].contains("torn"));

    write_log(&cfg, 1);
    let report = verify_dir(&dir.0).unwrap();
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert_eq!(report.records, 6);
    let lines = log_lines(&dir.0);
    assert_eq!(lines[4]["note"], "torn_tail_truncated");
    assert!(
        lines[4]["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("offset {good_len}"))
    );
    assert_eq!(lines[5]["kind"], "request");
}

#[test]
fn a_log_cut_before_its_head_refuses_to_continue() {
    let dir = TempDir::new("cut");
    let cfg = config(&dir.0);
    write_log(&cfg, 3);
    let path = files::list_log_files(&dir.0).unwrap().pop().unwrap().1;
    let text = std::fs::read_to_string(&path).unwrap();
    let kept: Vec<&str> = text.lines().take(2).collect();
    std::fs::write(&path, format!("{}\n", kept.join("\n"))).unwrap();
    match AuditLog::open(&cfg) {
        Err(AuditError::CutBeforeHead { head, last_seq }) => {
            assert_eq!((head.seq, last_seq), (2, Some(1)));
        }
        other => panic!("expected CutBeforeHead, got {:?}", other.err()),
    }
}

#[test]
fn an_edited_last_record_refuses_to_continue() {
    let dir = TempDir::new("edited-tail");
    let cfg = config(&dir.0);
    write_log(&cfg, 2);
    let path = files::list_log_files(&dir.0).unwrap().pop().unwrap().1;
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("req-1", "req-9")).unwrap();
    assert!(matches!(
        AuditLog::open(&cfg),
        Err(AuditError::CorruptTail { .. })
    ));
}

#[test]
fn no_secret_reaches_the_log() {
    let dir = TempDir::new("secrets");
    let toml = format!(
        r#"
[governance]
state_dir = "{}"
[[providers]]
name = "anthropic"
kind = "anthropic"
keys = [{{ secret = "sk-ant-provider-secret-0001" }}]
[[teams]]
id = "platform"
[[virtual_keys]]
id = "alice"
secret = "sk-sluice-virtual-secret-0002"
team = "platform"
[audit]
tool_results = "full"
"#,
        dir.0.display()
    );
    let config = crate::config::Config::from_toml_str(&toml).unwrap();
    let audit = config.audit.clone().unwrap();
    assert_eq!(audit.dir, dir.0.join("audit"));
    assert_eq!(audit.tool_results, ToolResultsMode::Full);
    let log = AuditLog::open(&audit).unwrap();
    let sender = log.sender().unwrap();
    let key = &config.virtual_keys[0];
    let mut record = request(0);
    record.key_id = Some(key.id.clone());
    sender.record_request(record, vec![bash_call()], Some(BODY.as_bytes().to_vec()));
    sender.record_admin(AdminRecord {
        time: UnixMillis::now(),
        action: AdminAction::KeyCreated,
        target: Some(key.id.clone()),
        caller: "admin_token from 127.0.0.1:1".into(),
        detail: Some(format!("{:?}", key.secret)),
        status: Some(201),
    });
    sender.sync_blocking();
    drop(sender);
    log.shutdown();
    let mut all = Vec::new();
    for entry in std::fs::read_dir(&audit.dir).unwrap() {
        all.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let text = String::from_utf8(all).unwrap();
    assert!(text.contains("\"alice\""));
    for secret in [
        "sk-ant-provider-secret-0001",
        "sk-sluice-virtual-secret-0002",
    ] {
        assert!(!text.contains(secret), "{secret} leaked");
    }
}

#[test]
fn dropped_records_leave_a_note_in_the_chain() {
    let dir = TempDir::new("dropped");
    let log = AuditLog::open(&config(&dir.0)).unwrap();
    let sender = log.sender().unwrap();
    // As a full queue does: the sender counts the records it could not hand over.
    log.stats().dropped.fetch_add(3, Ordering::Relaxed);
    sender.record_request(request(0), Vec::new(), None);
    sender.sync_blocking();
    drop(sender);
    log.shutdown();
    let lines = log_lines(&dir.0);
    assert_eq!(lines[0]["kind"], "request");
    assert_eq!(lines[1]["note"], "records_dropped");
    assert!(
        lines[1]["detail"]
            .as_str()
            .unwrap()
            .starts_with("3 records dropped")
    );
    assert!(verify_dir(&dir.0).unwrap().warnings.is_empty());
}
