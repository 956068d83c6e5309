//! The read buffer of a connection (client or upstream): bytes read and not yet consumed.
//! Filling it is cancellation-safe: a read future dropped by a timer or a race leaves the
//! buffer exactly as it was.

use futures_lite::{AsyncRead, AsyncReadExt};

/// Bytes asked of the socket per read.
pub const READ_CHUNK_BYTES: usize = 16 * 1024;

pub struct ReadBuffer {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Default for ReadBuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl ReadBuffer {
    pub fn new() -> Self {
        ReadBuffer {
            buf: Vec::new(),
            start: 0,
            end: 0,
        }
    }

    /// The bytes read and not yet consumed.
    pub fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Marks `n` bytes as consumed.
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Room for at least `min` more bytes after the data, compacting or growing as needed.
    fn spare(&mut self, min: usize) -> &mut [u8] {
        if self.buf.len() - self.end < min {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.buf.len() - self.end < min {
                self.buf.resize(self.end + min, 0);
            }
        }
        &mut self.buf[self.end..]
    }

    /// Reads once from `source` into the buffer; `Ok(0)` is end of stream.
    pub async fn fill_from<R: AsyncRead + Unpin>(
        &mut self,
        source: &mut R,
    ) -> std::io::Result<usize> {
        let n = source.read(self.spare(READ_CHUNK_BYTES)).await?;
        self.end += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_consume_and_compact() {
        futures_lite::future::block_on(async {
            let mut rb = ReadBuffer::new();
            let mut src: &[u8] = b"hello world";
            assert_eq!(rb.fill_from(&mut src).await.unwrap(), 11);
            assert_eq!(rb.data(), b"hello world");
            rb.consume(6);
            assert_eq!(rb.data(), b"world");
            let mut more: &[u8] = b"!";
            rb.fill_from(&mut more).await.unwrap();
            assert_eq!(rb.data(), b"world!");
            rb.consume(100);
            assert!(rb.is_empty());
        });
    }

    #[test]
    fn a_dropped_fill_leaves_the_buffer_unchanged() {
        let mut rb = ReadBuffer::new();
        let mut src: &[u8] = b"abc";
        futures_lite::future::block_on(rb.fill_from(&mut src)).unwrap();
        {
            struct Never;
            impl AsyncRead for Never {
                fn poll_read(
                    self: std::pin::Pin<&mut Self>,
                    _: &mut std::task::Context<'_>,
                    _: &mut [u8],
                ) -> std::task::Poll<std::io::Result<usize>> {
                    std::task::Poll::Pending
                }
            }
            let mut never = Never;
            let fut = rb.fill_from(&mut never);
            let mut fut = std::pin::pin!(fut);
            let waker = std::task::Waker::noop();
            let mut cx = std::task::Context::from_waker(waker);
            assert!(fut.as_mut().poll(&mut cx).is_pending());
        }
        assert_eq!(rb.data(), b"abc");
        assert_eq!(rb.len(), 3);
    }
}
