//! The raw TOML shape (docs/ARCHITECTURE.md, "Configuration"), exactly as serde reads it,
//! before any validation.
//!
//! Every table rejects unknown keys (`deny_unknown_fields`) so a typo such as `lisen` is an
//! error carrying the key's path instead of a silently ignored setting; a `[[providers]]`
//! entry keeps the keys outside the common ones for its kind to accept or refuse. Values stay close to
//! their text form (addresses, URLs and secrets as strings, amounts as floats) so that
//! `validate` can report a precise path and message when one is wrong.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

/// The whole file. Every section is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    pub server: RawServer,
    pub providers: Option<Vec<RawProvider>>,
    pub routes: Vec<RawRoute>,
    pub routing: super::routing::RawRouting,
    pub governance: RawGovernance,
    pub customers: Vec<RawCustomer>,
    pub teams: Vec<RawTeam>,
    pub virtual_keys: Vec<RawVirtualKey>,
    pub pricing: Vec<RawPrice>,
    pub telemetry: Option<super::telemetry::RawTelemetry>,
    pub audit: Option<super::audit::RawAudit>,
    pub mcp_servers: Vec<super::mcp::RawMcpServer>,
}

/// `[server]`: listeners, limits and timeouts. Defaults live in `types::ServerConfig`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawServer {
    pub listen: Option<String>,
    pub admin_listen: Option<String>,
    pub cores: Option<u64>,
    pub max_body_bytes: Option<u64>,
    pub max_headers: Option<u64>,
    pub header_read_timeout_ms: Option<u64>,
    pub idle_timeout_ms: Option<u64>,
    pub stream_ping_ms: Option<u64>,
    pub drain_timeout_ms: Option<u64>,
    pub upstream_connect_timeout_ms: Option<u64>,
    pub upstream_read_timeout_ms: Option<u64>,
    pub upstream_idle_pool_ms: Option<u64>,
    pub spin_before_park_us: Option<u64>,
    pub access_log: Option<String>,
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
    pub tls_client_ca: Option<String>,
    pub admin_tls_cert: Option<String>,
    pub admin_tls_key: Option<String>,
    pub admin_tls_client_ca: Option<String>,
    pub egress_proxy: Option<String>,
    pub max_upstream_event_bytes: Option<u64>,
    pub max_upstream_body_bytes: Option<u64>,
    pub max_connections: Option<u64>,
    pub max_auth_failures_per_minute: Option<u64>,
}

/// One `[[providers]]` entry: the keys common to every kind, typed, and the kind-specific
/// rest kept as written in `options` for the kind's own module to check (see
/// `kind_rules`). Unknown keys are therefore refused by the kind, with their path and line.
#[derive(Debug)]
pub struct RawProvider {
    pub name: String,
    pub kind: String,
    pub base_url: Option<String>,
    pub egress_proxy: Option<String>,
    pub keys: Vec<RawProviderKey>,
    pub ca_file: Option<String>,
    pub budgets: Vec<RawBudget>,
    pub model_map: super::model_map::ModelMap,
    /// Every other key of the entry, as written.
    pub options: toml::Table,
    /// Each option's key, byte offset and (filled in once the text is at hand) line.
    pub option_lines: Vec<(String, usize, usize)>,
}

impl<'de> Deserialize<'de> for RawProvider {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ProviderVisitor;
        impl<'de> Visitor<'de> for ProviderVisitor {
            type Value = RawProvider;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a [[providers]] table")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawProvider, A::Error> {
                let (mut name, mut kind) = (None, None);
                let mut provider = RawProvider {
                    name: String::new(),
                    kind: String::new(),
                    base_url: None,
                    egress_proxy: None,
                    keys: Vec::new(),
                    ca_file: None,
                    budgets: Vec::new(),
                    model_map: super::model_map::ModelMap::default(),
                    options: toml::Table::new(),
                    option_lines: Vec::new(),
                };
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "name" => name = Some(map.next_value()?),
                        "kind" => kind = Some(map.next_value()?),
                        "base_url" => provider.base_url = Some(map.next_value()?),
                        "egress_proxy" => provider.egress_proxy = Some(map.next_value()?),
                        "keys" => provider.keys = map.next_value()?,
                        "ca_file" => provider.ca_file = Some(map.next_value()?),
                        "budgets" => provider.budgets = map.next_value()?,
                        "model_map" => provider.model_map = map.next_value()?,
                        _ => {
                            let value: toml::Spanned<toml::Value> = map.next_value()?;
                            provider
                                .option_lines
                                .push((key.clone(), value.span().start, 0));
                            provider.options.insert(key, value.into_inner());
                        }
                    }
                }
                provider.name = name.ok_or_else(|| de::Error::missing_field("name"))?;
                provider.kind = kind.ok_or_else(|| de::Error::missing_field("kind"))?;
                Ok(provider)
            }
        }
        deserializer.deserialize_map(ProviderVisitor)
    }
}

/// One upstream credential of a provider.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProviderKey {
    #[serde(default)]
    pub id: Option<String>,
    pub secret: String,
    #[serde(default)]
    pub weight: Option<u64>,
}

/// `{ max_usd, reset, calendar_aligned }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBudget {
    pub max_usd: f64,
    pub reset: String,
    #[serde(default)]
    pub calendar_aligned: bool,
}

/// `{ requests, tokens, tool_calls, window }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRateLimit {
    #[serde(default)]
    pub requests: Option<u64>,
    #[serde(default)]
    pub tokens: Option<u64>,
    #[serde(default)]
    pub tool_calls: Option<u64>,
    pub window: String,
}

/// One `[[routes]]` entry: a glob over bare model names and its failover order.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    #[serde(rename = "match")]
    pub pattern: String,
    pub targets: Vec<String>,
}

/// `[governance]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawGovernance {
    pub require_virtual_key: Option<bool>,
    pub state_dir: Option<String>,
    pub budget_mode: Option<String>,
    pub admin_token: Option<String>,
    pub backend: Option<String>,
    pub redis_url: Option<String>,
    pub redis_key_prefix: Option<String>,
    pub instance_id: Option<String>,
    pub on_backend_error: Option<String>,
    pub expected_instances: Option<u64>,
}

/// One `[[customers]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCustomer {
    pub id: String,
    #[serde(default)]
    pub budgets: Vec<RawBudget>,
    #[serde(default)]
    pub rate_limits: Vec<RawRateLimit>,
}

/// One `[[teams]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTeam {
    pub id: String,
    #[serde(default)]
    pub customer: Option<String>,
    #[serde(default)]
    pub budgets: Vec<RawBudget>,
    #[serde(default)]
    pub rate_limits: Vec<RawRateLimit>,
    #[serde(default)]
    pub models: Vec<String>,
    #[serde(default)]
    pub mcp_tools: Option<Vec<String>>,
}

/// One `[[virtual_keys]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVirtualKey {
    pub id: String,
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub secret_sha256: Option<String>,
    pub team: String,
    #[serde(default)]
    pub customer: Option<String>,
    #[serde(default)]
    pub budgets: Vec<RawBudget>,
    #[serde(default)]
    pub rate_limits: Vec<RawRateLimit>,
    #[serde(default)]
    pub models: Vec<String>,
    #[serde(default)]
    pub expires_at: Option<RawTimestamp>,
    #[serde(default)]
    pub mcp_tools: Option<Vec<String>>,
}

/// `expires_at` written either as a quoted string or as a bare TOML datetime.
#[derive(Debug)]
pub enum RawTimestamp {
    Text(String),
    Toml(toml::value::Datetime),
}

impl<'de> Deserialize<'de> for RawTimestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TimestampVisitor;
        impl<'de> Visitor<'de> for TimestampVisitor {
            type Value = RawTimestamp;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an RFC 3339 timestamp such as 2026-12-31T23:59:59Z")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<RawTimestamp, E> {
                Ok(RawTimestamp::Text(text.to_owned()))
            }
            // toml hands a bare datetime to `deserialize_any` as a one-entry private map.
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawTimestamp, A::Error> {
                toml::value::Datetime::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(RawTimestamp::Toml)
            }
        }
        deserializer.deserialize_any(TimestampVisitor)
    }
}

/// One `[[pricing]]` entry, in USD per million tokens.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPrice {
    pub model: String,
    pub input: f64,
    pub output: f64,
    #[serde(default)]
    pub cache_write: Option<f64>,
    #[serde(default)]
    pub cache_read: Option<f64>,
    #[serde(default)]
    pub max_output_tokens: Option<u64>,
}
