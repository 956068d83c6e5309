//! What one request accumulates on its way through the flow, for the single `finish` that
//! settles and records it: its lifecycle phase, ids, timings (with sluice's own time kept apart
//! from waits on the upstream and the client), what was sent, and what the codec saw.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::phase_clock::PhaseClock;

use crate::config::Config;
use crate::error::GatewayError;
use crate::governance::{KeyRef, Reservation, Usage};
use crate::observe::record::RequestRecord;
use crate::observe::request_id::RequestId;
use crate::observe::summary::ResponseSummary;
use crate::observe::trace::{SpanId, TraceStart};
use crate::routing::Route;

/// Where a request is in its life. Moves forward only; `finish` is the one exit of every phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// The head is read; the body is being read and the request routed and checked.
    Reading,
    /// Governance admitted it (a reservation may be held).
    Admitted,
    /// The request is on its way upstream; waiting for the response head.
    Upstream,
    /// Response bytes went (or are about to go) to the client: an error can no longer be
    /// answered with a status of its own.
    Streaming,
    /// `finish` settled and recorded it.
    Finished,
}

/// What `finish` charges the reservation with: decided by the relay, applied once in `finish`.
#[derive(Debug)]
pub enum Settlement {
    /// Nothing was delivered: the reservation is released (rate limits still count it).
    Release,
    /// The response ended with this usage.
    Complete(Option<Usage>),
    /// It ended early (client gone, upstream failure): the usage reported so far is charged.
    Partial(Option<Usage>),
}

/// How one attempt at an upstream ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// A response head with this status arrived.
    Status(u16),
    /// No response head: `connect`, `timeout` or `protocol`.
    Error(&'static str),
    /// The target was not tried: `breaker_open`, `no_healthy_key`, `kind_not_served`.
    Skipped(&'static str),
}

/// One attempt of a request at one provider (and key), for logs, metrics and audit. Indexes
/// are into the configuration the request started with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttemptRecord {
    pub provider: usize,
    /// The provider key used (None: the client's own credentials, or a skipped target).
    pub key: Option<usize>,
    pub outcome: AttemptOutcome,
    /// From sending the request to the response head (or the failure).
    pub elapsed: Duration,
}

/// One try of the request at an upstream, as the trace, the audit log and the access log
/// read it (a failover loop adds one per provider tried).
#[derive(Debug)]
pub struct Attempt {
    /// The provider's index in the config.
    pub provider: usize,
    /// Its span when the request is traced (its `traceparent` went upstream).
    pub span_id: Option<SpanId>,
    pub started: Instant,
    /// When it ended (None: it is the attempt the response came from and lasts to `finish`).
    pub ended: Option<Instant>,
    /// The upstream's response status, if one came.
    pub status: Option<u16>,
    /// Why it failed without a status (`error.type`).
    pub error: Option<&'static str>,
}

/// Everything `finish` needs to settle, count and log one request once.
pub struct RequestContext {
    pub request_id: RequestId,
    pub started: Instant,
    pub route: Option<Route>,
    pub model: Option<String>,
    pub stream: bool,
    /// The index of the chosen provider in the config.
    pub provider: Option<usize>,
    /// The index of the provider key that served (None: the client's own credentials).
    pub provider_key: Option<usize>,
    /// The configuration the request was routed with (its attempts' indexes are into it).
    pub config: Option<Arc<Config>>,
    /// Every upstream attempt, in order (the last one served or failed for good).
    pub attempts: Vec<AttemptRecord>,
    /// The status sent to the client (0 until a response head is written).
    pub status: u16,
    pub upstream_status: Option<u16>,
    /// The lifecycle phase.
    pub phase: Phase,
    /// What `finish` settles with.
    pub settlement: Settlement,
    /// Whether the connection may serve another request afterwards.
    pub keep_alive: bool,
    /// sluice's own time, from the phase boundaries the request crosses.
    pub clock: PhaseClock,
    pub upstream_ttfb: Option<Duration>,
    pub summary: Option<ResponseSummary>,
    /// A failure after the response started (answered in-band, e.g. an SSE error event).
    pub late_fault: Option<GatewayError>,
    pub client_gone: bool,
    /// The virtual key presented (None: the client's own credentials pass through).
    pub key: Option<KeyRef>,
    /// Its id, for logs and audit (never the secret).
    pub key_id: Option<Rc<str>>,
    /// The admitted request's hold on its budgets; settled or released before `finish` ends.
    pub reservation: Option<Reservation>,
    /// What the settlement charged, in pico-dollars.
    pub cost_pico: Option<u64>,
    /// Why governance refused the request (the rejections metric's label).
    pub rejection: Option<&'static str>,
    /// The request's trace, when tracing is on (continued from the client's `traceparent`).
    pub trace: Option<TraceStart>,
    /// The upstream attempts' trace and audit view, in order (one per attempt sent).
    pub spans: Vec<Attempt>,
    /// When the first response body bytes went to the client (time to first token).
    pub first_body_at: Option<Instant>,
    /// The request's `max_tokens`, as peeked.
    pub max_tokens: Option<u64>,
    /// The request body, moved here (not copied) for the audit log when it is on.
    pub audit_body: Option<Vec<u8>>,
    /// The client connection's peer address, for the access and audit logs.
    pub client_addr: Option<SocketAddr>,
}

impl RequestContext {
    pub fn new(request_id: RequestId, keep_alive: bool) -> Self {
        let now = Instant::now();
        RequestContext {
            request_id,
            started: now,
            route: None,
            model: None,
            stream: false,
            provider: None,
            provider_key: None,
            config: None,
            attempts: Vec::new(),
            status: 0,
            upstream_status: None,
            phase: Phase::Reading,
            settlement: Settlement::Release,
            keep_alive,
            clock: PhaseClock::head_parsed_at(now),
            upstream_ttfb: None,
            summary: None,
            late_fault: None,
            client_gone: false,
            key: None,
            key_id: None,
            reservation: None,
            cost_pico: None,
            rejection: None,
            trace: None,
            spans: Vec::new(),
            first_body_at: None,
            max_tokens: None,
            audit_body: None,
            client_addr: None,
        }
    }
}

impl RequestContext {
    /// Whether any response byte went (or is queued to go) to the client.
    pub fn response_started(&self) -> bool {
        self.phase >= Phase::Streaming
    }

    /// Moves the request forward to `phase` (never back).
    pub fn enter(&mut self, phase: Phase) {
        self.phase = self.phase.max(phase);
    }

    /// The plain outcome observability records, read once `finish` is done with the request.
    pub fn record(&self) -> RequestRecord<'_> {
        RequestRecord {
            request_id: self.request_id.as_str(),
            route: self.route.map_or("other", |r| r.label()),
            status: self.status,
            upstream_status: self.upstream_status,
            key_id: self.key_id.as_deref(),
            model: self.model.as_deref(),
            stream: self.stream,
            summary: self.summary.as_ref(),
            cost_pico: self.cost_pico,
            rejection: self.rejection,
            started: self.started,
            overhead: self.clock.own_time(),
            upstream_ttfb: self.upstream_ttfb,
            client_gone: self.client_gone,
            client_addr: self.client_addr,
            attempts: &[],
        }
    }
}
