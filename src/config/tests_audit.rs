//! `[audit]` and `[telemetry]`: defaults, limits at and one past the edge, unknown keys.

use std::time::Duration;

use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml_str_with_env(text, &|name| {
        (name == "HONEYCOMB_KEY").then(|| "hc-secret-value".to_owned())
    })
}

fn error_at(text: &str) -> String {
    parse(text).expect_err("must be rejected").path
}

#[test]
fn audit_is_off_without_a_section_and_defaults_with_one() {
    assert_eq!(parse("").unwrap().audit, None);
    let audit = parse("[governance]\nstate_dir = \"/var/lib/sluice\"\n[audit]\n")
        .unwrap()
        .audit
        .unwrap();
    assert_eq!(audit.dir, std::path::PathBuf::from("/var/lib/sluice/audit"));
    assert_eq!(
        audit.fsync,
        FsyncPolicy::Interval(Duration::from_millis(100))
    );
    assert_eq!(audit.tool_results, ToolResultsMode::Digest);
    assert_eq!(audit.rotate_bytes, DEFAULT_AUDIT_ROTATE_BYTES);
    assert_eq!(audit.retain_days, 0);
    assert_eq!(audit.max_field_bytes, DEFAULT_AUDIT_MAX_FIELD_BYTES);
}

#[test]
fn audit_settings_parse() {
    let audit = parse(
        "[audit]\ndir = \"/a\"\nfsync = \"always\"\nrotate_bytes = 65536\nretain_days = 365\n\
         tool_results = \"full\"\nmax_field_bytes = 64\n",
    )
    .unwrap()
    .audit
    .unwrap();
    assert_eq!(audit.dir, std::path::PathBuf::from("/a"));
    assert_eq!(audit.fsync, FsyncPolicy::Always);
    assert_eq!(audit.rotate_bytes, MIN_AUDIT_ROTATE_BYTES);
    assert_eq!(audit.retain_days, 365);
    assert_eq!(audit.tool_results, ToolResultsMode::Full);
    assert_eq!(audit.max_field_bytes, MIN_AUDIT_MAX_FIELD_BYTES);
    let interval = parse("[audit]\nfsync = 60000\n").unwrap().audit.unwrap();
    assert_eq!(
        interval.fsync,
        FsyncPolicy::Interval(Duration::from_secs(60))
    );
    for (text, ms) in [
        ("100ms", 100),
        ("1ms", 1),
        ("60000ms", 60_000),
        ("2s", 2_000),
        ("60s", 60_000),
    ] {
        let audit = parse(&format!("[audit]\nfsync = \"{text}\"\n"))
            .unwrap()
            .audit
            .unwrap();
        assert_eq!(
            audit.fsync,
            FsyncPolicy::Interval(Duration::from_millis(ms)),
            "{text}"
        );
    }
}

#[test]
fn audit_limits_and_bad_values_name_their_key() {
    for (text, path) in [
        ("[audit]\nfsync = \"sometimes\"", "audit.fsync"),
        ("[audit]\nfsync = 0", "audit.fsync"),
        ("[audit]\nfsync = 60001", "audit.fsync"),
        ("[audit]\nfsync = \"0ms\"", "audit.fsync"),
        ("[audit]\nfsync = \"60001ms\"", "audit.fsync"),
        ("[audit]\nfsync = \"61s\"", "audit.fsync"),
        ("[audit]\nfsync = \"100\"", "audit.fsync"),
        ("[audit]\nfsync = \"ms\"", "audit.fsync"),
        ("[audit]\nrotate_bytes = 65535", "audit.rotate_bytes"),
        ("[audit]\nretain_days = 36501", "audit.retain_days"),
        ("[audit]\ntool_results = \"some\"", "audit.tool_results"),
        ("[audit]\nmax_field_bytes = 63", "audit.max_field_bytes"),
        (
            "[audit]\nmax_field_bytes = 16777217",
            "audit.max_field_bytes",
        ),
        ("[audit]\ndir = \"\"", "audit.dir"),
        ("[audit]\nfsynk = 5", "audit.fsynk"),
    ] {
        assert_eq!(error_at(text), path, "{text}");
    }
    assert!(parse("[audit]\nretain_days = 36500\nmax_field_bytes = 16777216").is_ok());
    let unknown = parse("[audit]\nfsynk = 5").unwrap_err();
    assert!(unknown.message.contains("fsynk"), "{}", unknown.message);
}

#[test]
fn telemetry_is_off_without_an_endpoint() {
    assert_eq!(parse("").unwrap().telemetry, None);
    assert_eq!(
        parse("[telemetry]\nsample_ratio = 0.5").unwrap().telemetry,
        None
    );
}

#[test]
fn telemetry_settings_parse_with_env_headers() {
    let telemetry = parse(
        "[telemetry]\notlp_endpoint = \"https://api.honeycomb.io/\"\nservice_name = \"gw\"\n\
         sample_ratio = 0.25\ncapture_content = true\ntimeout_ms = 2000\n\
         [telemetry.headers]\nx-honeycomb-team = \"env:HONEYCOMB_KEY\"\n\
         [telemetry.resource_attributes]\n\"deployment.environment\" = \"prod\"\n",
    )
    .unwrap()
    .telemetry
    .unwrap();
    assert_eq!(telemetry.otlp_endpoint, "https://api.honeycomb.io");
    assert_eq!(telemetry.service_name, "gw");
    assert_eq!(telemetry.sample_ratio, 0.25);
    assert!(telemetry.capture_content);
    assert_eq!(telemetry.timeout, Duration::from_secs(2));
    assert_eq!(telemetry.headers[0].0, "x-honeycomb-team");
    assert_eq!(telemetry.headers[0].1.expose(), "hc-secret-value");
    assert!(!format!("{telemetry:?}").contains("hc-secret-value"));
    assert_eq!(
        telemetry.resource_attributes,
        vec![("deployment.environment".to_owned(), "prod".to_owned())]
    );
    let defaults = parse("[telemetry]\notlp_endpoint = \"http://127.0.0.1:4318\"")
        .unwrap()
        .telemetry
        .unwrap();
    assert_eq!(defaults.service_name, DEFAULT_SERVICE_NAME);
    assert_eq!(defaults.sample_ratio, 1.0);
    assert!(!defaults.capture_content);
}

#[test]
fn telemetry_bad_values_name_their_key() {
    let endpoint = "[telemetry]\notlp_endpoint = \"http://c:4318\"\n";
    for (text, path) in [
        (
            "[telemetry]\notlp_endpoint = \"c:4318\"".to_owned(),
            "telemetry.otlp_endpoint",
        ),
        (
            format!("{endpoint}sample_ratio = 1.01"),
            "telemetry.sample_ratio",
        ),
        (
            format!("{endpoint}sample_ratio = -0.1"),
            "telemetry.sample_ratio",
        ),
        (
            format!("{endpoint}service_name = \"\""),
            "telemetry.service_name",
        ),
        (
            format!("{endpoint}timeout_ms = 60001"),
            "telemetry.timeout_ms",
        ),
        (format!("{endpoint}timeout_ms = 0"), "telemetry.timeout_ms"),
        (
            format!("{endpoint}[telemetry.headers]\nauth = \"env:MISSING\""),
            "telemetry.headers.auth",
        ),
        (
            format!("{endpoint}[telemetry.headers]\n\"a b\" = \"x\""),
            "telemetry.headers.a b",
        ),
        (format!("{endpoint}endpoint = \"x\""), "telemetry.endpoint"),
        (
            "[telemetry.headers]\na = \"b\"".to_owned(),
            "telemetry.otlp_endpoint",
        ),
    ] {
        assert_eq!(error_at(&text), path, "{text}");
    }
    assert!(parse(&format!("{endpoint}sample_ratio = 0.0\ntimeout_ms = 60000")).is_ok());
    let headers: String = (0..=MAX_OTLP_HEADERS)
        .map(|i| format!("h{i} = \"v\"\n"))
        .collect();
    assert_eq!(
        error_at(&format!("{endpoint}[telemetry.headers]\n{headers}")),
        "telemetry.headers"
    );
}

#[test]
fn shipped_example_configures_telemetry_and_audit() {
    let text = include_str!("../../examples/sluice.example.toml");
    let config =
        Config::from_toml_str_with_env(text, &|name| Some(format!("value-of-{name}"))).unwrap();
    let telemetry = config.telemetry.unwrap();
    assert_eq!(telemetry.otlp_endpoint, "http://127.0.0.1:4318");
    assert_eq!(telemetry.headers[0].0, "x-scope-orgid");
    let audit = config.audit.unwrap();
    assert_eq!(
        audit.fsync,
        FsyncPolicy::Interval(DEFAULT_AUDIT_FSYNC_INTERVAL)
    );
    assert_eq!(audit.tool_results, ToolResultsMode::Digest);
}
