//! Failover metrics of one shard: upstream attempts by provider, key and outcome, failovers by
//! from/to/reason, and the time failover took (first failure to the fallback's response head).
//! Providers and keys are config indexes here; names are attached when rendering, together
//! with the key-up and breaker-open gauges the runtime reads from the health state.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::Duration;

use super::metrics::Latency;
use super::prometheus::{header, histogram_series};

/// Highest failover time recorded, in microseconds (10 min); larger values are clamped.
const MAX_FAILOVER_US: u64 = 600_000_000;
/// Bucket bounds of `sluice_failover_seconds`.
const FAILOVER_BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 10.0];
/// The key index that stands for "no provider key" (the client's own credentials).
const NO_KEY: u32 = u32::MAX;

/// One shard's failover counters.
pub struct RoutingMetrics {
    attempts: RefCell<HashMap<(u32, u32, &'static str), u64>>,
    failovers: RefCell<HashMap<(u32, u32, &'static str), u64>>,
    failover_time: RefCell<Latency>,
}

/// A copy of them for a scrape.
#[derive(Clone)]
pub struct RoutingSnapshot {
    /// (provider, key or None, outcome, count).
    pub attempts: Vec<(usize, Option<usize>, &'static str, u64)>,
    /// (from provider, to provider, reason, count).
    pub failovers: Vec<(usize, usize, &'static str, u64)>,
    pub failover_time: Latency,
}

/// One key's health as the gauges show it.
pub struct KeyHealthLine<'a> {
    pub provider: &'a str,
    pub key: &'a str,
    pub up: bool,
    pub breaker_open: bool,
}

impl Default for RoutingMetrics {
    fn default() -> Self {
        RoutingMetrics {
            attempts: RefCell::new(HashMap::new()),
            failovers: RefCell::new(HashMap::new()),
            failover_time: RefCell::new(Latency::new(MAX_FAILOVER_US, 1_000)),
        }
    }
}

impl RoutingMetrics {
    /// Counts one upstream attempt.
    pub fn attempt(&self, provider: usize, key: Option<usize>, outcome: &'static str) {
        let key = key.map_or(NO_KEY, |k| k as u32);
        *(self.attempts.borrow_mut())
            .entry((provider as u32, key, outcome))
            .or_insert(0) += 1;
    }

    /// Counts one move from provider `from` to provider `to`.
    pub fn failover(&self, from: usize, to: usize, reason: &'static str) {
        *(self.failovers.borrow_mut())
            .entry((from as u32, to as u32, reason))
            .or_insert(0) += 1;
    }

    /// Records how long a request spent between its first failure and the fallback's head.
    pub fn failover_time(&self, took: Duration) {
        self.failover_time.borrow_mut().record(took);
    }

    pub fn snapshot(&self) -> RoutingSnapshot {
        let key = |k: u32| (k != NO_KEY).then_some(k as usize);
        RoutingSnapshot {
            attempts: (self.attempts.borrow().iter())
                .map(|(&(p, k, o), &n)| (p as usize, key(k), o, n))
                .collect(),
            failovers: (self.failovers.borrow().iter())
                .map(|(&(f, t, r), &n)| (f as usize, t as usize, r, n))
                .collect(),
            failover_time: self.failover_time.borrow().clone(),
        }
    }
}

/// Renders every shard's failover metrics; `name` gives a provider's name and a key's id.
pub fn render(
    out: &mut String,
    snapshots: &[&RoutingSnapshot],
    name: &dyn Fn(usize, Option<usize>) -> (String, String),
    keys: &[KeyHealthLine<'_>],
) {
    let mut attempts = BTreeMap::new();
    let mut failovers = BTreeMap::new();
    let mut time: Option<Latency> = None;
    for s in snapshots {
        for &(p, k, outcome, n) in &s.attempts {
            *attempts.entry((p, k, outcome)).or_insert(0u64) += n;
        }
        for &(f, t, reason, n) in &s.failovers {
            *failovers.entry((f, t, reason)).or_insert(0u64) += n;
        }
        match &mut time {
            None => time = Some(s.failover_time.clone()),
            Some(total) => total.merge(&s.failover_time),
        }
    }
    header(
        out,
        "sluice_upstream_attempts_total",
        "counter",
        "Upstream attempts by provider, key id and outcome.",
    );
    for ((p, k, outcome), n) in attempts {
        let (provider, key) = name(p, k);
        let _ = writeln!(
            out,
            "sluice_upstream_attempts_total{{provider=\"{provider}\",key=\"{key}\",outcome=\"{outcome}\"}} {n}"
        );
    }
    header(
        out,
        "sluice_failovers_total",
        "counter",
        "Requests moved from one provider to another, by reason.",
    );
    for ((f, t, reason), n) in failovers {
        let (from, to) = (name(f, None).0, name(t, None).0);
        let _ = writeln!(
            out,
            "sluice_failovers_total{{from=\"{from}\",to=\"{to}\",reason=\"{reason}\"}} {n}"
        );
    }
    header(
        out,
        "sluice_provider_key_up",
        "gauge",
        "1 when the key may be used now (not cooling down, breaker not open).",
    );
    for k in keys {
        let _ = writeln!(
            out,
            "sluice_provider_key_up{{provider=\"{}\",key=\"{}\"}} {}",
            k.provider, k.key, k.up as u8
        );
    }
    header(
        out,
        "sluice_breaker_open",
        "gauge",
        "1 while the circuit breaker is open (key=\"\": the provider's own breaker).",
    );
    for k in keys {
        let _ = writeln!(
            out,
            "sluice_breaker_open{{provider=\"{}\",key=\"{}\"}} {}",
            k.provider, k.key, k.breaker_open as u8
        );
    }
    if let Some(time) = time {
        header(
            out,
            "sluice_failover_seconds",
            "histogram",
            "From a request's first upstream failure to the fallback's response head.",
        );
        histogram_series(out, "sluice_failover_seconds", "", &time, &FAILOVER_BUCKETS);
    }
}
