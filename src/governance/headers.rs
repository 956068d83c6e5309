//! The response headers that tell a key's holder what is left: the tightest request limit,
//! token limit and budget over the key, its team and its customer.
//!
//! Names (sluice's own, so they never collide with an upstream's `anthropic-ratelimit-*`):
//! `x-sluice-ratelimit-requests-{limit,remaining,reset}`,
//! `x-sluice-ratelimit-tokens-{limit,remaining,reset}`,
//! `x-sluice-budget-{limit-usd,remaining-usd,reset,level}`. Resets are RFC 3339 UTC instants
//! at which the counted usage will have left the window; dollars have six decimals.

use std::io::Write;

use super::entity::Level;
use super::state::{Governor, KeyRef};
use super::window::format_rfc3339;
use crate::config::BudgetMode;

/// A count limit and what is left of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Remaining {
    pub limit: u64,
    pub remaining: u64,
    pub reset_at_ms: u64,
}

/// A budget and what is left of it (pico-dollars).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BudgetRemaining {
    pub level: Level,
    pub limit_pico: u64,
    pub remaining_pico: u64,
    pub reset_at_ms: u64,
}

/// The tightest limits over a key's levels; `None` where no level has one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LimitHeaders {
    pub requests: Option<Remaining>,
    pub tokens: Option<Remaining>,
    pub budget: Option<BudgetRemaining>,
}

impl LimitHeaders {
    /// Appends the headers as `name: value\r\n` lines.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        for (name, value) in self.pairs() {
            let _ = write!(out, "{name}: {value}\r\n");
        }
    }

    /// The headers as (name, value) pairs.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::with_capacity(10);
        if let Some(r) = self.requests {
            pairs.push(("x-sluice-ratelimit-requests-limit", r.limit.to_string()));
            pairs.push((
                "x-sluice-ratelimit-requests-remaining",
                r.remaining.to_string(),
            ));
            pairs.push((
                "x-sluice-ratelimit-requests-reset",
                format_rfc3339(r.reset_at_ms),
            ));
        }
        if let Some(t) = self.tokens {
            pairs.push(("x-sluice-ratelimit-tokens-limit", t.limit.to_string()));
            pairs.push((
                "x-sluice-ratelimit-tokens-remaining",
                t.remaining.to_string(),
            ));
            pairs.push((
                "x-sluice-ratelimit-tokens-reset",
                format_rfc3339(t.reset_at_ms),
            ));
        }
        if let Some(b) = self.budget {
            pairs.push(("x-sluice-budget-limit-usd", format_usd(b.limit_pico)));
            pairs.push((
                "x-sluice-budget-remaining-usd",
                format_usd(b.remaining_pico),
            ));
            pairs.push(("x-sluice-budget-reset", format_rfc3339(b.reset_at_ms)));
            pairs.push(("x-sluice-budget-level", b.level.as_str().to_owned()));
        }
        pairs
    }
}

/// Pico-dollars → `12.345678` (truncated to micro-dollars).
pub fn format_usd(pico: u64) -> String {
    let micro = pico / 1_000_000;
    format!("{}.{:06}", micro / 1_000_000, micro % 1_000_000)
}

impl Governor {
    /// What is left for `key` over its key, team and customer levels.
    pub fn limit_headers(&self, key: KeyRef) -> LimitHeaders {
        let now_ms = self.clock.now_unix_millis();
        let mut state = self.state.borrow_mut();
        let strict = state.mode == BudgetMode::Strict;
        let Some((_, entity_slot)) = state.resolve_key(key) else {
            return LimitHeaders::default();
        };
        let (team, customer) = state
            .registry
            .get(entity_slot)
            .map_or((None, None), |e| (e.team, e.customer));
        let mut headers = LimitHeaders::default();
        for (level, slot) in [
            (Level::Key, Some(entity_slot)),
            (Level::Team, team),
            (Level::Customer, customer),
        ] {
            let Some(entity) = slot.and_then(|s| state.registry.get_mut(s)) else {
                continue;
            };
            for limit in &mut entity.limits {
                limit.advance(now_ms);
                if let Some(max) = limit.spec.requests {
                    tighten(
                        &mut headers.requests,
                        Remaining {
                            limit: max,
                            remaining: max.saturating_sub(limit.requests.total()),
                            reset_at_ms: limit.requests.empty_at_ms(now_ms),
                        },
                    );
                }
                if let Some(max) = limit.spec.tokens {
                    tighten(
                        &mut headers.tokens,
                        Remaining {
                            limit: max,
                            remaining: max.saturating_sub(limit.tokens.total()),
                            reset_at_ms: limit.tokens.empty_at_ms(now_ms),
                        },
                    );
                }
            }
            let reserved = if strict { entity.reserved_pico } else { 0 };
            for budget in &mut entity.budgets {
                budget.advance(now_ms);
                let used = budget.global.total().saturating_add(reserved);
                let candidate = BudgetRemaining {
                    level,
                    limit_pico: budget.cap_pico,
                    remaining_pico: budget.cap_pico.saturating_sub(used),
                    reset_at_ms: budget.global.empty_at_ms(now_ms),
                };
                if headers
                    .budget
                    .is_none_or(|b| candidate.remaining_pico < b.remaining_pico)
                {
                    headers.budget = Some(candidate);
                }
            }
        }
        headers
    }
}

fn tighten(current: &mut Option<Remaining>, candidate: Remaining) {
    if current.is_none_or(|c| candidate.remaining < c.remaining) {
        *current = Some(candidate);
    }
}
