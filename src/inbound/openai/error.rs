//! Errors in OpenAI's shape `{"error":{"message","type","param","code"}}`, so OpenAI SDK clients
//! get the exception class their status implies: the gateway's own errors (status and Anthropic
//! error type) and an Anthropic upstream's error bodies, the status always kept.
//!
//! The openai Python SDK picks the exception class from the status alone: 400
//! `BadRequestError`, 401 `AuthenticationError`, 403 `PermissionDeniedError`, 404
//! `NotFoundError`, 409 `ConflictError`, 422 `UnprocessableEntityError`, 429 `RateLimitError`,
//! 500 and above `InternalServerError`, anything else `APIStatusError` (so a budget's 402 is not
//! retried; the SDK retries 408, 409, 429 and 5xx). `type` and `code` are what OpenAI itself
//! sends for the same case:
//!
//! | Anthropic type          | OpenAI `type`           | `code`                  |
//! |-------------------------|-------------------------|-------------------------|
//! | invalid_request_error   | invalid_request_error   | null (or the validation's code) |
//! | authentication_error    | invalid_request_error   | invalid_api_key         |
//! | billing_error           | insufficient_quota      | insufficient_quota      |
//! | permission_error        | invalid_request_error   | permission_denied       |
//! | not_found_error         | invalid_request_error   | not_found               |
//! | conflict_error          | invalid_request_error   | conflict                |
//! | request_too_large       | invalid_request_error   | request_too_large       |
//! | rate_limit_error        | requests                | rate_limit_exceeded     |
//! | timeout_error           | server_error            | timeout                 |
//! | overloaded_error        | server_error            | overloaded              |
//! | api_error               | server_error            | null                    |
//! | anything else           | server_error for >= 500, else invalid_request_error | null |

use serde::Deserialize;

use super::write_json_string;

/// Longest message taken from an upstream error body that is not Anthropic's JSON (cut at a
/// character boundary).
pub const MAX_ERROR_MESSAGE_BYTES: usize = 4096;

/// An error answer in OpenAI's shape; the caller sends `status` and, for upstream errors, keeps
/// the upstream's `retry-after`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenAiError {
    pub status: u16,
    /// `{"error":{"message":..,"type":..,"param":..,"code":..}}`.
    pub body: Vec<u8>,
}

/// OpenAI's `type` and `code` for an Anthropic error type (and the status, for unknown types).
pub fn openai_type_and_code(
    status: u16,
    anthropic_type: &str,
) -> (&'static str, Option<&'static str>) {
    match anthropic_type {
        "invalid_request_error" => ("invalid_request_error", None),
        "authentication_error" => ("invalid_request_error", Some("invalid_api_key")),
        "billing_error" => ("insufficient_quota", Some("insufficient_quota")),
        "permission_error" => ("invalid_request_error", Some("permission_denied")),
        "not_found_error" => ("invalid_request_error", Some("not_found")),
        "conflict_error" => ("invalid_request_error", Some("conflict")),
        "request_too_large" => ("invalid_request_error", Some("request_too_large")),
        "rate_limit_error" => ("requests", Some("rate_limit_exceeded")),
        "timeout_error" => ("server_error", Some("timeout")),
        "overloaded_error" => ("server_error", Some("overloaded")),
        "api_error" => ("server_error", None),
        _ if status >= 500 => ("server_error", None),
        _ => ("invalid_request_error", None),
    }
}

/// Appends `{"error":{"message":..,"type":..,"param":..,"code":..}}` (`param`/`code` null when
/// `None`).
pub fn write_error_body(
    out: &mut Vec<u8>,
    message: &str,
    error_type: &str,
    param: Option<&str>,
    code: Option<&str>,
) {
    out.extend_from_slice(b"{\"error\":{\"message\":");
    write_json_string(out, message);
    out.extend_from_slice(b",\"type\":");
    write_json_string(out, error_type);
    out.extend_from_slice(b",\"param\":");
    write_optional(out, param);
    out.extend_from_slice(b",\"code\":");
    write_optional(out, code);
    out.extend_from_slice(b"}}");
}

/// A JSON string, or `null` for `None`.
pub(super) fn write_optional(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        Some(value) => write_json_string(out, value),
        None => out.extend_from_slice(b"null"),
    }
}

/// The OpenAI error for one of the gateway's own errors: its status (kept), its Anthropic error
/// type (e.g. `GatewayError::anthropic_type()`), its message, and the request field at fault.
pub fn gateway_error(
    status: u16,
    anthropic_type: &str,
    message: &str,
    param: Option<&str>,
) -> OpenAiError {
    let (error_type, code) = openai_type_and_code(status, anthropic_type);
    let mut body = Vec::with_capacity(message.len() + 96);
    write_error_body(&mut body, message, error_type, param, code);
    OpenAiError { status, body }
}

#[derive(Deserialize)]
struct AnthropicErrorBody {
    error: AnthropicErrorObject,
}

#[derive(Deserialize)]
struct AnthropicErrorObject {
    #[serde(rename = "type", default)]
    error_type: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// The Anthropic error type a status implies, for bodies that do not name one.
pub fn anthropic_type_for_status(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        409 => "conflict_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        504 => "timeout_error",
        529 => "overloaded_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}

/// Translates an Anthropic upstream's error response (`{"type":"error","error":{"type",
/// "message"}}`; any other body is taken as text) into OpenAI's shape, status unchanged.
pub fn upstream_error(status: u16, body: &[u8]) -> OpenAiError {
    let parsed = serde_json::from_slice::<AnthropicErrorBody>(body).ok();
    let (error_type, message) = match parsed {
        Some(AnthropicErrorBody { error }) => (error.error_type, error.message),
        None => (None, text_message(body)),
    };
    let anthropic_type = error_type
        .as_deref()
        .unwrap_or_else(|| anthropic_type_for_status(status));
    let message = message
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| format!("upstream provider returned HTTP {status}"));
    gateway_error(status, anthropic_type, &message, None)
}

/// A non-JSON body as a message: trimmed, lossy UTF-8, at most [`MAX_ERROR_MESSAGE_BYTES`].
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
    use serde_json::Value;

    fn parsed(e: &OpenAiError) -> Value {
        serde_json::from_slice(&e.body).unwrap()
    }

    #[test]
    fn every_anthropic_type_maps_and_the_status_is_kept() {
        let table = [
            (400, "invalid_request_error", "invalid_request_error", None),
            (
                401,
                "authentication_error",
                "invalid_request_error",
                Some("invalid_api_key"),
            ),
            (
                402,
                "billing_error",
                "insufficient_quota",
                Some("insufficient_quota"),
            ),
            (
                403,
                "permission_error",
                "invalid_request_error",
                Some("permission_denied"),
            ),
            (
                404,
                "not_found_error",
                "invalid_request_error",
                Some("not_found"),
            ),
            (
                409,
                "conflict_error",
                "invalid_request_error",
                Some("conflict"),
            ),
            (
                413,
                "request_too_large",
                "invalid_request_error",
                Some("request_too_large"),
            ),
            (
                429,
                "rate_limit_error",
                "requests",
                Some("rate_limit_exceeded"),
            ),
            (500, "api_error", "server_error", None),
            (502, "api_error", "server_error", None),
            (504, "timeout_error", "server_error", Some("timeout")),
            (529, "overloaded_error", "server_error", Some("overloaded")),
            (503, "something_new", "server_error", None),
            (422, "something_new", "invalid_request_error", None),
        ];
        for (status, anthropic, kind, code) in table {
            let e = gateway_error(status, anthropic, "m \"q\"", Some("messages"));
            assert_eq!(e.status, status);
            let v = parsed(&e);
            assert_eq!(v["error"]["type"], kind, "{anthropic}");
            assert_eq!(
                v["error"]["code"],
                code.map_or(Value::Null, Value::from),
                "{anthropic}"
            );
            assert_eq!(v["error"]["message"], "m \"q\"");
            assert_eq!(v["error"]["param"], "messages");
        }
        let v = parsed(&gateway_error(500, "api_error", "x", None));
        assert_eq!(v["error"]["param"], Value::Null);
    }

    #[test]
    fn upstream_anthropic_bodies_keep_status_type_and_message() {
        let body = br#"{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"},"request_id":"req_1"}"#;
        let e = upstream_error(429, body);
        assert_eq!(e.status, 429);
        let v = parsed(&e);
        assert_eq!(v["error"]["type"], "requests");
        assert_eq!(v["error"]["code"], "rate_limit_exceeded");
        assert_eq!(
            v["error"]["message"],
            "Number of request tokens has exceeded your per-minute rate limit"
        );
        let overloaded = upstream_error(
            529,
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        );
        assert_eq!(overloaded.status, 529);
        assert_eq!(parsed(&overloaded)["error"]["code"], "overloaded");
    }

    #[test]
    fn bodies_without_a_type_or_message_fall_back_to_the_status() {
        let e = upstream_error(401, br#"{"type":"error","error":{}}"#);
        let v = parsed(&e);
        assert_eq!(v["error"]["code"], "invalid_api_key");
        assert_eq!(v["error"]["message"], "upstream provider returned HTTP 401");
        let html = upstream_error(502, b"  <html>bad gateway</html>\n");
        let v = parsed(&html);
        assert_eq!(v["error"]["type"], "server_error");
        assert_eq!(v["error"]["message"], "<html>bad gateway</html>");
        let empty = upstream_error(429, b"");
        assert_eq!(parsed(&empty)["error"]["code"], "rate_limit_exceeded");
        let garbage = upstream_error(500, b"\xff\xfe oops");
        assert!(parsed(&garbage)["error"]["message"].is_string());
    }

    #[test]
    fn a_long_text_body_is_cut_at_the_limit_on_a_char_boundary() {
        let at_limit = "a".repeat(MAX_ERROR_MESSAGE_BYTES);
        let e = upstream_error(500, at_limit.as_bytes());
        assert_eq!(parsed(&e)["error"]["message"], at_limit.as_str());
        let past = format!("{}é", "a".repeat(MAX_ERROR_MESSAGE_BYTES - 1));
        let e = upstream_error(500, past.as_bytes());
        let message = parsed(&e)["error"]["message"].as_str().unwrap().to_owned();
        assert_eq!(message, "a".repeat(MAX_ERROR_MESSAGE_BYTES - 1));
    }

    #[test]
    fn statuses_imply_anthropic_types() {
        for (status, kind) in [
            (400, "invalid_request_error"),
            (401, "authentication_error"),
            (402, "billing_error"),
            (403, "permission_error"),
            (404, "not_found_error"),
            (409, "conflict_error"),
            (413, "request_too_large"),
            (422, "invalid_request_error"),
            (429, "rate_limit_error"),
            (500, "api_error"),
            (504, "timeout_error"),
            (529, "overloaded_error"),
        ] {
            assert_eq!(anthropic_type_for_status(status), kind, "{status}");
        }
    }
}
