//! The attempt's step for the cloud kinds (Bedrock, Vertex): the body the attempt prepared
//! (a copy, never the client's own) is rewritten and the request's path and authentication
//! computed by the provider's [`Cloud`] state. Bedrock's count_tokens is answered by sluice's
//! estimate before the attempts (proxy/flow.rs), as for the translating kinds.

use crate::config::ProviderConfig;
use crate::error::{ErrorKind, GatewayError};
use crate::http::head::RequestHead;
use crate::providers::cloud::{Cloud, CloudCall, CloudRequest};
use crate::routing::Route;

/// Rewrites `body` (this attempt's copy) for the cloud provider `provider` and returns the
/// request's path and headers.
pub fn prepare(
    cloud: &Cloud,
    provider: &ProviderConfig,
    route: Route,
    head: &RequestHead,
    model: &str,
    stream: bool,
    body: &mut Vec<u8>,
) -> Result<CloudRequest, GatewayError> {
    let call = match route {
        // A Chat Completions body reaches a cloud kind already translated to Messages.
        Route::Messages | Route::ChatCompletions => CloudCall::Messages { stream },
        Route::CountTokens => CloudCall::CountTokens,
        Route::Models | Route::OpenAiModels | Route::Health | Route::Root | Route::Mcp => {
            return Err(GatewayError::new(
                ErrorKind::NoProvider,
                format!(
                    "provider `{}` of kind `{}` serves only /v1/messages and /v1/messages/count_tokens",
                    provider.name, provider.kind
                ),
            ));
        }
    };
    cloud.prepare(provider, head, model, call, body)
}
