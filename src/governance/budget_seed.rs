//! A budget added to a created key at run time (`PATCH /admin/keys/{id}`) starts from the spend
//! the ledger already holds for its window, not from zero: the admin handler reads the key's
//! history off the shard, and every shard charges it into the new budgets the way a restart
//! restores them.

use std::path::Path;

use super::counters::{BudgetState, own_part};
use super::entity::{EntityId, Level};
use super::ledger_store::{LedgerError, LedgerSnapshot, SpendRow, Store};
use super::messages::{BudgetKey, GovMsg, Outbound, Route};
use super::registry::BuildContext;
use super::state::{Governor, State};
use crate::config::Budget;

/// Budgets added to one entity, with the entity's recorded spend and resets to start them from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BudgetSeed {
    pub entity: EntityId,
    pub budgets: Vec<BudgetKey>,
    pub history: LedgerSnapshot,
}

/// Reads `entity`'s spend rows and budget resets from the ledger at `path` (blocking: call it
/// off the shards). An absent file is an empty history.
pub fn load_entity_history(
    path: &Path,
    entity: EntityId,
    now_ms: u64,
) -> Result<LedgerSnapshot, LedgerError> {
    if !path.exists() {
        return Ok(LedgerSnapshot::default());
    }
    Store::open(path)?.entity_history(entity, now_ms)
}

/// The budgets of `new` that have no counterpart (same reset period and alignment) in `old`.
pub fn added_budgets(old: &[Budget], new: &[Budget]) -> Vec<BudgetKey> {
    new.iter()
        .map(BudgetKey::of)
        .filter(|key| !old.iter().any(|b| BudgetKey::of(b) == *key))
        .collect()
}

/// Charges one ledger row into `budget` (as spent at the row's last instant, never later than
/// now), unless an admin reset came after the row. This shard's own part is an equal split.
pub(super) fn charge_row(budget: &mut BudgetState, row: &SpendRow, ctx: BuildContext) {
    let at_ms = row
        .start_ms
        .saturating_add(row.len_ms.max(1) - 1)
        .min(ctx.now_ms);
    let end_ms = row.start_ms.saturating_add(row.len_ms);
    if end_ms > budget.reset_at_ms {
        budget.global.add(at_ms, row.cost_pico);
        budget
            .own
            .add(at_ms, own_part(row.cost_pico, ctx.shard, ctx.shards));
    }
}

impl State {
    /// Adds the recorded history to the seeded budgets of the seed's entity. The history was
    /// read before the budgets existed, so nothing they counted since is in it twice.
    pub(super) fn seed_budgets(&mut self, seed: &BudgetSeed, ctx: BuildContext) {
        let Some(entity) = self
            .registry
            .by_id
            .get(&seed.entity)
            .copied()
            .and_then(|s| self.registry.get_mut(s))
        else {
            return;
        };
        let seeded = |b: &BudgetState| seed.budgets.iter().any(|k| b.same_slot_key(k));
        for budget in entity.budgets.iter_mut().filter(|b| seeded(b)) {
            for reset in &seed.history.resets {
                if reset.entity == seed.entity
                    && reset.budget.is_none_or(|k| budget.same_slot_key(&k))
                {
                    budget.reset_at_ms = budget.reset_at_ms.max(reset.at_ms);
                }
            }
            for row in seed
                .history
                .spend
                .iter()
                .filter(|r| r.entity == seed.entity)
            {
                charge_row(budget, row, ctx);
            }
            budget.advance(ctx.now_ms);
        }
    }
}

impl Governor {
    /// The governance clock's now, in Unix milliseconds.
    pub fn now_unix_millis(&self) -> u64 {
        self.clock.now_unix_millis()
    }

    /// The budgets of created key `id` as they stand (None: no such key).
    pub fn key_budgets(&self, id: &str) -> Option<Vec<Budget>> {
        let state = self.state.borrow();
        let slot = state.keys.slot_of_id(id)?;
        state.keys.get(slot).map(|record| record.budgets.clone())
    }

    /// Starts key `id`'s budgets named by `budgets` from `history` (its ledger rows), here and,
    /// by message, on every other shard.
    pub fn seed_key_budgets(&self, id: &str, budgets: Vec<BudgetKey>, history: LedgerSnapshot) {
        if budgets.is_empty() {
            return;
        }
        let seed = BudgetSeed {
            entity: EntityId::of(Level::Key, id),
            budgets,
            history,
        };
        let ctx = self.build_context(self.clock.now_unix_millis());
        let mut state = self.state.borrow_mut();
        state.seed_budgets(&seed, ctx);
        state.outbox.push(Outbound {
            route: Route::Others,
            ledger: false,
            msg: GovMsg::BudgetSeed(Box::new(seed)),
        });
    }
}
