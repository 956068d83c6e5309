//! `[audit]`: where and how the hash-chained audit log is written (raw shape, typed form,
//! validation), kept apart from the other sections so the audit settings read in one place.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;

/// Default fsync interval: at most this much acknowledged audit data can be lost on power loss.
pub const DEFAULT_AUDIT_FSYNC_INTERVAL: Duration = Duration::from_millis(100);
/// Longest accepted fsync interval (one minute).
pub const MAX_AUDIT_FSYNC_INTERVAL_MS: u64 = 60_000;
/// Default size at which the log moves to a new file (128 MiB).
pub const DEFAULT_AUDIT_ROTATE_BYTES: u64 = 128 * 1024 * 1024;
/// Smallest accepted `rotate_bytes` (64 KiB): a file must hold a few records.
pub const MIN_AUDIT_ROTATE_BYTES: u64 = 64 * 1024;
/// Default cap on one captured tool input or result (16 KiB); longer ones are truncated.
pub const DEFAULT_AUDIT_MAX_FIELD_BYTES: usize = 16 * 1024;
/// Smallest accepted `max_field_bytes`.
pub const MIN_AUDIT_MAX_FIELD_BYTES: usize = 64;
/// Largest accepted `max_field_bytes` (16 MiB, the largest tool input the observer keeps).
pub const MAX_AUDIT_MAX_FIELD_BYTES: usize = 16 * 1024 * 1024;
/// Largest accepted `retain_days` (100 years).
pub const MAX_AUDIT_RETAIN_DAYS: u32 = 36_500;
/// The audit directory's name under `governance.state_dir` when `dir` is not given.
pub const DEFAULT_AUDIT_SUBDIR: &str = "audit";

/// `[audit]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAudit {
    pub dir: Option<String>,
    pub fsync: Option<RawFsync>,
    pub rotate_bytes: Option<u64>,
    pub retain_days: Option<u64>,
    pub tool_results: Option<String>,
    pub max_field_bytes: Option<u64>,
}

/// `fsync = "always"`, an interval (`fsync = "100ms"`, `"1s"`) or milliseconds (`fsync = 100`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawFsync {
    Word(String),
    Millis(u64),
}

/// When the audit writer calls fsync.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// After every batch of records, before the head file moves.
    Always,
    /// At most this long after a record was written.
    Interval(Duration),
}

/// What the log keeps of the tool results a client sends back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToolResultsMode {
    /// The content itself (truncated past `max_field_bytes`, with the digest of the whole).
    Full,
    /// SHA-256 and length only.
    Digest,
    /// Nothing but `tool_use_id` and `is_error`.
    Off,
}

impl ToolResultsMode {
    /// The config-file spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ToolResultsMode::Full => "full",
            ToolResultsMode::Digest => "digest",
            ToolResultsMode::Off => "off",
        }
    }
}

/// `[audit]`, typed. Present in `Config` only when the file has an `[audit]` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditConfig {
    pub dir: PathBuf,
    pub fsync: FsyncPolicy,
    pub rotate_bytes: u64,
    /// Files older than this many days are removed (0: keep forever).
    pub retain_days: u32,
    pub tool_results: ToolResultsMode,
    pub max_field_bytes: usize,
}

impl AuditConfig {
    /// The defaults, with the log under `state_dir/audit`.
    pub fn with_defaults(state_dir: &Path) -> AuditConfig {
        AuditConfig {
            dir: state_dir.join(DEFAULT_AUDIT_SUBDIR),
            fsync: FsyncPolicy::Interval(DEFAULT_AUDIT_FSYNC_INTERVAL),
            rotate_bytes: DEFAULT_AUDIT_ROTATE_BYTES,
            retain_days: 0,
            tool_results: ToolResultsMode::Digest,
            max_field_bytes: DEFAULT_AUDIT_MAX_FIELD_BYTES,
        }
    }
}

fn fsync_error() -> ConfigError {
    ConfigError::new(
        "audit.fsync",
        format!(
            "must be \"always\" or an interval (\"100ms\", \"1s\", or milliseconds as a \
             number), 1 ms to {MAX_AUDIT_FSYNC_INTERVAL_MS} ms"
        ),
    )
}

/// An fsync interval written as `<n>ms` or `<n>s`, within 1 ms and the longest accepted.
fn fsync_interval(word: &str) -> Option<Duration> {
    let ms = if let Some(n) = word.strip_suffix("ms") {
        n.parse::<u64>().ok()?
    } else {
        word.strip_suffix('s')?
            .parse::<u64>()
            .ok()?
            .checked_mul(1_000)?
    };
    (1..=MAX_AUDIT_FSYNC_INTERVAL_MS)
        .contains(&ms)
        .then(|| Duration::from_millis(ms))
}

/// Validates `[audit]`; `state_dir` is the validated `governance.state_dir`.
pub fn validate_audit(
    raw: Option<RawAudit>,
    state_dir: &Path,
) -> Result<Option<AuditConfig>, ConfigError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let mut config = AuditConfig::with_defaults(state_dir);
    if let Some(dir) = raw.dir {
        if dir.is_empty() {
            return Err(ConfigError::new("audit.dir", "must not be empty"));
        }
        config.dir = PathBuf::from(dir);
    }
    config.fsync = match raw.fsync {
        None => config.fsync,
        Some(RawFsync::Word(word)) if word == "always" => FsyncPolicy::Always,
        Some(RawFsync::Millis(ms)) if (1..=MAX_AUDIT_FSYNC_INTERVAL_MS).contains(&ms) => {
            FsyncPolicy::Interval(Duration::from_millis(ms))
        }
        Some(RawFsync::Word(word)) => fsync_interval(&word)
            .map(FsyncPolicy::Interval)
            .ok_or_else(fsync_error)?,
        Some(RawFsync::Millis(_)) => return Err(fsync_error()),
    };
    if let Some(bytes) = raw.rotate_bytes {
        if bytes < MIN_AUDIT_ROTATE_BYTES {
            return Err(ConfigError::new(
                "audit.rotate_bytes",
                format!("must be at least {MIN_AUDIT_ROTATE_BYTES}"),
            ));
        }
        config.rotate_bytes = bytes;
    }
    if let Some(days) = raw.retain_days {
        config.retain_days = u32::try_from(days)
            .ok()
            .filter(|&d| d <= MAX_AUDIT_RETAIN_DAYS)
            .ok_or_else(|| {
                ConfigError::new(
                    "audit.retain_days",
                    format!("must be 0 (keep forever) to {MAX_AUDIT_RETAIN_DAYS}"),
                )
            })?;
    }
    if let Some(mode) = raw.tool_results {
        config.tool_results = match mode.as_str() {
            "full" => ToolResultsMode::Full,
            "digest" => ToolResultsMode::Digest,
            "off" => ToolResultsMode::Off,
            _ => {
                return Err(ConfigError::new(
                    "audit.tool_results",
                    "must be \"full\", \"digest\" or \"off\"",
                ));
            }
        };
    }
    if let Some(bytes) = raw.max_field_bytes {
        config.max_field_bytes = usize::try_from(bytes)
            .ok()
            .filter(|b| (MIN_AUDIT_MAX_FIELD_BYTES..=MAX_AUDIT_MAX_FIELD_BYTES).contains(b))
            .ok_or_else(|| {
                ConfigError::new(
                    "audit.max_field_bytes",
                    format!("must be {MIN_AUDIT_MAX_FIELD_BYTES} to {MAX_AUDIT_MAX_FIELD_BYTES}"),
                )
            })?;
    }
    Ok(Some(config))
}
