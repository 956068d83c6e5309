//! `kind = "azure_openai"`: Azure OpenAI, one deployment per model (`model_map` maps the
//! requested model to the deployment name), `api_version` required, `api-key` header.

use super::openai::Quirks;
use super::openai::envelope::Addressing;
use super::openai::provider::OpenAiFormat;
use super::options::{KindOptions, no_options, option_str, required};
use crate::config::{OptionError, ProviderConfig, ProviderKind};

/// `kind = "azure_openai"`.
pub const KIND: ProviderKind = ProviderKind::named("azure_openai");

/// The `azure_openai` kind.
pub static AZURE_OPENAI: OpenAiFormat = OpenAiFormat {
    quirks: Quirks::AZURE,
    addressing: Addressing::AzureDeployment,
    options: &AZURE_OPTIONS,
};

/// `api_version` (required, the `api-version` query value); `base_url` and `keys` required.
static AZURE_OPTIONS: KindOptions = KindOptions {
    keys: &[API_VERSION],
    needs_keys: true,
    check: check_options,
};

const API_VERSION: &str = "api_version";

fn check_options(
    options: &toml::Table,
    base_url_given: bool,
) -> Result<Option<String>, OptionError> {
    if !base_url_given {
        return no_options(false, None);
    }
    required(options, "azure_openai", API_VERSION)?;
    Ok(None)
}

/// The `api-version` query value (checked at load to letters, digits, `-`, `_`, `.`).
pub fn api_version(provider: &ProviderConfig) -> &str {
    option_str(&provider.options, API_VERSION).unwrap_or("")
}
