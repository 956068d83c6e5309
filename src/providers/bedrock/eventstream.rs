//! The AWS event-stream binary framing (`application/vnd.amazon.eventstream`) that Bedrock's
//! streamed responses use: an IO-free, incremental frame decoder that checks both CRCs and
//! every length before trusting it, plus the encoder tests and mocks frame with.
//!
//! A frame is `[total len u32 BE][headers len u32 BE][CRC32 of those 8 bytes][headers]
//! [payload][CRC32 of everything before]`; a header is `[name len u8][name][type u8][value]`.

use std::fmt;

/// Bytes of the prelude (two lengths and their CRC).
pub const PRELUDE_LEN: usize = 12;
/// The smallest frame: prelude plus message CRC, no headers, no payload.
pub const MIN_FRAME_LEN: usize = PRELUDE_LEN + 4;
/// The largest frame accepted (AWS's limit for one event-stream message is 16 MiB).
pub const MAX_FRAME_LEN: usize = 16 * 1024 * 1024;
/// The largest header section accepted (AWS's limit is 128 KiB).
pub const MAX_HEADERS_LEN: usize = 128 * 1024;

/// Why the byte stream is not a valid event stream. Every case ends the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The prelude's CRC does not match its 8 bytes.
    PreludeCrc { expected: u32, actual: u32 },
    /// The message CRC does not match the frame.
    MessageCrc { expected: u32, actual: u32 },
    /// The total length is above [`MAX_FRAME_LEN`].
    TooLong { len: usize },
    /// The total length is below [`MIN_FRAME_LEN`].
    TooShort { len: usize },
    /// The headers length does not fit the frame or exceeds [`MAX_HEADERS_LEN`].
    BadHeadersLength { len: usize },
    /// A header is malformed (what is wrong).
    BadHeader(&'static str),
    /// The stream ended inside a frame (bytes left over).
    Truncated { buffered: usize },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::PreludeCrc { expected, actual } => {
                write!(
                    f,
                    "event-stream prelude CRC mismatch (frame says {expected:#010x}, computed {actual:#010x})"
                )
            }
            FrameError::MessageCrc { expected, actual } => {
                write!(
                    f,
                    "event-stream message CRC mismatch (frame says {expected:#010x}, computed {actual:#010x})"
                )
            }
            FrameError::TooLong { len } => {
                write!(
                    f,
                    "event-stream frame of {len} bytes exceeds {MAX_FRAME_LEN}"
                )
            }
            FrameError::TooShort { len } => {
                write!(
                    f,
                    "event-stream frame length {len} is below the minimum {MIN_FRAME_LEN}"
                )
            }
            FrameError::BadHeadersLength { len } => {
                write!(
                    f,
                    "event-stream headers length {len} does not fit the frame"
                )
            }
            FrameError::BadHeader(what) => write!(f, "malformed event-stream header: {what}"),
            FrameError::Truncated { buffered } => {
                write!(
                    f,
                    "event stream ended inside a frame ({buffered} bytes left)"
                )
            }
        }
    }
}

/// The string headers Bedrock's frames carry; others are parsed and skipped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Headers<'a> {
    /// `:message-type`: `event`, `exception` or `error`.
    pub message_type: Option<&'a str>,
    /// `:event-type`: `chunk` (or `initial-response` etc.).
    pub event_type: Option<&'a str>,
    /// `:exception-type`: `throttlingException`, ...
    pub exception_type: Option<&'a str>,
    /// `:content-type`: usually `application/json`.
    pub content_type: Option<&'a str>,
    /// `:error-code` of `error` messages.
    pub error_code: Option<&'a str>,
    /// `:error-message` of `error` messages.
    pub error_message: Option<&'a str>,
}

/// One decoded frame, borrowing from the decoder's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    pub headers: Headers<'a>,
    pub payload: &'a [u8],
}

/// Incremental decoder: `push` bytes as they arrive, then take frames with `next_message`
/// until it returns `None`. After an error the decoder stays failed.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    /// Start of the first byte not yet consumed.
    start: usize,
    failed: Option<FrameError>,
}

impl FrameDecoder {
    pub fn new() -> FrameDecoder {
        FrameDecoder::default()
    }

    /// Appends received bytes (dropping the frames already handed out).
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received and not yet returned as a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next complete frame, `None` when more bytes are needed.
    pub fn next_message(&mut self) -> Result<Option<Message<'_>>, FrameError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let available = &self.buf[self.start..];
        match check_frame(available) {
            Ok(Some(len)) => {
                let frame_start = self.start;
                self.start += len;
                let frame = &self.buf[frame_start..frame_start + len];
                match parse_frame(frame) {
                    Ok(message) => Ok(Some(message)),
                    Err(err) => {
                        self.failed = Some(err.clone());
                        Err(err)
                    }
                }
            }
            Ok(None) => Ok(None),
            Err(err) => {
                self.failed = Some(err.clone());
                Err(err)
            }
        }
    }

    /// Call at end of input: an error if a partial frame is left over.
    pub fn finish(&self) -> Result<(), FrameError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        match self.buffered() {
            0 => Ok(()),
            buffered => Err(FrameError::Truncated { buffered }),
        }
    }
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_be_bytes(word)
}

/// Validates the prelude and, once the whole frame is present, the message CRC. Returns the
/// frame's length when complete.
fn check_frame(available: &[u8]) -> Result<Option<usize>, FrameError> {
    if available.len() < PRELUDE_LEN {
        return Ok(None);
    }
    let expected = be_u32(available, 8);
    let actual = crc32fast::hash(&available[..8]);
    if expected != actual {
        return Err(FrameError::PreludeCrc { expected, actual });
    }
    let total = be_u32(available, 0) as usize;
    let headers_len = be_u32(available, 4) as usize;
    if total > MAX_FRAME_LEN {
        return Err(FrameError::TooLong { len: total });
    }
    if total < MIN_FRAME_LEN {
        return Err(FrameError::TooShort { len: total });
    }
    if headers_len > MAX_HEADERS_LEN || headers_len > total - MIN_FRAME_LEN {
        return Err(FrameError::BadHeadersLength { len: headers_len });
    }
    if available.len() < total {
        return Ok(None);
    }
    let expected = be_u32(available, total - 4);
    let actual = crc32fast::hash(&available[..total - 4]);
    if expected != actual {
        return Err(FrameError::MessageCrc { expected, actual });
    }
    Ok(Some(total))
}

/// Splits a checked frame into headers and payload.
fn parse_frame(frame: &[u8]) -> Result<Message<'_>, FrameError> {
    let headers_len = be_u32(frame, 4) as usize;
    let headers_end = PRELUDE_LEN + headers_len;
    let headers = parse_headers(&frame[PRELUDE_LEN..headers_end])?;
    Ok(Message {
        headers,
        payload: &frame[headers_end..frame.len() - 4],
    })
}

fn take<'a>(
    bytes: &'a [u8],
    at: &mut usize,
    len: usize,
    what: &'static str,
) -> Result<&'a [u8], FrameError> {
    let end = at
        .checked_add(len)
        .filter(|end| *end <= bytes.len())
        .ok_or(FrameError::BadHeader(what))?;
    let slice = &bytes[*at..end];
    *at = end;
    Ok(slice)
}

fn parse_headers(bytes: &[u8]) -> Result<Headers<'_>, FrameError> {
    let mut headers = Headers::default();
    let mut at = 0;
    while at < bytes.len() {
        let name_len = take(bytes, &mut at, 1, "truncated name length")?[0] as usize;
        if name_len == 0 {
            return Err(FrameError::BadHeader("empty name"));
        }
        let name = take(bytes, &mut at, name_len, "truncated name")?;
        let value_type = take(bytes, &mut at, 1, "truncated type")?[0];
        let fixed = match value_type {
            0 | 1 => Some(0),
            2 => Some(1),
            3 => Some(2),
            4 => Some(4),
            5 | 8 => Some(8),
            9 => Some(16),
            6 | 7 => None,
            _ => return Err(FrameError::BadHeader("unknown value type")),
        };
        if let Some(len) = fixed {
            take(bytes, &mut at, len, "truncated value")?;
            continue;
        }
        let len_bytes = take(bytes, &mut at, 2, "truncated value length")?;
        let len = u16::from_be_bytes([len_bytes[0], len_bytes[1]]) as usize;
        let value = take(bytes, &mut at, len, "truncated value")?;
        if value_type != 7 {
            continue;
        }
        let value = std::str::from_utf8(value)
            .map_err(|_| FrameError::BadHeader("string value is not UTF-8"))?;
        let slot = match name {
            b":message-type" => &mut headers.message_type,
            b":event-type" => &mut headers.event_type,
            b":exception-type" => &mut headers.exception_type,
            b":content-type" => &mut headers.content_type,
            b":error-code" => &mut headers.error_code,
            b":error-message" => &mut headers.error_message,
            _ => continue,
        };
        *slot = Some(value);
    }
    Ok(headers)
}

/// Appends one frame with string headers (type 7) to `out`.
pub fn encode_message(headers: &[(&str, &str)], payload: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; PRELUDE_LEN]);
    for (name, value) in headers {
        out.push(name.len() as u8);
        out.extend_from_slice(name.as_bytes());
        out.push(7);
        out.extend_from_slice(&(value.len() as u16).to_be_bytes());
        out.extend_from_slice(value.as_bytes());
    }
    let headers_len = out.len() - start - PRELUDE_LEN;
    out.extend_from_slice(payload);
    let total = out.len() - start + 4;
    out[start..start + 4].copy_from_slice(&(total as u32).to_be_bytes());
    out[start + 4..start + 8].copy_from_slice(&(headers_len as u32).to_be_bytes());
    let prelude_crc = crc32fast::hash(&out[start..start + 8]);
    out[start + 8..start + 12].copy_from_slice(&prelude_crc.to_be_bytes());
    let message_crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&message_crc.to_be_bytes());
}

/// Appends a Bedrock `chunk` event frame carrying one Anthropic event JSON (base64 inside
/// `{"bytes": ...}`, as Bedrock sends it).
pub fn encode_chunk(event_json: &[u8], out: &mut Vec<u8>) {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(event_json);
    let payload = format!("{{\"bytes\":\"{encoded}\"}}");
    encode_message(
        &[
            (":event-type", "chunk"),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        payload.as_bytes(),
        out,
    );
}

/// Appends a Bedrock exception frame (`{"message": ...}` payload).
pub fn encode_exception(exception_type: &str, message: &str, out: &mut Vec<u8>) {
    let mut payload = b"{\"message\":".to_vec();
    crate::providers::top_level::write_json_string(message, &mut payload);
    payload.push(b'}');
    encode_message(
        &[
            (":exception-type", exception_type),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        ],
        &payload,
        out,
    );
}

#[cfg(test)]
#[path = "eventstream_tests.rs"]
pub(crate) mod tests;
