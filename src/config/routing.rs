//! `[routing]`: when and how often a request moves to another key or provider (failover), and
//! the circuit breaker's thresholds. Every key is optional; the defaults suit Claude Code.

use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;

/// Most attempts one request may make, across keys and targets.
pub const MAX_ATTEMPTS_LIMIT: u32 = 16;
/// The longest any `[routing]` duration may be (10 minutes).
pub const MAX_ROUTING_MS: u64 = 600_000;
/// The statuses that move a request on when `retry_on` is not given.
pub const DEFAULT_RETRY_ON: [u16; 8] = [401, 403, 429, 500, 502, 503, 504, 529];
/// Statuses that never move a request: the request itself is at fault.
pub const NEVER_RETRY: [u16; 4] = [400, 404, 413, 422];

/// `[routing]`, typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutingConfig {
    /// Attempts per request across keys and targets (default 3).
    pub max_attempts: u32,
    /// Upstream statuses that move the request to another key or target.
    pub retry_on: Vec<u16>,
    /// A streaming request moves on when no response head arrived within this (default 15 s).
    pub first_byte_timeout: Duration,
    /// The pause before retrying the same provider (jittered up to twice this; default 50 ms).
    pub backoff: Duration,
    /// Total time a request may spend failing over (default 10 s).
    pub failover_budget: Duration,
    /// Consecutive failures that open a key's or provider's breaker (default 5).
    pub breaker_failures: u32,
    /// How long an open breaker stays open before one probe is let through (default 30 s).
    pub breaker_cooldown: Duration,
    /// How long a key rate-limited without `retry-after` cools down (default 10 s).
    pub rate_limit_cooldown: Duration,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            max_attempts: 3,
            retry_on: DEFAULT_RETRY_ON.to_vec(),
            first_byte_timeout: Duration::from_millis(15_000),
            backoff: Duration::from_millis(50),
            failover_budget: Duration::from_millis(10_000),
            breaker_failures: 5,
            breaker_cooldown: Duration::from_millis(30_000),
            rate_limit_cooldown: Duration::from_millis(10_000),
        }
    }
}

/// `[routing]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRouting {
    pub max_attempts: Option<u64>,
    pub retry_on: Option<Vec<u64>>,
    pub first_byte_timeout_ms: Option<u64>,
    pub backoff_ms: Option<u64>,
    pub failover_budget_ms: Option<u64>,
    pub breaker_failures: Option<u64>,
    pub breaker_cooldown_ms: Option<u64>,
    pub rate_limit_cooldown_ms: Option<u64>,
}

/// Validates `[routing]`, filling defaults.
pub fn validate_routing(raw: RawRouting) -> Result<RoutingConfig, ConfigError> {
    let d = RoutingConfig::default();
    let count = |key: &str, v: Option<u64>, max: u32, default: u32| match v {
        None => Ok(default),
        Some(n) if n >= 1 && n <= u64::from(max) => Ok(n as u32),
        Some(_) => Err(ConfigError::new(
            format!("routing.{key}"),
            format!("must be 1 to {max}"),
        )),
    };
    let millis = |key: &str, v: Option<u64>, min: u64, default: Duration| match v {
        None => Ok(default),
        Some(ms) if ms >= min && ms <= MAX_ROUTING_MS => Ok(Duration::from_millis(ms)),
        Some(_) => Err(ConfigError::new(
            format!("routing.{key}"),
            format!("must be {min} to {MAX_ROUTING_MS} milliseconds"),
        )),
    };
    let retry_on = match raw.retry_on {
        None => d.retry_on,
        Some(list) => {
            let mut statuses = Vec::with_capacity(list.len());
            for (i, status) in list.into_iter().enumerate() {
                let path = format!("routing.retry_on[{i}]");
                let Ok(status) = u16::try_from(status) else {
                    return Err(ConfigError::new(path, "not an HTTP status"));
                };
                if !(400..=599).contains(&status) {
                    return Err(ConfigError::new(path, "must be a 4xx or 5xx status"));
                }
                if NEVER_RETRY.contains(&status) {
                    return Err(ConfigError::new(
                        path,
                        format!("{status} means the request is at fault; it is never retried"),
                    ));
                }
                statuses.push(status);
            }
            statuses
        }
    };
    Ok(RoutingConfig {
        max_attempts: count(
            "max_attempts",
            raw.max_attempts,
            MAX_ATTEMPTS_LIMIT,
            d.max_attempts,
        )?,
        retry_on,
        first_byte_timeout: millis(
            "first_byte_timeout_ms",
            raw.first_byte_timeout_ms,
            1,
            d.first_byte_timeout,
        )?,
        backoff: millis("backoff_ms", raw.backoff_ms, 0, d.backoff)?,
        failover_budget: millis(
            "failover_budget_ms",
            raw.failover_budget_ms,
            0,
            d.failover_budget,
        )?,
        breaker_failures: count(
            "breaker_failures",
            raw.breaker_failures,
            u32::MAX,
            d.breaker_failures,
        )?,
        breaker_cooldown: millis(
            "breaker_cooldown_ms",
            raw.breaker_cooldown_ms,
            1,
            d.breaker_cooldown,
        )?,
        rate_limit_cooldown: millis(
            "rate_limit_cooldown_ms",
            raw.rate_limit_cooldown_ms,
            1,
            d.rate_limit_cooldown,
        )?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_limits() {
        let ok = validate_routing(RawRouting::default()).unwrap();
        assert_eq!(ok, RoutingConfig::default());
        let at = |n| RawRouting {
            max_attempts: Some(n),
            ..RawRouting::default()
        };
        assert_eq!(
            validate_routing(at(u64::from(MAX_ATTEMPTS_LIMIT)))
                .unwrap()
                .max_attempts,
            MAX_ATTEMPTS_LIMIT
        );
        let e = validate_routing(at(u64::from(MAX_ATTEMPTS_LIMIT) + 1)).unwrap_err();
        assert_eq!(e.path, "routing.max_attempts");
        assert!(validate_routing(at(0)).is_err());
        let ms = |n| RawRouting {
            failover_budget_ms: Some(n),
            ..RawRouting::default()
        };
        assert!(validate_routing(ms(MAX_ROUTING_MS)).is_ok());
        assert!(validate_routing(ms(MAX_ROUTING_MS + 1)).is_err());
    }

    #[test]
    fn retry_on_refuses_client_faults() {
        for status in [400, 404, 413, 422, 200, 70000] {
            let raw = RawRouting {
                retry_on: Some(vec![status]),
                ..RawRouting::default()
            };
            let e = validate_routing(raw).unwrap_err();
            assert_eq!(e.path, "routing.retry_on[0]", "{status}");
        }
        let raw = RawRouting {
            retry_on: Some(vec![529]),
            ..RawRouting::default()
        };
        assert_eq!(validate_routing(raw).unwrap().retry_on, vec![529]);
    }
}
