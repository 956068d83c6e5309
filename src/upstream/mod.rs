//! The HTTP/1.1 client to upstreams: per-shard keep-alive pools per provider, DNS through the
//! shard's cache, TLS through rustls, connect and read deadlines, and the one retry that makes a
//! pooled connection the upstream closed while idle invisible to the user.

pub mod body;
pub mod dns;
pub mod io;
pub mod pool;
pub mod tls;
pub mod tunnel;

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

use futures_lite::AsyncWriteExt;

use self::dns::DnsCache;
use self::io::UpstreamIo;
use self::pool::Pool;
use self::tls::UpstreamTls;
use crate::config::{Config, ProviderConfig};
use crate::error::{ErrorKind, GatewayError};
use crate::http::head::{HeadError, ParseStatus};
use crate::http::limits::MAX_HEADERS;
use crate::http::read_buffer::ReadBuffer;
use crate::http::response_head::{ResponseHead, parse_response_head};
use crate::runtime::io::net::connect_any;
use crate::runtime::io::time::deadline;

/// One connection to an upstream, with the bytes read from it but not consumed yet.
pub struct UpstreamConn {
    pub io: UpstreamIo,
    input: ReadBuffer,
    /// Whether this connection served an earlier request (it came from the pool).
    pub reused: bool,
    /// The provider configuration it was opened for (see [`Upstreams::reload`]).
    generation: u64,
    pub(crate) idle_since: Instant,
}

impl UpstreamConn {
    fn new(io: UpstreamIo, generation: u64) -> Self {
        UpstreamConn {
            io,
            input: ReadBuffer::new(),
            reused: false,
            generation,
            idle_since: Instant::now(),
        }
    }

    /// Bytes read and not yet consumed.
    pub fn buffered(&self) -> &[u8] {
        self.input.data()
    }

    /// Marks `n` buffered bytes as consumed.
    pub fn consume(&mut self, n: usize) {
        self.input.consume(n);
    }

    /// Reads more bytes from the socket; `Ok(0)` is end of stream. Cancellation-safe.
    pub async fn fill(&mut self) -> std::io::Result<usize> {
        self.input.fill_from(&mut self.io).await
    }

    pub async fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.io.write_all(bytes).await?;
        self.io.flush().await
    }
}

/// A response head received from an upstream, with the connection it came on.
pub struct Exchange {
    pub conn: UpstreamConn,
    pub head: ResponseHead,
    /// When the request's last byte was written upstream.
    pub request_sent_at: Instant,
    /// When the response head was complete.
    pub head_received_at: Instant,
}

/// One shard's way to every upstream.
pub struct Upstreams {
    tls: RefCell<Vec<Option<UpstreamTls>>>,
    /// Bumped by each reload: connections opened for an older provider list are not pooled.
    generation: Cell<u64>,
    pool: Pool,
    dns: DnsCache,
    connect_timeout: Duration,
    read_timeout: Duration,
}

impl Upstreams {
    pub fn new(config: &Config, dns: DnsCache) -> Result<Self, String> {
        let tls = config
            .providers
            .iter()
            .map(tls::for_provider)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Upstreams {
            tls: RefCell::new(tls),
            generation: Cell::new(0),
            pool: Pool::new(config.providers.len(), config.server.upstream_idle_pool),
            dns,
            connect_timeout: config.server.upstream_connect_timeout,
            read_timeout: config.server.upstream_read_timeout,
        })
    }

    /// Takes a reloaded provider list: new TLS set-ups, and the idle connections of the old
    /// one closed (a connection in use finishes its response, then is not pooled). Errors
    /// (an unreadable CA file) leave everything as it was.
    pub fn reload(&self, config: &Config) -> Result<(), String> {
        let tls = config
            .providers
            .iter()
            .map(tls::for_provider)
            .collect::<Result<Vec<_>, _>>()?;
        *self.tls.borrow_mut() = tls;
        self.generation.set(self.generation.get() + 1);
        self.pool.reset(config.providers.len());
        Ok(())
    }

    pub fn read_timeout(&self) -> Duration {
        self.read_timeout
    }

    /// Sends `head` and `body` to provider `index` and waits for the response head. A pooled
    /// connection that fails before any response byte arrived was closed by the upstream while
    /// idle: the request is sent again once on a fresh connection.
    pub async fn exchange(
        &self,
        index: usize,
        provider: &ProviderConfig,
        head: &[u8],
        body: &[u8],
    ) -> Result<Exchange, GatewayError> {
        self.exchange_within(index, provider, head, body, self.read_timeout)
            .await
    }

    /// [`Upstreams::exchange`], waiting at most `head_timeout` for the response head (a
    /// streaming request's first-byte timeout).
    pub async fn exchange_within(
        &self,
        index: usize,
        provider: &ProviderConfig,
        head: &[u8],
        body: &[u8],
        head_timeout: Duration,
    ) -> Result<Exchange, GatewayError> {
        if let Some(conn) = self.pool.checkout(index) {
            match self.send_on(conn, head, body, head_timeout).await {
                Ok(result) => return Ok(result),
                Err(SendError::Stale) => {}
                Err(SendError::Failed(e)) => return Err(e),
            }
        }
        let conn = self.connect(index, provider).await?;
        match self.send_on(conn, head, body, head_timeout).await {
            Ok(result) => Ok(result),
            Err(SendError::Stale) => Err(GatewayError::new(
                ErrorKind::UpstreamProtocol,
                "the upstream closed the connection without answering",
            )),
            Err(SendError::Failed(e)) => Err(e),
        }
    }

    /// Hands a connection whose response was fully read back to the pool.
    pub fn checkin(&self, index: usize, mut conn: UpstreamConn) {
        if !conn.buffered().is_empty() || conn.generation != self.generation.get() {
            return; // stray bytes after a complete response, or opened before a reload
        }
        conn.reused = true;
        conn.idle_since = Instant::now();
        self.pool.checkin(index, conn);
    }

    async fn connect(
        &self,
        index: usize,
        provider: &ProviderConfig,
    ) -> Result<UpstreamConn, GatewayError> {
        let url = &provider.base_url;
        let unreachable = |what: String| {
            GatewayError::new(
                ErrorKind::UpstreamUnreachable,
                format!("cannot reach provider {}: {what}", provider.name),
            )
        };
        // The request's own configuration names the proxy, so a reload applies to the next
        // connection opened. Through a proxy, the socket goes to the proxy and errors name it.
        let proxy = provider.egress_proxy.as_ref();
        let (dial_host, dial_port, via) = match proxy {
            Some(p) => (&p.host, p.port, format!("egress proxy {}: ", p.label())),
            None => (&url.host, url.port, String::new()),
        };
        let addrs = self
            .dns
            .resolve(dial_host, dial_port)
            .await
            .map_err(|e| unreachable(format!("{via}{dial_host}: {e}")))?;
        let mut tcp = match deadline(
            self.connect_timeout,
            connect_any(&addrs, self.connect_timeout),
        )
        .await
        {
            Some(Ok(tcp)) => tcp,
            Some(Err(e)) => return Err(unreachable(format!("{via}{e}"))),
            None => return Err(unreachable(format!("{via}connect timed out"))),
        };
        if let Some(proxy) = proxy {
            let tunnel = tunnel::open(&mut tcp, proxy, &url.host, url.port);
            let refused = |why: String| {
                unreachable(format!(
                    "egress proxy {} did not open a tunnel to {}:{}: {why}",
                    proxy.label(),
                    url.host,
                    url.port
                ))
            };
            match deadline(self.connect_timeout, tunnel).await {
                Some(Ok(())) => {}
                Some(Err(why)) => return Err(refused(why)),
                None => return Err(refused("no answer in time".into())),
            }
        }
        let tls = self.tls.borrow().get(index).cloned().flatten();
        let io = match tls {
            None => UpstreamIo::Plain(tcp),
            Some(tls) => {
                let handshake = tls.connector.connect(tls.server_name.clone(), tcp);
                match deadline(self.connect_timeout, handshake).await {
                    Some(Ok(stream)) => UpstreamIo::Tls(Box::new(stream)),
                    Some(Err(e)) => return Err(unreachable(format!("TLS handshake failed: {e}"))),
                    None => return Err(unreachable("TLS handshake timed out".into())),
                }
            }
        };
        Ok(UpstreamConn::new(io, self.generation.get()))
    }

    async fn send_on(
        &self,
        mut conn: UpstreamConn,
        head: &[u8],
        body: &[u8],
        head_timeout: Duration,
    ) -> Result<Exchange, SendError> {
        let reused = conn.reused;
        let write = io::write_head_and_body(&mut conn.io, head, body);
        if let Err(e) = write.await {
            return Err(if reused {
                SendError::Stale
            } else {
                SendError::Failed(GatewayError::new(
                    ErrorKind::UpstreamUnreachable,
                    format!("writing to the upstream failed: {e}"),
                ))
            });
        }
        let request_sent_at = Instant::now();
        let head = read_response_head(&mut conn, head_timeout, reused).await?;
        Ok(Exchange {
            conn,
            head,
            request_sent_at,
            head_received_at: Instant::now(),
        })
    }
}

enum SendError {
    /// A reused connection failed before any response byte: safe to send again.
    Stale,
    Failed(GatewayError),
}

/// Reads until a final (non-1xx) response head is complete.
async fn read_response_head(
    conn: &mut UpstreamConn,
    read_timeout: Duration,
    reused: bool,
) -> Result<ResponseHead, SendError> {
    let give_up_at = Instant::now() + read_timeout;
    let mut received_any = false;
    loop {
        if !conn.buffered().is_empty() {
            received_any = true;
            match parse_response_head(conn.buffered(), MAX_HEADERS) {
                Ok(ParseStatus::Complete(head)) => {
                    conn.consume(head.head_len());
                    if (100..200).contains(&head.status()) {
                        continue;
                    }
                    return Ok(head);
                }
                Ok(ParseStatus::Partial) => {}
                Err(e) => return Err(SendError::Failed(bad_upstream_head(e))),
            }
        }
        let left = give_up_at.saturating_duration_since(Instant::now());
        match deadline(left, conn.fill()).await {
            Some(Ok(n)) if n > 0 => {}
            Some(result) => {
                if reused && !received_any {
                    return Err(SendError::Stale);
                }
                let why = match result {
                    Err(e) => format!("the upstream connection failed: {e}"),
                    Ok(_) => "the upstream closed the connection before answering".to_owned(),
                };
                return Err(SendError::Failed(GatewayError::new(
                    ErrorKind::UpstreamProtocol,
                    why,
                )));
            }
            None => {
                return Err(SendError::Failed(GatewayError::new(
                    ErrorKind::UpstreamTimeout,
                    "the upstream did not answer in time",
                )));
            }
        }
    }
}

fn bad_upstream_head(e: HeadError) -> GatewayError {
    GatewayError::new(
        ErrorKind::UpstreamProtocol,
        format!("the upstream sent an invalid response head: {e:?}"),
    )
}
