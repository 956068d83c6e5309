//! The entities one shard governs (providers, customers, teams, virtual keys) with their
//! counters, built from the config and the key table, indexed by slot on the request path and
//! by stable id for deltas; rebuilt on reload with every counter carried over.

use std::collections::HashMap;
use std::rc::Rc;

use super::counters::{BudgetState, RateState, rescale_share};
use super::entity::{EntityId, FastBuild, Level};
use super::keys::{KeyRecord, KeyTable};
use crate::config::{Budget, Config, RateLimit};

/// Most models remembered per entity for allow-list decisions before the memo starts over.
pub const MAX_ALLOW_MEMO: usize = 64;

/// One governed entity on one shard.
#[derive(Clone, Debug)]
pub struct Entity {
    pub id: EntityId,
    pub level: Level,
    pub name: Rc<str>,
    pub budgets: Vec<BudgetState>,
    pub limits: Vec<RateState>,
    /// Globs on `provider/model` (keys and teams); empty: no restriction at this level.
    pub models: Vec<String>,
    /// Memo of allow-list answers by model-cache id.
    pub allow_memo: Vec<(u32, bool)>,
    /// Strict-mode reservations of this shard's requests in flight.
    pub reserved_pico: u64,
    /// Strict-mode token reservations (against token rate limits) of this shard's requests in
    /// flight.
    pub reserved_tokens: u64,
    /// This shard's admitted, unsettled requests.
    pub in_flight: u32,
    /// Teams and keys: the customer slot; keys: also the team slot.
    pub team: Option<u32>,
    pub customer: Option<u32>,
    /// Keys: the slot in the key table.
    pub key_slot: Option<u32>,
}

impl Entity {
    /// Whether `provider_model` passes this entity's allow-list (memoised by `model_id`).
    pub fn allows(&mut self, model_id: Option<u32>, provider_model: &str) -> bool {
        if self.models.is_empty() {
            return true;
        }
        if let Some(id) = model_id
            && let Some(&(_, allowed)) = self.allow_memo.iter().find(|(m, _)| *m == id)
        {
            return allowed;
        }
        let allowed = self
            .models
            .iter()
            .any(|pattern| crate::config::glob_match(pattern, provider_model));
        if let Some(id) = model_id {
            if self.allow_memo.len() >= MAX_ALLOW_MEMO {
                self.allow_memo.clear();
            }
            self.allow_memo.push((id, allowed));
        }
        allowed
    }
}

/// Why the registry could not be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistryError {
    /// Two names hashed to one 64-bit id (astronomically unlikely; rename one).
    IdCollision { first: String, second: String },
}

impl std::fmt::Display for RegistryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RegistryError::IdCollision { first, second } => {
                write!(f, "`{first}` and `{second}` share an entity id; rename one")
            }
        }
    }
}

impl std::error::Error for RegistryError {}

/// Every entity of one shard.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    pub entities: Vec<Entity>,
    pub by_id: HashMap<EntityId, u32, FastBuild>,
    /// Provider name → slot, in config order (few: scanned linearly).
    pub providers: Vec<(Box<str>, u32)>,
}

/// What every budget and limit is built with.
#[derive(Clone, Copy, Debug)]
pub struct BuildContext {
    pub now_ms: u64,
    pub shard: usize,
    pub shards: usize,
    /// Redis backend: every share starts at zero (the instance leases them from Redis).
    pub pooled: bool,
}

impl BuildContext {
    /// The share count initial shares are cut into: 0 (nothing to start with) when pooled.
    fn pooled_shards(&self) -> usize {
        if self.pooled { 0 } else { self.shards }
    }
}

impl Registry {
    /// Entities for `config` and every key in `keys` (whose teams the config must declare;
    /// keys naming unknown teams are attached to no team and reported in `warnings`).
    pub fn build(
        config: &Config,
        keys: &KeyTable,
        ctx: BuildContext,
        warnings: &mut Vec<String>,
    ) -> Result<Registry, RegistryError> {
        let mut registry = Registry::default();
        for provider in &config.providers {
            let slot = registry.add(
                Level::Provider,
                &provider.name,
                &provider.budgets,
                &[],
                &[],
                ctx,
            )?;
            registry
                .providers
                .push((provider.name.as_str().into(), slot));
        }
        for customer in &config.customers {
            registry.add(
                Level::Customer,
                &customer.id,
                &customer.budgets,
                &customer.rate_limits,
                &[],
                ctx,
            )?;
        }
        for team in &config.teams {
            let slot = registry.add(
                Level::Team,
                &team.id,
                &team.budgets,
                &team.rate_limits,
                &team.models,
                ctx,
            )?;
            let customer = team
                .customer
                .as_deref()
                .and_then(|c| registry.slot(Level::Customer, c));
            if let Some(entity) = registry.entities.get_mut(slot as usize) {
                entity.customer = customer;
            }
        }
        for (key_slot, record) in keys.records().iter().enumerate() {
            registry.add_key(key_slot as u32, record, ctx, warnings)?;
        }
        Ok(registry)
    }

    /// Adds the entity of one key (appended: existing slots stay valid).
    pub fn add_key(
        &mut self,
        key_slot: u32,
        record: &KeyRecord,
        ctx: BuildContext,
        warnings: &mut Vec<String>,
    ) -> Result<u32, RegistryError> {
        let slot = self.add(
            Level::Key,
            &record.id,
            &record.budgets,
            &record.rate_limits,
            &record.models,
            ctx,
        )?;
        let team = self.slot(Level::Team, &record.team);
        if team.is_none() {
            warnings.push(format!(
                "virtual key `{}` names team `{}`, which the config no longer declares",
                record.id, record.team
            ));
        }
        let customer = record
            .customer
            .as_deref()
            .and_then(|c| self.slot(Level::Customer, c));
        if let Some(entity) = self.entities.get_mut(slot as usize) {
            entity.team = team;
            entity.customer = customer;
            entity.key_slot = Some(key_slot);
        }
        Ok(slot)
    }

    fn add(
        &mut self,
        level: Level,
        name: &str,
        budgets: &[Budget],
        limits: &[RateLimit],
        models: &[String],
        ctx: BuildContext,
    ) -> Result<u32, RegistryError> {
        let id = EntityId::of(level, name);
        if let Some(&existing) = self.by_id.get(&id) {
            let first = self
                .entities
                .get(existing as usize)
                .map_or_else(String::new, |e| e.name.to_string());
            return Err(RegistryError::IdCollision {
                first,
                second: name.to_owned(),
            });
        }
        let slot = u32::try_from(self.entities.len()).unwrap_or(u32::MAX);
        self.entities.push(Entity {
            id,
            level,
            name: name.into(),
            budgets: budgets
                .iter()
                .map(|b| BudgetState::new(*b, ctx.now_ms, ctx.shard, ctx.pooled_shards()))
                .collect(),
            limits: limits
                .iter()
                .map(|l| RateState::new(*l, ctx.shard, ctx.pooled_shards()))
                .collect(),
            models: models.to_vec(),
            allow_memo: Vec::new(),
            reserved_pico: 0,
            reserved_tokens: 0,
            in_flight: 0,
            team: None,
            customer: None,
            key_slot: None,
        });
        self.by_id.insert(id, slot);
        Ok(slot)
    }

    pub fn slot(&self, level: Level, name: &str) -> Option<u32> {
        self.by_id.get(&EntityId::of(level, name)).copied()
    }

    /// Whether the entity in `slot` (a provider's) has budgets: a request under no virtual key
    /// is governed only then.
    pub fn has_budgets(&self, slot: Option<u32>) -> bool {
        slot.and_then(|s| self.get(s))
            .is_some_and(|entity| !entity.budgets.is_empty())
    }

    pub fn provider_slot(&self, name: &str) -> Option<u32> {
        self.providers
            .iter()
            .find(|(n, _)| &**n == name)
            .map(|(_, slot)| *slot)
    }

    pub fn get_mut(&mut self, slot: u32) -> Option<&mut Entity> {
        self.entities.get_mut(slot as usize)
    }

    /// The entity with this id, if this shard has it.
    pub fn by_id_mut(&mut self, id: &EntityId) -> Option<&mut Entity> {
        let slot = self.by_id.get(id).copied()?;
        self.get_mut(slot)
    }

    pub fn get(&self, slot: u32) -> Option<&Entity> {
        self.entities.get(slot as usize)
    }

    /// Moves every counter of `old` that still has a home here (same entity id), see
    /// [`Entity::carry_counters`].
    pub fn carry_from(&mut self, old: &Registry) {
        for entity in &mut self.entities {
            if let Some(previous) = old.by_id.get(&entity.id).and_then(|&s| old.get(s)) {
                entity.carry_counters(previous);
            }
        }
    }

    /// Replaces a key entity's budgets, limits and allow-list, keeping matching counters.
    pub fn update_key(&mut self, slot: u32, record: &KeyRecord, ctx: BuildContext) {
        let Some(entity) = self.entities.get_mut(slot as usize) else {
            return;
        };
        let previous = entity.clone();
        entity.budgets = record
            .budgets
            .iter()
            .map(|b| BudgetState::new(*b, ctx.now_ms, ctx.shard, ctx.pooled_shards()))
            .collect();
        entity.limits = record
            .rate_limits
            .iter()
            .map(|l| RateState::new(*l, ctx.shard, ctx.pooled_shards()))
            .collect();
        entity.models = record.models.clone();
        entity.allow_memo.clear();
        entity.carry_counters(&previous);
    }
}

impl Entity {
    /// Takes over `previous`'s counters: budgets matched by reset period and alignment (the
    /// strict share rescaled to a changed cap), limits by window, and in-flight reservations.
    pub fn carry_counters(&mut self, previous: &Entity) {
        self.reserved_pico = previous.reserved_pico;
        self.reserved_tokens = previous.reserved_tokens;
        self.in_flight = previous.in_flight;
        for budget in &mut self.budgets {
            if let Some(before) = previous.budgets.iter().find(|b| b.same_slot(&budget.spec)) {
                let share = rescale_share(before.share_pico, before.cap_pico, budget.cap_pico);
                let (spec, cap_pico) = (budget.spec, budget.cap_pico);
                *budget = before.clone();
                budget.spec = spec;
                budget.cap_pico = cap_pico;
                budget.share_pico = share;
            }
        }
        for limit in &mut self.limits {
            if let Some(before) = previous
                .limits
                .iter()
                .find(|l| l.spec.window == limit.spec.window)
            {
                let spec = limit.spec;
                let requests = rescale_share(
                    before.request_share,
                    before.spec.requests.unwrap_or(0),
                    spec.requests.unwrap_or(0),
                );
                let tokens = rescale_share(
                    before.token_share,
                    before.spec.tokens.unwrap_or(0),
                    spec.tokens.unwrap_or(0),
                );
                let tool_calls = rescale_share(
                    before.tool_call_share,
                    before.spec.tool_calls.unwrap_or(0),
                    spec.tool_calls.unwrap_or(0),
                );
                *limit = before.clone();
                limit.spec = spec;
                limit.request_share = requests;
                limit.token_share = tokens;
                limit.tool_call_share = tool_calls;
            }
        }
    }
}
