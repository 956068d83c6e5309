//! Why this exists: a provider kind owns its options. `config` keeps the common `[[providers]]`
//! keys typed and every other key of an entry as a raw table; what those keys mean, which
//! are required, and the base URL a kind defaults to are the provider module's. Config reaches
//! them only through this port ([`KindRules`]), which the provider registry implements and the
//! loader above both layers passes in, so `config` never imports `providers`.

use super::types::ProviderKind;

/// Why a kind refused its options: the key at fault (None: the entry as a whole, e.g. a
/// required key is missing) and what is wrong, in words that name the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptionError {
    pub key: Option<String>,
    pub message: String,
}

impl OptionError {
    /// A fault of the value at `key`.
    pub fn at(key: &str, message: impl Into<String>) -> OptionError {
        OptionError {
            key: Some(key.to_owned()),
            message: message.into(),
        }
    }

    /// A fault of the entry as a whole.
    pub fn entry(message: impl Into<String>) -> OptionError {
        OptionError {
            key: None,
            message: message.into(),
        }
    }
}

/// The provider kinds' own rules: which kinds exist, and their options.
pub trait KindRules {
    /// The kind a config file names `name` (None: no provider module serves such a kind).
    fn kind(&self, name: &str) -> Option<ProviderKind>;

    /// Every kind's name, in the order the docs list them (for error messages).
    fn kind_names(&self) -> Vec<&'static str>;

    /// Checks one entry's kind-specific `options` (every key outside the common ones, as
    /// written): unknown keys, required keys, types and values. `base_url_given`: the entry
    /// wrote `base_url`. Returns the base URL the kind uses when the entry wrote none (None
    /// when it wrote one).
    fn check(
        &self,
        kind: ProviderKind,
        options: &toml::Table,
        base_url_given: bool,
    ) -> Result<Option<String>, OptionError>;

    /// Whether the kind sends only the provider's own keys upstream (never the client's
    /// credential), so that an entry without `keys` could not authenticate.
    fn needs_keys(&self, kind: ProviderKind) -> bool;
}
