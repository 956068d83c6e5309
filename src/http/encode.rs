//! Encoding of what sluice writes on the wire itself: status lines, headers, whole local
//! responses (health, errors) and SSE frames it injects (ping, error).

use crate::observe::json::write_u64;
use crate::proxy::error::{GatewayError, anthropic_error_body};

/// The SSE ping frame injected during upstream silences (the exact shape Anthropic sends).
pub const SSE_PING_FRAME: &[u8] = b"event: ping\ndata: {\"type\": \"ping\"}\n\n";

/// The interim response sent for `Expect: 100-continue`.
pub const CONTINUE_100: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// The reason phrase for the statuses sluice produces; upstream reasons are forwarded as sent.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        529 => "Overloaded",
        _ => "Unknown",
    }
}

/// Appends `HTTP/1.1 <status> <reason>\r\n`.
pub fn write_status_line(out: &mut Vec<u8>, status: u16, reason: &str) {
    out.extend_from_slice(b"HTTP/1.1 ");
    write_u64(out, u64::from(status));
    out.push(b' ');
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends `name: value\r\n`.
pub fn write_header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Appends `Content-Length: n\r\n`.
pub fn write_content_length(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(b"content-length: ");
    write_u64(out, n);
    out.extend_from_slice(b"\r\n");
}

/// Appends a complete response with a body and a Content-Length.
pub fn local_response(
    out: &mut Vec<u8>,
    status: u16,
    content_type: &str,
    body: &[u8],
    close: bool,
) {
    write_status_line(out, status, reason_phrase(status));
    write_header(out, "content-type", content_type.as_bytes());
    write_content_length(out, body.len() as u64);
    if close {
        write_header(out, "connection", b"close");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
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
    use crate::proxy::error::ErrorKind;

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
}
