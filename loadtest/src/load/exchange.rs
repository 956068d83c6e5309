//! One request/response exchange on a keep-alive connection: write the rendered request, read
//! the response head and body as they arrive, and note when the first byte and first token came.

use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;

use crate::load::stats::Failure;
use crate::requests::profiles::RequestTemplate;
use crate::wire::body::BodyDecoder;
use crate::wire::first_token::FirstTokenScanner;
use crate::wire::framing::{FramingError, MAX_HEAD_BYTES, parse_response_head};
use crate::wire::readbuf::ReadBuf;

/// Receive buffer size per connection.
pub const READ_BUF_BYTES: usize = 64 * 1024;

/// A receive buffer sized for the generator's connections.
pub fn new_read_buf() -> ReadBuf {
    ReadBuf::new(READ_BUF_BYTES, MAX_HEAD_BYTES + READ_BUF_BYTES)
}

/// What came back.
#[derive(Debug, Clone, Copy)]
pub struct Reply {
    pub status: u16,
    pub keep_alive: bool,
    pub bytes: u64,
    pub first_byte: Instant,
    pub first_token: Option<Instant>,
    pub done: Instant,
}

fn framing_failure(error: FramingError) -> Failure {
    match error {
        FramingError::Truncated => Failure::Io,
        _ => Failure::Parse,
    }
}

/// Opens a connection with Nagle off.
pub async fn connect(addr: std::net::SocketAddr, timeout: Duration) -> Result<TcpStream, Failure> {
    let stream = TcpStream::connect_timeout(addr, timeout)
        .await
        .map_err(|_| Failure::Connect)?;
    stream.set_nodelay(true).map_err(|_| Failure::Connect)?;
    Ok(stream)
}

async fn read_some(stream: &mut TcpStream, buf: &mut ReadBuf) -> Result<usize, Failure> {
    let spare = buf.spare();
    if spare.is_empty() {
        return Err(Failure::Parse);
    }
    let count = stream.read(spare).await.map_err(|_| Failure::Io)?;
    buf.commit(count);
    Ok(count)
}

/// Sends `template` and reads its whole response. `buf` must hold no bytes from earlier
/// responses (it is cleared on failure by the caller).
pub async fn exchange(
    stream: &mut TcpStream,
    buf: &mut ReadBuf,
    template: &RequestTemplate,
) -> Result<Reply, Failure> {
    stream
        .write_all(&template.bytes)
        .await
        .map_err(|_| Failure::Io)?;
    let mut bytes = 0u64;
    let mut first_byte = None;
    let head = loop {
        if let Some(head) = parse_response_head(buf.filled(), false).map_err(framing_failure)? {
            break head;
        }
        let count = read_some(stream, buf).await?;
        if count == 0 {
            return Err(Failure::Io);
        }
        first_byte.get_or_insert_with(Instant::now);
        bytes += count as u64;
    };
    let first_byte = first_byte.unwrap_or_else(Instant::now);
    buf.consume(head.head_len);
    let mut decoder = BodyDecoder::new(head.framing).map_err(framing_failure)?;
    let mut scanner = FirstTokenScanner::new(template.first_token);
    let watch = template.streaming && (200..300).contains(&head.status);
    let mut first_token = None;
    loop {
        let mut hit = false;
        let used = decoder
            .decode(buf.filled(), |data| hit |= watch && scanner.feed(data))
            .map_err(framing_failure)?;
        if hit {
            first_token = Some(Instant::now());
        }
        buf.consume(used);
        if decoder.is_done() {
            break;
        }
        let count = read_some(stream, buf).await?;
        if count == 0 {
            decoder.finish_on_close().map_err(framing_failure)?;
            break;
        }
        bytes += count as u64;
    }
    Ok(Reply {
        status: head.status,
        keep_alive: head.keep_alive,
        bytes,
        first_byte,
        first_token,
        done: Instant::now(),
    })
}
