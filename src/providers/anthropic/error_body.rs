//! Anthropic's error format, which is also the format sluice answers its own clients in: the
//! error body, a whole error response, and the in-band SSE `event: error` frame.

use crate::error::GatewayError;
use crate::http::encode::{reason_phrase, write_content_length, write_header, write_status_line};
use crate::json::{write_json_string, write_u64};

/// Writes the Anthropic error body `{"type":"error","error":{"type":..,"message":..}}`.
pub fn anthropic_error_body(out: &mut Vec<u8>, error_type: &str, message: &str) {
    out.extend_from_slice(b"{\"type\":\"error\",\"error\":{\"type\":\"");
    out.extend_from_slice(error_type.as_bytes());
    out.extend_from_slice(b"\",\"message\":");
    write_json_string(out, message);
    out.extend_from_slice(b"}}");
}

/// Appends a complete Anthropic-format error response for `err`, with `retry-after` when the
/// error carries one and `extra_headers` (complete `name: value\r\n` lines) as given.
pub fn error_response(
    out: &mut Vec<u8>,
    err: &GatewayError,
    request_id: &str,
    extra_headers: &[u8],
    close: bool,
) {
    let mut body = Vec::with_capacity(128);
    anthropic_error_body(&mut body, err.anthropic_type(), &err.message);
    write_status_line(out, err.status(), reason_phrase(err.status()));
    write_header(out, "content-type", b"application/json");
    write_header(out, "request-id", request_id.as_bytes());
    write_header(out, "x-sluice-error", b"1");
    if let Some(secs) = err.retry_after_secs {
        out.extend_from_slice(b"retry-after: ");
        write_u64(out, secs.max(1));
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(extra_headers);
    write_content_length(out, body.len() as u64);
    if close {
        write_header(out, "connection", b"close");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
}

/// Appends an SSE `event: error` frame in Anthropic's shape.
pub fn sse_error_frame(out: &mut Vec<u8>, error_type: &str, message: &str) {
    out.extend_from_slice(b"event: error\ndata: ");
    anthropic_error_body(out, error_type, message);
    out.extend_from_slice(b"\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn error_response_is_a_complete_http_message() {
        let mut out = Vec::new();
        let err = GatewayError::new(ErrorKind::NotFound, "no route for GET /nope");
        error_response(&mut out, &err, "req_1", b"", false);
        let text = String::from_utf8(out).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 404 Not Found\r\n"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"]["type"], "not_found_error");
    }

    #[test]
    fn sse_error_frame_is_one_event() {
        let mut out = Vec::new();
        sse_error_frame(&mut out, "overloaded_error", "upstream went away");
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("event: error\ndata: {"));
        assert!(text.ends_with("}\n\n"));
        let data = text
            .trim_end()
            .strip_prefix("event: error\ndata: ")
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(data).unwrap();
        assert_eq!(v["error"]["type"], "overloaded_error");
    }

    #[test]
    fn error_body_escapes_the_message() {
        let mut out = Vec::new();
        anthropic_error_body(&mut out, "api_error", "a \"quoted\"\nline");
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], "api_error");
        assert_eq!(v["error"]["message"], "a \"quoted\"\nline");
    }
}
