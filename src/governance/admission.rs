//! Admission: before a request is forwarded, check the model allow-lists, every rate limit and
//! every budget on every level it touches (key → team → customer, provider), then reserve.
//! Checks run on all levels before anything is counted, so a refusal leaves no trace.

use std::rc::Rc;

use super::counters::window_ms;
use super::entity::{EntityId, Level};
use super::input_bound::RequestBound;
use super::messages::{BudgetKey, Outbound, ShareOf};
use super::pricing::{Price, UNKNOWN_MAX_OUTPUT_TOKENS, worst_case_pico};
use super::registry::Entity;
use super::rejection::{AuthFailure, BUDGET_BUSY_RETRY_SECS, BusyLimit, RateKind, Rejection};
use super::reservation::{Held, Reservation};
use super::shares;
use super::state::{Governor, KeyRef, State};
use super::usage::Usage;
use crate::config::BudgetMode;

/// Strict mode: a shard asks for more share when what is left of its own is under this many
/// times the reservation it just made (for a request limit: this many requests).
pub const SHARE_LOW_WATER_FACTOR: u64 = 2;
/// Strict mode: how much a shard asks for, in reservations of the current request (for a
/// request limit: requests).
pub const SHARE_ASK_FACTOR: u64 = 4;

/// The four levels in the order they are checked, with their index in a delta.
pub(super) const LEVELS: [Level; 4] = [Level::Key, Level::Team, Level::Customer, Level::Provider];

impl Governor {
    /// Admits a request for `model` on provider entry `provider` (its configured name) under
    /// `key` with `input_tokens` as its input bound and `max_tokens` as its output cap (see
    /// [`Governor::admit_bounded`]).
    pub fn admit(
        self: &Rc<Self>,
        key: Option<KeyRef>,
        provider: &str,
        model: &str,
        input_tokens: u64,
        max_tokens: u64,
    ) -> Result<Reservation, Rejection> {
        let bound = RequestBound {
            input_tokens,
            max_tokens: Some(max_tokens),
            one_hour_cache_write: false,
        };
        self.admit_bounded(key, provider, model, &bound)
    }

    /// Admits a request for `model` on provider entry `provider` (its configured name) under
    /// `key` (none: the client's own credentials pass through, and only the provider's budgets
    /// and limits apply). `bound` (see [`request_bound`](super::request_bound)) sizes the
    /// strict-mode reservation of money and of tokens. The returned guard must live until the
    /// response ends.
    pub fn admit_bounded(
        self: &Rc<Self>,
        key: Option<KeyRef>,
        provider: &str,
        model: &str,
        bound: &RequestBound,
    ) -> Result<Reservation, Rejection> {
        let now_ms = self.clock.now_unix_millis();
        let mut guard = self.state.borrow_mut();
        let state = &mut *guard;
        let mut slots: [Option<u32>; 4] = [None; 4];
        if let Some(key) = key {
            let (key_slot, entity_slot) = state
                .resolve_key(key)
                .ok_or(Rejection::Unauthenticated(AuthFailure::Unknown))?;
            let record = state
                .keys
                .get(key_slot)
                .ok_or(Rejection::Unauthenticated(AuthFailure::Unknown))?;
            if let Some(refused) = record.unusable(now_ms) {
                return Err(Rejection::Unauthenticated(match refused {
                    super::keys::KeyState::Revoked => AuthFailure::Revoked,
                    super::keys::KeyState::Expired => AuthFailure::Expired,
                }));
            }
            let entity = state.registry.get(entity_slot);
            slots[0] = Some(entity_slot);
            slots[1] = entity.and_then(|e| e.team);
            slots[2] = entity.and_then(|e| e.customer);
        }
        slots[3] = state.registry.provider_slot(provider);

        state.scratch.clear();
        state.scratch.push_str(provider);
        state.scratch.push('/');
        state.scratch.push_str(model);
        let entry = state.model_entry(model);
        let State {
            registry,
            scratch,
            outbox,
            mode,
            generation,
            backend,
            ..
        } = state;
        for (level, slot) in LEVELS.iter().zip(slots).take(2) {
            if let Some(entity) = slot.and_then(|s| registry.get_mut(s))
                && !entity.allows(Some(entry.id), scratch)
            {
                return Err(Rejection::ModelNotAllowed {
                    level: *level,
                    entity: entity.name.to_string(),
                    model: scratch.clone(),
                });
            }
        }

        let provider_budgeted = registry.has_budgets(slots[3]);
        if entry.price.is_none() && (slots[0].is_some() || provider_budgeted) {
            return Err(Rejection::UnpricedModel {
                model: scratch.clone(),
            });
        }
        if slots[0].is_none() && !provider_budgeted {
            // Nothing governs this request: no counter to touch, no delta to send.
            slots[3] = None;
        }
        if backend.refuses() && slots.iter().any(Option::is_some) {
            return Err(Rejection::BackendUnavailable);
        }
        let strict = *mode == BudgetMode::Strict;
        let (worst_case, need) = self.size(entry.price.as_ref(), bound, strict, backend.pooled);
        let (reserve, reserve_tokens) = (need.pico, need.tokens);

        // A share shortfall on one level does not stop the others being checked: every short
        // share is asked for at once, so one wait covers them all.
        let mut busy = None;
        for (level, slot) in LEVELS.iter().zip(slots) {
            if let Some(entity) = slot.and_then(|s| registry.get_mut(s)) {
                check(entity, *level, now_ms, &need, outbox, &mut busy)?;
            }
        }
        if let Some(busy) = busy {
            return Err(busy);
        }
        let mut ids: [Option<EntityId>; 4] = [None; 4];
        for (index, slot) in slots.iter().enumerate() {
            let Some(entity) = slot.and_then(|s| registry.get_mut(s)) else {
                continue;
            };
            ids[index] = Some(entity.id);
            hold(entity, now_ms, &need, outbox);
        }
        let held = Held {
            pico: reserve,
            tokens: reserve_tokens,
            one_hour_cache_write: strict && bound.one_hour_cache_write,
        };
        Ok(Reservation::new(
            Rc::clone(self),
            *generation,
            slots,
            ids,
            held,
            entry.price,
            now_ms,
        )
        .with_worst_case(worst_case)
        .with_bound(*bound))
    }
}

impl Governor {
    /// Whether provider entry `name` has budgets: a request under no virtual key is governed
    /// only then.
    pub fn provider_budgeted(&self, name: &str) -> bool {
        let registry = &self.state.borrow().registry;
        registry.has_budgets(registry.provider_slot(name))
    }

    /// The worst-case usage of a request with `bound` at `price`, and what it needs on every
    /// level (strict mode: its worst-case cost and tokens; soft mode: nothing).
    pub(super) fn size(
        &self,
        price: Option<&Price>,
        bound: &RequestBound,
        strict: bool,
        pooled: bool,
    ) -> (Usage, Need) {
        let output = bound
            .max_tokens
            .or(price.and_then(|p| p.max_output_tokens))
            .unwrap_or(UNKNOWN_MAX_OUTPUT_TOKENS);
        let worst_case = Usage {
            input_tokens: bound.input_tokens,
            output_tokens: output,
            ..Usage::default()
        };
        let (pico, tokens) = match (price, strict) {
            (Some(price), true) => (
                worst_case_pico(
                    price,
                    bound.input_tokens,
                    output,
                    bound.one_hour_cache_write,
                ),
                bound.input_tokens.saturating_add(output),
            ),
            _ => (0, 0),
        };
        let need = Need {
            pico,
            tokens,
            strict,
            // With the Redis backend the share comes from the instance's broker.
            sharing_shard: (strict && (self.shards > 1 || pooled)).then_some(self.shard),
            counted: false,
        };
        (worst_case, need)
    }
}

impl State {
    /// (key-table slot, entity slot) of `key` now, re-resolved by id after a reload.
    pub fn resolve_key(&self, key: KeyRef) -> Option<(u32, u32)> {
        if key.generation == self.generation {
            return Some((key.key_slot, key.entity_slot));
        }
        let entity_slot = self.registry.by_id.get(&key.entity).copied()?;
        let key_slot = self.registry.get(entity_slot)?.key_slot?;
        Some((key_slot, entity_slot))
    }
}

/// What one request needs on every level it touches.
pub(super) struct Need {
    /// Strict mode: the money reserved (pico-dollars), its worst case.
    pub(super) pico: u64,
    /// Strict mode: the tokens reserved against token limits, its worst case.
    pub(super) tokens: u64,
    pub(super) strict: bool,
    /// Strict mode with several shards: this shard (shares are in use).
    pub(super) sharing_shard: Option<usize>,
    /// The request is already counted on this level (a reservation moved to another target,
    /// governance/retarget.rs): its request limits are not checked or counted again.
    pub(super) counted: bool,
}

/// One level's rate limits and budgets: refuses if any of them has no room for `need`. A share
/// this shard is short of is asked for and noted in `busy` (the first one), and checking goes
/// on.
pub(super) fn check(
    entity: &mut Entity,
    level: Level,
    now_ms: u64,
    need: &Need,
    outbox: &mut Vec<Outbound>,
    busy: &mut Option<Rejection>,
) -> Result<(), Rejection> {
    let (id, reserved_tokens) = (entity.id, entity.reserved_tokens);
    for limit in &mut entity.limits {
        limit.advance(now_ms);
        let window_secs = limit.spec.window.as_secs();
        let window_ms = window_ms(&limit.spec);
        let committed_tokens = if need.strict {
            reserved_tokens.saturating_add(need.tokens)
        } else {
            0
        };
        let exhausted = match (limit.spec.requests, limit.spec.tokens) {
            (Some(max), _) if !need.counted && limit.requests.total().saturating_add(1) > max => {
                Some((
                    RateKind::Requests,
                    max,
                    limit.requests.relief_at_ms(now_ms, max - 1),
                ))
            }
            (_, Some(max))
                if limit.tokens.total() >= max
                    || limit.tokens.total().saturating_add(committed_tokens) > max =>
            {
                Some((
                    RateKind::Tokens,
                    max,
                    limit
                        .tokens
                        .relief_at_ms(now_ms, max.saturating_sub(committed_tokens.max(1))),
                ))
            }
            _ => None,
        };
        if let Some((kind, max, relief_ms)) = exhausted {
            return Err(Rejection::RateLimited {
                level,
                entity: entity.name.to_string(),
                kind,
                limit: max,
                window_secs,
                retry_after_secs: secs_until(now_ms, relief_ms),
            });
        }
        let Some(shard) = need.sharing_shard else {
            continue;
        };
        let mut short = |limit: BusyLimit| {
            if busy.is_none() {
                *busy = Some(Rejection::BudgetBusy {
                    level,
                    entity: entity.name.to_string(),
                    limit,
                    retry_after_secs: BUDGET_BUSY_RETRY_SECS,
                });
            }
        };
        if limit.spec.requests.is_some() && !need.counted {
            let used = limit.own_requests.total().saturating_add(1);
            if used > limit.request_share {
                let wanted = (used - limit.request_share).saturating_add(SHARE_LOW_WATER_FACTOR);
                let of = ShareOf::Requests { window_ms };
                shares::ask(
                    &mut limit.last_request_ask_ms,
                    id,
                    of,
                    wanted,
                    now_ms,
                    shard,
                    outbox,
                );
                short(BusyLimit::Requests);
            }
        }
        if limit.spec.tokens.is_some() {
            let used = limit.own_tokens.total().saturating_add(committed_tokens);
            if used > limit.token_share {
                let wanted = (used - limit.token_share)
                    .saturating_add(need.tokens.saturating_mul(SHARE_LOW_WATER_FACTOR));
                let of = ShareOf::Tokens { window_ms };
                shares::ask(
                    &mut limit.last_token_ask_ms,
                    id,
                    of,
                    wanted,
                    now_ms,
                    shard,
                    outbox,
                );
                short(BusyLimit::Tokens);
            }
        }
    }
    let (id, reserved) = (entity.id, entity.reserved_pico);
    let reserve = need.pico;
    for budget in &mut entity.budgets {
        budget.advance(now_ms);
        let spent = budget.global.total();
        let refused_until = if need.strict {
            let committed = reserved.saturating_add(reserve);
            (spent >= budget.cap_pico || spent.saturating_add(committed) > budget.cap_pico).then(
                || {
                    // Spend must fall far enough for this request's worst case (and below the cap).
                    budget
                        .global
                        .relief_at_ms(now_ms, budget.cap_pico.saturating_sub(committed.max(1)))
                },
            )
        } else {
            (spent >= budget.cap_pico).then(|| {
                budget
                    .global
                    .relief_at_ms(now_ms, budget.cap_pico.saturating_sub(1))
            })
        };
        if let Some(relief_ms) = refused_until {
            return Err(Rejection::BudgetExceeded {
                level,
                entity: entity.name.to_string(),
                max_micro_usd: budget.spec.max_micro_usd,
                reset: budget.spec.reset,
                calendar_aligned: budget.spec.calendar_aligned,
                resets_at_unix_secs: relief_ms.div_ceil(1_000),
            });
        }
        if let Some(shard) = need.sharing_shard {
            let used = budget
                .own
                .total()
                .saturating_add(reserved)
                .saturating_add(reserve);
            if used > budget.share_pico {
                let wanted = (used - budget.share_pico)
                    .saturating_add(reserve.saturating_mul(SHARE_LOW_WATER_FACTOR));
                let of = ShareOf::Budget(BudgetKey::of(&budget.spec));
                let last = &mut budget.last_share_request_ms;
                shares::ask(last, id, of, wanted, now_ms, shard, outbox);
                if busy.is_none() {
                    *busy = Some(Rejection::BudgetBusy {
                        level,
                        entity: entity.name.to_string(),
                        limit: BusyLimit::Budget,
                        retry_after_secs: BUDGET_BUSY_RETRY_SECS,
                    });
                }
            }
        }
    }
    Ok(())
}

/// Counts an admitted request on one level: its reservations, its request on every limit, and
/// (strict mode with several shards) an early ask for more share when what is left of this
/// shard's runs low.
pub(super) fn hold(entity: &mut Entity, now_ms: u64, need: &Need, outbox: &mut Vec<Outbound>) {
    entity.reserved_pico = entity.reserved_pico.saturating_add(need.pico);
    entity.reserved_tokens = entity.reserved_tokens.saturating_add(need.tokens);
    let (id, reserved, reserved_tokens) = (entity.id, entity.reserved_pico, entity.reserved_tokens);
    if !need.counted {
        entity.in_flight = entity.in_flight.saturating_add(1);
    }
    for limit in &mut entity.limits {
        if !need.counted {
            limit.requests.add(now_ms, 1);
            limit.own_requests.add(now_ms, 1);
        }
        let Some(shard) = need.sharing_shard else {
            continue;
        };
        let window_ms = window_ms(&limit.spec);
        if limit.spec.requests.is_some() && !need.counted {
            let free = limit
                .request_share
                .saturating_sub(limit.own_requests.total());
            if free < SHARE_LOW_WATER_FACTOR {
                let of = ShareOf::Requests { window_ms };
                let last = &mut limit.last_request_ask_ms;
                shares::ask(last, id, of, SHARE_ASK_FACTOR, now_ms, shard, outbox);
            }
        }
        if limit.spec.tokens.is_some() && need.tokens > 0 {
            let used = limit.own_tokens.total().saturating_add(reserved_tokens);
            if limit.token_share.saturating_sub(used)
                < need.tokens.saturating_mul(SHARE_LOW_WATER_FACTOR)
            {
                let of = ShareOf::Tokens { window_ms };
                let wanted = need.tokens.saturating_mul(SHARE_ASK_FACTOR);
                let last = &mut limit.last_token_ask_ms;
                shares::ask(last, id, of, wanted, now_ms, shard, outbox);
            }
        }
    }
    let Some(shard) = need.sharing_shard else {
        return;
    };
    if need.pico == 0 {
        return;
    }
    for budget in &mut entity.budgets {
        let used = budget.own.total().saturating_add(reserved);
        let free = budget.share_pico.saturating_sub(used);
        if free < need.pico.saturating_mul(SHARE_LOW_WATER_FACTOR) {
            let of = ShareOf::Budget(BudgetKey::of(&budget.spec));
            let wanted = need.pico.saturating_mul(SHARE_ASK_FACTOR);
            let last = &mut budget.last_share_request_ms;
            shares::ask(last, id, of, wanted, now_ms, shard, outbox);
        }
    }
}

/// Whole seconds from `now_ms` until `at_ms`, at least 1.
pub(super) fn secs_until(now_ms: u64, at_ms: u64) -> u64 {
    at_ms.saturating_sub(now_ms).div_ceil(1_000).max(1)
}
