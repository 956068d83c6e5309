//! What the request flow needs from its shard, owned by the proxy: the configuration, the
//! upstream client, the governance handle, the metrics and access-log sinks, key rotation,
//! request ids and the drain. The runtime builds one per shard and keeps it beside the mesh.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use super::mcp::McpShard;
use crate::config::Config;
use crate::governance::{GovLink, Governor};
use crate::observe::access_log::AccessLogSender;
use crate::observe::audit::AuditSender;
use crate::observe::metrics::ShardMetrics;
use crate::observe::request_id::RequestId;
use crate::observe::trace::ShardTracer;
use crate::providers::cloud::Clouds;
use crate::routing::{Health, HealthBroadcast, KeyRotation};
use crate::runtime::io::sync::Notify;
use crate::upstream::Upstreams;

/// One shard's request-path state. Shared by the shard's tasks through `Rc`, never across
/// threads.
pub struct ProxyState {
    pub index: usize,
    /// The configuration the shard started with (server settings are not reloadable).
    pub config: Arc<Config>,
    /// The latest configuration: providers, keys, routes, model maps and `[routing]` are read
    /// from it, once per request (a request in flight keeps the one it started with).
    current: RefCell<Arc<Config>>,
    pub upstreams: Upstreams,
    /// This shard's governance: keys, counters, reservations.
    pub gov: Rc<Governor>,
    /// Its link to the other shards' governance and to the ledger.
    pub gov_link: Rc<GovLink>,
    pub metrics: ShardMetrics,
    pub access_log: AccessLogSender,
    /// The audit log's writer, when `[audit]` is configured (one record per request).
    pub audit: Option<AuditSender>,
    /// The trace exporter's shard end, when `[telemetry].otlp_endpoint` is set.
    pub tracer: Option<ShardTracer>,
    pub keys: KeyRotation,
    /// `/mcp`: this shard's MCP gateway (`None`: no `[[mcp_servers]]`).
    pub mcp: Option<McpShard>,
    /// This shard's view of key cool-downs and circuit breakers.
    pub health: Health,
    /// Carries health changes to the other shards.
    pub health_bus: Rc<dyn HealthBroadcast>,
    /// The cloud kinds' options and credentials, shared by every shard.
    pub clouds: Arc<Clouds>,
    /// Notified after each governance message applied in the background (share grants).
    pub gov_events: Notify,
    /// Failed authentications by client address (proxy/auth_throttle.rs).
    pub auth_throttle: super::auth_throttle::AuthThrottle,
    draining: Cell<bool>,
    in_flight: Cell<usize>,
    next_request: Cell<u64>,
    started_secs: u64,
}

/// The parts a [`ProxyState`] is built from.
pub struct ProxyParts {
    pub index: usize,
    pub config: Arc<Config>,
    pub upstreams: Upstreams,
    pub gov: Rc<Governor>,
    pub gov_link: Rc<GovLink>,
    pub metrics: ShardMetrics,
    pub access_log: AccessLogSender,
    pub audit: Option<AuditSender>,
    pub tracer: Option<ShardTracer>,
    pub mcp: Option<McpShard>,
    pub health_bus: Rc<dyn HealthBroadcast>,
    pub clouds: Arc<Clouds>,
    /// The process start (Unix seconds), part of every request id.
    pub started_secs: u64,
}

impl ProxyState {
    pub fn new(parts: ProxyParts) -> Self {
        let health = Health::new(&parts.config);
        ProxyState {
            index: parts.index,
            current: RefCell::new(Arc::clone(&parts.config)),
            config: parts.config,
            upstreams: parts.upstreams,
            gov: parts.gov,
            gov_link: parts.gov_link,
            metrics: parts.metrics,
            access_log: parts.access_log,
            audit: parts.audit,
            tracer: parts.tracer,
            keys: KeyRotation::new(parts.index as u64),
            mcp: parts.mcp,
            health,
            health_bus: parts.health_bus,
            clouds: parts.clouds,
            gov_events: Notify::new(),
            auth_throttle: Default::default(),
            draining: Cell::new(false),
            in_flight: Cell::new(0),
            next_request: Cell::new(0),
            started_secs: parts.started_secs,
        }
    }

    /// The configuration a new request is routed with.
    pub fn current_config(&self) -> Arc<Config> {
        Arc::clone(&self.current.borrow())
    }

    /// Applies a reloaded configuration's providers, keys, routes and `[routing]` to the
    /// requests that start from now on; cool-downs and breakers start over. Nothing changes
    /// when the new providers cannot be set up (an unreadable CA file).
    pub fn reload_routing(&self, config: &Arc<Config>) -> Result<(), String> {
        self.upstreams.reload(config)?;
        self.health.reset(config);
        *self.current.borrow_mut() = Arc::clone(config);
        Ok(())
    }

    /// Whether SIGTERM arrived: connections close after their current request.
    pub fn draining(&self) -> bool {
        self.draining.get()
    }

    /// Starts the drain: no connection carries another request.
    pub fn begin_drain(&self) {
        self.draining.set(true);
    }

    /// Requests being served right now (the drain waits for zero).
    pub fn in_flight(&self) -> usize {
        self.in_flight.get()
    }

    /// A process-unique request id, e.g. `req_sl6f1c2a_0_42`.
    pub fn next_request_id(&self) -> RequestId {
        let n = self.next_request.get();
        self.next_request.set(n + 1);
        RequestId::new(self.started_secs, self.index, n)
    }

    /// Marks a request in flight until the guard drops (the drain waits for these).
    pub fn enter_request(self: &Rc<Self>) -> InFlight {
        self.in_flight.set(self.in_flight.get() + 1);
        InFlight(Rc::clone(self))
    }
}

/// Counts one in-flight request for the drain; released on every path by `Drop`.
pub struct InFlight(Rc<ProxyState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0
            .in_flight
            .set(self.0.in_flight.get().saturating_sub(1));
    }
}
