//! Client sessions of `/mcp`, owned by the shard that created them: unguessable ids that name
//! their owner shard, the negotiated protocol version, the caller they belong to, calls in
//! flight (for cancellation) and the optional server-to-client stream.
//!
//! Sessions across shards: a session lives only in its creating shard's store (plain
//! `RefCell`, no lock). Its id starts with that shard's index, so a request that lands on another
//! shard reads the owner from the id alone ([`owner_shard`]) and forwards the whole request as a
//! [`ForwardedRequest`] mesh message, answered through a oneshot; no shared table, no lock, and
//! the upstream calls of one session stay on one shard.

use std::collections::HashMap;
use std::fmt::Write;
use std::time::{Duration, Instant};

use futures_channel::mpsc::UnboundedSender;
use futures_channel::oneshot;

use super::filter::ToolPolicy;
use super::jsonrpc::RequestId;
use super::server::{HttpMethod, McpReply};

/// Random bytes in a session id (128 bits: unguessable).
pub const SESSION_RANDOM_BYTES: usize = 16;
/// Most sessions one shard holds; `initialize` past it is refused (503) until some end.
pub const MAX_SESSIONS_PER_SHARD: usize = 10_000;
/// A session unused this long, with no call in flight and no open stream, may be dropped.
pub const SESSION_IDLE_TIMEOUT: Duration = Duration::from_secs(3600);
/// Most tool calls in flight in one session.
pub const MAX_IN_FLIGHT_PER_SESSION: usize = 64;

/// Protocol versions reachable through `initialize`, newest first: what the pinned official
/// SDKs (Python `mcp`, Claude Code) offer in the handshake. 2026-07-28 and later use a
/// stateless per-request envelope instead of `initialize`; clients probing for it with
/// `server/discover` get "method not found" and fall back to the handshake.
pub const SUPPORTED_PROTOCOL_VERSIONS: [&str; 4] =
    ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

/// The version to answer an `initialize` offering `requested` with: the same when supported,
/// else the newest supported (the client then decides whether it can go on).
pub fn negotiate_version(requested: &str) -> &'static str {
    SUPPORTED_PROTOCOL_VERSIONS
        .iter()
        .find(|v| **v == requested)
        .copied()
        .unwrap_or(SUPPORTED_PROTOCOL_VERSIONS[0])
}

/// Whether `version` still allows JSON-RPC batches (removed in 2025-06-18).
pub fn allows_batches(version: &str) -> bool {
    matches!(version, "2025-03-26" | "2024-11-05")
}

/// A new session id for `shard`: `<shard as 4 hex digits>` then 32 random hex digits
/// (visible ASCII, as the spec requires).
pub fn new_session_id(shard: u16) -> Result<String, getrandom::Error> {
    let mut random = [0u8; SESSION_RANDOM_BYTES];
    getrandom::getrandom(&mut random)?;
    let mut id = String::with_capacity(4 + SESSION_RANDOM_BYTES * 2);
    let _ = write!(id, "{shard:04x}");
    for byte in random {
        let _ = write!(id, "{byte:02x}");
    }
    Ok(id)
}

/// The shard that owns the session `id`, or `None` when `id` is not one of ours.
pub fn owner_shard(id: &str) -> Option<u16> {
    if id.len() != 4 + SESSION_RANDOM_BYTES * 2 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u16::from_str_radix(&id[..4], 16).ok()
}

/// One client session.
#[derive(Debug)]
pub struct Session {
    /// The virtual key that created it; requests with another key do not see it.
    pub key_id: String,
    pub protocol_version: &'static str,
    /// `notifications/initialized` arrived.
    pub initialized: bool,
    /// Client request id → the server and gateway call id of the upstream call it started.
    pub in_flight: HashMap<RequestId, (String, u64)>,
    /// The open `GET` stream, if any: SSE frames to send the client.
    pub stream: Option<UnboundedSender<Vec<u8>>>,
    /// When a request last used the session.
    pub last_used: Instant,
}

impl Session {
    pub fn new(key_id: String, protocol_version: &'static str, now: Instant) -> Session {
        Session {
            key_id,
            protocol_version,
            initialized: false,
            in_flight: HashMap::new(),
            stream: None,
            last_used: now,
        }
    }

    /// Whether the session may be dropped at `now`: idle past [`SESSION_IDLE_TIMEOUT`], nothing
    /// in flight, no open stream.
    pub fn is_idle(&self, now: Instant) -> bool {
        self.in_flight.is_empty()
            && self.stream.as_ref().is_none_or(|s| s.is_closed())
            && now.saturating_duration_since(self.last_used) > SESSION_IDLE_TIMEOUT
    }
}

/// A request for a session owned by another shard, sent to the owner over the mesh; the owner
/// runs it as if it had arrived there and answers through `reply`. The caller's key is already
/// authenticated (its id and tool policy travel with it).
#[derive(Debug)]
pub struct ForwardedRequest {
    pub method: HttpMethod,
    pub session_id: String,
    pub protocol_version: Option<String>,
    pub accept: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    pub key_id: String,
    pub policy: ToolPolicy,
    pub reply: oneshot::Sender<McpReply>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_name_their_shard() {
        let a = new_session_id(3).unwrap();
        let b = new_session_id(3).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert!(a.bytes().all(|c| c.is_ascii_graphic()));
        assert_eq!(owner_shard(&a), Some(3));
        assert_eq!(owner_shard(&new_session_id(0xbeef).unwrap()), Some(0xbeef));
        for bad in [
            "",
            "0003",
            &a[1..],
            &format!("{a}0"),
            &a.replace(&a[5..6], "g"),
        ] {
            assert_eq!(owner_shard(bad), None, "{bad}");
        }
    }

    #[test]
    fn versions_negotiate_as_the_spec_says() {
        for version in SUPPORTED_PROTOCOL_VERSIONS {
            assert_eq!(negotiate_version(version), version);
        }
        assert_eq!(negotiate_version("2026-07-28"), "2025-11-25");
        assert_eq!(negotiate_version("1999-01-01"), "2025-11-25");
        assert!(allows_batches("2025-03-26"));
        assert!(!allows_batches("2025-06-18"));
        assert!(!allows_batches("2025-11-25"));
    }
}
