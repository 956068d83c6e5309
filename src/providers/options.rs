//! Why this exists: a provider kind owns its `[[providers]]` options. Each kind's module
//! declares them in a [`KindOptions`] (the keys it takes, whether it needs `keys`, and a check
//! that also names its default base URL); [`Kinds`] is config's `KindRules` port over those
//! declarations, found through the registry, so adding a kind adds no line to `config`.

use super::provider_for;
use super::raw_config::{opt_str, str_array};
use super::registry::KINDS;
use crate::config::{KindRules, OptionError, ProviderKind};

/// One kind's options.
pub struct KindOptions {
    /// The kind-specific keys it takes (beside the keys every `[[providers]]` entry has).
    pub keys: &'static [&'static str],
    /// Only the provider's own keys authenticate: the client's credential never goes upstream.
    pub needs_keys: bool,
    /// Checks the options (only declared keys reach it); `base_url_given`: the entry wrote
    /// `base_url`. Returns the base URL to use when it did not (None: the kind needs one).
    pub check: fn(&toml::Table, bool) -> Result<Option<String>, OptionError>,
}

/// A kind without options of its own, whose default base URL is `url` (None: `base_url` is
/// required).
pub fn no_options(base_url_given: bool, url: Option<&str>) -> Result<Option<String>, OptionError> {
    Ok(url.filter(|_| !base_url_given).map(str::to_owned))
}

/// The registry's answer to config: each kind's own rules.
pub struct Kinds;

fn options_of(kind: ProviderKind) -> Option<&'static KindOptions> {
    provider_for(kind).map(|p| p.options())
}

impl KindRules for Kinds {
    fn kind(&self, name: &str) -> Option<ProviderKind> {
        KINDS
            .iter()
            .map(|entry| entry.kind)
            .find(|k| k.as_str() == name)
    }

    fn kind_names(&self) -> Vec<&'static str> {
        KINDS.iter().map(|entry| entry.kind.as_str()).collect()
    }

    fn check(
        &self,
        kind: ProviderKind,
        options: &toml::Table,
        base_url_given: bool,
    ) -> Result<Option<String>, OptionError> {
        let Some(own) = options_of(kind) else {
            return Err(OptionError::entry(format!("kind `{kind}` is not served")));
        };
        if let Some(key) = options.keys().find(|k| !own.keys.contains(&k.as_str())) {
            let owners: Vec<String> = KINDS
                .iter()
                .filter(|entry| entry.provider.options().keys.contains(&key.as_str()))
                .map(|entry| format!("`{}`", entry.kind))
                .collect();
            let message = if owners.is_empty() {
                format!(
                    "unknown field `{key}`: neither a [[providers]] key nor an option of kind `{kind}`"
                )
            } else {
                format!(
                    "`{key}` applies only to kind {}, not `{kind}`",
                    owners.join(" or ")
                )
            };
            return Err(OptionError::at(key, message));
        }
        (own.check)(options, base_url_given)
    }

    fn needs_keys(&self, kind: ProviderKind) -> bool {
        options_of(kind).is_some_and(|o| o.needs_keys)
    }
}

/// An optional value that goes into a host name, path or query: letters, digits, `-`, `_`,
/// `.` only.
pub fn safe_value<'a>(table: &'a toml::Table, key: &str) -> Result<Option<&'a str>, OptionError> {
    let value = opt_str(table, key).map_err(|e| OptionError::at(key, e))?;
    match value {
        Some(text)
            if !text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.') =>
        {
            Err(OptionError::at(
                key,
                format!("invalid value `{text}`: use letters, digits, - _ ."),
            ))
        }
        other => Ok(other),
    }
}

/// A required [`safe_value`]: missing, the entry is refused as `kind `{kind}` needs `{key}``.
pub fn required<'a>(table: &'a toml::Table, kind: &str, key: &str) -> Result<&'a str, OptionError> {
    safe_value(table, key)?
        .ok_or_else(|| OptionError::entry(format!("kind `{kind}` needs `{key}`")))
}

/// Checks that each of `keys`, if present, is a non-empty string.
pub fn strings(table: &toml::Table, keys: &[&str]) -> Result<(), OptionError> {
    for key in keys {
        opt_str(table, key).map_err(|e| OptionError::at(key, e))?;
    }
    Ok(())
}

/// Checks that each of `keys`, if present, is an array of strings.
pub fn string_arrays(table: &toml::Table, keys: &[&str]) -> Result<(), OptionError> {
    for key in keys {
        str_array(table, key).map_err(|e| OptionError::at(key, e))?;
    }
    Ok(())
}

/// A declared option read back at request time (checked at load, so present when required).
pub fn option_str<'a>(options: &'a toml::Table, key: &str) -> Option<&'a str> {
    options.get(key).and_then(toml::Value::as_str)
}
