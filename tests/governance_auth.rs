//! End to end, governance authentication: missing, unknown and expired virtual keys get 401
//! `authentication_error` and reach no upstream; a valid key works from `x-api-key` or
//! `Authorization: Bearer` (the known virtual key wins when both are sent); the virtual key is
//! never forwarded, only the provider's own key; rejections are counted by reason.

mod support;

use support::governance::{
    self as gov, Auth, GovConfig, PROVIDER_KEY, TEST_MODEL, assert_error, assert_never_upstream,
    body_for, call, key_toml, platform_hierarchy, post,
};
use support::temp::TempDir;
use support::{EVENTUALLY, wait_for};

/// A client's own Anthropic key (not a virtual key).
const CLIENT_OWN_KEY: &str = "sk-ant-api03-client-own-key";

#[test]
fn missing_unknown_and_expired_keys_get_401_and_reach_no_upstream() {
    let mock = gov::priced_mock();
    let state = TempDir::new("gov-auth-401");
    let alice = gov::vkey("alice");
    let old = gov::vkey("old");
    let mut config = GovConfig::new(&mock.base_url(), state.path());
    config.hierarchy = platform_hierarchy(
        "",
        "",
        &[
            ("alice", alice.as_str(), ""),
            (
                "old",
                old.as_str(),
                "expires_at = \"2020-01-01T00:00:00Z\"\n",
            ),
        ],
    );
    let gateway = config.start();

    let missing = call(&gateway, Auth::Nothing);
    let message = assert_error(&missing, 401, "authentication_error");
    assert!(
        message.to_ascii_lowercase().contains("key"),
        "the 401 says a key is needed: {message}"
    );
    for (what, auth) in [
        (
            "unknown x-api-key",
            Auth::XApiKey("sk-vk-nobody-knows-this"),
        ),
        ("unknown bearer", Auth::Bearer("sk-vk-nobody-knows-this")),
        ("client's own key", Auth::XApiKey(CLIENT_OWN_KEY)),
        ("expired key", Auth::XApiKey(&old)),
        ("expired key as bearer", Auth::Bearer(&old)),
        (
            "two unknown credentials",
            Auth::Both {
                x_api_key: CLIENT_OWN_KEY,
                bearer: "sk-vk-unknown-too",
            },
        ),
    ] {
        let response = call(&gateway, auth);
        assert_eq!(response.status, 401, "{what}: {}", response.text());
        assert_error(&response, 401, "authentication_error");
    }
    let expired = assert_error(
        &call(&gateway, Auth::XApiKey(&old)),
        401,
        "authentication_error",
    );
    assert!(
        expired.contains("expired"),
        "an expired key is told so: {expired}"
    );
    assert!(
        mock.requests().is_empty(),
        "a refused request must not reach the upstream; it got {}",
        mock.requests().len()
    );

    // The same gateway serves a valid key, so the refusals above were governance's doing.
    let ok = call(&gateway, Auth::XApiKey(&alice));
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(mock.requests().len(), 1);
}

#[test]
fn virtual_key_is_never_sent_upstream_in_any_form() {
    let mock = gov::priced_mock();
    let state = TempDir::new("gov-auth-upstream");
    let alice = gov::vkey("alice");
    let mut config = GovConfig::new(&mock.base_url(), state.path());
    config.hierarchy = platform_hierarchy("", "", &[("alice", &alice, "")]);
    let gateway = config.start();

    let cases = [
        ("x-api-key", Auth::XApiKey(&alice), false),
        ("x-api-key, streaming", Auth::XApiKey(&alice), true),
        ("bearer", Auth::Bearer(&alice), false),
        ("bearer, streaming", Auth::Bearer(&alice), true),
        (
            "own key in x-api-key, virtual key as bearer",
            Auth::Both {
                x_api_key: CLIENT_OWN_KEY,
                bearer: &alice,
            },
            false,
        ),
        (
            "virtual key in x-api-key, own key as bearer",
            Auth::Both {
                x_api_key: &alice,
                bearer: CLIENT_OWN_KEY,
            },
            true,
        ),
    ];
    for (what, auth, stream) in cases {
        let response = post(
            &mut gateway.client(),
            auth,
            &body_for(TEST_MODEL, gov::MAX_TOKENS, stream),
        );
        assert_eq!(response.status, 200, "{what}: {}", response.text());
        assert!(response.complete, "{what}: the response ended early");
        if stream {
            assert!(
                response.text().contains("message_stop"),
                "{what}: the stream was relayed whole: {}",
                response.text()
            );
        } else {
            assert_eq!(response.json()["usage"]["output_tokens"], gov::MAX_TOKENS);
        }
    }
    let requests = mock.wait_requests(cases.len(), EVENTUALLY);
    assert_eq!(requests.len(), cases.len());
    assert_never_upstream(&mock, &alice);
    for request in &requests {
        let head = String::from_utf8_lossy(&request.head).into_owned();
        assert!(
            request
                .header_str("authorization")
                .is_none_or(|v| !v.contains("sk-vk-")),
            "no virtual key as a bearer upstream:\n{head}"
        );
    }
}

#[test]
fn without_require_virtual_key_own_keys_pass_and_virtual_keys_are_still_replaced() {
    let mock = gov::priced_mock();
    let state = TempDir::new("gov-auth-optional");
    let alice = gov::vkey("alice");
    let mut config = GovConfig::new(&mock.base_url(), state.path());
    config.require_virtual_key = false;
    config.hierarchy =
        platform_hierarchy("", "", &[("alice", &alice, &gov::budget_line(5.0, "1d"))]);
    let gateway = config.start();

    let own = call(&gateway, Auth::XApiKey(CLIENT_OWN_KEY));
    assert_eq!(own.status, 200, "{}", own.text());
    let first = mock.wait_requests(1, EVENTUALLY);
    assert_eq!(
        first[0].header_str("x-api-key").as_deref(),
        Some(CLIENT_OWN_KEY),
        "with require_virtual_key = false the client's own key passes through"
    );

    let keyed = call(&gateway, Auth::XApiKey(&alice));
    assert_eq!(keyed.status, 200, "{}", keyed.text());
    let requests = mock.wait_requests(2, EVENTUALLY);
    let head = String::from_utf8_lossy(&requests[1].head).into_owned();
    assert!(!head.contains(&alice), "virtual key forwarded:\n{head}");
    assert_eq!(
        requests[1].header_str("x-api-key").as_deref(),
        Some(PROVIDER_KEY),
        "a virtual key is replaced by the provider's key even when keys are optional"
    );
    // The keyed request was governed (charged to alice); the own-key one was not.
    assert_eq!(
        gov::spent_micro(&gateway, "key", "alice"),
        gov::REQUEST_COST_MICRO,
        "alice is charged for her one request"
    );
}

#[test]
fn config_key_by_sha256_digest_authenticates() {
    let mock = gov::priced_mock();
    let state = TempDir::new("gov-auth-sha");
    let secret = gov::vkey("hashed");
    let digest: String = sluice::governance::keys::hash_secret(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut config = GovConfig::new(&mock.base_url(), state.path());
    config.hierarchy = platform_hierarchy("", "", &[]);
    config.hierarchy.push_str(&format!(
        "[[virtual_keys]]\nid = \"hashed\"\nsecret_sha256 = \"{digest}\"\nteam = \"platform\"\n"
    ));
    let gateway = config.start();
    let ok = call(&gateway, Auth::Bearer(&secret));
    assert_eq!(ok.status, 200, "{}", ok.text());
    let wrong = call(&gateway, Auth::XApiKey(&digest));
    assert_error(&wrong, 401, "authentication_error");
    assert_never_upstream(&mock, &secret);
}

#[test]
fn rejections_are_counted_by_reason_in_metrics() {
    let mock = gov::priced_mock();
    let state = TempDir::new("gov-auth-metrics");
    let mut config = GovConfig::new(&mock.base_url(), state.path());
    let alice = gov::vkey("alice");
    config.hierarchy = platform_hierarchy("", "", &[]);
    config
        .hierarchy
        .push_str(&key_toml("alice", &alice, "platform", ""));
    let gateway = config.start();
    assert_error(&call(&gateway, Auth::Nothing), 401, "authentication_error");
    assert_error(
        &call(&gateway, Auth::XApiKey("sk-vk-unknown")),
        401,
        "authentication_error",
    );
    let counted = wait_for(EVENTUALLY, || {
        let text = gov::metrics(&gateway);
        text.lines()
            .any(|line| {
                !line.starts_with('#')
                    && line.contains("rejections_total")
                    && line.contains("reason=")
                    && line.contains("auth")
            })
            .then_some(())
    });
    assert!(
        counted.is_some(),
        "no rejections_total sample with an auth reason label:\n{}",
        gov::metrics(&gateway)
    );
}

#[test]
fn messages_ask_for_identity_encoding_other_passthrough_routes_keep_the_clients() {
    let mock = gov::priced_mock();
    let state = TempDir::new("gov-auth-encoding");
    let alice = gov::vkey("alice");
    let mut config = GovConfig::new(&mock.base_url(), state.path());
    config.require_virtual_key = false;
    config.hierarchy = platform_hierarchy("", "", &[("alice", &alice, "")]);
    let gateway = config.start();
    let body = body_for(TEST_MODEL, 10, false);
    let headers = |key| {
        [
            ("content-type", "application/json"),
            ("accept-encoding", "gzip, deflate, br, zstd"),
            ("x-api-key", key),
        ]
    };
    for key in [CLIENT_OWN_KEY, alice.as_str()] {
        let response =
            gateway
                .client()
                .request("POST", "/v1/messages", &headers(key), body.as_bytes());
        assert_eq!(response.status, 200, "{}", response.text());
    }
    // count_tokens is not observed: a passthrough request keeps the client's encoding.
    gateway.client().request(
        "POST",
        "/v1/messages/count_tokens",
        &headers(CLIENT_OWN_KEY),
        body.as_bytes(),
    );
    let requests = mock.wait_requests(3, EVENTUALLY);
    for (request, why) in requests[..2].iter().zip(["passthrough", "metered"]) {
        assert_eq!(
            request.header_str("accept-encoding"),
            None,
            "a {why} Messages request must get an uncompressed answer, whose usage sluice reads"
        );
    }
    assert_eq!(
        requests[2].header_str("accept-encoding").as_deref(),
        Some("gzip, deflate, br, zstd"),
        "a passthrough request whose answer is not observed keeps the client's Accept-Encoding"
    );
}
