//! MCP under governance: tool calls against `tool_calls` rate limits (counted apart from
//! requests, on the key, team and customer levels, and in strict mode with several shards exact
//! across shards through the same share requests and grants as the request and token counts),
//! and each key's `mcp_tools` list as it stands now (config or admin API).

use super::admission::{SHARE_ASK_FACTOR, SHARE_LOW_WATER_FACTOR, secs_until};
use super::counters::window_ms;
use super::entity::Level;
use super::messages::{GovMsg, Outbound, Route, ShareOf, ToolCallDelta};
use super::registry::{Entity, Registry};
use super::rejection::{AuthFailure, BUDGET_BUSY_RETRY_SECS, BusyLimit, RateKind, Rejection};
use super::shares;
use super::state::Governor;
use crate::config::BudgetMode;

/// The levels a tool call counts against, in the order they are checked.
const LEVELS: [Level; 3] = [Level::Key, Level::Team, Level::Customer];

impl Governor {
    /// The key's team and its `mcp_tools` list (`None`: no list on the key), for config keys
    /// and created ones alike, as last set; `None` for an unknown key.
    pub fn key_mcp_tools(&self, key_id: &str) -> Option<(String, Option<Vec<String>>)> {
        let state = self.state.borrow();
        let record = state.keys.get(state.keys.slot_of_id(key_id)?)?;
        Some((record.team.clone(), record.mcp_tools.clone()))
    }

    /// Admits one MCP `tools/call` by the virtual key named `key_id`: refused when a
    /// `tool_calls` limit on the key, its team or its customer is reached (or, strict mode,
    /// when this shard's share of one is used up: more is asked of the others and the call
    /// gets `BudgetBusy`). An admitted call is counted at once and announced to the other
    /// shards (send [`Governor::drain_outbound`]).
    pub fn admit_tool_call(&self, key_id: &str) -> Result<(), Rejection> {
        let now_ms = self.clock.now_unix_millis();
        let mut guard = self.state.borrow_mut();
        let state = &mut *guard;
        let key_slot = state
            .keys
            .slot_of_id(key_id)
            .ok_or(Rejection::Unauthenticated(AuthFailure::Unknown))?;
        if let Some(refused) = state.keys.get(key_slot).and_then(|k| k.unusable(now_ms)) {
            return Err(Rejection::Unauthenticated(match refused {
                super::keys::KeyState::Revoked => AuthFailure::Revoked,
                super::keys::KeyState::Expired => AuthFailure::Expired,
            }));
        }
        let entity_slot = state
            .registry
            .slot(Level::Key, key_id)
            .ok_or(Rejection::Unauthenticated(AuthFailure::Unknown))?;
        let entity = state.registry.get(entity_slot);
        let slots = [
            Some(entity_slot),
            entity.and_then(|e| e.team),
            entity.and_then(|e| e.customer),
        ];
        // With the Redis backend the shard's share comes from the instance's broker, which is
        // also told of every admitted call (it counts them in Redis).
        let pooled = state.backend.pooled;
        let sharing_shard =
            (state.mode == BudgetMode::Strict && (self.shards > 1 || pooled)).then_some(self.shard);
        let registry = &mut state.registry;
        let outbox = &mut state.outbox;
        let mut busy = None;
        for (level, slot) in LEVELS.iter().zip(slots) {
            if let Some(entity) = slot.and_then(|s| registry.get_mut(s)) {
                check(entity, *level, now_ms, sharing_shard, outbox, &mut busy)?;
            }
        }
        if let Some(busy) = busy {
            return Err(busy);
        }
        let mut entities = [None; 3];
        let mut limited = false;
        for (index, slot) in slots.iter().enumerate() {
            let Some(entity) = slot.and_then(|s| registry.get_mut(s)) else {
                continue;
            };
            entities[index] = Some(entity.id);
            limited |= hold(entity, now_ms, sharing_shard, outbox);
        }
        // Counted by the other shards (if any) and kept in the ledger, so a restart does not
        // empty the windows.
        if limited {
            outbox.push(Outbound {
                route: Route::Others,
                ledger: true,
                msg: GovMsg::ToolCall(ToolCallDelta {
                    origin_shard: u32::try_from(self.shard).unwrap_or(u32::MAX),
                    entities,
                    at_ms: now_ms,
                }),
            });
        }
        Ok(())
    }
}

/// One level's `tool_calls` limits: refuses when one has no room for one more call; a share
/// this shard is short of is asked for and noted in `busy`.
fn check(
    entity: &mut Entity,
    level: Level,
    now_ms: u64,
    sharing_shard: Option<usize>,
    outbox: &mut Vec<Outbound>,
    busy: &mut Option<Rejection>,
) -> Result<(), Rejection> {
    let id = entity.id;
    for limit in &mut entity.limits {
        let Some(max) = limit.spec.tool_calls else {
            continue;
        };
        limit.advance(now_ms);
        if limit.tool_calls.total().saturating_add(1) > max {
            return Err(Rejection::RateLimited {
                level,
                entity: entity.name.to_string(),
                kind: RateKind::ToolCalls,
                limit: max,
                window_secs: limit.spec.window.as_secs(),
                retry_after_secs: secs_until(
                    now_ms,
                    limit.tool_calls.relief_at_ms(now_ms, max - 1),
                ),
            });
        }
        let Some(shard) = sharing_shard else {
            continue;
        };
        let used = limit.own_tool_calls.total().saturating_add(1);
        if used > limit.tool_call_share {
            let wanted = (used - limit.tool_call_share).saturating_add(SHARE_LOW_WATER_FACTOR);
            let of = ShareOf::ToolCalls {
                window_ms: window_ms(&limit.spec),
            };
            let last = &mut limit.last_tool_call_ask_ms;
            shares::ask(last, id, of, wanted, now_ms, shard, outbox);
            busy.get_or_insert_with(|| Rejection::BudgetBusy {
                level,
                entity: entity.name.to_string(),
                limit: BusyLimit::ToolCalls,
                retry_after_secs: BUDGET_BUSY_RETRY_SECS,
            });
        }
    }
    Ok(())
}

/// Counts an admitted call on one level's `tool_calls` limits (and asks early for more share
/// when this shard's runs low); true when the level has such a limit.
fn hold(
    entity: &mut Entity,
    now_ms: u64,
    sharing_shard: Option<usize>,
    outbox: &mut Vec<Outbound>,
) -> bool {
    let id = entity.id;
    let mut limited = false;
    for limit in &mut entity.limits {
        if limit.spec.tool_calls.is_none() {
            continue;
        }
        limited = true;
        limit.tool_calls.add(now_ms, 1);
        limit.own_tool_calls.add(now_ms, 1);
        let Some(shard) = sharing_shard else {
            continue;
        };
        let free = limit
            .tool_call_share
            .saturating_sub(limit.own_tool_calls.total());
        if free < SHARE_LOW_WATER_FACTOR {
            let of = ShareOf::ToolCalls {
                window_ms: window_ms(&limit.spec),
            };
            let last = &mut limit.last_tool_call_ask_ms;
            shares::ask(last, id, of, SHARE_ASK_FACTOR, now_ms, shard, outbox);
        }
    }
    limited
}

/// Adds another shard's admitted tool call to every entity it counted against.
pub(super) fn apply(registry: &mut Registry, delta: &ToolCallDelta) {
    for id in delta.entities.iter().flatten() {
        let Some(entity) = registry.by_id_mut(id) else {
            continue;
        };
        for limit in &mut entity.limits {
            if limit.spec.tool_calls.is_some() {
                limit.tool_calls.add(delta.at_ms, 1);
            }
        }
    }
}
