//! The gateway's configuration: the TOML file (docs/ARCHITECTURE.md, "Configuration") read
//! into one validated, immutable `Config` (unknown keys are errors that name the key's path).
//!
//! Reading is two steps: `schema` deserializes the raw shape (serde, `deny_unknown_fields`,
//! paths tracked by `serde_path_to_error`), then `validate` types, resolves and cross-checks
//! it. A `[[providers]]` entry's kind-specific keys are kept as written and checked by the
//! kind's own module through the [`KindRules`] port (the loaders that pass it in live in
//! `providers::load`). Every section is optional; an empty file is the embedded default.

mod audit;
mod base_url;
mod duration;
mod egress;
mod glob;
mod kind_rules;
mod listener_tls;
mod mcp;
mod model_map;
mod peer_limits;
mod routing;
mod schema;
mod secret;
mod telemetry;
mod timestamp;
mod types;
mod validate;
mod validate_backend;
mod validate_governance;
mod validate_provider;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_audit;
#[cfg(test)]
mod tests_backend;
#[cfg(test)]
mod tests_governance;
#[cfg(test)]
mod tests_mcp;
#[cfg(test)]
mod tests_parsers;
#[cfg(test)]
mod tests_validation;

use std::fmt;

pub use audit::*;
pub use base_url::{BaseUrl, MAX_HOST_LEN};
pub use duration::{MAX_RATE_WINDOW, ResetPeriod, parse_window};
pub use egress::{DEFAULT_PROXY_PORT, EgressProxy, NO_EGRESS_PROXY, no_proxy_matches};
pub use glob::glob_match;
pub use kind_rules::{KindRules, OptionError};
pub use listener_tls::{ListenerTls, ListenersTls, TlsKeySource};
pub use mcp::{
    DEFAULT_MCP_CALL_TIMEOUT_MS, MAX_MCP_CALL_TIMEOUT_MS, MAX_MCP_SERVER_NAME_LEN,
    MAX_MCP_TOOL_GLOBS, McpServerConfig, McpTransportConfig, valid_mcp_server_name,
};
pub use model_map::ModelMap;
pub use peer_limits::*;
pub use routing::{
    DEFAULT_RETRY_ON, MAX_ATTEMPTS_LIMIT, MAX_ROUTING_MS, NEVER_RETRY, RoutingConfig,
};
pub use secret::{ENV_SECRET_PREFIX, Secret, SecretError, resolve_secret};
pub use telemetry::*;
pub use timestamp::parse_rfc3339_unix_secs;
pub use types::*;
pub use validate::{
    MAX_BUDGET_USD, MAX_OUTPUT_TOKENS, MAX_PRICE_USD_PER_MTOK, usd_per_mtok_to_pico_per_token,
    usd_to_micro_usd,
};
pub use validate_governance::MAX_ID_LEN;
pub use validate_provider::MAX_PROVIDER_NAME_LEN;

/// The validated configuration, shared read-only by every shard (swapped whole on reload).
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub server: ServerConfig,
    /// At least one; unique names. Defaults to one keyless `anthropic` provider.
    pub providers: Vec<ProviderConfig>,
    pub routes: Vec<RouteConfig>,
    /// `[routing]`: failover and circuit-breaker settings.
    pub routing: RoutingConfig,
    pub governance: GovernanceConfig,
    pub customers: Vec<CustomerConfig>,
    pub teams: Vec<TeamConfig>,
    pub virtual_keys: Vec<VirtualKeyConfig>,
    pub pricing: Vec<ModelPrice>,
    /// `[telemetry]`: `None` (tracing off) unless `otlp_endpoint` is set.
    pub telemetry: Option<TelemetryConfig>,
    /// `[audit]`: `None` (no audit log) unless the section is present.
    pub audit: Option<AuditConfig>,
    /// `[[mcp_servers]]`: unique names, each a valid tool prefix.
    pub mcp_servers: Vec<McpServerConfig>,
}

/// Why a config was rejected: where (`server.lisen`, `providers[1].keys[0].secret`; empty for
/// the whole file) and what, plus the 1-based line when the TOML reader knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub path: String,
    pub message: String,
    pub line: Option<usize>,
}

impl ConfigError {
    /// An error at `path` (no line known).
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            path: path.into(),
            message: message.into(),
            line: None,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let Some(line) = self.line {
            write!(f, " (line {line})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Parses and validates `text`, resolving `env:NAME` secrets through `env` and handing
    /// each provider's kind-specific options to `kinds`. The loaders (`Config::load`,
    /// `Config::from_toml_str`) live with the provider registry that they pass here
    /// (`providers::load`).
    pub fn parse_with(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
        kinds: &dyn KindRules,
    ) -> Result<Config, ConfigError> {
        let raw = parse_raw(text)?;
        validate::validate(raw, env, kinds)
    }

    /// The configuration used without a file: listen on 127.0.0.1:8080, admin on
    /// 127.0.0.1:9090, one `anthropic` provider with no keys (the client's own credentials
    /// pass through), no routes, virtual keys optional. Equal to parsing an empty file.
    pub fn embedded_default() -> Config {
        Config {
            server: ServerConfig::default(),
            providers: vec![validate_provider::default_anthropic_provider()],
            routes: Vec::new(),
            routing: RoutingConfig::default(),
            governance: GovernanceConfig::default(),
            customers: Vec::new(),
            teams: Vec::new(),
            virtual_keys: Vec::new(),
            pricing: Vec::new(),
            telemetry: None,
            audit: None,
            mcp_servers: Vec::new(),
        }
    }

    /// The provider named `name`.
    pub fn provider(&self, name: &str) -> Option<&ProviderConfig> {
        self.providers.iter().find(|p| p.name == name)
    }

    /// A few lines describing the config, for `sluice check-config` (never prints secrets).
    pub fn summary(&self) -> String {
        let server = &self.server;
        let admin = server
            .admin_listen
            .map_or_else(|| "off".to_owned(), |a| a.to_string());
        let cores = match server.cores {
            0 => "all online cores".to_owned(),
            n => format!("first {n} cores"),
        };
        let mut out = format!("listen {}, admin {admin}, {cores}\n", server.listen);
        out.push_str(&format!("providers ({}):\n", self.providers.len()));
        for provider in &self.providers {
            let keys = match provider.keys.len() {
                0 => "no keys: client credentials pass through".to_owned(),
                1 => "1 key".to_owned(),
                n => format!("{n} keys"),
            };
            out.push_str(&format!(
                "  {} ({}) {} [{keys}]\n",
                provider.name, provider.kind, provider.base_url
            ));
        }
        out.push_str(&format!("routes ({}):\n", self.routes.len()));
        for route in &self.routes {
            out.push_str(&format!(
                "  {} -> {}\n",
                route.pattern,
                route.targets.join(", ")
            ));
        }
        let governance = &self.governance;
        out.push_str(&format!(
            "governance: virtual keys {}, budget mode {}, state dir {}\n",
            if governance.require_virtual_key {
                "required"
            } else {
                "optional"
            },
            governance.budget_mode.as_str(),
            governance.state_dir.display()
        ));
        out.push_str(&format!(
            "customers {}, teams {}, virtual keys {}, pricing entries {}\n",
            self.customers.len(),
            self.teams.len(),
            self.virtual_keys.len(),
            self.pricing.len()
        ));
        out
    }
}

/// TOML text → raw shape, with the failing key's path and line on error.
fn parse_raw(text: &str) -> Result<schema::RawConfig, ConfigError> {
    let line_of = |error: &toml::de::Error| {
        error.span().map(|span| {
            let before = text.get(..span.start).unwrap_or(text);
            before.bytes().filter(|&b| b == b'\n').count() + 1
        })
    };
    let deserializer = toml::Deserializer::parse(text).map_err(|error| ConfigError {
        path: String::new(),
        message: error.message().to_owned(),
        line: line_of(&error),
    })?;
    let mut raw: schema::RawConfig =
        serde_path_to_error::deserialize(deserializer).map_err(|error| {
            let path = error.path().to_string();
            let inner = error.inner();
            ConfigError {
                path: if path == "." { String::new() } else { path },
                message: inner.message().to_owned(),
                line: line_of(inner),
            }
        })?;
    // Where each kind-specific option was written, so a kind's refusal names the line too.
    for provider in raw.providers.iter_mut().flatten() {
        for (_, start, line) in &mut provider.option_lines {
            let before = text.get(..*start).unwrap_or(text);
            *line = before.bytes().filter(|&b| b == b'\n').count() + 1;
        }
    }
    Ok(raw)
}
