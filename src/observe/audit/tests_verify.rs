//! `verify_dir` against a tampered log: each edit the issue lists must fail and name the
//! first bad record; a torn tail after the head is only a warning.

use super::tests::{TempDir, config, write_log};
use super::*;
use crate::config::AuditConfig;

/// A fresh 6-record log; returns its directory and its (single) file's lines.
fn fresh(name: &str) -> (TempDir, std::path::PathBuf, Vec<String>) {
    let dir = TempDir::new(name);
    write_log(&config(&dir.0), 6);
    let path = files::list_log_files(&dir.0).unwrap().pop().unwrap().1;
    let lines = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    (dir, path, lines)
}

/// A config that rotates every few records.
fn rotating(dir: &TempDir) -> AuditConfig {
    AuditConfig {
        rotate_bytes: 4_000,
        ..config(&dir.0)
    }
}

fn write_lines(path: &std::path::Path, lines: &[String]) {
    std::fs::write(path, format!("{}\n", lines.join("\n"))).unwrap();
}

fn failure(dir: &TempDir) -> String {
    verify_dir(&dir.0).expect_err("verify must fail").0
}

#[test]
fn intact_log_verifies() {
    let (dir, _, _) = fresh("intact");
    let report = verify_dir(&dir.0).unwrap();
    assert_eq!((report.records, report.files), (6, 1));
    assert!(report.warnings.is_empty());
}

#[test]
fn one_edited_byte_fails_at_that_record() {
    let (dir, path, lines) = fresh("edit");
    let mut bytes = std::fs::read(&path).unwrap();
    let offset = lines[..3].iter().map(|l| l.len() + 1).sum::<usize>() + 40;
    bytes[offset] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    let message = failure(&dir);
    assert!(message.contains("line 4"), "{message}");
}

#[test]
fn every_single_byte_edit_fails() {
    let (dir, path, _) = fresh("every-byte");
    let original = std::fs::read(&path).unwrap();
    // Every byte of one record (the second), flipped in turn.
    let start = original.iter().position(|&b| b == b'\n').unwrap() + 1;
    let end = start + original[start..].iter().position(|&b| b == b'\n').unwrap();
    for i in start..end {
        let mut bytes = original.clone();
        bytes[i] ^= 0x20;
        std::fs::write(&path, &bytes).unwrap();
        assert!(verify_dir(&dir.0).is_err(), "byte {i} edited but verified");
    }
}

#[test]
fn a_deleted_line_fails() {
    let (dir, path, mut lines) = fresh("delete");
    lines.remove(2);
    write_lines(&path, &lines);
    let message = failure(&dir);
    assert!(
        message.contains("line 3 (seq 3)") && message.contains("missing"),
        "{message}"
    );
}

#[test]
fn two_swapped_lines_fail() {
    let (dir, path, mut lines) = fresh("swap");
    lines.swap(1, 2);
    write_lines(&path, &lines);
    let message = failure(&dir);
    assert!(message.contains("line 2 (seq 2)"), "{message}");
}

#[test]
fn truncation_mid_line_before_the_head_fails() {
    let (dir, path, lines) = fresh("truncate");
    let keep = lines[..2].iter().map(|l| l.len() + 1).sum::<usize>() + 30;
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..keep]).unwrap();
    let message = failure(&dir);
    assert!(
        message.contains("cut before the head") && message.contains("seq 1"),
        "{message}"
    );
}

#[test]
fn deleting_the_last_anchored_record_fails() {
    let (dir, path, mut lines) = fresh("last");
    lines.pop();
    write_lines(&path, &lines);
    let message = failure(&dir);
    assert!(message.contains("anchors seq 5"), "{message}");
}

#[test]
fn a_torn_tail_after_the_head_is_a_warning() {
    let (dir, path, _) = fresh("torn-warning");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(b"{\"seq\":6,");
    std::fs::write(&path, &bytes).unwrap();
    let report = verify_dir(&dir.0).unwrap();
    assert_eq!(report.records, 6);
    assert!(
        report.warnings[0].contains("line 7"),
        "{:?}",
        report.warnings
    );
}

#[test]
fn a_deleted_first_file_fails_without_a_retention_note() {
    let dir = TempDir::new("first-file");
    let cfg = rotating(&dir);
    write_log(&cfg, 8);
    let first = files::list_log_files(&dir.0).unwrap().remove(0).1;
    std::fs::remove_file(first).unwrap();
    let message = failure(&dir);
    assert!(message.contains("does not start at seq 0"), "{message}");
}

#[test]
fn a_missing_head_is_a_warning() {
    let (dir, _, _) = fresh("no-head");
    std::fs::remove_file(dir.0.join(files::HEAD_FILE)).unwrap();
    let report = verify_dir(&dir.0).unwrap();
    assert!(
        report.warnings[0].contains("head.json"),
        "{:?}",
        report.warnings
    );
}

#[test]
fn retention_removes_old_files_and_the_chain_still_verifies() {
    let dir = TempDir::new("retention");
    let cfg = rotating(&dir);
    write_log(&cfg, 8);
    let files_before = files::list_log_files(&dir.0).unwrap();
    assert!(files_before.len() >= 3);
    // Age the first file past a one-day retention.
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3 * 86_400);
    std::fs::File::options()
        .write(true)
        .open(&files_before[0].1)
        .unwrap()
        .set_modified(old)
        .unwrap();
    write_log(
        &AuditConfig {
            retain_days: 1,
            ..cfg
        },
        1,
    );
    let files_after = files::list_log_files(&dir.0).unwrap();
    assert_eq!(files_after[0].0, files_before[1].0);
    let report = verify_dir(&dir.0).unwrap();
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    let notes = tests::log_lines(&dir.0);
    assert!(notes.iter().any(|r| r["note"] == "retention"));
}
