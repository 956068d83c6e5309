//! Response heads from upstreams (the gateway's client side), parsed without IO so the proxy can
//! decide retry-or-commit and how the body is framed before it forwards a byte.
//!
//! Upstreams are semi-trusted: the same CRLF-only, no-folding pre-scan as requests, a conflict
//! between Content-Length and Transfer-Encoding or between differing Content-Lengths is an error,
//! but identical duplicate Content-Lengths are tolerated (RFC 9112 §6.3 item 5). Interim 1xx
//! responses are returned like any other head; the caller loops to the final one.

use std::mem::MaybeUninit;

use crate::http::head::head_store::{HeadStore, Span, SpanMaker};
use crate::http::head::{
    ConnectionTokens, HeadError, ParseStatus, check_complete, locate_head, parse_content_length,
    trim_ows,
};
use crate::http::limits::MAX_HEADERS;

/// How a response body is delimited (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseFraming {
    /// No body: a response to HEAD, or status 1xx, 204 or 304.
    Empty,
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding` whose final coding is `chunked`.
    Chunked,
    /// Neither (or a transfer coding not ending in chunked): the body runs until the upstream
    /// closes, so the connection cannot be reused.
    CloseDelimited,
}

/// What the Transfer-Encoding fields say, across all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TransferCoding {
    /// No Transfer-Encoding field.
    Absent,
    /// The final coding is `chunked`.
    ChunkedLast,
    /// Present, but the final coding is something else.
    NotChunkedLast,
}

/// A parsed upstream response head. Owns one copy of the head bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    store: HeadStore,
    status: u16,
    reason: Span,
    minor_version: u8,
    content_length: Option<u64>,
    transfer_coding: TransferCoding,
    keep_alive: bool,
}

impl ResponseHead {
    /// The status code, 100..=999.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The reason phrase; empty when absent or when it held non-ASCII (obs-text) bytes.
    pub fn reason(&self) -> &str {
        self.store.str_at(self.reason)
    }

    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub fn minor_version(&self) -> u8 {
        self.minor_version
    }

    /// Every header field in the order received, names as sent, values without surrounding OWS.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.store.headers()
    }

    /// The value of the first field named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.store.header(name)
    }

    /// Bytes of the connection buffer this head used, leading empty lines included.
    pub fn head_len(&self) -> usize {
        self.store.head_len()
    }

    /// False on a `Connection: close` token, or HTTP/1.0 without a `keep-alive` token. A
    /// [`ResponseFraming::CloseDelimited`] body also ends the connection, whatever this says.
    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }

    /// Body framing per RFC 9112 §6.3 given the request method: HEAD request, 1xx, 204, 304 →
    /// Empty; final coding chunked → Chunked; Content-Length → Length; else → CloseDelimited.
    pub fn framing(&self, request_was_head: bool) -> ResponseFraming {
        if request_was_head || (100..200).contains(&self.status) || matches!(self.status, 204 | 304)
        {
            return ResponseFraming::Empty;
        }
        match (self.transfer_coding, self.content_length) {
            (TransferCoding::ChunkedLast, _) => ResponseFraming::Chunked,
            (TransferCoding::NotChunkedLast, _) => ResponseFraming::CloseDelimited,
            (TransferCoding::Absent, Some(length)) => ResponseFraming::Length(length),
            (TransferCoding::Absent, None) => ResponseFraming::CloseDelimited,
        }
    }
}

/// Parses an upstream response head from `buf` (everything read so far on the upstream
/// connection). Same `Partial` / limit rules as [`crate::http::head::parse_request_head`].
pub fn parse_response_head(
    buf: &[u8],
    max_headers: usize,
) -> Result<ParseStatus<ResponseHead>, HeadError> {
    let Some(bounds) = locate_head(buf)? else {
        return Ok(ParseStatus::Partial);
    };
    let head = bounds.head(buf);
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let slots = slots
        .get_mut(..max_headers.min(MAX_HEADERS))
        .unwrap_or_default();
    let mut resp = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default()
        .parse_response_with_uninit_headers(&mut resp, head, slots);
    check_complete(parsed, head.len())?;
    let minor_version = resp.version.unwrap_or(1);
    let status = resp.code.unwrap_or_default();
    if status < 100 {
        return Err(HeadError::Malformed("status code below 100"));
    }
    let fields = resp.headers;

    let mut content_length = None;
    let mut codings = CodingList::default();
    let mut connection = ConnectionTokens::default();
    for field in fields.iter() {
        let name = field.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            let length = parse_content_length(field.value)?;
            if content_length.is_some_and(|seen| seen != length) {
                return Err(HeadError::Smuggling("differing content-length values"));
            }
            content_length = Some(length);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            codings.add(field.value)?;
        } else if name.eq_ignore_ascii_case(b"connection") {
            connection.add(field.value);
        }
    }
    let transfer_coding = codings.verdict();
    if transfer_coding != TransferCoding::Absent {
        if content_length.is_some() {
            return Err(HeadError::Smuggling(
                "content-length with transfer-encoding",
            ));
        }
        if minor_version == 0 {
            return Err(HeadError::Smuggling("transfer-encoding in HTTP/1.0"));
        }
    }

    let reason = SpanMaker::new(head).span(resp.reason.unwrap_or_default().as_bytes());
    Ok(ParseStatus::Complete(ResponseHead {
        store: HeadStore::new(head, fields, bounds.end),
        status,
        reason,
        minor_version,
        content_length,
        transfer_coding,
        keep_alive: connection.keep_alive(minor_version),
    }))
}

/// Accumulates the transfer codings of every Transfer-Encoding field, in order.
#[derive(Default)]
struct CodingList {
    present: bool,
    seen_chunked: bool,
    last_is_chunked: bool,
}

impl CodingList {
    fn add(&mut self, value: &[u8]) -> Result<(), HeadError> {
        self.present = true;
        let mut any = false;
        for coding in value.split(|&b| b == b',').map(trim_ows) {
            if coding.is_empty() {
                continue;
            }
            let name = coding.split(|&b| b == b';').next().unwrap_or_default();
            let is_chunked = trim_ows(name).eq_ignore_ascii_case(b"chunked");
            if is_chunked && name.len() != coding.len() {
                return Err(HeadError::Smuggling("chunked with parameters"));
            }
            if is_chunked && self.seen_chunked {
                return Err(HeadError::Smuggling("chunked applied more than once"));
            }
            self.seen_chunked |= is_chunked;
            self.last_is_chunked = is_chunked;
            any = true;
        }
        if !any {
            return Err(HeadError::Smuggling("empty transfer-encoding"));
        }
        Ok(())
    }

    fn verdict(&self) -> TransferCoding {
        match (self.present, self.last_is_chunked) {
            (false, _) => TransferCoding::Absent,
            (true, true) => TransferCoding::ChunkedLast,
            (true, false) => TransferCoding::NotChunkedLast,
        }
    }
}

#[cfg(test)]
#[path = "response_head_tests.rs"]
mod tests;
