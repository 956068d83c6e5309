//! What flows in from Redis: the live instances and the other instances' usage (pulled every
//! [`super::PULL_MS`] into the shards' global view), and keys, revocations and budget resets
//! made on other instances (polled by version just before each pull, so a reset reaches the
//! shards before the usage settled after it).

use std::collections::HashMap;

use futures_channel::mpsc::UnboundedSender;

use super::super::items::{Item, LEASE_TTL_MS};
use super::super::keysync::{decode_record, decode_revocation, keys_key, revoked_key, version_key};
use super::super::resets::{decode_reset, resets_key};
use super::{Broker, instances_key};
use crate::governance::messages::{BudgetReset, GovMsg, RemoteUsage, ShareOf};

impl Broker {
    /// Announces this instance (and counts the live ones), reads every item's usage and
    /// passes other instances' new usage to the shards.
    pub(super) fn pull(
        &mut self,
        now: u64,
        shards: &[UnboundedSender<GovMsg>],
    ) -> redis::RedisResult<()> {
        let items: Vec<Item> = self.catalog.by_entity.values().flatten().cloned().collect();
        let mut pipe = redis::pipe();
        let instances = instances_key(&self.setup.prefix);
        pipe.hset(&instances, &self.setup.instance, now + LEASE_TTL_MS)
            .ignore();
        pipe.hgetall(&instances);
        for item in &items {
            pipe.hgetall(&item.key);
        }
        let conn = self.connection()?;
        let mut replies: Vec<HashMap<String, String>> = pipe.query(conn)?;
        let seen_alive = if replies.is_empty() {
            HashMap::new()
        } else {
            replies.remove(0)
        };
        let live = seen_alive
            .values()
            .filter(|until| until.parse::<u64>().is_ok_and(|u| u > now))
            .count() as u64;
        self.live_seen = live.max(1);
        let own = format!("u:{}|", self.setup.instance);
        let mut fresh = HashMap::new();
        for (item, fields) in items.iter().zip(replies) {
            let start = item.window_start(now);
            for (field, value) in fields {
                if !field.starts_with("u:") || field.starts_with(&own) {
                    continue;
                }
                let Some(bucket) = field
                    .rsplit_once('|')
                    .and_then(|(_, b)| b.parse::<u64>().ok())
                else {
                    continue;
                };
                let amount: u64 = value.parse().unwrap_or(0);
                let key = (item.key.clone(), field);
                let before = self.seen.get(&key).copied().unwrap_or(0);
                if amount > before && bucket >= start {
                    // Usage after a reset counts from the reset on (a calendar bucket starts
                    // at the period's start, before it).
                    let reset_at = self.reset_at.get(&item.key).copied().unwrap_or(0);
                    let usage = GovMsg::Remote(RemoteUsage {
                        entity: item.entity,
                        of: item.of,
                        at_ms: bucket.max(start).max(reset_at).min(now),
                        amount: item.from_units(amount - before),
                    });
                    for shard in shards {
                        let _ = shard.unbounded_send(usage.clone());
                    }
                }
                fresh.insert(key, amount.max(before));
            }
        }
        self.seen = fresh;
        Ok(())
    }

    /// Passes keys created, changed or revoked and budgets reset on other instances to the
    /// shards (and resets to the local ledger).
    pub(super) fn poll_keys(
        &mut self,
        shards: &[UnboundedSender<GovMsg>],
    ) -> redis::RedisResult<()> {
        let prefix = self.setup.prefix.clone();
        let version: Option<i64> = redis::cmd("GET")
            .arg(version_key(&prefix))
            .query(self.connection()?)?;
        if version == self.keys_version {
            return Ok(());
        }
        type Hash = HashMap<String, String>;
        let (records, revoked, resets): (Hash, Hash, Hash) = redis::pipe()
            .hgetall(keys_key(&prefix))
            .hgetall(revoked_key(&prefix))
            .hgetall(resets_key(&prefix))
            .query(self.connection()?)?;
        self.keys_version = version;
        let mut out = Vec::new();
        for (id, json) in records {
            if self.known_keys.get(&id) == Some(&json) {
                continue;
            }
            if let Some(record) = decode_record(&json) {
                self.catalog.upsert_key(&prefix, &record);
                out.push(GovMsg::KeyUpsert(Box::new(record)));
                self.known_keys.insert(id, json);
            }
        }
        for (hash, value) in revoked {
            if self.known_revoked.contains(&hash) {
                continue;
            }
            if let Some(revocation) = decode_revocation(&hash, &value) {
                out.push(GovMsg::KeyRevoked(revocation));
                self.known_revoked.insert(hash);
            }
        }
        for (field, value) in resets {
            let Some(reset) = decode_reset(&field, &value) else {
                continue;
            };
            if self
                .known_resets
                .get(&field)
                .is_some_and(|at| *at >= reset.at_ms)
            {
                continue;
            }
            self.known_resets.insert(field, reset.at_ms);
            self.forget_usage(&reset);
            if let Some(ledger) = &self.ledger {
                ledger.record(GovMsg::BudgetReset(reset));
            }
            out.push(GovMsg::BudgetReset(reset));
        }
        for msg in out {
            for shard in shards {
                let _ = shard.unbounded_send(msg.clone());
            }
        }
        Ok(())
    }

    /// Start-up: usage pulled from now on counts from each of these resets on (the local
    /// ledger's and those read from Redis).
    pub fn resume_resets(&mut self, resets: &[BudgetReset]) {
        for reset in resets {
            self.forget_usage(reset);
        }
    }

    /// The items a reset covers: their usage seen so far is forgotten (Redis dropped it), and
    /// usage pulled from now on counts from the reset on.
    pub(super) fn forget_usage(&mut self, reset: &BudgetReset) -> Vec<String> {
        let keys: Vec<String> = self
            .catalog
            .by_entity
            .get(&reset.entity)
            .into_iter()
            .flatten()
            .filter(|item| match item.of {
                ShareOf::Budget(key) => reset.budget.is_none_or(|b| b == key),
                _ => false,
            })
            .map(|item| item.key.clone())
            .collect();
        for key in &keys {
            self.seen.retain(|(item, _), _| item != key);
            let at = self.reset_at.entry(key.clone()).or_default();
            *at = (*at).max(reset.at_ms);
        }
        keys
    }
}
