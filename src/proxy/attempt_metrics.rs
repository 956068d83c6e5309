//! The failover metrics of the attempt phase: the labels its outcomes count under, and the
//! `/metrics` section that names providers and keys and reads the shard's health for the
//! key-up and breaker-open gauges.

use std::time::Instant;

use super::context::AttemptOutcome;
use super::state::ProxyState;
use crate::observe::metrics::MetricsSnapshot;
use crate::observe::routing_metrics::{self, KeyHealthLine};

/// The `outcome` label of one attempt.
pub fn outcome_label(outcome: AttemptOutcome) -> &'static str {
    match outcome {
        AttemptOutcome::Status(status) => status_label(status),
        AttemptOutcome::Error(why) | AttemptOutcome::Skipped(why) => why,
    }
}

/// A bounded label for an upstream status.
pub fn status_label(status: u16) -> &'static str {
    match status {
        200..=299 => "ok",
        401 | 403 => "auth",
        429 => "rate_limited",
        529 => "overloaded",
        500..=599 => "server_error",
        _ => "client_error",
    }
}

/// Appends the failover section of `/metrics` (every shard's counters, this shard's view of
/// health, which every shard shares).
pub fn render(state: &ProxyState, snapshots: &[MetricsSnapshot], out: &mut String) {
    let config = state.current_config();
    let name = |p: usize, k: Option<usize>| {
        let provider = config.providers.get(p);
        let key = k.and_then(|k| provider?.keys.get(k));
        (
            provider.map_or_else(String::new, |p| p.name.clone()),
            key.map_or_else(String::new, |k| k.id.clone()),
        )
    };
    let now = Instant::now();
    let mut keys = Vec::new();
    for (p, provider) in config.providers.iter().enumerate() {
        keys.push(KeyHealthLine {
            provider: &provider.name,
            key: "",
            up: !state.health.is_open(p, None, now),
            breaker_open: state.health.is_open(p, None, now),
        });
        for (k, key) in provider.keys.iter().enumerate() {
            keys.push(KeyHealthLine {
                provider: &provider.name,
                key: &key.id,
                up: state.health.key_usable(p, k, now),
                breaker_open: state.health.is_open(p, Some(k), now),
            });
        }
    }
    let routing: Vec<_> = snapshots.iter().map(|s| &s.routing).collect();
    routing_metrics::render(out, &routing, &name, &keys);
}
