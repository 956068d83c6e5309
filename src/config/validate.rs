//! Turns the raw TOML shape into the typed `Config`: parses addresses, URLs and durations,
//! resolves secrets, converts money to integers, and cross-checks references, reporting the
//! first problem with the path of the offending key.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::duration::{ResetPeriod, parse_window};
use super::kind_rules::KindRules;
use super::schema::{RawBudget, RawConfig, RawPrice, RawRateLimit, RawRoute, RawServer};
use super::secret::{Secret, resolve_secret};
use super::types::{
    AccessLogTarget, Budget, MAX_BODY_BYTES_LIMIT, MAX_CORES, MAX_HEADERS_LIMIT, MICRO_USD_PER_USD,
    ModelPrice, PICO_USD_PER_TOKEN_PER_USD_PER_MTOK, ProviderConfig, RateLimit, RouteConfig,
    ServerConfig,
};
use super::validate_governance::validate_governance;
use super::validate_provider::{default_anthropic_provider, validate_providers};
use super::{Config, ConfigError};

/// Looks an environment variable up (real environment, or a test's map).
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Largest dollar amount accepted for a budget (keeps every counter far from overflow).
pub const MAX_BUDGET_USD: f64 = 1.0e9;
/// Largest accepted price, in USD per million tokens.
pub const MAX_PRICE_USD_PER_MTOK: f64 = 1.0e6;
/// Largest accepted `[[pricing]].max_output_tokens`.
pub const MAX_OUTPUT_TOKENS: u64 = 10_000_000;

/// Validates the whole file.
pub fn validate(
    raw: RawConfig,
    env: EnvLookup<'_>,
    kinds: &dyn KindRules,
) -> Result<Config, ConfigError> {
    let listeners_tls = super::listener_tls::validate_listeners_tls(&raw.server, env)?;
    let server_egress = raw.server.egress_proxy.clone();
    let provider_egress: Vec<Option<String>> = raw
        .providers
        .iter()
        .flatten()
        .map(|p| p.egress_proxy.clone())
        .collect();
    let mut server = validate_server(raw.server)?;
    server.tls = listeners_tls;
    let providers = match raw.providers {
        None => vec![default_anthropic_provider()],
        Some(list) if list.is_empty() => {
            return Err(ConfigError::new(
                "providers",
                "at least one provider is needed",
            ));
        }
        Some(list) => validate_providers(list, env, kinds)?,
    };
    let mut providers = providers;
    super::egress::resolve_egress(
        &mut providers,
        &provider_egress,
        server_egress.as_deref(),
        env,
    )?;
    let telemetry = super::telemetry::validate_telemetry(raw.telemetry, env)?;
    let routes = validate_routes(raw.routes, &providers)?;
    let routing = super::routing::validate_routing(raw.routing)?;
    let pricing = validate_pricing(raw.pricing)?;
    let mcp_servers = super::mcp::validate_mcp_servers(raw.mcp_servers, env)?;
    let governed = validate_governance(
        raw.governance,
        raw.customers,
        raw.teams,
        raw.virtual_keys,
        env,
    )?;
    if governed.governance.require_virtual_key
        && let Some((index, provider)) = providers
            .iter()
            .enumerate()
            .find(|(_, p)| p.keys.is_empty())
    {
        return Err(ConfigError::new(
            format!("providers[{index}].keys"),
            format!(
                "provider `{}` has no keys, but governance.require_virtual_key = true means \
                     clients send virtual keys, which are never forwarded; give it keys",
                provider.name
            ),
        ));
    }
    let audit = super::audit::validate_audit(raw.audit, &governed.governance.state_dir)?;
    Ok(Config {
        server,
        providers,
        routes,
        routing,
        governance: governed.governance,
        customers: governed.customers,
        teams: governed.teams,
        audit,
        virtual_keys: governed.virtual_keys,
        pricing,
        telemetry,
        mcp_servers,
    })
}

fn validate_server(raw: RawServer) -> Result<ServerConfig, ConfigError> {
    let defaults = ServerConfig::default();
    let listen = match raw.listen {
        None => defaults.listen,
        Some(text) => parse_socket_addr("server.listen", &text)?,
    };
    let admin_listen = match raw.admin_listen.as_deref() {
        None => defaults.admin_listen,
        Some("off") => None,
        Some(text) => Some(parse_socket_addr("server.admin_listen", text)?),
    };
    let cores = match raw.cores {
        None => defaults.cores,
        Some(n) => match usize::try_from(n) {
            Ok(n) if n <= MAX_CORES => n,
            _ => {
                return Err(ConfigError::new(
                    "server.cores",
                    format!("must be 0 (all online cores) to {MAX_CORES}"),
                ));
            }
        },
    };
    let max_body_bytes = match raw.max_body_bytes {
        None => defaults.max_body_bytes,
        Some(n) if (1..=MAX_BODY_BYTES_LIMIT).contains(&n) => n,
        Some(_) => {
            return Err(ConfigError::new(
                "server.max_body_bytes",
                format!("must be 1 to {MAX_BODY_BYTES_LIMIT}"),
            ));
        }
    };
    let max_headers = match raw.max_headers.map(usize::try_from) {
        None => defaults.max_headers,
        Some(Ok(n)) if (1..=MAX_HEADERS_LIMIT).contains(&n) => n,
        Some(_) => {
            return Err(ConfigError::new(
                "server.max_headers",
                format!("must be 1 to {MAX_HEADERS_LIMIT}"),
            ));
        }
    };
    let access_log = match raw.access_log.as_deref() {
        None => defaults.access_log,
        Some("stderr") => AccessLogTarget::Stderr,
        Some("off") => AccessLogTarget::Off,
        Some("") => {
            return Err(ConfigError::new(
                "server.access_log",
                "must be \"stderr\", \"off\" or a file path",
            ));
        }
        Some(path) => AccessLogTarget::File(PathBuf::from(path)),
    };
    let timeout = |name: &str, value: Option<u64>, default: Duration| match value {
        None => Ok(default),
        Some(0) => Err(ConfigError::new(
            format!("server.{name}"),
            "must be greater than 0",
        )),
        Some(ms) => Ok(Duration::from_millis(ms)),
    };
    Ok(ServerConfig {
        listen,
        admin_listen,
        cores,
        max_body_bytes,
        max_headers,
        header_read_timeout: timeout(
            "header_read_timeout_ms",
            raw.header_read_timeout_ms,
            defaults.header_read_timeout,
        )?,
        idle_timeout: timeout(
            "idle_timeout_ms",
            raw.idle_timeout_ms,
            defaults.idle_timeout,
        )?,
        stream_ping: timeout("stream_ping_ms", raw.stream_ping_ms, defaults.stream_ping)?,
        drain_timeout: timeout(
            "drain_timeout_ms",
            raw.drain_timeout_ms,
            defaults.drain_timeout,
        )?,
        upstream_connect_timeout: timeout(
            "upstream_connect_timeout_ms",
            raw.upstream_connect_timeout_ms,
            defaults.upstream_connect_timeout,
        )?,
        upstream_read_timeout: timeout(
            "upstream_read_timeout_ms",
            raw.upstream_read_timeout_ms,
            defaults.upstream_read_timeout,
        )?,
        upstream_idle_pool: timeout(
            "upstream_idle_pool_ms",
            raw.upstream_idle_pool_ms,
            defaults.upstream_idle_pool,
        )?,
        spin_before_park: match raw.spin_before_park_us {
            None => defaults.spin_before_park,
            Some(us) if us <= MAX_SPIN_BEFORE_PARK_US => Duration::from_micros(us),
            Some(us) => {
                return Err(ConfigError::new(
                    "server.spin_before_park_us",
                    format!("{us} is more than the {MAX_SPIN_BEFORE_PARK_US} µs allowed"),
                ));
            }
        },
        limits: super::peer_limits::validate_peer_limits(super::peer_limits::RawPeerLimits {
            max_upstream_event_bytes: raw.max_upstream_event_bytes,
            max_upstream_body_bytes: raw.max_upstream_body_bytes,
            max_connections: raw.max_connections,
            max_auth_failures_per_minute: raw.max_auth_failures_per_minute,
        })?,
        access_log,
        tls: defaults.tls,
    })
}

/// Longest idle spin a shard may be configured for (10 ms).
pub const MAX_SPIN_BEFORE_PARK_US: u64 = 10_000;

fn parse_socket_addr(path: &str, text: &str) -> Result<SocketAddr, ConfigError> {
    text.parse().map_err(|_| {
        ConfigError::new(
            path,
            format!(
                "invalid address `{text}`: expected IP:port such as 127.0.0.1:8080 or [::1]:8080"
            ),
        )
    })
}

fn validate_routes(
    raw: Vec<RawRoute>,
    providers: &[ProviderConfig],
) -> Result<Vec<RouteConfig>, ConfigError> {
    let mut patterns = HashSet::new();
    let mut routes = Vec::with_capacity(raw.len());
    for (index, route) in raw.into_iter().enumerate() {
        let path = format!("routes[{index}]");
        if route.pattern.is_empty() {
            return Err(ConfigError::new(
                format!("{path}.match"),
                "must not be empty",
            ));
        }
        if !patterns.insert(route.pattern.clone()) {
            return Err(ConfigError::new(
                format!("{path}.match"),
                format!(
                    "duplicate route `{}`: an earlier route already takes these models",
                    route.pattern
                ),
            ));
        }
        if route.targets.is_empty() {
            return Err(ConfigError::new(
                format!("{path}.targets"),
                "needs at least one provider",
            ));
        }
        for (target_index, target) in route.targets.iter().enumerate() {
            let target_path = format!("{path}.targets[{target_index}]");
            let provider = target.split_once('/').map_or(target.as_str(), |(p, _)| p);
            if target.split_once('/').is_some_and(|(_, m)| m.is_empty()) {
                return Err(ConfigError::new(
                    target_path,
                    format!("`{target}` names no model after the `/`"),
                ));
            }
            if !providers.iter().any(|p| p.name == provider) {
                return Err(ConfigError::new(
                    target_path,
                    format!("no provider named `{provider}`"),
                ));
            }
            if route.targets[..target_index].contains(target) {
                return Err(ConfigError::new(
                    target_path,
                    format!("`{target}` is listed twice"),
                ));
            }
        }
        routes.push(RouteConfig {
            pattern: route.pattern,
            targets: route.targets,
        });
    }
    Ok(routes)
}

fn validate_pricing(raw: Vec<RawPrice>) -> Result<Vec<ModelPrice>, ConfigError> {
    let mut patterns = HashSet::new();
    let mut prices = Vec::with_capacity(raw.len());
    for (index, price) in raw.into_iter().enumerate() {
        let path = format!("pricing[{index}]");
        if price.model.is_empty() {
            return Err(ConfigError::new(
                format!("{path}.model"),
                "must not be empty",
            ));
        }
        if !patterns.insert(price.model.clone()) {
            return Err(ConfigError::new(
                format!("{path}.model"),
                format!("duplicate pricing for `{}`", price.model),
            ));
        }
        let rate = |field: &str, usd: f64| {
            usd_per_mtok_to_pico_per_token(usd).ok_or_else(|| {
                ConfigError::new(
                    format!("{path}.{field}"),
                    format!("must be a number from 0 to {MAX_PRICE_USD_PER_MTOK} (USD per million tokens)"),
                )
            })
        };
        let input = rate("input", price.input)?;
        let output = rate("output", price.output)?;
        let cache_write = match price.cache_write {
            None => input,
            Some(usd) => rate("cache_write", usd)?,
        };
        let cache_read = match price.cache_read {
            None => input,
            Some(usd) => rate("cache_read", usd)?,
        };
        if let Some(tokens) = price.max_output_tokens
            && !(1..=MAX_OUTPUT_TOKENS).contains(&tokens)
        {
            return Err(ConfigError::new(
                format!("{path}.max_output_tokens"),
                format!("must be from 1 to {MAX_OUTPUT_TOKENS}"),
            ));
        }
        prices.push(ModelPrice {
            pattern: price.model,
            input_pico_usd_per_token: input,
            output_pico_usd_per_token: output,
            cache_write_pico_usd_per_token: cache_write,
            cache_read_pico_usd_per_token: cache_read,
            max_output_tokens: price.max_output_tokens,
        });
    }
    Ok(prices)
}

/// USD per million tokens → pico-dollars per token (the same number as micro-dollars per
/// million tokens), rounded to the nearest unit.
pub fn usd_per_mtok_to_pico_per_token(usd: f64) -> Option<u64> {
    if !usd.is_finite() || !(0.0..=MAX_PRICE_USD_PER_MTOK).contains(&usd) {
        return None;
    }
    // In range, so the product is at most 1e12 and the cast is exact.
    Some((usd * PICO_USD_PER_TOKEN_PER_USD_PER_MTOK as f64).round() as u64)
}

/// USD → micro-dollars, rounded to the nearest; `None` unless finite and within 0..=MAX.
pub fn usd_to_micro_usd(usd: f64) -> Option<u64> {
    if !usd.is_finite() || !(0.0..=MAX_BUDGET_USD).contains(&usd) {
        return None;
    }
    // In range, so the product is at most 1e15 and the cast is exact.
    Some((usd * MICRO_USD_PER_USD as f64).round() as u64)
}

/// Validates a `budgets` list at `path`.
pub fn validate_budgets(path: &str, raw: &[RawBudget]) -> Result<Vec<Budget>, ConfigError> {
    raw.iter()
        .enumerate()
        .map(|(index, budget)| {
            let max_micro_usd = match usd_to_micro_usd(budget.max_usd) {
                Some(micro) if micro > 0 => micro,
                _ => {
                    return Err(ConfigError::new(
                        format!("{path}[{index}].max_usd"),
                        format!(
                            "must be more than 0 and at most {MAX_BUDGET_USD} (at least 0.000001)"
                        ),
                    ));
                }
            };
            let reset = ResetPeriod::parse(&budget.reset)
                .map_err(|m| ConfigError::new(format!("{path}[{index}].reset"), m))?;
            Ok(Budget {
                max_micro_usd,
                reset,
                calendar_aligned: budget.calendar_aligned,
            })
        })
        .collect()
}

/// Validates a `rate_limits` list at `path`.
pub fn validate_rate_limits(
    path: &str,
    raw: &[RawRateLimit],
) -> Result<Vec<RateLimit>, ConfigError> {
    raw.iter()
        .enumerate()
        .map(|(index, limit)| {
            let item = format!("{path}[{index}]");
            if limit.requests.is_none() && limit.tokens.is_none() && limit.tool_calls.is_none() {
                return Err(ConfigError::new(
                    item,
                    "needs `requests`, `tokens` and/or `tool_calls`",
                ));
            }
            for (field, value) in [
                ("requests", limit.requests),
                ("tokens", limit.tokens),
                ("tool_calls", limit.tool_calls),
            ] {
                if value == Some(0) {
                    return Err(ConfigError::new(
                        format!("{item}.{field}"),
                        "must be greater than 0",
                    ));
                }
            }
            let window = parse_window(&limit.window)
                .map_err(|m| ConfigError::new(format!("{item}.window"), m))?;
            Ok(RateLimit {
                requests: limit.requests,
                tokens: limit.tokens,
                tool_calls: limit.tool_calls,
                window,
            })
        })
        .collect()
}

/// Resolves a secret spec, reporting failures at `path`.
pub fn secret_at(path: &str, spec: &str, env: EnvLookup<'_>) -> Result<Secret, ConfigError> {
    resolve_secret(spec, env).map_err(|e| ConfigError::new(path, e.to_string()))
}
