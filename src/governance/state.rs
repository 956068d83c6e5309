//! One shard's [`Governor`]: its state behind one `RefCell` (never shared across threads), its
//! construction from the config and the ledger's snapshot, config reload, authentication, and
//! the messages it exchanges with the other shards.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use super::clock::Clock;
use super::counters::own_part;
use super::entity::{EntityId, FastBuild, Level};
use super::keys::{KeyOrigin, KeyRecord, KeyTable, bearer_token};
use super::ledger_store::LedgerSnapshot;
use super::messages::{GovMsg, Outbound, Route, SpendDelta};
use super::pricing::{Price, PriceTable};
use super::registry::{BuildContext, Registry, RegistryError};
use super::rejection::{AuthFailure, Rejection};
use super::shares;
use crate::config::{BackendErrorPolicy, BudgetMode, Config};

/// Most distinct `provider/model` strings remembered with their price; past it the memo starts
/// over (model names come from clients).
pub const MAX_MODEL_MEMO: usize = 4096;

/// A virtual key found by [`Governor::authenticate`], valid for the request's lifetime (it
/// survives config reloads: it is re-resolved by id when the table was rebuilt).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyRef {
    pub(super) key_slot: u32,
    pub(super) entity_slot: u32,
    pub(super) generation: u32,
    pub entity: EntityId,
}

/// A remembered `provider/model`: a small id for allow-list memos, and its price.
#[derive(Clone, Copy, Debug)]
pub(super) struct ModelEntry {
    pub id: u32,
    pub price: Option<Price>,
}

/// Everything one shard's governance owns.
pub(super) struct State {
    pub mode: BudgetMode,
    pub require_virtual_key: bool,
    /// Bumped whenever slots may have moved (config reload).
    pub generation: u32,
    pub keys: KeyTable,
    pub registry: Registry,
    pub prices: PriceTable,
    pub models: HashMap<Box<str>, ModelEntry, FastBuild>,
    /// `provider/model` of the admission in progress (reused buffer).
    pub scratch: String,
    pub outbox: Vec<Outbound>,
    /// Team id → its customer, for validating created keys.
    pub team_customers: HashMap<String, Option<String>>,
    /// Revocations by digest (config keys included), re-applied on reload.
    pub revoked: HashMap<[u8; 32], u64>,
    /// Strict-mode settlements that cost more than reserved, from every shard.
    pub overshoot: Overshoot,
    /// The Redis backend as this shard knows it.
    pub backend: BackendView,
}

/// The shared backend as one shard sees it: whether budgets come from Redis leases (`pooled`:
/// every share starts at zero and is leased), and whether governed requests are refused now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackendView {
    pub pooled: bool,
    pub fail_closed: bool,
    pub down: bool,
}

impl BackendView {
    /// Whether governed requests are refused: Redis is down and the policy is `fail_closed`.
    pub fn refuses(&self) -> bool {
        self.pooled && self.fail_closed && self.down
    }
}

/// Strict-mode settlements whose usage went past their reservation: the bound on the request
/// could not hold (see `input_bound` for the cases), counted so operators can see it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Overshoot {
    /// Settlements that cost more than reserved.
    pub requests: u64,
    /// Cost beyond the reservations, in pico-dollars.
    pub pico: u64,
    /// Tokens beyond the token reservations.
    pub tokens: u64,
}

impl Overshoot {
    pub fn add(&mut self, delta: &SpendDelta) {
        if delta.overshoot_pico > 0 || delta.overshoot_tokens > 0 {
            self.requests += 1;
            self.pico = self.pico.saturating_add(delta.overshoot_pico);
            self.tokens = self.tokens.saturating_add(delta.overshoot_tokens);
        }
    }
}

/// One shard's governance.
pub struct Governor {
    pub(super) clock: Rc<dyn Clock>,
    pub(super) shard: usize,
    pub(super) shards: usize,
    /// Redis backend: shares start at zero and are leased (fixed at start-up).
    pub(super) pooled: bool,
    pub(super) state: RefCell<State>,
}

impl Governor {
    /// Governance for shard `shard` of `shards`, resuming from `snapshot` (runtime keys,
    /// revocations, spend and request counts of every window still open). The strings returned
    /// are warnings to log (keys whose team or id no longer fits the config).
    pub fn new(
        config: &Config,
        shard: usize,
        shards: usize,
        clock: Rc<dyn Clock>,
        snapshot: &LedgerSnapshot,
    ) -> Result<(Rc<Governor>, Vec<String>), RegistryError> {
        let now_ms = clock.now_unix_millis();
        let shards = shards.max(1);
        let mut warnings = Vec::new();
        let revoked: HashMap<[u8; 32], u64> = snapshot
            .revocations
            .iter()
            .map(|r| (r.hash, r.at_ms))
            .collect();
        let keys = build_key_table(config, snapshot.keys.iter(), &revoked, &mut warnings);
        let pooled = config.governance.redis.is_some();
        let ctx = BuildContext {
            now_ms,
            shard,
            shards,
            pooled,
        };
        let mut registry = Registry::build(config, &keys, ctx, &mut warnings)?;
        restore(&mut registry, snapshot, ctx);
        let state = State {
            mode: config.governance.budget_mode,
            require_virtual_key: config.governance.require_virtual_key,
            generation: 0,
            keys,
            registry,
            prices: PriceTable::new(&config.pricing),
            models: HashMap::default(),
            scratch: String::with_capacity(128),
            outbox: Vec::with_capacity(64),
            team_customers: team_customers(config),
            revoked,
            overshoot: Overshoot::default(),
            backend: BackendView {
                pooled,
                fail_closed: config
                    .governance
                    .redis
                    .as_ref()
                    .is_some_and(|r| r.on_error == BackendErrorPolicy::FailClosed),
                down: false,
            },
        };
        let governor = Governor {
            clock,
            shard,
            shards,
            pooled,
            state: RefCell::new(state),
        };
        Ok((Rc::new(governor), warnings))
    }

    /// Applies a new config: keys, teams, customers, limits, prices and modes change; created
    /// keys, revocations, spend, request counts and reservations in flight carry over.
    pub fn reload(&self, config: &Config) -> Result<Vec<String>, RegistryError> {
        let now_ms = self.clock.now_unix_millis();
        let mut state = self.state.borrow_mut();
        let mut warnings = Vec::new();
        let runtime: Vec<KeyRecord> = state
            .keys
            .records()
            .iter()
            .filter(|r| r.origin == KeyOrigin::Runtime)
            .cloned()
            .collect();
        let keys = build_key_table(config, runtime.iter(), &state.revoked, &mut warnings);
        let ctx = self.build_context(now_ms);
        let mut registry = Registry::build(config, &keys, ctx, &mut warnings)?;
        registry.carry_from(&state.registry);
        state.keys = keys;
        state.registry = registry;
        state.generation = state.generation.wrapping_add(1);
        state.prices = PriceTable::new(&config.pricing);
        state.models.clear();
        state.mode = config.governance.budget_mode;
        state.backend.fail_closed = config
            .governance
            .redis
            .as_ref()
            .is_some_and(|r| r.on_error == BackendErrorPolicy::FailClosed);
        state.require_virtual_key = config.governance.require_virtual_key;
        state.team_customers = team_customers(config);
        Ok(warnings)
    }

    pub fn shard(&self) -> usize {
        self.shard
    }

    /// Strict-mode overshoot so far, over every shard's settlements this shard has seen.
    pub fn overshoot(&self) -> Overshoot {
        self.state.borrow().overshoot
    }

    /// Finds the virtual key among the client's credentials. A known key wins over an unknown
    /// credential when both headers are present; a known key that is revoked or expired is
    /// always refused (401). With no known key: `Ok(None)` (the client's credentials pass
    /// through) unless `require_virtual_key`, then 401.
    pub fn authenticate(
        &self,
        x_api_key: Option<&[u8]>,
        authorization: Option<&[u8]>,
    ) -> Result<Option<KeyRef>, Rejection> {
        let now_ms = self.clock.now_unix_millis();
        let state = self.state.borrow();
        let candidates = [
            x_api_key.map(<[u8]>::trim_ascii),
            authorization.and_then(bearer_token),
        ];
        let mut refused = None;
        for presented in candidates.into_iter().flatten() {
            let Some(key_slot) = state.keys.find_presented(presented) else {
                continue;
            };
            let Some(record) = state.keys.get(key_slot) else {
                continue;
            };
            match record.unusable(now_ms) {
                None => {
                    let entity = EntityId::of(Level::Key, &record.id);
                    let entity_slot = state.registry.by_id.get(&entity).copied();
                    if let Some(entity_slot) = entity_slot {
                        return Ok(Some(KeyRef {
                            key_slot,
                            entity_slot,
                            generation: state.generation,
                            entity,
                        }));
                    }
                }
                Some(super::keys::KeyState::Revoked) => refused = Some(AuthFailure::Revoked),
                Some(super::keys::KeyState::Expired) => refused = Some(AuthFailure::Expired),
            }
        }
        if let Some(failure) = refused {
            return Err(Rejection::Unauthenticated(failure));
        }
        if !state.require_virtual_key {
            return Ok(None);
        }
        let presented_any = x_api_key.is_some_and(|v| !v.trim_ascii().is_empty())
            || authorization.is_some_and(|v| !v.trim_ascii().is_empty());
        Err(Rejection::Unauthenticated(if presented_any {
            AuthFailure::Unknown
        } else {
            AuthFailure::Missing
        }))
    }

    /// The key's id (for logs, audit and metrics labels).
    pub fn key_name(&self, key: KeyRef) -> Option<Rc<str>> {
        let state = self.state.borrow();
        let slot = state.registry.by_id.get(&key.entity).copied()?;
        state.registry.get(slot).map(|e| Rc::clone(&e.name))
    }

    /// The team and customer names of a key's entity (for logs, traces and audit).
    pub fn key_owners(&self, key: KeyRef) -> (Option<Rc<str>>, Option<Rc<str>>) {
        let state = self.state.borrow();
        let registry = &state.registry;
        let Some(entity) = registry
            .by_id
            .get(&key.entity)
            .and_then(|&slot| registry.get(slot))
        else {
            return (None, None);
        };
        let name = |slot: Option<u32>| {
            slot.and_then(|s| registry.get(s))
                .map(|e| Rc::clone(&e.name))
        };
        (name(entity.team), name(entity.customer))
    }

    /// Hands every message this shard wants sent to `send` (call after `admit`, after a
    /// settlement and after `apply`; a settlement's delta must go out before the response's
    /// last byte is written).
    pub fn drain_outbound(&self, mut send: impl FnMut(Outbound)) {
        let mut pending = std::mem::take(&mut self.state.borrow_mut().outbox);
        for outbound in pending.drain(..) {
            send(outbound);
        }
        let mut state = self.state.borrow_mut();
        if state.outbox.is_empty() {
            state.outbox = pending;
        }
    }

    /// Takes in a message from another shard.
    pub fn apply(&self, msg: &GovMsg) {
        let now_ms = self.clock.now_unix_millis();
        let mut state = self.state.borrow_mut();
        match msg {
            GovMsg::Spend(delta) => {
                state.overshoot.add(delta);
                apply_spend(&mut state.registry, delta);
            }
            GovMsg::ShareRequest(request) => {
                if request.from_shard as usize == self.shard {
                    return;
                }
                let State {
                    registry, outbox, ..
                } = &mut *state;
                let entity = registry
                    .by_id
                    .get(&request.entity)
                    .copied()
                    .and_then(|slot| registry.get_mut(slot));
                if let Some(grant) =
                    entity.and_then(|e| shares::give(e, request, now_ms, self.shard, self.shards))
                {
                    outbox.push(Outbound {
                        route: Route::Shard(request.from_shard),
                        ledger: false,
                        msg: GovMsg::ShareGrant(grant),
                    });
                }
            }
            GovMsg::ShareGrant(grant) => {
                let registry = &mut state.registry;
                if let Some(entity) = registry
                    .by_id
                    .get(&grant.entity)
                    .copied()
                    .and_then(|slot| registry.get_mut(slot))
                {
                    shares::receive(entity, grant);
                }
            }
            GovMsg::KeyUpsert(record) => {
                let ctx = self.build_context(now_ms);
                state.upsert_key((**record).clone(), ctx);
            }
            GovMsg::KeyRevoked(revocation) => state.revoke(revocation.hash, revocation.at_ms),
            GovMsg::BudgetReset(reset) => state.reset_budget(reset),
            GovMsg::BudgetSeed(seed) => {
                let ctx = self.build_context(now_ms);
                state.seed_budgets(seed, ctx);
            }
            GovMsg::ToolCall(delta) => super::tool_calls::apply(&mut state.registry, delta),
            GovMsg::Backend(status) => state.backend.down = !status.up,
            GovMsg::Remote(usage) => {
                let registry = &mut state.registry;
                if let Some(entity) = registry
                    .by_id
                    .get(&usage.entity)
                    .copied()
                    .and_then(|slot| registry.get_mut(slot))
                {
                    shares::count_remote(entity, usage);
                }
            }
        }
    }

    /// What every budget and limit is built with on this shard now.
    pub(super) fn build_context(&self, now_ms: u64) -> BuildContext {
        BuildContext {
            now_ms,
            shard: self.shard,
            shards: self.shards,
            pooled: self.pooled,
        }
    }
}

impl State {
    /// Inserts a created key, or replaces the limits of one this shard already has.
    pub fn upsert_key(&mut self, record: KeyRecord, ctx: BuildContext) {
        if let Some(key_slot) = self.keys.slot_of_id(&record.id) {
            let entity_slot = self.registry.slot(Level::Key, &record.id);
            if let Some(existing) = self.keys.get_mut(key_slot) {
                existing.budgets = record.budgets.clone();
                existing.rate_limits = record.rate_limits.clone();
                existing.models = record.models.clone();
                existing.mcp_tools = record.mcp_tools.clone();
                existing.expires_at_unix_secs = record.expires_at_unix_secs;
            }
            if let Some(entity_slot) = entity_slot {
                self.registry.update_key(entity_slot, &record, ctx);
            }
            return;
        }
        if let Ok(key_slot) = self.keys.insert(record.clone()) {
            let mut ignored = Vec::new();
            // A collision cannot be reported from a message; the key is then not governed here.
            let _ = self.registry.add_key(key_slot, &record, ctx, &mut ignored);
        }
    }

    pub fn revoke(&mut self, hash: [u8; 32], at_ms: u64) {
        self.revoked.insert(hash, at_ms);
        if let Some(slot) = self.keys.slot_of_hash(&hash)
            && let Some(record) = self.keys.get_mut(slot)
        {
            record.revoked_at_ms.get_or_insert(at_ms);
        }
    }

    pub fn reset_budget(&mut self, reset: &super::messages::BudgetReset) {
        let Some(entity) = self
            .registry
            .by_id
            .get(&reset.entity)
            .copied()
            .and_then(|s| self.registry.get_mut(s))
        else {
            return;
        };
        for budget in &mut entity.budgets {
            if reset.budget.is_none_or(|key| budget.same_slot_key(&key)) {
                budget.global.clear();
                budget.own.clear();
                budget.reset_at_ms = budget.reset_at_ms.max(reset.at_ms);
            }
        }
    }

    /// The memo entry for `self.scratch` (`provider/model`), computing the price if new.
    pub fn model_entry(&mut self, model: &str) -> ModelEntry {
        if let Some(entry) = self.models.get(self.scratch.as_str()) {
            return *entry;
        }
        if self.models.len() >= MAX_MODEL_MEMO {
            self.models.clear();
            for entity in &mut self.registry.entities {
                entity.allow_memo.clear();
            }
        }
        let entry = ModelEntry {
            id: u32::try_from(self.models.len()).unwrap_or(u32::MAX),
            price: self.prices.price_for(&self.scratch, model),
        };
        self.models.insert(self.scratch.as_str().into(), entry);
        entry
    }
}

impl super::counters::BudgetState {
    pub(super) fn same_slot_key(&self, key: &super::messages::BudgetKey) -> bool {
        self.spec.reset == key.reset && self.spec.calendar_aligned == key.calendar_aligned
    }
}

/// Adds another shard's settlement to the global view of every entity it charged.
pub(super) fn apply_spend(registry: &mut Registry, delta: &SpendDelta) {
    for id in delta.entities.iter().flatten() {
        let Some(entity) = registry
            .by_id
            .get(id)
            .copied()
            .and_then(|s| registry.get_mut(s))
        else {
            continue;
        };
        for budget in &mut entity.budgets {
            if delta.settled_at_ms >= budget.reset_at_ms {
                budget.global.add(delta.settled_at_ms, delta.cost_pico);
            }
        }
        for limit in &mut entity.limits {
            limit.requests.add(delta.admitted_at_ms, 1);
            limit.tokens.add(delta.settled_at_ms, delta.rate_tokens);
        }
    }
}

/// Config keys first, then created keys that still fit (their id and digest unused), with
/// revocations applied.
fn build_key_table<'a>(
    config: &Config,
    runtime: impl Iterator<Item = &'a KeyRecord>,
    revoked: &HashMap<[u8; 32], u64>,
    warnings: &mut Vec<String>,
) -> KeyTable {
    let mut table = KeyTable::default();
    let configured = config.virtual_keys.iter().map(KeyRecord::from_config);
    for mut record in configured.chain(runtime.cloned()) {
        if let Some(&at) = revoked.get(&record.hash) {
            record.revoked_at_ms.get_or_insert(at);
        }
        if let Err(id) = table.insert(record) {
            warnings.push(format!(
                "virtual key `{id}` is skipped: its id or secret is already used by another key"
            ));
        }
    }
    table
}

fn team_customers(config: &Config) -> HashMap<String, Option<String>> {
    config
        .teams
        .iter()
        .map(|t| (t.id.clone(), t.customer.clone()))
        .collect()
}

/// Puts the ledger's spend and resets back into the counters. A row counts as spent at its
/// last instant (so it is forgotten no earlier than it should be); this shard's own part of
/// each row, for strict shares, is an equal split.
fn restore(registry: &mut Registry, snapshot: &LedgerSnapshot, ctx: BuildContext) {
    for reset in &snapshot.resets {
        if let Some(entity) = registry
            .by_id
            .get(&reset.entity)
            .copied()
            .and_then(|s| registry.get_mut(s))
        {
            for budget in &mut entity.budgets {
                if reset.budget.is_none_or(|key| budget.same_slot_key(&key)) {
                    budget.reset_at_ms = budget.reset_at_ms.max(reset.at_ms);
                }
            }
        }
    }
    for row in &snapshot.spend {
        let Some(entity) = registry
            .by_id
            .get(&row.entity)
            .copied()
            .and_then(|s| registry.get_mut(s))
        else {
            continue;
        };
        let at_ms = row
            .start_ms
            .saturating_add(row.len_ms.max(1) - 1)
            .min(ctx.now_ms);
        for budget in &mut entity.budgets {
            super::budget_seed::charge_row(budget, row, ctx);
        }
        for limit in &mut entity.limits {
            limit.requests.add(at_ms, row.requests);
            limit.tokens.add(at_ms, row.tokens);
            limit
                .own_requests
                .add(at_ms, own_part(row.requests, ctx.shard, ctx.shards));
            limit
                .own_tokens
                .add(at_ms, own_part(row.tokens, ctx.shard, ctx.shards));
            limit.tool_calls.add(at_ms, row.tool_calls);
            limit
                .own_tool_calls
                .add(at_ms, own_part(row.tool_calls, ctx.shard, ctx.shards));
        }
    }
    for entity in &mut registry.entities {
        for budget in &mut entity.budgets {
            budget.advance(ctx.now_ms);
        }
        for limit in &mut entity.limits {
            limit.advance(ctx.now_ms);
        }
    }
}
