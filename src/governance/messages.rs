//! What governance sends between shards and to the ledger: plain data (`Send`), so the runtime
//! can carry it over its mesh channels and the ledger's channel unchanged.

use super::entity::{EntityId, Level};
use super::keys::KeyRecord;
use crate::config::{Budget, ResetPeriod};

/// One settled request, as every other shard and the ledger need it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpendDelta {
    pub origin_shard: u32,
    /// The entities charged, by level: `[key, team, customer, provider]`.
    pub entities: [Option<EntityId>; 4],
    /// When the request was admitted (its request count belongs there).
    pub admitted_at_ms: u64,
    /// When it settled (its cost and tokens belong there).
    pub settled_at_ms: u64,
    pub cost_pico: u64,
    /// Tokens counted against token rate limits: input + cache writes + output.
    pub rate_tokens: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    /// Strict mode: cost beyond the request's reservation (its bound did not hold).
    pub overshoot_pico: u64,
    /// Strict mode: tokens beyond the request's token reservation.
    pub overshoot_tokens: u64,
}

impl SpendDelta {
    /// The entity charged at `level`.
    pub fn entity(&self, level: Level) -> Option<EntityId> {
        let index = match level {
            Level::Key => 0,
            Level::Team => 1,
            Level::Customer => 2,
            Level::Provider => 3,
        };
        self.entities.get(index).copied().flatten()
    }
}

/// Names one budget of an entity across shards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BudgetKey {
    pub reset: ResetPeriod,
    pub calendar_aligned: bool,
}

impl BudgetKey {
    pub fn of(budget: &Budget) -> BudgetKey {
        BudgetKey {
            reset: budget.reset,
            calendar_aligned: budget.calendar_aligned,
        }
    }
}

/// What a share is a share of: one budget, or one rate limit's request or token count (a
/// limit is named by its window, as config reloads match them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShareOf {
    Budget(BudgetKey),
    Requests { window_ms: u64 },
    Tokens { window_ms: u64 },
    ToolCalls { window_ms: u64 },
}

/// One admitted MCP tool call, as every other shard needs it for `tool_calls` limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ToolCallDelta {
    pub origin_shard: u32,
    /// The entities it counts against: `[key, team, customer]`.
    pub entities: [Option<EntityId>; 3],
    pub at_ms: u64,
}

/// Strict mode: a shard short of its share of a cap or limit asks the others for some
/// (pico-dollars for a budget, requests or tokens for a limit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShareRequest {
    pub from_shard: u32,
    pub entity: EntityId,
    pub of: ShareOf,
    pub wanted: u64,
}

/// Strict mode: share handed from one shard to another (already taken off the giver's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShareGrant {
    pub to_shard: u32,
    pub entity: EntityId,
    pub of: ShareOf,
    pub amount: u64,
}

/// An admin reset of one budget (or all of an entity's budgets) at `at_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BudgetReset {
    pub entity: EntityId,
    pub budget: Option<BudgetKey>,
    pub at_ms: u64,
}

/// A revocation, by digest (works for config keys and created keys alike).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRevocation {
    pub id: String,
    pub hash: [u8; 32],
    pub at_ms: u64,
}

/// Redis backend: whether Redis answers, sent to every shard on each change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackendStatus {
    pub up: bool,
}

/// Redis backend: usage that other instances settled (pulled from Redis), counted in this
/// shard's global view of one budget or limit (soft-mode checks, headers, admin usage).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemoteUsage {
    pub entity: EntityId,
    pub of: ShareOf,
    pub at_ms: u64,
    pub amount: u64,
}

/// Every governance message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GovMsg {
    Spend(SpendDelta),
    ShareRequest(ShareRequest),
    ShareGrant(ShareGrant),
    /// A key created or updated at run time (the whole record; only its digest, no secret).
    KeyUpsert(Box<KeyRecord>),
    KeyRevoked(KeyRevocation),
    BudgetReset(BudgetReset),
    /// Budgets added to a created key, started from its recorded spend (budget_seed.rs).
    BudgetSeed(Box<super::budget_seed::BudgetSeed>),
    ToolCall(ToolCallDelta),
    Backend(BackendStatus),
    Remote(RemoteUsage),
}

/// Where an outbound message goes among the shards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// Every shard but this one.
    Others,
    /// One shard.
    Shard(u32),
}

/// A message this shard wants delivered: to shards by `route`, and to the ledger if `ledger`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outbound {
    pub route: Route,
    pub ledger: bool,
    pub msg: GovMsg,
}
