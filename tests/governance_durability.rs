//! End to end, durable spend: a restart with the same `state_dir` resumes spend, created keys
//! and revocations; after `kill -9` under load, spend settled more than a second before the
//! kill is still counted after the restart (the ledger group-commits every ~50 ms), and
//! nothing is counted that was never settled.

mod support;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use support::EVENTUALLY;
use support::governance::{
    self as gov, GovConfig, REQUEST_COST_MICRO, admin_ok, assert_error, budget_line, call_key,
    create_key, platform_hierarchy, signal, try_call,
};
use support::temp::TempDir;

#[test]
fn restart_resumes_spend_created_keys_and_revocations() {
    let mock = gov::priced_mock();
    let state = TempDir::new("gov-restart");
    let (alice, carol) = (gov::vkey("alice"), gov::vkey("carol"));
    let mut config = GovConfig::new(&mock.base_url(), state.path());
    config.hierarchy = platform_hierarchy(
        "",
        &budget_line(100.0, "1M"),
        &[
            ("alice", &alice, &budget_line(1.0, "1d")),
            ("carol", &carol, ""),
        ],
    );

    let mut gateway = config.start();
    // Four requests spend $0.804 of alice's $1.00: one more fits (soft mode), two do not.
    for _ in 0..4 {
        assert_eq!(call_key(&gateway, &alice).status, 200);
    }
    let bob = create_key(
        &gateway,
        "bob",
        "platform",
        json!({ "budgets": [{ "max_usd": 0.3, "reset": "1d" }] }),
    );
    assert_eq!(call_key(&gateway, &bob).status, 200);
    assert_eq!(call_key(&gateway, &bob).status, 200);
    assert_error(&call_key(&gateway, &bob), 402, "billing_error");
    admin_ok(&gateway, "DELETE", "/admin/keys/carol", None, 200);
    signal(&gateway, libc::SIGTERM);
    assert!(
        gateway.wait_exit(EVENTUALLY).is_some(),
        "sluice did not exit on SIGTERM"
    );

    let gateway = config.start();
    assert_eq!(
        gov::spent_micro(&gateway, "key", "alice"),
        4 * REQUEST_COST_MICRO,
        "alice's spend survived the restart"
    );
    assert_eq!(
        gov::spent_micro(&gateway, "team", "platform"),
        6 * REQUEST_COST_MICRO,
        "the team's spend survived the restart"
    );
    assert_eq!(call_key(&gateway, &alice).status, 200);
    assert_error(&call_key(&gateway, &alice), 402, "billing_error");
    assert_error(&call_key(&gateway, &bob), 402, "billing_error");
    assert_error(&call_key(&gateway, &carol), 401, "authentication_error");
    let keys = admin_ok(&gateway, "GET", "/admin/keys", None, 200);
    let listed = keys["keys"].as_array().expect("a key list");
    assert!(
        listed
            .iter()
            .any(|k| k["id"] == "bob" && k["origin"] == "created"),
        "the created key survived the restart: {keys}"
    );
    assert!(
        listed
            .iter()
            .any(|k| k["id"] == "carol" && k["revoked"] == true),
        "the revocation survived the restart: {keys}"
    );
}

/// How long the load runs before the kill.
const LOAD_BEFORE_KILL: Duration = Duration::from_millis(2500);
/// Spend settled at least this long before the kill must survive it.
const DURABLE_AFTER: Duration = Duration::from_secs(1);
const LOADERS: usize = 4;

#[test]
fn kill_9_under_load_keeps_spend_settled_a_second_before() {
    let mock = gov::priced_mock();
    let state = TempDir::new("gov-kill9");
    let alice = gov::vkey("alice");
    let mut config = GovConfig::new(&mock.base_url(), state.path());
    config.hierarchy =
        platform_hierarchy("", "", &[("alice", &alice, &budget_line(100_000.0, "1d"))]);
    let gateway = config.start();
    let addr = gateway.addr;

    let stop = AtomicBool::new(false);
    let completed: Mutex<Vec<Instant>> = Mutex::new(Vec::new());
    let killed_at = std::thread::scope(|scope| {
        for _ in 0..LOADERS {
            scope.spawn(|| {
                while !stop.load(Ordering::SeqCst) {
                    match try_call(addr, &alice) {
                        Some(200) => completed.lock().unwrap().push(Instant::now()),
                        Some(other) => panic!("unexpected {other} under load"),
                        None => {
                            if !stop.load(Ordering::SeqCst) {
                                std::thread::sleep(Duration::from_millis(5));
                            }
                        }
                    }
                }
            });
        }
        std::thread::sleep(LOAD_BEFORE_KILL);
        signal(&gateway, libc::SIGKILL);
        let killed_at = Instant::now();
        stop.store(true, Ordering::SeqCst);
        killed_at
    });
    let completed = completed.into_inner().unwrap();
    let durable = completed
        .iter()
        .filter(|t| killed_at.duration_since(**t) >= DURABLE_AFTER)
        .count() as u64;
    assert!(
        durable >= 5,
        "too little load before the kill to test anything: {durable} of {} requests",
        completed.len()
    );
    let forwarded = mock.requests().len() as u64;
    drop(gateway);

    let gateway = config.start();
    let spent = gov::spent_micro(&gateway, "key", "alice");
    eprintln!(
        "kill -9: {} completed, {durable} a second before the kill, {forwarded} forwarded, \
         {} recovered",
        completed.len(),
        spent / REQUEST_COST_MICRO
    );
    assert!(
        spent >= durable * REQUEST_COST_MICRO,
        "after kill -9, spend {spent} lost some of the {durable} requests \
         ({} micro-USD) that completed at least {DURABLE_AFTER:?} before the kill",
        durable * REQUEST_COST_MICRO
    );
    assert!(
        spent <= forwarded * REQUEST_COST_MICRO,
        "spend {spent} is more than the {forwarded} requests that reached the upstream cost"
    );
    assert_eq!(
        spent % REQUEST_COST_MICRO,
        0,
        "only whole settlements are recovered"
    );
    assert_eq!(
        call_key(&gateway, &alice).status,
        200,
        "the restarted gateway serves"
    );
}
