//! End to end, budgets: a spent budget on each level (key, team, customer, provider) answers
//! 402 `billing_error` naming the level and when it resets; a team's or customer's budget
//! binds every key under it; settlement charges the usage the upstream reported (streamed or
//! not) at the `[[pricing]]` price; soft mode overshoots by at most what was in flight.
//!
//! Soft mode (spend so far is checked) makes counts exact: with a $0.50 budget and $0.201
//! requests, three are admitted (spent 0, 0.201, 0.402) and the fourth is refused.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use support::governance::{
    self as gov, Auth, GovConfig, MAX_TOKENS, REQUEST_COST_MICRO, TEST_MODEL, assert_error,
    body_for, budget_line, call, call_key, customer_toml, key_toml, platform_hierarchy, post,
    team_toml,
};

use support::mock::Gate;
use support::temp::TempDir;
use support::{EVENTUALLY, Gateway, MockUpstream, Reply, Response};

/// Requests a $0.50 soft budget admits.
const ADMITTED_BY_HALF_DOLLAR: u64 = 3;

/// Asserts a 402 naming `level` and `entity` and saying when it resets.
fn assert_budget_spent(response: &Response, level: &str, entity: &str) {
    let message = assert_error(response, 402, "billing_error");
    assert!(
        message.contains(level),
        "the 402 names the level {level}: {message}"
    );
    assert!(
        message.contains(entity),
        "the 402 names {level} {entity}: {message}"
    );
    assert!(
        message.contains("reset") && message.contains("20"),
        "the 402 says when the budget resets: {message}"
    );
}

/// Calls with `key` (new connection each) until refused; returns how many were admitted.
fn admitted_until_refused(gateway: &Gateway, auth: Auth<'_>, limit: u64) -> (u64, Response) {
    for admitted in 0..limit {
        let response = call(gateway, auth);
        if response.status != 200 {
            return (admitted, response);
        }
    }
    panic!("{limit} requests were all admitted: the budget is not enforced");
}

#[test]
fn key_budget_spent_is_402_naming_the_key() {
    let mock = gov::priced_mock();
    let state = TempDir::new("gov-budget-key");
    let (alice, bob) = (gov::vkey("alice"), gov::vkey("bob"));
    let mut config = GovConfig::new(&mock.base_url(), state.path());
    config.hierarchy = platform_hierarchy(
        "",
        "",
        &[
            ("alice", &alice, &budget_line(0.5, "1d")),
            ("bob", &bob, ""),
        ],
    );
    let gateway = config.start();
    let (admitted, refused) = admitted_until_refused(&gateway, Auth::XApiKey(&alice), 10);
    assert_eq!(admitted, ADMITTED_BY_HALF_DOLLAR);
    assert_budget_spent(&refused, "key", "alice");
    assert_budget_spent(&call_key(&gateway, &alice), "key", "alice");
    assert_eq!(
        call_key(&gateway, &bob).status,
        200,
        "another key of the team is not bound by alice's budget"
    );
    assert_eq!(
        gov::spent_micro(&gateway, "key", "alice"),
        ADMITTED_BY_HALF_DOLLAR * REQUEST_COST_MICRO
    );
    assert_eq!(mock.requests().len() as u64, ADMITTED_BY_HALF_DOLLAR + 1);
}

#[test]
fn team_budget_binds_every_key_of_the_team() {
    let mock = gov::priced_mock();
    let state = TempDir::new("gov-budget-team");
    let (alice, bob) = (gov::vkey("alice"), gov::vkey("bob"));
    let mut config = GovConfig::new(&mock.base_url(), state.path());
    config.hierarchy = platform_hierarchy(
        "",
        &budget_line(0.5, "1w"),
        &[("alice", &alice, ""), ("bob", &bob, "")],
    );
    let gateway = config.start();
    for key in [&alice, &bob, &alice] {
        assert_eq!(call_key(&gateway, key).status, 200);
    }
    assert_budget_spent(&call_key(&gateway, &bob), "team", "platform");
    assert_budget_spent(&call_key(&gateway, &alice), "team", "platform");
    assert_eq!(
        gov::spent_micro(&gateway, "team", "platform"),
        ADMITTED_BY_HALF_DOLLAR * REQUEST_COST_MICRO
    );
    assert_eq!(mock.requests().len() as u64, ADMITTED_BY_HALF_DOLLAR);
}

#[test]
fn customer_budget_binds_every_team_of_the_customer() {
    let mock = gov::priced_mock();
    let state = TempDir::new("gov-budget-customer");
    let (alice, carol, other) = (gov::vkey("alice"), gov::vkey("carol"), gov::vkey("other"));
    let mut config = GovConfig::new(&mock.base_url(), state.path());
    config.hierarchy = [
        customer_toml("acme", &budget_line(0.5, "1M")),
        customer_toml("globex", ""),
        team_toml("platform", Some("acme"), ""),
        team_toml("research", Some("acme"), ""),
        team_toml("sales", Some("globex"), ""),
        key_toml("alice", &alice, "platform", ""),
        key_toml("carol", &carol, "research", ""),
        key_toml("other", &other, "sales", ""),
    ]
    .concat();
    let gateway = config.start();
    for key in [&alice, &carol, &alice] {
        assert_eq!(call_key(&gateway, key).status, 200);
    }
    assert_budget_spent(&call_key(&gateway, &carol), "customer", "acme");
    assert_budget_spent(&call_key(&gateway, &alice), "customer", "acme");
    assert_eq!(
        call_key(&gateway, &other).status,
        200,
        "another customer is not bound by acme's budget"
    );
    assert_eq!(
        gov::spent_micro(&gateway, "customer", "acme"),
        ADMITTED_BY_HALF_DOLLAR * REQUEST_COST_MICRO
    );
}

#[test]
fn provider_budget_binds_governed_and_passthrough_requests() {
    let mock = gov::priced_mock();
    let state = TempDir::new("gov-budget-provider");
    let alice = gov::vkey("alice");
    let mut config = GovConfig::new(&mock.base_url(), state.path());
    config.require_virtual_key = false;
    config.provider_extra = budget_line(0.5, "1h");
    config.hierarchy = platform_hierarchy("", "", &[("alice", &alice, "")]);
    let gateway = config.start();
    let own = Auth::XApiKey("sk-ant-api03-client-own");
    for auth in [own, Auth::XApiKey(&alice), own] {
        let response = call(&gateway, auth);
        assert_eq!(response.status, 200, "{}", response.text());
    }
    assert_budget_spent(&call(&gateway, own), "provider", "anthropic");
    assert_budget_spent(
        &call(&gateway, Auth::XApiKey(&alice)),
        "provider",
        "anthropic",
    );
    assert_eq!(
        gov::spent_micro(&gateway, "provider", "anthropic"),
        ADMITTED_BY_HALF_DOLLAR * REQUEST_COST_MICRO
    );
    assert_eq!(mock.requests().len() as u64, ADMITTED_BY_HALF_DOLLAR);
}

#[test]
fn settlement_charges_reported_usage_streamed_or_not() {
    let mock = gov::priced_mock();
    let state = TempDir::new("gov-settle");
    let alice = gov::vkey("alice");
    let mut config = GovConfig::new(&mock.base_url(), state.path());
    config.hierarchy = platform_hierarchy(
        &budget_line(50.0, "1M"),
        &budget_line(20.0, "1d"),
        &[("alice", &alice, &budget_line(10.0, "1d"))],
    );
    let gateway = config.start();
    let short_max = 5;
    let mut expected = 0;
    for (stream, max_tokens) in [(true, MAX_TOKENS), (false, short_max), (true, short_max)] {
        let response = post(
            &mut gateway.client(),
            Auth::XApiKey(&alice),
            &body_for(TEST_MODEL, max_tokens, stream),
        );
        assert_eq!(response.status, 200, "{}", response.text());
        assert!(response.complete);
        expected += gov::USAGE_INPUT_TOKENS * gov::INPUT_MICRO_PER_TOKEN
            + max_tokens * gov::OUTPUT_MICRO_PER_TOKEN;
    }
    for (level, id) in [("key", "alice"), ("team", "platform"), ("customer", "acme")] {
        assert_eq!(
            gov::spent_micro(&gateway, level, id),
            expected,
            "{level} {id} is charged the reported usage at the configured price"
        );
    }
}

/// Sends `count` requests at once (one thread and connection each); returns their statuses.
fn concurrent_calls(gateway: &Gateway, key: &str, count: usize) -> Vec<u16> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..count)
            .map(|_| scope.spawn(|| call_key(gateway, key).status))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn soft_mode_overshoot_is_bounded_by_what_was_in_flight() {
    // The first two requests are answered at once; later ones are held until the gate opens.
    let gate = Gate::new();
    let seen = Arc::new(AtomicUsize::new(0));
    let mock = {
        let (gate, seen) = (gate.clone(), seen.clone());
        MockUpstream::start(move |request| {
            let reply = gov::priced_reply(request);
            if seen.fetch_add(1, Ordering::SeqCst) < 2 {
                return reply;
            }
            let mut held = Reply::new().gate(&gate);
            held.steps.extend(reply.steps);
            held
        })
    };
    let state = TempDir::new("gov-soft-overshoot");
    let alice = gov::vkey("alice");
    let mut config = GovConfig::new(&mock.base_url(), state.path());
    config.hierarchy = platform_hierarchy("", "", &[("alice", &alice, &budget_line(1.0, "1d"))]);
    let gateway = config.start();
    let cap = gov::MICRO;

    // Two requests settle first (spent $0.402, under the cap).
    assert_eq!(call_key(&gateway, &alice).status, 200);
    assert_eq!(call_key(&gateway, &alice).status, 200);
    assert_eq!(
        gov::spent_micro(&gateway, "key", "alice"),
        2 * REQUEST_COST_MICRO
    );

    // Eight are admitted together and held upstream: soft mode lets them all in, so they
    // overshoot the cap by at most what they cost.
    let in_flight = 8;
    let statuses = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..in_flight)
            .map(|_| scope.spawn(|| call_key(&gateway, &alice).status))
            .collect();
        let arrived = mock.wait_requests(2 + in_flight, EVENTUALLY).len();
        gate.open();
        let statuses: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(
            arrived,
            2 + in_flight,
            "soft mode admits every request while spend so far is under the cap: {statuses:?}"
        );
        statuses
    });
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let spent = gov::spent_micro(&gateway, "key", "alice");
    assert_eq!(spent, (2 + in_flight as u64) * REQUEST_COST_MICRO);
    assert!(
        spent - cap <= in_flight as u64 * REQUEST_COST_MICRO,
        "overshoot {} is more than what was in flight",
        spent - cap
    );

    // Once over, nothing more is admitted, concurrent or not.
    let statuses = concurrent_calls(&gateway, &alice, in_flight);
    assert!(
        statuses.iter().all(|s| *s == 402),
        "every request after the cap was crossed is refused: {statuses:?}"
    );
    assert_eq!(mock.requests().len(), 2 + in_flight);
    assert_eq!(
        gov::spent_micro(&gateway, "key", "alice"),
        spent,
        "refused requests cost nothing"
    );
}
