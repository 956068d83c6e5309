//! End to end with two shards (`cores = 2`, strict mode): limits hold exactly under
//! concurrency. Each round sends [`SIMULTANEOUS`] requests at once, each on its own connection
//! (so they spread over both shards), against a request limit, a token limit or a budget set
//! at the key, team or customer level so that exactly [`ADMITTED`] fit; exactly that many are
//! admitted and every other one is refused with 429 `rate_limit_error` (or 402
//! `billing_error` for a budget) carrying `retry-after` (402s carry the reset time instead).
//!
//! The upstream holds every answer until all the refusals are in, so no settlement can free
//! room mid-round. Each case runs [`ROUNDS`] rounds, each on a fresh chain of customer → team
//! → key, to catch races. (`server.cores` may not exceed the online cores, so on a two-core
//! machine two shards is the most these tests can start.)

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use support::governance::{
    self as gov, Auth, GovConfig, INPUT_MICRO_PER_TOKEN, MAX_TOKENS, OUTPUT_MICRO_PER_TOKEN,
    TEST_MODEL, assert_error, body_for, customer_toml, input_bound_tokens, key_toml, post,
    priced_reply, retry_after, team_toml,
};
use support::mock::Gate;
use support::temp::TempDir;
use support::{Gateway, MockUpstream};

/// Requests sent at once in each round.
const SIMULTANEOUS: usize = 16;
/// How many of them each limit lets through.
const ADMITTED: u64 = 5;
/// Rounds per case.
const ROUNDS: usize = 10;
/// Longest a round waits for its refusals before letting the held answers go.
const ROUND_LIMIT: Duration = Duration::from_secs(20);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Level {
    Key,
    Team,
    Customer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Limit {
    Requests,
    Tokens,
    Budget,
}

/// The standard request body every round sends.
fn body() -> String {
    body_for(TEST_MODEL, MAX_TOKENS, false)
}

/// What one request reserves against a token limit: its input bound plus `max_tokens`.
fn request_tokens() -> u64 {
    input_bound_tokens(&body()) + MAX_TOKENS
}

/// What one request reserves against a budget, in micro-dollars.
fn request_micro() -> u64 {
    input_bound_tokens(&body()) * INPUT_MICRO_PER_TOKEN + MAX_TOKENS * OUTPUT_MICRO_PER_TOKEN
}

/// The limit line that lets exactly [`ADMITTED`] requests in (half a request of slack, so
/// rounding never decides).
fn limit_line(limit: Limit) -> String {
    match limit {
        Limit::Requests => format!("rate_limits = [{{ requests = {ADMITTED}, window = \"1h\" }}]"),
        Limit::Tokens => {
            let tokens = ADMITTED * request_tokens() + request_tokens() / 2;
            format!("rate_limits = [{{ tokens = {tokens}, window = \"1h\" }}]")
        }
        Limit::Budget => {
            let micro = ADMITTED * request_micro() + request_micro() / 2;
            let usd = micro as f64 / gov::MICRO as f64;
            format!("budgets = [{{ max_usd = {usd:?}, reset = \"1d\" }}]")
        }
    }
}

/// One customer → team → key chain per round, the limit on `level`; returns the config's
/// hierarchy and each round's key secret.
fn hierarchy(limit: Limit, level: Level) -> (String, Vec<String>) {
    let line = limit_line(limit);
    let on = |at: Level| if at == level { line.as_str() } else { "" };
    let mut toml = String::new();
    let mut secrets = Vec::new();
    for round in 0..ROUNDS {
        let secret = gov::vkey(&format!("k{round}"));
        toml.push_str(&customer_toml(&format!("c{round}"), on(Level::Customer)));
        toml.push_str(&team_toml(
            &format!("t{round}"),
            Some(&format!("c{round}")),
            on(Level::Team),
        ));
        toml.push_str(&key_toml(
            &format!("k{round}"),
            &secret,
            &format!("t{round}"),
            on(Level::Key),
        ));
        secrets.push(secret);
    }
    (toml, secrets)
}

/// A mock that holds every answer until the gate of the current round opens.
fn held_mock(current: &Arc<Mutex<Gate>>) -> MockUpstream {
    let current = Arc::clone(current);
    MockUpstream::start(move |request| {
        let gate = current.lock().unwrap().clone();
        let reply = priced_reply(request);
        let mut held = support::mock::Reply::new().gate(&gate);
        held.steps.extend(reply.steps);
        held
    })
}

/// Runs every round of one case and checks each.
fn exactly_admitted(limit: Limit, level: Level) {
    let state = TempDir::new("gov-exact");
    let current = Arc::new(Mutex::new(Gate::new()));
    let mock = held_mock(&current);
    let (hierarchy, secrets) = hierarchy(limit, level);
    let mut config = GovConfig::new(&mock.base_url(), state.path());
    config.mode = "strict";
    config.hierarchy = hierarchy;
    let gateway = config.start();
    assert_eq!(gateway.shards, 2);
    let mut upstream_before = 0;
    for (round, secret) in secrets.iter().enumerate() {
        let gate = Gate::new();
        *current.lock().unwrap() = gate.clone();
        let admitted = run_round(&gateway, secret, &gate, limit);
        assert_eq!(
            admitted, ADMITTED,
            "{limit:?} on the {level:?}, round {round}: {admitted} of {SIMULTANEOUS} admitted"
        );
        let upstream = mock.requests().len();
        assert_eq!(
            (upstream - upstream_before) as u64,
            ADMITTED,
            "exactly the admitted requests went upstream"
        );
        upstream_before = upstream;
    }
}

/// One round: [`SIMULTANEOUS`] requests at once; the gate opens once every refusal is in.
fn run_round(gateway: &Gateway, secret: &str, gate: &Gate, limit: Limit) -> u64 {
    let start = Barrier::new(SIMULTANEOUS);
    let refused = AtomicUsize::new(0);
    let admitted = AtomicUsize::new(0);
    let body = body();
    std::thread::scope(|scope| {
        for _ in 0..SIMULTANEOUS {
            scope.spawn(|| {
                let mut client = gateway.client();
                start.wait();
                let response = post(&mut client, Auth::XApiKey(secret), &body);
                match response.status {
                    200 => {
                        admitted.fetch_add(1, Ordering::SeqCst);
                    }
                    429 => {
                        assert_error(&response, 429, "rate_limit_error");
                        assert!(retry_after(&response) >= 1);
                        refused.fetch_add(1, Ordering::SeqCst);
                    }
                    402 if limit == Limit::Budget => {
                        assert_error(&response, 402, "billing_error");
                        refused.fetch_add(1, Ordering::SeqCst);
                    }
                    other => panic!("unexpected {other}: {}", response.text()),
                }
            });
        }
        let deadline = Instant::now() + ROUND_LIMIT;
        let expected = SIMULTANEOUS - ADMITTED as usize;
        while refused.load(Ordering::SeqCst) < expected && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        gate.open();
    });
    assert_eq!(
        admitted.load(Ordering::SeqCst) + refused.load(Ordering::SeqCst),
        SIMULTANEOUS
    );
    admitted.load(Ordering::SeqCst) as u64
}

#[test]
fn a_budget_on_a_provider_admits_exactly_what_its_reservations_fit() {
    // A provider is one entity whose spend lasts the budget's window: a fresh gateway (and
    // ledger) per round.
    for round in 0..ROUNDS {
        let state = TempDir::new("gov-exact-provider");
        let current = Arc::new(Mutex::new(Gate::new()));
        let mock = held_mock(&current);
        let secret = gov::vkey("k");
        let mut config = GovConfig::new(&mock.base_url(), state.path());
        config.mode = "strict";
        config.provider_extra = limit_line(Limit::Budget);
        config.hierarchy = format!(
            "{}{}{}",
            customer_toml("c", ""),
            team_toml("t", Some("c"), ""),
            key_toml("k", &secret, "t", "")
        );
        let gateway = config.start();
        assert_eq!(gateway.shards, 2);
        let gate = current.lock().unwrap().clone();
        let admitted = run_round(&gateway, &secret, &gate, Limit::Budget);
        assert_eq!(
            admitted, ADMITTED,
            "budget on the provider, round {round}: {admitted} of {SIMULTANEOUS} admitted"
        );
        assert_eq!(mock.requests().len() as u64, ADMITTED);
    }
}

#[test]
fn a_request_limit_on_a_key_admits_exactly_its_count() {
    exactly_admitted(Limit::Requests, Level::Key);
}

#[test]
fn a_request_limit_on_a_team_admits_exactly_its_count() {
    exactly_admitted(Limit::Requests, Level::Team);
}

#[test]
fn a_request_limit_on_a_customer_admits_exactly_its_count() {
    exactly_admitted(Limit::Requests, Level::Customer);
}

#[test]
fn a_token_limit_on_a_key_admits_exactly_what_its_reservations_fit() {
    exactly_admitted(Limit::Tokens, Level::Key);
}

#[test]
fn a_token_limit_on_a_team_admits_exactly_what_its_reservations_fit() {
    exactly_admitted(Limit::Tokens, Level::Team);
}

#[test]
fn a_token_limit_on_a_customer_admits_exactly_what_its_reservations_fit() {
    exactly_admitted(Limit::Tokens, Level::Customer);
}

#[test]
fn a_budget_on_a_key_admits_exactly_what_its_reservations_fit() {
    exactly_admitted(Limit::Budget, Level::Key);
}

#[test]
fn a_budget_on_a_team_admits_exactly_what_its_reservations_fit() {
    exactly_admitted(Limit::Budget, Level::Team);
}

#[test]
fn a_budget_on_a_customer_admits_exactly_what_its_reservations_fit() {
    exactly_admitted(Limit::Budget, Level::Customer);
}
