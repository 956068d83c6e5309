//! Validates the governance backend keys of `[governance]`: `backend`, `redis_url`,
//! `redis_key_prefix`, `instance_id`, `on_backend_error` and `expected_instances` (several instances sharing budgets,
//! rate limits and keys through Redis; docs/ARCHITECTURE.md, "Governance").

use super::ConfigError;
use super::schema::RawGovernance;
use super::types::{BackendErrorPolicy, BudgetMode, RedisBackend};
use super::validate::{EnvLookup, secret_at};

/// Longest `redis_key_prefix` and `instance_id` (they are part of every key sluice writes).
pub const MAX_REDIS_NAME_LEN: usize = 64;

/// Most `expected_instances`.
pub const MAX_EXPECTED_INSTANCES: u64 = 10_000;

/// Default `redis_key_prefix`.
pub const DEFAULT_REDIS_KEY_PREFIX: &str = "sluice";

/// The backend keys, copied out of `[governance]`.
pub struct RawBackend {
    backend: Option<String>,
    url: Option<String>,
    key_prefix: Option<String>,
    instance_id: Option<String>,
    on_error: Option<String>,
    expected_instances: Option<u64>,
}

impl RawBackend {
    pub fn take(raw: &RawGovernance) -> RawBackend {
        RawBackend {
            backend: raw.backend.clone(),
            url: raw.redis_url.clone(),
            key_prefix: raw.redis_key_prefix.clone(),
            instance_id: raw.instance_id.clone(),
            on_error: raw.on_backend_error.clone(),
            expected_instances: raw.expected_instances,
        }
    }
}

/// `None` for the embedded backend (`backend` absent or `"sqlite"`), the Redis settings for
/// `backend = "redis"`; the Redis keys without `backend = "redis"` are an error.
pub fn validate_backend(
    raw: &RawBackend,
    mode: BudgetMode,
    env: EnvLookup<'_>,
) -> Result<Option<RedisBackend>, ConfigError> {
    match raw.backend.as_deref() {
        None | Some("sqlite") => {
            let stray = [
                ("governance.redis_url", raw.url.is_some()),
                ("governance.redis_key_prefix", raw.key_prefix.is_some()),
                ("governance.instance_id", raw.instance_id.is_some()),
                ("governance.on_backend_error", raw.on_error.is_some()),
                (
                    "governance.expected_instances",
                    raw.expected_instances.is_some(),
                ),
            ];
            if let Some((path, _)) = stray.iter().find(|(_, set)| *set) {
                return Err(ConfigError::new(
                    *path,
                    "only applies with governance.backend = \"redis\"",
                ));
            }
            Ok(None)
        }
        Some("redis") => redis_backend(raw, mode, env).map(Some),
        Some(other) => Err(ConfigError::new(
            "governance.backend",
            format!("unknown backend `{other}`, expected `sqlite` or `redis`"),
        )),
    }
}

fn redis_backend(
    raw: &RawBackend,
    mode: BudgetMode,
    env: EnvLookup<'_>,
) -> Result<RedisBackend, ConfigError> {
    let Some(spec) = raw.url.as_deref() else {
        return Err(ConfigError::new(
            "governance.redis_url",
            "is required with governance.backend = \"redis\"",
        ));
    };
    let url = secret_at("governance.redis_url", spec, env)?;
    let scheme_ok = url.expose().starts_with("redis://") || url.expose().starts_with("rediss://");
    if !scheme_ok {
        return Err(ConfigError::new(
            "governance.redis_url",
            "must start with redis:// or rediss://",
        ));
    }
    let key_prefix = match raw.key_prefix.as_deref() {
        None => DEFAULT_REDIS_KEY_PREFIX.to_owned(),
        Some(prefix) => redis_name("governance.redis_key_prefix", prefix)?,
    };
    let instance_id = match raw.instance_id.as_deref() {
        None => None,
        Some(id) => Some(redis_name("governance.instance_id", id)?),
    };
    let on_error = match (raw.on_error.as_deref(), mode) {
        (None, BudgetMode::Strict) | (Some("fail_closed"), _) => BackendErrorPolicy::FailClosed,
        (None, BudgetMode::Soft) | (Some("local"), _) => BackendErrorPolicy::Local,
        (Some(other), _) => {
            return Err(ConfigError::new(
                "governance.on_backend_error",
                format!("unknown policy `{other}`, expected `fail_closed` or `local`"),
            ));
        }
    };
    let expected_instances = match raw.expected_instances {
        None => 1,
        Some(n @ 1..=MAX_EXPECTED_INSTANCES) => n,
        Some(_) => {
            return Err(ConfigError::new(
                "governance.expected_instances",
                format!("must be 1 to {MAX_EXPECTED_INSTANCES}"),
            ));
        }
    };
    Ok(RedisBackend {
        url,
        key_prefix,
        instance_id,
        on_error,
        expected_instances,
    })
}

/// A prefix or instance id: 1..=[`MAX_REDIS_NAME_LEN`] characters out of `[A-Za-z0-9_.:-]`
/// (no braces: they would break the hash tags that keep an entity's keys in one slot).
fn redis_name(path: &str, name: &str) -> Result<String, ConfigError> {
    if name.is_empty() || name.len() > MAX_REDIS_NAME_LEN {
        return Err(ConfigError::new(
            path,
            format!("must be 1 to {MAX_REDIS_NAME_LEN} characters"),
        ));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-');
    if !name.chars().all(allowed) {
        return Err(ConfigError::new(
            path,
            "may only use letters, digits, `_`, `.`, `:` and `-`",
        ));
    }
    Ok(name.to_owned())
}
