//! Turns an OpenAI-format provider's error (status and body) into the Anthropic error a Claude
//! Code client understands: the matching status and `error.type`, the provider's message kept.

use serde_json::Value;

use crate::providers::anthropic::error_body::anthropic_error_body;

/// Longest message taken from a body that is not JSON (cut at a character boundary).
pub const MAX_ERROR_MESSAGE_BYTES: usize = 4096;

/// The Anthropic form of an upstream error. The caller keeps the upstream `retry-after`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TranslatedError {
    pub status: u16,
    pub error_type: &'static str,
    /// `{"type":"error","error":{"type":..,"message":..}}`.
    pub body: Vec<u8>,
}

/// The Anthropic status and error type for an upstream HTTP status: 400 (and 422 and other
/// 4xx) invalid_request_error, 401 authentication_error, 402 billing_error, 403
/// permission_error, 404 not_found_error, 409 conflict_error, 413 request_too_large, 429
/// rate_limit_error, 503 and 529 → 529 overloaded_error, 504 timeout_error, other 5xx (and
/// anything else) → 500 api_error.
pub fn anthropic_status(status: u16) -> (u16, &'static str) {
    match status {
        401 => (401, "authentication_error"),
        402 => (402, "billing_error"),
        403 => (403, "permission_error"),
        404 => (404, "not_found_error"),
        409 => (409, "conflict_error"),
        413 => (413, "request_too_large"),
        429 => (429, "rate_limit_error"),
        400..=499 => (400, "invalid_request_error"),
        503 | 529 => (529, "overloaded_error"),
        504 => (504, "timeout_error"),
        _ => (500, "api_error"),
    }
}

/// Translates an upstream error response.
pub fn translate_error(status: u16, body: &[u8]) -> TranslatedError {
    let (status, error_type) = anthropic_status(status);
    let message = match serde_json::from_slice::<Value>(body) {
        Ok(value) => message_of(&value),
        Err(_) => text_message(body),
    }
    .unwrap_or_else(|| format!("upstream provider returned HTTP {status}"));
    let mut out = Vec::with_capacity(message.len() + 64);
    anthropic_error_body(&mut out, error_type, &message);
    TranslatedError {
        status,
        error_type,
        body: out,
    }
}

/// The message of an OpenAI-style error value: `error.message`, `error` as a string,
/// `message`, FastAPI's `detail`, or the first element's of an array of those.
pub(super) fn message_of(value: &Value) -> Option<String> {
    if let Some(first) = value.as_array().and_then(|a| a.first()) {
        return message_of(first);
    }
    let error = value.get("error");
    let candidates = [
        error.and_then(|e| e.get("message")),
        error,
        value.get("message"),
        value.get("detail"),
    ];
    candidates
        .into_iter()
        .flatten()
        .find_map(|v| v.as_str())
        .filter(|m| !m.is_empty())
        .map(str::to_owned)
}

/// The Anthropic error type for an error object inside a stream (`{"error":{"type","code"}}`),
/// where there is no status to go by.
pub(super) fn stream_error_type(value: &Value) -> &'static str {
    let error = value.get("error").unwrap_or(value);
    let field = |name| error.get(name).and_then(Value::as_str).unwrap_or("");
    match (field("type"), field("code")) {
        (_, "rate_limit_exceeded") | ("rate_limit_error" | "tokens" | "requests", _) => {
            "rate_limit_error"
        }
        (_, "context_length_exceeded") | ("invalid_request_error", _) => "invalid_request_error",
        ("overloaded_error" | "service_unavailable", _) | (_, "overloaded") => "overloaded_error",
        _ => "api_error",
    }
}

fn text_message(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let mut text = text.trim();
    if text.len() > MAX_ERROR_MESSAGE_BYTES {
        let mut end = MAX_ERROR_MESSAGE_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text = text.get(..end).unwrap_or_default();
    }
    (!text.is_empty()).then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(e: &TranslatedError) -> Value {
        serde_json::from_slice(&e.body).unwrap()
    }

    #[test]
    fn every_status_maps_to_its_anthropic_type() {
        let table = [
            (400, 400, "invalid_request_error"),
            (401, 401, "authentication_error"),
            (402, 402, "billing_error"),
            (403, 403, "permission_error"),
            (404, 404, "not_found_error"),
            (409, 409, "conflict_error"),
            (413, 413, "request_too_large"),
            (422, 400, "invalid_request_error"),
            (429, 429, "rate_limit_error"),
            (500, 500, "api_error"),
            (502, 500, "api_error"),
            (503, 529, "overloaded_error"),
            (504, 504, "timeout_error"),
            (529, 529, "overloaded_error"),
            (200, 500, "api_error"),
        ];
        for (upstream, status, kind) in table {
            let e = translate_error(upstream, br#"{"error":{"message":"m","type":"x"}}"#);
            assert_eq!((e.status, e.error_type), (status, kind), "{upstream}");
            let body = parsed(&e);
            assert_eq!(body["type"], "error");
            assert_eq!(body["error"]["type"], kind);
            assert_eq!(body["error"]["message"], "m");
        }
    }

    #[test]
    fn the_message_is_found_in_every_shape() {
        let cases: [(&[u8], &str); 6] = [
            (
                br#"{"error":{"message":"Rate limit \"x\"","type":"tokens","param":null,"code":"rate_limit_exceeded"}}"#,
                "Rate limit \"x\"",
            ),
            (br#"{"error":"plain"}"#, "plain"),
            (br#"{"message":"top"}"#, "top"),
            (br#"{"detail":"fastapi"}"#, "fastapi"),
            (br#"[{"error":{"message":"in array"}}]"#, "in array"),
            (b"  <html>bad gateway</html>\n", "<html>bad gateway</html>"),
        ];
        for (body, message) in cases {
            let e = translate_error(429, body);
            assert_eq!(parsed(&e)["error"]["message"], message);
        }
        let empty = translate_error(500, b"");
        assert_eq!(
            parsed(&empty)["error"]["message"],
            "upstream provider returned HTTP 500"
        );
        let no_message = translate_error(400, br#"{"error":{"code":1}}"#);
        assert_eq!(
            parsed(&no_message)["error"]["message"],
            "upstream provider returned HTTP 400"
        );
    }

    #[test]
    fn a_long_text_body_is_cut_at_the_limit_on_a_char_boundary() {
        let at_limit = "a".repeat(MAX_ERROR_MESSAGE_BYTES);
        let e = translate_error(500, at_limit.as_bytes());
        assert_eq!(parsed(&e)["error"]["message"], at_limit.as_str());
        let past = format!("{}é", "a".repeat(MAX_ERROR_MESSAGE_BYTES - 1));
        let e = translate_error(500, past.as_bytes());
        let message = parsed(&e)["error"]["message"].as_str().unwrap().to_owned();
        assert_eq!(message, "a".repeat(MAX_ERROR_MESSAGE_BYTES - 1));
        let invalid = translate_error(500, b"\xff\xfe oops");
        assert!(parsed(&invalid)["error"]["message"].is_string());
    }

    #[test]
    fn stream_errors_are_typed() {
        let typed = |s: &str| stream_error_type(&serde_json::from_str(s).unwrap());
        assert_eq!(
            typed(r#"{"error":{"type":"tokens","code":"rate_limit_exceeded"}}"#),
            "rate_limit_error"
        );
        assert_eq!(typed(r#"{"error":{"type":"server_error"}}"#), "api_error");
        assert_eq!(
            typed(r#"{"error":{"type":"invalid_request_error"}}"#),
            "invalid_request_error"
        );
        assert_eq!(typed(r#"{"error":"x"}"#), "api_error");
    }
}
