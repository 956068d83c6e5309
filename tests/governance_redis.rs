//! End to end: several sluice instances (two shards each) share budgets, rate limits and keys
//! through a real `redis-server` started on a free loopback port (`[governance] backend =
//! "redis"`). Caps hold across instances under concurrent load; a key created on one instance
//! works on the others; an unreachable `redis_url` is a start-up error.

mod support;

use std::time::Duration;

use serde_json::json;
use support::governance::{
    self as gov, MICRO, REQUEST_COST_MICRO, admin_ok, assert_error, call_key, create_key, key_toml,
    priced_mock, retry_after, team_toml, vkey,
};
use support::redis_gov::{
    KEY_LEVEL, PICO_PER_MICRO, TEAM_LEVEL, assert_only_capped_answers, burst, count, ledger_key,
    spend_until_refused, start_instances,
};
use support::redis_server::RedisServer;
use support::{Gateway, wait_for};

/// Instances in the multi-instance tests (each with two shards).
const INSTANCES: usize = 3;
/// Requests sent at once across the instances.
const BURST: usize = 300;
/// Soft mode: another instance's settled spend is seen within this (pull interval 500 ms +
/// push, with slack for a loaded test machine).
const SOFT_STALENESS: Duration = Duration::from_millis(1_500);

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
    let instances = start_instances(
        INSTANCES,
        &mock,
        &redis,
        "strict",
        "fail_closed",
        &hierarchy,
    );
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
    // Every instance's admin API shows the shared spend, not only its own.
    for gateway in &gateways {
        let shared = gov::wait_spent_micro(
            gateway,
            "key",
            "k1",
            total * REQUEST_COST_MICRO,
            Duration::from_secs(5),
        );
        assert!(shared, "admin usage shows the shared spend");
    }
}

/// A $1 team cap over three keys, each used on its own instance.
#[test]
fn a_team_cap_holds_over_keys_on_different_instances() {
    let redis = RedisServer::start();
    let mock = priced_mock();
    let secrets: Vec<String> = (0..INSTANCES).map(|i| vkey(&format!("team{i}"))).collect();
    let mut hierarchy = team_toml("t1", None, &gov::budget_line(1.0, "1d"));
    for (i, secret) in secrets.iter().enumerate() {
        hierarchy.push_str(&key_toml(&format!("k{i}"), secret, "t1", ""));
    }
    let instances = start_instances(
        INSTANCES,
        &mock,
        &redis,
        "strict",
        "fail_closed",
        &hierarchy,
    );
    let gateways: Vec<&Gateway> = instances.iter().map(|(g, _)| g).collect();
    let fit = MICRO / REQUEST_COST_MICRO;

    // Request i goes to instance i % 3 with key i % 3: each key on its own instance.
    let statuses = burst(&gateways, &secrets, BURST);
    assert_only_capped_answers(&statuses);
    let admitted = count(&statuses, 200);
    assert!(
        (1..=fit).contains(&admitted),
        "{admitted} admitted, {fit} fit"
    );
    let mut total = admitted;
    for (gateway, secret) in gateways.iter().zip(&secrets) {
        let (more, refused) = spend_until_refused(gateway, secret, 100);
        assert!(refused, "instance never refused with 402");
        total += more;
    }
    assert_eq!(total, fit);
    let ledger = ledger_key(TEAM_LEVEL, "t1");
    let want = total * REQUEST_COST_MICRO * PICO_PER_MICRO;
    let settled = wait_for(Duration::from_secs(10), || {
        let pico = redis.ledger_pico(&ledger);
        (pico == want).then_some(pico)
    });
    assert_eq!(
        settled,
        Some(want),
        "team ledger: {}",
        redis.ledger_pico(&ledger)
    );
}

/// A request-rate limit of 10 per hour on one key, 60 requests at once over three instances:
/// at most 10 are admitted, then exactly 10 in all, and every instance answers 429 with the
/// shared view's retry-after (the hour's end, not a busy retry).
#[test]
fn a_request_rate_limit_holds_across_instances() {
    const LIMIT: u64 = 10;
    let redis = RedisServer::start();
    let mock = priced_mock();
    let secret = vkey("redis-rate");
    let limit = format!("rate_limits = [{{ requests = {LIMIT}, window = \"1h\" }}]");
    let hierarchy = format!(
        "{}{}",
        team_toml("t1", None, ""),
        key_toml("k1", &secret, "t1", &limit)
    );
    let instances = start_instances(
        INSTANCES,
        &mock,
        &redis,
        "strict",
        "fail_closed",
        &hierarchy,
    );
    let gateways: Vec<&Gateway> = instances.iter().map(|(g, _)| g).collect();

    let statuses = burst(&gateways, std::slice::from_ref(&secret), 60);
    for status in &statuses {
        assert!(matches!(status, 200 | 429), "unexpected {status}");
    }
    let mut admitted = count(&statuses, 200);
    assert!(
        (1..=LIMIT).contains(&admitted),
        "{admitted} admitted of {LIMIT}"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while admitted < LIMIT && std::time::Instant::now() < deadline {
        for gateway in &gateways {
            match call_key(gateway, &secret).status {
                200 => admitted += 1,
                429 => std::thread::sleep(Duration::from_millis(100)),
                other => panic!("unexpected {other}"),
            }
        }
    }
    assert_eq!(admitted, LIMIT, "the limit is usable to its last request");
    for gateway in &gateways {
        let limited = wait_for(Duration::from_secs(5), || {
            let response = call_key(gateway, &secret);
            assert_eq!(response.status, 429, "{}", response.text());
            (retry_after(&response) > 60).then_some(response)
        })
        .expect("the shared view reaches every instance");
        assert_error(&limited, 429, "rate_limit_error");
    }
    assert_eq!(mock.requests().len() as u64, LIMIT);
}

/// A key created on one instance works on the others within 5 s; revoked on another, it is
/// refused everywhere within 5 s; every instance's admin API lists it.
#[test]
fn keys_created_and_revoked_on_one_instance_reach_the_others() {
    let redis = RedisServer::start();
    let mock = priced_mock();
    let hierarchy = team_toml("t1", None, "");
    let instances = start_instances(2, &mock, &redis, "strict", "fail_closed", &hierarchy);
    let (a, b) = (&instances[0].0, &instances[1].0);
    let secret = create_key(
        a,
        "made-on-a",
        "t1",
        json!({ "budgets": [{ "max_usd": 5.0, "reset": "1d" }] }),
    );
    let served = wait_for(Duration::from_secs(5), || {
        (call_key(b, &secret).status == 200).then_some(())
    });
    assert!(served.is_some(), "a key created on A works on B within 5 s");
    let listed = admin_ok(b, "GET", "/admin/keys", None, 200);
    assert!(
        listed.to_string().contains("made-on-a"),
        "B's admin API lists A's key: {listed}"
    );
    admin_ok(b, "DELETE", "/admin/keys/made-on-a", None, 200);
    let refused = wait_for(Duration::from_secs(5), || {
        (call_key(a, &secret).status == 401).then_some(())
    });
    assert!(
        refused.is_some(),
        "a key revoked on B is refused on A within 5 s"
    );
}

/// Soft mode: spend settled on one instance reaches the other within the pull interval, so
/// once A has spent the cap, B refuses too.
#[test]
fn soft_mode_sees_other_instances_spend() {
    let redis = RedisServer::start();
    let mock = priced_mock();
    let secret = vkey("redis-soft");
    let hierarchy = format!(
        "{}{}",
        team_toml("t1", None, ""),
        key_toml("k1", &secret, "t1", &gov::budget_line(1.0, "1d"))
    );
    let instances = start_instances(2, &mock, &redis, "soft", "local", &hierarchy);
    let (a, b) = (&instances[0].0, &instances[1].0);
    let (spent, refused) = spend_until_refused(a, &secret, 20);
    assert!(refused, "A refuses once the cap is spent");
    // Soft mode admits while spend so far is under the cap: one request past it at most.
    assert_eq!(spent, MICRO / REQUEST_COST_MICRO + 1);
    // The staleness bound: one pull interval plus the push (README), with slack.
    std::thread::sleep(SOFT_STALENESS);
    let response = call_key(b, &secret);
    assert_error(&response, 402, "billing_error");
    assert_eq!(
        mock.requests().len() as u64,
        spent,
        "B served nothing past the cap"
    );
}

/// An unreachable `redis_url` stops the start with an error naming it, promptly.
#[test]
fn an_unreachable_redis_url_is_a_start_up_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mock = priced_mock();
    let config = support::redis_gov::instance(
        &mock.base_url(),
        &format!("redis://127.0.0.1:{port}"),
        "strict",
        "fail_closed",
        "gw0",
        &team_toml("t1", None, ""),
    );
    let dir = support::TempDir::new("redis-bad-url");
    let path = dir.join("sluice.toml");
    std::fs::write(&path, &config.toml).unwrap();
    let started = std::time::Instant::now();
    let out = std::process::Command::new(support::gateway::gateway_binary())
        .current_dir(dir.path())
        .args(["serve", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success(), "sluice must not start");
    assert!(started.elapsed() < Duration::from_secs(15), "no hang");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("governance.redis_url") && stderr.contains(&format!("127.0.0.1:{port}")),
        "the error names the backend: {stderr}"
    );
}
