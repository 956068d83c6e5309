//! Validates `[[providers]]`: names, kinds, base URLs (with per-kind defaults), keys, CA
//! files and the fields only some kinds take (region, project, location, api_version).

use std::collections::HashSet;
use std::path::PathBuf;

use super::ConfigError;
use super::base_url::BaseUrl;
use super::schema::RawProvider;
use super::types::{ProviderConfig, ProviderKey, ProviderKind};
use super::validate::{EnvLookup, secret_at, validate_budgets};

/// Longest provider name.
pub const MAX_PROVIDER_NAME_LEN: usize = 64;

/// The provider used when the file declares none: Anthropic, no keys (client's credentials
/// pass through).
pub fn default_anthropic_provider() -> ProviderConfig {
    ProviderConfig {
        name: "anthropic".to_owned(),
        kind: ProviderKind::Anthropic,
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
        api_version: None,
        region: None,
        project: None,
        location: None,
        cloud_options: toml::Table::new(),
    }
}

/// Validates every provider and that names are unique.
pub fn validate_providers(
    raw: Vec<RawProvider>,
    env: EnvLookup<'_>,
) -> Result<Vec<ProviderConfig>, ConfigError> {
    let mut names = HashSet::new();
    let mut providers = Vec::with_capacity(raw.len());
    for (index, provider) in raw.into_iter().enumerate() {
        let path = format!("providers[{index}]");
        let provider = validate_provider(&path, provider, env)?;
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
    mut raw: RawProvider,
    env: EnvLookup<'_>,
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
    let kind = ProviderKind::parse(&raw.kind).ok_or_else(|| {
        let kinds: Vec<&str> = ProviderKind::ALL.iter().map(|k| k.as_str()).collect();
        ConfigError::new(
            format!("{path}.kind"),
            format!(
                "unknown kind `{}`, expected one of {}",
                raw.kind,
                kinds.join(", ")
            ),
        )
    })?;
    let cloud_options = cloud_options(path, &mut raw, kind)?;
    let region = kind_field(path, "region", raw.region, kind, ProviderKind::Bedrock)?;
    let project = kind_field(path, "project", raw.project, kind, ProviderKind::Vertex)?;
    let location = kind_field(path, "location", raw.location, kind, ProviderKind::Vertex)?;
    let api_version = kind_field(
        path,
        "api_version",
        raw.api_version,
        kind,
        ProviderKind::AzureOpenAi,
    )?;
    let required = |field: &str, value: &Option<String>| match value {
        Some(_) => Ok(()),
        None => Err(ConfigError::new(
            path,
            format!("kind `{kind}` needs `{field}`"),
        )),
    };
    if kind == ProviderKind::Bedrock {
        required("region", &region)?;
    }
    if kind == ProviderKind::Vertex {
        required("project", &project)?;
        required("location", &location)?;
    }
    let base_url_text = match (raw.base_url, kind) {
        (Some(text), _) => text,
        (None, ProviderKind::Anthropic) => "https://api.anthropic.com".to_owned(),
        (None, ProviderKind::OpenAi) => "https://api.openai.com/v1".to_owned(),
        (None, ProviderKind::Bedrock) => {
            format!(
                "https://bedrock-runtime.{}.amazonaws.com",
                region.as_deref().unwrap_or_default()
            )
        }
        (None, ProviderKind::Vertex) => match location.as_deref() {
            Some("global") | None => "https://aiplatform.googleapis.com/v1".to_owned(),
            Some(location) => format!("https://{location}-aiplatform.googleapis.com/v1"),
        },
        (None, ProviderKind::AzureOpenAi | ProviderKind::OpenAiCompatible) => {
            return Err(ConfigError::new(
                path,
                format!("kind `{kind}` needs `base_url`"),
            ));
        }
    };
    if kind == ProviderKind::AzureOpenAi {
        required("api_version", &api_version)?;
    }
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
    let openai_format = matches!(
        kind,
        ProviderKind::OpenAi | ProviderKind::OpenAiCompatible | ProviderKind::AzureOpenAi
    );
    if openai_format && keys.is_empty() {
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
        api_version,
        region,
        project,
        location,
        cloud_options,
    })
}

/// The options a cloud kind validates itself, gathered as written into one table.
fn cloud_options(
    path: &str,
    raw: &mut RawProvider,
    kind: ProviderKind,
) -> Result<toml::Table, ConfigError> {
    let bedrock = kind == ProviderKind::Bedrock;
    let cloud = bedrock || kind == ProviderKind::Vertex;
    let strings = [
        ("aws_access_key_id", raw.aws_access_key_id.take(), bedrock),
        (
            "aws_secret_access_key",
            raw.aws_secret_access_key.take(),
            bedrock,
        ),
        ("aws_session_token", raw.aws_session_token.take(), bedrock),
        ("aws_profile", raw.aws_profile.take(), bedrock),
        (
            "credentials_file",
            raw.credentials_file.take(),
            kind == ProviderKind::Vertex,
        ),
    ];
    let lists = [
        ("betas_allow", raw.betas_allow.take()),
        ("betas_drop", raw.betas_drop.take()),
    ];
    let mut table = toml::Table::new();
    let refuse = |key: &str| {
        ConfigError::new(
            format!("{path}.{key}"),
            format!("`{key}` does not apply to kind `{kind}`"),
        )
    };
    for (key, value, applies) in strings {
        if let Some(value) = value {
            if !applies {
                return Err(refuse(key));
            }
            table.insert(key.to_owned(), toml::Value::String(value));
        }
    }
    for (key, value) in lists {
        if let Some(values) = value {
            if !cloud {
                return Err(refuse(key));
            }
            let values = values.into_iter().map(toml::Value::String).collect();
            table.insert(key.to_owned(), toml::Value::Array(values));
        }
    }
    Ok(table)
}

/// A kind-specific field: rejected on other kinds, and limited to URL- and host-safe text.
fn kind_field(
    path: &str,
    field: &str,
    value: Option<String>,
    kind: ProviderKind,
    owner: ProviderKind,
) -> Result<Option<String>, ConfigError> {
    let Some(value) = value else { return Ok(None) };
    if kind != owner {
        return Err(ConfigError::new(
            format!("{path}.{field}"),
            format!("`{field}` applies only to kind `{owner}`, not `{kind}`"),
        ));
    }
    if value.is_empty()
        || !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err(ConfigError::new(
            format!("{path}.{field}"),
            format!("invalid value `{value}`: use letters, digits, - _ ."),
        ));
    }
    Ok(Some(value))
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
