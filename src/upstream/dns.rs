//! Name resolution off the shards: one background thread does the blocking `getaddrinfo`, each
//! shard caches answers for `DNS_CACHE_TTL` so the hot path almost never asks.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures_channel::oneshot;

/// How long a resolved address list is reused before asking again.
pub const DNS_CACHE_TTL: Duration = Duration::from_secs(30);

struct Query {
    host: String,
    port: u16,
    reply: oneshot::Sender<std::io::Result<Vec<SocketAddr>>>,
}

/// The handle shards use to reach the resolver thread.
#[derive(Clone)]
pub struct Resolver {
    queries: mpsc::Sender<Query>,
}

impl Resolver {
    /// Starts the resolver thread; it ends when every handle is dropped.
    pub fn start() -> Resolver {
        let (queries, rx) = mpsc::channel::<Query>();
        std::thread::Builder::new()
            .name("sluice-dns".into())
            .spawn(move || {
                for q in rx {
                    let answer = (q.host.as_str(), q.port)
                        .to_socket_addrs()
                        .map(|addrs| addrs.collect::<Vec<_>>());
                    let _ = q.reply.send(answer);
                }
            })
            .ok();
        Resolver { queries }
    }

    async fn resolve_uncached(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        let (reply, answer) = oneshot::channel();
        let query = Query {
            host: host.to_owned(),
            port,
            reply,
        };
        if self.queries.send(query).is_err() {
            return Err(std::io::Error::other("the resolver thread is gone"));
        }
        answer
            .await
            .map_err(|_| std::io::Error::other("the resolver thread dropped the query"))?
    }
}

/// Resolved addresses and when they were resolved, by (host, port).
type CacheEntries = HashMap<(String, u16), (Vec<SocketAddr>, Instant)>;

/// One shard's cache in front of the resolver.
pub struct DnsCache {
    resolver: Resolver,
    entries: RefCell<CacheEntries>,
}

impl DnsCache {
    pub fn new(resolver: Resolver) -> Self {
        DnsCache {
            resolver,
            entries: RefCell::new(HashMap::new()),
        }
    }

    /// The addresses of `host:port`: IP literals at once, names from the cache or the resolver.
    pub async fn resolve(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let key = (host.to_owned(), port);
        if let Some((addrs, at)) = self.entries.borrow().get(&key)
            && at.elapsed() < DNS_CACHE_TTL
        {
            return Ok(addrs.clone());
        }
        let addrs = self.resolver.resolve_uncached(host, port).await?;
        if addrs.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{host} has no address"),
            ));
        }
        self.entries
            .borrow_mut()
            .insert(key, (addrs.clone(), Instant::now()));
        Ok(addrs)
    }
}
