//! The hash chain's exact definition: how a record becomes a line and how a line is checked.
//!
//! A line is one JSON object followed by `\n`:
//!
//! ```text
//! {"seq":N,"prev":"<64 hex>",<body fields...>,"hash":"<64 hex>"}\n
//! ```
//!
//! * `seq` counts records from 0 across every file of the log.
//! * `prev` is the previous record's `hash`; the first record's `prev` is 64 zeros.
//! * The **canonical bytes** of a record are the line without its trailing
//!   `,"hash":"<64 hex>"` (and without the `\n`): the compact JSON object with keys in the
//!   order written (`seq`, `prev`, `kind`, then the kind's fields in a fixed order).
//! * `hash` = lowercase hex of SHA-256( `prev` as its 64 ASCII hex characters ‖ canonical
//!   bytes ).
//!
//! A verifier therefore never re-serialises JSON: it cuts the hash off the line, hashes, and
//! compares, then reads `seq` and `prev` to check the order.

use sha2::{Digest, Sha256};

/// `prev` of the very first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// Length of a hex SHA-256.
pub const HASH_HEX_LEN: usize = 64;
/// The suffix before the hash value: `,"hash":"`.
const HASH_KEY: &[u8] = b",\"hash\":\"";

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The record hash: SHA-256 over `prev` (64 hex characters) then the canonical bytes.
pub fn chain_hash(prev: &str, canonical: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(prev.as_bytes());
    hasher.update(canonical);
    hex(&hasher.finalize())
}

/// Builds a full line (with `\n`) from the record body's compact JSON object (`{"kind":..}`),
/// returning it and the record's hash.
pub fn seal(seq: u64, prev: &str, body: &[u8]) -> (Vec<u8>, String) {
    let fields = body
        .strip_prefix(b"{")
        .and_then(|b| b.strip_suffix(b"}"))
        .unwrap_or(b"");
    let mut line = Vec::with_capacity(body.len() + 200);
    line.extend_from_slice(b"{\"seq\":");
    line.extend_from_slice(seq.to_string().as_bytes());
    line.extend_from_slice(b",\"prev\":\"");
    line.extend_from_slice(prev.as_bytes());
    line.push(b'"');
    if !fields.is_empty() {
        line.push(b',');
        line.extend_from_slice(fields);
    }
    line.push(b'}');
    let hash = chain_hash(prev, &line);
    line.pop();
    line.extend_from_slice(HASH_KEY);
    line.extend_from_slice(hash.as_bytes());
    line.extend_from_slice(b"\"}\n");
    (line, hash)
}

/// What one line (without `\n`) says about its place in the chain.
#[derive(Debug, PartialEq, Eq)]
pub struct SealedLine {
    pub seq: u64,
    pub prev: String,
    pub hash: String,
    /// The stored hash equals the one computed from `prev` and the canonical bytes.
    pub hash_ok: bool,
    pub record: serde_json::Value,
}

/// Why a line cannot be read as a record at all.
#[derive(Debug, PartialEq, Eq)]
pub enum LineError {
    /// No `,"hash":"<64 hex>"}` at the end.
    NoHash,
    /// Not a JSON object with a numeric `seq` and a 64-hex `prev`.
    Malformed,
}

/// Splits a line into canonical bytes and hash, recomputes the hash, and reads `seq`/`prev`.
pub fn open_line(line: &[u8]) -> Result<SealedLine, LineError> {
    let tail_len = HASH_KEY.len() + HASH_HEX_LEN + 2;
    let split = line.len().checked_sub(tail_len).ok_or(LineError::NoHash)?;
    let (head, tail) = line.split_at(split);
    let hash = tail
        .strip_prefix(HASH_KEY)
        .and_then(|t| t.strip_suffix(b"\"}"))
        .filter(|h| is_hex_hash(h))
        .ok_or(LineError::NoHash)?;
    let hash = String::from_utf8_lossy(hash).into_owned();
    let record: serde_json::Value =
        serde_json::from_slice(line).map_err(|_| LineError::Malformed)?;
    let seq = record
        .get("seq")
        .and_then(serde_json::Value::as_u64)
        .ok_or(LineError::Malformed)?;
    let prev = record
        .get("prev")
        .and_then(serde_json::Value::as_str)
        .filter(|p| is_hex_hash(p.as_bytes()))
        .ok_or(LineError::Malformed)?
        .to_owned();
    let mut canonical = Vec::with_capacity(head.len() + 1);
    canonical.extend_from_slice(head);
    canonical.push(b'}');
    let hash_ok = chain_hash(&prev, &canonical) == hash;
    Ok(SealedLine {
        seq,
        prev,
        hash,
        hash_ok,
        record,
    })
}

/// 64 lowercase hex digits.
pub fn is_hex_hash(bytes: &[u8]) -> bool {
    bytes.len() == HASH_HEX_LEN && bytes.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_line_opens_and_checks() {
        let (line, hash) = seal(7, GENESIS_HASH, br#"{"kind":"note","note":"x"}"#);
        assert!(line.ends_with(b"\"}\n"));
        let opened = open_line(&line[..line.len() - 1]).unwrap();
        assert_eq!(opened.seq, 7);
        assert_eq!(opened.hash, hash);
        assert!(opened.hash_ok);
        let text = String::from_utf8(line).unwrap();
        assert!(text.starts_with(&format!(
            r#"{{"seq":7,"prev":"{GENESIS_HASH}","kind":"note""#
        )));
        // The documented definition, computed independently.
        let canonical = format!(r#"{{"seq":7,"prev":"{GENESIS_HASH}","kind":"note","note":"x"}}"#);
        assert_eq!(
            hash,
            sha256_hex(format!("{GENESIS_HASH}{canonical}").as_bytes())
        );
    }

    #[test]
    fn any_changed_byte_breaks_the_hash_or_the_line() {
        let (line, _) = seal(1, GENESIS_HASH, br#"{"kind":"note","note":"abc"}"#);
        let line = &line[..line.len() - 1];
        for i in 0..line.len() {
            let mut edited = line.to_vec();
            edited[i] ^= 0x01;
            if let Ok(opened) = open_line(&edited) {
                assert!(!opened.hash_ok, "byte {i}");
            }
        }
    }
}
