//! `sluice audit verify`: walks every file of a log, recomputes each record's hash, checks
//! `seq` and `prev` link up across files, and checks the chain reaches the head file's anchor.
//! The first problem is named by file, line and seq; a torn last line past the head is only a
//! warning (a crash mid-write, which the next start repairs).

use std::fmt;
use std::path::Path;

use super::chain::{GENESIS_HASH, LineError, open_line};
use super::files::{HEAD_FILE, Head, list_log_files, read_head};

/// A chain that verified.
#[derive(Debug, Default)]
pub struct VerifyReport {
    pub files: usize,
    pub records: u64,
    /// The last record's `seq` and `hash`.
    pub last: Option<(u64, String)>,
    pub head: Option<Head>,
    pub warnings: Vec<String>,
}

/// Why a chain failed: the first bad place, in words.
#[derive(Debug, PartialEq, Eq)]
pub struct VerifyFailure(pub String);

impl fmt::Display for VerifyFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A retention note's claim about where the kept chain starts.
struct RetentionAnchor {
    first_seq: u64,
    first_prev: String,
}

/// Verifies the log in `dir`.
pub fn verify_dir(dir: &Path) -> Result<VerifyReport, VerifyFailure> {
    let fail = |message: String| Err(VerifyFailure(message));
    let files = match list_log_files(dir) {
        Ok(files) => files,
        Err(e) => return fail(format!("{}: {e}", dir.display())),
    };
    let head = match read_head(dir) {
        Ok(head) => head,
        Err(e) => return fail(format!("{}: {e}", dir.join(HEAD_FILE).display())),
    };
    let mut report = VerifyReport {
        files: files.len(),
        head: head.clone(),
        ..VerifyReport::default()
    };
    if head.is_none() {
        report.warnings.push(format!(
            "no {HEAD_FILE}: a cut at the end of the log cannot be detected"
        ));
    }
    let mut expected: Option<(u64, String)> = None;
    let mut start: Option<(u64, String, String)> = None;
    let mut retention: Vec<RetentionAnchor> = Vec::new();
    let mut head_checked = false;
    let mut torn: Option<String> = None;
    for (position, (_, path)) in files.iter().enumerate() {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) => return fail(format!("{}: {e}", path.display())),
        };
        let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
        let tail = lines.pop().unwrap_or_default();
        if !tail.is_empty() {
            let at = format!("{name} line {}", lines.len() + 1);
            if position + 1 != files.len() {
                return fail(format!("{at}: file ends mid-line (truncated or edited)"));
            }
            torn = Some(format!("{at}: torn last line of {} bytes", tail.len()));
        }
        for (n, line) in lines.iter().enumerate() {
            let at = format!("{name} line {}", n + 1);
            let opened = match open_line(line) {
                Ok(opened) => opened,
                Err(LineError::NoHash) => {
                    return fail(format!("{at}: no hash at the end of the line (edited)"));
                }
                Err(LineError::Malformed) => {
                    return fail(format!("{at}: not a sealed record (edited)"));
                }
            };
            let at = format!("{at} (seq {})", opened.seq);
            if !opened.hash_ok {
                return fail(format!("{at}: hash does not match its contents (edited)"));
            }
            match &expected {
                None => {
                    start = Some((opened.seq, opened.prev.clone(), at.clone()));
                }
                Some((seq, prev)) => {
                    if opened.seq != *seq {
                        let what = if opened.seq > *seq {
                            format!(
                                "records seq {seq}..{} are missing (deleted)",
                                opened.seq - 1
                            )
                        } else {
                            "out of order (reordered or duplicated)".to_owned()
                        };
                        return fail(format!("{at}: expected seq {seq}: {what}"));
                    }
                    if opened.prev != *prev {
                        return fail(format!(
                            "{at}: prev does not match the previous record's hash (edited, \
                             deleted or reordered)"
                        ));
                    }
                }
            }
            if let Some(head) = &head
                && head.seq == opened.seq
            {
                if head.hash != opened.hash {
                    return fail(format!(
                        "{at}: differs from the record {HEAD_FILE} anchors (rewritten)"
                    ));
                }
                head_checked = true;
            }
            if opened.record.get("note").and_then(|n| n.as_str()) == Some("retention")
                && let (Some(first_seq), Some(first_prev)) = (
                    opened.record.get("first_seq").and_then(|v| v.as_u64()),
                    opened.record.get("first_prev").and_then(|v| v.as_str()),
                )
            {
                retention.push(RetentionAnchor {
                    first_seq,
                    first_prev: first_prev.to_owned(),
                });
            }
            report.records += 1;
            expected = Some((opened.seq + 1, opened.hash.clone()));
            report.last = Some((opened.seq, opened.hash));
        }
    }
    if let Some((seq, prev, at)) = start {
        let anchored = (seq == 0 && prev == GENESIS_HASH)
            || retention
                .iter()
                .any(|r| r.first_seq == seq && r.first_prev == prev);
        if !anchored {
            return fail(format!(
                "{at}: the chain does not start at seq 0 and no retention note accounts for \
                 the earlier records (deleted)"
            ));
        }
    }
    if let Some(head) = &head
        && !head_checked
    {
        let end = report.last.as_ref().map_or_else(
            || "has no records".to_owned(),
            |(seq, _)| format!("ends at seq {seq}"),
        );
        return fail(format!(
            "the log {end} but {HEAD_FILE} anchors seq {} in {}: records were cut before the \
             head",
            head.seq, head.file
        ));
    }
    if let Some(torn) = torn {
        report.warnings.push(format!(
            "{torn} after the head (a crash mid-write; the next start cuts it)"
        ));
    }
    Ok(report)
}
