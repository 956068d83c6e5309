//! Validates `[[providers]]`: names, kinds, base URLs, keys, CA files and model maps, the keys
//! every kind shares. Each kind's own options (region, project, api_version, credentials ...)
//! and its default base URL are its module's, reached through [`KindRules`].

use std::collections::HashSet;
use std::path::PathBuf;

use super::ConfigError;
use super::base_url::BaseUrl;
use super::kind_rules::{KindRules, OptionError};
use super::schema::RawProvider;
use super::types::{ProviderConfig, ProviderKey, ProviderKind};
use super::validate::{EnvLookup, secret_at, validate_budgets};

/// Longest provider name.
pub const MAX_PROVIDER_NAME_LEN: usize = 64;

/// The kind of the provider used when the file declares none.
pub const DEFAULT_PROVIDER_KIND: ProviderKind = ProviderKind::named("anthropic");

/// The provider used when the file declares none: Anthropic, no keys (client's credentials
/// pass through).
pub fn default_anthropic_provider() -> ProviderConfig {
    ProviderConfig {
        name: "anthropic".to_owned(),
        kind: DEFAULT_PROVIDER_KIND,
        base_url: BaseUrl {
            tls: true,
            host: "api.anthropic.com".to_owned(),
            port: 443,
            base_path: String::new(),
        },
        keys: Vec::new(),
        ca_file: None,
        egress_proxy: None,
        budgets: Vec::new(),
        model_map: super::model_map::ModelMap::default(),
        options: toml::Table::new(),
    }
}

/// Validates every provider and that names are unique.
pub fn validate_providers(
    raw: Vec<RawProvider>,
    env: EnvLookup<'_>,
    kinds: &dyn KindRules,
) -> Result<Vec<ProviderConfig>, ConfigError> {
    let mut names = HashSet::new();
    let mut providers = Vec::with_capacity(raw.len());
    for (index, provider) in raw.into_iter().enumerate() {
        let path = format!("providers[{index}]");
        let provider = validate_provider(&path, provider, env, kinds)?;
        if !names.insert(provider.name.clone()) {
            return Err(ConfigError::new(
                format!("{path}.name"),
                format!("duplicate provider name `{}`", provider.name),
            ));
        }
        providers.push(provider);
    }
    Ok(providers)
}

fn validate_provider(
    path: &str,
    raw: RawProvider,
    env: EnvLookup<'_>,
    kinds: &dyn KindRules,
) -> Result<ProviderConfig, ConfigError> {
    let name_ok = !raw.name.is_empty()
        && raw.name.len() <= MAX_PROVIDER_NAME_LEN
        && raw
            .name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if !name_ok {
        return Err(ConfigError::new(
            format!("{path}.name"),
            format!(
                "invalid provider name `{}`: use 1 to {MAX_PROVIDER_NAME_LEN} of a-z 0-9 _ -",
                raw.name
            ),
        ));
    }
    let kind = kinds.kind(&raw.kind).ok_or_else(|| {
        let kinds = kinds.kind_names();
        ConfigError::new(
            format!("{path}.kind"),
            format!(
                "unknown kind `{}`, expected one of {}",
                raw.kind,
                kinds.join(", ")
            ),
        )
    })?;
    // The kind checks its own options and names its default base URL.
    let default_url = kinds
        .check(kind, &raw.options, raw.base_url.is_some())
        .map_err(|e| option_error(path, &raw, e))?;
    let Some(base_url_text) = raw.base_url.or(default_url) else {
        return Err(ConfigError::new(
            path,
            format!("kind `{kind}` needs `base_url`"),
        ));
    };
    let base_url = BaseUrl::parse(&base_url_text)
        .map_err(|m| ConfigError::new(format!("{path}.base_url"), m))?;
    let mut keys = Vec::with_capacity(raw.keys.len());
    for (index, key) in raw.keys.into_iter().enumerate() {
        let key_path = format!("{path}.keys[{index}]");
        let secret = secret_at(&format!("{key_path}.secret"), &key.secret, env)?;
        let weight = match key.weight.map(u32::try_from) {
            None => 1,
            Some(Ok(weight)) if weight > 0 => weight,
            Some(_) => {
                return Err(ConfigError::new(
                    format!("{key_path}.weight"),
                    format!("must be 1 to {}", u32::MAX),
                ));
            }
        };
        let id = match key.id {
            None => format!("{}#{}", raw.name, index + 1),
            Some(id) if valid_key_id(&id) => id,
            Some(_) => {
                return Err(ConfigError::new(
                    format!("{key_path}.id"),
                    format!("must be 1 to {MAX_KEY_ID_LEN} characters of a-z A-Z 0-9 _ - . #"),
                ));
            }
        };
        if keys.iter().any(|k: &ProviderKey| k.id == id) {
            return Err(ConfigError::new(
                format!("{key_path}.id"),
                format!("key id `{id}` is used twice in this provider"),
            ));
        }
        keys.push(ProviderKey { id, secret, weight });
    }
    // An OpenAI-format provider authenticates with its own keys: the client's credential is
    // never sent to it, so it has nothing to authenticate with otherwise.
    if kinds.needs_keys(kind) && keys.is_empty() {
        return Err(ConfigError::new(
            format!("{path}.keys"),
            format!("kind `{kind}` needs `keys`: the client's own credential is never sent to it"),
        ));
    }
    let ca_file = match raw.ca_file {
        None => None,
        Some(file) if file.is_empty() => {
            return Err(ConfigError::new(
                format!("{path}.ca_file"),
                "must be a file path",
            ));
        }
        Some(_) if !base_url.tls => {
            return Err(ConfigError::new(
                format!("{path}.ca_file"),
                "needs an https base_url",
            ));
        }
        Some(file) => Some(PathBuf::from(file)),
    };
    for (from, to) in &raw.model_map {
        if from.is_empty() || to.is_empty() {
            return Err(ConfigError::new(
                format!("{path}.model_map"),
                "model names must not be empty",
            ));
        }
    }
    Ok(ProviderConfig {
        name: raw.name,
        kind,
        base_url,
        keys,
        ca_file,
        egress_proxy: None,
        budgets: validate_budgets(&format!("{path}.budgets"), &raw.budgets)?,
        model_map: raw.model_map,
        options: raw.options,
    })
}

/// A kind's refusal, at the key's path and the line it was written on.
fn option_error(path: &str, raw: &RawProvider, error: OptionError) -> ConfigError {
    let Some(key) = error.key else {
        return ConfigError::new(path, error.message);
    };
    let line = raw
        .option_lines
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, _, line)| *line);
    ConfigError {
        path: format!("{path}.{key}"),
        message: error.message,
        line,
    }
}

/// Longest provider key id.
pub const MAX_KEY_ID_LEN: usize = 64;

fn valid_key_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_KEY_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'#'))
}
