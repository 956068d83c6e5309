//! The flow's steps for a provider whose dialect is not Anthropic's: its Messages body is
//! rewritten for the provider, count_tokens is answered by sluice with an estimate (the
//! provider has no such endpoint), and routes it cannot serve are refused.

use super::context::{Phase, RequestContext};
use crate::config::ProviderConfig;
use crate::error::{ErrorKind, GatewayError};
use crate::http::encode::local_response;
use crate::providers::Provider;
use crate::providers::Translation;
use crate::providers::openai::count_tokens_body;
use crate::routing::Route;

/// What the flow does with a request for a translating provider.
pub enum Prepared {
    /// Send it upstream (the body already rewritten when a translation is returned).
    Send(Option<Translation>),
    /// Answered here (count_tokens); the response waits in the output buffer.
    Answered,
}

/// Rewrites `body` for `provider` when it translates, or answers the request locally.
pub fn prepare(
    provider: &dyn Provider,
    config: &ProviderConfig,
    route: Route,
    model: &str,
    body: &mut Vec<u8>,
    ctx: &mut RequestContext,
    out: &mut Vec<u8>,
) -> Result<Prepared, GatewayError> {
    if !provider.translates() {
        return Ok(Prepared::Send(None));
    }
    match route {
        Route::Messages => provider
            .translate_request(config, model, body)
            .map(Prepared::Send),
        Route::CountTokens => {
            answer_count_tokens(body, ctx, out)?;
            Ok(Prepared::Answered)
        }
        // An OpenAI-format client's body passes to an OpenAI-format provider as it is.
        Route::ChatCompletions => Ok(Prepared::Send(None)),
        Route::Models | Route::OpenAiModels | Route::Health | Route::Root | Route::Mcp => {
            Err(GatewayError::new(
                ErrorKind::NoProvider,
                format!(
                    "provider `{}` of kind `{}` serves only /v1/messages and /v1/messages/count_tokens",
                    config.name, config.kind
                ),
            ))
        }
    }
}

/// count_tokens answered with sluice's estimate: ceil(UTF-8 bytes of the text the model
/// reads / 4), plus a fixed 1,600 per image or non-text document (README, "count_tokens").
pub(super) fn answer_count_tokens(
    body: &[u8],
    ctx: &mut RequestContext,
    out: &mut Vec<u8>,
) -> Result<(), GatewayError> {
    let answer = count_tokens_body(body).ok_or_else(|| {
        GatewayError::new(
            ErrorKind::BadRequest,
            "count_tokens needs a JSON object with `messages`",
        )
    })?;
    local_response(out, 200, "application/json", &answer, !ctx.keep_alive);
    ctx.status = 200;
    ctx.enter(Phase::Streaming);
    Ok(())
}
