//! Strict-mode shares: how a shard asks the others for part of a cap or a rate limit it is
//! short of, what a shard gives when asked, and how a grant is taken in. Budgets share
//! pico-dollars, rate limits share requests and tokens; all move the same way (taken off the
//! giver before it is sent, so what is in transit is usable by nobody).

use super::entity::EntityId;
use super::messages::{GovMsg, Outbound, RemoteUsage, Route, ShareGrant, ShareOf, ShareRequest};
use super::registry::Entity;

/// Least time between two requests for share of one budget or one limit count.
pub const SHARE_REQUEST_INTERVAL_MS: u64 = 10;

/// A shard that asked for a share within this long is still waiting for it (a waiting
/// admission asks again every [`SHARE_REQUEST_INTERVAL_MS`]).
const WANTING_MS: u64 = 2 * SHARE_REQUEST_INTERVAL_MS;

/// Broadcasts a request for `wanted` of `of`, at most once per [`SHARE_REQUEST_INTERVAL_MS`]
/// (`last_ask_ms` remembers when this shard last asked for it).
pub(super) fn ask(
    last_ask_ms: &mut u64,
    entity: EntityId,
    of: ShareOf,
    wanted: u64,
    now_ms: u64,
    shard: usize,
    outbox: &mut Vec<Outbound>,
) {
    if *last_ask_ms != 0 && now_ms < last_ask_ms.saturating_add(SHARE_REQUEST_INTERVAL_MS) {
        return;
    }
    *last_ask_ms = now_ms.max(1);
    outbox.push(Outbound {
        route: Route::Others,
        ledger: false,
        msg: GovMsg::ShareRequest(ShareRequest {
            from_shard: u32::try_from(shard).unwrap_or(u32::MAX),
            entity,
            of,
            wanted,
        }),
    });
}

/// What this shard gives of `entity`'s share for `request` (taken off its own share), and the
/// grant to send; `None` when it has nothing free. `shards`: how many shards there are (a
/// request numbered past the last one is the Redis broker's: it always gets what is free, so
/// fragments too small for any one instance flow back to Redis and can be leased whole).
pub(super) fn give(
    entity: &mut Entity,
    request: &ShareRequest,
    now_ms: u64,
    shard: usize,
    shards: usize,
) -> Option<ShareGrant> {
    let (share, used, last_ask_ms) = match request.of {
        ShareOf::Budget(key) => {
            let reserved = entity.reserved_pico;
            let budget = entity.budgets.iter_mut().find(|b| b.same_slot_key(&key))?;
            budget.advance(now_ms);
            let used = budget.own.total().saturating_add(reserved);
            (&mut budget.share_pico, used, budget.last_share_request_ms)
        }
        ShareOf::Requests { window_ms } => {
            let limit = entity.limit_mut(window_ms)?;
            limit.advance(now_ms);
            let used = limit.own_requests.total();
            let asked = limit.last_request_ask_ms;
            (&mut limit.request_share, used, asked)
        }
        ShareOf::Tokens { window_ms } => {
            let reserved = entity.reserved_tokens;
            let limit = entity.limit_mut(window_ms)?;
            limit.advance(now_ms);
            let used = limit.own_tokens.total().saturating_add(reserved);
            let asked = limit.last_token_ask_ms;
            (&mut limit.token_share, used, asked)
        }
        ShareOf::ToolCalls { window_ms } => {
            let limit = entity.limit_mut(window_ms)?;
            limit.advance(now_ms);
            let used = limit.own_tool_calls.total();
            let asked = limit.last_tool_call_ask_ms;
            (&mut limit.tool_call_share, used, asked)
        }
    };
    // Two short shards asking each other would swap their remainders for ever: a shard that
    // is itself waiting for this share keeps it from a higher-numbered asker, so what is left
    // flows towards the lowest-numbered shard that wants it.
    let waiting = last_ask_ms != 0 && now_ms < last_ask_ms.saturating_add(WANTING_MS);
    let from_backend = request.from_shard as usize >= shards;
    if waiting && shard < request.from_shard as usize && !from_backend {
        return None;
    }
    let free = share.saturating_sub(used);
    let amount = free.min(request.wanted.max(free / 2));
    if amount == 0 {
        return None;
    }
    *share -= amount;
    Some(ShareGrant {
        to_shard: request.from_shard,
        entity: request.entity,
        of: request.of,
        amount,
    })
}

/// Adds a grant to `entity`'s share.
pub(super) fn receive(entity: &mut Entity, grant: &ShareGrant) {
    let share = match grant.of {
        ShareOf::Budget(key) => entity
            .budgets
            .iter_mut()
            .find(|b| b.same_slot_key(&key))
            .map(|b| &mut b.share_pico),
        ShareOf::Requests { window_ms } => {
            entity.limit_mut(window_ms).map(|l| &mut l.request_share)
        }
        ShareOf::Tokens { window_ms } => entity.limit_mut(window_ms).map(|l| &mut l.token_share),
        ShareOf::ToolCalls { window_ms } => {
            entity.limit_mut(window_ms).map(|l| &mut l.tool_call_share)
        }
    };
    if let Some(share) = share {
        *share = share.saturating_add(grant.amount);
    }
}

/// Counts usage another instance settled in `entity`'s global view (Redis backend).
pub(super) fn count_remote(entity: &mut Entity, usage: &RemoteUsage) {
    match usage.of {
        ShareOf::Budget(key) => {
            if let Some(budget) = entity.budgets.iter_mut().find(|b| b.same_slot_key(&key))
                && usage.at_ms >= budget.reset_at_ms
            {
                budget.global.add(usage.at_ms, usage.amount);
            }
        }
        ShareOf::Requests { window_ms } => {
            if let Some(limit) = entity.limit_mut(window_ms) {
                limit.requests.add(usage.at_ms, usage.amount);
            }
        }
        ShareOf::Tokens { window_ms } => {
            if let Some(limit) = entity.limit_mut(window_ms) {
                limit.tokens.add(usage.at_ms, usage.amount);
            }
        }
        ShareOf::ToolCalls { window_ms } => {
            if let Some(limit) = entity.limit_mut(window_ms) {
                limit.tool_calls.add(usage.at_ms, usage.amount);
            }
        }
    }
}

impl Entity {
    /// The rate limit with this window.
    pub(super) fn limit_mut(&mut self, window_ms: u64) -> Option<&mut super::counters::RateState> {
        self.limits
            .iter_mut()
            .find(|l| super::counters::window_ms(&l.spec) == window_ms)
    }
}
