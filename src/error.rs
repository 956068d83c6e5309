//! The one error type of the request path: it carries the decision (who is at fault, whether a
//! retry elsewhere may help, whether the connection survives) and maps to a status and an
//! Anthropic error body with exhaustive matches.

use std::borrow::Cow;

use crate::governance::Rejection;
use crate::http::chunked::ChunkedError;
use crate::http::conn::ConnError;
use crate::http::head::HeadError;

/// Who caused a failure: decides logging, metrics, and whether failover may help.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The caller sent something we refuse.
    Client,
    /// The upstream failed, was unreachable, or spoke badly.
    Upstream,
    /// sluice itself could not do its job.
    Gateway,
}

/// What went wrong, one variant per answer we give.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Malformed HTTP, a smuggling shape, bad JSON, an unusable request.
    BadRequest,
    /// No route for this method and path.
    NotFound,
    /// A known path with a method it does not take.
    MethodNotAllowed,
    /// The request head is larger than `MAX_HEAD_BYTES` or has too many headers.
    HeadTooLarge,
    /// The request body is larger than `server.max_body_bytes`.
    BodyTooLarge,
    /// The client did not send its head within `server.header_read_timeout_ms`.
    HeadTimeout,
    /// An HTTP version we do not speak.
    VersionNotSupported,
    /// The route names a provider that is not configured or cannot serve this path yet.
    NoProvider,
    /// Connecting to the upstream failed (DNS, refused, TLS handshake).
    UpstreamUnreachable,
    /// The upstream did not answer within `server.upstream_read_timeout_ms`.
    UpstreamTimeout,
    /// The upstream answered with bytes that are not valid HTTP, or closed early.
    UpstreamProtocol,
    /// Something inside sluice failed.
    Internal,
    /// No valid virtual key (missing, unknown, revoked, expired) where one is required.
    Unauthenticated,
    /// The key or team may not use this model.
    PermissionDenied,
    /// A rate limit is reached (or strict budget share is being rebalanced): retry later.
    RateLimited,
    /// A budget is spent until it resets.
    BudgetExceeded,
    /// A governed request for a model sluice cannot price.
    UnpricedModel,
    /// The upstream reported, before answering, that it throttled the request (429).
    UpstreamRateLimited,
    /// The upstream reported, before answering, that it is overloaded (503).
    UpstreamOverloaded,
    /// The upstream reported, before answering, an internal failure (500).
    UpstreamFailed,
    /// The upstream reported, before answering, that the request is invalid (400).
    UpstreamRejected,
    /// The shared budget backend (Redis) does not answer and governed requests fail closed.
    BackendUnavailable,
}

/// An error on the request path, with a message safe to show the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayError {
    pub kind: ErrorKind,
    pub message: Cow<'static, str>,
    /// The `retry-after` to send (whole seconds), for rate limits.
    pub retry_after_secs: Option<u64>,
}

impl GatewayError {
    pub fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        GatewayError {
            kind,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    /// The HTTP status we answer with.
    pub fn status(&self) -> u16 {
        match self.kind {
            ErrorKind::BadRequest => 400,
            ErrorKind::NotFound => 404,
            ErrorKind::MethodNotAllowed => 405,
            ErrorKind::HeadTimeout => 408,
            ErrorKind::BodyTooLarge => 413,
            ErrorKind::HeadTooLarge => 431,
            ErrorKind::VersionNotSupported => 505,
            ErrorKind::NoProvider => 400,
            ErrorKind::UpstreamUnreachable | ErrorKind::UpstreamProtocol => 502,
            ErrorKind::UpstreamTimeout => 504,
            ErrorKind::Internal => 500,
            ErrorKind::Unauthenticated => 401,
            ErrorKind::BudgetExceeded => 402,
            ErrorKind::PermissionDenied => 403,
            ErrorKind::RateLimited => 429,
            ErrorKind::UnpricedModel => 400,
            ErrorKind::UpstreamRateLimited => 429,
            ErrorKind::UpstreamOverloaded => 503,
            ErrorKind::UpstreamFailed => 500,
            ErrorKind::UpstreamRejected => 400,
            ErrorKind::BackendUnavailable => 503,
        }
    }

    /// The `error.type` of the Anthropic error body.
    pub fn anthropic_type(&self) -> &'static str {
        match self.kind {
            ErrorKind::BadRequest
            | ErrorKind::MethodNotAllowed
            | ErrorKind::HeadTooLarge
            | ErrorKind::HeadTimeout
            | ErrorKind::VersionNotSupported
            | ErrorKind::NoProvider
            | ErrorKind::UnpricedModel
            | ErrorKind::UpstreamRejected => "invalid_request_error",
            ErrorKind::UpstreamRateLimited => "rate_limit_error",
            ErrorKind::UpstreamOverloaded => "overloaded_error",
            ErrorKind::UpstreamFailed => "api_error",
            ErrorKind::Unauthenticated => "authentication_error",
            ErrorKind::PermissionDenied => "permission_error",
            ErrorKind::RateLimited => "rate_limit_error",
            ErrorKind::BudgetExceeded => "billing_error",
            ErrorKind::NotFound => "not_found_error",
            ErrorKind::BodyTooLarge => "request_too_large",
            ErrorKind::UpstreamTimeout => "timeout_error",
            ErrorKind::UpstreamUnreachable
            | ErrorKind::UpstreamProtocol
            | ErrorKind::Internal
            | ErrorKind::BackendUnavailable => "api_error",
        }
    }

    pub fn fault(&self) -> Fault {
        match self.kind {
            ErrorKind::BadRequest
            | ErrorKind::NotFound
            | ErrorKind::MethodNotAllowed
            | ErrorKind::HeadTooLarge
            | ErrorKind::BodyTooLarge
            | ErrorKind::HeadTimeout
            | ErrorKind::VersionNotSupported
            | ErrorKind::NoProvider
            | ErrorKind::Unauthenticated
            | ErrorKind::PermissionDenied
            | ErrorKind::RateLimited
            | ErrorKind::BudgetExceeded
            | ErrorKind::UnpricedModel => Fault::Client,
            ErrorKind::UpstreamUnreachable
            | ErrorKind::UpstreamTimeout
            | ErrorKind::UpstreamProtocol
            | ErrorKind::UpstreamRateLimited
            | ErrorKind::UpstreamOverloaded
            | ErrorKind::UpstreamFailed
            | ErrorKind::UpstreamRejected => Fault::Upstream,
            ErrorKind::Internal | ErrorKind::BackendUnavailable => Fault::Gateway,
        }
    }

    /// Whether another target (or a fresh connection) might succeed where this failed.
    pub fn retryable(&self) -> bool {
        match self.kind {
            ErrorKind::UpstreamUnreachable
            | ErrorKind::UpstreamTimeout
            | ErrorKind::UpstreamProtocol
            | ErrorKind::UpstreamRateLimited
            | ErrorKind::UpstreamOverloaded
            | ErrorKind::UpstreamFailed => true,
            ErrorKind::UpstreamRejected => false,
            ErrorKind::BadRequest
            | ErrorKind::NotFound
            | ErrorKind::MethodNotAllowed
            | ErrorKind::HeadTooLarge
            | ErrorKind::BodyTooLarge
            | ErrorKind::HeadTimeout
            | ErrorKind::VersionNotSupported
            | ErrorKind::NoProvider
            | ErrorKind::Internal
            | ErrorKind::Unauthenticated
            | ErrorKind::PermissionDenied
            | ErrorKind::RateLimited
            | ErrorKind::BudgetExceeded
            | ErrorKind::UnpricedModel
            | ErrorKind::BackendUnavailable => false,
        }
    }

    /// Whether the client connection must be closed after answering: the request's framing
    /// could not be trusted or its body was not read, so the next bytes are not a request.
    pub fn closes_connection(&self) -> bool {
        match self.kind {
            ErrorKind::BadRequest
            | ErrorKind::HeadTooLarge
            | ErrorKind::BodyTooLarge
            | ErrorKind::HeadTimeout
            | ErrorKind::VersionNotSupported => true,
            ErrorKind::NotFound
            | ErrorKind::MethodNotAllowed
            | ErrorKind::NoProvider
            | ErrorKind::UpstreamUnreachable
            | ErrorKind::UpstreamTimeout
            | ErrorKind::UpstreamProtocol
            | ErrorKind::Internal
            | ErrorKind::Unauthenticated
            | ErrorKind::PermissionDenied
            | ErrorKind::RateLimited
            | ErrorKind::BudgetExceeded
            | ErrorKind::UnpricedModel
            | ErrorKind::UpstreamRateLimited
            | ErrorKind::UpstreamOverloaded
            | ErrorKind::UpstreamFailed
            | ErrorKind::UpstreamRejected
            | ErrorKind::BackendUnavailable => false,
        }
    }
}

impl std::fmt::Display for GatewayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.status(),
            self.anthropic_type(),
            self.message
        )
    }
}

impl From<HeadError> for GatewayError {
    fn from(e: HeadError) -> Self {
        match e {
            HeadError::HeadTooLarge => {
                GatewayError::new(ErrorKind::HeadTooLarge, "request head is too large")
            }
            HeadError::TooManyHeaders => {
                GatewayError::new(ErrorKind::HeadTooLarge, "request has too many headers")
            }
            HeadError::Malformed(why) => {
                GatewayError::new(ErrorKind::BadRequest, format!("malformed request: {why}"))
            }
            HeadError::Smuggling(why) => GatewayError::new(
                ErrorKind::BadRequest,
                format!("ambiguous request framing: {why}"),
            ),
            HeadError::UnsupportedVersion => GatewayError::new(
                ErrorKind::VersionNotSupported,
                "only HTTP/1.0 and HTTP/1.1 are supported",
            ),
        }
    }
}

impl From<&Rejection> for GatewayError {
    fn from(r: &Rejection) -> Self {
        let kind = match r {
            Rejection::Unauthenticated(_) => ErrorKind::Unauthenticated,
            Rejection::ModelNotAllowed { .. } => ErrorKind::PermissionDenied,
            Rejection::RateLimited { .. } | Rejection::BudgetBusy { .. } => ErrorKind::RateLimited,
            Rejection::BudgetExceeded { .. } => ErrorKind::BudgetExceeded,
            Rejection::UnpricedModel { .. } => ErrorKind::UnpricedModel,
            Rejection::BackendUnavailable => ErrorKind::BackendUnavailable,
        };
        GatewayError {
            kind,
            message: r.message().into(),
            retry_after_secs: r.retry_after_secs(),
        }
    }
}

impl From<ChunkedError> for GatewayError {
    fn from(e: ChunkedError) -> Self {
        match e {
            ChunkedError::BodyTooLarge => {
                GatewayError::new(ErrorKind::BodyTooLarge, "request body is too large")
            }
            other => GatewayError::new(
                ErrorKind::BadRequest,
                format!("malformed chunked body: {other:?}"),
            ),
        }
    }
}

/// The server loop's own failures, as the client is answered.
impl From<ConnError> for GatewayError {
    fn from(e: ConnError) -> Self {
        match e {
            ConnError::Head(e) => GatewayError::from(e),
            ConnError::HeadTimeout => GatewayError::new(
                ErrorKind::HeadTimeout,
                "the request head did not arrive in time",
            ),
            ConnError::BodyTooLarge => {
                GatewayError::new(ErrorKind::BodyTooLarge, "request body is too large")
            }
            ConnError::Chunked(e) => GatewayError::from(e),
            ConnError::BodyCut => GatewayError::new(
                ErrorKind::BadRequest,
                "the client closed the connection before the body was complete",
            ),
            ConnError::BodyStalled => {
                GatewayError::new(ErrorKind::HeadTimeout, "the request body stopped arriving")
            }
            ConnError::Io(e) => GatewayError::new(
                ErrorKind::BadRequest,
                format!("client connection failed: {e}"),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_types_match_the_wire_contract() {
        let cases = [
            (ErrorKind::BadRequest, 400, "invalid_request_error"),
            (ErrorKind::NotFound, 404, "not_found_error"),
            (ErrorKind::BodyTooLarge, 413, "request_too_large"),
            (ErrorKind::UpstreamUnreachable, 502, "api_error"),
            (ErrorKind::UpstreamTimeout, 504, "timeout_error"),
            (ErrorKind::HeadTimeout, 408, "invalid_request_error"),
            (ErrorKind::Internal, 500, "api_error"),
        ];
        for (kind, status, ty) in cases {
            let e = GatewayError::new(kind, "x");
            assert_eq!(e.status(), status, "{kind:?}");
            assert_eq!(e.anthropic_type(), ty, "{kind:?}");
        }
    }
}
