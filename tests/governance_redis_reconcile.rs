//! End to end, the Redis governance backend's reconciliation: settlements an instance kept in
//! its local outbox but never pushed (killed with SIGKILL inside that window, held open by
//! the test-only `SLUICE_TEST_HOLD_REDIS_WRITES`, or during a Redis outage under `local`)
//! reach Redis when it restarts, exactly once;
//! `POST /admin/budgets/reset` on one instance resets every instance; and under `local` an
//! instance that never saw its peers still keeps to its share of `expected_instances`.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;
use support::governance::{
    self as gov, MICRO, REQUEST_COST_MICRO, admin_ok, call_key, metrics, priced_mock, vkey,
};
use support::redis_gov::{
    Instance, KEY_LEVEL, PICO_PER_MICRO, instance, ledger_key, one_key, spend_until_refused,
};
use support::redis_server::RedisServer;
use support::{Gateway, MockUpstream, wait_for};

/// The test-only variable that keeps settled writes out of Redis (in the local outbox only).
const HOLD: &str = "SLUICE_TEST_HOLD_REDIS_WRITES";
/// Another instance's spend, or a reset, reaches an instance within this (the README's 5 s).
const SHARED_VIEW_LIMIT: Duration = Duration::from_secs(5);
/// Redis going down is noticed within this (pull interval, slack).
const BACKEND_CHANGE_LIMIT: Duration = Duration::from_secs(15);

fn config(mock: &MockUpstream, redis: &RedisServer, policy: &str, id: &str, h: &str) -> Instance {
    instance(&mock.base_url(), &redis.url(), "strict", policy, id, h)
}

/// Two `fail_closed` instances, `gw0` and `gw1`, sharing `hierarchy`.
fn pair(mock: &MockUpstream, redis: &RedisServer, hierarchy: &str) -> (Instance, Instance) {
    (
        config(mock, redis, "fail_closed", "gw0", hierarchy),
        config(mock, redis, "fail_closed", "gw1", hierarchy),
    )
}

/// Sends requests with `secret` until `n` were served (pausing past busy answers).
fn serve(gateway: &Gateway, secret: &str, n: u64) {
    let mut served = 0;
    while served < n {
        match call_key(gateway, secret).status {
            200 => served += 1,
            429 => std::thread::sleep(Duration::from_millis(50)),
            other => panic!("unexpected {other}"),
        }
    }
}

fn settled_pico(redis: &RedisServer) -> u64 {
    redis.ledger_pico(&ledger_key(KEY_LEVEL, "k1"))
}

/// The ledger file and its write-ahead log, if present.
fn ledger_files(ledger: &Path) -> Vec<PathBuf> {
    ["", "-wal", "-shm"]
        .iter()
        .map(|suffix| PathBuf::from(format!("{}{suffix}", ledger.display())))
        .collect()
}

fn copy_ledger(from: &Path, to: &Path) {
    for (src, dst) in ledger_files(from).iter().zip(ledger_files(to)) {
        let _ = std::fs::remove_file(&dst);
        if src.exists() {
            std::fs::copy(src, &dst).unwrap();
        }
    }
}

/// Waits until the instance's outbox holds `want` pico-dollars of k1's ledger writes.
fn wait_outbox(instance: &Instance, want: u64) {
    let ledger_line = format!("l\t{}\t", ledger_key(KEY_LEVEL, "k1"));
    let in_outbox = || -> u64 {
        instance
            .outbox()
            .iter()
            .filter_map(|(_, line)| line.strip_prefix(&ledger_line)?.parse::<u64>().ok())
            .sum()
    };
    let kept = wait_for(Duration::from_secs(10), || {
        (in_outbox() == want).then_some(())
    });
    assert!(kept.is_some(), "outbox holds {} of {want}", in_outbox());
}

/// Kills Redis and waits until `gateway` has noticed.
fn kill_redis(redis: &mut RedisServer, gateway: &Gateway) {
    redis.kill();
    let down = wait_for(BACKEND_CHANGE_LIMIT, || {
        metrics(gateway)
            .lines()
            .any(|l| l == "sluice_governance_backend_up 0")
            .then_some(())
    });
    assert!(down.is_some(), "the instance noticed Redis is down");
}

fn kill(mut gateway: Gateway) {
    gateway.signal(libc::SIGKILL);
    assert!(gateway.wait_exit(Duration::from_secs(10)).is_some());
}

/// Instance A serves requests whose settlements stay in its local outbox (Redis never gets
/// them), then dies with SIGKILL. Restarted on the same state dir, it writes them to Redis
/// before it serves: instance B's admin view and the Redis ledger equal what the upstream
/// served. Restarted again with the same outbox entries put back, nothing is counted twice.
#[test]
fn settlements_only_in_the_local_outbox_reach_redis_once_after_a_kill() {
    let redis = RedisServer::start();
    let mock = priced_mock();
    let secret = vkey("redis-replay");
    let (a, b) = pair(&mock, &redis, &one_key(&secret, 5.0));
    let gateway_b = Gateway::start_config(&b.toml);
    let gateway_a = Gateway::start_config_env(&a.toml, &[(HOLD, "1")]);
    const SERVED: u64 = 4;
    let want = SERVED * REQUEST_COST_MICRO * PICO_PER_MICRO;
    serve(&gateway_a, &secret, SERVED);

    // Every settlement is in A's outbox (committed with the ledger's group commit), none in
    // Redis: the crash window is open.
    wait_outbox(&a, want);
    assert_eq!(settled_pico(&redis), 0, "nothing reached Redis yet");
    kill(gateway_a);
    let saved = support::TempDir::new("redis-outbox-copy");
    let saved_ledger = saved.join("ledger.sqlite3");
    copy_ledger(&a.ledger_file(), &saved_ledger);

    // Restarted: the outbox is written before the instance serves.
    let gateway_a = Gateway::start_config(&a.toml);
    let served = mock.requests().len() as u64;
    assert_eq!(served, SERVED);
    assert_eq!(settled_pico(&redis), want, "replayed into the Redis ledger");
    let shared = gov::wait_spent_micro(
        &gateway_b,
        "key",
        "k1",
        served * REQUEST_COST_MICRO,
        SHARED_VIEW_LIMIT,
    );
    assert!(
        shared,
        "B's admin view shows A's replayed spend: {}",
        gov::spent_micro(&gateway_b, "key", "k1")
    );
    assert_eq!(
        gov::spent_micro(&gateway_a, "key", "k1"),
        served * REQUEST_COST_MICRO
    );
    let emptied = wait_for(Duration::from_secs(10), || {
        a.outbox().is_empty().then_some(())
    });
    assert!(emptied.is_some(), "written entries leave the outbox");

    // The same entries again (as if the restart died before the outbox was emptied): Redis'
    // guards skip them.
    kill(gateway_a);
    copy_ledger(&saved_ledger, &a.ledger_file());
    assert!(!a.outbox().is_empty());
    let gateway_a = Gateway::start_config(&a.toml);
    assert_eq!(settled_pico(&redis), want, "no double count");
    // B keeps the same view (a pull or two later).
    std::thread::sleep(Duration::from_millis(1_200));
    assert_eq!(
        gov::spent_micro(&gateway_b, "key", "k1"),
        served * REQUEST_COST_MICRO
    );
    // And the cap still holds across both: the rest of the $5 is spendable, no more.
    let fit = 5 * MICRO / REQUEST_COST_MICRO;
    let (more_a, _) = spend_until_refused(&gateway_a, &secret, 60);
    let (more_b, refused) = spend_until_refused(&gateway_b, &secret, 60);
    assert!(refused);
    assert_eq!(SERVED + more_a + more_b, fit);
    assert_eq!(mock.requests().len() as u64, fit);
}

/// Under `local`, A serves while Redis is down (its settlements wait for Redis, in memory and
/// in the outbox) and is killed before Redis returns. Redis comes back, A restarts on its
/// state dir: the Redis ledger and B's admin view then hold what A served.
#[test]
fn spend_settled_during_an_outage_reaches_redis_after_a_kill_and_restart() {
    let mut redis = RedisServer::start();
    let mock = priced_mock();
    let secret = vkey("redis-outage-kill");
    let hierarchy = one_key(&secret, 5.0);
    let a = config(&mock, &redis, "local", "gw0", &hierarchy);
    let b = config(&mock, &redis, "local", "gw1", &hierarchy);
    let gateway_a = Gateway::start_config(&a.toml);
    kill_redis(&mut redis, &gateway_a);
    const SERVED: u64 = 3;
    serve(&gateway_a, &secret, SERVED);
    let want = SERVED * REQUEST_COST_MICRO * PICO_PER_MICRO;
    wait_outbox(&a, want);
    kill(gateway_a);

    redis.restart();
    assert_eq!(settled_pico(&redis), 0, "Redis never got A's settlements");
    let gateway_b = Gateway::start_config(&b.toml);
    let _gateway_a = Gateway::start_config(&a.toml);
    assert_eq!(mock.requests().len() as u64, SERVED);
    assert_eq!(settled_pico(&redis), want, "reconciled at A's restart");
    let shared = gov::wait_spent_micro(
        &gateway_b,
        "key",
        "k1",
        SERVED * REQUEST_COST_MICRO,
        SHARED_VIEW_LIMIT,
    );
    assert!(shared, "B's admin view shows what A served");
}

/// `POST /admin/budgets/reset` on A resets the budget everywhere: B's admin view shows zero
/// within 5 s, B (which had spent the whole cap) admits again, and spend after the reset is
/// counted on every instance.
#[test]
fn a_budget_reset_on_one_instance_resets_every_instance() {
    let redis = RedisServer::start();
    let mock = priced_mock();
    let secret = vkey("redis-reset");
    let (a, b) = pair(&mock, &redis, &one_key(&secret, 1.0));
    let (gateway_a, gateway_b) = (
        Gateway::start_config(&a.toml),
        Gateway::start_config(&b.toml),
    );
    let fit = MICRO / REQUEST_COST_MICRO;
    let (spent, refused) = spend_until_refused(&gateway_b, &secret, 40);
    assert!(refused && spent == fit, "B spent the cap: {spent} of {fit}");
    let seen_on_a = gov::wait_spent_micro(
        &gateway_a,
        "key",
        "k1",
        fit * REQUEST_COST_MICRO,
        SHARED_VIEW_LIMIT,
    );
    assert!(seen_on_a, "A sees B's spend before the reset");
    assert_eq!(call_key(&gateway_a, &secret).status, 402);

    admin_ok(
        &gateway_a,
        "POST",
        "/admin/budgets/reset",
        Some(&json!({"level": "key", "id": "k1"})),
        200,
    );
    let zero_on_b = gov::wait_spent_micro(&gateway_b, "key", "k1", 0, SHARED_VIEW_LIMIT);
    assert!(
        zero_on_b,
        "B shows no spend within 5 s of the reset on A: {}",
        gov::spent_micro(&gateway_b, "key", "k1")
    );
    let admitted_on_b = wait_for(SHARED_VIEW_LIMIT, || {
        match call_key(&gateway_b, &secret).status {
            200 => Some(()),
            402 | 429 => None,
            other => panic!("unexpected {other}"),
        }
    });
    assert!(admitted_on_b.is_some(), "B admits again after the reset");
    // The request B served after the reset counts on A too (from the reset on).
    let counted_on_a = wait_for(SHARED_VIEW_LIMIT, || {
        (gov::spent_micro(&gateway_a, "key", "k1") == REQUEST_COST_MICRO).then_some(())
    });
    assert!(
        counted_on_a.is_some(),
        "A counts B's spend after the reset: {}",
        gov::spent_micro(&gateway_a, "key", "k1")
    );
    // The whole cap is usable again across both, and no more.
    let (more_a, _) = spend_until_refused(&gateway_a, &secret, 40);
    let (more_b, refused) = spend_until_refused(&gateway_b, &secret, 40);
    assert!(refused);
    assert_eq!(1 + more_a + more_b, fit, "the cap starts over once");
    assert_eq!(mock.requests().len() as u64, 2 * fit);
}

/// Under `local`, an instance that lost Redis before it saw any peer still keeps to its share
/// of the cap: cap ÷ `expected_instances` (without it, it would count itself alone and admit
/// the whole cap).
#[test]
fn local_mode_before_seeing_peers_keeps_to_the_expected_share() {
    let mut redis = RedisServer::start();
    let mock = priced_mock();
    let secret = vkey("redis-expected");
    let a = config(&mock, &redis, "local", "gw0", &one_key(&secret, 2.0))
        .with_governance_line("expected_instances = 2");
    let gateway = Gateway::start_config(&a.toml);
    kill_redis(&mut redis, &gateway);
    let fit = 2 * MICRO / REQUEST_COST_MICRO;
    // Past its share the instance answers 402 (spent) or 429 (waiting for share that does
    // not come while Redis is down); more attempts than the whole cap has requests.
    let mut admitted = 0;
    for _ in 0..3 * fit {
        match call_key(&gateway, &secret).status {
            200 => admitted += 1,
            402 => break,
            429 => std::thread::sleep(Duration::from_millis(50)),
            other => panic!("unexpected {other} under local"),
        }
    }
    assert!(admitted >= 1, "it keeps serving while Redis is down");
    assert!(
        admitted <= fit / 2,
        "{admitted} admitted; its share is {} of {fit}",
        fit / 2
    );
    assert_eq!(mock.requests().len() as u64, admitted);
}
