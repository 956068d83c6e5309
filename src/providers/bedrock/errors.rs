//! Bedrock's failures in Anthropic's terms: each exception Bedrock names (in an event-stream
//! exception frame, or the `x-amzn-ErrorType` of an error response) becomes one Anthropic error
//! type and HTTP status, written either as an error body before the stream starts or as an
//! `event: error` after it.

use std::fmt;

use super::eventstream::FrameError;
use crate::providers::top_level::write_json_string;

/// The exceptions Bedrock Runtime documents for InvokeModel(WithResponseStream).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExceptionKind {
    Throttling,
    ServiceQuotaExceeded,
    ServiceUnavailable,
    ModelNotReady,
    ModelStreamError,
    ModelError,
    Validation,
    InternalServer,
    ModelTimeout,
    AccessDenied,
    ResourceNotFound,
    /// A name this table does not know.
    Unknown,
}

impl ExceptionKind {
    /// From an exception name in either case of its first letter (`throttlingException` in
    /// frames, `ThrottlingException` in `x-amzn-ErrorType`, which may carry a `:...` suffix).
    pub fn from_name(name: &str) -> ExceptionKind {
        let name = name.split(':').next().unwrap_or(name).trim();
        let mut chars = name.chars();
        let lowered: String = match chars.next() {
            Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
            None => String::new(),
        };
        match lowered.as_str() {
            "throttlingException" => ExceptionKind::Throttling,
            "serviceQuotaExceededException" => ExceptionKind::ServiceQuotaExceeded,
            "serviceUnavailableException" => ExceptionKind::ServiceUnavailable,
            "modelNotReadyException" => ExceptionKind::ModelNotReady,
            "modelStreamErrorException" => ExceptionKind::ModelStreamError,
            "modelErrorException" => ExceptionKind::ModelError,
            "validationException" => ExceptionKind::Validation,
            "internalServerException" => ExceptionKind::InternalServer,
            "modelTimeoutException" => ExceptionKind::ModelTimeout,
            "accessDeniedException" => ExceptionKind::AccessDenied,
            "resourceNotFoundException" => ExceptionKind::ResourceNotFound,
            _ => ExceptionKind::Unknown,
        }
    }

    /// The Anthropic status and error type. Throttling and quota → 429 `rate_limit_error`;
    /// unavailable / not ready → 503 `overloaded_error` (Bedrock's own status, Anthropic's
    /// overload type, so clients back off and failover may take it); a model failure or an
    /// internal error → 500 `api_error`; validation → 400 `invalid_request_error`; a model
    /// timeout → 504 `timeout_error`; access denied → 403; not found → 404; an unknown
    /// exception → 502 `api_error`.
    pub fn anthropic(self) -> (u16, &'static str) {
        match self {
            ExceptionKind::Throttling | ExceptionKind::ServiceQuotaExceeded => {
                (429, "rate_limit_error")
            }
            ExceptionKind::ServiceUnavailable | ExceptionKind::ModelNotReady => {
                (503, "overloaded_error")
            }
            ExceptionKind::ModelStreamError
            | ExceptionKind::ModelError
            | ExceptionKind::InternalServer => (500, "api_error"),
            ExceptionKind::Validation => (400, "invalid_request_error"),
            ExceptionKind::ModelTimeout => (504, "timeout_error"),
            ExceptionKind::AccessDenied => (403, "permission_error"),
            ExceptionKind::ResourceNotFound => (404, "not_found_error"),
            ExceptionKind::Unknown => (502, "api_error"),
        }
    }
}

/// Why a Bedrock stream (or response) failed. One type carries the decision; `status` and
/// `error_type` map it exhaustively.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BedrockError {
    /// Bedrock reported an exception.
    Exception {
        kind: ExceptionKind,
        name: String,
        message: String,
    },
    /// The framing is broken (CRC, length, truncation).
    Frame(FrameError),
    /// A `chunk` frame whose payload is not `{"bytes": base64}` of a JSON event with a `type`.
    BadChunk(&'static str),
}

impl BedrockError {
    /// The HTTP status to answer with before the stream started.
    pub fn status(&self) -> u16 {
        match self {
            BedrockError::Exception { kind, .. } => kind.anthropic().0,
            BedrockError::Frame(_) | BedrockError::BadChunk(_) => 502,
        }
    }

    /// The Anthropic error type.
    pub fn error_type(&self) -> &'static str {
        match self {
            BedrockError::Exception { kind, .. } => kind.anthropic().1,
            BedrockError::Frame(_) | BedrockError::BadChunk(_) => "api_error",
        }
    }

    /// Whether another target may be tried (before the first byte reached the client).
    pub fn retryable(&self) -> bool {
        let status = self.status();
        status == 429 || status >= 500
    }

    /// `{"type":"error","error":{"type":...,"message":...}}`.
    pub fn write_error_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"type\":\"error\",\"error\":{\"type\":\"");
        out.extend_from_slice(self.error_type().as_bytes());
        out.extend_from_slice(b"\",\"message\":");
        write_json_string(&self.to_string(), out);
        out.extend_from_slice(b"}}");
    }

    /// `event: error\ndata: {...}\n\n`, for a failure after the stream started.
    pub fn write_sse_event(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"event: error\ndata: ");
        self.write_error_json(out);
        out.extend_from_slice(b"\n\n");
    }
}

impl fmt::Display for BedrockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BedrockError::Exception { name, message, .. } => write!(f, "Bedrock {name}: {message}"),
            BedrockError::Frame(err) => write!(f, "Bedrock stream is malformed: {err}"),
            BedrockError::BadChunk(what) => write!(f, "Bedrock stream chunk is malformed: {what}"),
        }
    }
}

impl From<FrameError> for BedrockError {
    fn from(err: FrameError) -> BedrockError {
        BedrockError::Frame(err)
    }
}

/// The error of a non-2xx Bedrock response: the exception from `x-amzn-ErrorType` (or, without
/// it, from the status) and the body's `message`.
pub fn error_response(status: u16, error_type_header: Option<&str>, body: &[u8]) -> BedrockError {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(alias = "Message")]
        message: Option<String>,
    }
    let message = serde_json::from_slice::<Body>(body)
        .ok()
        .and_then(|b| b.message)
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned());
    let (kind, name) = match error_type_header {
        Some(header) => {
            let name = header.split(':').next().unwrap_or(header).trim().to_owned();
            (ExceptionKind::from_name(&name), name)
        }
        None => {
            let kind = match status {
                400 => ExceptionKind::Validation,
                403 => ExceptionKind::AccessDenied,
                404 => ExceptionKind::ResourceNotFound,
                408 => ExceptionKind::ModelTimeout,
                424 => ExceptionKind::ModelError,
                429 => ExceptionKind::Throttling,
                503 => ExceptionKind::ServiceUnavailable,
                500 => ExceptionKind::InternalServer,
                _ => ExceptionKind::Unknown,
            };
            (kind, format!("HTTP {status}"))
        }
    };
    BedrockError::Exception {
        kind,
        name,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_exception_maps() {
        let table = [
            ("throttlingException", 429, "rate_limit_error"),
            ("serviceUnavailableException", 503, "overloaded_error"),
            ("modelStreamErrorException", 500, "api_error"),
            ("validationException", 400, "invalid_request_error"),
            ("internalServerException", 500, "api_error"),
            ("modelTimeoutException", 504, "timeout_error"),
            ("ThrottlingException", 429, "rate_limit_error"),
            ("accessDeniedException", 403, "permission_error"),
            ("somethingNewException", 502, "api_error"),
            ("", 502, "api_error"),
        ];
        for (name, status, error_type) in table {
            assert_eq!(
                ExceptionKind::from_name(name).anthropic(),
                (status, error_type),
                "{name}"
            );
        }
    }

    #[test]
    fn error_event_is_anthropic_shaped() {
        let err = BedrockError::Exception {
            kind: ExceptionKind::Throttling,
            name: "throttlingException".into(),
            message: "slow \"down\"".into(),
        };
        let mut out = Vec::new();
        err.write_sse_event(&mut out);
        let text = String::from_utf8(out).expect("utf8");
        let data = text
            .strip_prefix("event: error\ndata: ")
            .and_then(|t| t.strip_suffix("\n\n"))
            .expect("framing");
        let json: serde_json::Value = serde_json::from_str(data).expect("json");
        assert_eq!(json["type"], "error");
        assert_eq!(json["error"]["type"], "rate_limit_error");
        assert_eq!(
            json["error"]["message"],
            "Bedrock throttlingException: slow \"down\""
        );
        assert!(err.retryable());
        let frame = BedrockError::Frame(FrameError::Truncated { buffered: 3 });
        assert_eq!(
            (frame.status(), frame.error_type(), frame.retryable()),
            (502, "api_error", true)
        );
        let bad = BedrockError::Exception {
            kind: ExceptionKind::Validation,
            name: "v".into(),
            message: "m".into(),
        };
        assert!(!bad.retryable());
    }

    #[test]
    fn error_responses_use_the_header_then_the_status() {
        let err = error_response(
            429,
            Some("ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/"),
            br#"{"message":"Too many requests"}"#,
        );
        assert_eq!(
            (err.status(), err.to_string().as_str()),
            (429, "Bedrock ThrottlingException: Too many requests")
        );
        let err = error_response(400, None, br#"{"Message":"bad beta"}"#);
        assert_eq!(
            (err.status(), err.error_type()),
            (400, "invalid_request_error")
        );
        assert!(err.to_string().ends_with("bad beta"));
        let err = error_response(418, None, b"\xff not json");
        assert_eq!(err.status(), 502);
    }
}
