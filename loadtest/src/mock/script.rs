//! What the mock upstream is told to do: timing, response shape and fault shares, and the
//! per-request fault pick, kept apart from sockets so it can be checked on its own.

use std::time::Duration;

use crate::rng::Rng;

/// Most text, thinking or tool events per response.
pub const MAX_EVENTS: u32 = 100_000;
/// Most tool_use blocks per response.
pub const MAX_TOOL_USES: u32 = 64;
/// Fault shares are given in percent and picked at this resolution (0.01 %).
pub const FAULT_RESOLUTION: u64 = 10_000;

/// Timing and shape of every response.
#[derive(Debug, Clone, PartialEq)]
pub struct MockScript {
    /// Delay before the response head.
    pub latency: Duration,
    /// Uniform extra delay in `0..=jitter` added to `latency`.
    pub jitter: Duration,
    /// Streams: delay between the head and the first event.
    pub first_event: Duration,
    /// Streams: delay between consecutive events after the first content delta (the events up
    /// to and including it go out together); zero: all events in one write.
    pub pace: Duration,
    /// Text deltas per response.
    pub text_events: u32,
    /// Whether responses open with a thinking block (thinking_delta + signature_delta).
    pub thinking: bool,
    /// tool_use blocks (Anthropic) or tool_calls (OpenAI) per response.
    pub tool_uses: u32,
    /// Non-streaming bodies sent chunked instead of with Content-Length.
    pub chunked: bool,
    /// Fault shares.
    pub faults: FaultShares,
    /// `retry-after` seconds on a 429.
    pub retry_after_secs: u32,
    /// How long a stall fault holds the response.
    pub stall: Duration,
}

impl Default for MockScript {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            first_event: Duration::ZERO,
            pace: Duration::ZERO,
            text_events: 12,
            thinking: true,
            tool_uses: 1,
            chunked: false,
            faults: FaultShares::default(),
            retry_after_secs: 1,
            stall: Duration::from_millis(2000),
        }
    }
}

/// Share of requests (percent) that get each fault.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FaultShares {
    /// 429 rate_limit_error with `retry-after`.
    pub rate_limited: f64,
    /// 500 api_error.
    pub server_error: f64,
    /// 529 overloaded_error.
    pub overloaded: f64,
    /// Connection reset (RST) halfway through the response.
    pub reset: f64,
    /// The response stops for [`MockScript::stall`] after its first event (or before its head
    /// when not streaming).
    pub stall: f64,
    /// The connection is closed cleanly (FIN, no last chunk) halfway through the response.
    pub truncate: f64,
}

/// A fault applied to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    RateLimited,
    ServerError,
    Overloaded,
    Reset,
    Stall,
    Truncate,
}

/// Why a script is refused.
#[derive(Debug, Clone, PartialEq)]
pub enum ScriptError {
    /// A share is negative, not a number, or the shares add up to more than 100.
    BadShares(String),
    /// Too many events or tool uses.
    TooMany(&'static str, u32),
}

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BadShares(why) => write!(f, "fault shares: {why}"),
            Self::TooMany(what, n) => write!(f, "{what} = {n} is over the limit"),
        }
    }
}

impl MockScript {
    /// Checks limits and shares.
    pub fn validate(&self) -> Result<(), ScriptError> {
        if self.text_events > MAX_EVENTS {
            return Err(ScriptError::TooMany("text events", self.text_events));
        }
        if self.tool_uses > MAX_TOOL_USES {
            return Err(ScriptError::TooMany("tool uses", self.tool_uses));
        }
        self.faults.thresholds().map(|_| ())
    }

    /// The delay before the head of one response: latency plus jitter.
    pub fn head_delay(&self, rng: &mut Rng) -> Duration {
        let jitter = self.jitter.as_nanos().min(u128::from(u64::MAX)) as u64;
        self.latency + Duration::from_nanos(rng.below(jitter.saturating_add(1)))
    }
}

impl FaultShares {
    /// Cumulative thresholds in [`FAULT_RESOLUTION`] units, in [`Fault`] order.
    fn thresholds(&self) -> Result<[u64; 6], ScriptError> {
        let shares = [
            self.rate_limited,
            self.server_error,
            self.overloaded,
            self.reset,
            self.stall,
            self.truncate,
        ];
        let mut cumulative = [0u64; 6];
        let mut sum = 0.0;
        for (slot, share) in shares.into_iter().enumerate() {
            if !(0.0..=100.0).contains(&share) {
                return Err(ScriptError::BadShares(format!(
                    "{share} is not within 0..=100"
                )));
            }
            sum += share;
            cumulative[slot] = (sum * FAULT_RESOLUTION as f64 / 100.0).round() as u64;
        }
        if sum > 100.0 + 1e-9 {
            return Err(ScriptError::BadShares(format!("they add up to {sum} %")));
        }
        Ok(cumulative)
    }

    /// True when no fault is ever injected.
    pub fn is_none(&self) -> bool {
        self.thresholds().map(|t| t[5] == 0).unwrap_or(true)
    }

    /// Picks the fault for one request (or none) from `rng`.
    pub fn pick(&self, rng: &mut Rng) -> Option<Fault> {
        let thresholds = self.thresholds().ok()?;
        if thresholds[5] == 0 {
            return None;
        }
        let draw = rng.below(FAULT_RESOLUTION);
        let kinds = [
            Fault::RateLimited,
            Fault::ServerError,
            Fault::Overloaded,
            Fault::Reset,
            Fault::Stall,
            Fault::Truncate,
        ];
        thresholds
            .iter()
            .zip(kinds)
            .find(|(limit, _)| draw < **limit)
            .map(|(_, kind)| kind)
    }
}
