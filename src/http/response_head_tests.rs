//! Tests for upstream response heads: fixtures at every split, framing per RFC 9112 §6.3,
//! the limits, and the conflict shapes upstreams must not send.

use super::*;
use crate::http::limits::MAX_HEAD_BYTES;

fn parse(buf: &[u8]) -> Result<ParseStatus<ResponseHead>, HeadError> {
    parse_response_head(buf, MAX_HEADERS)
}

fn complete(buf: &[u8]) -> ResponseHead {
    match parse(buf) {
        Ok(ParseStatus::Complete(head)) => head,
        other => panic!("expected a complete head, got {other:?}"),
    }
}

fn error(buf: &[u8]) -> HeadError {
    match parse(buf) {
        Err(error) => error,
        other => panic!("expected an error, got {other:?}"),
    }
}

fn parse_at_every_split(buf: &[u8]) -> ResponseHead {
    let head = complete(buf);
    for len in 0..head.head_len() {
        assert_eq!(
            parse(&buf[..len]),
            Ok(ParseStatus::Partial),
            "prefix of {len} bytes"
        );
    }
    for len in head.head_len()..=buf.len() {
        assert_eq!(
            parse(&buf[..len]),
            Ok(ParseStatus::Complete(head.clone())),
            "prefix {len}"
        );
    }
    head
}

fn with_header(line: &str) -> Vec<u8> {
    format!("HTTP/1.1 200 OK\r\n{line}\r\n\r\n").into_bytes()
}

fn framing_of(line: &str) -> ResponseFraming {
    complete(&with_header(line)).framing(false)
}

#[test]
fn json_response_parses_at_every_split() {
    let buf = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nrequest-id: req_1\r\n\
Content-Length: 2\r\n\r\n{}";
    let head = parse_at_every_split(buf);
    assert_eq!(
        (head.status(), head.reason(), head.minor_version()),
        (200, "OK", 1)
    );
    assert_eq!(head.framing(false), ResponseFraming::Length(2));
    assert_eq!(head.header("Request-Id"), Some(&b"req_1"[..]));
    let names: Vec<_> = head.headers().map(|(name, _)| name).collect();
    assert_eq!(names, ["content-type", "request-id", "Content-Length"]);
    assert_eq!(&buf[head.head_len()..], b"{}");
    assert!(head.keep_alive());
}

#[test]
fn event_stream_response_parses_at_every_split() {
    let buf = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
Transfer-Encoding: chunked\r\n\r\n16\r\nevent: ping\ndata: {}\n\n\r\n";
    let head = parse_at_every_split(buf);
    assert_eq!(head.framing(false), ResponseFraming::Chunked);
}

#[test]
fn interim_100_continue_is_returned_then_final_head() {
    let buf = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 429 Too Many Requests\r\nretry-after: 7\r\n\
content-length: 0\r\n\r\n";
    let interim = parse_at_every_split(buf);
    assert_eq!(interim.status(), 100);
    assert_eq!(interim.framing(false), ResponseFraming::Empty);
    let rest = &buf[interim.head_len()..];
    let last = parse_at_every_split(rest);
    assert_eq!((last.status(), last.reason()), (429, "Too Many Requests"));
    assert_eq!(last.header("retry-after"), Some(&b"7"[..]));
    assert_eq!(last.framing(false), ResponseFraming::Length(0));
}

#[test]
fn missing_or_non_ascii_reason_reads_as_empty() {
    assert_eq!(complete(b"HTTP/1.1 200\r\n\r\n").reason(), "");
    assert_eq!(
        complete(b"HTTP/1.1 200 \xc3\xa9t\xc3\xa9\r\n\r\n").reason(),
        ""
    );
    assert_eq!(
        complete(b"HTTP/1.1 529 Overloaded\r\n\r\n").reason(),
        "Overloaded"
    );
}

#[test]
fn framing_is_empty_for_head_1xx_204_304() {
    let head = complete(&with_header("Content-Length: 10"));
    assert_eq!(head.framing(true), ResponseFraming::Empty);
    assert_eq!(head.framing(false), ResponseFraming::Length(10));
    for status in [101, 103, 204, 304] {
        let buf = format!("HTTP/1.1 {status} X\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(
            complete(buf.as_bytes()).framing(false),
            ResponseFraming::Empty,
            "{status}"
        );
    }
}

#[test]
fn framing_follows_transfer_coding_then_content_length_then_close() {
    assert_eq!(
        framing_of("Transfer-Encoding: chunked"),
        ResponseFraming::Chunked
    );
    assert_eq!(
        framing_of("Transfer-Encoding: gzip, CHUNKED"),
        ResponseFraming::Chunked
    );
    let split = "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked";
    assert_eq!(framing_of(split), ResponseFraming::Chunked);
    assert_eq!(
        framing_of("Transfer-Encoding: chunked, gzip"),
        ResponseFraming::CloseDelimited
    );
    assert_eq!(
        framing_of("Transfer-Encoding: gzip"),
        ResponseFraming::CloseDelimited
    );
    assert_eq!(framing_of("Content-Length: 7"), ResponseFraming::Length(7));
    assert_eq!(framing_of("X-Other: 1"), ResponseFraming::CloseDelimited);
}

#[test]
fn keep_alive_follows_version_and_connection_tokens() {
    assert!(complete(b"HTTP/1.1 200 OK\r\n\r\n").keep_alive());
    assert!(!complete(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n").keep_alive());
    assert!(!complete(b"HTTP/1.0 200 OK\r\n\r\n").keep_alive());
    assert!(complete(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n").keep_alive());
}

#[test]
fn identical_duplicate_content_lengths_are_accepted() {
    assert_eq!(
        framing_of("Content-Length: 5\r\ncontent-length: 5"),
        ResponseFraming::Length(5)
    );
}

#[test]
fn differing_content_lengths_are_smuggling() {
    let buf = with_header("Content-Length: 5\r\nContent-Length: 6");
    assert!(matches!(error(&buf), HeadError::Smuggling(_)));
}

#[test]
fn content_length_list_or_garbage_is_smuggling() {
    for value in ["5, 5", "+5", "", "1 0", "18446744073709551616"] {
        let buf = with_header(&format!("Content-Length: {value}"));
        assert!(matches!(error(&buf), HeadError::Smuggling(_)), "{value:?}");
    }
}

#[test]
fn content_length_with_transfer_encoding_is_smuggling() {
    let buf = with_header("Content-Length: 5\r\nTransfer-Encoding: chunked");
    assert!(matches!(error(&buf), HeadError::Smuggling(_)));
}

#[test]
fn chunked_applied_twice_is_smuggling() {
    let buf = with_header("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked");
    assert!(matches!(error(&buf), HeadError::Smuggling(_)));
    let buf = with_header("Transfer-Encoding: chunked, chunked");
    assert!(matches!(error(&buf), HeadError::Smuggling(_)));
}

#[test]
fn chunked_with_parameter_is_smuggling() {
    let buf = with_header("Transfer-Encoding: chunked;x=1");
    assert!(matches!(error(&buf), HeadError::Smuggling(_)));
}

#[test]
fn empty_transfer_encoding_is_smuggling() {
    let buf = with_header("Transfer-Encoding: , ");
    assert!(matches!(error(&buf), HeadError::Smuggling(_)));
}

#[test]
fn http10_response_with_transfer_encoding_is_smuggling() {
    let buf = b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert!(matches!(error(buf), HeadError::Smuggling(_)));
}

#[test]
fn bare_lf_response_is_malformed() {
    assert_eq!(
        error(b"HTTP/1.1 200 OK\nA: b\r\n\r\n"),
        HeadError::Malformed("bare LF")
    );
    assert_eq!(
        error(b"HTTP/1.1 200 OK\n\n"),
        HeadError::Malformed("bare LF")
    );
}

#[test]
fn obsolete_line_fold_response_is_malformed() {
    let buf = b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\n\r\n";
    assert_eq!(error(buf), HeadError::Malformed("obsolete line folding"));
}

#[test]
fn whitespace_before_colon_response_is_malformed() {
    let buf = b"HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n";
    assert_eq!(error(buf), HeadError::Malformed("whitespace before colon"));
}

#[test]
fn nul_in_response_header_is_malformed() {
    assert!(matches!(
        error(b"HTTP/1.1 200 OK\r\nX-A: \0\r\n\r\n"),
        HeadError::Malformed(_)
    ));
}

#[test]
fn bad_status_lines_are_malformed() {
    for buf in [
        &b"HTTP/1.1 099 Low\r\n\r\n"[..],
        b"HTTP/1.1 20 OK\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"HTTP/1.1 200 O\x01K\r\n\r\n",
    ] {
        assert!(matches!(error(buf), HeadError::Malformed(_)), "{buf:?}");
    }
}

#[test]
fn response_version_other_than_http10_or_http11_is_unsupported() {
    assert_eq!(
        error(b"HTTP/2.0 200 OK\r\n\r\n"),
        HeadError::UnsupportedVersion
    );
    assert_eq!(
        error(b"HTTX/1.1 200 OK\r\n\r\n"),
        HeadError::UnsupportedVersion
    );
}

fn response_of_len(len: usize) -> Vec<u8> {
    let fixed = "HTTP/1.1 200 OK\r\nX-Pad: \r\n\r\n".len();
    format!(
        "HTTP/1.1 200 OK\r\nX-Pad: {}\r\n\r\n",
        "p".repeat(len - fixed)
    )
    .into_bytes()
}

#[test]
fn response_head_of_exactly_max_bytes_is_accepted() {
    let buf = response_of_len(MAX_HEAD_BYTES);
    assert_eq!(complete(&buf).head_len(), MAX_HEAD_BYTES);
}

#[test]
fn response_head_one_byte_over_max_is_too_large() {
    let buf = response_of_len(MAX_HEAD_BYTES + 1);
    assert_eq!(parse(&buf[..MAX_HEAD_BYTES - 1]), Ok(ParseStatus::Partial));
    assert_eq!(parse(&buf), Err(HeadError::HeadTooLarge));
}

fn response_with_headers(count: usize) -> Vec<u8> {
    let mut buf = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..count {
        buf.extend_from_slice(format!("X-H{i}: {i}\r\n").as_bytes());
    }
    buf.extend_from_slice(b"\r\n");
    buf
}

#[test]
fn response_header_count_at_limit_is_accepted() {
    assert_eq!(
        complete(&response_with_headers(MAX_HEADERS))
            .headers()
            .count(),
        MAX_HEADERS
    );
}

#[test]
fn response_header_count_one_past_limit_is_rejected() {
    let buf = response_with_headers(MAX_HEADERS + 1);
    assert_eq!(parse(&buf), Err(HeadError::TooManyHeaders));
    assert_eq!(
        parse_response_head(&response_with_headers(2), 1),
        Err(HeadError::TooManyHeaders)
    );
}
