//! Tests of parsing: the reference example of docs/ARCHITECTURE.md ("Configuration"), the
//! shipped example file, defaults, unknown-key paths, secrets, and the small parsers (glob,
//! base URL, durations, timestamps).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::*;

/// An env lookup over fixed pairs, so tests never touch the process environment.
fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml_str_with_env(text, &|_| None)
}

fn error_of(text: &str) -> ConfigError {
    match parse(text) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(error) => error,
    }
}

/// The reference configuration (docs/ARCHITECTURE.md, "Configuration"), verbatim.
const REFERENCE_EXAMPLE: &str = r#"
[server]
listen = "127.0.0.1:8080"
admin_listen = "127.0.0.1:9090"
cores = 0                        # 0: one shard per online core; N: the first N cores

[[providers]]
name = "anthropic"               # the prefix users write: anthropic/claude-sonnet-4-5
kind = "anthropic"
base_url = "https://api.anthropic.com"
keys = [{ secret = "env:ANTHROPIC_API_KEY", weight = 1 }]

[[routes]]                       # bare model names
match = "claude-*"
targets = ["anthropic", "bedrock"]   # failover order

[governance]
require_virtual_key = true       # false: the client's own credentials pass through
state_dir = "./sluice-data"
budget_mode = "strict"           # or "soft"

[[customers]]
id = "acme"
budgets = [{ max_usd = 5000.0, reset = "1M" }]

[[teams]]
id = "platform"
customer = "acme"

[[virtual_keys]]
id = "alice"
secret = "env:SLUICE_KEY_ALICE"
team = "platform"
budgets = [{ max_usd = 25.0, reset = "1d" }]
rate_limits = [{ requests = 120, tokens = 2000000, window = "1m" }]
models = ["anthropic/*", "openai/gpt-5*"]

[[pricing]]                      # USD per million tokens; extends the built-in table
model = "anthropic/claude-sonnet-4-5*"
input = 3.0
output = 15.0
cache_write = 3.75
cache_read = 0.30
"#;

/// The §9 example routes to `bedrock` without declaring it; this declares it.
const BEDROCK_PROVIDER: &str = r#"
[[providers]]
name = "bedrock"
kind = "bedrock"
region = "us-west-2"
keys = [{ secret = "env:AWS_CREDS" }]
"#;

const REFERENCE_ENV: &[(&str, &str)] = &[
    ("ANTHROPIC_API_KEY", "sk-ant-test"),
    ("SLUICE_KEY_ALICE", "sk-alice"),
    ("AWS_CREDS", "aws-test"),
];

#[test]
fn design_example_parses_once_its_bedrock_target_is_declared() {
    let text = format!("{REFERENCE_EXAMPLE}{BEDROCK_PROVIDER}");
    let config = Config::from_toml_str_with_env(&text, &env_of(REFERENCE_ENV)).unwrap();

    assert_eq!(
        config.server.listen,
        "127.0.0.1:8080".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(
        config.server.admin_listen,
        Some("127.0.0.1:9090".parse().unwrap())
    );
    assert_eq!(config.server.cores, 0);

    let anthropic = config.provider("anthropic").unwrap();
    assert_eq!(anthropic.kind.as_str(), "anthropic");
    assert_eq!(
        anthropic.base_url.origin_key(),
        "https://api.anthropic.com:443"
    );
    assert_eq!(anthropic.keys.len(), 1);
    assert_eq!(anthropic.keys[0].secret.expose(), "sk-ant-test");
    assert_eq!(anthropic.keys[0].weight, 1);
    let bedrock = config.provider("bedrock").unwrap();
    assert_eq!(
        bedrock.base_url.host,
        "bedrock-runtime.us-west-2.amazonaws.com"
    );
    assert_eq!(bedrock.options["region"].as_str(), Some("us-west-2"));

    assert_eq!(
        config.routes,
        vec![RouteConfig {
            pattern: "claude-*".into(),
            targets: vec!["anthropic".into(), "bedrock".into()]
        }]
    );
    assert!(config.governance.require_virtual_key);
    assert_eq!(config.governance.state_dir, PathBuf::from("./sluice-data"));
    assert_eq!(config.governance.budget_mode, BudgetMode::Strict);

    assert_eq!(config.customers[0].id, "acme");
    assert_eq!(
        config.customers[0].budgets,
        vec![Budget {
            max_micro_usd: 5_000_000_000,
            reset: ResetPeriod::Month,
            calendar_aligned: false
        }]
    );
    assert_eq!(config.teams[0].customer.as_deref(), Some("acme"));

    let alice = &config.virtual_keys[0];
    assert_eq!(
        alice.secret,
        VirtualKeySecret::Plain(Secret::new("sk-alice"))
    );
    assert_eq!(alice.team, "platform");
    assert_eq!(
        alice.customer.as_deref(),
        Some("acme"),
        "inherited from the team"
    );
    assert_eq!(alice.budgets[0].max_micro_usd, 25_000_000);
    assert_eq!(alice.budgets[0].reset, ResetPeriod::Day);
    assert_eq!(
        alice.rate_limits,
        vec![RateLimit {
            requests: Some(120),
            tokens: Some(2_000_000),
            tool_calls: None,
            window: Duration::from_secs(60)
        }]
    );
    assert_eq!(alice.models, vec!["anthropic/*", "openai/gpt-5*"]);

    assert_eq!(
        config.pricing,
        vec![ModelPrice {
            pattern: "anthropic/claude-sonnet-4-5*".into(),
            input_pico_usd_per_token: 3_000_000,
            output_pico_usd_per_token: 15_000_000,
            cache_write_pico_usd_per_token: 3_750_000,
            cache_read_pico_usd_per_token: 300_000,
            max_output_tokens: None,
        }]
    );
}

#[test]
fn design_example_verbatim_names_its_undeclared_route_target() {
    let error =
        Config::from_toml_str_with_env(REFERENCE_EXAMPLE, &env_of(REFERENCE_ENV)).unwrap_err();
    assert_eq!(error.path, "routes[0].targets[1]");
    assert!(error.message.contains("`bedrock`"), "{error}");
}

#[test]
fn shipped_example_file_parses_with_every_section() {
    let text = include_str!("../../examples/sluice.example.toml");
    let names = [
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_API_KEY_2",
        "OPENAI_API_KEY",
        "AZURE_OPENAI_API_KEY",
        "GROQ_API_KEY",
        "LOCAL_LLM_KEY",
        "AWS_BEARER_TOKEN_BEDROCK",
        "VERTEX_ACCESS_TOKEN",
        "SLUICE_ADMIN_TOKEN",
        "SLUICE_KEY_ALICE",
        "GITHUB_MCP_TOKEN",
    ];
    let env = |name: &str| names.contains(&name).then(|| format!("value-of-{name}"));
    let config = Config::from_toml_str_with_env(text, &env).unwrap();
    // That it has a provider of every kind: providers/options_tests.rs.
    assert_eq!(config.provider("anthropic").unwrap().keys[0].weight, 3);
    assert_eq!(config.provider("anthropic").unwrap().keys[1].weight, 1);
    assert!(config.provider("anthropic").unwrap().budgets[0].calendar_aligned);
    assert_eq!(
        config.provider("vertex").unwrap().base_url.host,
        "us-east5-aiplatform.googleapis.com"
    );
    assert_eq!(
        config.provider("local").unwrap().ca_file,
        Some(PathBuf::from("/etc/sluice/internal-ca.pem"))
    );
    assert_eq!(
        config
            .provider("azure")
            .unwrap()
            .model_map
            .get("gpt-5")
            .map(String::as_str),
        Some("my-gpt5-deployment")
    );
    assert_eq!(
        config.governance.admin_token.as_ref().map(Secret::expose),
        Some("value-of-SLUICE_ADMIN_TOKEN")
    );
    let ci_bot = &config.virtual_keys[1];
    assert!(matches!(ci_bot.secret, VirtualKeySecret::Sha256(d) if d[0] == 0x9f && d[31] == 0x08));
    assert_eq!(ci_bot.expires_at_unix_secs, Some(1_798_761_599));
    assert_eq!(ci_bot.customer, None);
    assert_eq!(config.pricing[1].output_pico_usd_per_token, 0);
    assert_eq!(config.pricing[1].cache_read_pico_usd_per_token, 0);
    assert_eq!(config.server.access_log, AccessLogTarget::Stderr);
}

#[test]
fn embedded_default_is_what_an_empty_file_gives() {
    let config = Config::embedded_default();
    assert_eq!(parse("").unwrap(), config);
    assert_eq!(
        config.server.listen,
        "127.0.0.1:8080".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(
        config.server.admin_listen,
        Some("127.0.0.1:9090".parse().unwrap())
    );
    assert_eq!(config.providers.len(), 1);
    let anthropic = config.provider("anthropic").unwrap();
    assert_eq!(anthropic.kind.as_str(), "anthropic");
    assert!(anthropic.keys.is_empty(), "client credentials pass through");
    assert_eq!(anthropic.base_url.to_string(), "https://api.anthropic.com");
    assert!(config.routes.is_empty());
    assert!(!config.governance.require_virtual_key);
    assert_eq!(config.server.max_body_bytes, 32 * 1024 * 1024);
    assert_eq!(config.server.max_headers, 128);
    assert_eq!(config.server.header_read_timeout, Duration::from_secs(10));
    assert_eq!(config.server.idle_timeout, Duration::from_secs(60));
    assert_eq!(config.server.stream_ping, Duration::from_secs(10));
    assert_eq!(config.server.drain_timeout, Duration::from_secs(30));
    assert_eq!(
        config.server.upstream_connect_timeout,
        Duration::from_secs(5)
    );
    assert_eq!(
        config.server.upstream_read_timeout,
        Duration::from_secs(600)
    );
    assert_eq!(config.server.upstream_idle_pool, Duration::from_secs(20));
    assert!(config.provider("openai").is_none());
}

#[test]
fn server_settings_are_typed() {
    let config = parse(
        r#"
[server]
listen = "[::1]:18080"
admin_listen = "off"
cores = 4
max_body_bytes = 1024
max_headers = 64
header_read_timeout_ms = 1
idle_timeout_ms = 2
stream_ping_ms = 3
drain_timeout_ms = 4
upstream_connect_timeout_ms = 5
upstream_read_timeout_ms = 6
upstream_idle_pool_ms = 7
access_log = "/var/log/sluice/access.log"
"#,
    )
    .unwrap();
    let server = config.server;
    assert_eq!(server.listen, "[::1]:18080".parse::<SocketAddr>().unwrap());
    assert_eq!(server.admin_listen, None);
    assert_eq!(
        (server.cores, server.max_body_bytes, server.max_headers),
        (4, 1024, 64)
    );
    let timeouts = [
        server.header_read_timeout,
        server.idle_timeout,
        server.stream_ping,
        server.drain_timeout,
        server.upstream_connect_timeout,
        server.upstream_read_timeout,
        server.upstream_idle_pool,
    ];
    let expected: Vec<Duration> = (1..=7).map(Duration::from_millis).collect();
    assert_eq!(timeouts.to_vec(), expected);
    assert_eq!(
        server.access_log,
        AccessLogTarget::File(PathBuf::from("/var/log/sluice/access.log"))
    );
    let off = parse("[server]\naccess_log = \"off\"\n").unwrap();
    assert_eq!(off.server.access_log, AccessLogTarget::Off);
}

#[test]
fn unknown_keys_are_reported_with_their_full_path() {
    let provider = "[[providers]]\nname = \"a\"\nkind = \"anthropic\"\n";
    let cases = [
        ("bogus = 1\n".to_owned(), "bogus"),
        ("[server]\nlisen = \"127.0.0.1:1\"\n".to_owned(), "server.lisen"),
        (format!("{provider}{provider}kyes = []\n").replacen("\"a\"", "\"b\"", 1), "providers[1].kyes"),
        (format!("{provider}keys = [{{ secret = \"s\", wieght = 2 }}]\n"), "providers[0].keys[0].wieght"),
        (
            format!("{provider}budgets = [{{ max_usd = 1.0, reset = \"1d\", rest = 1 }}]\n"),
            "providers[0].budgets[0].rest",
        ),
        ("[[routes]]\nmatch = \"x\"\ntargets = []\nfallback = 1\n".to_owned(), "routes[0].fallback"),
        ("[governance]\nrequire_key = true\n".to_owned(), "governance.require_key"),
        ("[[customers]]\nid = \"c\"\nbudget = []\n".to_owned(), "customers[0].budget"),
        ("[[teams]]\nid = \"t\"\nmodel = []\n".to_owned(), "teams[0].model"),
        (
            "[[virtual_keys]]\nid = \"k\"\nteam = \"t\"\nsecret = \"s\"\nsecrets = \"s\"\n".to_owned(),
            "virtual_keys[0].secrets",
        ),
        (
            "[[virtual_keys]]\nid = \"k\"\nteam = \"t\"\nsecret = \"s\"\nrate_limits = [{ window = \"1m\", request = 1 }]\n"
                .to_owned(),
            "virtual_keys[0].rate_limits[0].request",
        ),
        ("[[pricing]]\nmodel = \"x\"\ninput = 1.0\noutput = 1.0\ncache = 1.0\n".to_owned(), "pricing[0].cache"),
    ];
    for (text, path) in cases {
        let error = error_of(&text);
        assert_eq!(error.path, path, "{text}");
        let key = path.rsplit('.').next().unwrap();
        assert!(
            error.message.starts_with(&format!("unknown field `{key}`")),
            "{error}"
        );
        assert!(
            error
                .to_string()
                .starts_with(&format!("{path}: unknown field `{key}`")),
            "{error}"
        );
        assert!(error.line.is_some(), "{error}");
    }
}

#[test]
fn type_and_syntax_errors_carry_path_and_line() {
    let error = error_of("[server]\n\nlisten = 5\n");
    assert_eq!(error.path, "server.listen");
    assert_eq!(error.line, Some(3));
    assert!(error.to_string().ends_with("(line 3)"), "{error}");
    let error = error_of("[[providers]]\nkind = \"anthropic\"\n");
    assert_eq!(error.path, "providers[0]");
    assert!(error.message.contains("missing field `name`"), "{error}");
    let error = error_of("[server\n");
    assert_eq!(error.path, "");
    assert_eq!(error.line, Some(1));
}

#[test]
fn env_secrets_resolve_and_missing_ones_name_path_and_variable() {
    let text = "[[providers]]\nname = \"a\"\nkind = \"anthropic\"\nkeys = [{ secret = \"literal\" }, { secret = \"env:KEY_B\", weight = 2 }]\n";
    let config = Config::from_toml_str_with_env(text, &env_of(&[("KEY_B", "from-env")])).unwrap();
    let keys = &config.providers[0].keys;
    assert_eq!((keys[0].secret.expose(), keys[0].weight), ("literal", 1));
    assert_eq!((keys[1].secret.expose(), keys[1].weight), ("from-env", 2));

    let error = Config::from_toml_str_with_env(text, &env_of(&[])).unwrap_err();
    assert_eq!(error.path, "providers[0].keys[1].secret");
    assert!(
        error.message.contains("`KEY_B`") && error.message.contains("not set"),
        "{error}"
    );

    let error = Config::from_toml_str_with_env(text, &env_of(&[("KEY_B", "")])).unwrap_err();
    assert!(error.message.contains("empty"), "{error}");

    let vk =
        "[[teams]]\nid = \"t\"\n[[virtual_keys]]\nid = \"k\"\nteam = \"t\"\nsecret = \"env:VK\"\n";
    let error = Config::from_toml_str_with_env(vk, &env_of(&[])).unwrap_err();
    assert_eq!(error.path, "virtual_keys[0].secret");
    assert!(error.message.contains("`VK`"), "{error}");

    let admin = "[governance]\nadmin_token = \"env:ADMIN\"\n";
    let error = Config::from_toml_str_with_env(admin, &env_of(&[])).unwrap_err();
    assert_eq!(error.path, "governance.admin_token");
    let error =
        Config::from_toml_str_with_env("[governance]\nadmin_token = \"env:\"\n", &env_of(&[]))
            .unwrap_err();
    assert!(error.message.contains("variable name"), "{error}");
}

#[test]
fn secrets_never_print() {
    let secret = Secret::new("sk-very-secret");
    assert_eq!(format!("{secret:?}"), "***");
    assert_eq!(format!("{secret}"), "***");
    assert_eq!(secret.expose(), "sk-very-secret");
    let text = "[[providers]]\nname = \"a\"\nkind = \"anthropic\"\nkeys = [{ secret = \"sk-very-secret\" }]\n\
                [governance]\nadmin_token = \"admin-very-secret\"\n\
                [[teams]]\nid = \"t\"\n[[virtual_keys]]\nid = \"k\"\nteam = \"t\"\nsecret = \"vk-very-secret\"\n";
    let config = parse(text).unwrap();
    let dumped = format!("{config:?}\n{config:#?}\n{}", config.summary());
    assert!(!dumped.contains("very-secret"), "{dumped}");
    assert!(dumped.contains("***"));
}

#[test]
fn summary_describes_the_config() {
    let text = format!("{REFERENCE_EXAMPLE}{BEDROCK_PROVIDER}");
    let summary = Config::from_toml_str_with_env(&text, &env_of(REFERENCE_ENV))
        .unwrap()
        .summary();
    assert!(
        summary.contains("listen 127.0.0.1:8080, admin 127.0.0.1:9090"),
        "{summary}"
    );
    assert!(
        summary.contains("anthropic (anthropic) https://api.anthropic.com [1 key]"),
        "{summary}"
    );
    assert!(
        summary.contains("claude-* -> anthropic, bedrock"),
        "{summary}"
    );
    assert!(
        summary.contains("virtual keys required, budget mode strict"),
        "{summary}"
    );
    assert!(
        summary.contains("customers 1, teams 1, virtual keys 1, pricing entries 1"),
        "{summary}"
    );
    let default = Config::embedded_default().summary();
    assert!(
        default.contains("client credentials pass through"),
        "{default}"
    );
}

#[test]
fn load_reads_a_file_and_reports_an_unreadable_one() {
    let dir = std::env::temp_dir().join(format!("sluice-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("sluice.toml");
    std::fs::write(&file, "[server]\nlisten = \"127.0.0.1:18181\"\n").unwrap();
    let config = Config::load(&file).unwrap();
    assert_eq!(config.server.listen.port(), 18181);
    let missing = dir.join("missing.toml");
    let error = Config::load(&missing).unwrap_err();
    assert!(error.message.contains("missing.toml"), "{error}");
    std::fs::remove_dir_all(&dir).unwrap();
}
