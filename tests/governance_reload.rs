//! End to end, config reload (`POST /admin/reload` and SIGHUP): changed limits, added and
//! removed keys apply without dropping open connections or losing spend; a broken file is
//! refused and the running config stays.

mod support;

use support::governance::{
    self as gov, ADMIN_TOKEN, Auth, GovConfig, MAX_TOKENS, REQUEST_COST_MICRO, TEST_MODEL, admin,
    admin_ok, assert_error, body_for, budget_line, call_key, platform_hierarchy, post, retry_after,
    signal,
};
use support::temp::TempDir;
use support::{EVENTUALLY, wait_for};

#[test]
fn admin_reload_applies_limits_and_keys_without_dropping_connections_or_spend() {
    let mock = gov::priced_mock();
    let state = TempDir::new("gov-reload-admin");
    let (alice, dave, erin) = (gov::vkey("alice"), gov::vkey("dave"), gov::vkey("erin"));
    let mut config = GovConfig::new(&mock.base_url(), state.path());
    config.hierarchy = platform_hierarchy(
        "",
        "",
        &[
            ("alice", &alice, &budget_line(1.0, "1d")),
            ("erin", &erin, ""),
        ],
    );
    let gateway = config.start();
    let body = body_for(TEST_MODEL, MAX_TOKENS, false);
    let mut kept = gateway.client();
    for _ in 0..3 {
        assert_eq!(post(&mut kept, Auth::XApiKey(&alice), &body).status, 200);
    }
    assert_eq!(call_key(&gateway, &erin).status, 200);

    // Alice's budget drops under her $0.603 spend; dave is added; erin is removed.
    config.hierarchy = platform_hierarchy(
        "",
        "",
        &[
            ("alice", &alice, &budget_line(0.5, "1d")),
            ("dave", &dave, ""),
        ],
    );
    std::fs::write(&gateway.config_path, config.toml()).unwrap();
    admin_ok(&gateway, "POST", "/admin/reload", None, 200);

    let refused = post(&mut kept, Auth::XApiKey(&alice), &body);
    let message = assert_error(&refused, 402, "billing_error");
    assert!(message.contains("alice"), "{message}");
    for _ in 0..6 {
        assert_error(&call_key(&gateway, &alice), 402, "billing_error");
        assert_eq!(call_key(&gateway, &dave).status, 200, "an added key works");
        assert_error(&call_key(&gateway, &erin), 401, "authentication_error");
    }
    assert_eq!(
        gov::spent_micro(&gateway, "key", "alice"),
        3 * REQUEST_COST_MICRO,
        "spend carried over the reload"
    );
    assert_eq!(
        post(&mut kept, Auth::XApiKey(&dave), &body).status,
        200,
        "the connection opened before the reload still serves"
    );
}

#[test]
fn sighup_reload_applies_a_changed_rate_limit() {
    let mock = gov::priced_mock();
    let state = TempDir::new("gov-reload-hup");
    let alice = gov::vkey("alice");
    let limit = |n: u32| format!("rate_limits = [{{ requests = {n}, window = \"1h\" }}]\n");
    let mut config = GovConfig::new(&mock.base_url(), state.path());
    config.hierarchy = platform_hierarchy("", "", &[("alice", &alice, &limit(100))]);
    let gateway = config.start();
    let body = body_for(TEST_MODEL, MAX_TOKENS, false);
    let mut kept = gateway.client();
    for _ in 0..3 {
        assert_eq!(post(&mut kept, Auth::XApiKey(&alice), &body).status, 200);
    }

    config.hierarchy = platform_hierarchy("", "", &[("alice", &alice, &limit(3))]);
    std::fs::write(&gateway.config_path, config.toml()).unwrap();
    signal(&gateway, libc::SIGHUP);
    let limited = wait_for(EVENTUALLY, || {
        let response = call_key(&gateway, &alice);
        match response.status {
            200 => None,
            _ => Some(response),
        }
    })
    .expect("the lower rate limit never applied after SIGHUP");
    assert_error(&limited, 429, "rate_limit_error");
    assert!(retry_after(&limited) >= 1);
    let on_kept = post(&mut kept, Auth::XApiKey(&alice), &body);
    assert_error(&on_kept, 429, "rate_limit_error");
    assert_eq!(
        gateway.admin_client().get("/health").status,
        200,
        "SIGHUP reloads; it does not stop sluice"
    );
}

#[test]
fn a_broken_config_is_refused_on_reload_and_the_running_one_stays() {
    let mock = gov::priced_mock();
    let state = TempDir::new("gov-reload-broken");
    let alice = gov::vkey("alice");
    let mut config = GovConfig::new(&mock.base_url(), state.path());
    config.hierarchy = platform_hierarchy("", "", &[("alice", &alice, "")]);
    let gateway = config.start();
    assert_eq!(call_key(&gateway, &alice).status, 200);

    let broken = format!(
        "{}\n[[virtual_keys]]\nid = \"x\"\nteam = \"no-such-team\"\nsecret = \"s\"\n",
        config.toml()
    );
    std::fs::write(&gateway.config_path, broken).unwrap();
    let response = admin(&gateway, "POST", "/admin/reload", Some(ADMIN_TOKEN), None);
    assert!(
        (400..600).contains(&response.status),
        "a broken file must be refused: {} {}",
        response.status,
        response.text()
    );
    for _ in 0..4 {
        assert_eq!(
            call_key(&gateway, &alice).status,
            200,
            "the running config stays after a refused reload"
        );
    }
}
