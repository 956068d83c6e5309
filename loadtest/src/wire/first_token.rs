//! Finds the first content-bearing event of a streamed response (time to first token) in body
//! bytes that arrive in arbitrary pieces, without buffering the stream.

use memchr::memmem;

/// Longest needle the scanner supports.
pub const MAX_NEEDLE_BYTES: usize = 32;

/// Anthropic: the first `content_block_delta` event carries the first token.
pub const ANTHROPIC_NEEDLES: &[&[u8]] = &[b"content_block_delta"];

/// OpenAI chat chunks: a delta with content text or with tool calls (the first chunk's
/// `{"role":"assistant","content":""}` does not match).
pub const OPENAI_NEEDLES: &[&[u8]] = &[b"\"delta\":{\"content\":\"", b"\"delta\":{\"tool_calls\""];

/// Scans streamed body pieces for any of a fixed set of needles, across piece boundaries.
#[derive(Debug, Clone)]
pub struct FirstTokenScanner {
    needles: &'static [&'static [u8]],
    tail: [u8; MAX_NEEDLE_BYTES],
    tail_len: usize,
    found: bool,
}

impl FirstTokenScanner {
    /// A scanner for `needles`, each at most [`MAX_NEEDLE_BYTES`] long (longer ones are cut).
    pub fn new(needles: &'static [&'static [u8]]) -> Self {
        Self {
            needles,
            tail: [0; MAX_NEEDLE_BYTES],
            tail_len: 0,
            found: false,
        }
    }

    /// True once a needle has been seen.
    pub fn found(&self) -> bool {
        self.found
    }

    /// Feeds the next piece of body; returns true when this piece completes the first match.
    pub fn feed(&mut self, piece: &[u8]) -> bool {
        if self.found || piece.is_empty() {
            return false;
        }
        let keep = MAX_NEEDLE_BYTES - 1;
        // A needle that straddles the boundary lies within tail + the first bytes of piece.
        let mut seam = [0u8; 2 * MAX_NEEDLE_BYTES];
        let head = piece.len().min(keep);
        seam[..self.tail_len].copy_from_slice(&self.tail[..self.tail_len]);
        seam[self.tail_len..self.tail_len + head].copy_from_slice(&piece[..head]);
        let seam = &seam[..self.tail_len + head];
        for needle in self.needles {
            let needle = &needle[..needle.len().min(MAX_NEEDLE_BYTES)];
            if memmem::find(seam, needle).is_some() || memmem::find(piece, needle).is_some() {
                self.found = true;
                return true;
            }
        }
        if piece.len() >= keep {
            self.tail[..keep].copy_from_slice(&piece[piece.len() - keep..]);
            self.tail_len = keep;
        } else {
            let total = self.tail_len + piece.len();
            let drop = total.saturating_sub(keep);
            self.tail.copy_within(drop..self.tail_len, 0);
            let kept = self.tail_len - drop;
            self.tail[kept..kept + piece.len()].copy_from_slice(piece);
            self.tail_len = kept + piece.len();
        }
        false
    }
}
