//! Reads the request fields that decide routing and admission (`model`, `stream`, `max_tokens`)
//! from a client's Messages body without parsing or re-serialising it, and swaps the model value
//! in place, so the body goes upstream byte for byte as the client sent it.
//!
//! Bodies are 50–90 KB and almost all of it is nested content, so only the top-level object is
//! walked key by key; nested values are skipped by jumping from quote to quote with memchr,
//! tracking bracket depth only in the short runs between strings. That checks enough to reject
//! broken JSON (unbalanced or mismatched brackets, unterminated strings, truncation, trailing
//! bytes, stray characters) but does not validate escapes or UTF-8 inside skipped strings.

use std::ops::Range;

use memchr::{memchr, memchr_iter};

/// Deepest nesting of arrays and objects inside one top-level value.
pub const MAX_NESTING: usize = 128;

/// The deciding fields of a request body.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RequestPeek {
    /// The top-level `model`, escapes decoded; `None` if absent or not a string.
    pub model: Option<String>,
    /// Byte range of the model string's contents (inside the quotes, escapes as sent) in the body.
    pub model_span: Option<Range<usize>>,
    /// The top-level `stream` is `true`.
    pub stream: bool,
    /// The top-level `max_tokens` if it is a non-negative integer that fits a `u64`.
    pub max_tokens: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeekError {
    /// Not valid JSON (the text says what was wrong), or a deciding key appears twice at the top
    /// level (which upstream might read differently from us).
    NotJson(&'static str),
    /// Valid JSON, but not an object.
    NotAnObject,
}

/// Peek at the top-level `model`, `stream` and `max_tokens` of a JSON request body.
pub fn peek_request(body: &[u8]) -> Result<RequestPeek, PeekError> {
    let mut scan = Scanner { body, pos: 0 };
    scan.skip_ws();
    if scan.peek() != Some(b'{') {
        scan.skip_value()?;
        scan.expect_end()?;
        return Err(PeekError::NotAnObject);
    }
    scan.pos += 1;
    let mut peek = RequestPeek::default();
    let mut seen = 0u8; // one bit per DecidingKey
    scan.skip_ws();
    if scan.peek() == Some(b'}') {
        scan.pos += 1;
    } else {
        loop {
            scan.skip_ws();
            let key = scan.string()?;
            scan.skip_ws();
            scan.expect(b':', "expected ':' after a key")?;
            scan.skip_ws();
            let field = DecidingKey::of(body.get(key).unwrap_or_default())?;
            if let Some(field) = field {
                let bit = 1u8 << field as u8;
                if seen & bit != 0 {
                    return Err(PeekError::NotJson("a deciding key appears twice"));
                }
                seen |= bit;
            }
            match field {
                Some(DecidingKey::Model) if scan.peek() == Some(b'"') => {
                    let span = scan.string()?;
                    peek.model = Some(decode_string(body.get(span.clone()).unwrap_or_default())?);
                    peek.model_span = Some(span);
                }
                Some(DecidingKey::Stream) => peek.stream = scan.skip_value()? == Scalar::True,
                Some(DecidingKey::MaxTokens) => {
                    let start = scan.pos;
                    if scan.skip_value()? == Scalar::Number {
                        let digits = body.get(start..scan.pos).unwrap_or_default();
                        peek.max_tokens = parse_u64(digits);
                    }
                }
                _ => {
                    scan.skip_value()?;
                }
            }
            scan.skip_ws();
            match scan.next_byte() {
                Some(b',') => {}
                Some(b'}') => break,
                None => return Err(PeekError::NotJson("truncated object")),
                Some(_) => return Err(PeekError::NotJson("expected ',' or '}' after a value")),
            }
        }
    }
    scan.expect_end()?;
    Ok(peek)
}

/// A copy of `body` with the model string's contents at `span` (from [`peek_request`] on the
/// same body) replaced by `new_model`, JSON-escaped; every other byte is unchanged. A span
/// outside the body is clamped to it.
pub fn substitute_model(body: &[u8], span: Range<usize>, new_model: &str) -> Vec<u8> {
    debug_assert!(span.start <= span.end && span.end <= body.len());
    let start = span.start.min(body.len());
    let end = span.end.clamp(start, body.len());
    let (before, rest) = body.split_at(start);
    let after = rest.get(end - start..).unwrap_or_default();
    let mut out = Vec::with_capacity(before.len() + new_model.len() + after.len());
    out.extend_from_slice(before);
    write_escaped(&mut out, new_model);
    out.extend_from_slice(after);
    out
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DecidingKey {
    Model = 0,
    Stream = 1,
    MaxTokens = 2,
}

impl DecidingKey {
    /// Which deciding key `raw` (a key's contents as sent) names, escapes decoded: a key spelled
    /// `"m\u006fdel"` is `model` to upstream, so it must be to us.
    fn of(raw: &[u8]) -> Result<Option<Self>, PeekError> {
        const LONGEST_ESCAPED: usize = "max_tokens".len() * 6;
        let named = |key: &[u8]| match key {
            b"model" => Some(Self::Model),
            b"stream" => Some(Self::Stream),
            b"max_tokens" => Some(Self::MaxTokens),
            _ => None,
        };
        if memchr(b'\\', raw).is_none() || raw.len() > LONGEST_ESCAPED {
            return Ok(named(raw));
        }
        Ok(named(decode_string(raw)?.as_bytes()))
    }
}

/// What a skipped value was, as far as the caller cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scalar {
    True,
    Number,
    Other,
}

struct Scanner<'a> {
    body: &'a [u8],
    pos: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.body.get(self.pos).copied()
    }

    fn next_byte(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.pos += 1;
        Some(byte)
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8, what: &'static str) -> Result<(), PeekError> {
        match self.next_byte() {
            Some(found) if found == byte => Ok(()),
            None => Err(PeekError::NotJson("truncated")),
            Some(_) => Err(PeekError::NotJson(what)),
        }
    }

    fn expect_end(&mut self) -> Result<(), PeekError> {
        self.skip_ws();
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(PeekError::NotJson("bytes after the JSON value")),
        }
    }

    /// At a `"`: skip the string, returning the range of its contents.
    fn string(&mut self) -> Result<Range<usize>, PeekError> {
        self.expect(b'"', "expected a string")?;
        let start = self.pos;
        let contents = self.body.get(start..).unwrap_or_default();
        for found in memchr_iter(b'"', contents) {
            // The quote is escaped when an odd run of backslashes precedes it.
            let before = contents.get(..found).unwrap_or_default();
            let backslashes = before.iter().rev().take_while(|&&b| b == b'\\').count();
            if backslashes % 2 == 0 {
                self.pos = start + found + 1;
                return Ok(start..start + found);
            }
        }
        Err(PeekError::NotJson("unterminated string"))
    }

    fn literal(&mut self, word: &'static [u8]) -> Result<(), PeekError> {
        let end = self.pos + word.len();
        match self.body.get(self.pos..end) {
            Some(found) if found == word => {
                self.pos = end;
                Ok(())
            }
            _ => Err(PeekError::NotJson("invalid literal")),
        }
    }

    /// Skip one JSON number, checking its grammar.
    fn number(&mut self) -> Result<(), PeekError> {
        let digits = |scan: &mut Self| {
            let start = scan.pos;
            while matches!(scan.peek(), Some(b'0'..=b'9')) {
                scan.pos += 1;
            }
            scan.pos > start
        };
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let int_start = self.pos;
        if !digits(self) {
            return Err(PeekError::NotJson("invalid number"));
        }
        if self.body.get(int_start) == Some(&b'0') && self.pos - int_start > 1 {
            return Err(PeekError::NotJson("number with a leading zero"));
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !digits(self) {
                return Err(PeekError::NotJson("invalid number"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !digits(self) {
                return Err(PeekError::NotJson("invalid number"));
            }
        }
        Ok(())
    }

    fn skip_value(&mut self) -> Result<Scalar, PeekError> {
        match self.peek() {
            Some(b'"') => self.string().map(|_| Scalar::Other),
            Some(b'{' | b'[') => self.container().map(|()| Scalar::Other),
            Some(b't') => self.literal(b"true").map(|()| Scalar::True),
            Some(b'f') => self.literal(b"false").map(|()| Scalar::Other),
            Some(b'n') => self.literal(b"null").map(|()| Scalar::Other),
            Some(b'-' | b'0'..=b'9') => self.number().map(|()| Scalar::Number),
            None => Err(PeekError::NotJson("truncated")),
            Some(_) => Err(PeekError::NotJson("unexpected byte where a value starts")),
        }
    }

    /// At a `{` or `[`: skip to just past its matching bracket. Strings are jumped over with
    /// memchr; only the bytes between strings are looked at one by one.
    fn container(&mut self) -> Result<(), PeekError> {
        // One bit per open container, 1 for an array; depth <= MAX_NESTING fits in a u128.
        let mut open_arrays: u128 = 0;
        let mut depth = 0usize;
        loop {
            let rest = self.body.get(self.pos..).unwrap_or_default();
            let between = memchr(b'"', rest).unwrap_or(rest.len());
            for (offset, &byte) in rest.get(..between).unwrap_or_default().iter().enumerate() {
                match byte {
                    b'{' | b'[' => {
                        if depth == MAX_NESTING {
                            return Err(PeekError::NotJson("nested too deeply"));
                        }
                        open_arrays = (open_arrays << 1) | u128::from(byte == b'[');
                        depth += 1;
                    }
                    b'}' | b']' => {
                        let is_array = open_arrays & 1 == 1;
                        if depth == 0 || is_array != (byte == b']') {
                            return Err(PeekError::NotJson("mismatched bracket"));
                        }
                        open_arrays >>= 1;
                        depth -= 1;
                        if depth == 0 {
                            self.pos += offset + 1;
                            return Ok(());
                        }
                    }
                    b' ' | b'\t' | b'\n' | b'\r' | b':' | b',' | b'+' | b'-' | b'.' => {}
                    b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' => {}
                    _ => return Err(PeekError::NotJson("unexpected byte in a nested value")),
                }
            }
            self.pos += between;
            if self.peek().is_none() {
                return Err(PeekError::NotJson("truncated"));
            }
            self.string()?;
        }
    }
}

/// Decode a JSON string's contents (between the quotes) into UTF-8.
fn decode_string(raw: &[u8]) -> Result<String, PeekError> {
    if raw.iter().any(|&b| b < 0x20) {
        return Err(PeekError::NotJson("control character in a string"));
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(backslash) = memchr(b'\\', rest) {
        let (plain, escape) = rest.split_at(backslash);
        out.extend_from_slice(plain);
        let consumed = match escape.get(1) {
            Some(b'u') => {
                let (ch, consumed) = decode_unicode_escape(escape)?;
                out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                consumed
            }
            Some(&simple) => {
                out.push(match simple {
                    b'"' | b'\\' | b'/' => simple,
                    b'b' => 0x08,
                    b'f' => 0x0c,
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    _ => return Err(PeekError::NotJson("invalid escape")),
                });
                2
            }
            None => return Err(PeekError::NotJson("invalid escape")),
        };
        rest = escape.get(consumed..).unwrap_or_default();
    }
    out.extend_from_slice(rest);
    String::from_utf8(out).map_err(|_| PeekError::NotJson("string is not UTF-8"))
}

/// Decode `\uXXXX` (and a following `\uXXXX` low surrogate) at the start of `escape`; returns the
/// character and the bytes consumed.
fn decode_unicode_escape(escape: &[u8]) -> Result<(char, usize), PeekError> {
    let unit = |at: usize| -> Option<u32> {
        let hex = escape.get(at..at + 4)?;
        if !hex.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        hex.iter().try_fold(0u32, |code, &digit| {
            Some(code * 16 + char::from(digit).to_digit(16)?)
        })
    };
    let invalid = PeekError::NotJson("invalid \\u escape");
    let high = unit(2).ok_or(invalid.clone())?;
    if (0xD800..0xDC00).contains(&high) {
        let low = (escape.get(6..8) == Some(b"\\u"))
            .then(|| unit(8))
            .flatten()
            .filter(|low| (0xDC00..0xE000).contains(low))
            .ok_or(invalid.clone())?;
        let code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
        return char::from_u32(code).map(|ch| (ch, 12)).ok_or(invalid);
    }
    char::from_u32(high).map(|ch| (ch, 6)).ok_or(invalid)
}

fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Append `text` JSON-escaped (without quotes).
fn write_escaped(out: &mut Vec<u8>, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for &byte in text.as_bytes() {
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0xf)],
            ]),
            _ => out.push(byte),
        }
    }
}
