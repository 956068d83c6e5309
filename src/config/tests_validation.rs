//! Tests that every validation rule of the server, providers, budgets, rate limits, routes
//! and pricing rejects what it should, at the right path.

use super::*;

pub(super) fn error_of(text: &str) -> ConfigError {
    match Config::from_toml_str_with_env(text, &|_| None) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(error) => error,
    }
}

pub(super) fn assert_rejected(text: &str, path: &str, message_part: &str) {
    let error = error_of(text);
    assert_eq!(error.path, path, "{text}\n=> {error}");
    assert!(error.message.contains(message_part), "{text}\n=> {error}");
    assert!(
        error.to_string().starts_with(&format!("{path}: ")),
        "{error}"
    );
}

pub(super) fn parse_ok(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml_str_with_env(text, &|_| None)
}

const PROVIDER_A: &str = "[[providers]]\nname = \"a\"\nkind = \"anthropic\"\n";
pub(super) const TEAM_T: &str = "[[teams]]\nid = \"t\"\n";

#[test]
fn server_values_are_checked() {
    assert_rejected(
        "[server]\nlisten = \"localhost:8080\"\n",
        "server.listen",
        "IP:port",
    );
    assert_rejected(
        "[server]\nadmin_listen = \"\"\n",
        "server.admin_listen",
        "IP:port",
    );
    assert_rejected("[server]\ncores = 1025\n", "server.cores", "1024");
    assert_eq!(
        parse_ok("[server]\ncores = 1024\n").unwrap().server.cores,
        1024
    );
    assert_rejected(
        "[server]\nmax_body_bytes = 0\n",
        "server.max_body_bytes",
        "must be 1",
    );
    assert_rejected(
        "[server]\nmax_headers = 0\n",
        "server.max_headers",
        "must be 1",
    );
    assert_rejected(
        "[server]\nmax_headers = 1025\n",
        "server.max_headers",
        "1024",
    );
    assert_rejected(
        "[server]\naccess_log = \"\"\n",
        "server.access_log",
        "stderr",
    );
    for field in [
        "header_read_timeout_ms",
        "idle_timeout_ms",
        "stream_ping_ms",
        "drain_timeout_ms",
        "upstream_connect_timeout_ms",
        "upstream_read_timeout_ms",
        "upstream_idle_pool_ms",
    ] {
        assert_rejected(
            &format!("[server]\n{field} = 0\n"),
            &format!("server.{field}"),
            "greater than 0",
        );
    }
    assert_rejected("[server]\ncores = -1\n", "server.cores", "");
}

#[test]
fn provider_names_and_kinds_are_checked() {
    assert_rejected("providers = []\n", "providers", "at least one");
    assert_rejected(
        &PROVIDER_A.replace("\"a\"", "\"Big\""),
        "providers[0].name",
        "a-z 0-9",
    );
    assert_rejected(
        &PROVIDER_A.replace("\"a\"", "\"\""),
        "providers[0].name",
        "invalid provider name",
    );
    assert_rejected(
        &format!("{PROVIDER_A}{PROVIDER_A}"),
        "providers[1].name",
        "duplicate provider name `a`",
    );
    assert_rejected(
        &PROVIDER_A.replace("\"anthropic\"", "\"gemini\""),
        "providers[0].kind",
        "unknown kind `gemini`",
    );
}

#[test]
fn provider_urls_and_kind_specific_fields_are_checked() {
    let with = |extra: &str| format!("{PROVIDER_A}{extra}\n");
    assert_rejected(
        &with("base_url = \"ftp://x\""),
        "providers[0].base_url",
        "http or https",
    );
    assert_rejected(
        &with("base_url = \"https://x/?q=1\""),
        "providers[0].base_url",
        "query",
    );
    assert_rejected(
        &with("base_url = \"https://u:p@x\""),
        "providers[0].base_url",
        "user-info",
    );
    assert_rejected(
        &with("base_url = \"https://x:0\""),
        "providers[0].base_url",
        "port",
    );
    assert_rejected(
        &with("region = \"us-east-1\""),
        "providers[0].region",
        "only to kind `bedrock`",
    );
    assert_rejected(
        &with("project = \"p\""),
        "providers[0].project",
        "only to kind `vertex`",
    );
    assert_rejected(
        &with("location = \"l\""),
        "providers[0].location",
        "only to kind `vertex`",
    );
    assert_rejected(
        &with("api_version = \"v\""),
        "providers[0].api_version",
        "only to kind `azure_openai`",
    );
    assert_rejected(&with("ca_file = \"\""), "providers[0].ca_file", "file path");
    assert_rejected(
        &with("base_url = \"http://x\"\nca_file = \"/ca.pem\""),
        "providers[0].ca_file",
        "https",
    );
    assert_rejected(
        &with("model_map = { \"a\" = \"\" }"),
        "providers[0].model_map",
        "empty",
    );
    let kind = |kind: &str, extra: &str| {
        format!("[[providers]]\nname = \"p\"\nkind = \"{kind}\"\n{extra}\n")
    };
    assert_rejected(&kind("bedrock", ""), "providers[0]", "needs `region`");
    assert_rejected(
        &kind("bedrock", "region = \"us east\""),
        "providers[0].region",
        "invalid value",
    );
    assert_rejected(
        &kind("vertex", "location = \"us-east5\""),
        "providers[0]",
        "needs `project`",
    );
    assert_rejected(
        &kind("vertex", "project = \"p\""),
        "providers[0]",
        "needs `location`",
    );
    assert_rejected(
        &kind("azure_openai", ""),
        "providers[0]",
        "needs `base_url`",
    );
    assert_rejected(
        &kind("openai_compatible", ""),
        "providers[0]",
        "needs `base_url`",
    );
    assert_rejected(
        &kind("azure_openai", "base_url = \"https://r.openai.azure.com\""),
        "providers[0]",
        "needs `api_version`",
    );
    assert_rejected(&kind("openai", ""), "providers[0].keys", "needs `keys`");
    assert_rejected(
        &kind(
            "openai_compatible",
            "base_url = \"https://api.groq.com/openai/v1\"",
        ),
        "providers[0].keys",
        "needs `keys`",
    );
    let openai = parse_ok(&kind("openai", "keys = [{ secret = \"sk-test\" }]")).unwrap();
    assert_eq!(
        openai.providers[0].base_url.to_string(),
        "https://api.openai.com/v1"
    );
    let vertex = parse_ok(&kind("vertex", "project = \"p\"\nlocation = \"global\"")).unwrap();
    assert_eq!(
        vertex.providers[0].base_url.host,
        "aiplatform.googleapis.com"
    );
}

#[test]
fn provider_keys_are_checked() {
    let with = |keys: &str| format!("{PROVIDER_A}keys = [{keys}]\n");
    assert_rejected(
        &with("{ secret = \"\" }"),
        "providers[0].keys[0].secret",
        "empty",
    );
    assert_rejected(
        &with("{ secret = \"s\", weight = 0 }"),
        "providers[0].keys[0].weight",
        "must be 1",
    );
    assert_rejected(
        &with("{ secret = \"s\", weight = 4294967296 }"),
        "providers[0].keys[0].weight",
        "must be 1",
    );
    assert_rejected(
        &with("{ weight = 1 }"),
        "providers[0].keys[0]",
        "missing field `secret`",
    );
}

#[test]
fn keyless_providers_are_refused_when_virtual_keys_are_required() {
    assert_rejected(
        "[governance]\nrequire_virtual_key = true\n",
        "providers[0].keys",
        "provider `anthropic` has no keys",
    );
    let keyed = format!(
        "{PROVIDER_A}keys = [{{ secret = \"s\" }}]\n[governance]\nrequire_virtual_key = true\n"
    );
    assert!(parse_ok(&keyed).unwrap().governance.require_virtual_key);
}

#[test]
fn budgets_are_checked_everywhere() {
    let levels = [
        (
            format!("{PROVIDER_A}budgets = [BUDGET]\n"),
            "providers[0].budgets[0]",
        ),
        (
            "[[customers]]\nid = \"c\"\nbudgets = [BUDGET]\n".to_owned(),
            "customers[0].budgets[0]",
        ),
        (
            format!("{TEAM_T}budgets = [BUDGET]\n"),
            "teams[0].budgets[0]",
        ),
        (
            format!(
                "{TEAM_T}[[virtual_keys]]\nid = \"k\"\nteam = \"t\"\nsecret = \"s\"\nbudgets = [BUDGET]\n"
            ),
            "virtual_keys[0].budgets[0]",
        ),
    ];
    for (template, path) in &levels {
        let budget = |b: &str| template.replace("BUDGET", b);
        assert_rejected(
            &budget("{ max_usd = 0.0, reset = \"1d\" }"),
            &format!("{path}.max_usd"),
            "more than 0",
        );
        assert_rejected(
            &budget("{ max_usd = -5.0, reset = \"1d\" }"),
            &format!("{path}.max_usd"),
            "more than 0",
        );
        assert_rejected(
            &budget("{ max_usd = 0.0000001, reset = \"1d\" }"),
            &format!("{path}.max_usd"),
            "0.000001",
        );
        assert_rejected(
            &budget("{ max_usd = nan, reset = \"1d\" }"),
            &format!("{path}.max_usd"),
            "more than 0",
        );
        assert_rejected(
            &budget("{ max_usd = inf, reset = \"1d\" }"),
            &format!("{path}.max_usd"),
            "more than 0",
        );
        assert_rejected(
            &budget("{ max_usd = 1.0, reset = \"2d\" }"),
            &format!("{path}.reset"),
            "1m 5m 1h 1d 1w 1M 1Q 1Y",
        );
        assert_rejected(&budget("{ max_usd = 1.0 }"), path, "missing field `reset`");
        let config = parse_ok(&budget(
            "{ max_usd = 7, reset = \"1Q\", calendar_aligned = true }",
        ))
        .unwrap();
        let parsed = [
            config.providers[0].budgets.clone(),
            config
                .customers
                .first()
                .map(|c| c.budgets.clone())
                .unwrap_or_default(),
            config
                .teams
                .first()
                .map(|t| t.budgets.clone())
                .unwrap_or_default(),
            config
                .virtual_keys
                .first()
                .map(|k| k.budgets.clone())
                .unwrap_or_default(),
        ]
        .concat();
        assert_eq!(
            parsed,
            vec![Budget {
                max_micro_usd: 7_000_000,
                reset: ResetPeriod::Quarter,
                calendar_aligned: true
            }],
            "{path}"
        );
    }
}

#[test]
fn rate_limits_are_checked() {
    let with = |limit: &str| format!("[[customers]]\nid = \"c\"\nrate_limits = [{limit}]\n");
    assert_rejected(
        &with("{ window = \"1m\" }"),
        "customers[0].rate_limits[0]",
        "`requests`, `tokens` and/or `tool_calls`",
    );
    assert_rejected(
        &with("{ tool_calls = 0, window = \"1m\" }"),
        "customers[0].rate_limits[0].tool_calls",
        "greater than 0",
    );
    assert_rejected(
        &with("{ requests = 0, window = \"1m\" }"),
        "customers[0].rate_limits[0].requests",
        "greater than 0",
    );
    assert_rejected(
        &with("{ tokens = 0, window = \"1m\" }"),
        "customers[0].rate_limits[0].tokens",
        "greater than 0",
    );
    assert_rejected(
        &with("{ requests = 1, window = \"1w\" }"),
        "customers[0].rate_limits[0].window",
        "s, m, h, d",
    );
    assert_rejected(
        &with("{ requests = 1, window = \"0s\" }"),
        "customers[0].rate_limits[0].window",
        "longer than zero",
    );
    assert_rejected(
        &with("{ requests = 1 }"),
        "customers[0].rate_limits[0]",
        "missing field `window`",
    );
    let team = format!("{TEAM_T}rate_limits = [{{ tokens = 5, window = \"30s\" }}]\n");
    let config = parse_ok(&team).unwrap();
    assert_eq!(
        config.teams[0].rate_limits,
        vec![RateLimit {
            requests: None,
            tokens: Some(5),
            tool_calls: None,
            window: std::time::Duration::from_secs(30)
        }]
    );
}

#[test]
fn routes_are_checked() {
    let route = |body: &str| format!("{PROVIDER_A}[[routes]]\n{body}\n");
    assert_rejected(
        &route("match = \"\"\ntargets = [\"a\"]"),
        "routes[0].match",
        "empty",
    );
    assert_rejected(
        &route("match = \"x*\"\ntargets = []"),
        "routes[0].targets",
        "at least one",
    );
    assert_rejected(
        &route("match = \"x*\"\ntargets = [\"a\", \"b\"]"),
        "routes[0].targets[1]",
        "no provider named `b`",
    );
    assert_rejected(
        &route("match = \"x*\"\ntargets = [\"a\", \"a\"]"),
        "routes[0].targets[1]",
        "listed twice",
    );
    let twice = format!(
        "{PROVIDER_A}[[routes]]\nmatch = \"x*\"\ntargets = [\"a\"]\n[[routes]]\nmatch = \"x*\"\ntargets = [\"a\"]\n"
    );
    assert_rejected(&twice, "routes[1].match", "duplicate route");
}

#[test]
fn pricing_is_checked() {
    let price = |body: &str| format!("[[pricing]]\n{body}\n");
    assert_rejected(
        &price("model = \"\"\ninput = 1.0\noutput = 1.0"),
        "pricing[0].model",
        "empty",
    );
    assert_rejected(
        &price("model = \"m\"\ninput = -1.0\noutput = 1.0"),
        "pricing[0].input",
        "from 0",
    );
    assert_rejected(
        &price("model = \"m\"\ninput = 1.0\noutput = -0.5"),
        "pricing[0].output",
        "from 0",
    );
    assert_rejected(
        &price("model = \"m\"\ninput = 1.0\noutput = 1.0\ncache_write = -1.0"),
        "pricing[0].cache_write",
        "from 0",
    );
    assert_rejected(
        &price("model = \"m\"\ninput = 1.0\noutput = 1.0\ncache_read = nan"),
        "pricing[0].cache_read",
        "from 0",
    );
    assert_rejected(
        &price("model = \"m\"\ninput = 1e7\noutput = 1.0"),
        "pricing[0].input",
        "from 0",
    );
    assert_rejected(
        &price("model = \"m\"\ninput = 1.0"),
        "pricing[0]",
        "missing field `output`",
    );
    let twice = format!("{0}{0}", price("model = \"m\"\ninput = 1.0\noutput = 1.0"));
    assert_rejected(&twice, "pricing[1].model", "duplicate pricing");
    let defaults = parse_ok(&price("model = \"m\"\ninput = 0.25\noutput = 2")).unwrap();
    let entry = &defaults.pricing[0];
    assert_eq!(entry.input_pico_usd_per_token, 250_000);
    assert_eq!(entry.output_pico_usd_per_token, 2_000_000);
    assert_eq!(entry.cache_write_pico_usd_per_token, 250_000);
    assert_eq!(entry.cache_read_pico_usd_per_token, 250_000);
    assert_eq!(entry.max_output_tokens, None);
}

#[test]
fn a_prices_max_output_tokens_is_from_one_to_the_limit() {
    let price = |tokens: u64| {
        format!(
            "[[pricing]]\nmodel = \"m\"\ninput = 1.0\noutput = 1.0\nmax_output_tokens = {tokens}\n"
        )
    };
    let at_limit = parse_ok(&price(MAX_OUTPUT_TOKENS)).unwrap();
    assert_eq!(
        at_limit.pricing[0].max_output_tokens,
        Some(MAX_OUTPUT_TOKENS)
    );
    assert_rejected(
        &price(MAX_OUTPUT_TOKENS + 1),
        "pricing[0].max_output_tokens",
        "from 1",
    );
    assert_rejected(&price(0), "pricing[0].max_output_tokens", "from 1");
    assert_eq!(
        parse_ok(&price(1)).unwrap().pricing[0].max_output_tokens,
        Some(1)
    );
}
