//! The server side of one client connection: read a head within its deadlines, read the body
//! within its limits, hand the request to a [`Handler`], and repeat while keep-alive holds.
//! Pipelined requests stay in the read buffer and are answered in order. Generic over the
//! [`Transport`] (the runtime's TCP stream) and the handler (the proxy flow, the admin API), so
//! that this layer imports neither; failures are this module's own [`ConnError`].

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_lite::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::http::chunked::{ChunkedDecoder, ChunkedError};
use crate::http::encode::CONTINUE_100;
use crate::http::head::{BodyFraming, HeadError, ParseStatus, RequestHead, parse_request_head};
use crate::http::read_buffer::ReadBuffer;

/// A byte stream to a client, and the timer that bounds waits on it.
pub trait Transport: AsyncRead + AsyncWrite + Unpin {
    /// Waits for `d` (the runtime's timer).
    fn sleep(d: Duration) -> impl Future<Output = ()>;
    /// The client's address (None when the transport has none, e.g. an in-memory test pipe).
    fn peer_addr(&self) -> Option<SocketAddr> {
        None
    }
}

/// Runs `fut` for at most `limit` on `S`'s timer: `None` when the time ran out first.
pub async fn deadline<S: Transport, T>(limit: Duration, fut: impl Future<Output = T>) -> Option<T> {
    futures_lite::future::or(async { Some(fut.await) }, async {
        S::sleep(limit).await;
        None
    })
    .await
}

/// Why a request could not be read; the handler maps it to its client-facing answer.
#[derive(Debug)]
pub enum ConnError {
    /// The head is malformed, too large, or of an unsupported version.
    Head(HeadError),
    /// The head did not arrive within the head timeout.
    HeadTimeout,
    /// The body is larger than the limit.
    BodyTooLarge,
    /// The chunked body is malformed (or too large).
    Chunked(ChunkedError),
    /// The client closed before the body was complete.
    BodyCut,
    /// The body stopped arriving for longer than the stall limit.
    BodyStalled,
    /// Reading from or writing to the client failed.
    Io(std::io::Error),
}

/// The deadlines and sizes the server loop applies to request heads.
#[derive(Clone, Copy, Debug)]
pub struct HeadLimits {
    pub max_headers: usize,
    pub idle: Duration,
    pub head_timeout: Duration,
}

/// What serves the requests of a connection (the proxy flow, the admin API).
pub trait Handler<S: Transport> {
    /// The head limits to read the next request with.
    fn head_limits(&self) -> HeadLimits;
    /// Serves one request whose head was read; returns whether the connection may carry another.
    fn serve(&self, client: &mut ClientConn<S>, head: RequestHead) -> impl Future<Output = bool>;
    /// Answers a head that was refused; returns whether the connection may carry another.
    fn refuse(&self, client: &mut ClientConn<S>, err: ConnError) -> impl Future<Output = bool>;
    /// Whether the server is draining: the connection closes after its current request.
    fn draining(&self) -> bool;
}

/// Pipelined bytes we accept ahead of the request being served; past this we stop reading
/// from the client until the current response is done.
pub const MAX_READ_AHEAD_BYTES: usize = 256 * 1024;

/// Scratch buffers reused request after request on one connection, so the hot path does not
/// allocate: the request body, the upstream request head, bytes to write, bytes read.
#[derive(Default)]
pub struct Scratch {
    pub body: Vec<u8>,
    pub upstream_head: Vec<u8>,
    pub out: Vec<u8>,
    pub data: Vec<u8>,
}

/// A buffer grown past this by one large request is released instead of kept for the next:
/// a connection that once carried a 90 KB Claude Code body should not hold 90 KB while it
/// idles or streams (thousands of streams stay open at once).
pub const MAX_KEPT_SCRATCH_BYTES: usize = 32 * 1024;

impl Scratch {
    /// Releases the request body and the upstream head once they have been sent upstream, if
    /// they are large: a long stream should not pin them.
    pub fn release_request(&mut self) {
        for buf in [&mut self.body, &mut self.upstream_head] {
            if buf.capacity() > MAX_KEPT_SCRATCH_BYTES {
                *buf = Vec::new();
            }
        }
    }

    fn clear(&mut self) {
        for buf in [
            &mut self.body,
            &mut self.upstream_head,
            &mut self.out,
            &mut self.data,
        ] {
            if buf.capacity() > MAX_KEPT_SCRATCH_BYTES {
                *buf = Vec::new();
            }
            buf.clear();
        }
    }
}

/// A client connection and the bytes read from it but not consumed yet.
pub struct ClientConn<S> {
    stream: S,
    /// The client's address, read once when the connection is accepted.
    peer: Option<SocketAddr>,
    input: ReadBuffer,
    scratch: Scratch,
    bytes_in: u64,
    bytes_out: u64,
}

/// What reading the next request head ended with.
pub enum NextHead {
    Request(RequestHead),
    /// The client closed, or stayed idle past the idle timeout: close quietly.
    Closed,
    /// The client sent something we must refuse (answer, then close).
    Refused(ConnError),
}

impl<S: Transport> ClientConn<S> {
    pub fn new(stream: S) -> Self {
        ClientConn {
            peer: stream.peer_addr(),
            stream,
            input: ReadBuffer::new(),
            scratch: Scratch::default(),
            bytes_in: 0,
            bytes_out: 0,
        }
    }

    /// The client's address, for the access log and the audit log.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// The client's IP address (failed authentications are limited per address).
    pub fn peer_ip(&self) -> Option<std::net::IpAddr> {
        self.peer.map(|a| a.ip())
    }

    fn buffered(&self) -> &[u8] {
        self.input.data()
    }

    fn consume(&mut self, n: usize) {
        self.input.consume(n);
    }

    /// The bytes read and written since the last call (for per-request metrics).
    pub fn take_byte_counts(&mut self) -> (u64, u64) {
        let counts = (self.bytes_in, self.bytes_out);
        self.bytes_in = 0;
        self.bytes_out = 0;
        counts
    }

    /// Whether more read-ahead may be buffered while a response is in progress.
    pub fn may_read_ahead(&self) -> bool {
        self.input.len() < MAX_READ_AHEAD_BYTES
    }

    /// Reads more bytes from the client; `Ok(0)` means it closed its side.
    /// Cancellation-safe: dropping the future loses no bytes.
    pub async fn fill(&mut self) -> std::io::Result<usize> {
        let n = self.input.fill_from(&mut self.stream).await?;
        self.bytes_in += n as u64;
        Ok(n)
    }

    pub async fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.bytes_out += bytes.len() as u64;
        Ok(())
    }

    /// Reads the next request head: idle up to `idle` for its first byte, then at most
    /// `head_timeout` for the rest (a slow-loris client gets 408).
    pub async fn read_head(
        &mut self,
        max_headers: usize,
        idle: Duration,
        head_timeout: Duration,
    ) -> NextHead {
        let mut head_deadline =
            (!self.buffered().is_empty()).then(|| Instant::now() + head_timeout);
        loop {
            if !self.buffered().is_empty() {
                match parse_request_head(self.buffered(), max_headers) {
                    Ok(ParseStatus::Complete(head)) => {
                        self.consume(head.head_len());
                        return NextHead::Request(head);
                    }
                    Ok(ParseStatus::Partial) => {}
                    Err(e) => return NextHead::Refused(ConnError::Head(e)),
                }
            }
            let wait = match head_deadline {
                None => idle,
                Some(at) => at.saturating_duration_since(Instant::now()),
            };
            match deadline::<S, _>(wait, self.fill()).await {
                Some(Ok(n)) if n > 0 => {
                    if head_deadline.is_none() {
                        head_deadline = Some(Instant::now() + head_timeout);
                    }
                }
                Some(_) => return NextHead::Closed,
                None if head_deadline.is_none() => return NextHead::Closed,
                None => return NextHead::Refused(ConnError::HeadTimeout),
            }
        }
    }

    /// Takes the connection's scratch buffers, empty (give them back with
    /// [`ClientConn::recycle_scratch`]).
    pub fn take_scratch(&mut self) -> Scratch {
        std::mem::take(&mut self.scratch)
    }

    pub fn recycle_scratch(&mut self, mut scratch: Scratch) {
        scratch.clear();
        self.scratch = scratch;
    }

    /// Reads the request body into `body` by the head's framing, within `max_body` bytes,
    /// answering `Expect: 100-continue` first when the body has not started arriving.
    pub async fn read_body(
        &mut self,
        head: &RequestHead,
        max_body: u64,
        stall: Duration,
        body: &mut Vec<u8>,
    ) -> Result<(), ConnError> {
        let too_large = || ConnError::BodyTooLarge;
        let framing = head.framing();
        if let BodyFraming::Length(n) = framing
            && n > max_body
        {
            return Err(too_large());
        }
        if framing != BodyFraming::Empty && head.expect_continue() && self.buffered().is_empty() {
            self.write_all(CONTINUE_100).await.map_err(ConnError::Io)?;
        }
        match framing {
            BodyFraming::Empty => Ok(()),
            BodyFraming::Length(n) => {
                let want = usize::try_from(n).map_err(|_| too_large())?;
                body.reserve(want);
                loop {
                    let take = (want - body.len()).min(self.buffered().len());
                    body.extend_from_slice(&self.buffered()[..take]);
                    self.consume(take);
                    if body.len() == want {
                        return Ok(());
                    }
                    self.fill_body(stall).await?;
                }
            }
            BodyFraming::Chunked => {
                let mut decoder = ChunkedDecoder::new(max_body);
                loop {
                    let progress = decoder
                        .decode(self.buffered(), body)
                        .map_err(ConnError::Chunked)?;
                    self.consume(progress.consumed);
                    if progress.done {
                        return Ok(());
                    }
                    self.fill_body(stall).await?;
                }
            }
        }
    }

    async fn fill_body(&mut self, stall: Duration) -> Result<(), ConnError> {
        match deadline::<S, _>(stall, self.fill()).await {
            Some(Ok(n)) if n > 0 => Ok(()),
            Some(Ok(_)) => Err(ConnError::BodyCut),
            Some(Err(e)) => Err(ConnError::Io(e)),
            None => Err(ConnError::BodyStalled),
        }
    }
}

/// Serves one accepted connection until it closes, errs, or the handler drains; returns the
/// connection (for its byte counts).
pub async fn serve_connection<S: Transport, H: Handler<S>>(
    handler: &H,
    stream: S,
) -> ClientConn<S> {
    let mut client = ClientConn::new(stream);
    loop {
        let limits = handler.head_limits();
        let next = client
            .read_head(limits.max_headers, limits.idle, limits.head_timeout)
            .await;
        let keep_alive = match next {
            NextHead::Closed => break,
            NextHead::Request(head) => handler.serve(&mut client, head).await,
            NextHead::Refused(err) => handler.refuse(&mut client, err).await,
        };
        if !keep_alive || handler.draining() {
            break;
        }
    }
    client
}
