//! HTTP/1.1 head parsing and body framing without IO, shared by the mock (requests) and the
//! load generator (responses), so both read exactly what a proxy in between may send.

use std::ops::Range;

/// Largest request or response head accepted (start line plus headers).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Most headers read from one head.
pub const MAX_HEADERS: usize = 64;
/// Longest chunk-size line (size, extensions, CRLF) accepted in a chunked body.
pub const MAX_CHUNK_LINE_BYTES: usize = 1024;
/// Largest body either side accepts; a peer announcing more is refused.
pub const MAX_BODY_BYTES: u64 = 32 * 1024 * 1024;

/// Why a head or body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FramingError {
    /// The head did not end within [`MAX_HEAD_BYTES`].
    HeadTooLarge,
    /// httparse refused the head.
    BadHead,
    /// Content-Length is not a number or appears twice with different values.
    BadContentLength,
    /// A chunk-size line is not hexadecimal.
    BadChunkSize,
    /// A chunk-size or trailer line is longer than [`MAX_CHUNK_LINE_BYTES`].
    ChunkLineTooLong,
    /// A chunk's data is not followed by CRLF.
    BadChunkTerminator,
    /// The body is larger than [`MAX_BODY_BYTES`].
    BodyTooLarge,
    /// The peer closed the connection before the body ended.
    Truncated,
}

/// How the body that follows a head is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body (HEAD response, 1xx, 204, 304, or a request without length).
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the peer closes (responses only).
    UntilClose,
}

/// A parsed response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseHead {
    /// Status code.
    pub status: u16,
    /// Bytes taken by the head, including the blank line.
    pub head_len: usize,
    /// How the body is delimited.
    pub framing: BodyFraming,
    /// Whether the connection may carry another request afterwards.
    pub keep_alive: bool,
}

/// A parsed request head; `path` indexes the buffer it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// `GET`, `POST`, ...
    pub method: Method,
    /// The request target up to (not including) any `?`.
    pub path: Range<usize>,
    /// Bytes taken by the head, including the blank line.
    pub head_len: usize,
    /// How the body is delimited.
    pub framing: BodyFraming,
    /// Whether the connection may carry another request afterwards.
    pub keep_alive: bool,
}

/// The request methods the mock distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Other,
}

struct CommonHeaders {
    content_length: Option<u64>,
    chunked: bool,
    connection_close: bool,
    connection_keep_alive: bool,
}

fn read_common_headers(headers: &[httparse::Header<'_>]) -> Result<CommonHeaders, FramingError> {
    let mut common = CommonHeaders {
        content_length: None,
        chunked: false,
        connection_close: false,
        connection_keep_alive: false,
    };
    for header in headers {
        if header.name.eq_ignore_ascii_case("content-length") {
            let text =
                std::str::from_utf8(header.value).map_err(|_| FramingError::BadContentLength)?;
            let value: u64 = text
                .trim()
                .parse()
                .map_err(|_| FramingError::BadContentLength)?;
            if common.content_length.is_some_and(|seen| seen != value) {
                return Err(FramingError::BadContentLength);
            }
            common.content_length = Some(value);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            common.chunked = header
                .value
                .rsplit(|&b| b == b',')
                .next()
                .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if header.name.eq_ignore_ascii_case("connection") {
            for token in header.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    common.connection_close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    common.connection_keep_alive = true;
                }
            }
        }
    }
    Ok(common)
}

fn keep_alive(version: Option<u8>, common: &CommonHeaders) -> bool {
    match version {
        Some(1) => !common.connection_close,
        _ => common.connection_keep_alive && !common.connection_close,
    }
}

/// Parses a response head from the start of `buf`; `Ok(None)` means more bytes are needed.
/// `request_was_head` marks a response to `HEAD`, which never has a body.
pub fn parse_response_head(
    buf: &[u8],
    request_was_head: bool,
) -> Result<Option<ResponseHead>, FramingError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let Some(head_len) = complete_head_len(response.parse(buf), buf.len())? else {
        return Ok(None);
    };
    let status = response.code.ok_or(FramingError::BadHead)?;
    let common = read_common_headers(response.headers)?;
    let framing =
        if request_was_head || (100..200).contains(&status) || status == 204 || status == 304 {
            BodyFraming::Empty
        } else if common.chunked {
            BodyFraming::Chunked
        } else if let Some(length) = common.content_length {
            BodyFraming::Length(length)
        } else {
            BodyFraming::UntilClose
        };
    let keep_alive = keep_alive(response.version, &common) && framing != BodyFraming::UntilClose;
    Ok(Some(ResponseHead {
        status,
        head_len,
        framing,
        keep_alive,
    }))
}

/// The head's length once httparse found it complete within `MAX_HEAD_BYTES`; `None` while
/// more bytes may complete it.
fn complete_head_len(
    parsed: httparse::Result<usize>,
    buffered: usize,
) -> Result<Option<usize>, FramingError> {
    match parsed {
        Ok(httparse::Status::Complete(len)) if len <= MAX_HEAD_BYTES => Ok(Some(len)),
        Ok(httparse::Status::Complete(_)) => Err(FramingError::HeadTooLarge),
        Ok(httparse::Status::Partial) if buffered > MAX_HEAD_BYTES => {
            Err(FramingError::HeadTooLarge)
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(_) => Err(FramingError::BadHead),
    }
}

/// Parses a request head from the start of `buf`; `Ok(None)` means more bytes are needed.
pub fn parse_request_head(buf: &[u8]) -> Result<Option<RequestHead>, FramingError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let Some(head_len) = complete_head_len(request.parse(buf), buf.len())? else {
        return Ok(None);
    };
    let method = match request.method {
        Some("GET") => Method::Get,
        Some("HEAD") => Method::Head,
        Some("POST") => Method::Post,
        Some(_) => Method::Other,
        None => return Err(FramingError::BadHead),
    };
    let target = request.path.ok_or(FramingError::BadHead)?;
    let target_start = (target.as_ptr() as usize).wrapping_sub(buf.as_ptr() as usize);
    let path_len = target.find('?').unwrap_or(target.len());
    let path = target_start..target_start + path_len;
    if path.end > head_len {
        return Err(FramingError::BadHead);
    }
    let common = read_common_headers(request.headers)?;
    let framing = if common.chunked {
        BodyFraming::Chunked
    } else {
        match common.content_length {
            Some(0) | None => BodyFraming::Empty,
            Some(length) => BodyFraming::Length(length),
        }
    };
    let keep_alive = keep_alive(request.version, &common);
    Ok(Some(RequestHead {
        method,
        path,
        head_len,
        framing,
        keep_alive,
    }))
}
