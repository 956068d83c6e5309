//! Incremental body decoding without IO: fed whatever bytes arrived, it hands out body data and
//! says how much input it used, so a caller keeps only the unused tail of its read buffer.

use crate::wire::framing::{BodyFraming, FramingError, MAX_BODY_BYTES, MAX_CHUNK_LINE_BYTES};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk's data, this many bytes left.
    Data(u64),
    /// Expecting the CRLF that ends a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one.
    Trailer,
    Done,
}

/// Decodes one body of a known framing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyDecoder {
    framing: BodyFraming,
    remaining: u64,
    chunk: ChunkState,
    total: u64,
}

impl BodyDecoder {
    /// Starts decoding a body framed as `framing`.
    pub fn new(framing: BodyFraming) -> Result<Self, FramingError> {
        let remaining = match framing {
            BodyFraming::Length(length) if length > MAX_BODY_BYTES => {
                return Err(FramingError::BodyTooLarge);
            }
            BodyFraming::Length(length) => length,
            _ => 0,
        };
        Ok(Self {
            framing,
            remaining,
            chunk: ChunkState::Size,
            total: 0,
        })
    }

    /// True once the whole body has been seen (never for [`BodyFraming::UntilClose`]).
    pub fn is_done(&self) -> bool {
        match self.framing {
            BodyFraming::Empty => true,
            BodyFraming::Length(_) => self.remaining == 0,
            BodyFraming::Chunked => self.chunk == ChunkState::Done,
            BodyFraming::UntilClose => false,
        }
    }

    /// Body bytes handed out so far.
    pub fn body_bytes(&self) -> u64 {
        self.total
    }

    /// Called when the peer closed: fine only for a close-delimited or finished body.
    pub fn finish_on_close(&self) -> Result<(), FramingError> {
        if self.framing == BodyFraming::UntilClose || self.is_done() {
            Ok(())
        } else {
            Err(FramingError::Truncated)
        }
    }

    /// Feeds `input`; calls `on_data` with each piece of body data; returns the bytes of
    /// `input` used. Unused bytes (an incomplete chunk line, or what follows the body) must be
    /// offered again, with more after them.
    pub fn decode(
        &mut self,
        input: &[u8],
        mut on_data: impl FnMut(&[u8]),
    ) -> Result<usize, FramingError> {
        match self.framing {
            BodyFraming::Empty => Ok(0),
            BodyFraming::Length(_) => {
                let take = input
                    .len()
                    .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
                if take > 0 {
                    on_data(&input[..take]);
                }
                self.remaining -= take as u64;
                self.total += take as u64;
                Ok(take)
            }
            BodyFraming::UntilClose => {
                self.total += input.len() as u64;
                if self.total > MAX_BODY_BYTES {
                    return Err(FramingError::BodyTooLarge);
                }
                if !input.is_empty() {
                    on_data(input);
                }
                Ok(input.len())
            }
            BodyFraming::Chunked => self.decode_chunked(input, &mut on_data),
        }
    }

    fn decode_chunked(
        &mut self,
        input: &[u8],
        on_data: &mut impl FnMut(&[u8]),
    ) -> Result<usize, FramingError> {
        let mut used = 0;
        loop {
            let rest = &input[used..];
            match self.chunk {
                ChunkState::Done => return Ok(used),
                ChunkState::Size => {
                    let Some(line_len) = line_length(rest)? else {
                        return Ok(used);
                    };
                    let size = parse_chunk_size(&rest[..line_len])?;
                    used += line_len;
                    if self.total.saturating_add(size) > MAX_BODY_BYTES {
                        return Err(FramingError::BodyTooLarge);
                    }
                    self.chunk = if size == 0 {
                        ChunkState::Trailer
                    } else {
                        ChunkState::Data(size)
                    };
                }
                ChunkState::Data(left) => {
                    if rest.is_empty() {
                        return Ok(used);
                    }
                    let take = rest.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    on_data(&rest[..take]);
                    used += take;
                    self.total += take as u64;
                    let left = left - take as u64;
                    self.chunk = if left == 0 {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left)
                    };
                }
                ChunkState::DataEnd => match rest {
                    [] | [b'\r'] => return Ok(used),
                    [b'\r', b'\n', ..] => {
                        used += 2;
                        self.chunk = ChunkState::Size;
                    }
                    _ => return Err(FramingError::BadChunkTerminator),
                },
                ChunkState::Trailer => {
                    let Some(line_len) = line_length(rest)? else {
                        return Ok(used);
                    };
                    used += line_len;
                    if line_len == 2 {
                        self.chunk = ChunkState::Done;
                    }
                }
            }
        }
    }
}

/// Length of the CRLF-terminated line at the start of `input`, CRLF included.
fn line_length(input: &[u8]) -> Result<Option<usize>, FramingError> {
    let window = &input[..input.len().min(MAX_CHUNK_LINE_BYTES)];
    match memchr::memchr(b'\n', window) {
        Some(newline) if newline >= 1 && window.get(newline - 1) == Some(&b'\r') => {
            Ok(Some(newline + 1))
        }
        Some(_) => Err(FramingError::BadChunkSize),
        None if input.len() >= MAX_CHUNK_LINE_BYTES => Err(FramingError::ChunkLineTooLong),
        None => Ok(None),
    }
}

/// Parses `1a;ext=1\r\n` into 26.
fn parse_chunk_size(line: &[u8]) -> Result<u64, FramingError> {
    let line = line
        .strip_suffix(b"\r\n")
        .ok_or(FramingError::BadChunkSize)?;
    let digits = line
        .split(|&b| b == b';')
        .next()
        .unwrap_or(line)
        .trim_ascii();
    if digits.is_empty() || digits.len() > 15 {
        return Err(FramingError::BadChunkSize);
    }
    let mut size: u64 = 0;
    for &digit in digits {
        let value = match digit {
            b'0'..=b'9' => digit - b'0',
            b'a'..=b'f' => digit - b'a' + 10,
            b'A'..=b'F' => digit - b'A' + 10,
            _ => return Err(FramingError::BadChunkSize),
        };
        size = size * 16 + u64::from(value);
    }
    Ok(size)
}

/// Appends `data` to `out` as one chunk of a chunked body.
pub fn encode_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    let mut digits = [0u8; 16];
    let mut at = digits.len();
    let mut left = data.len();
    loop {
        at -= 1;
        digits[at] = b"0123456789abcdef"[left % 16];
        left /= 16;
        if left == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// The last chunk of a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";
