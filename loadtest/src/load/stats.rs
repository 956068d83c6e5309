//! What a run records: latency histograms (total, time to first byte, time to first token) and
//! counts of requests and errors by kind, mergeable across sender threads.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

/// Highest latency a histogram tracks (larger values are clamped to it).
pub const MAX_TRACKED_NANOS: u64 = 120_000_000_000;
/// Significant figures kept by every histogram.
pub const HISTOGRAM_SIGFIGS: u8 = 3;

/// How one request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Connecting failed or timed out.
    Connect,
    /// No complete response within the timeout.
    Timeout,
    /// The response could not be parsed.
    Parse,
    /// The connection broke (reset, closed early, write failed).
    Io,
}

/// Counts of failures by kind, and of non-2xx responses by status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Errors {
    pub connect: u64,
    pub timeout: u64,
    pub parse: u64,
    pub io: u64,
    pub status: BTreeMap<u16, u64>,
}

impl Errors {
    /// All errors together.
    pub fn total(&self) -> u64 {
        self.connect + self.timeout + self.parse + self.io + self.status.values().sum::<u64>()
    }
}

/// The statistics of one sender thread, or of a whole run once merged.
#[derive(Debug, Clone)]
pub struct Stats {
    /// From the due time to the last byte of the response (2xx only).
    pub latency: Histogram<u64>,
    /// From the due time to the first byte of the response (2xx only).
    pub ttfb: Histogram<u64>,
    /// From the due time to the first content delta (2xx streams only).
    pub ttft: Histogram<u64>,
    /// How late each request was written after its due time (the generator's own lag).
    pub send_lag: Histogram<u64>,
    /// Requests written (recorded ones: after the warm-up).
    pub sent: u64,
    /// 2xx responses read whole.
    pub ok: u64,
    /// Requests in the warm-up (sent, not recorded).
    pub warmup: u64,
    pub errors: Errors,
    /// Response bytes read (head and body).
    pub bytes_in: u64,
    /// Latest completion, in nanoseconds after the run's start.
    pub last_done_nanos: u64,
    /// Streams: (start, end) nanoseconds after the run's start, for the concurrency peak.
    pub stream_spans: Vec<(u64, u64)>,
}

fn histogram() -> Histogram<u64> {
    // Constant bounds that hdrhistogram accepts (low >= 1, high >= 2 * low, sigfigs <= 5).
    Histogram::new_with_bounds(1, MAX_TRACKED_NANOS, HISTOGRAM_SIGFIGS)
        .expect("constant histogram bounds are valid")
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            latency: histogram(),
            ttfb: histogram(),
            ttft: histogram(),
            send_lag: histogram(),
            sent: 0,
            ok: 0,
            warmup: 0,
            errors: Errors::default(),
            bytes_in: 0,
            last_done_nanos: 0,
            stream_spans: Vec::new(),
        }
    }
}

impl Stats {
    /// Counts one failure.
    pub fn fail(&mut self, failure: Failure) {
        match failure {
            Failure::Connect => self.errors.connect += 1,
            Failure::Timeout => self.errors.timeout += 1,
            Failure::Parse => self.errors.parse += 1,
            Failure::Io => self.errors.io += 1,
        }
    }

    /// Counts one non-2xx response.
    pub fn status_error(&mut self, status: u16) {
        *self.errors.status.entry(status).or_insert(0) += 1;
    }

    /// Records one 2xx response's timings (nanoseconds).
    pub fn record_ok(&mut self, total: u64, ttfb: u64, ttft: Option<u64>) {
        self.ok += 1;
        self.latency.saturating_record(total.max(1));
        self.ttfb.saturating_record(ttfb.max(1));
        if let Some(ttft) = ttft {
            self.ttft.saturating_record(ttft.max(1));
        }
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &Stats) {
        // Both histograms share bounds, so adding cannot fail; a failure would only drop data.
        let _ = self.latency.add(&other.latency);
        let _ = self.ttfb.add(&other.ttfb);
        let _ = self.ttft.add(&other.ttft);
        let _ = self.send_lag.add(&other.send_lag);
        self.sent += other.sent;
        self.ok += other.ok;
        self.warmup += other.warmup;
        self.errors.connect += other.errors.connect;
        self.errors.timeout += other.errors.timeout;
        self.errors.parse += other.errors.parse;
        self.errors.io += other.errors.io;
        for (status, count) in &other.errors.status {
            *self.errors.status.entry(*status).or_insert(0) += count;
        }
        self.bytes_in += other.bytes_in;
        self.last_done_nanos = self.last_done_nanos.max(other.last_done_nanos);
        self.stream_spans.extend_from_slice(&other.stream_spans);
    }
}

/// The most spans open at one instant (a span is open on `[start, end)`).
pub fn peak_concurrency(spans: &[(u64, u64)]) -> usize {
    let mut edges: Vec<(u64, i64)> = Vec::with_capacity(spans.len() * 2);
    for &(start, end) in spans {
        edges.push((start, 1));
        edges.push((end.max(start), -1));
    }
    // Ends sort before starts at the same instant: [a, b) and [b, c) never overlap.
    edges.sort_unstable();
    let (mut open, mut peak) = (0i64, 0i64);
    for (_, step) in edges {
        open += step;
        peak = peak.max(open);
    }
    peak as usize
}
