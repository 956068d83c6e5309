//! Limits against hostile peers (`[server]` keys): how much of one upstream event or body
//! sluice holds, how many client connections a shard serves at once, and how many failed
//! authentications one client address may make. Each is a named default with a validated range.

use super::ConfigError;

/// Default and largest `max_upstream_event_bytes`: the SSE parser's own ceiling on one event's
/// data (16 MiB; kept equal to `sse::MAX_EVENT_BYTES`, checked by a test in `proxy`).
pub const MAX_UPSTREAM_EVENT_BYTES_LIMIT: u64 = 16 * 1024 * 1024;
/// Default and largest `max_upstream_body_bytes`: the most of a non-streamed body a codec holds
/// to meter it (8 MiB; kept equal to the codecs' `MAX_OBSERVED_JSON_BYTES`).
pub const MAX_UPSTREAM_BODY_BYTES_LIMIT: u64 = 8 * 1024 * 1024;
/// Default `max_connections` per shard.
pub const DEFAULT_MAX_CONNECTIONS: u64 = 4096;
/// Largest `max_connections` per shard.
pub const MAX_CONNECTIONS_LIMIT: u64 = 1_000_000;
/// Default `max_auth_failures_per_minute` per client address (0 turns the limit off).
pub const DEFAULT_MAX_AUTH_FAILURES_PER_MINUTE: u64 = 30;
/// Largest `max_auth_failures_per_minute`.
pub const MAX_AUTH_FAILURES_PER_MINUTE_LIMIT: u64 = 1_000_000;

/// The validated limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerLimits {
    /// Most bytes of one unfinished upstream event held; past it the stream ends with an error
    /// event.
    pub max_upstream_event_bytes: usize,
    /// Largest non-streamed upstream body relayed; past it the response fails (502 while
    /// nothing was sent, a cut connection after).
    pub max_upstream_body_bytes: u64,
    /// Client connections one shard serves at once; at the limit it stops accepting (the
    /// kernel's backlog holds new ones) until one closes.
    pub max_connections: usize,
    /// Failed virtual-key authentications per client address and minute, per shard, before
    /// 429 with `retry-after` (0: unlimited).
    pub max_auth_failures_per_minute: u32,
}

impl Default for PeerLimits {
    fn default() -> Self {
        PeerLimits {
            max_upstream_event_bytes: MAX_UPSTREAM_EVENT_BYTES_LIMIT as usize,
            max_upstream_body_bytes: MAX_UPSTREAM_BODY_BYTES_LIMIT,
            max_connections: DEFAULT_MAX_CONNECTIONS as usize,
            max_auth_failures_per_minute: DEFAULT_MAX_AUTH_FAILURES_PER_MINUTE as u32,
        }
    }
}

/// The `[server]` keys as written.
#[derive(Clone, Copy, Debug, Default)]
pub struct RawPeerLimits {
    pub max_upstream_event_bytes: Option<u64>,
    pub max_upstream_body_bytes: Option<u64>,
    pub max_connections: Option<u64>,
    pub max_auth_failures_per_minute: Option<u64>,
}

fn in_range(
    key: &str,
    value: Option<u64>,
    min: u64,
    max: u64,
    default: u64,
) -> Result<u64, ConfigError> {
    match value {
        None => Ok(default),
        Some(n) if (min..=max).contains(&n) => Ok(n),
        Some(_) => Err(ConfigError::new(
            format!("server.{key}"),
            format!("must be {min} to {max}"),
        )),
    }
}

/// Validates the limits, each within its range.
pub fn validate_peer_limits(raw: RawPeerLimits) -> Result<PeerLimits, ConfigError> {
    let d = PeerLimits::default();
    Ok(PeerLimits {
        max_upstream_event_bytes: in_range(
            "max_upstream_event_bytes",
            raw.max_upstream_event_bytes,
            1,
            MAX_UPSTREAM_EVENT_BYTES_LIMIT,
            d.max_upstream_event_bytes as u64,
        )? as usize,
        max_upstream_body_bytes: in_range(
            "max_upstream_body_bytes",
            raw.max_upstream_body_bytes,
            1,
            MAX_UPSTREAM_BODY_BYTES_LIMIT,
            d.max_upstream_body_bytes,
        )?,
        max_connections: in_range(
            "max_connections",
            raw.max_connections,
            1,
            MAX_CONNECTIONS_LIMIT,
            d.max_connections as u64,
        )? as usize,
        max_auth_failures_per_minute: in_range(
            "max_auth_failures_per_minute",
            raw.max_auth_failures_per_minute,
            0,
            MAX_AUTH_FAILURES_PER_MINUTE_LIMIT,
            u64::from(d.max_auth_failures_per_minute),
        )? as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn server(lines: &str) -> Result<PeerLimits, ConfigError> {
        let toml =
            format!("[server]\n{lines}\n[[providers]]\nname = \"a\"\nkind = \"anthropic\"\n");
        Config::from_toml_str(&toml).map(|c| c.server.limits)
    }

    #[test]
    fn defaults_apply_when_unset() {
        assert_eq!(server("").unwrap(), PeerLimits::default());
    }

    #[test]
    fn each_limit_is_accepted_at_its_bounds_and_refused_one_past() {
        let cases = [
            (
                "max_upstream_event_bytes",
                1,
                MAX_UPSTREAM_EVENT_BYTES_LIMIT,
            ),
            ("max_upstream_body_bytes", 1, MAX_UPSTREAM_BODY_BYTES_LIMIT),
            ("max_connections", 1, MAX_CONNECTIONS_LIMIT),
            (
                "max_auth_failures_per_minute",
                0,
                MAX_AUTH_FAILURES_PER_MINUTE_LIMIT,
            ),
        ];
        for (key, min, max) in cases {
            assert!(server(&format!("{key} = {min}")).is_ok(), "{key} = {min}");
            assert!(server(&format!("{key} = {max}")).is_ok(), "{key} = {max}");
            let past = server(&format!("{key} = {}", max + 1)).unwrap_err();
            assert_eq!(past.path, format!("server.{key}"), "{past}");
            if min > 0 {
                let under = server(&format!("{key} = {}", min - 1)).unwrap_err();
                assert_eq!(under.path, format!("server.{key}"), "{under}");
            }
        }
    }
}
