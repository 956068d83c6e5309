//! Reading a gateway's audit log in tests: its records in order, `sluice audit verify`, and
//! the SHA-256 the log keeps of a tool result.

use std::path::Path;
use std::process::{Command, Output};

use sha2::Digest;

/// `[audit]` writing to `dir` with this `fsync` value (TOML), for a gateway config.
pub fn audit_toml(dir: &Path, fsync: &str) -> String {
    format!("\n[audit]\ndir = \"{}\"\nfsync = {fsync}\n", dir.display())
}

/// Lowercase hex of SHA-256 over `text`.
pub fn sha256_hex(text: &str) -> String {
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Every parseable record of the log files in `dir`, in file then line order.
pub fn audit_records(dir: &Path) -> Vec<serde_json::Value> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Everything in `dir` as text (to grep for secrets).
pub fn audit_text(dir: &Path) -> String {
    let mut all = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        all.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default());
    }
    all
}

/// Runs `sluice audit verify DIR`.
pub fn verify(dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["audit", "verify"])
        .arg(dir)
        .output()
        .unwrap()
}

/// Asserts `sluice audit verify DIR` passes; returns its stderr and stdout.
pub fn assert_verifies(dir: &Path) -> String {
    let out = verify(dir);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "audit verify failed: {text}");
    text
}
