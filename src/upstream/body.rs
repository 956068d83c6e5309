//! Reading an upstream response body by its framing (Content-Length, chunked, or until close),
//! decoding it into plain body bytes as they arrive.

use super::UpstreamConn;
use crate::http::chunked::{ChunkedDecoder, ChunkedError};
use crate::http::response_head::ResponseFraming;

/// Upstream bodies are not size-limited by us (the client asked for them), but the chunked
/// decoder wants a bound: this one is never reached by a real provider.
const MAX_UPSTREAM_BODY_BYTES: u64 = u64::MAX / 2;

/// How an upstream body went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// The connection ended before the framing said the body was complete.
    EndedEarly,
    /// The chunked framing was invalid.
    BadChunking(ChunkedError),
}

/// Decodes the start of a body with `framing` from the bytes buffered on `conn` into `out`,
/// consuming nothing (a reader made afterwards still reads the whole body); returns whether the
/// body is complete within them.
pub fn peek_buffered(
    framing: ResponseFraming,
    conn: &UpstreamConn,
    out: &mut Vec<u8>,
) -> Result<bool, BodyError> {
    let mut reader = BodyReader::new(framing);
    reader.decode(conn.buffered(), out)?;
    Ok(reader.finished)
}

/// Decodes one response body from the bytes buffered on its connection.
pub struct BodyReader {
    framing: ResponseFraming,
    remaining: u64,
    chunked: Option<ChunkedDecoder>,
    finished: bool,
}

impl BodyReader {
    pub fn new(framing: ResponseFraming) -> Self {
        let (remaining, chunked, finished) = match framing {
            ResponseFraming::Empty => (0, None, true),
            ResponseFraming::Length(n) => (n, None, n == 0),
            ResponseFraming::Chunked => {
                (0, Some(ChunkedDecoder::new(MAX_UPSTREAM_BODY_BYTES)), false)
            }
            ResponseFraming::CloseDelimited => (0, None, false),
        };
        BodyReader {
            framing,
            remaining,
            chunked,
            finished,
        }
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Whether the connection can carry another request once the body is finished.
    pub fn leaves_connection_reusable(&self) -> bool {
        self.finished && !matches!(self.framing, ResponseFraming::CloseDelimited)
    }

    /// Moves the body bytes buffered on `conn` into `out` (decoded); returns whether the body is
    /// now complete.
    pub fn decode_buffered(
        &mut self,
        conn: &mut UpstreamConn,
        out: &mut Vec<u8>,
    ) -> Result<bool, BodyError> {
        let consumed = self.decode(conn.buffered(), out)?;
        conn.consume(consumed);
        Ok(self.finished)
    }

    /// Decodes the body bytes at the start of `input` into `out`; returns how many bytes of
    /// `input` were used.
    fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, BodyError> {
        if self.finished {
            return Ok(0);
        }
        let consumed = match (&mut self.chunked, self.framing) {
            (Some(decoder), _) => {
                let progress = decoder.decode(input, out).map_err(BodyError::BadChunking)?;
                self.finished = progress.done;
                progress.consumed
            }
            (None, ResponseFraming::Length(_)) => {
                let take = input
                    .len()
                    .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
                out.extend_from_slice(&input[..take]);
                self.remaining -= take as u64;
                self.finished = self.remaining == 0;
                take
            }
            (None, _) => {
                out.extend_from_slice(input);
                input.len()
            }
        };
        Ok(consumed)
    }

    /// Called when the connection reached end of stream: fine for a close-delimited body,
    /// an early end for every other framing.
    pub fn on_end_of_stream(&mut self) -> Result<(), BodyError> {
        if self.finished {
            return Ok(());
        }
        match self.framing {
            ResponseFraming::CloseDelimited => {
                self.finished = true;
                Ok(())
            }
            _ => Err(BodyError::EndedEarly),
        }
    }
}
