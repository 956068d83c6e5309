//! What the Redis backend keeps per governed entity, IO-free: one Redis hash per budget and per
//! rate-limit count ("item"), its key (the entity's hash tag, so every script touches one
//! slot), its cap in Redis units, its window and usage buckets, and the Lua scripts that lease
//! share of it. Budgets count nano-dollars in Redis (Lua numbers are doubles: pico-dollars
//! past 2^53 would lose precision); grants round down and usage rounds up, so rounding never
//! lets more through.

use std::collections::HashMap;

use crate::config::{Budget, RateLimit};
use crate::governance::counters::window_ms;
use crate::governance::entity::{EntityId, FastBuild};
use crate::governance::keys::KeyRecord;
use crate::governance::messages::{BudgetKey, ShareOf};
use crate::governance::window::{calendar_window, rolling_length_ms};

/// Pico-dollars in one Redis budget unit (a nano-dollar).
pub const PICO_PER_UNIT: u64 = 1_000;

/// Usage buckets per rolling window in Redis.
pub const BUCKETS_PER_WINDOW: u64 = 60;

/// Leases an instance holds expire this long after its last renewal: a dead instance's
/// unused share is counted back within this bound (the README states it; at most 60 s).
pub const LEASE_TTL_MS: u64 = 15_000;
const _: () = assert!(
    LEASE_TTL_MS <= 60_000,
    "the README promises leases back within 60 s"
);

/// Grants a lease of share on one item: drops expired leases and usage buckets older than the
/// window, counts every instance as max(live lease, usage in the window) (a dead instance
/// counts only its usage; the caller's own lease is at least what its shards hold, ARGV[8]),
/// grants min(want, cap - counted) and notes a refused want, so the holders hand back what
/// they do not use. Returns {granted, live instances}.
pub const LEASE_SCRIPT: &str = r#"
local inst, now, exp = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local cap, want, win, ttl = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
local held = tonumber(ARGV[8])
local all = redis.call('HGETALL', KEYS[1])
local share, expiry, usage, stale = {}, {}, {}, {}
for i = 1, #all, 2 do
  local f, v = all[i], all[i + 1]
  local kind = string.sub(f, 1, 2)
  if kind == 's:' then share[string.sub(f, 3)] = tonumber(v)
  elseif kind == 'x:' then expiry[string.sub(f, 3)] = tonumber(v)
  elseif kind == 'u:' then
    local rest = string.sub(f, 3)
    local sep = string.find(rest, '|', 1, true)
    if sep then
      local who, bucket = string.sub(rest, 1, sep - 1), tonumber(string.sub(rest, sep + 1))
      if bucket < win then stale[#stale + 1] = f
      else usage[who] = (usage[who] or 0) + tonumber(v) end
    end
  end
end
local live, counted = 0, 0
for who, amount in pairs(share) do
  if (expiry[who] or 0) <= now then
    redis.call('HDEL', KEYS[1], 's:' .. who, 'x:' .. who)
    share[who] = nil
  elseif who ~= inst then
    live = live + 1
  end
end
share[inst] = math.max(share[inst] or 0, held)
for who, amount in pairs(share) do counted = counted + math.max(amount, usage[who] or 0) end
for who, amount in pairs(usage) do
  if share[who] == nil then counted = counted + amount end
end
for _, f in ipairs(stale) do redis.call('HDEL', KEYS[1], f) end
local grant = 0
if cap > counted then grant = math.min(want, cap - counted) end
if grant < want then
  redis.call('HSET', KEYS[1], 'w', string.format('%.0f', now), 'wi', inst)
end
local mine = math.max(share[inst] or 0, held) + grant
redis.call('HSET', KEYS[1], 's:' .. inst, string.format('%.0f', mine), 'x:' .. inst, exp)
redis.call('PEXPIRE', KEYS[1], ttl)
return {grant, live + 1}
"#;

/// Sets this instance's lease on one item to what its shards hold (0 drops it) and renews its
/// expiry. Returns 1 when another instance was refused share within `recent` ms (the holders
/// should hand back what they do not use), else 0.
pub const SET_SHARE_SCRIPT: &str = r#"
local inst, held, exp, since = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
if held > 0 then
  redis.call('HSET', KEYS[1], 's:' .. inst, ARGV[2], 'x:' .. inst, exp)
else
  redis.call('HDEL', KEYS[1], 's:' .. inst, 'x:' .. inst)
end
local w = redis.call('HMGET', KEYS[1], 'w', 'wi')
if w[1] and w[2] ~= inst and tonumber(w[1]) >= since then return 1 end
return 0
"#;

/// Adds to one hash field exactly once: a write carries its instance's sequence number
/// (increasing across restarts), and the guard hash remembers the last one applied per
/// instance, so a write replayed after a lost reply is not counted twice. KEYS: the hash and
/// its guard (same hash tag); ARGV: instance, sequence, field, amount, TTL in ms (0: none).
pub const ADD_ONCE_SCRIPT: &str = r#"
local last = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if tonumber(ARGV[2]) <= last then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HINCRBY', KEYS[1], ARGV[3], ARGV[4])
if tonumber(ARGV[5]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
end
return 1
"#;

/// The guard hash of `key` for [`ADD_ONCE_SCRIPT`].
pub fn guard_key(key: &str) -> String {
    format!("{key}:g")
}

/// How an item's window runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Span {
    /// A calendar budget: usage of the period that holds `now` counts.
    Calendar(crate::config::ResetPeriod),
    /// A rolling window of this many milliseconds.
    Rolling(u64),
}

/// One budget or rate-limit count of one entity, as Redis holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub entity: EntityId,
    pub of: ShareOf,
    /// The cap in Redis units.
    pub cap: u64,
    pub span: Span,
    /// The Redis key of its hash.
    pub key: String,
}

impl Item {
    /// Redis units in `amount` of the shard's unit, rounded up (usage).
    pub fn units_up(&self, amount: u64) -> u64 {
        match self.of {
            ShareOf::Budget(_) => amount.div_ceil(PICO_PER_UNIT),
            _ => amount,
        }
    }

    /// The shard's unit for `units` Redis units (a grant).
    pub fn from_units(&self, units: u64) -> u64 {
        match self.of {
            ShareOf::Budget(_) => units.saturating_mul(PICO_PER_UNIT),
            _ => units,
        }
    }

    /// Redis units in `amount` of the shard's unit, rounded down (share handed back).
    pub fn units_down(&self, amount: u64) -> u64 {
        match self.of {
            ShareOf::Budget(_) => amount / PICO_PER_UNIT,
            _ => amount,
        }
    }

    fn bucket_ms(&self) -> u64 {
        match self.span {
            Span::Calendar(_) => 1,
            Span::Rolling(len) => (len / BUCKETS_PER_WINDOW).max(1),
        }
    }

    /// The usage bucket `at_ms` falls in (a calendar period's start, or a rolling bucket's).
    pub fn bucket(&self, at_ms: u64) -> u64 {
        match self.span {
            Span::Calendar(period) => calendar_window(period, at_ms).start_ms,
            Span::Rolling(_) => at_ms - at_ms % self.bucket_ms(),
        }
    }

    /// Buckets starting before this instant no longer count at `now_ms` (rolling: one whole
    /// bucket of slack, so Redis forgets usage later than the shards, never earlier).
    pub fn window_start(&self, now_ms: u64) -> u64 {
        match self.span {
            Span::Calendar(period) => calendar_window(period, now_ms).start_ms,
            Span::Rolling(len) => now_ms.saturating_sub(len.saturating_add(self.bucket_ms())),
        }
    }

    /// How long Redis keeps the item's hash after its last write.
    pub fn key_ttl_ms(&self, now_ms: u64) -> u64 {
        let window = match self.span {
            Span::Calendar(period) => {
                let w = calendar_window(period, now_ms);
                w.end_ms.saturating_sub(now_ms)
            }
            Span::Rolling(len) => len.saturating_add(self.bucket_ms()),
        };
        window.saturating_add(2 * LEASE_TTL_MS)
    }
}

/// The hash tag of one entity's keys: `{prefix:entity}` (one Redis Cluster slot per entity).
pub fn entity_tag(prefix: &str, entity: EntityId) -> String {
    format!("{{{prefix}:{:016x}}}", entity.0)
}

/// The key of the entity's durable settled-spend ledger (pico-dollars per instance, ever).
pub fn ledger_key(prefix: &str, entity: EntityId) -> String {
    format!("{}:ledger", entity_tag(prefix, entity))
}

/// Usage field of `instance` in `bucket`.
pub fn usage_field(instance: &str, bucket: u64) -> String {
    format!("u:{instance}|{bucket}")
}

/// The items of one entity's budgets and limits.
pub fn items_of(
    prefix: &str,
    entity: EntityId,
    budgets: &[Budget],
    limits: &[RateLimit],
) -> Vec<Item> {
    let tag = entity_tag(prefix, entity);
    let mut items = Vec::with_capacity(budgets.len() + 3 * limits.len());
    for budget in budgets {
        let cal = if budget.calendar_aligned { "c" } else { "r" };
        items.push(Item {
            entity,
            of: ShareOf::Budget(BudgetKey::of(budget)),
            cap: budget.max_micro_usd.saturating_mul(1_000),
            span: if budget.calendar_aligned {
                Span::Calendar(budget.reset)
            } else {
                Span::Rolling(rolling_length_ms(budget.reset))
            },
            key: format!("{tag}:b:{}:{cal}", budget.reset.as_str()),
        });
    }
    for limit in limits {
        let window = window_ms(limit);
        let counts = [
            (limit.requests, ShareOf::Requests { window_ms: window }, "q"),
            (limit.tokens, ShareOf::Tokens { window_ms: window }, "t"),
            (
                limit.tool_calls,
                ShareOf::ToolCalls { window_ms: window },
                "c",
            ),
        ];
        for (cap, of, letter) in counts {
            if let Some(cap) = cap {
                items.push(Item {
                    entity,
                    of,
                    cap,
                    span: Span::Rolling(window),
                    key: format!("{tag}:{letter}:{window}"),
                });
            }
        }
    }
    items
}

/// Every item this instance governs, by entity (config entities and keys).
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    pub by_entity: HashMap<EntityId, Vec<Item>, FastBuild>,
}

impl Catalog {
    pub fn build<'a>(
        prefix: &str,
        config: &crate::config::Config,
        keys: impl Iterator<Item = &'a KeyRecord>,
    ) -> Catalog {
        use crate::governance::entity::Level;
        let mut catalog = Catalog::default();
        let mut add = |level: Level, name: &str, budgets: &[Budget], limits: &[RateLimit]| {
            let id = EntityId::of(level, name);
            let items = items_of(prefix, id, budgets, limits);
            if !items.is_empty() {
                catalog.by_entity.insert(id, items);
            }
        };
        for p in &config.providers {
            add(Level::Provider, &p.name, &p.budgets, &[]);
        }
        for c in &config.customers {
            add(Level::Customer, &c.id, &c.budgets, &c.rate_limits);
        }
        for t in &config.teams {
            add(Level::Team, &t.id, &t.budgets, &t.rate_limits);
        }
        for key in &config.virtual_keys {
            add(Level::Key, &key.id, &key.budgets, &key.rate_limits);
        }
        for record in keys {
            add(Level::Key, &record.id, &record.budgets, &record.rate_limits);
        }
        catalog
    }

    /// Adds or replaces a key's items (a key created or changed at run time).
    pub fn upsert_key(&mut self, prefix: &str, record: &KeyRecord) {
        let id = EntityId::of(crate::governance::entity::Level::Key, &record.id);
        let items = items_of(prefix, id, &record.budgets, &record.rate_limits);
        self.by_entity.insert(id, items);
    }

    pub fn item(&self, entity: EntityId, of: ShareOf) -> Option<&Item> {
        self.by_entity.get(&entity)?.iter().find(|i| i.of == of)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ResetPeriod;
    use crate::governance::entity::Level;
    use std::time::Duration;

    fn items() -> Vec<Item> {
        let budgets = [
            Budget {
                max_micro_usd: 2_500_000,
                reset: ResetPeriod::Day,
                calendar_aligned: true,
            },
            Budget {
                max_micro_usd: 1,
                reset: ResetPeriod::Hour,
                calendar_aligned: false,
            },
        ];
        let limits = [RateLimit {
            requests: Some(10),
            tokens: Some(5_000),
            tool_calls: None,
            window: Duration::from_secs(60),
        }];
        items_of("p", EntityId::of(Level::Team, "t"), &budgets, &limits)
    }

    #[test]
    fn every_key_of_an_entity_shares_one_hash_tag() {
        let items = items();
        assert_eq!(items.len(), 4);
        let tag = entity_tag("p", EntityId::of(Level::Team, "t"));
        assert!(tag.starts_with("{p:") && tag.ends_with('}') && tag.len() == 20);
        for item in &items {
            assert!(item.key.starts_with(&tag), "{}", item.key);
            assert!(guard_key(&item.key).starts_with(&tag));
        }
        assert!(ledger_key("p", EntityId::of(Level::Team, "t")).starts_with(&tag));
        assert_eq!(items[0].cap, 2_500_000_000, "budgets count nano-dollars");
        assert_eq!((items[2].cap, items[3].cap), (10, 5_000));
    }

    #[test]
    fn budget_units_round_against_admitting_more() {
        let budget = &items()[0];
        assert_eq!(budget.units_up(1), 1, "usage rounds up");
        assert_eq!(budget.units_up(PICO_PER_UNIT), 1);
        assert_eq!(budget.units_up(PICO_PER_UNIT + 1), 2);
        assert_eq!(
            budget.units_down(PICO_PER_UNIT - 1),
            0,
            "returns round down"
        );
        assert_eq!(budget.from_units(3), 3 * PICO_PER_UNIT);
        let requests = &items()[2];
        assert_eq!(requests.units_up(7), 7);
        assert_eq!(requests.from_units(7), 7);
    }

    #[test]
    fn usage_buckets_outlive_the_shards_windows() {
        let now = 1_800_000_123_456;
        let items = items();
        let (calendar, rolling) = (&items[0], &items[1]);
        let day = calendar_window(ResetPeriod::Day, now);
        assert_eq!(calendar.bucket(now), day.start_ms);
        assert_eq!(calendar.window_start(now), day.start_ms);
        let len = rolling_length_ms(ResetPeriod::Hour);
        let bucket = len / BUCKETS_PER_WINDOW;
        assert_eq!(rolling.bucket(now) % bucket, 0);
        assert!(rolling.bucket(now) <= now && now - rolling.bucket(now) < bucket);
        // Usage from exactly one window ago still counts (one bucket of slack).
        assert!(rolling.bucket(now - len) >= rolling.window_start(now));
        assert!(rolling.key_ttl_ms(now) > len + 2 * LEASE_TTL_MS - 1);
        assert!(calendar.key_ttl_ms(now) >= day.end_ms - now);
    }
}
