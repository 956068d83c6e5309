//! `kind = "azure_openai"`: Azure OpenAI, one deployment per model (`model_map` maps the
//! requested model to the deployment name), `api_version` required, `api-key` header.

use super::openai::Quirks;
use super::openai::envelope::Addressing;
use super::openai::provider::OpenAiFormat;

/// The `azure_openai` kind.
pub static AZURE_OPENAI: OpenAiFormat = OpenAiFormat {
    quirks: Quirks::AZURE,
    addressing: Addressing::AzureDeployment,
};
