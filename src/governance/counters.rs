//! One shard's counters for one entity: each budget's spend in its current window (the global
//! view, plus this shard's own spend and its share of a strict cap) and each rate limit's
//! requests and tokens over its sliding window.

use super::sliding::SlidingSum;
use super::window::{Window, calendar_window, rolling_length_ms};
use crate::config::{Budget, RateLimit, ResetPeriod};

/// Pico-dollars in one micro-dollar.
pub const PICO_PER_MICRO: u64 = 1_000_000;

/// Spend in a budget's current window: a calendar period, or a sliding one.
// The sliding ring stays inline (no box): it is read on every admission.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum SpendWindow {
    Calendar {
        period: ResetPeriod,
        window: Window,
        spent: u64,
    },
    Rolling(SlidingSum),
}

impl SpendWindow {
    pub fn new(budget: &Budget, now_ms: u64) -> SpendWindow {
        if budget.calendar_aligned {
            SpendWindow::Calendar {
                period: budget.reset,
                window: calendar_window(budget.reset, now_ms),
                spent: 0,
            }
        } else {
            SpendWindow::Rolling(SlidingSum::new(rolling_length_ms(budget.reset)))
        }
    }

    /// Rolls the window forward to `now_ms` (a new calendar period starts at zero).
    pub fn advance(&mut self, now_ms: u64) {
        match self {
            SpendWindow::Calendar {
                period,
                window,
                spent,
            } => {
                if now_ms >= window.end_ms {
                    *window = calendar_window(*period, now_ms);
                    *spent = 0;
                }
            }
            SpendWindow::Rolling(sum) => sum.advance(now_ms),
        }
    }

    /// Adds spend that happened at `at_ms` (dropped if its period is already over).
    pub fn add(&mut self, at_ms: u64, amount: u64) {
        match self {
            SpendWindow::Calendar { window, spent, .. } => {
                if at_ms >= window.end_ms {
                    self.advance(at_ms);
                    self.add(at_ms, amount);
                } else if at_ms >= window.start_ms {
                    *spent = spent.saturating_add(amount);
                }
            }
            SpendWindow::Rolling(sum) => sum.add(at_ms, amount),
        }
    }

    pub fn total(&self) -> u64 {
        match self {
            SpendWindow::Calendar { spent, .. } => *spent,
            SpendWindow::Rolling(sum) => sum.total(),
        }
    }

    pub fn clear(&mut self) {
        match self {
            SpendWindow::Calendar { spent, .. } => *spent = 0,
            SpendWindow::Rolling(sum) => sum.clear(),
        }
    }

    /// When spend will have fallen to `target` or below: the period's end for a calendar
    /// window, the moment enough old buckets leave for a rolling one.
    pub fn relief_at_ms(&self, now_ms: u64, target: u64) -> u64 {
        match self {
            SpendWindow::Calendar { window, spent, .. } => {
                if *spent <= target {
                    now_ms
                } else {
                    window.end_ms
                }
            }
            SpendWindow::Rolling(sum) => sum.relief_at_ms(now_ms, target),
        }
    }

    /// When everything spent so far stops counting: the period's end, or when the newest
    /// spend slides out.
    pub fn empty_at_ms(&self, now_ms: u64) -> u64 {
        match self {
            SpendWindow::Calendar { window, .. } => window.end_ms,
            SpendWindow::Rolling(sum) => sum.empty_at_ms(now_ms),
        }
    }

    /// The calendar period, or `None` for a rolling window.
    pub fn calendar(&self) -> Option<Window> {
        match self {
            SpendWindow::Calendar { window, .. } => Some(*window),
            SpendWindow::Rolling(_) => None,
        }
    }
}

/// One budget on one entity, as this shard sees it.
#[derive(Clone, Debug)]
pub struct BudgetState {
    pub spec: Budget,
    /// The cap in pico-dollars (saturating at `u64::MAX`, about 18 million dollars).
    pub cap_pico: u64,
    /// Spend of every shard (own settlements plus the deltas of the others).
    pub global: SpendWindow,
    /// This shard's own settled spend (strict mode's share accounting).
    pub own: SpendWindow,
    /// Strict mode: the part of the cap this shard may consume (own spend + own reservations).
    pub share_pico: u64,
    /// When this shard last asked the others for share (0: never).
    pub last_share_request_ms: u64,
    /// An admin reset: spend settled before this instant no longer counts.
    pub reset_at_ms: u64,
}

impl BudgetState {
    pub fn new(spec: Budget, now_ms: u64, shard: usize, shards: usize) -> BudgetState {
        let cap_pico = spec.max_micro_usd.saturating_mul(PICO_PER_MICRO);
        BudgetState {
            spec,
            cap_pico,
            global: SpendWindow::new(&spec, now_ms),
            own: SpendWindow::new(&spec, now_ms),
            share_pico: initial_share(cap_pico, shard, shards),
            last_share_request_ms: 0,
            reset_at_ms: 0,
        }
    }

    pub fn advance(&mut self, now_ms: u64) {
        self.global.advance(now_ms);
        self.own.advance(now_ms);
    }

    /// Whether this budget is "the same" as `other` across a config reload.
    pub fn same_slot(&self, other: &Budget) -> bool {
        self.spec.reset == other.reset && self.spec.calendar_aligned == other.calendar_aligned
    }
}

/// This shard's equal part of a cap (shard 0 also takes the remainder); nothing when `shards`
/// is 0 (the Redis backend: shares are leased).
pub fn initial_share(cap_pico: u64, shard: usize, shards: usize) -> u64 {
    if shards == 0 {
        return 0;
    }
    let shards = shards as u64;
    let base = cap_pico / shards;
    if shard == 0 {
        base + cap_pico % shards
    } else {
        base
    }
}

/// This shard's part of spend that all shards share equally (restored from the ledger).
pub fn own_part(amount: u64, shard: usize, shards: usize) -> u64 {
    initial_share(amount, shard, shards)
}

/// One rate limit on one entity, as this shard sees it. Strict mode makes it exact across
/// shards the way budgets are: each shard may admit only within its share of the request count
/// and of the token count (own admissions, own settled tokens and own token reservations), and
/// shares move between shards on demand.
#[derive(Clone, Debug)]
pub struct RateState {
    pub spec: RateLimit,
    /// Requests admitted by every shard (own admissions plus the deltas of the others).
    pub requests: SlidingSum,
    /// Tokens settled by every shard.
    pub tokens: SlidingSum,
    /// Requests this shard admitted (strict share accounting).
    pub own_requests: SlidingSum,
    /// Tokens this shard settled (strict share accounting).
    pub own_tokens: SlidingSum,
    /// Strict mode: how many of the limit's requests this shard may admit.
    pub request_share: u64,
    /// Strict mode: how many of the limit's tokens this shard may consume (settled + reserved).
    pub token_share: u64,
    /// When this shard last asked the others for request share (0: never).
    pub last_request_ask_ms: u64,
    /// When this shard last asked the others for token share (0: never).
    pub last_token_ask_ms: u64,
    /// MCP tool calls admitted by every shard (own plus the others' `ToolCall` messages).
    pub tool_calls: SlidingSum,
    /// MCP tool calls this shard admitted (strict share accounting).
    pub own_tool_calls: SlidingSum,
    /// Strict mode: how many of the limit's tool calls this shard may admit.
    pub tool_call_share: u64,
    /// When this shard last asked the others for tool-call share (0: never).
    pub last_tool_call_ask_ms: u64,
}

impl RateState {
    pub fn new(spec: RateLimit, shard: usize, shards: usize) -> RateState {
        let window_ms = window_ms(&spec);
        RateState {
            spec,
            requests: SlidingSum::new(window_ms),
            tokens: SlidingSum::new(window_ms),
            own_requests: SlidingSum::new(window_ms),
            own_tokens: SlidingSum::new(window_ms),
            request_share: spec
                .requests
                .map_or(0, |max| initial_share(max, shard, shards)),
            token_share: spec
                .tokens
                .map_or(0, |max| initial_share(max, shard, shards)),
            last_request_ask_ms: 0,
            last_token_ask_ms: 0,
            tool_calls: SlidingSum::new(window_ms),
            own_tool_calls: SlidingSum::new(window_ms),
            tool_call_share: spec
                .tool_calls
                .map_or(0, |max| initial_share(max, shard, shards)),
            last_tool_call_ask_ms: 0,
        }
    }

    pub fn advance(&mut self, now_ms: u64) {
        self.requests.advance(now_ms);
        self.tokens.advance(now_ms);
        self.own_requests.advance(now_ms);
        self.own_tokens.advance(now_ms);
        self.tool_calls.advance(now_ms);
        self.own_tool_calls.advance(now_ms);
    }
}

/// `share` of a cap that was `before`, rescaled to a cap that is now `after` (config reload).
pub fn rescale_share(share: u64, before: u64, after: u64) -> u64 {
    if before == after || before == 0 {
        return share;
    }
    let scaled = u128::from(share) * u128::from(after) / u128::from(before);
    u64::try_from(scaled).unwrap_or(u64::MAX)
}

/// A rate limit's window in milliseconds (names the limit in share messages).
pub fn window_ms(spec: &RateLimit) -> u64 {
    u64::try_from(spec.window.as_millis()).unwrap_or(u64::MAX)
}
