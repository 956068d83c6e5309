//! Moving an admitted request's reservation to another target before a failover attempt: the
//! key, team and customer levels keep holding the request (counted once on their limits), the
//! provider level moves to the new target's provider (its budgets and limits checked and held
//! when the attempt starts), and the price becomes the new target's, so the one settlement is
//! priced for the provider and model that served. A refusal leaves the reservation as it was.

use std::rc::Rc;

use super::admission::{LEVELS, check, hold};
use super::entity::EntityId;
use super::rejection::Rejection;
use super::reservation::{Held, Reservation};
use super::state::Governor;
use crate::config::BudgetMode;

/// Where the key, team and customer levels sit in a reservation's slots.
const REQUEST_LEVELS: usize = 3;
/// The provider level's index.
const PROVIDER: usize = 3;

impl Governor {
    /// Moves `reservation` to `model` on provider entry `provider` (its configured name): the
    /// allow-lists and the new price apply, the provider's budgets and limits are checked and
    /// held, and (strict mode) the worst case is re-sized on every level. Refused as an
    /// admission would be; then nothing changed.
    pub fn retarget(
        self: &Rc<Self>,
        reservation: &mut Reservation,
        provider: &str,
        model: &str,
    ) -> Result<(), Rejection> {
        let now_ms = self.clock.now_unix_millis();
        let mut guard = self.state.borrow_mut();
        let state = &mut *guard;
        // After a reload, slots are found again by entity id.
        let mut slots = reservation.slots;
        if reservation.generation != state.generation {
            for (slot, id) in slots.iter_mut().zip(reservation.ids) {
                *slot = id.and_then(|id| state.registry.by_id.get(&id).copied());
            }
        }
        let keyed = slots[0].is_some();
        let old_provider = slots[PROVIDER];
        let new_provider = state.registry.provider_slot(provider);

        state.scratch.clear();
        state.scratch.push_str(provider);
        state.scratch.push('/');
        state.scratch.push_str(model);
        let entry = state.model_entry(model);
        let strict = state.mode == BudgetMode::Strict;
        let registry = &mut state.registry;
        for (level, slot) in LEVELS.iter().zip(slots).take(2) {
            if let Some(entity) = slot.and_then(|s| registry.get_mut(s))
                && !entity.allows(Some(entry.id), &state.scratch)
            {
                return Err(Rejection::ModelNotAllowed {
                    level: *level,
                    entity: entity.name.to_string(),
                    model: state.scratch.clone(),
                });
            }
        }
        let provider_budgeted = registry.has_budgets(new_provider);
        if entry.price.is_none() && (keyed || provider_budgeted) {
            return Err(Rejection::UnpricedModel {
                model: state.scratch.clone(),
            });
        }
        let new_provider = new_provider.filter(|_| keyed || provider_budgeted);
        let same_provider = new_provider.is_some() && new_provider == old_provider;
        let (worst_case, mut need) = self.size(
            entry.price.as_ref(),
            &reservation.bound,
            strict,
            state.backend.pooled,
        );
        let old = reservation.held;

        // What this request holds is taken off while the new need is checked (it replaces it).
        let held_before = slots;
        for slot in held_before.into_iter().flatten() {
            if let Some(entity) = registry.get_mut(slot) {
                entity.reserved_pico = entity.reserved_pico.saturating_sub(old.pico);
                entity.reserved_tokens = entity.reserved_tokens.saturating_sub(old.tokens);
            }
        }
        let restore = |registry: &mut super::registry::Registry| {
            for slot in held_before.into_iter().flatten() {
                if let Some(entity) = registry.get_mut(slot) {
                    entity.reserved_pico = entity.reserved_pico.saturating_add(old.pico);
                    entity.reserved_tokens = entity.reserved_tokens.saturating_add(old.tokens);
                }
            }
        };
        let mut busy = None;
        let outbox = &mut state.outbox;
        let mut checked = Ok(());
        for (index, (level, slot)) in LEVELS.iter().zip(slots).enumerate() {
            let (slot, counted) = if index == PROVIDER {
                (new_provider, same_provider)
            } else {
                (slot, true)
            };
            need.counted = counted;
            if let Some(entity) = slot.and_then(|s| registry.get_mut(s)) {
                checked = check(entity, *level, now_ms, &need, outbox, &mut busy);
                if checked.is_err() {
                    break;
                }
            }
        }
        if let Err(refused) = checked.and(busy.map_or(Ok(()), Err)) {
            restore(registry);
            return Err(refused);
        }

        // Admitted on the new target: hold the new need, release the old provider.
        if let Some(entity) = old_provider
            .filter(|_| !same_provider)
            .and_then(|s| registry.get_mut(s))
        {
            entity.in_flight = entity.in_flight.saturating_sub(1);
        }
        let mut ids: [Option<EntityId>; 4] = [None; 4];
        slots[PROVIDER] = new_provider;
        for (index, slot) in slots.iter().enumerate() {
            let Some(entity) = slot.and_then(|s| registry.get_mut(s)) else {
                continue;
            };
            need.counted = index < REQUEST_LEVELS || same_provider;
            ids[index] = Some(entity.id);
            hold(entity, now_ms, &need, outbox);
        }
        reservation.generation = state.generation;
        reservation.slots = slots;
        reservation.ids = ids;
        reservation.held = Held {
            pico: need.pico,
            tokens: need.tokens,
            one_hour_cache_write: strict && reservation.bound.one_hour_cache_write,
        };
        reservation.price = entry.price;
        reservation.worst_case = worst_case;
        Ok(())
    }
}
