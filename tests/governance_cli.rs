//! End to end, `sluice keys create|list|revoke` against a running gateway's admin API: the
//! created key works at once, the listing never shows a secret, a revoked key is refused, and
//! the CLI fails without the admin token.

mod support;

use std::process::Output;

use support::governance::{
    self as gov, ADMIN_TOKEN, GovConfig, assert_error, call_key, keys_cli, platform_hierarchy,
};
use support::temp::TempDir;

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn assert_success(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed ({:?}):\nstdout: {}\nstderr: {}",
        output.status,
        stdout(output),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn keys_create_list_revoke_through_the_cli() {
    let mock = gov::priced_mock();
    let state = TempDir::new("gov-cli");
    let mut config = GovConfig::new(&mock.base_url(), state.path());
    config.hierarchy = platform_hierarchy("", "", &[]);
    let gateway = config.start();

    let created = keys_cli(
        &gateway,
        Some(ADMIN_TOKEN),
        &[
            "create",
            "--id",
            "cli-bob",
            "--team",
            "platform",
            "--budget",
            "5:1d",
            "--rate-limit",
            "100::1m",
            "--models",
            "anthropic/claude-gov-*,anthropic/claude-sonnet-*",
        ],
    );
    assert_success(&created, "keys create");
    let answer: serde_json::Value = serde_json::from_slice(&created.stdout)
        .unwrap_or_else(|e| panic!("keys create prints JSON ({e}): {}", stdout(&created)));
    let secret = answer["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("keys create prints the secret: {answer}"))
        .to_owned();
    assert!(secret.starts_with("sk-sluice-"), "{secret}");
    assert_eq!(answer["key"]["id"], "cli-bob");

    for _ in 0..6 {
        let response = call_key(&gateway, &secret);
        assert_eq!(response.status, 200, "{}", response.text());
    }

    let listed = keys_cli(&gateway, Some(ADMIN_TOKEN), &["list"]);
    assert_success(&listed, "keys list");
    assert!(stdout(&listed).contains("cli-bob"), "{}", stdout(&listed));
    assert!(
        !stdout(&listed).contains(&secret),
        "keys list never prints a secret"
    );

    let refused = keys_cli(&gateway, None, &["revoke", "cli-bob"]);
    assert!(
        !refused.status.success(),
        "the CLI must fail without the admin token"
    );
    assert_eq!(
        call_key(&gateway, &secret).status,
        200,
        "an unauthorised revoke changed nothing"
    );

    let revoked = keys_cli(&gateway, Some(ADMIN_TOKEN), &["revoke", "cli-bob"]);
    assert_success(&revoked, "keys revoke");
    for _ in 0..6 {
        assert_error(&call_key(&gateway, &secret), 401, "authentication_error");
    }
    let wrong = keys_cli(&gateway, Some("not-the-token"), &["list"]);
    assert!(!wrong.status.success(), "a wrong token fails");
}
