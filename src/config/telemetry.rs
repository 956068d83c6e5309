//! `[telemetry]`: where OTLP traces go and what they carry (raw shape, typed form,
//! validation). Tracing is off unless `otlp_endpoint` is set.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use super::secret::{Secret, resolve_secret};

/// Default `service.name` resource attribute.
pub const DEFAULT_SERVICE_NAME: &str = "sluice";
/// Default timeout of one export POST.
pub const DEFAULT_OTLP_TIMEOUT: Duration = Duration::from_millis(10_000);
/// Longest accepted `timeout_ms` (one minute).
pub const MAX_OTLP_TIMEOUT_MS: u64 = 60_000;
/// Most export headers accepted.
pub const MAX_OTLP_HEADERS: usize = 32;
/// Most resource attributes accepted.
pub const MAX_RESOURCE_ATTRIBUTES: usize = 64;

/// `[telemetry]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawTelemetry {
    pub otlp_endpoint: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub service_name: Option<String>,
    pub sample_ratio: Option<f64>,
    pub resource_attributes: BTreeMap<String, String>,
    pub capture_content: Option<bool>,
    pub timeout_ms: Option<u64>,
}

/// `[telemetry]`, typed. Present in `Config` only when `otlp_endpoint` is set.
#[derive(Clone, Debug, PartialEq)]
pub struct TelemetryConfig {
    /// `http://` or `https://` base; spans go to `{otlp_endpoint}/v1/traces`.
    pub otlp_endpoint: String,
    /// Sent with every export (vendor auth); values may come from `env:NAME`.
    pub headers: Vec<(String, Secret)>,
    pub service_name: String,
    /// Fraction of new traces kept, 0.0 to 1.0 (default 1.0). An incoming sampled
    /// `traceparent` is always followed.
    pub sample_ratio: f64,
    pub resource_attributes: Vec<(String, String)>,
    /// Tool-call inputs become span event attributes only when true.
    pub capture_content: bool,
    pub timeout: Duration,
}

/// Validates `[telemetry]`, resolving `env:` header values through `env`.
pub fn validate_telemetry(
    raw: Option<RawTelemetry>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<TelemetryConfig>, ConfigError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let Some(endpoint) = raw.otlp_endpoint else {
        if raw.headers.is_empty() && raw.resource_attributes.is_empty() {
            return Ok(None);
        }
        return Err(ConfigError::new(
            "telemetry.otlp_endpoint",
            "is required when headers or resource_attributes are set",
        ));
    };
    let endpoint = endpoint.trim_end_matches('/').to_owned();
    let scheme_ok = endpoint
        .strip_prefix("http://")
        .or_else(|| endpoint.strip_prefix("https://"))
        .is_some_and(|rest| !rest.is_empty() && !rest.contains(char::is_whitespace));
    if !scheme_ok {
        return Err(ConfigError::new(
            "telemetry.otlp_endpoint",
            "must be an http:// or https:// URL, e.g. http://127.0.0.1:4318",
        ));
    }
    if raw.headers.len() > MAX_OTLP_HEADERS {
        return Err(ConfigError::new(
            "telemetry.headers",
            format!("at most {MAX_OTLP_HEADERS} headers"),
        ));
    }
    let mut headers = Vec::with_capacity(raw.headers.len());
    for (name, spec) in raw.headers {
        let path = format!("telemetry.headers.{name}");
        let valid_name = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !valid_name {
            return Err(ConfigError::new(path, "is not a valid header name"));
        }
        let value =
            resolve_secret(&spec, env).map_err(|e| ConfigError::new(&path, e.to_string()))?;
        if value.expose().bytes().any(|b| b < 0x20 || b == 0x7f) {
            return Err(ConfigError::new(path, "value has control characters"));
        }
        headers.push((name, value));
    }
    let service_name = raw
        .service_name
        .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_owned());
    if service_name.is_empty() {
        return Err(ConfigError::new(
            "telemetry.service_name",
            "must not be empty",
        ));
    }
    let sample_ratio = raw.sample_ratio.unwrap_or(1.0);
    if !(0.0..=1.0).contains(&sample_ratio) {
        return Err(ConfigError::new(
            "telemetry.sample_ratio",
            "must be 0.0 to 1.0",
        ));
    }
    if raw.resource_attributes.len() > MAX_RESOURCE_ATTRIBUTES {
        return Err(ConfigError::new(
            "telemetry.resource_attributes",
            format!("at most {MAX_RESOURCE_ATTRIBUTES} attributes"),
        ));
    }
    let timeout = match raw.timeout_ms {
        None => DEFAULT_OTLP_TIMEOUT,
        Some(ms) if (1..=MAX_OTLP_TIMEOUT_MS).contains(&ms) => Duration::from_millis(ms),
        Some(_) => {
            return Err(ConfigError::new(
                "telemetry.timeout_ms",
                format!("must be 1 to {MAX_OTLP_TIMEOUT_MS}"),
            ));
        }
    };
    Ok(Some(TelemetryConfig {
        otlp_endpoint: endpoint,
        headers,
        service_name,
        sample_ratio,
        resource_attributes: raw.resource_attributes.into_iter().collect(),
        capture_content: raw.capture_content.unwrap_or(false),
        timeout,
    }))
}
