//! The admin operations as plain functions over one shard's governance (the admin listener
//! maps them to HTTP): create, update, revoke and list keys; usage per entity; reset a budget.
//! Each change is applied here and queued for the other shards and the ledger.

use std::fmt;

use super::entity::{EntityId, Level};
use super::keys::{KeyOrigin, KeyRecord, hash_secret, mint_secret};
use super::messages::{BudgetKey, BudgetReset, GovMsg, KeyRevocation, Outbound, Route};
use super::registry::Entity;
use super::state::Governor;
use crate::config::{
    Budget, MAX_ID_LEN, MAX_MCP_TOOL_GLOBS, RateLimit, ResetPeriod, parse_window, usd_to_micro_usd,
};

/// A key to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewKey {
    pub id: String,
    pub team: String,
    /// Must equal the team's customer when both are set; defaults to it.
    pub customer: Option<String>,
    pub budgets: Vec<Budget>,
    pub rate_limits: Vec<RateLimit>,
    pub models: Vec<String>,
    /// MCP tool globs (`server__tool`); `None`: no list on the key.
    pub mcp_tools: Option<Vec<String>>,
    pub expires_at_unix_secs: Option<u64>,
}

/// Changes to a created key (`None`: unchanged).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyUpdate {
    pub budgets: Option<Vec<Budget>>,
    pub rate_limits: Option<Vec<RateLimit>>,
    pub models: Option<Vec<String>>,
    /// `Some(None)`: remove the key's list.
    pub mcp_tools: Option<Option<Vec<String>>>,
    pub expires_at_unix_secs: Option<Option<u64>>,
}

/// A key as the admin API shows it (never a secret or digest).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyInfo {
    pub id: String,
    pub team: String,
    pub customer: Option<String>,
    pub origin: KeyOrigin,
    pub budgets: Vec<Budget>,
    pub rate_limits: Vec<RateLimit>,
    pub models: Vec<String>,
    pub mcp_tools: Option<Vec<String>>,
    pub expires_at_unix_secs: Option<u64>,
    pub created_at_ms: u64,
    pub revoked_at_ms: Option<u64>,
}

/// A created key and its secret, which is shown this once and never stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatedKey {
    pub key: KeyInfo,
    pub secret: String,
}

/// One budget's state as this shard sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BudgetUsage {
    /// The budget as configured.
    pub budget: Budget,
    /// Settled spend in the current window, every shard's (as of the deltas received).
    pub spent_pico: u64,
    /// Strict-mode reservations in flight (this shard's; `merge` sums shards).
    pub reserved_pico: u64,
    pub remaining_pico: u64,
    /// Calendar budgets: the current period's start.
    pub window_start_ms: Option<u64>,
    /// Calendar: the period's end; rolling: when today's spend will have slid out.
    pub resets_at_ms: u64,
}

/// One rate limit's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateUsage {
    pub window_secs: u64,
    pub requests_limit: Option<u64>,
    pub requests: u64,
    pub tokens_limit: Option<u64>,
    pub tokens: u64,
    pub tool_calls_limit: Option<u64>,
    pub tool_calls: u64,
}

/// An entity's usage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntityUsage {
    pub level: Level,
    pub id: String,
    pub budgets: Vec<BudgetUsage>,
    pub rate_limits: Vec<RateUsage>,
    pub in_flight: u32,
}

impl EntityUsage {
    /// Combines another shard's report of the same entity: spend and counts take the larger
    /// view, reservations and requests in flight add up.
    pub fn merge(&mut self, other: &EntityUsage) {
        for (mine, theirs) in self.budgets.iter_mut().zip(&other.budgets) {
            mine.spent_pico = mine.spent_pico.max(theirs.spent_pico);
            mine.reserved_pico = mine.reserved_pico.saturating_add(theirs.reserved_pico);
            let cap = mine
                .budget
                .max_micro_usd
                .saturating_mul(super::counters::PICO_PER_MICRO);
            mine.remaining_pico =
                cap.saturating_sub(mine.spent_pico.saturating_add(mine.reserved_pico));
        }
        for (mine, theirs) in self.rate_limits.iter_mut().zip(&other.rate_limits) {
            mine.requests = mine.requests.max(theirs.requests);
            mine.tokens = mine.tokens.max(theirs.tokens);
        }
        self.in_flight = self.in_flight.saturating_add(other.in_flight);
    }
}

/// Why an admin operation was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdminError {
    InvalidId(String),
    DuplicateId(String),
    UnknownTeam(String),
    UnknownCustomer(String),
    /// The key's customer differs from its team's.
    CustomerMismatch {
        customer: String,
        team_customer: String,
    },
    NotFound(String),
    /// Keys declared in the config change through the config, not the API.
    ConfigKey(String),
    InvalidBudget(String),
    InvalidRateLimit(String),
    InvalidModels(String),
    InvalidMcpTools(String),
    /// The OS random source failed.
    Random(String),
}

impl fmt::Display for AdminError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdminError::InvalidId(id) => write!(
                f,
                "invalid id `{id}`: use 1 to {MAX_ID_LEN} of letters, digits, _ - . @"
            ),
            AdminError::DuplicateId(id) => write!(f, "a key with id `{id}` already exists"),
            AdminError::UnknownTeam(id) => write!(f, "no team with id `{id}`"),
            AdminError::UnknownCustomer(id) => write!(f, "no customer with id `{id}`"),
            AdminError::CustomerMismatch {
                customer,
                team_customer,
            } => {
                write!(
                    f,
                    "customer `{customer}` differs from the team's customer `{team_customer}`"
                )
            }
            AdminError::NotFound(what) => write!(f, "{what} not found"),
            AdminError::ConfigKey(id) => {
                write!(f, "key `{id}` is declared in the config; change it there")
            }
            AdminError::InvalidBudget(why) => write!(f, "invalid budget: {why}"),
            AdminError::InvalidRateLimit(why) => write!(f, "invalid rate limit: {why}"),
            AdminError::InvalidModels(why) => write!(f, "invalid models: {why}"),
            AdminError::InvalidMcpTools(why) => write!(f, "invalid mcp_tools: {why}"),
            AdminError::Random(why) => write!(f, "cannot mint a secret: {why}"),
        }
    }
}

impl std::error::Error for AdminError {}

/// A budget from the admin API's words (`max_usd`, `reset`, `calendar_aligned`).
pub fn parse_budget(
    max_usd: f64,
    reset: &str,
    calendar_aligned: bool,
) -> Result<Budget, AdminError> {
    let max_micro_usd = usd_to_micro_usd(max_usd)
        .filter(|m| *m > 0)
        .ok_or_else(|| {
            AdminError::InvalidBudget(format!("max_usd {max_usd} must be above 0 and at most 1e9"))
        })?;
    let reset = ResetPeriod::parse(reset).map_err(AdminError::InvalidBudget)?;
    Ok(Budget {
        max_micro_usd,
        reset,
        calendar_aligned,
    })
}

/// A rate limit from the admin API's words (`requests`, `tokens`, `window` such as `1m`).
pub fn parse_rate_limit(
    requests: Option<u64>,
    tokens: Option<u64>,
    window: &str,
) -> Result<RateLimit, AdminError> {
    parse_rate_limit_counts(
        RateLimit {
            requests,
            tokens,
            ..RateLimit::default()
        },
        window,
    )
}

/// A rate limit whose counts (`requests`, `tokens`, `tool_calls`) are in `counts` (its
/// window ignored) over `window` (such as `1m`).
pub fn parse_rate_limit_counts(counts: RateLimit, window: &str) -> Result<RateLimit, AdminError> {
    let all = [counts.requests, counts.tokens, counts.tool_calls];
    if all.iter().all(Option::is_none) || all.contains(&Some(0)) {
        return Err(AdminError::InvalidRateLimit(
            "needs `requests`, `tokens` and/or `tool_calls`, above 0".into(),
        ));
    }
    let window = parse_window(window).map_err(AdminError::InvalidRateLimit)?;
    Ok(RateLimit { window, ..counts })
}

/// An `mcp_tools` list as the config accepts it: at most [`MAX_MCP_TOOL_GLOBS`], none empty.
fn check_mcp_tools(globs: Option<&[String]>) -> Result<(), AdminError> {
    let Some(globs) = globs else { return Ok(()) };
    if globs.len() > MAX_MCP_TOOL_GLOBS {
        return Err(AdminError::InvalidMcpTools(format!(
            "at most {MAX_MCP_TOOL_GLOBS} globs"
        )));
    }
    if globs.iter().any(String::is_empty) {
        return Err(AdminError::InvalidMcpTools("a glob is empty".into()));
    }
    Ok(())
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'@'))
}

fn info(record: &KeyRecord) -> KeyInfo {
    KeyInfo {
        id: record.id.clone(),
        team: record.team.clone(),
        customer: record.customer.clone(),
        origin: record.origin,
        budgets: record.budgets.clone(),
        rate_limits: record.rate_limits.clone(),
        models: record.models.clone(),
        mcp_tools: record.mcp_tools.clone(),
        expires_at_unix_secs: record.expires_at_unix_secs,
        created_at_ms: record.created_at_ms,
        revoked_at_ms: record.revoked_at_ms,
    }
}

fn usage_of(entity: &mut Entity, now_ms: u64) -> EntityUsage {
    let reserved = entity.reserved_pico;
    let budgets = entity.budgets.iter_mut().map(|budget| {
        budget.advance(now_ms);
        let spent = budget.global.total();
        let window = budget.global.calendar();
        BudgetUsage {
            budget: budget.spec,
            spent_pico: spent,
            reserved_pico: reserved,
            remaining_pico: budget
                .cap_pico
                .saturating_sub(spent.saturating_add(reserved)),
            window_start_ms: window.map(|w| w.start_ms),
            resets_at_ms: budget.global.empty_at_ms(now_ms),
        }
    });
    let budgets = budgets.collect();
    let rate_limits = entity.limits.iter_mut().map(|limit| {
        limit.advance(now_ms);
        RateUsage {
            window_secs: limit.spec.window.as_secs(),
            requests_limit: limit.spec.requests,
            requests: limit.requests.total(),
            tokens_limit: limit.spec.tokens,
            tokens: limit.tokens.total(),
            tool_calls_limit: limit.spec.tool_calls,
            tool_calls: limit.tool_calls.total(),
        }
    });
    EntityUsage {
        level: entity.level,
        id: entity.name.to_string(),
        budgets,
        rate_limits: rate_limits.collect(),
        in_flight: entity.in_flight,
    }
}

impl Governor {
    /// Creates a key; its secret is returned once. Queued for the other shards and the ledger.
    pub fn create_key(&self, new: NewKey) -> Result<CreatedKey, AdminError> {
        let now_ms = self.clock.now_unix_millis();
        if !valid_id(&new.id) {
            return Err(AdminError::InvalidId(new.id));
        }
        if new.models.iter().any(String::is_empty) {
            return Err(AdminError::InvalidModels("a pattern is empty".into()));
        }
        check_mcp_tools(new.mcp_tools.as_deref())?;
        let mut state = self.state.borrow_mut();
        if state.keys.slot_of_id(&new.id).is_some() {
            return Err(AdminError::DuplicateId(new.id));
        }
        let team_customer = state
            .team_customers
            .get(&new.team)
            .ok_or_else(|| AdminError::UnknownTeam(new.team.clone()))?
            .clone();
        let customer = match (new.customer, team_customer) {
            (Some(own), Some(team)) if own != team => {
                return Err(AdminError::CustomerMismatch {
                    customer: own,
                    team_customer: team,
                });
            }
            (Some(own), _) => {
                if state.registry.slot(Level::Customer, &own).is_none() {
                    return Err(AdminError::UnknownCustomer(own));
                }
                Some(own)
            }
            (None, team) => team,
        };
        let secret = mint_secret().map_err(|e| AdminError::Random(e.to_string()))?;
        let record = KeyRecord {
            id: new.id,
            hash: hash_secret(secret.as_bytes()),
            team: new.team,
            customer,
            budgets: new.budgets,
            rate_limits: new.rate_limits,
            models: new.models,
            mcp_tools: new.mcp_tools,
            expires_at_unix_secs: new.expires_at_unix_secs,
            origin: KeyOrigin::Runtime,
            created_at_ms: now_ms,
            revoked_at_ms: None,
        };
        let ctx = self.build_context(now_ms);
        state.upsert_key(record.clone(), ctx);
        if state.keys.slot_of_id(&record.id).is_none() {
            return Err(AdminError::DuplicateId(record.id));
        }
        let key = info(&record);
        state.outbox.push(Outbound {
            route: Route::Others,
            ledger: true,
            msg: GovMsg::KeyUpsert(Box::new(record)),
        });
        Ok(CreatedKey { key, secret })
    }

    /// Changes a created key's limits, allow-list or expiry (counters carry over).
    pub fn update_key(&self, id: &str, update: KeyUpdate) -> Result<KeyInfo, AdminError> {
        let now_ms = self.clock.now_unix_millis();
        if update
            .models
            .as_ref()
            .is_some_and(|m| m.iter().any(String::is_empty))
        {
            return Err(AdminError::InvalidModels("a pattern is empty".into()));
        }
        check_mcp_tools(update.mcp_tools.as_ref().and_then(Option::as_deref))?;
        let mut state = self.state.borrow_mut();
        let slot = state
            .keys
            .slot_of_id(id)
            .ok_or_else(|| AdminError::NotFound(format!("key `{id}`")))?;
        let mut record = state
            .keys
            .get(slot)
            .cloned()
            .ok_or_else(|| AdminError::NotFound(format!("key `{id}`")))?;
        if record.origin == KeyOrigin::Config {
            return Err(AdminError::ConfigKey(record.id));
        }
        if let Some(budgets) = update.budgets {
            record.budgets = budgets;
        }
        if let Some(limits) = update.rate_limits {
            record.rate_limits = limits;
        }
        if let Some(models) = update.models {
            record.models = models;
        }
        if let Some(mcp_tools) = update.mcp_tools {
            record.mcp_tools = mcp_tools;
        }
        if let Some(expires) = update.expires_at_unix_secs {
            record.expires_at_unix_secs = expires;
        }
        let ctx = self.build_context(now_ms);
        state.upsert_key(record.clone(), ctx);
        let key = info(&record);
        state.outbox.push(Outbound {
            route: Route::Others,
            ledger: true,
            msg: GovMsg::KeyUpsert(Box::new(record)),
        });
        Ok(key)
    }

    /// Revokes a key (config keys too: the revocation is kept by digest).
    pub fn revoke_key(&self, id: &str) -> Result<KeyInfo, AdminError> {
        let now_ms = self.clock.now_unix_millis();
        let mut state = self.state.borrow_mut();
        let slot = state
            .keys
            .slot_of_id(id)
            .ok_or_else(|| AdminError::NotFound(format!("key `{id}`")))?;
        let hash = state
            .keys
            .get(slot)
            .map(|r| r.hash)
            .ok_or_else(|| AdminError::NotFound(format!("key `{id}`")))?;
        state.revoke(hash, now_ms);
        let key = state
            .keys
            .get(slot)
            .map(info)
            .ok_or_else(|| AdminError::NotFound(format!("key `{id}`")))?;
        let revocation = KeyRevocation {
            id: id.to_owned(),
            hash,
            at_ms: key.revoked_at_ms.unwrap_or(now_ms),
        };
        state.outbox.push(Outbound {
            route: Route::Others,
            ledger: true,
            msg: GovMsg::KeyRevoked(revocation),
        });
        Ok(key)
    }

    pub fn list_keys(&self) -> Vec<KeyInfo> {
        self.state
            .borrow()
            .keys
            .records()
            .iter()
            .map(info)
            .collect()
    }

    /// Usage of one entity, as this shard sees it (merge the shards' reports for the sum of
    /// reservations in flight).
    pub fn usage(&self, level: Level, id: &str) -> Option<EntityUsage> {
        let now_ms = self.clock.now_unix_millis();
        let mut state = self.state.borrow_mut();
        let slot = state.registry.slot(level, id)?;
        state.registry.get_mut(slot).map(|e| usage_of(e, now_ms))
    }

    /// Usage of every entity of `level` (teams, customers, keys, providers).
    pub fn list_usage(&self, level: Level) -> Vec<EntityUsage> {
        let now_ms = self.clock.now_unix_millis();
        let mut state = self.state.borrow_mut();
        state
            .registry
            .entities
            .iter_mut()
            .filter(|e| e.level == level)
            .map(|e| usage_of(e, now_ms))
            .collect()
    }

    /// Starts `budget` (or every budget) of an entity over at zero, on every shard.
    pub fn reset_budget(
        &self,
        level: Level,
        id: &str,
        budget: Option<BudgetKey>,
    ) -> Result<(), AdminError> {
        let now_ms = self.clock.now_unix_millis();
        let mut state = self.state.borrow_mut();
        let slot = state
            .registry
            .slot(level, id)
            .ok_or_else(|| AdminError::NotFound(format!("{} `{id}`", level.as_str())))?;
        let has_budget = state.registry.get(slot).is_some_and(|e| {
            e.budgets
                .iter()
                .any(|b| budget.is_none_or(|k| b.same_slot_key(&k)))
        });
        if !has_budget {
            return Err(AdminError::NotFound(format!(
                "budget of {} `{id}`",
                level.as_str()
            )));
        }
        let reset = BudgetReset {
            entity: EntityId::of(level, id),
            budget,
            at_ms: now_ms,
        };
        state.reset_budget(&reset);
        state.outbox.push(Outbound {
            route: Route::Others,
            ledger: true,
            msg: GovMsg::BudgetReset(reset),
        });
        Ok(())
    }
}
