//! End to end, the Redis governance backend under faults: an instance killed with SIGKILL
//! mid-load (its leases come back within the lease expiry, no settled spend is lost), and
//! Redis itself killed and restarted mid-load under `on_backend_error = "fail_closed"` (503
//! naming the budget backend, then recovery) and `"local"` (each instance keeps serving within
//! its share of the cap; afterwards the totals reconcile).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use support::governance::{
    self as gov, MICRO, REQUEST_COST_MICRO, assert_error, call_key, metrics, priced_mock, vkey,
};
use support::redis_gov::{KEY_LEVEL, PICO_PER_MICRO, ledger_key, one_key, start_instances};
use support::redis_server::RedisServer;
use support::{Gateway, wait_for};

/// A dead instance's leases are back within this (the README's bound).
const LEASE_RETURN_LIMIT: Duration = Duration::from_secs(60);
/// Redis going down or coming back is noticed within this (pull interval, reconnect backoff
/// up to 5 s, slack).
const BACKEND_CHANGE_LIMIT: Duration = Duration::from_secs(15);

/// Waits until the instance's metric says Redis is `up` (1) or down (0).
fn wait_backend(gateway: &Gateway, up: bool) -> bool {
    let line = format!("sluice_governance_backend_up {}", u8::from(up));
    wait_for(BACKEND_CHANGE_LIMIT, || {
        metrics(gateway).lines().any(|l| l == line).then_some(())
    })
    .is_some()
}

/// Waits until the instance has nothing left to write to Redis.
fn wait_flushed(gateway: &Gateway) -> bool {
    wait_for(BACKEND_CHANGE_LIMIT, || {
        metrics(gateway)
            .lines()
            .any(|l| l == "sluice_governance_backend_pending 0")
            .then_some(())
    })
    .is_some()
}

fn settled_requests(redis: &RedisServer) -> u64 {
    redis.ledger_pico(&ledger_key(KEY_LEVEL, "k1")) / (REQUEST_COST_MICRO * PICO_PER_MICRO)
}

/// Three instances spend one $5 key; instance 0 is killed with SIGKILL after its requests
/// settled. The other two then spend the rest of the cap (the dead instance's unused lease
/// comes back within the lease expiry), the cap holds, and the ledger has every request the
/// upstream served.
#[test]
fn a_killed_instance_returns_its_leases_and_loses_no_settled_spend() {
    let redis = RedisServer::start();
    let mock = priced_mock();
    let secret = vkey("redis-kill");
    let cap_usd = 5.0;
    let instances = start_instances(
        3,
        &mock,
        &redis,
        "strict",
        "fail_closed",
        &one_key(&secret, cap_usd),
    );
    let fit = 5 * MICRO / REQUEST_COST_MICRO;

    // Instance 0 spends a little and goes quiet (its settlements reach Redis), holding leases.
    let mut first = 0;
    while first < 3 {
        match call_key(&instances[0].0, &secret).status {
            200 => first += 1,
            429 => std::thread::sleep(Duration::from_millis(50)),
            other => panic!("unexpected {other}"),
        }
    }
    // The other two load the key while instance 0 dies.
    let stop = Arc::new(AtomicBool::new(false));
    let admitted = Arc::new(AtomicU64::new(0));
    let loaders: Vec<_> = [1, 2]
        .iter()
        .map(|&i| {
            let addr = instances[i].0.addr;
            let (stop, admitted, secret) =
                (Arc::clone(&stop), Arc::clone(&admitted), secret.clone());
            std::thread::spawn(move || {
                let deadline = Instant::now() + LEASE_RETURN_LIMIT;
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    let response = support::governance::post(
                        &mut support::RawClient::connect(addr),
                        support::governance::Auth::XApiKey(&secret),
                        &support::governance::body_for(gov::TEST_MODEL, gov::MAX_TOKENS, false),
                    );
                    match response.status {
                        200 => {
                            admitted.fetch_add(1, Ordering::Relaxed);
                        }
                        402 => return true,
                        429 => std::thread::sleep(Duration::from_millis(100)),
                        other => panic!("unexpected {other}: {}", response.text()),
                    }
                }
                false
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    instances[0].0.signal(libc::SIGKILL);
    let killed_at = Instant::now();
    let refused: Vec<bool> = loaders.into_iter().map(|t| t.join().unwrap()).collect();
    stop.store(true, Ordering::Relaxed);
    assert!(
        refused.iter().all(|r| *r),
        "both survivors reach the cap's end within {LEASE_RETURN_LIMIT:?} of the kill"
    );
    assert!(killed_at.elapsed() < LEASE_RETURN_LIMIT);
    let total = first + admitted.load(Ordering::Relaxed);
    assert_eq!(total, fit, "the whole cap was usable, and no more");
    for (gateway, _) in &instances[1..] {
        assert!(wait_flushed(gateway));
    }
    let served = mock.requests().len() as u64;
    assert_eq!(served, total);
    assert_eq!(settled_requests(&redis), served, "no settled spend lost");
}

/// Sends one request every few milliseconds to each instance until stopped; returns the
/// statuses with the error messages of the 503s.
fn load(
    gateways: &[&Gateway],
    secret: &str,
    stop: &Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<Vec<(u16, String)>>> {
    gateways
        .iter()
        .map(|g| {
            let (addr, stop, secret) = (g.addr, Arc::clone(stop), secret.to_owned());
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let response = support::governance::post(
                        &mut support::RawClient::connect(addr),
                        support::governance::Auth::XApiKey(&secret),
                        &support::governance::body_for(gov::TEST_MODEL, gov::MAX_TOKENS, false),
                    );
                    let message = if response.status == 503 {
                        assert_error(&response, 503, "api_error")
                    } else {
                        String::new()
                    };
                    seen.push((response.status, message));
                    std::thread::sleep(Duration::from_millis(20));
                }
                seen
            })
        })
        .collect()
}

/// `fail_closed`: while Redis is down governed requests get 503 naming the budget backend;
/// when it is back they are served again, and the ledger holds every served request.
#[test]
fn redis_restart_under_fail_closed_refuses_then_recovers() {
    let mut redis = RedisServer::start();
    let mock = priced_mock();
    let secret = vkey("redis-closed");
    let instances = start_instances(
        2,
        &mock,
        &redis,
        "strict",
        "fail_closed",
        &one_key(&secret, 100.0),
    );
    let gateways: Vec<&Gateway> = instances.iter().map(|(g, _)| g).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let loaders = load(&gateways, &secret, &stop);
    assert!(
        wait_for(Duration::from_secs(10), || (mock.requests().len() >= 5)
            .then_some(()))
        .is_some()
    );
    redis.kill();
    for gateway in &gateways {
        assert!(wait_backend(gateway, false), "the metric shows Redis down");
    }
    // Refused while down.
    let refusal = call_key(gateways[0], &secret);
    let message = assert_error(&refusal, 503, "api_error");
    assert!(message.contains("budget backend"), "{message}");
    redis.restart();
    for gateway in &gateways {
        assert!(wait_backend(gateway, true), "the metric shows Redis back");
    }
    let served_again = wait_for(Duration::from_secs(10), || {
        (call_key(gateways[1], &secret).status == 200).then_some(())
    });
    assert!(served_again.is_some(), "served again once Redis is back");
    stop.store(true, Ordering::Relaxed);
    let seen: Vec<(u16, String)> = loaders
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    for (status, message) in &seen {
        assert!(matches!(status, 200 | 429 | 503), "unexpected {status}");
        if *status == 503 {
            assert!(message.contains("budget backend"), "{message}");
        }
    }
    assert!(
        seen.iter().any(|(s, _)| *s == 503),
        "the load saw the refusals"
    );
    for gateway in &gateways {
        assert!(wait_flushed(gateway));
    }
    assert_eq!(
        settled_requests(&redis),
        mock.requests().len() as u64,
        "totals reconcile"
    );
}

/// `local`: while Redis is down each instance serves alone within its share of the cap (cap /
/// live instances), so together they stay within it; afterwards the ledger reconciles.
#[test]
fn redis_restart_under_local_keeps_serving_within_each_share() {
    let mut redis = RedisServer::start();
    let mock = priced_mock();
    let secret = vkey("redis-local");
    let instances = start_instances(2, &mock, &redis, "strict", "local", &one_key(&secret, 2.0));
    let gateways: Vec<&Gateway> = instances.iter().map(|(g, _)| g).collect();
    let fit = 2 * MICRO / REQUEST_COST_MICRO;
    // Both instances have announced themselves before Redis goes away.
    std::thread::sleep(Duration::from_millis(1_200));
    redis.kill();
    for gateway in &gateways {
        assert!(wait_backend(gateway, false));
    }
    let mut during = 0;
    for gateway in &gateways {
        let mut own = 0;
        for _ in 0..40 {
            match call_key(gateway, &secret).status {
                200 => own += 1,
                402 => break,
                429 => std::thread::sleep(Duration::from_millis(50)),
                other => panic!("unexpected {other} under local"),
            }
        }
        assert!(own >= 1, "each instance keeps serving while Redis is down");
        assert!(own <= fit / 2, "within its share: {own} of {fit}");
        during += own;
    }
    assert!(during <= fit);
    redis.restart();
    for gateway in &gateways {
        assert!(wait_backend(gateway, true));
        assert!(wait_flushed(gateway));
    }
    assert_eq!(mock.requests().len() as u64, during);
    assert_eq!(
        settled_requests(&redis),
        during,
        "totals reconcile after the outage"
    );
}
