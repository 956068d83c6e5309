//! The one error type of `/mcp` at the HTTP level: each variant is a decision (refuse, not
//! found, bad version...) that maps to its status through one exhaustive match, with a JSON-RPC
//! error body MCP clients can read.

use super::jsonrpc::{INTERNAL_ERROR, INVALID_REQUEST, Invalid, RpcError, encode_error};
use super::server::{CONTENT_TYPE_JSON, McpResponse};

/// Why a `/mcp` request is refused before (or instead of) any JSON-RPC processing.
#[derive(Clone, Debug, PartialEq)]
pub enum McpError {
    /// No virtual key, or not a known one: `/mcp` always requires one.
    Unauthorized,
    /// Not GET, POST or DELETE.
    MethodNotAllowed,
    /// The `Accept` header allows neither JSON nor an event stream (or no stream for GET).
    NotAcceptable,
    /// A POST body that is not `application/json`.
    UnsupportedMediaType,
    /// A body over [`super::MAX_BODY_BYTES`].
    PayloadTooLarge,
    /// A request other than `initialize` without `Mcp-Session-Id`.
    MissingSession,
    /// A session id this gateway does not hold (ended, expired, or another key's).
    UnknownSession,
    /// `MCP-Protocol-Version` names a version this gateway does not speak.
    UnsupportedVersion(String),
    /// `MCP-Protocol-Version` differs from the version negotiated for the session.
    VersionMismatch { header: String, negotiated: String },
    /// The body is not JSON (parse error) or not a valid JSON-RPC message (invalid request),
    /// including a batch where the negotiated version forbids one.
    Rpc(Invalid),
    /// This shard holds as many sessions as it may.
    TooManySessions,
    /// Something on our side failed (the random source, a stopped client).
    Internal(String),
}

impl McpError {
    /// The HTTP status for this decision.
    pub fn status(&self) -> u16 {
        match self {
            McpError::Unauthorized => 401,
            McpError::MethodNotAllowed => 405,
            McpError::NotAcceptable => 406,
            McpError::UnsupportedMediaType => 415,
            McpError::PayloadTooLarge => 413,
            McpError::MissingSession
            | McpError::UnsupportedVersion(_)
            | McpError::VersionMismatch { .. }
            | McpError::Rpc(_) => 400,
            McpError::UnknownSession => 404,
            McpError::TooManySessions => 503,
            McpError::Internal(_) => 500,
        }
    }

    /// The JSON-RPC error the body carries.
    pub fn rpc_error(&self) -> RpcError {
        let invalid = |message: String| RpcError::new(INVALID_REQUEST, message);
        match self {
            McpError::Unauthorized => invalid(
                "Unauthorized: /mcp needs a virtual key (Authorization: Bearer <key>)".into(),
            ),
            McpError::MethodNotAllowed => {
                invalid("Method not allowed: use GET, POST or DELETE".into())
            }
            McpError::NotAcceptable => invalid(
                "Not Acceptable: Accept must allow application/json or text/event-stream \
                 (text/event-stream for GET)"
                    .into(),
            ),
            McpError::UnsupportedMediaType => {
                invalid("Unsupported Media Type: Content-Type must be application/json".into())
            }
            McpError::PayloadTooLarge => invalid(format!(
                "Payload Too Large: bodies are limited to {} bytes",
                super::MAX_BODY_BYTES
            )),
            McpError::MissingSession => invalid(
                "Bad Request: Mcp-Session-Id header is required (send initialize first)".into(),
            ),
            McpError::UnknownSession => invalid("Session not found".into()),
            McpError::UnsupportedVersion(version) => invalid(format!(
                "Bad Request: unsupported MCP-Protocol-Version `{version}` (supported: {})",
                super::session::SUPPORTED_PROTOCOL_VERSIONS.join(", ")
            )),
            McpError::VersionMismatch { header, negotiated } => invalid(format!(
                "Bad Request: MCP-Protocol-Version `{header}` differs from the session's \
                 negotiated `{negotiated}`"
            )),
            McpError::Rpc(invalid) => invalid.error.clone(),
            McpError::TooManySessions => {
                RpcError::new(INTERNAL_ERROR, "Too many MCP sessions; try again later")
            }
            McpError::Internal(message) => RpcError::new(INTERNAL_ERROR, message.clone()),
        }
    }

    /// The whole HTTP answer.
    pub fn into_response(self) -> McpResponse {
        let id = match &self {
            McpError::Rpc(invalid) => invalid.id.clone(),
            _ => None,
        };
        McpResponse {
            status: self.status(),
            content_type: Some(CONTENT_TYPE_JSON),
            session_id: None,
            allow: matches!(self, McpError::MethodNotAllowed).then_some("GET, POST, DELETE"),
            body: encode_error(id.as_ref(), &self.rpc_error()),
        }
    }
}
