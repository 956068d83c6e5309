//! The flow's step for the cloud kinds (Bedrock, Vertex): the body is rewritten and the
//! request's path and authentication computed by the provider's [`Cloud`] state; Bedrock's
//! count_tokens is answered by sluice's estimate, as for the translating kinds.

use super::context::RequestContext;
use super::state::ProxyState;
use super::translate::answer_count_tokens;
use crate::config::{ProviderConfig, ProviderKind};
use crate::error::{ErrorKind, GatewayError};
use crate::http::head::RequestHead;
use crate::providers::cloud::{CloudCall, CloudRequest};
use crate::routing::Route;

/// What the flow does next for a request to a cloud kind.
pub enum CloudStep {
    /// Send it (None: the provider is not a cloud kind).
    Send(Option<CloudRequest>),
    /// Answered here; the response waits in the output buffer.
    Answered,
}

/// Prepares a request to provider `index` when it is a cloud kind.
#[allow(clippy::too_many_arguments)]
pub fn prepare(
    state: &ProxyState,
    index: usize,
    provider: &ProviderConfig,
    route: Route,
    head: &RequestHead,
    model: &str,
    body: &mut Vec<u8>,
    ctx: &mut RequestContext,
    out: &mut Vec<u8>,
) -> Result<CloudStep, GatewayError> {
    let Some(cloud) = state.clouds.get(index) else {
        return Ok(CloudStep::Send(None));
    };
    let call = match route {
        Route::Messages => CloudCall::Messages { stream: ctx.stream },
        Route::CountTokens if provider.kind == ProviderKind::Bedrock => {
            answer_count_tokens(body, ctx, out)?;
            return Ok(CloudStep::Answered);
        }
        Route::CountTokens => CloudCall::CountTokens,
        Route::Models | Route::Health | Route::Root => {
            return Err(GatewayError::new(
                ErrorKind::NoProvider,
                format!(
                    "provider `{}` of kind `{}` serves only /v1/messages and /v1/messages/count_tokens",
                    provider.name, provider.kind
                ),
            ));
        }
    };
    let request = cloud.prepare(provider, head, model, call, body)?;
    Ok(CloudStep::Send(Some(request)))
}
