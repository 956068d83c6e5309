//! Request heads from clients, parsed strictly and without IO: the first line of defence against
//! request smuggling, since the gateway re-frames every body it forwards upstream.
//!
//! httparse does the core parse. It is lenient where we must not be, so we add: CRLF-only line
//! ends (httparse takes bare LF), no obsolete line folding, no whitespace before a colon, and the
//! Content-Length / Transfer-Encoding rules of RFC 9112 §6 in their strictest form.
//!
//! This file also holds what [`super::response_head`] shares with it: locating and pre-scanning a
//! head in the connection buffer, the owned span storage ([`head_store`]), and the framing-header
//! helpers, so neither side writes them twice.

use std::fmt;
use std::mem::MaybeUninit;

use memchr::memmem;

use crate::http::limits::{MAX_HEAD_BYTES, MAX_HEADERS};

use self::head_store::{HeadStore, Span, SpanMaker};

/// Result of offering the bytes read so far to a head parser.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseStatus<T> {
    /// The head is not complete yet: read more and call again with the grown buffer.
    Partial,
    /// The head is complete; its `head_len()` says how many buffer bytes it used (any bytes after
    /// that are body or the next pipelined message).
    Complete(T),
}

/// Why a head was rejected. Every variant means: answer (or treat the upstream as broken) and
/// close the connection, since the message boundary can no longer be trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadError {
    /// No complete head within [`MAX_HEAD_BYTES`] (431 for requests).
    HeadTooLarge,
    /// More header fields than the caller's `max_headers` (431 for requests).
    TooManyHeaders,
    /// Not valid HTTP/1.1 syntax (400).
    Malformed(&'static str),
    /// Ambiguous body framing, the stuff of request smuggling (400).
    Smuggling(&'static str),
    /// A version other than HTTP/1.0 or HTTP/1.1 (505).
    UnsupportedVersion,
}

impl fmt::Display for HeadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeadError::HeadTooLarge => f.write_str("head too large"),
            HeadError::TooManyHeaders => f.write_str("too many headers"),
            HeadError::Malformed(why) => write!(f, "malformed head: {why}"),
            HeadError::Smuggling(why) => write!(f, "ambiguous message framing: {why}"),
            HeadError::UnsupportedVersion => f.write_str("unsupported HTTP version"),
        }
    }
}

impl std::error::Error for HeadError {}

/// How a request body is delimited (RFC 9112 §6.3 for requests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFraming {
    /// Neither Content-Length nor Transfer-Encoding: no body.
    Empty,
    /// `Content-Length: n` (including `0`, reported as is).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A parsed request head. Owns one copy of the head bytes; every accessor borrows from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    store: HeadStore,
    method: Span,
    target: Span,
    minor_version: u8,
    framing: BodyFraming,
    keep_alive: bool,
    expect_continue: bool,
}

impl RequestHead {
    /// The method token as sent, e.g. `POST`.
    pub fn method(&self) -> &str {
        self.store.str_at(self.method)
    }

    /// The raw request-target, e.g. `/v1/messages?beta=true`.
    pub fn target(&self) -> &str {
        self.store.str_at(self.target)
    }

    /// The target up to (not including) the first `?`.
    pub fn path(&self) -> &str {
        let target = self.target();
        target.split_once('?').map_or(target, |(path, _)| path)
    }

    /// The target after the first `?` (without it), if there is a `?`.
    pub fn query(&self) -> Option<&str> {
        self.target().split_once('?').map(|(_, query)| query)
    }

    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub fn minor_version(&self) -> u8 {
        self.minor_version
    }

    /// Every header field in the order sent, names as sent, values without surrounding OWS.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.store.headers()
    }

    /// The value of the first field named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.store.header(name)
    }

    /// How the body that follows the head is delimited.
    pub fn framing(&self) -> BodyFraming {
        self.framing
    }

    /// Whether the connection may carry another request after this one: HTTP/1.1 unless a
    /// `Connection: close` token; HTTP/1.0 only with a `keep-alive` token (and no `close`).
    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }

    /// `Expect: 100-continue` (case-insensitive) on an HTTP/1.1 request; HTTP/1.0 requests get
    /// no interim response (RFC 9110 §10.1.1).
    pub fn expect_continue(&self) -> bool {
        self.expect_continue
    }

    /// Bytes of the connection buffer this head used, leading empty lines included.
    pub fn head_len(&self) -> usize {
        self.store.head_len()
    }
}

/// Parses a request head from `buf`, everything read so far on the connection (it may hold
/// body bytes or pipelined requests after the head). `max_headers` is capped at
/// [`MAX_HEADERS`]. Returns `Partial` while the head is incomplete and `buf` is shorter than
/// [`MAX_HEAD_BYTES`]; once `buf` holds that many bytes without a complete head, `HeadTooLarge`.
pub fn parse_request_head(
    buf: &[u8],
    max_headers: usize,
) -> Result<ParseStatus<RequestHead>, HeadError> {
    let Some(bounds) = locate_head(buf)? else {
        return Ok(ParseStatus::Partial);
    };
    let head = bounds.head(buf);
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let slots = slots
        .get_mut(..max_headers.min(MAX_HEADERS))
        .unwrap_or_default();
    let mut req = httparse::Request::new(&mut []);
    let parsed = req.parse_with_uninit_headers(head, slots);
    check_complete(parsed, head.len())?;
    let minor_version = req.version.unwrap_or(1);
    let fields = req.headers;

    let mut content_length = None;
    let mut chunked = false;
    let mut host_seen = false;
    let mut expect_continue = false;
    let mut connection = ConnectionTokens::default();
    for field in fields.iter() {
        let name = field.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            if content_length.is_some() {
                return Err(HeadError::Smuggling("more than one content-length"));
            }
            content_length = Some(parse_content_length(field.value)?);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            if chunked {
                return Err(HeadError::Smuggling("more than one transfer-encoding"));
            }
            if !field.value.eq_ignore_ascii_case(b"chunked") {
                return Err(HeadError::Smuggling("transfer-encoding other than chunked"));
            }
            chunked = true;
        } else if name.eq_ignore_ascii_case(b"connection") {
            connection.add(field.value);
        } else if name.eq_ignore_ascii_case(b"expect") {
            expect_continue |= field.value.eq_ignore_ascii_case(b"100-continue");
        } else if name.eq_ignore_ascii_case(b"host") {
            if host_seen {
                return Err(HeadError::Malformed("more than one host"));
            }
            host_seen = true;
        }
    }
    let framing = match (content_length, chunked) {
        (Some(_), true) => {
            return Err(HeadError::Smuggling(
                "content-length with transfer-encoding",
            ));
        }
        (None, true) if minor_version == 0 => {
            return Err(HeadError::Smuggling("transfer-encoding in HTTP/1.0"));
        }
        (None, true) => BodyFraming::Chunked,
        (Some(length), false) => BodyFraming::Length(length),
        (None, false) => BodyFraming::Empty,
    };

    let spans = SpanMaker::new(head);
    let method = spans.span(req.method.unwrap_or_default().as_bytes());
    let target = spans.span(req.path.unwrap_or_default().as_bytes());
    Ok(ParseStatus::Complete(RequestHead {
        store: HeadStore::new(head, fields, bounds.end),
        method,
        target,
        minor_version,
        framing,
        keep_alive: connection.keep_alive(minor_version),
        expect_continue: expect_continue && minor_version == 1,
    }))
}

/// Where a complete head lies in the connection buffer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HeadBounds {
    /// First byte of the start line (after any leading empty lines).
    start: usize,
    /// One past the final CRLFCRLF: the head length to consume.
    pub(crate) end: usize,
}

impl HeadBounds {
    /// The head itself, start line through final CRLFCRLF.
    pub(crate) fn head(self, buf: &[u8]) -> &[u8] {
        buf.get(self.start..self.end).unwrap_or_default()
    }
}

/// Finds the head in `buf` (skipping leading CRLF empty lines, RFC 9112 §2.2) and pre-scans it
/// for what httparse would let through: bare LF line ends, obsolete line folding, header lines
/// with an empty name, no colon, or whitespace before the colon. `Ok(None)` means partial.
pub(crate) fn locate_head(buf: &[u8]) -> Result<Option<HeadBounds>, HeadError> {
    let window = buf.get(..MAX_HEAD_BYTES).unwrap_or(buf);
    let mut start = 0;
    while window.get(start..start + 2) == Some(b"\r\n".as_slice()) {
        start += 2;
    }
    let rest = window.get(start..).unwrap_or_default();
    match rest {
        [] | [b'\r'] => return partial_or_too_large(buf.len()),
        [b'\n', ..] => return Err(HeadError::Malformed("bare LF")),
        [b'\r', _, ..] => return Err(HeadError::Malformed("bare CR")),
        _ => {}
    }
    match memmem::find(rest, b"\r\n\r\n") {
        Some(pos) => {
            let end = start + pos + 4;
            check_lines(rest.get(..pos + 4).unwrap_or_default())?;
            Ok(Some(HeadBounds { start, end }))
        }
        None => {
            // Fail fast on a bare-LF client instead of waiting for a CRLFCRLF that never comes.
            if memchr::memchr_iter(b'\n', rest).any(|lf| !preceded_by_cr(rest, lf)) {
                return Err(HeadError::Malformed("bare LF"));
            }
            partial_or_too_large(buf.len())
        }
    }
}

fn partial_or_too_large(buffered: usize) -> Result<Option<HeadBounds>, HeadError> {
    if buffered >= MAX_HEAD_BYTES {
        Err(HeadError::HeadTooLarge)
    } else {
        Ok(None)
    }
}

fn preceded_by_cr(bytes: &[u8], index: usize) -> bool {
    index > 0 && bytes.get(index - 1) == Some(&b'\r')
}

/// Checks the line structure of a complete head (start line first, ending in CRLFCRLF).
fn check_lines(head: &[u8]) -> Result<(), HeadError> {
    let mut line_start = 0;
    let mut is_start_line = true;
    for lf in memchr::memchr_iter(b'\n', head) {
        if !preceded_by_cr(head, lf) {
            return Err(HeadError::Malformed("bare LF"));
        }
        let line = head.get(line_start..lf - 1).unwrap_or_default();
        if !is_start_line && !line.is_empty() {
            check_field_line(line)?;
        }
        is_start_line = false;
        line_start = lf + 1;
    }
    Ok(())
}

fn check_field_line(line: &[u8]) -> Result<(), HeadError> {
    if matches!(line.first(), Some(b' ' | b'\t')) {
        return Err(HeadError::Malformed("obsolete line folding"));
    }
    match memchr::memchr(b':', line) {
        None => Err(HeadError::Malformed("header line without colon")),
        Some(0) => Err(HeadError::Malformed("empty header name")),
        Some(colon) if matches!(line.get(colon - 1), Some(b' ' | b'\t')) => {
            Err(HeadError::Malformed("whitespace before colon"))
        }
        Some(_) => Ok(()),
    }
}

/// Maps httparse's verdict on a head `head_len` bytes long (already known to be complete).
pub(crate) fn check_complete(
    parsed: httparse::Result<usize>,
    head_len: usize,
) -> Result<(), HeadError> {
    match parsed {
        Ok(httparse::Status::Complete(used)) if used == head_len => Ok(()),
        Ok(_) => Err(HeadError::Malformed(
            "head does not end at the first empty line",
        )),
        Err(httparse::Error::TooManyHeaders) => Err(HeadError::TooManyHeaders),
        Err(httparse::Error::Version) => Err(HeadError::UnsupportedVersion),
        Err(httparse::Error::HeaderName) => Err(HeadError::Malformed("invalid header name")),
        Err(httparse::Error::HeaderValue) => Err(HeadError::Malformed("invalid header value")),
        Err(httparse::Error::NewLine) => Err(HeadError::Malformed("invalid line ending")),
        Err(httparse::Error::Status) => Err(HeadError::Malformed("invalid status line")),
        Err(httparse::Error::Token) => Err(HeadError::Malformed("invalid request line")),
    }
}

/// Parses a Content-Length value (already without surrounding OWS): one or more ASCII digits,
/// nothing else, fitting a `u64`. A list such as `5, 5` is rejected.
pub(crate) fn parse_content_length(value: &[u8]) -> Result<u64, HeadError> {
    if value.is_empty() {
        return Err(HeadError::Smuggling("empty content-length"));
    }
    let mut length: u64 = 0;
    for &byte in value {
        if !byte.is_ascii_digit() {
            return Err(HeadError::Smuggling("content-length is not plain digits"));
        }
        length = length
            .checked_mul(10)
            .and_then(|l| l.checked_add(u64::from(byte - b'0')))
            .ok_or(HeadError::Smuggling("content-length overflows"))?;
    }
    Ok(length)
}

/// Trims optional whitespace (SP / HTAB) from both ends.
pub(crate) fn trim_ows(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

/// The `close` / `keep-alive` tokens seen across all `Connection` fields.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ConnectionTokens {
    close: bool,
    keep_alive: bool,
}

impl ConnectionTokens {
    /// Adds one `Connection` field value (a comma list of tokens).
    pub(crate) fn add(&mut self, value: &[u8]) {
        for token in value.split(|&b| b == b',').map(trim_ows) {
            self.close |= token.eq_ignore_ascii_case(b"close");
            self.keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
        }
    }

    /// Persistence per RFC 9112 §9.3 for a message of HTTP/1.`minor_version`.
    pub(crate) fn keep_alive(self, minor_version: u8) -> bool {
        !self.close && (minor_version >= 1 || self.keep_alive)
    }
}

/// Owned storage shared by request and response heads: one copy of the head bytes plus `u32`
/// spans into it, so a parsed head is two allocations and borrows everything else.
pub(crate) mod head_store {
    /// A byte range `start..end` into the stored head.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub(crate) struct Span {
        start: u32,
        end: u32,
    }

    /// Turns sub-slices of one head slice into spans relative to it.
    pub(crate) struct SpanMaker {
        base: usize,
        len: usize,
    }

    impl SpanMaker {
        pub(crate) fn new(head: &[u8]) -> Self {
            SpanMaker {
                base: head.as_ptr() as usize,
                len: head.len(),
            }
        }

        /// The span of `part`, which must lie inside the head (anything else, e.g. a static
        /// empty string, becomes an empty span).
        pub(crate) fn span(&self, part: &[u8]) -> Span {
            let offset = (part.as_ptr() as usize).wrapping_sub(self.base);
            let inside = offset <= self.len && part.len() <= self.len - offset;
            match (u32::try_from(offset), u32::try_from(offset + part.len())) {
                (Ok(start), Ok(end)) if inside => Span { start, end },
                _ => Span::default(),
            }
        }
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct FieldSpan {
        name: Span,
        value: Span,
    }

    /// The head bytes, the header field spans and how much of the buffer the head used.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub(crate) struct HeadStore {
        bytes: Vec<u8>,
        fields: Vec<FieldSpan>,
        head_len: usize,
    }

    impl HeadStore {
        /// Copies `head` and records where each parsed field (borrowing from `head`) lies.
        pub(crate) fn new(head: &[u8], fields: &[httparse::Header<'_>], head_len: usize) -> Self {
            let spans = SpanMaker::new(head);
            HeadStore {
                bytes: head.to_vec(),
                fields: fields
                    .iter()
                    .map(|field| FieldSpan {
                        name: spans.span(field.name.as_bytes()),
                        value: spans.span(field.value),
                    })
                    .collect(),
                head_len,
            }
        }

        pub(crate) fn bytes_at(&self, span: Span) -> &[u8] {
            self.bytes
                .get(span.start as usize..span.end as usize)
                .unwrap_or_default()
        }

        /// Spans handed to this are of text httparse validated as UTF-8 (tokens, the target,
        /// an ASCII reason), so the fallback is never taken.
        pub(crate) fn str_at(&self, span: Span) -> &str {
            std::str::from_utf8(self.bytes_at(span)).unwrap_or_default()
        }

        pub(crate) fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
            self.fields
                .iter()
                .map(|field| (self.str_at(field.name), self.bytes_at(field.value)))
        }

        pub(crate) fn header(&self, name: &str) -> Option<&[u8]> {
            self.fields
                .iter()
                .find(|field| {
                    self.bytes_at(field.name)
                        .eq_ignore_ascii_case(name.as_bytes())
                })
                .map(|field| self.bytes_at(field.value))
        }

        pub(crate) fn head_len(&self) -> usize {
            self.head_len
        }
    }
}

#[cfg(test)]
#[path = "head_tests.rs"]
mod tests;
