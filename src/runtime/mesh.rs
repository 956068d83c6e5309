//! The typed messages shards exchange, and the channels that carry them, wired once at
//! start-up. Nothing else crosses between shards (governance has its own link, `gov_link`).

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use futures_channel::{mpsc, oneshot};

use super::tls::ListenerCerts;
use crate::config::Config;
use crate::governance::{EntityUsage, Level};
use crate::mcp::ForwardedRequest;
use crate::observe::metrics::MetricsSnapshot;
use crate::providers::cloud::Clouds;
use crate::proxy::ProxyState;
use crate::routing::{HealthBroadcast, HealthEvent};

/// A message to one shard.
pub enum MeshMsg {
    /// Stop accepting, drain in-flight requests, then end the shard.
    Shutdown,
    /// Reply with a snapshot of this shard's metrics (the admin listener merges them).
    Scrape(oneshot::Sender<MetricsSnapshot>),
    /// Apply a re-read configuration's keys, teams, customers and limits; reply with warnings.
    Reload(Arc<Config>, oneshot::Sender<Result<Vec<String>, String>>),
    /// Reply with this shard's view of one entity's usage (its reservations are its own).
    Usage(Level, String, oneshot::Sender<Option<EntityUsage>>),
    /// Serve new connections with these reloaded listener certificates.
    Certificates(ListenerCerts),
    /// Run a `/mcp` request for a session this shard owns; the answer goes through the
    /// request's own oneshot.
    Mcp(Box<ForwardedRequest>),
    /// End every MCP session of this key (it was revoked).
    EndMcpSessions(String),
    /// To shard 0: another shard's drain is over (shard 0 keeps the admin listener answering
    /// until every shard's drain is).
    Drained,
    /// A key cool-down or circuit-breaker change made on another shard: apply it.
    Health(HealthEvent),
    /// To the probe arbiter ([`PROBE_ARBITER`]): may the sender send the one half-open probe of
    /// this provider (or key)? Replies true to exactly one claim per half-open period.
    ClaimProbe {
        provider: usize,
        key: Option<usize>,
        until: Instant,
        reply: oneshot::Sender<bool>,
    },
}

/// The shard that grants half-open probes, so that two shards never probe at once.
pub const PROBE_ARBITER: usize = 0;

/// One shard's inbox.
pub type Inbox = mpsc::UnboundedReceiver<MeshMsg>;

/// The senders to every shard, cloned into each shard and into the signal thread.
#[derive(Clone)]
pub struct Mesh {
    shards: Vec<mpsc::UnboundedSender<MeshMsg>>,
    config_path: Option<Arc<PathBuf>>,
    /// The cloud providers' state, rebuilt by a reload (by provider name).
    clouds: Option<Arc<Clouds>>,
}

impl Mesh {
    /// Creates the channels for `shards` shards: the mesh, and each shard's inbox in order.
    /// `config_path` is the file a reload re-reads.
    pub fn wire(shards: usize, config_path: Option<PathBuf>) -> (Mesh, Vec<Inbox>) {
        let (senders, inboxes) = (0..shards).map(|_| mpsc::unbounded()).unzip();
        let mesh = Mesh {
            shards: senders,
            config_path: config_path.map(Arc::new),
            clouds: None,
        };
        (mesh, inboxes)
    }

    /// Makes reloads rebuild `clouds` for the reloaded providers.
    pub fn with_clouds(mut self, clouds: Arc<Clouds>) -> Mesh {
        self.clouds = Some(clouds);
        self
    }

    pub fn len(&self) -> usize {
        self.shards.len()
    }

    pub fn is_empty(&self) -> bool {
        self.shards.is_empty()
    }

    /// Sends `msg` to shard `index`; false if that shard has already ended.
    pub fn send(&self, index: usize, msg: MeshMsg) -> bool {
        self.shards
            .get(index)
            .is_some_and(|s| s.unbounded_send(msg).is_ok())
    }

    /// Tells every shard to drain and stop.
    pub fn shutdown_all(&self) {
        for index in 0..self.shards.len() {
            self.send(index, MeshMsg::Shutdown);
        }
    }

    /// Tells every shard to end the MCP sessions of `key_id`.
    pub fn end_mcp_sessions_all(&self, key_id: &str) {
        for index in 0..self.shards.len() {
            self.send(index, MeshMsg::EndMcpSessions(key_id.to_owned()));
        }
    }

    /// Asks every shard for its metrics and waits for the answers of those still running.
    pub async fn scrape_all(&self) -> Vec<MetricsSnapshot> {
        self.ask_all(MeshMsg::Scrape).await
    }

    /// Every running shard's view of one entity's usage.
    pub async fn usage_all(&self, level: Level, id: &str) -> Vec<Option<EntityUsage>> {
        self.ask_all(|reply| MeshMsg::Usage(level, id.to_owned(), reply))
            .await
    }

    /// Re-reads the configuration file (blocking: call it off the shards) and hands the new
    /// configuration to every shard; returns the warnings, or why nothing was applied.
    pub fn reload_blocking(&self) -> Result<Vec<String>, String> {
        let Some(path) = &self.config_path else {
            return Err("sluice runs on its embedded default: there is no file to reload".into());
        };
        let config = Config::load(path).map_err(|e| format!("{}: {e}", path.display()))?;
        // Certificates are read and checked here, off the shards; a bad one refuses the reload.
        let certs = ListenerCerts::load(&config.server.tls)?;
        // So are the cloud providers' options and first credentials.
        let env = |name: &str| std::env::var(name).ok();
        let clouds = match &self.clouds {
            Some(clouds) => Some((clouds, clouds.prepare_reload(&config.providers, &env)?)),
            None => None,
        };
        let config = Arc::new(config);
        let mut pending = Vec::new();
        for index in 0..self.shards.len() {
            let (tx, rx) = oneshot::channel();
            if self.send(index, MeshMsg::Reload(Arc::clone(&config), tx)) {
                pending.push(rx);
            }
        }
        let mut warnings = Vec::new();
        for rx in pending {
            match futures_lite::future::block_on(rx) {
                Ok(Ok(shard_warnings)) => warnings.extend(shard_warnings),
                Ok(Err(e)) => return Err(e),
                Err(_) => {}
            }
        }
        if let Some((clouds, reloaded)) = clouds {
            clouds.apply(reloaded);
        }
        for index in 0..self.shards.len() {
            self.send(index, MeshMsg::Certificates(certs.clone()));
        }
        warnings.sort();
        warnings.dedup();
        Ok(warnings)
    }

    async fn ask_all<T>(&self, make: impl Fn(oneshot::Sender<T>) -> MeshMsg) -> Vec<T> {
        let mut pending = Vec::with_capacity(self.shards.len());
        for index in 0..self.shards.len() {
            let (tx, rx) = oneshot::channel();
            if self.send(index, make(tx)) {
                pending.push(rx);
            }
        }
        let mut answers = Vec::with_capacity(pending.len());
        for rx in pending {
            if let Ok(answer) = rx.await {
                answers.push(answer);
            }
        }
        answers
    }
}

/// One shard's sender of health changes: every other shard gets them through the mesh.
pub struct MeshHealth {
    pub mesh: Mesh,
    pub me: usize,
}

impl HealthBroadcast for MeshHealth {
    fn broadcast(&self, event: HealthEvent) {
        for index in (0..self.mesh.len()).filter(|&i| i != self.me) {
            self.mesh.send(index, MeshMsg::Health(event));
        }
    }

    fn claim_probe(
        &self,
        provider: usize,
        key: Option<usize>,
        until: Instant,
    ) -> Pin<Box<dyn Future<Output = bool>>> {
        let (reply, granted) = oneshot::channel();
        let claim = MeshMsg::ClaimProbe {
            provider,
            key,
            until,
            reply,
        };
        let sent = self.mesh.send(PROBE_ARBITER, claim);
        // An arbiter that has ended (the gateway is stopping) cannot arbitrate: probe.
        Box::pin(async move { !sent || granted.await.unwrap_or(true) })
    }
}

/// The arbiter's answer to a probe claim: granted to the first claim of a half-open period,
/// and then every other shard is told the breaker is held for the probe.
pub fn arbitrate_probe(
    proxy: &ProxyState,
    provider: usize,
    key: Option<usize>,
    until: Instant,
) -> bool {
    let granted = proxy.health.claim_probe(provider, key, until);
    if granted {
        let probing = HealthEvent::Probing {
            provider,
            key,
            until,
        };
        proxy.health_bus.broadcast(probing);
    }
    granted
}
