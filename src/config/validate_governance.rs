//! Validates `[governance]` and the customer → team → virtual-key hierarchy: unique ids,
//! references that resolve, one secret form per key, and consistent customers.

use super::mcp::validate_mcp_tools;
use std::collections::HashMap;
use std::path::PathBuf;

use super::ConfigError;
use super::schema::{RawCustomer, RawGovernance, RawTeam, RawTimestamp, RawVirtualKey};
use super::timestamp::parse_rfc3339_unix_secs;
use super::types::{
    BudgetMode, CustomerConfig, GovernanceConfig, TeamConfig, VirtualKeyConfig, VirtualKeySecret,
};
use super::validate::{EnvLookup, secret_at, validate_budgets, validate_rate_limits};

/// Longest customer, team or virtual-key id.
pub const MAX_ID_LEN: usize = 128;

/// The validated governance sections, handed back to `validate`.
pub struct Governed {
    pub governance: GovernanceConfig,
    pub customers: Vec<CustomerConfig>,
    pub teams: Vec<TeamConfig>,
    pub virtual_keys: Vec<VirtualKeyConfig>,
}

/// Validates `[governance]`, `[[customers]]`, `[[teams]]` and `[[virtual_keys]]` together.
pub fn validate_governance(
    raw: RawGovernance,
    customers: Vec<RawCustomer>,
    teams: Vec<RawTeam>,
    virtual_keys: Vec<RawVirtualKey>,
    env: EnvLookup<'_>,
) -> Result<Governed, ConfigError> {
    let defaults = GovernanceConfig::default();
    let raw_backend = super::validate_backend::RawBackend::take(&raw);
    let budget_mode = match raw.budget_mode.as_deref() {
        None => defaults.budget_mode,
        Some("strict") => BudgetMode::Strict,
        Some("soft") => BudgetMode::Soft,
        Some(other) => {
            return Err(ConfigError::new(
                "governance.budget_mode",
                format!("unknown mode `{other}`, expected `strict` or `soft`"),
            ));
        }
    };
    let state_dir = match raw.state_dir {
        None => defaults.state_dir,
        Some(dir) if dir.is_empty() => {
            return Err(ConfigError::new(
                "governance.state_dir",
                "must be a directory path",
            ));
        }
        Some(dir) => PathBuf::from(dir),
    };
    let admin_token = match raw.admin_token {
        None => None,
        Some(spec) => Some(secret_at("governance.admin_token", &spec, env)?),
    };
    let redis = super::validate_backend::validate_backend(&raw_backend, budget_mode, env)?;
    let governance = GovernanceConfig {
        require_virtual_key: raw
            .require_virtual_key
            .unwrap_or(defaults.require_virtual_key),
        state_dir,
        budget_mode,
        admin_token,
        redis,
    };
    let customers = validate_customers(customers)?;
    let teams = validate_teams(teams, &customers)?;
    let virtual_keys = validate_virtual_keys(virtual_keys, &customers, &teams, env)?;
    Ok(Governed {
        governance,
        customers,
        teams,
        virtual_keys,
    })
}

fn validate_customers(raw: Vec<RawCustomer>) -> Result<Vec<CustomerConfig>, ConfigError> {
    let mut seen = HashMap::new();
    raw.into_iter()
        .enumerate()
        .map(|(index, customer)| {
            let path = format!("customers[{index}]");
            check_id(&path, "customers", &customer.id, &mut seen)?;
            Ok(CustomerConfig {
                budgets: validate_budgets(&format!("{path}.budgets"), &customer.budgets)?,
                rate_limits: validate_rate_limits(
                    &format!("{path}.rate_limits"),
                    &customer.rate_limits,
                )?,
                id: customer.id,
            })
        })
        .collect()
}

fn validate_teams(
    raw: Vec<RawTeam>,
    customers: &[CustomerConfig],
) -> Result<Vec<TeamConfig>, ConfigError> {
    let mut seen = HashMap::new();
    raw.into_iter()
        .enumerate()
        .map(|(index, team)| {
            let path = format!("teams[{index}]");
            check_id(&path, "teams", &team.id, &mut seen)?;
            if let Some(customer) = &team.customer {
                check_customer_exists(&format!("{path}.customer"), customer, customers)?;
            }
            Ok(TeamConfig {
                budgets: validate_budgets(&format!("{path}.budgets"), &team.budgets)?,
                rate_limits: validate_rate_limits(
                    &format!("{path}.rate_limits"),
                    &team.rate_limits,
                )?,
                models: validate_models(&format!("{path}.models"), team.models)?,
                mcp_tools: validate_mcp_tools(&format!("{path}.mcp_tools"), team.mcp_tools)?,
                id: team.id,
                customer: team.customer,
            })
        })
        .collect()
}

fn validate_virtual_keys(
    raw: Vec<RawVirtualKey>,
    customers: &[CustomerConfig],
    teams: &[TeamConfig],
    env: EnvLookup<'_>,
) -> Result<Vec<VirtualKeyConfig>, ConfigError> {
    let mut seen = HashMap::new();
    let mut keys: Vec<VirtualKeyConfig> = Vec::with_capacity(raw.len());
    for (index, key) in raw.into_iter().enumerate() {
        let path = format!("virtual_keys[{index}]");
        check_id(&path, "virtual_keys", &key.id, &mut seen)?;
        let secret = match (&key.secret, &key.secret_sha256) {
            (Some(spec), None) => {
                VirtualKeySecret::Plain(secret_at(&format!("{path}.secret"), spec, env)?)
            }
            (None, Some(hex)) => {
                VirtualKeySecret::Sha256(parse_sha256_hex(hex).ok_or_else(|| {
                    ConfigError::new(
                        format!("{path}.secret_sha256"),
                        "must be 64 hexadecimal digits",
                    )
                })?)
            }
            _ => {
                return Err(ConfigError::new(
                    path,
                    "needs exactly one of `secret` or `secret_sha256`",
                ));
            }
        };
        if let Some(earlier) = keys.iter().position(|k| k.secret == secret) {
            return Err(ConfigError::new(
                format!(
                    "{path}.{}",
                    if key.secret.is_some() {
                        "secret"
                    } else {
                        "secret_sha256"
                    }
                ),
                format!("same secret as virtual_keys[{earlier}]; every key needs its own"),
            ));
        }
        let team = teams.iter().find(|t| t.id == key.team).ok_or_else(|| {
            ConfigError::new(
                format!("{path}.team"),
                format!("no team with id `{}`", key.team),
            )
        })?;
        let customer = match (key.customer, &team.customer) {
            (Some(own), team_customer) => {
                check_customer_exists(&format!("{path}.customer"), &own, customers)?;
                if let Some(team_customer) = team_customer.as_ref().filter(|c| **c != own) {
                    return Err(ConfigError::new(
                        format!("{path}.customer"),
                        format!(
                            "`{own}` differs from team `{}`'s customer `{team_customer}`",
                            team.id
                        ),
                    ));
                }
                Some(own)
            }
            (None, team_customer) => team_customer.clone(),
        };
        let expires_at_unix_secs = match key.expires_at {
            None => None,
            Some(stamp) => {
                let text = match stamp {
                    RawTimestamp::Text(text) => text,
                    RawTimestamp::Toml(datetime) => datetime.to_string(),
                };
                let secs = parse_rfc3339_unix_secs(&text)
                    .map_err(|m| ConfigError::new(format!("{path}.expires_at"), m))?;
                Some(secs)
            }
        };
        keys.push(VirtualKeyConfig {
            budgets: validate_budgets(&format!("{path}.budgets"), &key.budgets)?,
            rate_limits: validate_rate_limits(&format!("{path}.rate_limits"), &key.rate_limits)?,
            models: validate_models(&format!("{path}.models"), key.models)?,
            mcp_tools: validate_mcp_tools(&format!("{path}.mcp_tools"), key.mcp_tools)?,
            id: key.id,
            secret,
            team: key.team,
            customer,
            expires_at_unix_secs,
        });
    }
    Ok(keys)
}

/// Checks an id's spelling and that `section` has not used it before.
fn check_id(
    path: &str,
    section: &str,
    id: &str,
    seen: &mut HashMap<String, usize>,
) -> Result<(), ConfigError> {
    let spelling_ok = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'@'));
    if !spelling_ok {
        return Err(ConfigError::new(
            format!("{path}.id"),
            format!("invalid id `{id}`: use 1 to {MAX_ID_LEN} of letters, digits, _ - . @"),
        ));
    }
    let index = seen.len();
    if let Some(earlier) = seen.insert(id.to_owned(), index) {
        return Err(ConfigError::new(
            format!("{path}.id"),
            format!("duplicate id `{id}`, already used by {section}[{earlier}]"),
        ));
    }
    Ok(())
}

fn check_customer_exists(
    path: &str,
    id: &str,
    customers: &[CustomerConfig],
) -> Result<(), ConfigError> {
    if customers.iter().any(|c| c.id == id) {
        Ok(())
    } else {
        Err(ConfigError::new(
            path,
            format!("no customer with id `{id}`"),
        ))
    }
}

fn validate_models(path: &str, models: Vec<String>) -> Result<Vec<String>, ConfigError> {
    match models.iter().position(|m| m.is_empty()) {
        Some(index) => Err(ConfigError::new(
            format!("{path}[{index}]"),
            "must not be empty",
        )),
        None => Ok(models),
    }
}

/// 64 hex digits (either case) → 32 bytes.
fn parse_sha256_hex(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut digest = [0u8; 32];
    for (out, pair) in digest.iter_mut().zip(bytes.chunks_exact(2)) {
        let high = hex_value(*pair.first()?)?;
        let low = hex_value(*pair.get(1)?)?;
        *out = high << 4 | low;
    }
    Some(digest)
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}
