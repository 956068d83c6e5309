//! End to end: several sluice instances (two shards each) share budgets, rate limits and keys
//! through a real `redis-server` started on a free loopback port (`[governance] backend =
//! "redis"`). Caps hold across instances under concurrent load; a key created on one instance
//! works on the others; an unreachable `redis_url` is a start-up error.

mod support;

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use support::governance::{
    self as gov, Auth, GovConfig, MICRO, REQUEST_COST_MICRO, TEST_MODEL, assert_error, body_for,
    call_key, key_toml, post, priced_mock, team_toml, vkey,
};
use support::redis_server::RedisServer;
use support::temp::TempDir;
use support::{Gateway, MockUpstream, wait_for};

/// Instances in the multi-instance tests (each with two shards).
const INSTANCES: usize = 3;
/// Requests sent at once across the instances.
const BURST: usize = 300;
/// Prefix of every key the tests' instances write.
const PREFIX: &str = "t";
/// Pico-dollars per micro-dollar.
const PICO_PER_MICRO: u64 = 1_000_000;

/// A level's tag in entity ids (key 1, team 2).
const KEY_LEVEL: u8 = 1;
const TEAM_LEVEL: u8 = 2;

/// The entity id's hex, as the backend names Redis keys (SHA-256 of tag, 0, name; first 8
/// bytes little-endian).
fn entity_hex(level: u8, name: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update([level, 0]);
    hasher.update(name.as_bytes());
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    format!("{:016x}", u64::from_le_bytes(first))
}

fn ledger_key(level: u8, name: &str) -> String {
    format!("{{{PREFIX}:{}}}:ledger", entity_hex(level, name))
}

/// One instance's config: strict or soft, `policy` for Redis errors, the shared hierarchy.
struct Instance {
    toml: String,
    _state: TempDir,
}

fn instance(
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
    let toml = config
        .toml()
        .replacen(&format!("budget_mode = \"{mode}\"\n"), &backend, 1);
    Instance {
        toml,
        _state: state,
    }
}

/// Starts `n` instances on one Redis; their state dirs live as long as the returned list.
fn start_instances(
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
fn burst(gateways: &[&Gateway], keys: &[String], total: usize) -> Vec<u16> {
    let barrier = Arc::new(Barrier::new(total));
    let body = body_for(TEST_MODEL, gov::MAX_TOKENS, false);
    let threads: Vec<_> = (0..total)
        .map(|i| {
            let addr = gateways[i % gateways.len()].addr;
            let key = keys[i % keys.len()].clone();
            let barrier = Arc::clone(&barrier);
            let body = body.clone();
            std::thread::spawn(move || {
                let mut client = support::RawClient::connect(addr);
                barrier.wait();
                post(&mut client, Auth::XApiKey(&key), &body).status
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

/// Calls `gateway` with `key` until it answers 402 (the cap is spent) or `attempts` run out,
/// pausing past budget-busy answers; returns how many were admitted (200).
fn spend_until_refused(gateway: &Gateway, key: &str, attempts: usize) -> (u64, bool) {
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

fn count(statuses: &[u16], status: u16) -> u64 {
    statuses.iter().filter(|s| **s == status).count() as u64
}

/// Statuses a capped burst may answer: served, spent (402) or busy/limited (429).
fn assert_only_capped_answers(statuses: &[u16]) {
    for status in statuses {
        assert!(
            matches!(status, 200 | 402 | 429),
            "unexpected status {status} in {statuses:?}"
        );
    }
}

/// $1 on one key, 300 concurrent requests over three instances: settled spend stays within
/// $1, no more requests are admitted than fit, and the cap can then be used up to the last
/// request that fits from any instance (leases flow back from the others).
#[test]
fn a_key_cap_holds_across_three_instances() {
    let redis = RedisServer::start();
    let mock = priced_mock();
    let secret = vkey("redis-cap");
    let hierarchy = format!(
        "{}{}",
        team_toml("t1", None, ""),
        key_toml("k1", &secret, "t1", &gov::budget_line(1.0, "1d"))
    );
    let instances = start_instances(INSTANCES, &mock, &redis, "strict", "fail_closed", &hierarchy);
    let gateways: Vec<&Gateway> = instances.iter().map(|(g, _)| g).collect();
    let fit = MICRO / REQUEST_COST_MICRO;

    let statuses = burst(&gateways, std::slice::from_ref(&secret), BURST);
    assert_only_capped_answers(&statuses);
    let admitted = count(&statuses, 200);
    assert!(admitted >= 1, "nothing admitted: {statuses:?}");
    assert!(admitted <= fit, "{admitted} admitted, {fit} fit");

    // Then from every instance in turn until each says the cap is spent.
    let mut total = admitted;
    for gateway in &gateways {
        let (more, refused) = spend_until_refused(gateway, &secret, 100);
        assert!(refused, "instance never refused with 402");
        total += more;
    }
    assert_eq!(total, fit, "the cap is used to the last request that fits");
    let served = mock.requests().len() as u64;
    assert_eq!(served, total, "the upstream served what was admitted");
    let settled = wait_for(Duration::from_secs(10), || {
        let pico = redis.ledger_pico(&ledger_key(KEY_LEVEL, "k1"));
        (pico == total * REQUEST_COST_MICRO * PICO_PER_MICRO).then_some(pico)
    })
    .unwrap_or_else(|| redis.ledger_pico(&ledger_key(KEY_LEVEL, "k1")));
    assert_eq!(settled, total * REQUEST_COST_MICRO * PICO_PER_MICRO);
    assert!(settled <= MICRO * PICO_PER_MICRO, "settled spend past $1");
}
