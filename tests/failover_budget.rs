//! End to end: budgets across failover. The real binary (strict budgets, two shards) in front of
//! a primary and a backup Anthropic mock behind one route, each provider with its own budget
//! and price: a provider whose budget refuses is skipped (the next target serves), the refusal
//! is answered only when no target can serve, and the one charge is priced for the provider
//! and model that served (on the key and on that provider, nothing on the other).

mod support;

use support::gateway::config_toml;
use support::governance::{
    self as gov, ADMIN_TOKEN, Auth, MAX_TOKENS, REQUEST_COST_MICRO, TEST_MODEL, body_for, post,
    priced_reply,
};
use support::{EVENTUALLY, Gateway, MockUpstream, Reply, TempDir, wait_for};

/// The backup's price is this many times the primary's.
const BACKUP_PRICE_FACTOR: u64 = 3;
/// A provider budget no request's worst case fits in (strict mode).
const TOO_SMALL_USD: f64 = 0.000_01;
/// A provider budget every test request fits in.
const AMPLE_USD: f64 = 100.0;

struct Running {
    gateway: Gateway,
    key: String,
    _state: TempDir,
}

/// The gateway with `primary` and `backup` behind `claude-*`, each provider with a budget of
/// the given size; the backup's price is [`BACKUP_PRICE_FACTOR`] times the primary's.
fn start(primary: &MockUpstream, backup: &MockUpstream, budgets: (f64, f64)) -> Running {
    let state = TempDir::new("failover-budget");
    let key = gov::vkey("failover-budget");
    let mut toml = config_toml(&primary.base_url(), None, &[]);
    toml.push_str("keys = [{ id = \"primary-key\", secret = \"sk-primary\" }]\n");
    toml.push_str(&gov::budget_line(budgets.0, "1d"));
    toml.push_str(&format!(
        "\n[[providers]]\nname = \"backup\"\nkind = \"anthropic\"\nbase_url = \"{}\"\n\
         keys = [{{ id = \"backup-key\", secret = \"sk-backup\" }}]\n{}",
        backup.base_url(),
        gov::budget_line(budgets.1, "1d")
    ));
    toml.push_str("\n[[routes]]\nmatch = \"claude-*\"\ntargets = [\"anthropic\", \"backup\"]\n");
    toml.push_str("\n[routing]\nbackoff_ms = 0\n");
    toml.push_str(&format!(
        "\n[governance]\nrequire_virtual_key = true\nstate_dir = \"{}\"\nbudget_mode = \"strict\"\n\
         admin_token = \"{ADMIN_TOKEN}\"\n",
        state.path().display()
    ));
    for (provider, factor) in [("anthropic", 1), ("backup", BACKUP_PRICE_FACTOR)] {
        let (input, output) = (
            gov::INPUT_MICRO_PER_TOKEN * factor,
            gov::OUTPUT_MICRO_PER_TOKEN * factor,
        );
        toml.push_str(&format!(
            "\n[[pricing]]\nmodel = \"{provider}/claude-gov-*\"\ninput = {input}.0\n\
             output = {output}.0\ncache_write = {input}.0\ncache_read = {input}.0\n"
        ));
    }
    toml.push_str("\n[[teams]]\nid = \"platform\"\n");
    toml.push_str(&gov::key_toml(
        "alice",
        &key,
        "platform",
        &gov::budget_line(AMPLE_USD, "1d"),
    ));
    Running {
        gateway: Gateway::start_config(&toml),
        key,
        _state: state,
    }
}

fn call(run: &Running) -> support::Response {
    let body = body_for(TEST_MODEL, MAX_TOKENS, false);
    post(&mut run.gateway.client(), Auth::XApiKey(&run.key), &body)
}

fn spent(run: &Running, level: &str, id: &str) -> u64 {
    gov::spent_micro(&run.gateway, level, id)
}

fn overloaded(_: &support::mock::Recorded) -> Reply {
    let body = r#"{"type":"error","error":{"type":"overloaded_error","message":"busy"}}"#;
    Reply::full(
        529,
        &[("content-type", "application/json")],
        body.as_bytes(),
    )
}

/// The access-log line that lists attempts.
fn attempts_line(run: &Running) -> serde_json::Value {
    wait_for(EVENTUALLY, || {
        run.gateway
            .access_log()
            .into_iter()
            .find(|l| l["attempts"].is_array())
    })
    .expect("the access log lists the attempts")
}

#[test]
fn a_target_whose_provider_budget_refuses_is_skipped_and_the_next_serves() {
    let primary = MockUpstream::start(priced_reply);
    let backup = MockUpstream::start(priced_reply);
    let run = start(&primary, &backup, (TOO_SMALL_USD, AMPLE_USD));
    for _ in 0..2 {
        let response = call(&run);
        assert_eq!(response.status, 200, "{}", response.text());
    }
    assert!(
        primary.requests().is_empty(),
        "the refusing provider is never called"
    );
    assert_eq!(backup.requests().len(), 2);
    let cost = BACKUP_PRICE_FACTOR * REQUEST_COST_MICRO;
    assert_eq!(
        spent(&run, "key", "alice"),
        2 * cost,
        "charged once each, at the backup's price"
    );
    assert_eq!(spent(&run, "provider", "backup"), 2 * cost);
    assert_eq!(spent(&run, "provider", "anthropic"), 0);
    let line = attempts_line(&run);
    let attempts = line["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{line}");
    assert_eq!(attempts[0]["provider"], "anthropic");
    assert_eq!(attempts[0]["error"], "provider_budget");
    assert_eq!(attempts[1]["provider"], "backup");
    assert_eq!(attempts[1]["status"], 200);
    let metrics = run.gateway.admin_client().get("/metrics").text();
    let line =
        "sluice_failovers_total{from=\"anthropic\",to=\"backup\",reason=\"provider_budget\"} 2";
    assert!(metrics.contains(line), "missing {line} in\n{metrics}");
}

#[test]
fn the_refusal_is_answered_only_when_no_target_can_serve() {
    let primary = MockUpstream::start(priced_reply);
    let backup = MockUpstream::start(priced_reply);
    let run = start(&primary, &backup, (TOO_SMALL_USD, TOO_SMALL_USD));
    let response = call(&run);
    assert_eq!(response.status, 402, "{}", response.text());
    assert_eq!(response.json()["error"]["type"], "billing_error");
    assert!(primary.requests().is_empty() && backup.requests().is_empty());
    assert_eq!(spent(&run, "key", "alice"), 0, "nothing charged");
    // The gateway is still serving.
    assert_eq!(run.gateway.client().get("/health").status, 200);
}

#[test]
fn the_charge_is_priced_for_the_target_that_served() {
    let primary = MockUpstream::start(overloaded);
    let backup = MockUpstream::start(priced_reply);
    let run = start(&primary, &backup, (AMPLE_USD, AMPLE_USD));
    let response = call(&run);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(primary.requests().len(), 1);
    assert_eq!(backup.requests().len(), 1);
    let cost = BACKUP_PRICE_FACTOR * REQUEST_COST_MICRO;
    assert_eq!(
        spent(&run, "key", "alice"),
        cost,
        "once, at the backup's price"
    );
    assert_eq!(spent(&run, "provider", "backup"), cost);
    assert_eq!(
        spent(&run, "provider", "anthropic"),
        0,
        "the 529 cost nothing"
    );
    // A request the primary serves is charged at the primary's price.
    let run2 = start(&backup, &primary, (AMPLE_USD, AMPLE_USD));
    assert_eq!(call(&run2).status, 200);
    assert_eq!(spent(&run2, "key", "alice"), REQUEST_COST_MICRO);
}
