//! Tests for request-head parsing: fixtures at every split, each limit at and past the limit,
//! and one named test per smuggling or malformed shape.

use super::*;
use crate::http::chunked::ChunkedDecoder;
use crate::http::limits::DEFAULT_MAX_BODY_BYTES;

fn parse(buf: &[u8]) -> Result<ParseStatus<RequestHead>, HeadError> {
    parse_request_head(buf, MAX_HEADERS)
}

fn complete(buf: &[u8]) -> RequestHead {
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

/// Every strict prefix of the head is Partial; every longer prefix (head plus any following
/// bytes) gives the same head as the whole buffer. Returns that head.
fn parse_at_every_split(buf: &[u8]) -> RequestHead {
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
    format!("POST /v1/messages HTTP/1.1\r\nHost: gw\r\n{line}\r\n\r\n").into_bytes()
}

const GET: &[u8] = b"GET /v1/models?limit=1000 HTTP/1.1\r\nHost: gw:8080\r\nAccept: */*\r\n\r\n";

const CLAUDE_CODE: &[u8] = b"POST /v1/messages?beta=true HTTP/1.1\r\n\
host: 127.0.0.1:8080\r\n\
Accept: application/json\r\n\
X-Stainless-Retry-Count: 0\r\n\
X-Stainless-Timeout: 600\r\n\
X-Stainless-Lang: js\r\n\
X-Stainless-Package-Version: 0.60.0\r\n\
X-Stainless-OS: Linux\r\n\
X-Stainless-Arch: x64\r\n\
X-Stainless-Runtime: node\r\n\
anthropic-beta: claude-code-20250219,interleaved-thinking-2025-05-14,effort-2025-11-24\r\n\
anthropic-dangerous-direct-browser-access: true\r\n\
anthropic-version: 2023-06-01\r\n\
authorization: Bearer sk-virtual-alice\r\n\
content-type: application/json\r\n\
user-agent: claude-cli/2.1.3 (external, sdk-cli)\r\n\
x-app: cli\r\n\
X-Claude-Code-Session-Id: 5f0c3a8e-2b1d-4c6e-9f7a-1d2e3f4a5b6c\r\n\
accept-encoding: gzip, deflate, br, zstd\r\n\
content-length: 19\r\n\
\r\n\
{\"model\":\"sonnet\"}\n";

#[test]
fn get_parses_at_every_split() {
    let head = parse_at_every_split(GET);
    assert_eq!(head.method(), "GET");
    assert_eq!(head.target(), "/v1/models?limit=1000");
    assert_eq!(head.path(), "/v1/models");
    assert_eq!(head.query(), Some("limit=1000"));
    assert_eq!(head.minor_version(), 1);
    assert_eq!(head.framing(), BodyFraming::Empty);
    assert!(head.keep_alive());
    assert!(!head.expect_continue());
    assert_eq!(head.head_len(), GET.len());
    let headers: Vec<_> = head.headers().collect();
    assert_eq!(
        headers,
        [("Host", &b"gw:8080"[..]), ("Accept", &b"*/*"[..])]
    );
}

#[test]
fn post_with_content_length_parses_at_every_split() {
    let buf = b"POST /v1/messages HTTP/1.1\r\nHost: gw\r\nContent-Length:  5 \r\n\r\nhello";
    let head = parse_at_every_split(buf);
    assert_eq!(head.framing(), BodyFraming::Length(5));
    assert_eq!(head.head_len(), buf.len() - 5);
    assert_eq!(head.query(), None);
    assert_eq!(head.path(), "/v1/messages");
}

#[test]
fn chunked_post_with_extensions_and_trailers_parses_at_every_split() {
    let buf = b"POST /v1/messages HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n\
5;name=value;q=\"a b\"\r\nhello\r\n6 ; last\r\n world\r\n0\r\nx-checksum: abc\r\n\r\nNEXT";
    let head = parse_at_every_split(buf);
    assert_eq!(head.framing(), BodyFraming::Chunked);
    let mut decoder = ChunkedDecoder::new(DEFAULT_MAX_BODY_BYTES);
    let mut body = Vec::new();
    let progress = decoder.decode(&buf[head.head_len()..], &mut body).unwrap();
    assert!(progress.done);
    assert_eq!(body, b"hello world");
    assert_eq!(&buf[head.head_len() + progress.consumed..], b"NEXT");
}

#[test]
fn pipelined_requests_parse_one_after_the_other() {
    let buf = b"POST /a HTTP/1.1\r\nHost: gw\r\nContent-Length: 5\r\n\r\nhelloGET /b?x=1 HTTP/1.1\r\nHost: gw\r\n\r\n";
    let first = parse_at_every_split(buf);
    assert_eq!((first.method(), first.target()), ("POST", "/a"));
    assert_eq!(first.framing(), BodyFraming::Length(5));
    let rest = &buf[first.head_len() + 5..];
    let second = parse_at_every_split(rest);
    assert_eq!(
        (second.method(), second.path(), second.query()),
        ("GET", "/b", Some("x=1"))
    );
    assert_eq!(second.head_len(), rest.len());
}

#[test]
fn claude_code_head_parses_at_every_split() {
    let head = parse_at_every_split(CLAUDE_CODE);
    assert_eq!(head.target(), "/v1/messages?beta=true");
    assert_eq!(head.path(), "/v1/messages");
    assert_eq!(head.query(), Some("beta=true"));
    assert_eq!(head.headers().count(), 19);
    assert_eq!(
        head.header("Anthropic-Beta"),
        Some(&b"claude-code-20250219,interleaved-thinking-2025-05-14,effort-2025-11-24"[..])
    );
    assert_eq!(head.header("x-stainless-timeout"), Some(&b"600"[..]));
    assert_eq!(
        head.header("AUTHORIZATION"),
        Some(&b"Bearer sk-virtual-alice"[..])
    );
    assert_eq!(head.header("x-missing"), None);
    assert_eq!(
        head.headers().nth(5).map(|(name, _)| name),
        Some("X-Stainless-Package-Version")
    );
    assert_eq!(head.framing(), BodyFraming::Length(19));
    assert_eq!(&CLAUDE_CODE[head.head_len()..], b"{\"model\":\"sonnet\"}\n");
}

#[test]
fn leading_empty_lines_are_skipped_and_counted() {
    let buf = b"\r\n\r\nGET / HTTP/1.1\r\nHost: gw\r\n\r\n";
    let head = parse_at_every_split(buf);
    assert_eq!(head.method(), "GET");
    assert_eq!(head.head_len(), buf.len());
}

#[test]
fn header_returns_first_match_and_empty_values() {
    let head =
        complete(b"GET / HTTP/1.1\r\nX-A: 1\r\nx-a: 2\r\nX-Empty:\r\nX-Tab:\tv\tw\t\r\n\r\n");
    assert_eq!(head.header("x-a"), Some(&b"1"[..]));
    assert_eq!(head.header("x-empty"), Some(&b""[..]));
    assert_eq!(head.header("x-tab"), Some(&b"v\tw"[..]));
}

#[test]
fn keep_alive_follows_version_and_connection_tokens() {
    let cases: [(&[u8], bool); 6] = [
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n",
            false,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade, close\r\n\r\n",
            false,
        ),
        (b"GET / HTTP/1.0\r\n\r\n", false),
        (b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true),
        (
            b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
            false,
        ),
    ];
    for (buf, keep_alive) in cases {
        assert_eq!(
            complete(buf).keep_alive(),
            keep_alive,
            "{}",
            String::from_utf8_lossy(buf)
        );
    }
    assert_eq!(complete(b"GET / HTTP/1.0\r\n\r\n").minor_version(), 0);
}

#[test]
fn expect_continue_is_case_insensitive_and_http11_only() {
    assert!(complete(&with_header("Expect: 100-Continue")).expect_continue());
    assert!(!complete(&with_header("Expect: 200-ok")).expect_continue());
    assert!(!complete(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n").expect_continue());
}

#[test]
fn transfer_encoding_chunked_is_case_insensitive_with_ows() {
    let head = complete(&with_header("Transfer-Encoding:   CHUNKED \t"));
    assert_eq!(head.framing(), BodyFraming::Chunked);
}

#[test]
fn largest_content_length_is_accepted() {
    let head = complete(&with_header("Content-Length: 18446744073709551615"));
    assert_eq!(head.framing(), BodyFraming::Length(u64::MAX));
    let head = complete(&with_header("Content-Length: 007"));
    assert_eq!(head.framing(), BodyFraming::Length(7));
}

/// A GET head of exactly `len` bytes (padding in one header value).
fn head_of_len(len: usize) -> Vec<u8> {
    let fixed = "GET / HTTP/1.1\r\nX-Pad: \r\n\r\n".len();
    format!(
        "GET / HTTP/1.1\r\nX-Pad: {}\r\n\r\n",
        "p".repeat(len - fixed)
    )
    .into_bytes()
}

#[test]
fn head_of_exactly_max_bytes_is_accepted() {
    let buf = head_of_len(MAX_HEAD_BYTES);
    assert_eq!(complete(&buf).head_len(), MAX_HEAD_BYTES);
    assert_eq!(parse(&buf[..MAX_HEAD_BYTES - 1]), Ok(ParseStatus::Partial));
}

#[test]
fn head_one_byte_over_max_is_too_large() {
    let buf = head_of_len(MAX_HEAD_BYTES + 1);
    assert_eq!(parse(&buf[..MAX_HEAD_BYTES - 1]), Ok(ParseStatus::Partial));
    assert_eq!(parse(&buf[..MAX_HEAD_BYTES]), Err(HeadError::HeadTooLarge));
    assert_eq!(parse(&buf), Err(HeadError::HeadTooLarge));
}

#[test]
fn endless_leading_empty_lines_are_too_large() {
    let buf = b"\r\n".repeat(MAX_HEAD_BYTES / 2);
    assert_eq!(parse(&buf[..buf.len() - 1]), Ok(ParseStatus::Partial));
    assert_eq!(parse(&buf), Err(HeadError::HeadTooLarge));
}

fn head_with_headers(count: usize) -> Vec<u8> {
    let mut buf = b"GET / HTTP/1.1\r\n".to_vec();
    for i in 0..count {
        buf.extend_from_slice(format!("X-H{i}: {i}\r\n").as_bytes());
    }
    buf.extend_from_slice(b"\r\n");
    buf
}

#[test]
fn header_count_at_limit_is_accepted() {
    let head = complete(&head_with_headers(MAX_HEADERS));
    assert_eq!(head.headers().count(), MAX_HEADERS);
    let small = parse_request_head(&head_with_headers(3), 3);
    assert!(matches!(small, Ok(ParseStatus::Complete(_))));
}

#[test]
fn header_count_one_past_limit_is_rejected() {
    let buf = head_with_headers(MAX_HEADERS + 1);
    assert_eq!(parse(&buf), Err(HeadError::TooManyHeaders));
    assert_eq!(
        parse_request_head(&buf, usize::MAX),
        Err(HeadError::TooManyHeaders)
    );
    let small = parse_request_head(&head_with_headers(4), 3);
    assert_eq!(small, Err(HeadError::TooManyHeaders));
}

#[test]
fn content_length_with_transfer_encoding_is_smuggling() {
    let buf = b"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert!(matches!(error(buf), HeadError::Smuggling(_)));
    let buf = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n";
    assert!(matches!(error(buf), HeadError::Smuggling(_)));
}

#[test]
fn duplicate_identical_content_length_is_smuggling() {
    let buf = b"POST / HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n";
    assert!(matches!(error(buf), HeadError::Smuggling(_)));
}

#[test]
fn content_length_list_is_smuggling() {
    assert!(matches!(
        error(&with_header("Content-Length: 5, 5")),
        HeadError::Smuggling(_)
    ));
    assert!(matches!(
        error(&with_header("Content-Length: 5,5")),
        HeadError::Smuggling(_)
    ));
}

#[test]
fn content_length_with_sign_is_smuggling() {
    assert!(matches!(
        error(&with_header("Content-Length: +5")),
        HeadError::Smuggling(_)
    ));
    assert!(matches!(
        error(&with_header("Content-Length: -5")),
        HeadError::Smuggling(_)
    ));
}

#[test]
fn content_length_with_inner_space_is_smuggling() {
    assert!(matches!(
        error(&with_header("Content-Length: 1 0")),
        HeadError::Smuggling(_)
    ));
}

#[test]
fn content_length_empty_is_smuggling() {
    assert!(matches!(
        error(&with_header("Content-Length:")),
        HeadError::Smuggling(_)
    ));
    assert!(matches!(
        error(&with_header("Content-Length:   ")),
        HeadError::Smuggling(_)
    ));
}

#[test]
fn content_length_not_decimal_is_smuggling() {
    assert!(matches!(
        error(&with_header("Content-Length: 0x5")),
        HeadError::Smuggling(_)
    ));
    assert!(matches!(
        error(&with_header("Content-Length: 5a")),
        HeadError::Smuggling(_)
    ));
}

#[test]
fn content_length_overflow_is_smuggling() {
    let buf = with_header("Content-Length: 18446744073709551616");
    assert!(matches!(error(&buf), HeadError::Smuggling(_)));
}

#[test]
fn transfer_encoding_gzip_chunked_is_smuggling() {
    let buf = with_header("Transfer-Encoding: gzip, chunked");
    assert!(matches!(error(&buf), HeadError::Smuggling(_)));
}

#[test]
fn transfer_encoding_chunked_twice_in_list_is_smuggling() {
    let buf = with_header("Transfer-Encoding: chunked, chunked");
    assert!(matches!(error(&buf), HeadError::Smuggling(_)));
}

#[test]
fn transfer_encoding_identity_is_smuggling() {
    let buf = with_header("Transfer-Encoding: identity");
    assert!(matches!(error(&buf), HeadError::Smuggling(_)));
}

#[test]
fn transfer_encoding_chunked_with_parameter_is_smuggling() {
    let buf = with_header("Transfer-Encoding: chunked;x");
    assert!(matches!(error(&buf), HeadError::Smuggling(_)));
}

#[test]
fn two_transfer_encoding_headers_are_smuggling() {
    let buf = with_header("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked");
    assert!(matches!(error(&buf), HeadError::Smuggling(_)));
}

#[test]
fn http10_with_transfer_encoding_is_smuggling() {
    let buf = b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert!(matches!(error(buf), HeadError::Smuggling(_)));
}

#[test]
fn bare_lf_in_request_line_is_malformed() {
    assert_eq!(
        error(b"GET / HTTP/1.1\nHost: a\r\n\r\n"),
        HeadError::Malformed("bare LF")
    );
}

#[test]
fn bare_lf_in_header_line_is_malformed() {
    assert_eq!(
        error(b"GET / HTTP/1.1\r\nHost: a\n\r\n\r\n"),
        HeadError::Malformed("bare LF")
    );
}

#[test]
fn bare_lf_head_is_rejected_before_it_completes() {
    // A bare-LF-only client never sends CRLFCRLF: fail fast instead of waiting for the limit.
    assert_eq!(
        error(b"GET / HTTP/1.1\nHost: a\n\n"),
        HeadError::Malformed("bare LF")
    );
    assert_eq!(
        error(b"\nGET / HTTP/1.1\r\n\r\n"),
        HeadError::Malformed("bare LF")
    );
}

#[test]
fn bare_cr_is_malformed() {
    assert!(matches!(
        error(b"GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n"),
        HeadError::Malformed(_)
    ));
    assert!(matches!(
        error(b"\rGET / HTTP/1.1\r\n\r\n"),
        HeadError::Malformed(_)
    ));
}

#[test]
fn nul_in_header_value_is_malformed() {
    assert!(matches!(
        error(b"GET / HTTP/1.1\r\nX-A: a\0b\r\n\r\n"),
        HeadError::Malformed(_)
    ));
}

#[test]
fn nul_in_request_target_is_malformed() {
    assert!(matches!(
        error(b"GET /a\0b HTTP/1.1\r\n\r\n"),
        HeadError::Malformed(_)
    ));
}

#[test]
fn control_bytes_in_header_are_malformed() {
    for control in (0x01u8..0x20)
        .filter(|b| !matches!(b, b'\t' | b'\r' | b'\n'))
        .chain([0x7f])
    {
        let mut value = b"GET / HTTP/1.1\r\nX-A: a".to_vec();
        value.extend_from_slice(&[control, b'b']);
        value.extend_from_slice(b"\r\n\r\n");
        assert!(
            matches!(error(&value), HeadError::Malformed(_)),
            "value byte {control:#x}"
        );
        let name = [
            b"GET / HTTP/1.1\r\nX-".as_slice(),
            &[control],
            b": a\r\n\r\n",
        ]
        .concat();
        assert!(
            matches!(error(&name), HeadError::Malformed(_)),
            "name byte {control:#x}"
        );
    }
}

#[test]
fn control_byte_in_method_is_malformed() {
    assert!(matches!(
        error(b"G\x01T / HTTP/1.1\r\n\r\n"),
        HeadError::Malformed(_)
    ));
}

#[test]
fn obsolete_line_fold_is_malformed() {
    let buf = b"GET / HTTP/1.1\r\nX-A: a\r\n  folded\r\n\r\n";
    assert_eq!(error(buf), HeadError::Malformed("obsolete line folding"));
    let buf = b"GET / HTTP/1.1\r\nX-A: a\r\n\tfolded\r\n\r\n";
    assert_eq!(error(buf), HeadError::Malformed("obsolete line folding"));
    let buf = b"GET / HTTP/1.1\r\n Host: a\r\n\r\n";
    assert_eq!(error(buf), HeadError::Malformed("obsolete line folding"));
}

#[test]
fn whitespace_between_name_and_colon_is_malformed() {
    let buf = b"POST / HTTP/1.1\r\nContent-Length : 5\r\n\r\n";
    assert_eq!(error(buf), HeadError::Malformed("whitespace before colon"));
    let buf = b"POST / HTTP/1.1\r\nTransfer-Encoding\t: chunked\r\n\r\n";
    assert_eq!(error(buf), HeadError::Malformed("whitespace before colon"));
}

#[test]
fn empty_header_name_is_malformed() {
    assert_eq!(
        error(b"GET / HTTP/1.1\r\n: a\r\n\r\n"),
        HeadError::Malformed("empty header name")
    );
}

#[test]
fn header_line_without_colon_is_malformed() {
    let buf = b"GET / HTTP/1.1\r\nHost a\r\n\r\n";
    assert_eq!(
        error(buf),
        HeadError::Malformed("header line without colon")
    );
}

#[test]
fn duplicate_host_is_malformed() {
    let buf = b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n";
    assert!(matches!(error(buf), HeadError::Malformed(_)));
}

#[test]
fn malformed_request_lines_are_rejected() {
    for buf in [
        &b"GET  / HTTP/1.1\r\n\r\n"[..],
        b"GET /\r\n\r\n",
        b"GET / HTTP/1.1 extra\r\n\r\n",
        b" GET / HTTP/1.1\r\n\r\n",
    ] {
        assert!(matches!(error(buf), HeadError::Malformed(_)), "{buf:?}");
    }
}

#[test]
fn version_other_than_http10_or_http11_is_unsupported() {
    for buf in [
        &b"GET / HTTP/2.0\r\n\r\n"[..],
        b"GET / HTTP/1.2\r\n\r\n",
        b"GET / HTTP/0.9\r\n\r\n",
        b"GET / HTTP/1\r\n\r\n",
    ] {
        assert_eq!(error(buf), HeadError::UnsupportedVersion, "{buf:?}");
    }
}
