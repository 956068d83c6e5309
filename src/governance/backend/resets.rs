//! Admin budget resets shared through Redis: `POST /admin/budgets/reset` on one instance drops
//! the budget's usage in Redis (every instance's, with one script per item) and publishes the
//! reset in one hash, bumped with the key-sync version so every instance polls it and resets
//! its shards and its local ledger too. IO-free.

use crate::governance::entity::EntityId;
use crate::governance::ledger_codec::{decode_budget_key, encode_budget_key};
use crate::governance::messages::BudgetReset;

/// Drops every instance's usage of one item, once: KEYS the item's hash and its guard (as
/// `ADD_ONCE_SCRIPT`'s), ARGV instance and sequence number; a replayed reset whose number
/// the guard already passed does nothing (it would drop usage settled after it).
pub const RESET_SCRIPT: &str = r#"
local last = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if tonumber(ARGV[2]) <= last then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(f, 1, 2) == 'u:' then redis.call('HDEL', KEYS[1], f) end
end
return 1
"#;

/// `{prefix}:resets`: `entity|budget` → when it was reset (unix ms).
pub fn resets_key(prefix: &str) -> String {
    format!("{{{prefix}}}:resets")
}

/// The field of `reset` in the resets hash.
pub fn reset_field(reset: &BudgetReset) -> String {
    format!(
        "{:016x}|{}",
        reset.entity.0,
        encode_budget_key(reset.budget)
    )
}

/// The reset a field and value of the resets hash hold; `None` for anything else.
pub fn decode_reset(field: &str, value: &str) -> Option<BudgetReset> {
    let (entity, budget) = field.split_once('|')?;
    Some(BudgetReset {
        entity: EntityId(u64::from_str_radix(entity, 16).ok()?),
        budget: decode_budget_key(budget)?,
        at_ms: value.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ResetPeriod;
    use crate::governance::messages::BudgetKey;

    #[test]
    fn resets_round_trip_through_the_hash() {
        for budget in [
            None,
            Some(BudgetKey {
                reset: ResetPeriod::Day,
                calendar_aligned: true,
            }),
        ] {
            let reset = BudgetReset {
                entity: EntityId(0xfeed_0000_0000_0001),
                budget,
                at_ms: 1_800_000_000_000,
            };
            let field = reset_field(&reset);
            assert_eq!(decode_reset(&field, "1800000000000"), Some(reset));
        }
        assert_eq!(decode_reset("zz|*", "1"), None);
        assert_eq!(decode_reset("00ff|*", "soon"), None);
        assert_eq!(decode_reset("00ff", "1"), None);
    }
}
