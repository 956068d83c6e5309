//! Helpers for the Redis governance backend tests: instances of sluice sharing one Redis
//! (config, start), entity ids as the backend names its keys, concurrent bursts over several
//! instances, and reading the durable ledger.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::governance::{self as gov, Auth, GovConfig, TEST_MODEL, body_for, call_key, post};
use super::redis_server::RedisServer;
use super::temp::TempDir;
use super::{Gateway, MockUpstream};

/// Prefix of every key the tests' instances write.
pub const PREFIX: &str = "t";
/// Pico-dollars per micro-dollar.
pub const PICO_PER_MICRO: u64 = 1_000_000;

/// A level's tag in entity ids (key 1, team 2).
pub const KEY_LEVEL: u8 = 1;
pub const TEAM_LEVEL: u8 = 2;

/// The entity id's hex, as the backend names Redis keys (SHA-256 of tag, 0, name; first 8
/// bytes little-endian).
pub fn entity_hex(level: u8, name: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update([level, 0]);
    hasher.update(name.as_bytes());
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    format!("{:016x}", u64::from_le_bytes(first))
}

pub fn ledger_key(level: u8, name: &str) -> String {
    format!("{{{PREFIX}:{}}}:ledger", entity_hex(level, name))
}

/// Team `t1` with key `k1` (`secret`) capped at `max_usd` a day.
pub fn one_key(secret: &str, max_usd: f64) -> String {
    format!(
        "{}{}",
        gov::team_toml("t1", None, ""),
        gov::key_toml("k1", secret, "t1", &gov::budget_line(max_usd, "1d"))
    )
}

/// One instance's config: strict or soft, `policy` for Redis errors, the shared hierarchy.
pub struct Instance {
    pub toml: String,
    _state: TempDir,
}

impl Instance {
    /// The instance's local SQLite ledger (its state dir outlives restarts of the instance).
    pub fn ledger_file(&self) -> std::path::PathBuf {
        self._state.path().join("ledger.sqlite3")
    }

    /// Adds `line` to `[governance]` (after `on_backend_error`).
    pub fn with_governance_line(mut self, line: &str) -> Instance {
        let at = self
            .toml
            .find("on_backend_error = ")
            .expect("a Redis instance config");
        let end = at + self.toml[at..].find('\n').expect("a whole line") + 1;
        self.toml.insert_str(end, &format!("{line}\n"));
        self
    }

    /// The outbox entries the instance's local ledger holds (sequence number, line).
    pub fn outbox(&self) -> Vec<(i64, String)> {
        let db = rusqlite::Connection::open_with_flags(
            self.ledger_file(),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("the ledger opens");
        let mut rows = db
            .prepare("SELECT seq, body FROM backend_outbox ORDER BY seq")
            .expect("the outbox table");
        rows.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("the outbox reads")
            .map(|r| r.expect("an outbox row"))
            .collect()
    }
}

pub fn instance(
    upstream: &str,
    redis_url: &str,
    mode: &'static str,
    policy: &str,
    id: &str,
    hierarchy: &str,
) -> Instance {
    let state = TempDir::new("redis-instance");
    let mut config = GovConfig::new(upstream, state.path());
    config.mode = mode;
    config.hierarchy = hierarchy.to_owned();
    let backend = format!(
        "budget_mode = \"{mode}\"\nbackend = \"redis\"\nredis_url = \"{redis_url}\"\n\
         redis_key_prefix = \"{PREFIX}\"\ninstance_id = \"{id}\"\non_backend_error = \"{policy}\"\n"
    );
    // The tests poll other instances with keys they do not know yet (until the key sync
    // brings them): those are failed authentications, which must not throttle the test client.
    let toml = super::governance::without_auth_throttle(&config.toml()).replacen(
        &format!("budget_mode = \"{mode}\"\n"),
        &backend,
        1,
    );
    Instance {
        toml,
        _state: state,
    }
}

/// Starts `n` instances on one Redis; their state dirs live as long as the returned list.
pub fn start_instances(
    n: usize,
    mock: &MockUpstream,
    redis: &RedisServer,
    mode: &'static str,
    policy: &str,
    hierarchy: &str,
) -> Vec<(Gateway, Instance)> {
    (0..n)
        .map(|i| {
            let config = instance(
                &mock.base_url(),
                &redis.url(),
                mode,
                policy,
                &format!("gw{i}"),
                hierarchy,
            );
            (Gateway::start_config(&config.toml), config)
        })
        .collect()
}

/// Sends `total` requests at once, spread round-robin over `gateways`, request `i` with
/// `keys[i % keys.len()]`; returns every status.
pub fn burst(gateways: &[&Gateway], keys: &[String], total: usize) -> Vec<u16> {
    let barrier = Arc::new(Barrier::new(total));
    let body = body_for(TEST_MODEL, gov::MAX_TOKENS, false);
    let threads: Vec<_> = (0..total)
        .map(|i| {
            let addr = gateways[i % gateways.len()].addr;
            let key = keys[i % keys.len()].clone();
            let barrier = Arc::clone(&barrier);
            let body = body.clone();
            std::thread::spawn(move || {
                let mut client = super::RawClient::connect(addr);
                barrier.wait();
                post(&mut client, Auth::XApiKey(&key), &body).status
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

/// Calls `gateway` with `key` until it answers 402 (the cap is spent) or `attempts` run out,
/// pausing past budget-busy answers; returns how many were admitted (200).
pub fn spend_until_refused(gateway: &Gateway, key: &str, attempts: usize) -> (u64, bool) {
    let mut admitted = 0;
    for _ in 0..attempts {
        let response = call_key(gateway, key);
        match response.status {
            200 => admitted += 1,
            402 => return (admitted, true),
            429 => std::thread::sleep(Duration::from_millis(200)),
            other => panic!("unexpected {other}: {}", response.text()),
        }
    }
    (admitted, false)
}

pub fn count(statuses: &[u16], status: u16) -> u64 {
    statuses.iter().filter(|s| **s == status).count() as u64
}

/// Statuses a capped burst may answer: served, spent (402) or busy/limited (429).
pub fn assert_only_capped_answers(statuses: &[u16]) {
    for status in statuses {
        assert!(
            matches!(status, 200 | 402 | 429),
            "unexpected status {status} in {statuses:?}"
        );
    }
}
