//! The open-loop send schedule (the wrk2 model): request `i` is due at `t0 + i / rate` whatever
//! happened to earlier requests, and its latency is measured from that due time, so time spent
//! queued behind a slow response counts (no coordinated omission).

use std::time::Duration;

/// Longest run accepted, whatever the flags say.
pub const MAX_DURATION: Duration = Duration::from_secs(3600);
/// Most requests in one run, whatever the flags say.
pub const MAX_REQUESTS: u64 = 50_000_000;
/// Highest target rate accepted (requests per second).
pub const MAX_RATE: f64 = 2_000_000.0;

/// Why a schedule could not be built.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ScheduleError {
    /// The rate is not a positive number up to [`MAX_RATE`].
    BadRate(f64),
    /// No sender was asked for.
    NoSenders,
}

impl std::fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BadRate(rate) => write!(f, "rate must be in (0, {MAX_RATE}], got {rate}"),
            Self::NoSenders => write!(f, "at least one sender thread is needed"),
        }
    }
}

/// A fixed-rate schedule split across `senders` threads: thread `s` owns indices
/// `s, s + senders, s + 2 * senders, ...`; within a thread, the next free connection claims the
/// next index (first free, first served).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    rate: f64,
    total: u64,
    senders: u64,
}

impl Schedule {
    /// `rate` requests per second for at most `duration` (capped at [`MAX_DURATION`]) and at
    /// most `requests` (capped at [`MAX_REQUESTS`]).
    pub fn new(
        rate: f64,
        duration: Duration,
        requests: Option<u64>,
        senders: u64,
    ) -> Result<Self, ScheduleError> {
        if !(rate > 0.0 && rate <= MAX_RATE) {
            return Err(ScheduleError::BadRate(rate));
        }
        if senders == 0 {
            return Err(ScheduleError::NoSenders);
        }
        let duration = duration.min(MAX_DURATION);
        let by_time = (rate * duration.as_secs_f64()).floor() as u64;
        let total = by_time.min(requests.unwrap_or(u64::MAX)).min(MAX_REQUESTS);
        Ok(Self {
            rate,
            total,
            senders,
        })
    }

    /// Requests in the whole run.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Target rate in requests per second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// The global index of sender `sender`'s `claim`-th request, or `None` past the end.
    pub fn index(&self, sender: u64, claim: u64) -> Option<u64> {
        let index = claim.checked_mul(self.senders)?.checked_add(sender)?;
        (sender < self.senders && index < self.total).then_some(index)
    }

    /// When request `index` is due, measured from the start of the run.
    pub fn due(&self, index: u64) -> Duration {
        Duration::from_nanos((index as f64 * 1e9 / self.rate).round() as u64)
    }

    /// When the last request is due: the length of the sending phase.
    pub fn span(&self) -> Duration {
        self.due(self.total.saturating_sub(1))
    }
}
