//! `sluice audit verify|tail|export`: the reviewer's tools over an audit directory. Exit codes:
//! 0 ok (verify: chain intact, maybe with warnings), 1 chain broken, 2 usage error.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::observe::audit::reader::{Cursor, read_lines};
use crate::observe::audit::verify_dir;

/// How often `tail --follow` looks for new records.
const FOLLOW_POLL: Duration = Duration::from_millis(500);
/// Records `tail` prints by default.
const DEFAULT_TAIL_LINES: usize = 20;

#[derive(Subcommand)]
pub enum AuditAction {
    /// Check the hash chain against the head file (exit 0 intact, 1 broken).
    Verify {
        /// The audit directory (`[audit] dir`).
        dir: PathBuf,
    },
    /// Print the last records (JSON lines).
    Tail {
        dir: PathBuf,
        /// How many records.
        #[arg(short = 'n', long, default_value_t = DEFAULT_TAIL_LINES)]
        lines: usize,
        /// Keep printing records as they are written.
        #[arg(short, long)]
        follow: bool,
    },
    /// Print the records at or after a time (JSON lines), optionally of one virtual key.
    Export {
        dir: PathBuf,
        /// RFC 3339 time, e.g. 2026-12-01T00:00:00Z.
        #[arg(long)]
        since: String,
        /// Only request records of this virtual key id.
        #[arg(long)]
        key: Option<String>,
    },
}

/// Runs one audit command.
pub fn run(action: AuditAction) -> ExitCode {
    match action {
        AuditAction::Verify { dir } => verify(&dir),
        AuditAction::Tail { dir, lines, follow } => tail(&dir, lines, follow),
        AuditAction::Export { dir, since, key } => export(&dir, &since, key.as_deref()),
    }
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("sluice audit: {message}");
    ExitCode::from(2)
}

fn check_dir(dir: &Path) -> Result<(), ExitCode> {
    if dir.is_dir() {
        Ok(())
    } else {
        Err(usage_error(&format!(
            "{} is not a directory",
            dir.display()
        )))
    }
}

fn verify(dir: &Path) -> ExitCode {
    if let Err(code) = check_dir(dir) {
        return code;
    }
    match verify_dir(dir) {
        Ok(report) => {
            for warning in &report.warnings {
                eprintln!("warning: {warning}");
            }
            let last = report.last.as_ref().map_or_else(
                || "empty".to_owned(),
                |(seq, hash)| format!("last seq {seq} {hash}"),
            );
            let head = report
                .head
                .as_ref()
                .map_or_else(|| "no head".to_owned(), |h| format!("head seq {}", h.seq));
            println!(
                "ok: {} records in {} files, {last}, {head}",
                report.records, report.files
            );
            ExitCode::SUCCESS
        }
        Err(failure) => {
            println!("FAILED: {failure}");
            ExitCode::FAILURE
        }
    }
}

fn tail(dir: &Path, count: usize, follow: bool) -> ExitCode {
    if let Err(code) = check_dir(dir) {
        return code;
    }
    let (lines, mut cursor) = match read_lines(dir, Cursor::default()) {
        Ok(read) => read,
        Err(e) => return usage_error(&format!("{}: {e}", dir.display())),
    };
    let skip = lines.len().saturating_sub(count);
    if print_lines(&lines[skip..]).is_err() {
        return ExitCode::SUCCESS;
    }
    if !follow {
        return ExitCode::SUCCESS;
    }
    loop {
        std::thread::sleep(FOLLOW_POLL);
        match read_lines(dir, cursor) {
            Ok((lines, next)) => {
                cursor = next;
                if print_lines(&lines).is_err() {
                    return ExitCode::SUCCESS;
                }
            }
            Err(e) => {
                eprintln!("sluice audit: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
}

fn print_lines(lines: &[Vec<u8>]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    for line in lines {
        out.write_all(line)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

fn export(dir: &Path, since: &str, key: Option<&str>) -> ExitCode {
    let Ok(since) = OffsetDateTime::parse(since, &Rfc3339) else {
        return usage_error(&format!(
            "--since `{since}` is not an RFC 3339 time such as 2026-12-01T00:00:00Z"
        ));
    };
    if let Err(code) = check_dir(dir) {
        return code;
    }
    let lines = match read_lines(dir, Cursor::default()) {
        Ok((lines, _)) => lines,
        Err(e) => return usage_error(&format!("{}: {e}", dir.display())),
    };
    let selected: Vec<Vec<u8>> = lines
        .into_iter()
        .filter(|line| {
            let Ok(record) = serde_json::from_slice::<serde_json::Value>(line) else {
                return false;
            };
            let at = record
                .get("time")
                .and_then(|t| t.as_str())
                .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok());
            let key_ok =
                key.is_none_or(|key| record.get("key_id").and_then(|k| k.as_str()) == Some(key));
            at.is_some_and(|at| at >= since) && key_ok
        })
        .collect();
    let _ = print_lines(&selected);
    ExitCode::SUCCESS
}
