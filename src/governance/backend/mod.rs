//! The Redis governance backend: several sluice instances share budgets, rate limits and
//! virtual keys through one Redis. Each instance runs one broker thread (off the shards: they
//! only send and receive typed messages) that takes part in the shards' share protocol as one
//! more peer: a shard short of share asks as usual and the broker leases a slice from Redis
//! with a Lua script; settled usage is pushed to Redis (and a durable per-instance ledger),
//! kept in the local ledger's outbox until Redis has it (replayed at start); share a shard no
//! longer needs flows back to Redis; keys and budget resets are published and polled.
//! docs/ARCHITECTURE.md ("Governance") and the README ("Several instances: the Redis backend")
//! state the bounds.

mod broker;
pub mod items;
pub mod keysync;
pub mod outbox;
pub mod resets;
mod stats;

use std::collections::HashMap;
use std::time::Duration;

use crate::config::{BackendErrorPolicy, BudgetMode, Config, RedisBackend};
use crate::governance::keys::KeyOrigin;
use crate::governance::ledger_store::LedgerSnapshot;

pub use broker::{Broker, HOLD_WRITES_ENV};
pub use stats::render_metrics;

/// Connecting to Redis (at start-up and on each reconnect) gives up after this long.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// One round trip to Redis gives up after this long (then Redis counts as down).
pub const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// What the broker needs from the config.
#[derive(Clone, Debug)]
pub struct BackendSetup {
    pub url: String,
    pub prefix: String,
    pub instance: String,
    pub policy: BackendErrorPolicy,
    pub mode: BudgetMode,
    /// Instances assumed live until more are seen (`local`: each enforces cap / the larger).
    pub expected_instances: u64,
}

impl BackendSetup {
    /// From `[governance]`; the instance id defaults to host name + listen port.
    pub fn new(redis: &RedisBackend, mode: BudgetMode, listen_port: u16) -> BackendSetup {
        let instance = redis
            .instance_id
            .clone()
            .unwrap_or_else(|| format!("{}:{listen_port}", host_name()));
        BackendSetup {
            url: redis.url.expose().to_owned(),
            prefix: redis.key_prefix.clone(),
            instance,
            policy: redis.on_error,
            mode,
            expected_instances: redis.expected_instances,
        }
    }

    /// The URL without credentials, for messages.
    pub fn redacted_url(&self) -> String {
        match url::Url::parse(&self.url) {
            Ok(url) => format!(
                "{}://{}:{}",
                url.scheme(),
                url.host_str().unwrap_or("?"),
                url.port().unwrap_or(6379)
            ),
            Err(_) => "the configured URL".to_owned(),
        }
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "sluice".to_owned())
}

/// Connects to Redis at start-up (an unreachable Redis is a start-up error, within
/// [`CONNECT_TIMEOUT`]), loads the shared keys and budget resets into `snapshot` (Redis wins
/// over the local ledger; local runtime keys Redis lacks are published), writes what the
/// local outbox still holds from a previous run, and returns the broker to spawn once the
/// shards' channels exist.
pub fn connect(
    config: &Config,
    redis: &RedisBackend,
    listen_port: u16,
    snapshot: &mut LedgerSnapshot,
) -> Result<Broker, String> {
    let setup = BackendSetup::new(redis, config.governance.budget_mode, listen_port);
    let mut broker = Broker::connect(setup, config)?;
    let (records, revocations, resets) = broker.shared_keys()?;
    for reset in resets {
        let known = snapshot
            .resets
            .iter_mut()
            .find(|r| r.entity == reset.entity && r.budget == reset.budget);
        match known {
            Some(known) => known.at_ms = known.at_ms.max(reset.at_ms),
            None => snapshot.resets.push(reset),
        }
    }
    let mut merged: HashMap<String, usize> = HashMap::new();
    for (index, key) in snapshot.keys.iter().enumerate() {
        merged.insert(key.id.clone(), index);
    }
    let local_only: Vec<_> = snapshot
        .keys
        .iter()
        .filter(|k| k.origin == KeyOrigin::Runtime && !records.iter().any(|r| r.id == k.id))
        .cloned()
        .collect();
    for record in records {
        if record.origin != KeyOrigin::Runtime {
            continue;
        }
        match merged.get(&record.id) {
            Some(&index) => {
                if let Some(slot) = snapshot.keys.get_mut(index) {
                    *slot = record;
                }
            }
            None => snapshot.keys.push(record),
        }
    }
    for revocation in revocations {
        if !snapshot
            .revocations
            .iter()
            .any(|r| r.hash == revocation.hash)
        {
            snapshot.revocations.push(revocation);
        }
    }
    broker.catalog_keys(snapshot.keys.iter());
    broker.resume_resets(&snapshot.resets);
    broker.drop_stale_leases()?;
    let replayed = broker.replay(&snapshot.outbox);
    broker.publish_local(&local_only, &snapshot.revocations)?;
    if replayed > 0 {
        eprintln!(
            "sluice: governance backend: {replayed} settled writes a previous run left in the local outbox were written to Redis"
        );
    }
    Ok(broker)
}
