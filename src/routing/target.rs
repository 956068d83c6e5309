//! Which provider serves a request: an explicit `provider/model` prefix, else the first
//! configured route whose pattern matches the model, else the first Anthropic provider.

use crate::config::{Config, ProviderConfig, ProviderKind, glob_match};
use crate::error::{ErrorKind, GatewayError};
use crate::providers::provider_for;

/// The chosen upstream for one request.
pub struct Target<'c> {
    pub index: usize,
    pub provider: &'c ProviderConfig,
    /// When the client wrote `provider/model`: how many leading bytes of its model string to
    /// drop before sending it upstream.
    pub strip_model_prefix: Option<usize>,
}

/// Chooses the target for `model` (None for requests without a body, like `GET /v1/models`).
pub fn choose<'c>(config: &'c Config, model: Option<&str>) -> Result<Target<'c>, GatewayError> {
    if let Some(model) = model {
        if let Some((prefix, _)) = model.split_once('/')
            && let Some(index) = config.providers.iter().position(|p| p.name == prefix)
        {
            return servable(config, index, Some(prefix.len() + 1));
        }
        if let Some(route) = config.routes.iter().find(|r| glob_match(&r.pattern, model))
            && let Some(first) = route.targets.first()
            && let Some(index) = config.providers.iter().position(|p| &p.name == first)
        {
            return servable(config, index, None);
        }
    }
    match config
        .providers
        .iter()
        .position(|p| p.kind == ProviderKind::Anthropic)
    {
        Some(index) => servable(config, index, None),
        None => Err(GatewayError::new(
            ErrorKind::NoProvider,
            "no Anthropic-format provider is configured for this request",
        )),
    }
}

fn servable(
    config: &Config,
    index: usize,
    strip_model_prefix: Option<usize>,
) -> Result<Target<'_>, GatewayError> {
    let provider = &config.providers[index];
    match provider.kind {
        kind if provider_for(kind).is_some() => Ok(Target {
            index,
            provider,
            strip_model_prefix,
        }),
        other => Err(GatewayError::new(
            ErrorKind::NoProvider,
            format!(
                "provider {} is of kind {other:?}, which this gateway build cannot serve yet",
                provider.name
            ),
        )),
    }
}
