//! What the request flow needs from its shard, owned by the proxy: the configuration, the
//! upstream client, the governance handle, the metrics and access-log sinks, key rotation,
//! request ids and the drain. The runtime builds one per shard and keeps it beside the mesh.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

use crate::config::Config;
use crate::governance::{GovLink, Governor};
use crate::observe::access_log::AccessLogSender;
use crate::observe::metrics::ShardMetrics;
use crate::observe::request_id::RequestId;
use crate::providers::cloud::Clouds;
use crate::routing::KeyRotation;
use crate::runtime::io::sync::Notify;
use crate::upstream::Upstreams;

/// One shard's request-path state. Shared by the shard's tasks through `Rc`, never across
/// threads.
pub struct ProxyState {
    pub index: usize,
    pub config: Arc<Config>,
    pub upstreams: Upstreams,
    /// This shard's governance: keys, counters, reservations.
    pub gov: Rc<Governor>,
    /// Its link to the other shards' governance and to the ledger.
    pub gov_link: Rc<GovLink>,
    pub metrics: ShardMetrics,
    pub access_log: AccessLogSender,
    pub keys: KeyRotation,
    /// The cloud kinds' options and credentials, shared by every shard.
    pub clouds: Arc<Clouds>,
    /// Notified after each governance message applied in the background (share grants).
    pub gov_events: Notify,
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
    pub clouds: Arc<Clouds>,
    /// The process start (Unix seconds), part of every request id.
    pub started_secs: u64,
}

impl ProxyState {
    pub fn new(parts: ProxyParts) -> Self {
        ProxyState {
            index: parts.index,
            config: parts.config,
            upstreams: parts.upstreams,
            gov: parts.gov,
            gov_link: parts.gov_link,
            metrics: parts.metrics,
            access_log: parts.access_log,
            keys: KeyRotation::new(parts.index as u64),
            clouds: parts.clouds,
            gov_events: Notify::new(),
            draining: Cell::new(false),
            in_flight: Cell::new(0),
            next_request: Cell::new(0),
            started_secs: parts.started_secs,
        }
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
