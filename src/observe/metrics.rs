//! One shard's metrics: plain `Cell`s and hdrhistograms owned by the shard, updated once per
//! request by `finish`, copied into a [`MetricsSnapshot`] when the admin listener scrapes.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::genai_metrics::{GenAiShardMetrics, GenAiSnapshot};
use super::mcp_metrics::{McpMetricsSnapshot, McpShardMetrics};
use super::record::RequestRecord;
use super::routing_metrics::{RoutingMetrics, RoutingSnapshot};

/// Significant figures kept by the latency histograms (1% resolution).
const HISTOGRAM_SIGFIGS: u8 = 2;
/// Highest overhead recorded, in nanoseconds (10 s); larger values are clamped.
const MAX_OVERHEAD_NS: u64 = 10_000_000_000;
/// Highest upstream or total time recorded, in microseconds (1 h); larger values are clamped.
const MAX_DURATION_US: u64 = 3_600_000_000;

/// A latency histogram with the exact sum kept beside it (hdrhistogram has no exact sum).
#[derive(Clone)]
pub struct Latency {
    pub histogram: Histogram<u64>,
    /// Sum of recorded values, in the histogram's unit.
    pub sum: u64,
    /// Nanoseconds per unit (1 for ns histograms, 1000 for µs histograms).
    pub unit_ns: u64,
}

impl Latency {
    pub(crate) fn new(max: u64, unit_ns: u64) -> Self {
        // The bounds are constants known to be valid.
        let histogram = Histogram::new_with_bounds(1, max, HISTOGRAM_SIGFIGS)
            .expect("constant histogram bounds are valid");
        Latency {
            histogram,
            sum: 0,
            unit_ns: unit_ns.max(1),
        }
    }

    pub(crate) fn record(&mut self, d: Duration) {
        let units = (d.as_nanos() / u128::from(self.unit_ns)) as u64;
        let clamped = units.clamp(1, self.histogram.high());
        // Within bounds after clamping, so recording cannot fail.
        let _ = self.histogram.record(clamped);
        self.sum = self.sum.saturating_add(units);
    }

    /// Adds another shard's histogram into this one.
    pub fn merge(&mut self, other: &Latency) {
        let _ = self.histogram.add(&other.histogram);
        self.sum = self.sum.saturating_add(other.sum);
    }
}

/// Token counts by kind, in the order of [`TOKEN_KINDS`].
pub type TokenCounts = [u64; 4];
/// Label values for the token kinds.
pub const TOKEN_KINDS: [&str; 4] = ["input", "output", "cache_read", "cache_creation"];

/// A copy of one shard's metrics, sent across shards for a scrape.
#[derive(Clone)]
pub struct MetricsSnapshot {
    pub shard: usize,
    pub requests: Vec<(&'static str, u16, u64)>,
    /// Governance refusals by reason.
    pub rejections: Vec<(&'static str, u64)>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub active_connections: i64,
    pub active_streams: i64,
    pub tokens: TokenCounts,
    /// Heap allocations made by the shard's thread (0 without `count-allocations`).
    pub allocations: u64,
    pub overhead: Latency,
    pub upstream_ttfb: Latency,
    pub duration: Latency,
    /// The GenAI conventions' series and spend by key, team, customer and provider.
    pub genai: GenAiSnapshot,
    pub mcp: McpMetricsSnapshot,
    /// Failover counters (providers and keys by config index).
    pub routing: RoutingSnapshot,
}

/// A shard's live metrics.
pub struct ShardMetrics {
    shard: usize,
    requests: RefCell<HashMap<(&'static str, u16), u64>>,
    rejections: RefCell<HashMap<&'static str, u64>>,
    bytes_in: Cell<u64>,
    bytes_out: Cell<u64>,
    active_connections: Rc<Cell<i64>>,
    active_streams: Rc<Cell<i64>>,
    tokens: Cell<TokenCounts>,
    overhead: RefCell<Latency>,
    upstream_ttfb: RefCell<Latency>,
    duration: RefCell<Latency>,
    /// The GenAI series, recorded once per model call by `finish`.
    pub genai: GenAiShardMetrics,
    /// `/mcp` tool calls.
    pub mcp: McpShardMetrics,
    /// Upstream attempts and failovers.
    pub routing: RoutingMetrics,
}

/// Decrements a gauge when dropped (an open connection, a running stream).
pub struct GaugeGuard(Rc<Cell<i64>>);

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

fn raise(gauge: &Rc<Cell<i64>>) -> GaugeGuard {
    gauge.set(gauge.get() + 1);
    GaugeGuard(Rc::clone(gauge))
}

impl ShardMetrics {
    pub fn new(shard: usize) -> Self {
        ShardMetrics {
            shard,
            requests: RefCell::new(HashMap::new()),
            rejections: RefCell::new(HashMap::new()),
            bytes_in: Cell::new(0),
            bytes_out: Cell::new(0),
            active_connections: Rc::new(Cell::new(0)),
            active_streams: Rc::new(Cell::new(0)),
            tokens: Cell::new([0; 4]),
            overhead: RefCell::new(Latency::new(MAX_OVERHEAD_NS, 1)),
            upstream_ttfb: RefCell::new(Latency::new(MAX_DURATION_US, 1_000)),
            duration: RefCell::new(Latency::new(MAX_DURATION_US, 1_000)),
            genai: GenAiShardMetrics::new(),
            mcp: McpShardMetrics::default(),
            routing: RoutingMetrics::default(),
        }
    }

    pub fn connection_opened(&self) -> GaugeGuard {
        raise(&self.active_connections)
    }

    pub fn stream_started(&self) -> GaugeGuard {
        raise(&self.active_streams)
    }

    pub fn add_bytes(&self, received: u64, sent: u64) {
        self.bytes_in.set(self.bytes_in.get() + received);
        self.bytes_out.set(self.bytes_out.get() + sent);
    }

    /// The one metrics update per request, from its outcome.
    pub fn record_request(&self, ctx: &RequestRecord<'_>) {
        let label = ctx.route;
        *self
            .requests
            .borrow_mut()
            .entry((label, ctx.status))
            .or_insert(0) += 1;
        if let Some(reason) = ctx.rejection {
            *self.rejections.borrow_mut().entry(reason).or_insert(0) += 1;
        }
        if let Some(summary) = ctx.summary {
            let u = &summary.usage;
            let mut t = self.tokens.get();
            t[0] += u.input_tokens;
            t[1] += u.output_tokens;
            t[2] += u.cache_read_input_tokens;
            t[3] += u.cache_creation_input_tokens;
            self.tokens.set(t);
        }
        self.overhead.borrow_mut().record(ctx.overhead);
        if let Some(ttfb) = ctx.upstream_ttfb {
            self.upstream_ttfb.borrow_mut().record(ttfb);
        }
        self.duration.borrow_mut().record(ctx.started.elapsed());
    }

    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            shard: self.shard,
            requests: self
                .requests
                .borrow()
                .iter()
                .map(|(&(path, status), &n)| (path, status, n))
                .collect(),
            rejections: self
                .rejections
                .borrow()
                .iter()
                .map(|(&reason, &n)| (reason, n))
                .collect(),
            bytes_in: self.bytes_in.get(),
            bytes_out: self.bytes_out.get(),
            active_connections: self.active_connections.get(),
            active_streams: self.active_streams.get(),
            tokens: self.tokens.get(),
            allocations: crate::observe::alloc_count::thread_allocations(),
            overhead: self.overhead.borrow().clone(),
            upstream_ttfb: self.upstream_ttfb.borrow().clone(),
            duration: self.duration.borrow().clone(),
            genai: self.genai.snapshot(),
            mcp: self.mcp.snapshot(),
            routing: self.routing.snapshot(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_keeps_exact_sum_and_merges() {
        let mut a = Latency::new(MAX_OVERHEAD_NS, 1);
        let mut b = Latency::new(MAX_OVERHEAD_NS, 1);
        a.record(Duration::from_nanos(1_500));
        b.record(Duration::from_nanos(2_500));
        b.record(Duration::from_secs(100)); // clamped into range, sum exact
        a.merge(&b);
        assert_eq!(a.histogram.len(), 3);
        assert_eq!(a.sum, 1_500 + 2_500 + 100_000_000_000);
    }
}
