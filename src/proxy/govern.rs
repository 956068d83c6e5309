//! The governance phases of the request flow: authenticate the virtual key, admit (allow-list,
//! rate limits, budget reservation on every level), settle with the usage the upstream
//! reported, and the limit headers a keyed response carries. Each call that changes counters
//! is followed by a flush, so deltas reach the other shards and the ledger at once.

use std::rc::Rc;
use std::time::{Duration, Instant};

use super::context::RequestContext;
use super::error::GatewayError;
use crate::governance::{Rejection, request_bound};
use crate::http::head::RequestHead;
use crate::runtime::Shard;
use crate::sse::observer::Usage;

/// Finds the request's virtual key. Drains the governance inbox first, so a key revoked or
/// created on another shard counts from this request on.
pub fn authenticate(
    shard: &Rc<Shard>,
    head: &RequestHead,
    ctx: &mut RequestContext,
) -> Result<(), GatewayError> {
    shard.gov_link.sync(&shard.gov);
    match shard
        .gov
        .authenticate(head.header("x-api-key"), head.header("authorization"))
    {
        Ok(key) => {
            ctx.key = key;
            ctx.key_id = key.and_then(|k| shard.gov.key_name(k));
            Ok(())
        }
        Err(rejection) => {
            ctx.rejection = Some(rejection.reason());
            Err(GatewayError::from(&rejection))
        }
    }
}

/// How long an admission waits for budget share from the other shards (strict mode) before
/// the client is told to retry: the share usually arrives within microseconds.
pub const SHARE_WAIT: Duration = Duration::from_millis(200);
/// How often a waiting admission looks again.
const SHARE_POLL: Duration = Duration::from_millis(1);

/// Admits a request for `model` on `provider` and keeps the reservation in `ctx` until the
/// response ends. Drains the inbox first: every settlement broadcast before now is counted.
/// When this shard's strict-mode share of a budget is short, it asks the other shards and
/// waits up to [`SHARE_WAIT`] for their grant before answering 429.
pub async fn admit(
    shard: &Rc<Shard>,
    ctx: &mut RequestContext,
    provider: &str,
    model: &str,
    body: &[u8],
    max_tokens: Option<u64>,
) -> Result<(), GatewayError> {
    let give_up_at = Instant::now() + SHARE_WAIT;
    let bound = request_bound(body, max_tokens);
    let admitted = loop {
        shard.gov_link.sync(&shard.gov);
        let admitted = shard.gov.admit_bounded(ctx.key, provider, model, &bound);
        shard.gov_link.flush(&shard.gov);
        match admitted {
            Err(Rejection::BudgetBusy { .. }) if Instant::now() < give_up_at => {
                ctx.overhead.pause();
                glommio::timer::sleep(SHARE_POLL).await;
                ctx.overhead.resume();
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

/// Replaces the reservation by the cost of `usage` and broadcasts it. Called before the
/// response's last byte is written (`complete`), or with the usage seen so far when the stream
/// ended early (a client that left, an upstream that failed). Without a reservation: nothing.
pub fn settle(shard: &Shard, ctx: &mut RequestContext, usage: Option<&Usage>, complete: bool) {
    let Some(reservation) = ctx.reservation.take() else {
        return;
    };
    let empty = Usage::default();
    let usage = usage.unwrap_or(&empty);
    let settled = if complete {
        reservation.settle(usage)
    } else {
        reservation.settle_partial(usage)
    };
    ctx.cost_pico = settled.cost_pico;
    shard.gov_link.flush(&shard.gov);
}

/// Releases a reservation the request no longer needs (it failed before any usage): the
/// request counts against rate limits, nothing is charged.
pub fn release(shard: &Shard, ctx: &mut RequestContext) {
    if ctx.reservation.take().is_some() {
        shard.gov_link.flush(&shard.gov);
    }
}

/// Appends the key's remaining requests, tokens and budget as response headers.
pub fn write_limit_headers(shard: &Shard, ctx: &RequestContext, out: &mut Vec<u8>) {
    if let Some(key) = ctx.key {
        shard.gov.limit_headers(key).write_to(out);
    }
}
