//! The audit record model: what one request or admin action leaves in the log, as plain owned
//! data a shard builds and hands to the writer thread (which seals it into the chain).
//!
//! Field order here is the order in the log (serde writes fields as declared), part of the
//! canonical bytes the chain hashes. No field ever holds a secret: keys appear by id only.

use serde::Serialize;
use serde::ser::Serializer;

use super::chain::sha256_hex;
use crate::config::ToolResultsMode;

/// One log entry's body; the writer adds `seq`, `prev` and `hash` around it.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AuditRecord {
    Request(Box<RequestRecord>),
    Admin(AdminRecord),
    Note(NoteRecord),
    McpCall(Box<McpCallRecord>),
}

/// Milliseconds since the Unix epoch, written as RFC 3339 UTC (`2026-12-01T03:50:07.123Z`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct UnixMillis(pub u64);

impl UnixMillis {
    /// The current wall-clock time.
    pub fn now() -> UnixMillis {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        UnixMillis(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
    }

    /// RFC 3339 with milliseconds, UTC.
    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1_000_000;
        let format = time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        );
        time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .ok()
            .and_then(|t| t.format(&format).ok())
            .unwrap_or_else(|| "9999-12-31T23:59:59.999Z".to_owned())
    }
}

impl Serialize for UnixMillis {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

/// One request through the gateway, as `finish` saw it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RequestRecord {
    pub time: UnixMillis,
    pub request_id: String,
    pub key_id: Option<String>,
    pub team: Option<String>,
    pub customer: Option<String>,
    pub client_addr: Option<String>,
    pub method: String,
    pub path: String,
    /// The provider that served (the last attempt's), if any.
    pub provider: Option<String>,
    pub model_requested: Option<String>,
    pub model_served: Option<String>,
    pub attempts: Vec<AttemptRecord>,
    pub status: u16,
    pub tokens: TokenRecord,
    /// Exact cost in pico-dollars (10⁻¹² USD).
    pub cost_pico_usd: u64,
    pub latency_ms: u64,
    pub ttft_ms: Option<u64>,
    pub stop_reason: Option<String>,
    /// Why the gateway refused or failed the request (`error.type`), if it did.
    pub error: Option<String>,
    /// Tool calls the model made in this response.
    pub tool_calls: Vec<ToolCallEntry>,
    /// Tool results the client sent back in this request's last user turn.
    pub tool_results: Vec<ToolResultEntry>,
}

/// One upstream attempt: which provider, and its status (none if it never answered).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AttemptRecord {
    pub provider: String,
    pub status: Option<u16>,
    /// Why the attempt failed before a status (`connect`, `timeout`, ...).
    pub error: Option<String>,
}

/// Token counts the provider reported.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TokenRecord {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
}

/// A tool call as the response observer saw it (plain data handed over by the request flow).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ToolCallRecord {
    pub id: String,
    pub name: String,
    /// The input JSON text exactly as the model streamed it.
    pub input_json: String,
}

/// A tool call in the log; `input` is captured under `max_field_bytes`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ToolCallEntry {
    pub id: String,
    pub name: String,
    pub input: Captured,
}

/// A `tool_result` block from the client, as the log keeps it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ToolResultEntry {
    pub tool_use_id: String,
    pub is_error: bool,
    /// Absent with `tool_results = "off"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<Captured>,
}

/// A captured value: always its length and SHA-256; the value itself when kept whole, or its
/// first bytes when longer than `max_field_bytes`.
///
/// The digest covers the value's text: a JSON string's decoded text, any other JSON value's
/// compact serialisation (for unparseable input, the bytes as received).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Captured {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
    /// The first `max_field_bytes` bytes of the text (cut at a character boundary).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<String>,
    pub bytes: u64,
    pub sha256: String,
}

/// How much of a value to keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Capture {
    /// The value (truncated past the cap).
    Full { max_bytes: usize },
    /// Length and digest only.
    Digest,
}

impl Captured {
    /// Captures a JSON value under `capture`.
    pub fn of_value(value: serde_json::Value, capture: Capture) -> Captured {
        let text = match &value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        Captured::build(Some(value), &text, capture)
    }

    /// Captures raw JSON text (a tool input as streamed); text that does not parse is kept as
    /// a string.
    pub fn of_json_text(text: &str, capture: Capture) -> Captured {
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(value) => Captured::of_value(value, capture),
            Err(_) => Captured::build(
                Some(serde_json::Value::String(text.to_owned())),
                text,
                capture,
            ),
        }
    }

    fn build(value: Option<serde_json::Value>, text: &str, capture: Capture) -> Captured {
        let bytes = text.len() as u64;
        let sha256 = sha256_hex(text.as_bytes());
        match capture {
            Capture::Digest => Captured {
                value: None,
                truncated: None,
                bytes,
                sha256,
            },
            Capture::Full { max_bytes } if text.len() <= max_bytes => Captured {
                value,
                truncated: None,
                bytes,
                sha256,
            },
            Capture::Full { max_bytes } => {
                let mut cut = max_bytes;
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                Captured {
                    value: None,
                    truncated: Some(text[..cut].to_owned()),
                    bytes,
                    sha256,
                }
            }
        }
    }
}

impl ToolCallEntry {
    /// A tool call's log entry, its input kept whole up to `max_field_bytes`.
    pub fn from_call(call: &ToolCallRecord, max_field_bytes: usize) -> ToolCallEntry {
        ToolCallEntry {
            id: call.id.clone(),
            name: call.name.clone(),
            input: Captured::of_json_text(
                &call.input_json,
                Capture::Full {
                    max_bytes: max_field_bytes,
                },
            ),
        }
    }
}

/// The capture a `tool_results` mode asks for (`None`: keep no content).
pub fn result_capture(mode: ToolResultsMode, max_field_bytes: usize) -> Option<Capture> {
    match mode {
        ToolResultsMode::Full => Some(Capture::Full {
            max_bytes: max_field_bytes,
        }),
        ToolResultsMode::Digest => Some(Capture::Digest),
        ToolResultsMode::Off => None,
    }
}

/// One MCP `tools/call` through `/mcp`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct McpCallRecord {
    pub time: UnixMillis,
    pub key_id: String,
    pub server: String,
    /// The tool's name on its server.
    pub tool: String,
    /// The arguments as sent upstream.
    pub arguments: Option<serde_json::Value>,
    /// SHA-256 (hex) of the result as JSON, when there was one.
    pub result_sha256: Option<String>,
    /// `true` when the result had `isError`.
    pub is_error: bool,
    pub duration_ms: u64,
    /// The JSON-RPC error answered instead of a result.
    pub error: Option<String>,
}

/// An admin action (key created, changed or revoked, budget reset, config reloaded).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AdminRecord {
    pub time: UnixMillis,
    pub action: AdminAction,
    /// The object acted on (a key, team or customer id), if any.
    pub target: Option<String>,
    /// Who called: e.g. `admin_token`, or `signal` for a SIGHUP reload.
    pub caller: String,
    /// What changed, in words (never a secret).
    pub detail: Option<String>,
    /// The HTTP status the admin API answered (none for signals).
    pub status: Option<u16>,
}

/// The admin actions the log records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminAction {
    KeyCreated,
    KeyChanged,
    KeyRevoked,
    BudgetReset,
    ConfigReloaded,
}

/// Something the log says about itself (a new file, a torn tail cut at start, lost records).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NoteRecord {
    pub time: UnixMillis,
    pub note: NoteKind,
    pub detail: String,
    /// `retention`: the seq of the first record still kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seq: Option<u64>,
    /// `retention`: that record's `prev`, so the shortened chain stays anchored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_prev: Option<String>,
}

/// The kinds of note.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteKind {
    /// First record of every file after the first: names the file it continues.
    FileStart,
    /// A torn last line (crash mid-write) was cut at start; `detail` gives its length.
    TornTailTruncated,
    /// The queue was full and records were dropped; `detail` gives how many.
    RecordsDropped,
    /// Old files were removed by `retain_days`.
    Retention,
}

impl NoteRecord {
    /// A note stamped now.
    pub fn now(note: NoteKind, detail: impl Into<String>) -> NoteRecord {
        NoteRecord {
            time: UnixMillis::now(),
            note,
            detail: detail.into(),
            first_seq: None,
            first_prev: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_keeps_truncates_or_digests() {
        let text = r#"{"command":"ls -la /tmp"}"#;
        let full = Captured::of_json_text(text, Capture::Full { max_bytes: 64 });
        assert_eq!(full.value.as_ref().unwrap()["command"], "ls -la /tmp");
        assert_eq!(full.bytes, text.len() as u64);
        assert_eq!(full.sha256, sha256_hex(text.as_bytes()));
        // At the limit: kept; one byte under the length: truncated with the whole's digest.
        let at = Captured::of_json_text(
            text,
            Capture::Full {
                max_bytes: text.len(),
            },
        );
        assert!(at.value.is_some() && at.truncated.is_none());
        let cut = Captured::of_json_text(
            text,
            Capture::Full {
                max_bytes: text.len() - 1,
            },
        );
        assert_eq!(cut.value, None);
        assert_eq!(cut.truncated.as_deref(), Some(&text[..text.len() - 1]));
        assert_eq!(cut.sha256, full.sha256);
        let digest = Captured::of_json_text(text, Capture::Digest);
        assert_eq!((digest.value, digest.truncated), (None, None));
        // A string value's digest is of its decoded text; truncation respects UTF-8.
        let s = Captured::of_value(serde_json::json!("héllo"), Capture::Full { max_bytes: 2 });
        assert_eq!(s.truncated.as_deref(), Some("h"));
        assert_eq!(s.sha256, sha256_hex("héllo".as_bytes()));
    }

    #[test]
    fn time_is_rfc3339_utc_millis() {
        assert_eq!(
            UnixMillis(1_780_000_000_123).to_rfc3339(),
            "2026-05-28T20:26:40.123Z"
        );
    }

    #[test]
    fn record_fields_serialize_in_declared_order() {
        let record = AuditRecord::Admin(AdminRecord {
            time: UnixMillis(0),
            action: AdminAction::KeyRevoked,
            target: Some("k1".into()),
            caller: "admin_token from 127.0.0.1:1".into(),
            detail: None,
            status: Some(200),
        });
        assert_eq!(
            serde_json::to_string(&record).unwrap(),
            r#"{"kind":"admin","time":"1970-01-01T00:00:00.000Z","action":"key_revoked","target":"k1","caller":"admin_token from 127.0.0.1:1","detail":null,"status":200}"#
        );
    }
}
