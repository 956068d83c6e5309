//! The byte stream to an upstream: plain TCP or TLS over TCP, behind one type so the rest of
//! the client does not care which.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::{AsyncRead, AsyncWrite};
use futures_rustls::client::TlsStream;

use crate::runtime::io::net::{TcpStream, try_send_vectored};

/// A connected upstream stream.
pub enum UpstreamIo {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl UpstreamIo {
    /// The TCP stream underneath (for liveness probes).
    pub fn tcp(&self) -> &TcpStream {
        match self {
            UpstreamIo::Plain(s) => s,
            UpstreamIo::Tls(s) => s.get_ref().0,
        }
    }
}

impl AsyncRead for UpstreamIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            UpstreamIo::Plain(s) => Pin::new(s).poll_read(cx, buf),
            UpstreamIo::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for UpstreamIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            UpstreamIo::Plain(s) => Pin::new(s).poll_write(cx, buf),
            UpstreamIo::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    /// Plain TCP: every buffer in one `sendmsg` when the socket takes bytes now; when it would
    /// block, the first buffer goes the usual way, which also waits for writability.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            UpstreamIo::Plain(s) => match try_send_vectored(s, bufs) {
                Some(result) => Poll::Ready(result),
                None => {
                    let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| b);
                    Pin::new(s).poll_write(cx, first)
                }
            },
            UpstreamIo::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamIo::Plain(s) => Pin::new(s).poll_flush(cx),
            UpstreamIo::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamIo::Plain(s) => Pin::new(s).poll_close(cx),
            UpstreamIo::Tls(s) => Pin::new(s.as_mut()).poll_close(cx),
        }
    }
}

/// Writes `head` then `body` with as few writes as the stream allows (one `sendmsg` for both on
/// plain TCP when the socket has room).
pub async fn write_head_and_body(io: &mut UpstreamIo, head: &[u8], body: &[u8]) -> io::Result<()> {
    use futures_lite::AsyncWriteExt;
    let (mut head, mut body) = (head, body);
    while !head.is_empty() || !body.is_empty() {
        let written = io
            .write_vectored(&[IoSlice::new(head), IoSlice::new(body)])
            .await?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        (head, body) = advance(head, body, written);
    }
    io.flush().await
}

/// What is left of `head` and `body` after the first `written` bytes of the two were sent.
fn advance<'a>(head: &'a [u8], body: &'a [u8], written: usize) -> (&'a [u8], &'a [u8]) {
    match written.checked_sub(head.len()) {
        None => (&head[written..], body),
        Some(into_body) => (&[], &body[into_body.min(body.len())..]),
    }
}

#[cfg(test)]
mod tests {
    use super::advance;

    #[test]
    fn advance_leaves_the_unsent_bytes_at_every_offset() {
        let (head, body) = (&b"HEAD\r\n\r\n"[..], &b"{\"body\":1}"[..]);
        let whole = [head, body].concat();
        for written in 0..=whole.len() {
            let (h, b) = advance(head, body, written);
            assert_eq!([h, b].concat(), whole[written..], "after {written} bytes");
            assert!(
                h.is_empty() || b == body,
                "body untouched while head remains"
            );
        }
    }
}
