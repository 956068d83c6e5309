//! End to end, governance limits short of money: model allow-lists on keys and teams (403
//! `permission_error` naming the model), request and token rate limits on keys and teams (429
//! `rate_limit_error` with `retry-after` in whole seconds), and the `x-sluice-*` headers that
//! tell a key's holder what is left. Requests go on new connections, so they land on both
//! shards.

mod support;

use support::governance::{
    self as gov, Auth, GovConfig, MAX_TOKENS, REQUEST_TOKENS, TEST_MODEL, assert_error, body_for,
    call_key, platform_hierarchy, post, retry_after,
};
use support::temp::TempDir;
use support::{EVENTUALLY, Gateway, MockUpstream, Response};

fn start(mock: &MockUpstream, state: &TempDir, hierarchy: String) -> Gateway {
    let mut config = GovConfig::new(&mock.base_url(), state.path());
    config.hierarchy = hierarchy;
    config.start()
}

fn call_model(gateway: &Gateway, key: &str, model: &str) -> Response {
    post(
        &mut gateway.client(),
        Auth::XApiKey(key),
        &body_for(model, MAX_TOKENS, false),
    )
}

#[test]
fn model_outside_the_keys_allow_list_is_403_naming_the_model() {
    let mock = gov::priced_mock();
    let state = TempDir::new("gov-models-key");
    let alice = gov::vkey("alice");
    let models = format!("models = [\"{}\"]\n", gov::PRICING_GLOB);
    let gateway = start(
        &mock,
        &state,
        platform_hierarchy("", "", &[("alice", &alice, &models)]),
    );

    for model in ["claude-opus-4-1", "anthropic/claude-sonnet-4-5"] {
        let refused = call_model(&gateway, &alice, model);
        let message = assert_error(&refused, 403, "permission_error");
        let bare = model.trim_start_matches("anthropic/");
        assert!(
            message.contains(bare),
            "the 403 names the model {bare}: {message}"
        );
    }
    assert!(mock.requests().is_empty(), "a refused model went upstream");

    for model in [TEST_MODEL, "anthropic/claude-gov-test"] {
        let ok = call_model(&gateway, &alice, model);
        assert_eq!(ok.status, 200, "{model} is allowed: {}", ok.text());
    }
    assert_eq!(mock.wait_requests(2, EVENTUALLY).len(), 2);
}

#[test]
fn model_outside_the_teams_allow_list_is_403_for_its_keys() {
    let mock = gov::priced_mock();
    let state = TempDir::new("gov-models-team");
    let bob = gov::vkey("bob");
    let team_models = format!("models = [\"{}\"]\n", gov::PRICING_GLOB);
    let gateway = start(
        &mock,
        &state,
        platform_hierarchy("", &team_models, &[("bob", &bob, "")]),
    );
    let refused = call_model(&gateway, &bob, "claude-haiku-4-5");
    let message = assert_error(&refused, 403, "permission_error");
    assert!(message.contains("claude-haiku-4-5"), "{message}");
    assert_eq!(call_model(&gateway, &bob, TEST_MODEL).status, 200);
    assert_eq!(mock.wait_requests(1, EVENTUALLY).len(), 1);
}

#[test]
fn request_rate_limit_on_a_key_is_429_with_retry_after() {
    let mock = gov::priced_mock();
    let state = TempDir::new("gov-rate-requests");
    let alice = gov::vkey("alice");
    let limits = "rate_limits = [{ requests = 3, window = \"1h\" }]\n";
    let gateway = start(
        &mock,
        &state,
        platform_hierarchy("", "", &[("alice", &alice, limits)]),
    );
    for i in 0..3 {
        let ok = call_key(&gateway, &alice);
        assert_eq!(
            ok.status,
            200,
            "request {i} is within the limit: {}",
            ok.text()
        );
    }
    for i in 0..4 {
        let limited = call_key(&gateway, &alice);
        assert_error(&limited, 429, "rate_limit_error");
        // Whole seconds until the oldest request leaves the 1h window (sliding-window buckets
        // may round it up by a bucket's width, never to twice the window).
        let wait = retry_after(&limited);
        assert!(
            (1..7200).contains(&wait),
            "attempt {i}: retry-after {wait}s must be about the 1h window"
        );
    }
    assert_eq!(
        mock.requests().len(),
        3,
        "rate-limited requests must not reach the upstream"
    );
}

#[test]
fn token_rate_limit_on_a_key_is_429_once_spent() {
    let mock = gov::priced_mock();
    let state = TempDir::new("gov-rate-tokens");
    let alice = gov::vkey("alice");
    // Two requests fit under the limit when admitted (0 and 30 tokens counted), the third not.
    let limits = format!(
        "rate_limits = [{{ tokens = {}, window = \"1h\" }}]\n",
        REQUEST_TOKENS + REQUEST_TOKENS / 2
    );
    let gateway = start(
        &mock,
        &state,
        platform_hierarchy("", "", &[("alice", &alice, &limits)]),
    );
    assert_eq!(call_key(&gateway, &alice).status, 200);
    assert_eq!(call_key(&gateway, &alice).status, 200);
    let limited = call_key(&gateway, &alice);
    let message = assert_error(&limited, 429, "rate_limit_error");
    assert!(
        message.contains("token"),
        "names the token limit: {message}"
    );
    assert!(retry_after(&limited) >= 1);
    assert_eq!(mock.requests().len(), 2);
}

#[test]
fn team_rate_limit_is_shared_by_its_keys() {
    let mock = gov::priced_mock();
    let state = TempDir::new("gov-rate-team");
    let (alice, bob) = (gov::vkey("alice"), gov::vkey("bob"));
    let team = "rate_limits = [{ requests = 4, window = \"1h\" }]\n";
    let gateway = start(
        &mock,
        &state,
        platform_hierarchy("", team, &[("alice", &alice, ""), ("bob", &bob, "")]),
    );
    for key in [&alice, &bob, &alice, &bob] {
        assert_eq!(call_key(&gateway, key).status, 200);
    }
    for key in [&alice, &bob] {
        let limited = call_key(&gateway, key);
        let message = assert_error(&limited, 429, "rate_limit_error");
        assert!(message.contains("platform"), "names the team: {message}");
        assert!(retry_after(&limited) >= 1);
    }
    assert_eq!(mock.requests().len(), 4);
}

fn header_u64(response: &Response, name: &str) -> u64 {
    response
        .header(name)
        .unwrap_or_else(|| panic!("no {name} on a keyed response: {:?}", response.headers))
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{name} is not a count: {:?}", response.header(name)))
}

fn header_micro(response: &Response, name: &str) -> u64 {
    let value = response
        .header(name)
        .unwrap_or_else(|| panic!("no {name} on a keyed response: {:?}", response.headers));
    gov::usd_micro(&serde_json::Value::String(value.clone()))
        .unwrap_or_else(|| panic!("{name} is not dollars: {value:?}"))
}

fn assert_instant(response: &Response, name: &str) {
    let value = response
        .header(name)
        .unwrap_or_else(|| panic!("no {name} on a keyed response"));
    assert!(
        value.len() >= 20 && value.as_bytes()[10] == b'T' && value.ends_with('Z'),
        "{name} is an RFC 3339 UTC instant: {value:?}"
    );
}

#[test]
fn keyed_responses_carry_what_is_left() {
    let mock = gov::priced_mock();
    let state = TempDir::new("gov-headers");
    let alice = gov::vkey("alice");
    let key = format!(
        "{}rate_limits = [{{ requests = 10, tokens = 1000, window = \"1h\" }}]\n",
        gov::budget_line(1.0, "1d")
    );
    let gateway = start(
        &mock,
        &state,
        platform_hierarchy("", "", &[("alice", &alice, &key)]),
    );
    let mut client = gateway.client();
    let body = body_for(TEST_MODEL, MAX_TOKENS, false);
    let first = post(&mut client, Auth::XApiKey(&alice), &body);
    let second = post(&mut client, Auth::XApiKey(&alice), &body);
    for response in [&first, &second] {
        assert_eq!(response.status, 200, "{}", response.text());
        assert_eq!(
            header_u64(response, "x-sluice-ratelimit-requests-limit"),
            10
        );
        assert_eq!(
            header_u64(response, "x-sluice-ratelimit-tokens-limit"),
            1000
        );
        assert_eq!(
            header_micro(response, "x-sluice-budget-limit-usd"),
            gov::MICRO
        );
        assert_eq!(
            response.header("x-sluice-budget-level").as_deref(),
            Some("key")
        );
        for name in [
            "x-sluice-ratelimit-requests-reset",
            "x-sluice-ratelimit-tokens-reset",
            "x-sluice-budget-reset",
        ] {
            assert_instant(response, name);
        }
    }
    let requests_left = |r: &Response| header_u64(r, "x-sluice-ratelimit-requests-remaining");
    let tokens_left = |r: &Response| header_u64(r, "x-sluice-ratelimit-tokens-remaining");
    let budget_left = |r: &Response| header_micro(r, "x-sluice-budget-remaining-usd");
    assert!(requests_left(&first) <= 9, "the request itself counts");
    assert_eq!(requests_left(&first) - requests_left(&second), 1);
    assert!(tokens_left(&first) <= 1000);
    assert_eq!(
        tokens_left(&first) - tokens_left(&second),
        REQUEST_TOKENS,
        "the first request's tokens are gone from what is left"
    );
    assert!(budget_left(&first) <= gov::MICRO);
    assert_eq!(
        budget_left(&first) - budget_left(&second),
        gov::REQUEST_COST_MICRO,
        "the first request's price is gone from what is left"
    );
}

#[test]
fn budget_header_names_the_tightest_level() {
    let mock = gov::priced_mock();
    let state = TempDir::new("gov-headers-tightest");
    let alice = gov::vkey("alice");
    let gateway = start(
        &mock,
        &state,
        platform_hierarchy(
            &gov::budget_line(100.0, "1M"),
            &gov::budget_line(0.75, "1d"),
            &[("alice", &alice, &gov::budget_line(10.0, "1d"))],
        ),
    );
    let response = call_key(&gateway, &alice);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        response.header("x-sluice-budget-level").as_deref(),
        Some("team")
    );
    assert_eq!(
        header_micro(&response, "x-sluice-budget-limit-usd"),
        750_000
    );
}
