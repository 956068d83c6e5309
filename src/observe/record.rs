//! The plain outcome of one finished request, as observability receives it: metrics and the
//! access log read these values and nothing of the request path's own state.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::summary::ResponseSummary;

/// What one request came to, borrowed from the request path for the one record it makes.
#[derive(Clone, Copy, Debug)]
pub struct RequestRecord<'a> {
    pub request_id: &'a str,
    /// The route's metric label (`other` when no route matched).
    pub route: &'static str,
    /// The status sent to the client (0 when none was).
    pub status: u16,
    pub upstream_status: Option<u16>,
    pub key_id: Option<&'a str>,
    pub model: Option<&'a str>,
    pub stream: bool,
    pub summary: Option<&'a ResponseSummary>,
    /// What the settlement charged, in pico-dollars.
    pub cost_pico: Option<u64>,
    /// Why governance refused the request.
    pub rejection: Option<&'static str>,
    pub started: Instant,
    /// sluice's own time on the request, waits on the upstream and the client excluded.
    pub overhead: Duration,
    pub upstream_ttfb: Option<Duration>,
    pub client_gone: bool,
    /// The client connection's peer address.
    pub client_addr: Option<SocketAddr>,
    /// The upstream attempts when there was more than one (failover), in order.
    pub attempts: &'a [AttemptLine<'a>],
}

/// One upstream attempt of a request, as logged: provider, key id (never the secret), the
/// response status or why there was none, and how long it took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttemptLine<'a> {
    pub provider: &'a str,
    pub key: Option<&'a str>,
    pub status: Option<u16>,
    /// `connect`, `timeout`, `protocol`, or why the target was skipped.
    pub error: Option<&'static str>,
    pub ms: u64,
}

impl<'a> RequestRecord<'a> {
    /// A record with nothing known yet but the id, started now.
    pub fn new(request_id: &'a str) -> Self {
        RequestRecord {
            request_id,
            route: "other",
            status: 0,
            upstream_status: None,
            key_id: None,
            model: None,
            stream: false,
            summary: None,
            cost_pico: None,
            rejection: None,
            started: Instant::now(),
            overhead: Duration::ZERO,
            upstream_ttfb: None,
            client_gone: false,
            client_addr: None,
            attempts: &[],
        }
    }
}
