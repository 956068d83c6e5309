//! End to end, the governance admin API on the admin listener: every `/admin/*` route needs the
//! admin token (401 without or with a wrong one, 403 when none is configured); keys created
//! through it work at once on every shard and their secret is shown once; updates apply at
//! once; revoking a key (created or from the config) refuses it from the next request on every
//! shard; usage per entity and budget resets.

mod support;

use serde_json::{Value, json};

use support::governance::{
    self as gov, ADMIN_TOKEN, Auth, GovConfig, REQUEST_COST_MICRO, admin, admin_ok, assert_error,
    assert_never_upstream, budget_line, call, call_key, create_key, platform_hierarchy,
};
use support::temp::TempDir;
use support::{EVENTUALLY, Gateway, MockUpstream, wait_for};

/// New connections per "every shard" check (two shards; connections spread over both).
const FRESH_CONNECTIONS: usize = 24;

fn start_platform(mock: &MockUpstream, state: &TempDir, keys: &[(&str, &str, &str)]) -> Gateway {
    let mut config = GovConfig::new(&mock.base_url(), state.path());
    config.hierarchy = platform_hierarchy("", "", keys);
    config.start()
}

const ADMIN_ROUTES: [(&str, &str); 7] = [
    ("GET", "/admin/keys"),
    ("POST", "/admin/keys"),
    ("PATCH", "/admin/keys/alice"),
    ("DELETE", "/admin/keys/alice"),
    ("GET", "/admin/usage/key"),
    ("POST", "/admin/budgets/reset"),
    ("POST", "/admin/reload"),
];

#[test]
fn admin_routes_need_the_admin_token() {
    let mock = gov::priced_mock();
    let state = TempDir::new("gov-admin-token");
    let alice = gov::vkey("alice");
    let gateway = start_platform(&mock, &state, &[("alice", &alice, "")]);
    let create = json!({ "id": "mallory", "team": "platform" });
    for (method, path) in ADMIN_ROUTES {
        for token in [None, Some("wrong-token"), Some(alice.as_str())] {
            let response = admin(&gateway, method, path, token, Some(&create));
            assert_eq!(
                response.status,
                401,
                "{method} {path} with token {token:?}: {}",
                response.text()
            );
            assert_error(&response, 401, "authentication_error");
        }
    }
    // Nothing the refused calls asked for happened.
    let keys = admin_ok(&gateway, "GET", "/admin/keys", None, 200);
    let listed = keys["keys"].as_array().expect("keys is a list");
    assert!(
        listed.iter().all(|k| k["id"] != "mallory"),
        "a key was created without the token: {keys}"
    );
    assert!(
        listed
            .iter()
            .any(|k| k["id"] == "alice" && k["revoked"] == false),
        "alice is listed and was not revoked without the token: {keys}"
    );
    assert_eq!(call_key(&gateway, &alice).status, 200);
}

#[test]
fn admin_routes_are_forbidden_when_no_admin_token_is_configured() {
    let mock = gov::priced_mock();
    let state = TempDir::new("gov-admin-none");
    let alice = gov::vkey("alice");
    let mut config = GovConfig::new(&mock.base_url(), state.path());
    config.admin_token = None;
    config.hierarchy = platform_hierarchy("", "", &[("alice", &alice, "")]);
    let gateway = config.start();
    for (method, path) in ADMIN_ROUTES {
        let response = admin(&gateway, method, path, Some(ADMIN_TOKEN), Some(&json!({})));
        assert_error(&response, 403, "permission_error");
        let bare = admin(&gateway, method, path, None, Some(&json!({})));
        assert!(
            matches!(bare.status, 401 | 403),
            "{method} {path} without a token: {}",
            bare.status
        );
    }
    assert_eq!(
        gateway.admin_client().get("/health").status,
        200,
        "health stays open"
    );
}

#[test]
fn created_key_works_at_once_on_every_shard_and_its_secret_is_shown_once() {
    let mock = gov::priced_mock();
    let state = TempDir::new("gov-admin-create");
    let alice = gov::vkey("alice");
    let gateway = start_platform(&mock, &state, &[("alice", &alice, "")]);
    let bob = create_key(
        &gateway,
        "bob",
        "platform",
        json!({
            "budgets": [{ "max_usd": 5.0, "reset": "1d" }],
            "rate_limits": [{ "requests": 1000, "window": "1m" }],
            "models": ["anthropic/*"],
        }),
    );
    for i in 0..FRESH_CONNECTIONS {
        let response = call_key(&gateway, &bob);
        assert_eq!(
            response.status,
            200,
            "connection {i}: a created key must work at once on every shard: {}",
            response.text()
        );
    }
    let listing = admin(&gateway, "GET", "/admin/keys", Some(ADMIN_TOKEN), None);
    assert_eq!(listing.status, 200);
    assert!(
        !listing.text().contains(&bob) && !listing.text().contains(&alice),
        "a listing never shows a secret: {}",
        listing.text()
    );
    let keys = listing.json();
    let find = |id: &str| -> Value {
        keys["keys"]
            .as_array()
            .and_then(|list| list.iter().find(|k| k["id"] == id).cloned())
            .unwrap_or_else(|| panic!("{id} not listed: {keys}"))
    };
    let listed_bob = find("bob");
    assert_eq!(listed_bob["team"], "platform");
    assert_eq!(
        listed_bob["customer"], "acme",
        "defaults to the team's customer"
    );
    assert_eq!(listed_bob["origin"], "created");
    assert_eq!(listed_bob["revoked"], false);
    assert_eq!(find("alice")["origin"], "config");

    let duplicate = admin(
        &gateway,
        "POST",
        "/admin/keys",
        Some(ADMIN_TOKEN),
        Some(&json!({ "id": "bob", "team": "platform" })),
    );
    assert!(
        (400..500).contains(&duplicate.status),
        "a duplicate id is refused: {}",
        duplicate.status
    );
    let no_team = admin(
        &gateway,
        "POST",
        "/admin/keys",
        Some(ADMIN_TOKEN),
        Some(&json!({ "id": "eve", "team": "nowhere" })),
    );
    assert!(
        (400..500).contains(&no_team.status),
        "an unknown team is refused"
    );
    assert_eq!(
        gov::spent_micro(&gateway, "key", "bob"),
        FRESH_CONNECTIONS as u64 * REQUEST_COST_MICRO
    );
    assert_never_upstream(&mock, &bob);
}

#[test]
fn revoking_refuses_the_key_from_the_next_request_on_every_shard() {
    let mock = gov::priced_mock();
    let state = TempDir::new("gov-admin-revoke");
    let alice = gov::vkey("alice");
    // 48 refused keys from one address: however the connections fall on the shards, none
    // may reach a shard's failed-authentication throttle.
    let mut config = GovConfig::new(&mock.base_url(), state.path());
    config.hierarchy = platform_hierarchy("", "", &[("alice", &alice, "")]);
    let gateway = Gateway::start_config(&gov::without_auth_throttle(&config.toml()));
    let bob = create_key(&gateway, "bob", "platform", json!({}));
    for key in [&alice, &bob] {
        for _ in 0..6 {
            assert_eq!(call_key(&gateway, key).status, 200);
        }
    }
    for (id, secret) in [("bob", &bob), ("alice", &alice)] {
        let revoked = admin_ok(&gateway, "DELETE", &format!("/admin/keys/{id}"), None, 200);
        assert_eq!(revoked["key"]["id"], id, "{revoked}");
        assert_eq!(revoked["key"]["revoked"], true, "{revoked}");
        for i in 0..FRESH_CONNECTIONS {
            let response = call(&gateway, Auth::XApiKey(secret));
            assert_eq!(
                response.status,
                401,
                "{id}, connection {i}: a revoked key must be refused on every shard at once: {}",
                response.text()
            );
            assert_error(&response, 401, "authentication_error");
        }
        let bearer = call(&gateway, Auth::Bearer(secret));
        assert_error(&bearer, 401, "authentication_error");
    }
    let keys = admin_ok(&gateway, "GET", "/admin/keys", None, 200);
    for id in ["alice", "bob"] {
        let key = keys["keys"]
            .as_array()
            .and_then(|l| l.iter().find(|k| k["id"] == id))
            .unwrap_or_else(|| panic!("revoked {id} still listed: {keys}"));
        assert_eq!(key["revoked"], true, "{keys}");
    }
    assert_eq!(mock.requests().len(), 12, "nothing revoked went upstream");
    let missing = admin(
        &gateway,
        "DELETE",
        "/admin/keys/nobody",
        Some(ADMIN_TOKEN),
        None,
    );
    assert_eq!(missing.status, 404, "{}", missing.text());
}

#[test]
fn patching_a_created_key_applies_at_once() {
    let mock = gov::priced_mock();
    let state = TempDir::new("gov-admin-patch");
    let gateway = start_platform(&mock, &state, &[]);
    let budget = json!({ "budgets": [{ "max_usd": 1.0, "reset": "1d" }] });
    let bob = create_key(&gateway, "bob", "platform", budget);
    assert_eq!(call_key(&gateway, &bob).status, 200);
    assert_eq!(call_key(&gateway, &bob).status, 200);

    let models = json!({ "models": ["anthropic/claude-opus-*"] });
    let patched = admin_ok(&gateway, "PATCH", "/admin/keys/bob", Some(&models), 200);
    assert_eq!(patched["key"]["id"], "bob", "{patched}");
    for _ in 0..6 {
        let refused = call_key(&gateway, &bob);
        let message = assert_error(&refused, 403, "permission_error");
        assert!(message.contains(gov::TEST_MODEL), "{message}");
    }

    // Lowering the budget under what was already spent ($0.402) refuses the next request.
    let budget =
        json!({ "models": ["anthropic/*"], "budgets": [{ "max_usd": 0.3, "reset": "1d" }] });
    admin_ok(&gateway, "PATCH", "/admin/keys/bob", Some(&budget), 200);
    for _ in 0..6 {
        let refused = call_key(&gateway, &bob);
        let message = assert_error(&refused, 402, "billing_error");
        assert!(message.contains("bob"), "{message}");
    }

    let expired = json!({ "budgets": [], "expires_at": "2021-06-01T00:00:00Z" });
    admin_ok(&gateway, "PATCH", "/admin/keys/bob", Some(&expired), 200);
    for _ in 0..6 {
        assert_error(&call_key(&gateway, &bob), 401, "authentication_error");
    }
    assert_eq!(mock.requests().len(), 2);
}

#[test]
fn a_key_created_already_expired_is_refused() {
    let mock = gov::priced_mock();
    let state = TempDir::new("gov-admin-expired");
    let gateway = start_platform(&mock, &state, &[]);
    let old = create_key(
        &gateway,
        "old",
        "platform",
        json!({ "expires_at": "2020-01-01T00:00:00Z" }),
    );
    let message = assert_error(&call_key(&gateway, &old), 401, "authentication_error");
    assert!(message.contains("expired"), "{message}");
    let fresh = create_key(
        &gateway,
        "fresh",
        "platform",
        json!({ "expires_at": "2099-01-01T00:00:00Z" }),
    );
    assert_eq!(call_key(&gateway, &fresh).status, 200);
}

#[test]
fn usage_per_entity_and_budget_reset() {
    let mock = gov::priced_mock();
    let state = TempDir::new("gov-admin-usage");
    let alice = gov::vkey("alice");
    let mut config = GovConfig::new(&mock.base_url(), state.path());
    config.hierarchy = platform_hierarchy(
        &budget_line(100.0, "1M"),
        &budget_line(10.0, "1w"),
        &[(
            "alice",
            &alice,
            &format!(
                "{}rate_limits = [{{ requests = 100, window = \"1h\" }}]\n",
                budget_line(0.5, "1d")
            ),
        )],
    );
    let gateway = config.start();
    for _ in 0..3 {
        assert_eq!(call_key(&gateway, &alice).status, 200);
    }
    assert_error(&call_key(&gateway, &alice), 402, "billing_error");
    let spent = 3 * REQUEST_COST_MICRO;

    let detail = gov::usage(&gateway, "key", "alice");
    assert_eq!(detail["level"], "key", "{detail}");
    assert_eq!(detail["id"], "alice", "{detail}");
    let budget = &detail["budgets"][0];
    assert_eq!(
        gov::usd_micro(&budget["max_usd"]),
        Some(500_000),
        "{detail}"
    );
    assert_eq!(budget["reset"], "1d", "{detail}");
    assert_eq!(
        gov::usd_micro(&budget["spent_usd"]),
        Some(spent),
        "{detail}"
    );
    assert_eq!(gov::usd_micro(&budget["reserved_usd"]), Some(0), "{detail}");
    assert_eq!(
        gov::usd_micro(&budget["remaining_usd"]),
        Some(0),
        "{detail}"
    );
    assert!(
        budget.get("resets_at").is_some_and(|v| !v.is_null()),
        "{detail}"
    );
    assert!(
        detail["rate_limits"]
            .as_array()
            .is_some_and(|l| l.len() == 1),
        "{detail}"
    );
    for (level, id) in [("team", "platform"), ("customer", "acme")] {
        assert_eq!(gov::spent_micro(&gateway, level, id), spent, "{level} {id}");
    }
    let list = admin_ok(&gateway, "GET", "/admin/usage/team", None, 200);
    assert!(
        list["usage"]
            .as_array()
            .is_some_and(|l| l.iter().any(|u| u["id"] == "platform")),
        "{list}"
    );
    let unknown = admin(
        &gateway,
        "GET",
        "/admin/usage/key/nobody",
        Some(ADMIN_TOKEN),
        None,
    );
    assert_eq!(unknown.status, 404, "{}", unknown.text());

    let reset = json!({ "level": "key", "id": "alice" });
    admin_ok(&gateway, "POST", "/admin/budgets/reset", Some(&reset), 200);
    for i in 0..4 {
        let response = call_key(&gateway, &alice);
        if i < 3 {
            assert_eq!(
                response.status,
                200,
                "after a reset, request {i}: {}",
                response.text()
            );
        } else {
            assert_error(&response, 402, "billing_error");
        }
    }
    assert_eq!(gov::spent_micro(&gateway, "key", "alice"), spent);
    assert_eq!(
        gov::spent_micro(&gateway, "team", "platform"),
        2 * spent,
        "resetting the key's budget leaves the team's alone"
    );
}

#[test]
fn metrics_show_spend_and_rejections() {
    let mock = gov::priced_mock();
    let state = TempDir::new("gov-admin-metrics");
    let alice = gov::vkey("alice");
    let mut config = GovConfig::new(&mock.base_url(), state.path());
    config.hierarchy = platform_hierarchy("", "", &[("alice", &alice, &budget_line(0.3, "1d"))]);
    let gateway = config.start();
    assert_eq!(call_key(&gateway, &alice).status, 200);
    assert_eq!(call_key(&gateway, &alice).status, 200);
    assert_error(&call_key(&gateway, &alice), 402, "billing_error");
    let found = wait_for(EVENTUALLY, || {
        let text = gov::metrics(&gateway);
        let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        let rejection = samples.iter().any(|l| {
            l.contains("rejections_total") && l.contains("reason=") && l.contains("budget")
        });
        let spend = samples
            .iter()
            .any(|l| l.starts_with("sluice_governance_") && l.contains("\"alice\""));
        (rejection && spend).then_some(())
    });
    assert!(
        found.is_some(),
        "metrics lack a budget rejection or alice's spend:\n{}",
        gov::metrics(&gateway)
    );
}
