//! Tests of the governance backend keys: `backend`, `redis_url`, `redis_key_prefix`,
//! `instance_id`, `on_backend_error`, `expected_instances`.

use super::tests_validation::{assert_rejected, parse_ok};
use super::validate_backend::MAX_REDIS_NAME_LEN;
use super::*;

#[test]
fn redis_backend_is_parsed_with_defaults() {
    let config =
        parse_ok("[governance]\nbackend = \"redis\"\nredis_url = \"redis://127.0.0.1:6379/0\"\n")
            .unwrap();
    let redis = config.governance.redis.unwrap();
    assert_eq!(redis.url.expose(), "redis://127.0.0.1:6379/0");
    assert_eq!(redis.key_prefix, "sluice");
    assert_eq!(redis.instance_id, None);
    assert_eq!(redis.on_error, BackendErrorPolicy::FailClosed);

    let soft = parse_ok(
        "[governance]\nbudget_mode = \"soft\"\nbackend = \"redis\"\nredis_url = \"rediss://r:6380\"\nredis_key_prefix = \"prod\"\ninstance_id = \"gw-1:8080\"\n",
    )
    .unwrap();
    let redis = soft.governance.redis.unwrap();
    assert_eq!(redis.on_error, BackendErrorPolicy::Local);
    assert_eq!(redis.key_prefix, "prod");
    assert_eq!(redis.instance_id.as_deref(), Some("gw-1:8080"));
    assert!(
        parse_ok("[governance]\nbackend = \"sqlite\"\n")
            .unwrap()
            .governance
            .redis
            .is_none()
    );
}

#[test]
fn redis_url_comes_from_the_environment() {
    let text = "[governance]\nbackend = \"redis\"\nredis_url = \"env:REDIS_URL\"\non_backend_error = \"local\"\n";
    let env = |name: &str| (name == "REDIS_URL").then(|| "redis://:pw@h:1".to_owned());
    let config = Config::from_toml_str_with_env(text, &env).unwrap();
    let redis = config.governance.redis.unwrap();
    assert_eq!(redis.url.expose(), "redis://:pw@h:1");
    assert_eq!(redis.on_error, BackendErrorPolicy::Local);
    assert_rejected(text, "governance.redis_url", "REDIS_URL");
}

#[test]
fn bad_backend_keys_are_rejected() {
    let base = "[governance]\nbackend = \"redis\"\nredis_url = \"redis://h:1\"\n";
    assert_rejected(
        "[governance]\nbackend = \"etcd\"\n",
        "governance.backend",
        "`sqlite` or `redis`",
    );
    assert_rejected(
        "[governance]\nbackend = \"redis\"\n",
        "governance.redis_url",
        "required",
    );
    assert_rejected(
        "[governance]\nbackend = \"redis\"\nredis_url = \"http://h:1\"\n",
        "governance.redis_url",
        "redis://",
    );
    assert_rejected(
        "[governance]\nredis_url = \"redis://h:1\"\n",
        "governance.redis_url",
        "only applies",
    );
    assert_rejected(
        "[governance]\ninstance_id = \"a\"\n",
        "governance.instance_id",
        "only applies",
    );
    assert_rejected(
        &format!("{base}on_backend_error = \"open\"\n"),
        "governance.on_backend_error",
        "`fail_closed` or `local`",
    );
    assert_rejected(
        &format!("{base}redis_key_prefix = \"a{{b}}\"\n"),
        "governance.redis_key_prefix",
        "letters",
    );
    assert_rejected(
        &format!("{base}instance_id = \"\"\n"),
        "governance.instance_id",
        "characters",
    );
}

#[test]
fn redis_names_are_bounded() {
    let base = "[governance]\nbackend = \"redis\"\nredis_url = \"redis://h:1\"\n";
    let at_limit = "i".repeat(MAX_REDIS_NAME_LEN);
    let config = parse_ok(&format!("{base}instance_id = \"{at_limit}\"\n")).unwrap();
    assert_eq!(
        config.governance.redis.unwrap().instance_id.as_deref(),
        Some(at_limit.as_str())
    );
    assert_rejected(
        &format!(
            "{base}redis_key_prefix = \"{}\"\n",
            "p".repeat(MAX_REDIS_NAME_LEN + 1)
        ),
        "governance.redis_key_prefix",
        "characters",
    );
}

#[test]
fn expected_instances_defaults_to_one_and_is_bounded() {
    let base = "[governance]\nbackend = \"redis\"\nredis_url = \"redis://h:1\"\n";
    let one = parse_ok(base);
    assert_eq!(one.unwrap().governance.redis.unwrap().expected_instances, 1);
    let three = parse_ok(&format!("{base}expected_instances = 3\n"));
    assert_eq!(
        three.unwrap().governance.redis.unwrap().expected_instances,
        3
    );
    assert_rejected(
        &format!("{base}expected_instances = 0\n"),
        "governance.expected_instances",
        "1 to",
    );
    assert_rejected(
        "[governance]\nexpected_instances = 2\n",
        "governance.expected_instances",
        "only applies",
    );
}
