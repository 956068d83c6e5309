//! The byte stream to an upstream: plain TCP or TLS over TCP, behind one type so the rest of
//! the client does not care which (the runtime's plain-or-TLS stream, client side).

use std::io::{self, IoSlice};

use futures_rustls::client::TlsStream;

use crate::runtime::io::net::TcpStream;
use crate::runtime::io::tls::MaybeTls;

/// A connected upstream stream.
pub type UpstreamIo = MaybeTls<TlsStream<TcpStream>>;

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
