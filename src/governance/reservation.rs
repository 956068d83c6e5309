//! The reservation guard: what one admitted request holds on every level until it ends, then
//! replaced by its actual cost. Released on every path: `settle` with the usage reported, or
//! `Drop` (error, disconnect, panic) charging nothing but the request itself.

use std::rc::Rc;

use super::entity::EntityId;
use super::input_bound::RequestBound;
use super::messages::{GovMsg, Outbound, Route, SpendDelta};
use super::pricing::{Price, cost_pico};
use super::state::{Governor, State};
use super::usage::Usage;

/// What a settlement charged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SettledCost {
    /// `None` when the model has no price and nothing governed needed one.
    pub cost_pico: Option<u64>,
    /// What had been reserved (strict mode; 0 in soft mode).
    pub reserved_pico: u64,
    /// false for `settle_partial` and for a dropped guard.
    pub complete: bool,
    /// The delta already queued for the other shards and the ledger.
    pub delta: SpendDelta,
}

/// What a strict-mode admission reserved on every level (all zero in soft mode).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Held {
    /// The request's worst-case cost.
    pub pico: u64,
    /// Its worst-case tokens against token limits (input bound + output cap).
    pub tokens: u64,
    /// Its body asks for a 1-hour cache write: cache writes are charged at that rate.
    pub one_hour_cache_write: bool,
}

/// An admitted request's hold on its levels' budgets and limits.
pub struct Reservation {
    pub(super) governor: Rc<Governor>,
    pub(super) generation: u32,
    pub(super) slots: [Option<u32>; 4],
    pub(super) ids: [Option<EntityId>; 4],
    pub(super) held: Held,
    pub(super) price: Option<Price>,
    admitted_at_ms: u64,
    open: bool,
    /// The request's worst-case usage (input bound, output cap): charged when the response's
    /// usage cannot be read.
    pub(super) worst_case: Usage,
    /// What the request was admitted with (a move to another target re-sizes it).
    pub(super) bound: RequestBound,
}

impl Reservation {
    pub(super) fn new(
        governor: Rc<Governor>,
        generation: u32,
        slots: [Option<u32>; 4],
        ids: [Option<EntityId>; 4],
        held: Held,
        price: Option<Price>,
        admitted_at_ms: u64,
    ) -> Reservation {
        Reservation {
            governor,
            generation,
            slots,
            ids,
            held,
            price,
            admitted_at_ms,
            open: true,
            worst_case: Usage::default(),
            bound: RequestBound::default(),
        }
    }

    /// Keeps the bound the request was admitted with, for a move to another target.
    pub(super) fn with_bound(mut self, bound: RequestBound) -> Reservation {
        self.bound = bound;
        self
    }

    /// Sets the worst-case usage [`settle_unread`](Self::settle_unread) charges.
    pub(super) fn with_worst_case(mut self, usage: Usage) -> Reservation {
        self.worst_case = usage;
        self
    }

    /// The response was delivered but its usage could not be read: charge the worst case the
    /// request was admitted with, never nothing.
    pub fn settle_unread(mut self) -> SettledCost {
        let usage = self.worst_case.clone();
        self.finish(&usage, true)
    }

    /// The worst case held (strict mode), in pico-dollars.
    pub fn reserved_pico(&self) -> u64 {
        self.held.pico
    }

    /// The worst-case tokens held against token limits (strict mode).
    pub fn reserved_tokens(&self) -> u64 {
        self.held.tokens
    }

    /// The price the request will be charged at.
    pub fn price(&self) -> Option<Price> {
        self.price
    }

    /// The request ended with `usage` as the provider reported it: charge it.
    pub fn settle(mut self, usage: &Usage) -> SettledCost {
        self.finish(usage, true)
    }

    /// The request ended early (client gone mid-stream, upstream cut): charge what the stream
    /// reported so far.
    pub fn settle_partial(mut self, usage: &Usage) -> SettledCost {
        self.finish(usage, false)
    }

    fn finish(&mut self, usage: &Usage, complete: bool) -> SettledCost {
        self.open = false;
        let now_ms = self.governor.clock.now_unix_millis();
        let cost = self.price.map(|price| {
            if self.held.one_hour_cache_write {
                cost_pico(&price.with_one_hour_cache_writes(), usage)
            } else {
                cost_pico(&price, usage)
            }
        });
        let rate_tokens = usage
            .input_tokens
            .saturating_add(usage.cache_creation_input_tokens)
            .saturating_add(usage.output_tokens);
        // Strict mode: what the request cost beyond its reservation (the bound did not hold).
        let strict = self.held.pico > 0 || self.held.tokens > 0;
        let delta = SpendDelta {
            origin_shard: u32::try_from(self.governor.shard).unwrap_or(u32::MAX),
            entities: self.ids,
            admitted_at_ms: self.admitted_at_ms,
            settled_at_ms: now_ms.max(self.admitted_at_ms),
            cost_pico: cost.unwrap_or(0),
            rate_tokens,
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            cache_read_tokens: usage.cache_read_input_tokens,
            cache_write_tokens: usage.cache_creation_input_tokens,
            overshoot_pico: if strict && self.held.pico > 0 {
                cost.unwrap_or(0).saturating_sub(self.held.pico)
            } else {
                0
            },
            overshoot_tokens: if strict {
                rate_tokens.saturating_sub(self.held.tokens)
            } else {
                0
            },
        };
        // Only unavailable while a governance call on this shard is unwinding from a panic.
        if let Ok(mut state) = self.governor.state.try_borrow_mut() {
            state.settle(self.generation, self.slots, self.held, &delta);
        }
        SettledCost {
            cost_pico: cost,
            reserved_pico: self.held.pico,
            complete,
            delta,
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.open {
            self.finish(&Usage::default(), false);
        }
    }
}

impl State {
    /// Releases a reservation, charges the delta's cost and tokens locally, and queues the
    /// delta for every other shard and the ledger.
    fn settle(&mut self, generation: u32, slots: [Option<u32>; 4], held: Held, delta: &SpendDelta) {
        self.overshoot.add(delta);
        for (slot, id) in slots.into_iter().zip(delta.entities) {
            let slot = if generation == self.generation {
                slot
            } else {
                id.and_then(|id| self.registry.by_id.get(&id).copied())
            };
            let Some(entity) = slot.and_then(|s| self.registry.get_mut(s)) else {
                continue;
            };
            entity.reserved_pico = entity.reserved_pico.saturating_sub(held.pico);
            entity.reserved_tokens = entity.reserved_tokens.saturating_sub(held.tokens);
            entity.in_flight = entity.in_flight.saturating_sub(1);
            for budget in &mut entity.budgets {
                if delta.settled_at_ms >= budget.reset_at_ms {
                    budget.global.add(delta.settled_at_ms, delta.cost_pico);
                    budget.own.add(delta.settled_at_ms, delta.cost_pico);
                }
            }
            for limit in &mut entity.limits {
                limit.tokens.add(delta.settled_at_ms, delta.rate_tokens);
                limit.own_tokens.add(delta.settled_at_ms, delta.rate_tokens);
            }
        }
        // A request no governed entity is counted on (no key, no provider budget) has nothing
        // for the other shards or the ledger to record.
        if delta.entities.iter().any(Option::is_some) {
            self.outbox.push(Outbound {
                route: Route::Others,
                ledger: true,
                msg: GovMsg::Spend(*delta),
            });
        }
    }
}
