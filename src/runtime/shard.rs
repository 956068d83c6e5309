//! One shard: its placement, the proxy state it serves with, its mesh end, its inbox, and its
//! drain. Everything here is `Rc`/`Cell`, never shared across threads.

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures_lite::StreamExt;

use super::admin::Admin;
use super::io::net::TcpListener;
use super::io::sync::Notify;
use super::io::task::spawn_local;
use super::io::time::sleep;
use super::mesh::{Inbox, Mesh, MeshHealth, MeshMsg};
use super::serve::{ADMIN_MAX_CONNECTIONS, accept_and_serve};
use super::tls::{ListenerCerts, ShardAcceptor};
use crate::config::Config;
use crate::governance::{GovLink, Governor, LedgerSnapshot, SystemClock};
use crate::mcp::{HubHandle, McpGateway};
use crate::observe::access_log::AccessLogSender;
use crate::observe::audit::AuditSender;
use crate::observe::metrics::ShardMetrics;
use crate::observe::trace::ShardTracer;
use crate::proxy::mcp::McpShard;
use crate::proxy::{ProxyParts, ProxyState};
use crate::upstream::Upstreams;
use crate::upstream::dns::{DnsCache, Resolver};

/// How often shard 0 copies the audit head (last fsynced seq and hash) to the access log.
pub const AUDIT_HEAD_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// How often a shard drops its idle MCP sessions.
const MCP_EXPIRY_INTERVAL: Duration = Duration::from_secs(60);
/// How often a draining shard checks whether its in-flight requests are done.
const DRAIN_POLL: Duration = Duration::from_millis(20);

/// Everything one shard owns: the proxy's state, its end of the mesh, its placement and the
/// drain signal. Shared by the shard's tasks through `Rc`.
pub struct Shard {
    /// The shard's index (its placement: shard `i` runs on the i-th chosen CPU).
    pub index: usize,
    pub proxy: Rc<ProxyState>,
    pub mesh: Mesh,
    /// The listeners' TLS (plain when off), swapped for new connections on reload.
    data_tls: ShardAcceptor,
    admin_tls: ShardAcceptor,
    /// Notified when the drain begins and when it ends, so listeners stop even while they
    /// wait for a connection.
    lifecycle: Notify,
    /// The drain is over: the shard is about to end.
    stopped: Cell<bool>,
    /// On shard 0: how many other shards reported their drain over.
    drained_peers: Cell<usize>,
}

impl Shard {
    /// Answers a mesh message other than `Shutdown`.
    fn answer(&self, msg: MeshMsg) {
        let proxy = &self.proxy;
        match msg {
            MeshMsg::Scrape(reply) => {
                let _ = reply.send(proxy.metrics.snapshot());
            }
            MeshMsg::Reload(config, reply) => {
                let result = proxy
                    .reload_routing(&config)
                    .and_then(|()| proxy.gov.reload(&config).map_err(|e| e.to_string()));
                proxy.gov_link.sync(&proxy.gov);
                let _ = reply.send(result);
            }
            MeshMsg::Usage(level, id, reply) => {
                proxy.gov_link.sync(&proxy.gov);
                let _ = reply.send(proxy.gov.usage(level, &id));
            }
            MeshMsg::Certificates(certs) => {
                self.data_tls.replace(certs.data);
                self.admin_tls.replace(certs.admin);
            }
            MeshMsg::Mcp(forwarded) => match &proxy.mcp {
                Some(mcp) => {
                    let gateway = Rc::clone(&mcp.gateway);
                    spawn_local(async move { gateway.handle_forwarded(*forwarded).await }).detach();
                }
                None => drop(forwarded),
            },
            MeshMsg::EndMcpSessions(key_id) => {
                if let Some(mcp) = &proxy.mcp {
                    mcp.gateway.end_sessions_of_key(&key_id);
                }
            }
            MeshMsg::Drained => self.drained_peers.set(self.drained_peers.get() + 1),
            MeshMsg::Health(event) => proxy.health.apply(event),
            MeshMsg::ClaimProbe {
                provider,
                key,
                until,
                reply,
            } => {
                let granted = super::mesh::arbitrate_probe(proxy, provider, key, until);
                let _ = reply.send(granted);
            }
            MeshMsg::Shutdown => self.begin_drain(),
        }
    }

    fn begin_drain(&self) {
        self.proxy.begin_drain();
        self.lifecycle.notify_all();
    }

    fn stop(&self) {
        self.stopped.set(true);
        self.lifecycle.notify_all();
    }

    /// Completes once `done` holds, checked on every lifecycle change.
    async fn until(&self, done: impl Fn(&Self) -> bool) {
        loop {
            let changed = self.lifecycle.notified();
            if done(self) {
                return;
            }
            changed.await;
        }
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
    pub audit: Option<AuditSender>,
    pub tracer: Option<ShardTracer>,
    /// The MCP hub's handle (`None`: no `[[mcp_servers]]`).
    pub mcp_hub: Option<HubHandle>,
    pub gov_link: GovLink,
    pub snapshot: Arc<LedgerSnapshot>,
    /// The listeners' TLS configurations, built at start.
    pub certs: ListenerCerts,
    pub clouds: Arc<crate::providers::cloud::Clouds>,
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
        audit,
        tracer,
        mcp_hub,
        gov_link,
        snapshot,
        certs,
        clouds,
        ready,
    } = setup;
    let listener = match TcpListener::bind(listen) {
        Ok(l) => l,
        Err(e) => {
            let _ = ready.send(Err(format!("shard {index}: cannot bind {listen}: {e}")));
            return;
        }
    };
    let mcp_resolver = resolver.clone();
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
    let started_secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mcp = mcp_hub.map(|hub| start_mcp(index, hub, &mesh));
    let proxy = Rc::new(ProxyState::new(ProxyParts {
        index,
        config,
        upstreams,
        gov: Rc::clone(&gov),
        gov_link: Rc::clone(&gov_link),
        metrics: ShardMetrics::new(index),
        access_log,
        audit,
        tracer,
        mcp,
        health_bus: Rc::new(MeshHealth {
            mesh: mesh.clone(),
            me: index,
        }),
        clouds,
        started_secs,
    }));
    crate::proxy::mcp::observe_calls(&proxy);
    crate::proxy::mcp::gate_calls(&proxy);
    if let Err(e) = crate::proxy::mcp_direct::call_directly(&proxy, mcp_resolver) {
        let _ = ready.send(Err(e));
        return;
    }
    let events = Rc::clone(&proxy);
    spawn_local(gov_link.serve(gov, move || events.gov_events.notify_all())).detach();
    let shard = Rc::new(Shard {
        index,
        proxy,
        mesh,
        data_tls: ShardAcceptor::new(certs.data),
        admin_tls: ShardAcceptor::new(certs.admin),
        lifecycle: Notify::new(),
        stopped: Cell::new(false),
        drained_peers: Cell::new(0),
    });

    let admin_addr = if index == 0 {
        match shard.proxy.config.server.admin_listen {
            Some(addr) => match start_admin(&shard, addr) {
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
    if index == 0 && shard.proxy.audit.is_some() {
        spawn_local(log_audit_head(Rc::clone(&shard))).detach();
    }

    let data = Rc::clone(&shard);
    let acceptor = spawn_local(async move {
        let proxy = Rc::clone(&data.proxy);
        let name = format!("shard {}", data.index);
        let stop = data.until(|shard| shard.proxy.draining());
        let max_connections = proxy.config.server.limits.max_connections;
        accept_and_serve(&name, listener, max_connections, stop, |stream| {
            let proxy = Rc::clone(&proxy);
            let tls = data.data_tls.clone();
            async move {
                let limit = proxy.config.server.header_read_timeout;
                if let Some(stream) = tls.accept(stream, limit).await {
                    crate::proxy::serve_connection(proxy, stream).await;
                }
            }
        })
        .await;
    });
    while let Some(msg) = inbox.next().await {
        if let MeshMsg::Shutdown = msg {
            shard.begin_drain();
            break;
        }
        shard.answer(msg);
    }
    acceptor.await;
    let drain_until = Instant::now() + shard.proxy.config.server.drain_timeout;
    while shard.proxy.in_flight() > 0 && Instant::now() < drain_until {
        // Keep answering the mesh while draining.
        while let Ok(msg) = inbox.try_recv() {
            shard.answer(msg);
        }
        sleep(DRAIN_POLL).await;
    }
    if index == 0 {
        // The admin listener lives here: it answers (`/ready` 503) until every shard drained.
        while shard.drained_peers.get() + 1 < shards && Instant::now() < drain_until + DRAIN_POLL {
            while let Ok(msg) = inbox.try_recv() {
                shard.answer(msg);
            }
            sleep(DRAIN_POLL).await;
        }
    } else {
        shard.mesh.send(0, MeshMsg::Drained);
    }
    // The last settlements go to the ledger before the shard ends.
    shard.proxy.gov_link.sync(&shard.proxy.gov);
    shard.stop();
}

/// Binds the admin listener and serves it on this shard until the drain is over (`/ready`
/// answers 503 while it lasts).
fn start_admin(shard: &Rc<Shard>, addr: SocketAddr) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    let shard = Rc::clone(shard);
    spawn_local(async move {
        let stop = shard.until(|shard| shard.stopped.get());
        accept_and_serve("admin", listener, ADMIN_MAX_CONNECTIONS, stop, |stream| {
            let admin = Admin(Rc::clone(&shard));
            let tls = shard.admin_tls.clone();
            async move {
                let limit = admin.0.proxy.config.server.header_read_timeout;
                if let Some(stream) = tls.accept(stream, limit).await {
                    crate::http::conn::serve_connection(&admin, stream).await;
                }
            }
        })
        .await;
    })
    .detach();
    Ok(bound)
}

/// Copies the audit head to the access log every [`AUDIT_HEAD_LOG_INTERVAL`] while it moves
/// (the anchor's outside copy; `/metrics` carries it too), until the shard stops.
async fn log_audit_head(shard: Rc<Shard>) {
    let mut logged = None;
    loop {
        let stopped = futures_lite::future::or(
            async {
                sleep(AUDIT_HEAD_LOG_INTERVAL).await;
                false
            },
            async {
                shard.until(|s| s.stopped.get()).await;
                true
            },
        )
        .await;
        let proxy = &shard.proxy;
        let head = proxy
            .audit
            .as_ref()
            .and_then(|a| a.stats().head.lock().ok().and_then(|h| h.clone()));
        if let Some(head) = head
            && logged != Some(head.seq)
        {
            proxy.access_log.record_audit_head(head.seq, &head.hash);
            logged = Some(head.seq);
        }
        if stopped {
            return;
        }
    }
}

/// This shard's MCP gateway: follows the hub's tool lists, drops idle sessions now and then,
/// and forwards requests for other shards' sessions over the mesh.
fn start_mcp(index: usize, hub: HubHandle, mesh: &Mesh) -> McpShard {
    let gateway = McpGateway::new(index as u16, hub.clone());
    spawn_local(Rc::clone(&gateway).follow(hub.subscribe())).detach();
    let weak = Rc::downgrade(&gateway);
    spawn_local(async move {
        loop {
            sleep(MCP_EXPIRY_INTERVAL).await;
            let Some(gateway) = weak.upgrade() else {
                return;
            };
            gateway.expire_idle(Instant::now());
        }
    })
    .detach();
    let mesh = mesh.clone();
    McpShard {
        gateway,
        forward: Box::new(move |owner, forwarded| {
            mesh.send(owner, MeshMsg::Mcp(Box::new(forwarded)))
        }),
    }
}
