//! One request, top to bottom (DESIGN §2): route, read body, peek, choose target, send
//! upstream, relay the response; and `finish`, the single exit that answers errors, counts and
//! logs each request exactly once.

use std::rc::Rc;

use super::context::RequestContext;
use super::error::{ErrorKind, GatewayError};
use super::govern;
use super::relay;
use super::route::{self, Route};
use super::target;
use crate::http::conn::{ClientConn, Scratch};
use crate::http::encode::{error_response, local_response};
use crate::http::head::RequestHead;
use crate::providers::anthropic::{self, Credentials, ResponseEncoding};
use crate::runtime::Shard;
use crate::sse::request_peek::{PeekError, peek_request};

/// Bodies up to this size are copied behind the upstream head and sent in one write.
const SMALL_BODY_BYTES: usize = 16 * 1024;

/// Serves one request; returns whether the connection may carry another.
pub async fn serve(shard: &Rc<Shard>, client: &mut ClientConn, head: RequestHead) -> bool {
    let _in_flight = shard.enter_request();
    let mut ctx = RequestContext::new(shard.next_request_id(), head.keep_alive());
    let mut scratch = client.take_scratch();
    let outcome = handle(shard, client, &head, &mut scratch, &mut ctx).await;
    client.recycle_scratch(scratch);
    finish(shard, client, Some(&head), ctx, outcome).await
}

/// Answers a request whose head was refused before it could be served (bad HTTP, too large,
/// too slow); the connection then closes.
pub async fn refuse(shard: &Rc<Shard>, client: &mut ClientConn, err: GatewayError) -> bool {
    let ctx = RequestContext::new(shard.next_request_id(), false);
    finish(shard, client, None, ctx, Err(err)).await
}

/// The phases, in order. Returns once the response is fully delivered, or with the error to
/// answer if nothing was sent yet.
async fn handle(
    shard: &Rc<Shard>,
    client: &mut ClientConn,
    head: &RequestHead,
    scratch: &mut Scratch,
    ctx: &mut RequestContext,
) -> Result<(), GatewayError> {
    let server = &shard.config.server;
    let body = &mut scratch.body;

    // Route by method and path. The body is still read on a refusal, so that the connection
    // stays in step with the client's next request.
    let routed = route::classify(head.method(), head.path());
    ctx.overhead.pause();
    client
        .read_body(head, server.max_body_bytes, server.idle_timeout, body)
        .await?;
    ctx.overhead.resume();
    let route = routed?;
    ctx.route = Some(route);

    if !route.is_proxied() {
        return answer_locally(client, ctx, head).await;
    }

    // Authenticate the virtual key; without one, the client's own credentials pass through
    // (unless `governance.require_virtual_key`).
    govern::authenticate(shard, head, ctx)?;

    // Peek the fields that decide, without re-serialising.
    let peek = if route.has_json_body() {
        let peek = peek_request(body).map_err(|e| bad_json(&e))?;
        ctx.stream = peek.stream && route == Route::Messages;
        ctx.model = peek.model.clone();
        Some(peek)
    } else {
        None
    };

    // Choose the target. When the client named the provider (`provider/model`), the model
    // goes upstream without the prefix, substituted in place.
    let requested = peek.as_ref().and_then(|p| p.model.as_deref());
    let target = target::choose(&shard.config, requested)?;
    ctx.provider = Some(target.index);
    let skip = target.strip_model_prefix.unwrap_or(0);
    let upstream_model = requested.and_then(|m| m.get(skip..)).unwrap_or("");
    if target.strip_model_prefix.is_some()
        && let Some(span) = peek.as_ref().and_then(|p| p.model_span.clone())
    {
        *body = crate::sse::request_peek::substitute_model(body, span, upstream_model);
    }

    // Admit: allow-lists, rate limits and a budget reservation on every level.
    if route == Route::Messages {
        let max_tokens = peek.as_ref().and_then(|p| p.max_tokens);
        let provider = &target.provider.name;
        govern::admit(shard, ctx, provider, upstream_model, body, max_tokens).await?;
    }
    let metered = ctx.key.is_some() || !target.provider.budgets.is_empty();
    let encoding = if metered {
        ResponseEncoding::Identity
    } else {
        ResponseEncoding::AsClientAsked
    };
    let credentials = if ctx.key.is_some() {
        Credentials::Provider(shard.pick_provider_key(target.provider))
    } else {
        Credentials::ClientOwn {
            fallback: shard.pick_provider_key(target.provider),
        }
    };

    // Send upstream and wait for the response head. A small body rides in the head's buffer
    // so the whole request leaves in one write.
    let upstream = &mut scratch.upstream_head;
    anthropic::write_request_head(
        upstream,
        target.provider,
        head,
        route::upstream_path(head.path()),
        body.len(),
        credentials,
        encoding,
    );
    let separate_body: &[u8] = if body.len() <= SMALL_BODY_BYTES {
        upstream.extend_from_slice(body);
        &[]
    } else {
        body
    };
    ctx.overhead.pause();
    let exchange = shard
        .upstreams
        .exchange(target.index, target.provider, upstream, separate_body)
        .await?;
    scratch.release_request();
    ctx.overhead.resume_at(exchange.head_received_at);
    ctx.upstream_ttfb = Some(
        exchange
            .head_received_at
            .saturating_duration_since(exchange.request_sent_at),
    );
    ctx.upstream_status = Some(exchange.head.status());

    // Relay the response as it arrives, observing usage and tool calls on the side.
    relay::relay(shard, client, exchange, head, ctx, scratch).await
}

async fn answer_locally(
    client: &mut ClientConn,
    ctx: &mut RequestContext,
    head: &RequestHead,
) -> Result<(), GatewayError> {
    let mut out = Vec::with_capacity(160);
    let body: &[u8] = if head.method() == "HEAD" {
        b""
    } else {
        b"{\"status\":\"ok\"}"
    };
    local_response(&mut out, 200, "application/json", body, !ctx.keep_alive);
    ctx.status = 200;
    ctx.response_started = true;
    client
        .write_all(&out)
        .await
        .map_err(|e| GatewayError::new(ErrorKind::Internal, format!("client write failed: {e}")))
}

fn bad_json(e: &PeekError) -> GatewayError {
    let why = match e {
        PeekError::NotJson(why) => format!("request body is not valid JSON: {why}"),
        PeekError::NotAnObject => "request body must be a JSON object".to_owned(),
    };
    GatewayError::new(ErrorKind::BadRequest, why)
}

/// The single exit: answer an error if nothing was sent yet, then count and log once.
async fn finish(
    shard: &Rc<Shard>,
    client: &mut ClientConn,
    head: Option<&RequestHead>,
    mut ctx: RequestContext,
    outcome: Result<(), GatewayError>,
) -> bool {
    // A reservation still held here was never settled: the request failed before any usage.
    govern::release(shard, &mut ctx);
    let mut error = None;
    if let Err(err) = outcome {
        if !ctx.response_started && !ctx.client_gone {
            let close = err.closes_connection() || !ctx.keep_alive || shard.draining();
            let mut out = Vec::with_capacity(512);
            let mut limits = Vec::new();
            govern::write_limit_headers(shard, &ctx, &mut limits);
            error_response(&mut out, &err, ctx.request_id.as_str(), &limits, close);
            ctx.status = err.status();
            if client.write_all(&out).await.is_err() {
                ctx.client_gone = true;
            }
            if close {
                ctx.keep_alive = false;
            }
        } else {
            ctx.keep_alive = false;
        }
        error = Some(err);
    }
    ctx.overhead.pause();
    let (bytes_in, bytes_out) = client.take_byte_counts();
    shard.metrics.add_bytes(bytes_in, bytes_out);
    shard.metrics.record_request(&ctx);
    let provider = ctx
        .provider
        .and_then(|i| shard.config.providers.get(i))
        .map(|p| p.name.as_str());
    shard.access_log.record(
        head,
        &ctx,
        provider,
        error.as_ref().or(ctx.late_fault.as_ref()),
    );
    ctx.keep_alive && !ctx.client_gone
}
