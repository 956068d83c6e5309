//! One shard: its state (`Rc`/`Cell`, never shared), its accept loop, its inbox, and its drain.

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures_lite::StreamExt;

use super::dns::{DnsCache, Resolver};
use super::gov_link::GovLink;
use super::mesh::{Inbox, Mesh, MeshMsg};
use super::net::TcpListener;
use super::time::deadline;
use crate::config::{Config, ProviderConfig, Secret};
use crate::governance::{Governor, LedgerSnapshot, SystemClock};
use crate::http::client::Upstreams;
use crate::observe::access_log::AccessLogSender;
use crate::observe::admin;
use crate::observe::metrics::ShardMetrics;
use crate::proxy::request_id::RequestId;

/// How often a draining shard checks whether its in-flight requests are done.
const DRAIN_POLL: Duration = Duration::from_millis(20);

/// Everything one shard owns. Shared by the shard's tasks through `Rc`, never across threads.
pub struct Shard {
    pub index: usize,
    pub config: Arc<Config>,
    pub metrics: ShardMetrics,
    pub upstreams: Upstreams,
    pub access_log: AccessLogSender,
    pub mesh: Mesh,
    /// This shard's governance: keys, counters, reservations.
    pub gov: Rc<Governor>,
    /// Its link to the other shards' governance and to the ledger.
    pub gov_link: Rc<GovLink>,
    next_provider_key: Cell<u64>,
    draining: Cell<bool>,
    in_flight: Cell<usize>,
    next_request: Cell<u64>,
    started_secs: u64,
}

impl Shard {
    /// Whether SIGTERM arrived: connections close after their current request.
    pub fn draining(&self) -> bool {
        self.draining.get()
    }

    /// A process-unique request id, e.g. `req_sl6f1c2a_0_42`.
    pub fn next_request_id(&self) -> RequestId {
        let n = self.next_request.get();
        self.next_request.set(n + 1);
        RequestId::new(self.started_secs, self.index, n)
    }

    /// Answers a mesh message other than `Shutdown`.
    fn answer(&self, msg: MeshMsg) {
        match msg {
            MeshMsg::Scrape(reply) => {
                let _ = reply.send(self.metrics.snapshot());
            }
            MeshMsg::Reload(config, reply) => {
                let result = self.gov.reload(&config).map_err(|e| e.to_string());
                self.gov_link.sync(&self.gov);
                let _ = reply.send(result);
            }
            MeshMsg::Usage(level, id, reply) => {
                self.gov_link.sync(&self.gov);
                let _ = reply.send(self.gov.usage(level, &id));
            }
            MeshMsg::Shutdown => self.draining.set(true),
        }
    }

    /// The index of the provider key to use next for provider `provider`, by weight
    /// (a smooth rotation over the weights, per shard).
    pub fn pick_provider_key<'c>(&self, provider: &'c ProviderConfig) -> Option<&'c Secret> {
        let total: u64 = provider.keys.iter().map(|k| u64::from(k.weight)).sum();
        if total == 0 {
            return None;
        }
        let n = self.next_provider_key.get();
        self.next_provider_key.set(n.wrapping_add(1));
        let mut point = n % total;
        for key in &provider.keys {
            let weight = u64::from(key.weight);
            if point < weight {
                return Some(&key.secret);
            }
            point -= weight;
        }
        None
    }

    /// Marks a request in flight until the guard drops (the drain waits for these).
    pub fn enter_request(self: &Rc<Self>) -> InFlight {
        self.in_flight.set(self.in_flight.get() + 1);
        InFlight(Rc::clone(self))
    }
}

/// Counts one in-flight request for the drain; released on every path by `Drop`.
pub struct InFlight(Rc<Shard>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0
            .in_flight
            .set(self.0.in_flight.get().saturating_sub(1));
    }
}

/// Everything a shard is started with.
pub struct ShardSetup {
    pub index: usize,
    pub config: Arc<Config>,
    pub listen: SocketAddr,
    pub mesh: Mesh,
    pub inbox: Inbox,
    pub resolver: Resolver,
    pub access_log: AccessLogSender,
    pub gov_link: GovLink,
    pub snapshot: Arc<LedgerSnapshot>,
    /// Told once the shard accepts (with the admin address on shard 0), or why it could not.
    pub ready: mpsc::Sender<Result<Option<SocketAddr>, String>>,
}

/// The body of one shard's executor: bind, report ready, accept until shutdown, drain.
pub async fn run(setup: ShardSetup) {
    let ShardSetup {
        index,
        config,
        listen,
        mesh,
        mut inbox,
        resolver,
        access_log,
        gov_link,
        snapshot,
        ready,
    } = setup;
    let listener = match TcpListener::bind(listen) {
        Ok(l) => l,
        Err(e) => {
            let _ = ready.send(Err(format!("shard {index}: cannot bind {listen}: {e}")));
            return;
        }
    };
    let upstreams = match Upstreams::new(&config, DnsCache::new(resolver)) {
        Ok(u) => u,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let shards = mesh.len();
    let gov = match Governor::new(&config, index, shards, Rc::new(SystemClock), &snapshot) {
        Ok((gov, warnings)) => {
            if index == 0 {
                for w in warnings {
                    eprintln!("sluice: governance: {w}");
                }
            }
            gov
        }
        Err(e) => {
            let _ = ready.send(Err(format!("governance: {e}")));
            return;
        }
    };
    drop(snapshot);
    let gov_link = Rc::new(gov_link);
    glommio::spawn_local(Rc::clone(&gov_link).serve(Rc::clone(&gov))).detach();
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let shard = Rc::new(Shard {
        index,
        metrics: ShardMetrics::new(index),
        upstreams,
        access_log,
        mesh,
        gov,
        gov_link,
        next_provider_key: Cell::new(index as u64),
        draining: Cell::new(false),
        in_flight: Cell::new(0),
        next_request: Cell::new(0),
        started_secs: started,
        config,
    });

    let admin_addr = if index == 0 {
        match shard.config.server.admin_listen {
            Some(addr) => match admin::start(Rc::clone(&shard), addr) {
                Ok(bound) => Some(bound),
                Err(e) => {
                    let _ = ready.send(Err(format!("cannot bind admin listener {addr}: {e}")));
                    return;
                }
            },
            None => None,
        }
    } else {
        None
    };
    let _ = ready.send(Ok(admin_addr));

    let (stop_accepting, accept_stopped) = futures_channel::oneshot::channel::<()>();
    let acceptor = glommio::spawn_local(accept_loop(Rc::clone(&shard), listener, accept_stopped));
    let mut stop_accepting = Some(stop_accepting);
    while let Some(msg) = inbox.next().await {
        if let MeshMsg::Shutdown = msg {
            shard.draining.set(true);
            if let Some(stop) = stop_accepting.take() {
                let _ = stop.send(());
            }
            break;
        }
        shard.answer(msg);
    }
    acceptor.await;
    let drain_until = Instant::now() + shard.config.server.drain_timeout;
    while shard.in_flight.get() > 0 && Instant::now() < drain_until {
        // Keep answering the mesh while draining.
        while let Ok(msg) = inbox.try_recv() {
            shard.answer(msg);
        }
        glommio::timer::sleep(DRAIN_POLL).await;
    }
    // The last settlements go to the ledger before the shard ends.
    shard.gov_link.sync(&shard.gov);
}

async fn accept_loop(
    shard: Rc<Shard>,
    listener: TcpListener,
    mut stop: futures_channel::oneshot::Receiver<()>,
) {
    loop {
        let accepted = futures_lite::future::or(async { Some(listener.accept().await) }, async {
            let _ = (&mut stop).await;
            None
        })
        .await;
        match accepted {
            None => return,
            Some(Ok(stream)) => {
                stream.set_nodelay(true).ok();
                glommio::spawn_local(crate::http::conn::serve_connection(
                    Rc::clone(&shard),
                    stream,
                ))
                .detach();
            }
            Some(Err(e)) => {
                // Out of file descriptors and the like: back off briefly instead of spinning.
                eprintln!("sluice: shard {}: accept failed: {e}", shard.index);
                let _ = deadline(Duration::from_millis(50), std::future::pending::<()>()).await;
            }
        }
    }
}
