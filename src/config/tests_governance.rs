//! Tests of governance validation: modes, ids, references between customers, teams and
//! virtual keys, key secrets and expiry.

use super::tests_validation::{TEAM_T, assert_rejected, parse_ok};
use super::*;

#[test]
fn governance_values_are_checked() {
    assert_rejected(
        "[governance]\nbudget_mode = \"hard\"\n",
        "governance.budget_mode",
        "`strict` or `soft`",
    );
    assert_rejected(
        "[governance]\nstate_dir = \"\"\n",
        "governance.state_dir",
        "directory",
    );
    let soft = parse_ok("[governance]\nbudget_mode = \"soft\"\n").unwrap();
    assert_eq!(soft.governance.budget_mode, BudgetMode::Soft);
}

#[test]
fn ids_and_references_are_checked() {
    assert_rejected(
        "[[customers]]\nid = \"\"\n",
        "customers[0].id",
        "invalid id",
    );
    assert_rejected(
        "[[customers]]\nid = \"a b\"\n",
        "customers[0].id",
        "invalid id",
    );
    assert_rejected(
        "[[customers]]\nid = \"c\"\n[[customers]]\nid = \"c\"\n",
        "customers[1].id",
        "duplicate id `c`, already used by customers[0]",
    );
    assert_rejected(
        &format!("{TEAM_T}{TEAM_T}"),
        "teams[1].id",
        "duplicate id `t`",
    );
    assert_rejected(
        &format!("{TEAM_T}customer = \"nobody\"\n"),
        "teams[0].customer",
        "no customer with id `nobody`",
    );
    assert_rejected(
        &format!("{TEAM_T}models = [\"a/*\", \"\"]\n"),
        "teams[0].models[1]",
        "empty",
    );
    let key = |extra: &str| {
        format!("{TEAM_T}[[virtual_keys]]\nid = \"k\"\nteam = \"t\"\nsecret = \"s\"\n{extra}\n")
    };
    assert_rejected(
        &key("").replace("team = \"t\"", "team = \"x\""),
        "virtual_keys[0].team",
        "no team with id `x`",
    );
    assert_rejected(
        &key("customer = \"nobody\""),
        "virtual_keys[0].customer",
        "no customer with id `nobody`",
    );
    assert_rejected(
        &format!("{}{}", key(""), key("").replace(TEAM_T, "")),
        "virtual_keys[1].id",
        "duplicate id `k`",
    );
    assert_rejected(
        &key("models = [\"\"]"),
        "virtual_keys[0].models[0]",
        "empty",
    );
    assert_rejected(
        &key("").replace("team = \"t\"\n", ""),
        "virtual_keys[0]",
        "missing field `team`",
    );
}

#[test]
fn virtual_key_customer_must_agree_with_its_team() {
    let base = "[[customers]]\nid = \"c1\"\n[[customers]]\nid = \"c2\"\n[[teams]]\nid = \"t\"\ncustomer = \"c1\"\n";
    let key = |customer: &str| {
        format!("{base}[[virtual_keys]]\nid = \"k\"\nteam = \"t\"\nsecret = \"s\"\n{customer}\n")
    };
    assert_rejected(
        &key("customer = \"c2\""),
        "virtual_keys[0].customer",
        "differs from team `t`'s customer `c1`",
    );
    let same = parse_ok(&key("customer = \"c1\"")).unwrap();
    assert_eq!(same.virtual_keys[0].customer.as_deref(), Some("c1"));
    let own = parse_ok(&format!(
        "[[customers]]\nid = \"c\"\n{TEAM_T}[[virtual_keys]]\nid = \"k\"\nteam = \"t\"\nsecret = \"s\"\ncustomer = \"c\"\n"
    ))
    .unwrap();
    assert_eq!(own.virtual_keys[0].customer.as_deref(), Some("c"));
}

#[test]
fn virtual_key_secrets_are_exactly_one_and_distinct() {
    let key = |id: &str, secret: &str| {
        format!("[[virtual_keys]]\nid = \"{id}\"\nteam = \"t\"\n{secret}\n")
    };
    let hex = "ab".repeat(32);
    let both = format!(
        "{TEAM_T}{}",
        key("k", &format!("secret = \"s\"\nsecret_sha256 = \"{hex}\""))
    );
    assert_rejected(
        &both,
        "virtual_keys[0]",
        "exactly one of `secret` or `secret_sha256`",
    );
    assert_rejected(
        &format!("{TEAM_T}{}", key("k", "")),
        "virtual_keys[0]",
        "exactly one",
    );
    for bad in ["ab".repeat(31), "zz".repeat(32), "ab".repeat(33)] {
        let text = format!(
            "{TEAM_T}{}",
            key("k", &format!("secret_sha256 = \"{bad}\""))
        );
        assert_rejected(
            &text,
            "virtual_keys[0].secret_sha256",
            "64 hexadecimal digits",
        );
    }
    let text = format!(
        "{TEAM_T}{}",
        key("k", &format!("secret_sha256 = \"{}\"", hex.to_uppercase()))
    );
    let config = parse_ok(&text).unwrap();
    assert_eq!(
        config.virtual_keys[0].secret,
        VirtualKeySecret::Sha256([0xab; 32])
    );
    let dup = format!(
        "{TEAM_T}{}{}",
        key("k1", "secret = \"same\""),
        key("k2", "secret = \"same\"")
    );
    assert_rejected(
        &dup,
        "virtual_keys[1].secret",
        "same secret as virtual_keys[0]",
    );
    let dup_hash = format!(
        "{TEAM_T}{}{}",
        key("k1", &format!("secret_sha256 = \"{hex}\"")),
        key("k2", &format!("secret_sha256 = \"{hex}\""))
    );
    assert_rejected(&dup_hash, "virtual_keys[1].secret_sha256", "same secret");
}

#[test]
fn expiry_accepts_strings_and_toml_datetimes_and_rejects_garbage() {
    let key = |expiry: &str| {
        format!(
            "{TEAM_T}[[virtual_keys]]\nid = \"k\"\nteam = \"t\"\nsecret = \"s\"\nexpires_at = {expiry}\n"
        )
    };
    let expiry_of =
        |expiry: &str| parse_ok(&key(expiry)).unwrap().virtual_keys[0].expires_at_unix_secs;
    assert_eq!(expiry_of("\"2026-12-31T23:59:59Z\""), Some(1_798_761_599));
    assert_eq!(expiry_of("2026-12-31T23:59:59Z"), Some(1_798_761_599));
    assert_eq!(expiry_of("2027-01-01T01:00:00+01:00"), Some(1_798_761_600));
    assert_rejected(
        &key("\"2026-13-01T00:00:00Z\""),
        "virtual_keys[0].expires_at",
        "RFC 3339",
    );
    assert_rejected(
        &key("\"tomorrow\""),
        "virtual_keys[0].expires_at",
        "RFC 3339",
    );
    assert_rejected(
        &key("2026-12-31T23:59:59"),
        "virtual_keys[0].expires_at",
        "RFC 3339",
    );
    assert_rejected(&key("5"), "virtual_keys[0].expires_at", "RFC 3339");
}
