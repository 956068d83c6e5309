//! Size limits for HTTP/1.1 parsing, named in one place so every parser and the connection loop
//! enforce the same numbers (and a peer can never make us buffer or decode without bound).

/// Largest request or response head we accept, in bytes, counted from the first byte read
/// (including any leading empty lines) through the final CRLFCRLF. A head of exactly this many
/// bytes is accepted; one more byte is `HeadTooLarge` (answered 431 / treated as a bad upstream).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Most header fields one head may carry. Callers pass this (or a smaller number) as
/// `max_headers`; larger values are capped to it.
pub const MAX_HEADERS: usize = 128;

/// Default cap on a decoded message body (request bodies: Anthropic's own 32 MB limit, answered
/// 413 `request_too_large`). Used for `Content-Length` checks and the chunked decoder.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 32 * 1024 * 1024;

/// Longest chunk-size line, in bytes, including chunk extensions and the terminating CRLF.
/// At the limit is accepted; one more byte is `ChunkSizeTooLong`.
pub const MAX_CHUNK_SIZE_LINE_BYTES: usize = 4096;

/// Largest trailer section of a chunked body, in bytes: every trailer line with its CRLF plus
/// the final empty line's CRLF (so a body without trailers spends 2 bytes of it).
pub const MAX_TRAILER_BYTES: usize = 16 * 1024;

/// Most hex digits in a chunk size (leading zeros included). Sixteen digits cover every `u64`,
/// so a size can never overflow; a seventeenth digit is `ChunkSizeTooLong`.
pub const MAX_CHUNK_SIZE_HEX_DIGITS: usize = 16;
