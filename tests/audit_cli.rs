//! `sluice audit verify|tail|export` through the built binary: exit codes (0 ok, 1 broken
//! chain naming the record, 2 usage), and the README's Python verifier on the same chains.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use sluice::config::{AuditConfig, FsyncPolicy};
use sluice::observe::audit::{
    AdminAction, AdminRecord, AuditLog, RequestRecord, ToolCallRecord, UnixMillis,
};
use support::temp::TempDir;

/// Time of the first request record: 2026-05-28T20:26:40Z.
const T0_MS: u64 = 1_780_000_000_000;

fn write_chain(dir: &Path, records: u64, rotate_bytes: u64) {
    let mut config = AuditConfig::with_defaults(dir);
    config.dir = dir.to_path_buf();
    config.fsync = FsyncPolicy::Always;
    config.rotate_bytes = rotate_bytes;
    let log = AuditLog::open(&config).unwrap();
    let sender = log.sender().unwrap();
    for n in 0..records {
        let record = RequestRecord {
            time: UnixMillis(T0_MS + n * 60_000),
            request_id: format!("req-{n}"),
            key_id: Some(if n.is_multiple_of(2) { "alice" } else { "bob" }.to_owned()),
            method: "POST".into(),
            path: "/v1/messages".into(),
            status: 200,
            ..RequestRecord::default()
        };
        let call = ToolCallRecord {
            id: format!("toolu_{n}"),
            name: "Bash".into(),
            input_json: r#"{"command":"echo \"hi\" ünïcode"}"#.into(),
        };
        assert!(sender.record_request(record, vec![call], None));
    }
    sender.record_admin(AdminRecord {
        time: UnixMillis(T0_MS + records * 60_000),
        action: AdminAction::KeyRevoked,
        target: Some("bob".into()),
        caller: "admin_token from 127.0.0.1:9".into(),
        detail: None,
        status: Some(200),
    });
    sender.sync_blocking();
    drop(sender);
    log.shutdown();
}

fn sluice(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .output()
        .unwrap()
}

fn python_verify(dir: &Path) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/verify_audit_chain.py");
    Command::new("python3")
        .arg(script)
        .arg(dir)
        .output()
        .expect("python3 runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn only_file(dir: &Path) -> std::path::PathBuf {
    dir.join("audit-000001.jsonl")
}

#[test]
fn verify_exit_codes_and_the_python_verifier_agree() {
    let tmp = TempDir::new("audit-cli-verify");
    let dir = tmp.path();
    write_chain(dir, 5, 128 * 1024 * 1024);
    let d = dir.to_str().unwrap();

    let ok = sluice(&["audit", "verify", d]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    assert!(
        text(&ok.stdout).starts_with("ok: 6 records"),
        "{}",
        text(&ok.stdout)
    );
    let py = python_verify(dir);
    assert_eq!(
        py.status.code(),
        Some(0),
        "{}{}",
        text(&py.stdout),
        text(&py.stderr)
    );
    assert!(text(&py.stdout).contains("ok: 6 records"));

    // A torn tail after the head: warning, exit 0 from both.
    let path = only_file(dir);
    let original = std::fs::read(&path).unwrap();
    let mut torn = original.clone();
    torn.extend_from_slice(b"{\"seq\":6,\"prev\"");
    std::fs::write(&path, &torn).unwrap();
    let warned = sluice(&["audit", "verify", d]);
    assert_eq!(warned.status.code(), Some(0));
    assert!(
        text(&warned.stderr).contains("warning:"),
        "{}",
        text(&warned.stderr)
    );

    // One edited byte (inside request 2's request_id): exit 1 naming line 3, in both.
    let mut edited = original.clone();
    let at = text(&original).find("req-2").unwrap();
    edited[at + 4] = b'7';
    std::fs::write(&path, &edited).unwrap();
    let failed = sluice(&["audit", "verify", d]);
    assert_eq!(failed.status.code(), Some(1));
    assert!(
        text(&failed.stdout).contains("audit-000001.jsonl line 3 (seq 2)"),
        "{}",
        text(&failed.stdout)
    );
    let py = python_verify(dir);
    assert_eq!(py.status.code(), Some(1));
    assert!(text(&py.stdout).contains("line 3"), "{}", text(&py.stdout));

    // The last anchored record deleted: exit 1 from both.
    let cut = &original[..original[..original.len() - 1]
        .iter()
        .rposition(|&b| b == b'\n')
        .unwrap()
        + 1];
    std::fs::write(&path, cut).unwrap();
    let failed = sluice(&["audit", "verify", d]);
    assert_eq!(failed.status.code(), Some(1));
    assert!(
        text(&failed.stdout).contains("anchors seq 5"),
        "{}",
        text(&failed.stdout)
    );
    assert_eq!(python_verify(dir).status.code(), Some(1));

    // Two lines swapped: exit 1 from both.
    let mut lines: Vec<&[u8]> = original.split(|&b| b == b'\n').collect();
    lines.swap(1, 2);
    std::fs::write(&path, lines.join(&b'\n')).unwrap();
    assert_eq!(sluice(&["audit", "verify", d]).status.code(), Some(1));
    assert_eq!(python_verify(dir).status.code(), Some(1));
}

#[test]
fn rotated_chain_verifies_in_both_verifiers() {
    let tmp = TempDir::new("audit-cli-rotate");
    write_chain(tmp.path(), 40, 64 * 1024 / 16);
    let files = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".jsonl")
        })
        .count();
    assert!(files >= 3, "{files} files");
    let out = sluice(&["audit", "verify", tmp.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let py = python_verify(tmp.path());
    assert_eq!(py.status.code(), Some(0), "{}", text(&py.stdout));
}

#[test]
fn tail_and_export_print_json_lines() {
    let tmp = TempDir::new("audit-cli-export");
    write_chain(tmp.path(), 6, 128 * 1024 * 1024);
    let d = tmp.path().to_str().unwrap();

    let tail = sluice(&["audit", "tail", d, "-n", "2"]);
    assert_eq!(tail.status.code(), Some(0));
    let lines: Vec<serde_json::Value> = text(&tail.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["request_id"], "req-5");
    assert_eq!(lines[1]["kind"], "admin");

    // Records at minutes 0..5 (+ the admin at 6); since minute 3 → req-3, req-4, req-5, admin.
    let export = sluice(&["audit", "export", d, "--since", "2026-05-28T20:29:40Z"]);
    assert_eq!(export.status.code(), Some(0));
    let ids: Vec<String> = text(&export.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|r| r["request_id"].as_str().unwrap_or("admin").to_owned())
        .collect();
    assert_eq!(ids, ["req-3", "req-4", "req-5", "admin"]);
    // With an offset and a key filter.
    let alice = sluice(&[
        "audit",
        "export",
        d,
        "--since",
        "2026-05-28T22:26:40+02:00",
        "--key",
        "alice",
    ]);
    let ids: Vec<String> = text(&alice.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["request_id"].to_string())
        .collect();
    assert_eq!(ids, ["\"req-0\"", "\"req-2\"", "\"req-4\""]);
}

#[test]
fn usage_errors_exit_2() {
    let tmp = TempDir::new("audit-cli-usage");
    let d = tmp.path().to_str().unwrap();
    let missing = tmp.join("missing");
    for args in [
        vec!["audit"],
        vec!["audit", "verify"],
        vec!["audit", "frobnicate", d],
        vec!["audit", "export", d],
        vec!["audit", "export", d, "--since", "yesterday"],
        vec!["audit", "export", d, "--since", "2026-13-01T00:00:00Z"],
        vec!["audit", "verify", missing.to_str().unwrap()],
        vec!["audit", "tail", d, "-n", "x"],
    ] {
        let out = sluice(&args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn readme_carries_the_python_verifier_verbatim() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = std::fs::read_to_string(root.join("examples/verify_audit_chain.py")).unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(
        readme.contains(&script),
        "README.md must include examples/verify_audit_chain.py"
    );
}
