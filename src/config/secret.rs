//! Secrets from the config (`env:NAME` or a literal), resolved once and never printed.
//!
//! `Secret`'s `Debug` and `Display` both print `***`, so a config dumped to a log or an error
//! can never leak a key; the value is reachable only through the explicit `expose`.

use std::fmt;

/// The prefix that makes a secret come from the environment: `env:ANTHROPIC_API_KEY`.
pub const ENV_SECRET_PREFIX: &str = "env:";

/// A resolved secret value. Prints as `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value already resolved (for tests and for keys created at run time).
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself; call only where it must go on the wire or into a hash.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Why a secret spec could not be resolved (the caller adds the config path).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretError {
    /// The text was empty.
    Empty,
    /// `env:` with no variable name after it.
    EmptyVariableName,
    /// `env:NAME` and NAME is not set.
    MissingVariable(String),
    /// `env:NAME` and NAME is set but empty.
    EmptyVariable(String),
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretError::Empty => f.write_str("secret is empty"),
            SecretError::EmptyVariableName => {
                f.write_str("`env:` needs a variable name, e.g. `env:ANTHROPIC_API_KEY`")
            }
            SecretError::MissingVariable(name) => {
                write!(f, "environment variable `{name}` is not set")
            }
            SecretError::EmptyVariable(name) => {
                write!(f, "environment variable `{name}` is set but empty")
            }
        }
    }
}

/// Resolves `env:NAME` through `env`, or takes the text literally.
pub fn resolve_secret(
    spec: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Secret, SecretError> {
    if spec.is_empty() {
        return Err(SecretError::Empty);
    }
    let Some(name) = spec.strip_prefix(ENV_SECRET_PREFIX) else {
        return Ok(Secret(spec.to_owned()));
    };
    if name.is_empty() {
        return Err(SecretError::EmptyVariableName);
    }
    match env(name) {
        None => Err(SecretError::MissingVariable(name.to_owned())),
        Some(value) if value.is_empty() => Err(SecretError::EmptyVariable(name.to_owned())),
        Some(value) => Ok(Secret(value)),
    }
}
