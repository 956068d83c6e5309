//! The governance phases of the request flow: authenticate the virtual key, admit (allow-list,
//! rate limits, budget reservation on every level), settle with the usage the upstream
//! reported, and the limit headers a keyed response carries. Each call that changes counters
//! is followed by a flush, so deltas reach the other shards and the ledger at once.

use std::time::{Duration, Instant};

use super::attempts::target_model;
use super::auth_throttle::AUTH_THROTTLED;
use super::context::{RequestContext, Settlement};
use super::phase_clock::Boundary;
use super::state::ProxyState;
use crate::error::GatewayError;
use crate::governance::rejection::AuthFailure;
use crate::governance::{
    Level, Rejection, RequestBound, SHARE_REQUEST_INTERVAL_MS, Usage, request_bound,
};
use crate::http::head::RequestHead;
use crate::routing::Target;
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

/// Admits a request routed to `targets` (in failover order) and keeps the reservation in `ctx`
/// until the response ends (429 or 402 when a level refuses), on the first target whose
/// provider level admits it: a target whose provider budget or limit refuses is passed over (the attempts
/// skip it too), and the refusal is answered only when no target can take the request.
/// Returns the position of the target the reservation holds.
pub async fn admit_route(
    state: &ProxyState,
    ctx: &mut RequestContext,
    targets: &[Target<'_>],
    requested: Option<&str>,
    body: &[u8],
    max_tokens: Option<u64>,
) -> Result<usize, GatewayError> {
    let key = ctx.key;
    // The bound sizes what a governed request holds: a request nothing governs (no virtual key,
    // no provider budget on any target) skips the pass over its body.
    let governed = key.is_some()
        || targets
            .iter()
            .any(|t| state.gov.provider_budgeted(&t.provider.name));
    let bound = if governed {
        request_bound(body, max_tokens)
    } else {
        RequestBound::default()
    };
    let mut last = None;
    for (position, target) in targets.iter().enumerate() {
        let (provider, model) = (&target.provider.name, target_model(target, requested));
        let admit = || state.gov.admit_bounded(key, provider, model, &bound);
        match waiting_for_share(state, ctx, admit).await {
            Ok(reservation) => {
                ctx.reservation = Some(reservation);
                return Ok(position);
            }
            Err(rejection) if on_provider_level(&rejection) => last = Some(rejection),
            Err(rejection) => return Err(refused(ctx, &rejection)),
        }
    }
    match last {
        Some(rejection) => Err(refused(ctx, &rejection)),
        None => Err(GatewayError::new(
            crate::error::ErrorKind::NoProvider,
            "no target for this model",
        )),
    }
}

/// Moves the request's reservation to `model` on `provider` before an attempt there (see
/// `Governor::retarget`); without a reservation there is nothing to move.
pub async fn retarget(
    state: &ProxyState,
    ctx: &mut RequestContext,
    provider: &str,
    model: &str,
) -> Result<(), Rejection> {
    let Some(mut reservation) = ctx.reservation.take() else {
        return Ok(());
    };
    let moved = waiting_for_share(state, ctx, || {
        state.gov.retarget(&mut reservation, provider, model)
    })
    .await;
    ctx.reservation = Some(reservation);
    moved
}

/// Whether `rejection` is a provider entry's (its budget or rate limit): another target, on
/// another provider, may still take the request.
pub fn on_provider_level(rejection: &Rejection) -> bool {
    matches!(
        rejection,
        Rejection::RateLimited {
            level: Level::Provider,
            ..
        } | Rejection::BudgetBusy {
            level: Level::Provider,
            ..
        } | Rejection::BudgetExceeded {
            level: Level::Provider,
            ..
        }
    )
}

/// The error a refused admission answers, noting why in `ctx`.
pub fn refused(ctx: &mut RequestContext, rejection: &Rejection) -> GatewayError {
    ctx.rejection = Some(rejection.reason());
    GatewayError::from(rejection)
}

/// Runs `decide` (an admission) until it is no longer short of strict-mode share: when this
/// shard's share of a budget is short, it asks the other shards and waits up to [`SHARE_WAIT`]
/// for their grant (woken by each governance message applied on this shard, not by polling).
/// Drains the inbox before each try: every settlement broadcast before now is counted.
async fn waiting_for_share<T>(
    state: &ProxyState,
    ctx: &mut RequestContext,
    mut decide: impl FnMut() -> Result<T, Rejection>,
) -> Result<T, Rejection> {
    let give_up_at = Instant::now() + SHARE_WAIT;
    loop {
        // Taken before looking, so a grant applied in between still wakes this admission.
        let grant = state.gov_events.notified();
        state.gov_link.sync(&state.gov);
        let decided = decide();
        state.gov_link.flush(&state.gov);
        let now = Instant::now();
        match decided {
            Err(Rejection::BudgetBusy { .. }) if now < give_up_at => {
                // Woken by the next governance message applied here; at the latest after one
                // share-request interval, so a request whose ask was throttled asks again.
                let wait = (give_up_at - now).min(SHARE_RETRY);
                ctx.clock.cross(Boundary::AwaitingGrant);
                deadline(wait, grant).await;
                ctx.clock.cross(Boundary::GrantWaitOver);
            }
            other => return other,
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
