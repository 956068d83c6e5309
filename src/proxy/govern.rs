//! The governance phases of the request flow: authenticate the virtual key, admit (allow-list,
//! rate limits, budget reservation on every level), settle with the usage the upstream
//! reported, and the limit headers a keyed response carries. Each call that changes counters
//! is followed by a flush, so deltas reach the other shards and the ledger at once.

use std::time::{Duration, Instant};

use super::auth_throttle::AUTH_THROTTLED;
use super::context::{RequestContext, Settlement};
use super::phase_clock::Boundary;
use super::state::ProxyState;
use crate::error::GatewayError;
use crate::governance::rejection::AuthFailure;
use crate::governance::{Rejection, SHARE_REQUEST_INTERVAL_MS, Usage, request_bound};
use crate::http::head::RequestHead;
use crate::runtime::io::time::deadline;

/// Finds the request's virtual key. Drains the governance inbox first, so a key revoked or
/// created on another shard counts from this request on. With `client`, failures are limited
/// per client address (proxy/auth_throttle.rs).
pub fn authenticate(
    state: &ProxyState,
    head: &RequestHead,
    ctx: &mut RequestContext,
    client: Option<&super::Client>,
) -> Result<(), GatewayError> {
    let max_failures = state.config.server.limits.max_auth_failures_per_minute;
    let throttled = client.filter(|_| max_failures > 0);
    let now = Instant::now();
    // The address is looked up only when some address has failed, or this one just did.
    let mut addr = None;
    if let Some(client) = throttled.filter(|_| !state.auth_throttle.is_empty()) {
        addr = client.peer_ip();
        if let Some(ip) = addr
            && let Err(refused) = state.auth_throttle.check(ip, max_failures, now)
        {
            ctx.rejection = Some(AUTH_THROTTLED);
            return Err(refused);
        }
    }
    state.gov_link.sync(&state.gov);
    match state
        .gov
        .authenticate(head.header("x-api-key"), head.header("authorization"))
    {
        Ok(key) => {
            ctx.key = key;
            ctx.key_id = key.and_then(|k| state.gov.key_name(k));
            Ok(())
        }
        Err(rejection) => {
            let guessed = !matches!(rejection, Rejection::Unauthenticated(AuthFailure::Missing));
            if let Some(client) = throttled.filter(|_| guessed)
                && let Some(ip) = addr.or_else(|| client.peer_ip())
            {
                state.auth_throttle.failed(ip, now);
            }
            ctx.rejection = Some(rejection.reason());
            Err(GatewayError::from(&rejection))
        }
    }
}

/// How long an admission waits for budget share from the other shards (strict mode) before
/// the client is told to retry: the share usually arrives within microseconds.
pub const SHARE_WAIT: Duration = Duration::from_millis(200);
/// A waiting admission looks again after this long even when no message arrived: shares are
/// asked for at most once per interval, so an ask that was throttled must be repeated.
pub const SHARE_RETRY: Duration = Duration::from_millis(SHARE_REQUEST_INTERVAL_MS);

/// Admits a request for `model` on `provider` and keeps the reservation in `ctx` until the
/// response ends. Drains the inbox first: every settlement broadcast before now is counted.
/// When this shard's strict-mode share of a budget is short, it asks the other shards and
/// waits up to [`SHARE_WAIT`] for their grant (woken by each governance message applied on this
/// shard, not by polling) before answering 429.
pub async fn admit(
    state: &ProxyState,
    ctx: &mut RequestContext,
    provider: &str,
    model: &str,
    body: &[u8],
    max_tokens: Option<u64>,
) -> Result<(), GatewayError> {
    let give_up_at = Instant::now() + SHARE_WAIT;
    let bound = request_bound(body, max_tokens);
    let admitted = loop {
        // Taken before looking, so a grant applied in between still wakes this admission.
        let grant = state.gov_events.notified();
        state.gov_link.sync(&state.gov);
        let admitted = state.gov.admit_bounded(ctx.key, provider, model, &bound);
        state.gov_link.flush(&state.gov);
        let now = Instant::now();
        match admitted {
            Err(Rejection::BudgetBusy { .. }) if now < give_up_at => {
                // Woken by the next governance message applied here; at the latest after one
                // share-request interval, so a request whose ask was throttled asks again.
                let wait = (give_up_at - now).min(SHARE_RETRY);
                ctx.clock.cross(Boundary::AwaitingGrant);
                deadline(wait, grant).await;
                ctx.clock.cross(Boundary::GrantWaitOver);
            }
            other => break other,
        }
    };
    match admitted {
        Ok(reservation) => {
            ctx.reservation = Some(reservation);
            Ok(())
        }
        Err(rejection) => {
            ctx.rejection = Some(rejection.reason());
            Err(GatewayError::from(&rejection))
        }
    }
}

/// The one settlement of a request, called by `finish`: replaces the reservation by the cost of
/// the usage the relay reported (complete, or so far when the response ended early) and
/// broadcasts it; a request that delivered nothing releases its reservation (it counts against
/// rate limits, nothing is charged). Without a reservation: nothing.
pub fn settle(state: &ProxyState, ctx: &mut RequestContext) {
    let settlement = std::mem::replace(&mut ctx.settlement, Settlement::Release);
    let Some(reservation) = ctx.reservation.take() else {
        return;
    };
    let empty = Usage::default();
    // A delivered response whose usage could not be read is charged the worst case it was
    // admitted with, never nothing; an upstream error delivered nothing billable.
    let delivered = ctx.upstream_status.is_some_and(|s| (200..300).contains(&s));
    let settled = match &settlement {
        Settlement::Release => {
            drop(reservation);
            state.gov_link.flush(&state.gov);
            return;
        }
        Settlement::Complete(None) | Settlement::Partial(None) if delivered => {
            reservation.settle_unread()
        }
        Settlement::Complete(usage) => reservation.settle(usage.as_ref().unwrap_or(&empty)),
        Settlement::Partial(usage) => reservation.settle_partial(usage.as_ref().unwrap_or(&empty)),
    };
    ctx.cost_pico = settled.cost_pico;
    state.gov_link.flush(&state.gov);
}

/// Appends the key's remaining requests, tokens and budget as response headers.
pub fn write_limit_headers(state: &ProxyState, ctx: &RequestContext, out: &mut Vec<u8>) {
    if let Some(key) = ctx.key {
        state.gov.limit_headers(key).write_to(out);
    }
}
