//! Why this exists: loading a config file ends with each provider kind checking its own
//! options, so the loaders sit here, above both `config` and the kinds: `config` parses and
//! validates the common shape through [`Config::parse_with`] and reaches the kinds only
//! through the [`KindRules`](crate::config::KindRules) port that these pass in.

use std::path::Path;

use super::options::Kinds;
use crate::config::{Config, ConfigError};

impl Config {
    /// Parses and validates `text`, resolving `env:NAME` secrets from the process environment.
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml_str_with_env(text, &|name| std::env::var(name).ok())
    }

    /// Parses and validates `text`, resolving `env:NAME` secrets through `env`.
    pub fn from_toml_str_with_env(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        Config::parse_with(text, env, &Kinds)
    }

    /// Reads, parses and validates the file at `path` (secrets from the process environment).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new("", format!("cannot read {}: {e}", path.display())))?;
        Config::from_toml_str(&text)
    }
}
