//! Incremental, IO-free decoder for `Transfer-Encoding: chunked` bodies (client request bodies
//! and upstream response bodies alike), plus the two encoding helpers for the way back.
//!
//! The decoder is a byte-level state machine: input may be split at any byte, nothing is buffered
//! internally (the size line is parsed as it streams by, with counters only), and chunk data is
//! copied straight to the caller's output.
//!
//! Grammar (RFC 9112 §7.1), strict:
//! - chunk-size: 1 to [`MAX_CHUNK_SIZE_HEX_DIGITS`] hex digits; no sign, no `0x`, no whitespace
//!   before it.
//! - chunk-ext: `*( BWS ";" BWS name [ BWS "=" BWS value ] )`, name a token, value a token or a
//!   quoted-string. BWS is allowed exactly where that grammar puts it: before each `;`, after it,
//!   and around `=`. Whitespace after the size or the last extension with no `;` following it
//!   (e.g. `"5 \r\n"`) is rejected. Extensions are validated, then ignored.
//! - Every line ends in CRLF; a bare LF or a CR not followed by LF is `MissingCrlf`.
//! - The size line, CRLF included, is at most [`MAX_CHUNK_SIZE_LINE_BYTES`].
//! - Trailer fields are validated as `name ":" value` lines and discarded; the whole trailer
//!   section, final CRLF included, is at most [`MAX_TRAILER_BYTES`].

use crate::http::limits::{
    MAX_CHUNK_SIZE_HEX_DIGITS, MAX_CHUNK_SIZE_LINE_BYTES, MAX_TRAILER_BYTES,
};

/// The last-chunk plus an empty trailer section: what ends every chunked body we send.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Why a chunked body was rejected; the connection must be closed after any of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkedError {
    /// Missing, non-hex or otherwise invalid chunk size (also trailing whitespace after it).
    BadChunkSize,
    /// More than [`MAX_CHUNK_SIZE_HEX_DIGITS`] digits, or a size line over
    /// [`MAX_CHUNK_SIZE_LINE_BYTES`].
    ChunkSizeTooLong,
    /// A chunk extension that is not `;token[=token|quoted-string]`.
    BadExtension,
    /// A line not ended by exactly CRLF (bare LF, lone CR, or data longer than its size).
    MissingCrlf,
    /// A trailer line that is not `token ":" value`.
    BadTrailer,
    /// Trailer section over [`MAX_TRAILER_BYTES`].
    TrailerTooLarge,
    /// Decoded body over the decoder's `max_body_bytes`.
    BodyTooLarge,
}

impl std::fmt::Display for ChunkedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

impl std::error::Error for ChunkedError {}

/// What one [`ChunkedDecoder::decode`] call did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeProgress {
    /// Bytes of the input used; the rest (if `done`) belongs to the next message.
    pub consumed: usize,
    /// The last chunk, trailers and final CRLF have all been consumed.
    pub done: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Hex digits of a chunk size.
    SizeDigits,
    /// Whitespace after the size or an extension: only more whitespace or `;` may follow.
    BwsBeforeSemicolon,
    /// After `;`: optional whitespace, then an extension name.
    ExtNameStart,
    ExtName,
    /// Whitespace after an extension name: `=`, `;` or more whitespace may follow.
    AfterExtName,
    /// After `=`: optional whitespace, then a token or quoted-string.
    ExtValueStart,
    ExtTokenValue,
    ExtQuotedValue,
    /// After a backslash inside a quoted-string.
    ExtQuotedPair,
    /// After a closing quote: whitespace, `;` or CR.
    AfterQuotedValue,
    /// CR of the size line seen, LF expected.
    SizeLf,
    Data {
        remaining: u64,
    },
    DataCr,
    DataLf,
    TrailerLineStart,
    TrailerName,
    TrailerValue,
    TrailerLf,
    FinalLf,
    Done,
}

/// Decodes one chunked body incrementally; create one per message.
#[derive(Clone, Debug)]
pub struct ChunkedDecoder {
    state: State,
    max_body_bytes: u64,
    body_len: u64,
    chunk_size: u64,
    size_digits: usize,
    size_line_len: usize,
    seen_extension: bool,
    trailer_len: usize,
    failed: Option<ChunkedError>,
}

impl ChunkedDecoder {
    /// A decoder that rejects bodies decoding to more than `max_body_bytes`.
    pub fn new(max_body_bytes: u64) -> Self {
        ChunkedDecoder {
            state: State::SizeDigits,
            max_body_bytes,
            body_len: 0,
            chunk_size: 0,
            size_digits: 0,
            size_line_len: 0,
            seen_extension: false,
            trailer_len: 0,
            failed: None,
        }
    }

    /// Decode from `input`, appending body data to `out`. Returns how much of `input` was consumed
    /// and whether the terminating zero chunk + trailers + final CRLF were fully consumed
    /// (bytes after that are NOT consumed: they belong to the next message). After an error,
    /// every later call returns the same error.
    pub fn decode(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<DecodeProgress, ChunkedError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        let mut consumed = 0;
        while let Some(rest) = input.get(consumed..).filter(|rest| !rest.is_empty()) {
            match self.state {
                State::Done => break,
                State::Data { remaining } => {
                    let take = usize::try_from(remaining).map_or(rest.len(), |r| r.min(rest.len()));
                    out.extend_from_slice(rest.get(..take).unwrap_or_default());
                    consumed += take;
                    self.body_len += take as u64;
                    let left = remaining - take as u64;
                    self.state = if left == 0 {
                        State::DataCr
                    } else {
                        State::Data { remaining: left }
                    };
                }
                _ => {
                    for &byte in rest {
                        if let Err(error) = self.step(byte) {
                            self.failed = Some(error.clone());
                            return Err(error);
                        }
                        consumed += 1;
                        if matches!(self.state, State::Data { .. } | State::Done) {
                            break;
                        }
                    }
                }
            }
        }
        Ok(DecodeProgress {
            consumed,
            done: self.state == State::Done,
        })
    }

    /// Body bytes decoded so far.
    pub fn body_len(&self) -> u64 {
        self.body_len
    }

    /// Advances the state machine by one byte outside chunk data.
    fn step(&mut self, byte: u8) -> Result<(), ChunkedError> {
        if self.in_size_line() {
            self.size_line_len += 1;
            if self.size_line_len > MAX_CHUNK_SIZE_LINE_BYTES {
                return Err(ChunkedError::ChunkSizeTooLong);
            }
        } else if self.in_trailer() {
            self.trailer_len += 1;
            if self.trailer_len > MAX_TRAILER_BYTES {
                return Err(ChunkedError::TrailerTooLarge);
            }
        }
        self.state = match (self.state, byte) {
            (_, b'\n') if !self.expects_lf() => {
                return Err(ChunkedError::MissingCrlf);
            }
            (State::SizeDigits, _) if byte.is_ascii_hexdigit() => {
                self.size_digits += 1;
                if self.size_digits > MAX_CHUNK_SIZE_HEX_DIGITS {
                    return Err(ChunkedError::ChunkSizeTooLong);
                }
                self.chunk_size = (self.chunk_size << 4) | u64::from(hex_value(byte));
                State::SizeDigits
            }
            (State::SizeDigits, _) => {
                self.finish_size()?;
                match byte {
                    b' ' | b'\t' => State::BwsBeforeSemicolon,
                    b';' => State::ExtNameStart,
                    b'\r' => State::SizeLf,
                    _ => return Err(ChunkedError::BadChunkSize),
                }
            }
            (State::BwsBeforeSemicolon, b' ' | b'\t') => State::BwsBeforeSemicolon,
            (State::BwsBeforeSemicolon, b';') => State::ExtNameStart,
            (State::BwsBeforeSemicolon, _) if !self.seen_extension => {
                return Err(ChunkedError::BadChunkSize);
            }
            (State::ExtNameStart, b' ' | b'\t') => State::ExtNameStart,
            (State::ExtNameStart | State::ExtName, _) if is_tchar(byte) => {
                self.seen_extension = true;
                State::ExtName
            }
            (State::ExtName | State::AfterExtName, b' ' | b'\t') => State::AfterExtName,
            (State::ExtName | State::AfterExtName, b'=') => State::ExtValueStart,
            (State::ExtName | State::AfterExtName, b';') => State::ExtNameStart,
            (State::ExtName, b'\r') => State::SizeLf,
            (State::ExtValueStart, b' ' | b'\t') => State::ExtValueStart,
            (State::ExtValueStart, b'"') => State::ExtQuotedValue,
            (State::ExtValueStart | State::ExtTokenValue, _) if is_tchar(byte) => {
                State::ExtTokenValue
            }
            (State::ExtQuotedValue, b'"') => State::AfterQuotedValue,
            (State::ExtQuotedValue, b'\\') => State::ExtQuotedPair,
            (State::ExtQuotedValue, _) if is_qdtext(byte) => State::ExtQuotedValue,
            (State::ExtQuotedPair, _) if is_field_vchar_or_ws(byte) => State::ExtQuotedValue,
            (State::ExtTokenValue | State::AfterQuotedValue, b' ' | b'\t') => {
                State::BwsBeforeSemicolon
            }
            (State::ExtTokenValue | State::AfterQuotedValue, b';') => State::ExtNameStart,
            (State::ExtTokenValue | State::AfterQuotedValue, b'\r') => State::SizeLf,
            (State::SizeLf, b'\n') => self.finish_size_line(),
            (State::DataCr, b'\r') => State::DataLf,
            (State::DataLf, b'\n') => {
                self.chunk_size = 0;
                self.size_digits = 0;
                self.size_line_len = 0;
                self.seen_extension = false;
                State::SizeDigits
            }
            (State::TrailerLineStart, b'\r') => State::FinalLf,
            (State::TrailerLineStart | State::TrailerName, _) if is_tchar(byte) => {
                State::TrailerName
            }
            (State::TrailerName, b':') => State::TrailerValue,
            (State::TrailerValue, b'\r') => State::TrailerLf,
            (State::TrailerValue, _) if is_field_vchar_or_ws(byte) => State::TrailerValue,
            (State::TrailerLf, b'\n') => State::TrailerLineStart,
            (State::FinalLf, b'\n') => State::Done,
            (
                State::SizeLf | State::DataCr | State::DataLf | State::TrailerLf | State::FinalLf,
                _,
            ) => return Err(ChunkedError::MissingCrlf),
            (State::TrailerLineStart | State::TrailerName | State::TrailerValue, _) => {
                return Err(ChunkedError::BadTrailer);
            }
            (State::Data { .. } | State::Done, _) => self.state,
            _ => return Err(ChunkedError::BadExtension),
        };
        Ok(())
    }

    /// The states whose next byte must be LF (so an LF there is not a bare LF).
    fn expects_lf(&self) -> bool {
        matches!(
            self.state,
            State::SizeLf | State::DataLf | State::TrailerLf | State::FinalLf
        )
    }

    fn in_size_line(&self) -> bool {
        matches!(
            self.state,
            State::SizeDigits
                | State::BwsBeforeSemicolon
                | State::ExtNameStart
                | State::ExtName
                | State::AfterExtName
                | State::ExtValueStart
                | State::ExtTokenValue
                | State::ExtQuotedValue
                | State::ExtQuotedPair
                | State::AfterQuotedValue
                | State::SizeLf
        )
    }

    fn in_trailer(&self) -> bool {
        matches!(
            self.state,
            State::TrailerLineStart
                | State::TrailerName
                | State::TrailerValue
                | State::TrailerLf
                | State::FinalLf
        )
    }

    /// Called when the size digits end: there must be some, and the chunk must fit the body cap.
    fn finish_size(&self) -> Result<(), ChunkedError> {
        if self.size_digits == 0 {
            return Err(ChunkedError::BadChunkSize);
        }
        if self.chunk_size > self.max_body_bytes.saturating_sub(self.body_len) {
            return Err(ChunkedError::BodyTooLarge);
        }
        Ok(())
    }

    fn finish_size_line(&mut self) -> State {
        if self.chunk_size == 0 {
            self.trailer_len = 0;
            State::TrailerLineStart
        } else {
            State::Data {
                remaining: self.chunk_size,
            }
        }
    }
}

/// Appends one chunk (`hex-size CRLF data CRLF`); nothing for empty data, which would read as the
/// last chunk.
pub fn encode_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 16];
    let mut start = digits.len();
    let mut size = data.len();
    while let Some(slot) = start.checked_sub(1).and_then(|i| digits.get_mut(i)) {
        *slot = HEX[size & 0xf];
        start -= 1;
        size >>= 4;
        if size == 0 {
            break;
        }
    }
    out.reserve(start + data.len() + 4);
    out.extend_from_slice(digits.get(start..).unwrap_or_default());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

fn hex_value(byte: u8) -> u8 {
    match byte {
        b'0'..=b'9' => byte - b'0',
        b'a'..=b'f' => byte - b'a' + 10,
        b'A'..=b'F' => byte - b'A' + 10,
        _ => 0,
    }
}

/// RFC 9110 tchar.
fn is_tchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// RFC 9110 qdtext: HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text.
fn is_qdtext(byte: u8) -> bool {
    matches!(byte, b'\t' | b' ' | 0x21 | 0x23..=0x5B | 0x5D..=0x7E | 0x80..=0xFF)
}

/// HTAB / SP / VCHAR / obs-text: field-value bytes and quoted-pair targets.
fn is_field_vchar_or_ws(byte: u8) -> bool {
    matches!(byte, b'\t' | b' ' | 0x21..=0x7E | 0x80..=0xFF)
}

#[cfg(test)]
#[path = "chunked_tests.rs"]
mod tests;
