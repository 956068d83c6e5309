//! Admission: before a request is forwarded, check the model allow-lists, every rate limit and
//! every budget on every level it touches (key → team → customer, provider), then reserve.
//! Checks run on all levels before anything is counted, so a refusal leaves no trace.

use std::rc::Rc;

use super::counters::BudgetState;
use super::entity::{EntityId, Level};
use super::messages::{BudgetKey, GovMsg, Outbound, Route, ShareRequest};
use super::pricing::worst_case_pico;
use super::registry::Entity;
use super::rejection::{AuthFailure, BUDGET_BUSY_RETRY_SECS, RateKind, Rejection};
use super::reservation::Reservation;
use super::state::{Governor, KeyRef, State};
use crate::config::BudgetMode;

/// Strict mode: a shard asks for more share when what is left of its own is under this many
/// times the reservation it just made.
pub const SHARE_LOW_WATER_FACTOR: u64 = 2;
/// Strict mode: how much a shard asks for, in reservations of the current request.
pub const SHARE_ASK_FACTOR: u64 = 4;
/// Strict mode: least time between two requests for share on one budget.
pub const SHARE_REQUEST_INTERVAL_MS: u64 = 10;

/// The four levels in the order they are checked, with their index in a delta.
const LEVELS: [Level; 4] = [Level::Key, Level::Team, Level::Customer, Level::Provider];

impl Governor {
    /// Admits a request for `model` on provider entry `provider` (its configured name) under
    /// `key` (none: the client's own credentials pass through, and only the provider's budgets
    /// apply). `estimate_input_tokens` (see `pricing::estimate_input_tokens`) and `max_tokens`
    /// size the strict-mode reservation. The returned guard must live until the response ends.
    pub fn admit(
        self: &Rc<Self>,
        key: Option<KeyRef>,
        provider: &str,
        model: &str,
        estimate_input_tokens: u64,
        max_tokens: u64,
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

        let provider_budgeted = slots[3]
            .and_then(|s| registry.get(s))
            .is_some_and(|e| !e.budgets.is_empty());
        if entry.price.is_none() && (slots[0].is_some() || provider_budgeted) {
            return Err(Rejection::UnpricedModel {
                model: scratch.clone(),
            });
        }
        if slots[0].is_none() && !provider_budgeted {
            // Nothing governs this request: no counter to touch, no delta to send.
            slots[3] = None;
        }
        let strict = *mode == BudgetMode::Strict;
        let reserve = match (&entry.price, strict) {
            (Some(price), true) => worst_case_pico(price, estimate_input_tokens, max_tokens),
            _ => 0,
        };
        let sharing = strict && self.shards > 1;

        for (level, slot) in LEVELS.iter().zip(slots) {
            if let Some(entity) = slot.and_then(|s| registry.get_mut(s)) {
                check(
                    entity,
                    *level,
                    now_ms,
                    reserve,
                    strict,
                    self.sharing_shard(sharing),
                    outbox,
                )?;
            }
        }
        let mut ids: [Option<EntityId>; 4] = [None; 4];
        for (index, slot) in slots.iter().enumerate() {
            let Some(entity) = slot.and_then(|s| registry.get_mut(s)) else {
                continue;
            };
            ids[index] = Some(entity.id);
            entity.reserved_pico = entity.reserved_pico.saturating_add(reserve);
            entity.in_flight = entity.in_flight.saturating_add(1);
            for limit in &mut entity.limits {
                limit.requests.add(now_ms, 1);
            }
            if sharing && reserve > 0 {
                let (id, reserved) = (entity.id, entity.reserved_pico);
                for budget in &mut entity.budgets {
                    let used = budget.own.total().saturating_add(reserved);
                    let free = budget.share_pico.saturating_sub(used);
                    if free < reserve.saturating_mul(SHARE_LOW_WATER_FACTOR) {
                        ask_for_share(
                            budget,
                            id,
                            reserve.saturating_mul(SHARE_ASK_FACTOR),
                            now_ms,
                            self.shard,
                            outbox,
                        );
                    }
                }
            }
        }
        Ok(Reservation::new(
            Rc::clone(self),
            *generation,
            slots,
            ids,
            reserve,
            entry.price,
            now_ms,
        ))
    }

    fn sharing_shard(&self, sharing: bool) -> Option<usize> {
        sharing.then_some(self.shard)
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

/// One level's rate limits and budgets; `sharing_shard` is set in strict mode with several
/// shards (the shard asking for share when its own runs short).
fn check(
    entity: &mut Entity,
    level: Level,
    now_ms: u64,
    reserve: u64,
    strict: bool,
    sharing_shard: Option<usize>,
    outbox: &mut Vec<Outbound>,
) -> Result<(), Rejection> {
    for limit in &mut entity.limits {
        limit.advance(now_ms);
        let window_secs = limit.spec.window.as_secs();
        let exhausted = match (limit.spec.requests, limit.spec.tokens) {
            (Some(max), _) if limit.requests.total().saturating_add(1) > max => Some((
                RateKind::Requests,
                max,
                limit.requests.relief_at_ms(now_ms, max - 1),
            )),
            (_, Some(max)) if limit.tokens.total() >= max => Some((
                RateKind::Tokens,
                max,
                limit.tokens.relief_at_ms(now_ms, max - 1),
            )),
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
    }
    let (id, reserved) = (entity.id, entity.reserved_pico);
    for budget in &mut entity.budgets {
        budget.advance(now_ms);
        let spent = budget.global.total();
        let refused_until = if strict {
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
        if let Some(shard) = sharing_shard {
            let used = budget
                .own
                .total()
                .saturating_add(reserved)
                .saturating_add(reserve);
            if used > budget.share_pico {
                let wanted = (used - budget.share_pico)
                    .saturating_add(reserve.saturating_mul(SHARE_LOW_WATER_FACTOR));
                ask_for_share(budget, id, wanted, now_ms, shard, outbox);
                return Err(Rejection::BudgetBusy {
                    level,
                    entity: entity.name.to_string(),
                    retry_after_secs: BUDGET_BUSY_RETRY_SECS,
                });
            }
        }
    }
    Ok(())
}

/// Broadcasts a request for share, at most once per `SHARE_REQUEST_INTERVAL_MS` per budget.
fn ask_for_share(
    budget: &mut BudgetState,
    entity: EntityId,
    wanted_pico: u64,
    now_ms: u64,
    shard: usize,
    outbox: &mut Vec<Outbound>,
) {
    if budget.last_share_request_ms != 0
        && now_ms
            < budget
                .last_share_request_ms
                .saturating_add(SHARE_REQUEST_INTERVAL_MS)
    {
        return;
    }
    budget.last_share_request_ms = now_ms.max(1);
    outbox.push(Outbound {
        route: Route::Others,
        ledger: false,
        msg: GovMsg::ShareRequest(ShareRequest {
            from_shard: u32::try_from(shard).unwrap_or(u32::MAX),
            entity,
            budget: BudgetKey::of(&budget.spec),
            wanted_pico,
        }),
    });
}

/// Whole seconds from `now_ms` until `at_ms`, at least 1.
pub(super) fn secs_until(now_ms: u64, at_ms: u64) -> u64 {
    at_ms.saturating_sub(now_ms).div_ceil(1_000).max(1)
}
