//! The attempt's step for the cloud kinds (Bedrock, Vertex): the body the attempt prepared
//! (a copy, never the client's own) is rewritten and the request's path and authentication
//! computed by the provider's [`Cloud`] state. Bedrock's count_tokens is answered by sluice's
//! estimate before the attempts (proxy/flow.rs), as for the translating kinds. Before a
//! Bedrock stream is relayed, its first frame is read: an exception there is still a failure
//! the attempt loop can fail over on.

use std::time::{Duration, Instant};

use crate::config::ProviderConfig;
use crate::error::{ErrorKind, GatewayError};
use crate::http::head::RequestHead;
use crate::providers::bedrock::codec::{gateway_error, is_event_stream};
use crate::providers::bedrock::first_event::{FirstEvent, first_event};
use crate::providers::cloud::{Cloud, CloudCall, CloudRequest};
use crate::providers::cloud_kind::{BEDROCK_KIND, VERTEX_KIND};
use crate::routing::Route;
use crate::runtime::io::time::deadline;
use crate::upstream::Exchange;
use crate::upstream::body::peek_buffered;

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

/// Whether `provider` is of a cloud kind (its requests need its [`Cloud`] state).
pub fn is_cloud(provider: &ProviderConfig) -> bool {
    matches!(provider.kind, BEDROCK_KIND | VERTEX_KIND)
}

/// The error for a cloud provider whose state is not there: a reload added it and has not put
/// its credentials in use yet.
pub fn not_ready(provider: &ProviderConfig) -> GatewayError {
    GatewayError::new(
        ErrorKind::UpstreamUnreachable,
        format!(
            "provider `{}`: its cloud credentials are not set up yet",
            provider.name
        ),
    )
}

/// For a Bedrock event stream (a 2xx head): waits at most `wait` for its first frame, consuming
/// nothing, and returns the failure it carries (its status and the error to answer with) when
/// the stream failed before any event. None: relay the response (an event came first, the
/// body ended or went silent, or this is not a Bedrock stream).
pub async fn failure_before_first_event(
    cloud: &Cloud,
    exchange: &mut Exchange,
    wait: Duration,
) -> Option<(u16, GatewayError)> {
    let head = &exchange.head;
    if !cloud.is_bedrock() || !(200..300).contains(&head.status()) || !is_event_stream(head) {
        return None;
    }
    let framing = head.framing(false);
    let until = Instant::now() + wait;
    let mut body = Vec::new();
    loop {
        body.clear();
        let complete = peek_buffered(framing, &exchange.conn, &mut body).ok()?;
        match first_event(&body) {
            FirstEvent::Failed(e) => return Some((e.status(), gateway_error(&e))),
            FirstEvent::Relay => return None,
            FirstEvent::Incomplete if complete => return None,
            FirstEvent::Incomplete => {}
        }
        let left = until.checked_duration_since(Instant::now())?;
        // End of stream, a read error or silence: the relay meets and reports it as usual.
        match deadline(left, exchange.conn.fill()).await {
            Some(Ok(n)) if n > 0 => {}
            _ => return None,
        }
    }
}
