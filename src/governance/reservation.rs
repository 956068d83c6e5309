//! The reservation guard: what one admitted request holds on every level until it ends, then
//! replaced by its actual cost. Released on every path: `settle` with the usage reported, or
//! `Drop` (error, disconnect, panic) charging nothing but the request itself.

use std::rc::Rc;

use super::entity::EntityId;
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

/// An admitted request's hold on its levels' budgets and limits.
pub struct Reservation {
    governor: Rc<Governor>,
    generation: u32,
    slots: [Option<u32>; 4],
    ids: [Option<EntityId>; 4],
    reserved_pico: u64,
    price: Option<Price>,
    admitted_at_ms: u64,
    open: bool,
}

impl Reservation {
    pub(super) fn new(
        governor: Rc<Governor>,
        generation: u32,
        slots: [Option<u32>; 4],
        ids: [Option<EntityId>; 4],
        reserved_pico: u64,
        price: Option<Price>,
        admitted_at_ms: u64,
    ) -> Reservation {
        Reservation {
            governor,
            generation,
            slots,
            ids,
            reserved_pico,
            price,
            admitted_at_ms,
            open: true,
        }
    }

    /// The worst case held (strict mode), in pico-dollars.
    pub fn reserved_pico(&self) -> u64 {
        self.reserved_pico
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
        let cost = self.price.map(|price| cost_pico(&price, usage));
        let delta = SpendDelta {
            origin_shard: u32::try_from(self.governor.shard).unwrap_or(u32::MAX),
            entities: self.ids,
            admitted_at_ms: self.admitted_at_ms,
            settled_at_ms: now_ms.max(self.admitted_at_ms),
            cost_pico: cost.unwrap_or(0),
            rate_tokens: usage
                .input_tokens
                .saturating_add(usage.cache_creation_input_tokens)
                .saturating_add(usage.output_tokens),
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            cache_read_tokens: usage.cache_read_input_tokens,
            cache_write_tokens: usage.cache_creation_input_tokens,
        };
        // Only unavailable while a governance call on this shard is unwinding from a panic.
        if let Ok(mut state) = self.governor.state.try_borrow_mut() {
            state.settle(self.generation, self.slots, self.reserved_pico, &delta);
        }
        SettledCost {
            cost_pico: cost,
            reserved_pico: self.reserved_pico,
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
    fn settle(
        &mut self,
        generation: u32,
        slots: [Option<u32>; 4],
        reserved_pico: u64,
        delta: &SpendDelta,
    ) {
        for (slot, id) in slots.into_iter().zip(delta.entities) {
            let slot = if generation == self.generation {
                slot
            } else {
                id.and_then(|id| self.registry.by_id.get(&id).copied())
            };
            let Some(entity) = slot.and_then(|s| self.registry.get_mut(s)) else {
                continue;
            };
            entity.reserved_pico = entity.reserved_pico.saturating_sub(reserved_pico);
            entity.in_flight = entity.in_flight.saturating_sub(1);
            for budget in &mut entity.budgets {
                if delta.settled_at_ms >= budget.reset_at_ms {
                    budget.global.add(delta.settled_at_ms, delta.cost_pico);
                    budget.own.add(delta.settled_at_ms, delta.cost_pico);
                }
            }
            for limit in &mut entity.limits {
                limit.tokens.add(delta.settled_at_ms, delta.rate_tokens);
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
