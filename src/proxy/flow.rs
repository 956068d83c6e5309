//! One request, top to bottom (DESIGN §2): route, read body, peek, choose target, send
//! upstream, relay the response; and `finish`, the single exit that answers errors, counts and
//! logs each request exactly once.

use std::rc::Rc;

use super::context::RequestContext;
use super::error::{ErrorKind, GatewayError};
use super::relay;
use super::route::{self, Route};
use super::target;
use crate::http::conn::ClientConn;
use crate::http::encode::{error_response, local_response};
use crate::http::head::RequestHead;
use crate::providers::anthropic;
use crate::runtime::Shard;
use crate::sse::request_peek::{PeekError, peek_request};

/// Serves one request; returns whether the connection may carry another.
pub async fn serve(shard: &Rc<Shard>, client: &mut ClientConn, head: RequestHead) -> bool {
    let _in_flight = shard.enter_request();
    let mut ctx = RequestContext::new(shard.next_request_id(), head.keep_alive());
    let mut body = client.take_body_buffer();
    let outcome = handle(shard, client, &head, &mut body, &mut ctx).await;
    client.recycle_body(body);
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
    body: &mut Vec<u8>,
    ctx: &mut RequestContext,
) -> Result<(), GatewayError> {
    let server = &shard.config.server;

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

    // Peek the fields that decide, without re-serialising.
    let peek = if route.has_json_body() {
        let peek = peek_request(body).map_err(|e| bad_json(&e))?;
        ctx.stream = peek.stream && route == Route::Messages;
        ctx.model = peek.model.clone();
        Some(peek)
    } else {
        None
    };

    // Choose the target; substitute the model in place when the client named the provider.
    let target = target::choose(&shard.config, ctx.model.as_deref())?;
    ctx.provider = Some(target.provider.name.clone());
    if let (Some(skip), Some(span)) = (
        target.strip_model_prefix,
        peek.as_ref().and_then(|p| p.model_span.clone()),
    ) && let Some(model) = ctx.model.as_deref().and_then(|m| m.get(skip..))
    {
        *body = crate::sse::request_peek::substitute_model(body, span, model);
    }

    // Send upstream and wait for the response head.
    let mut upstream_head = Vec::with_capacity(1024);
    anthropic::write_request_head(
        &mut upstream_head,
        target.provider,
        head,
        route::upstream_path(head.path()),
        body.len(),
    );
    ctx.overhead.pause();
    let exchange = shard
        .upstreams
        .exchange(target.index, target.provider, &upstream_head, body)
        .await?;
    ctx.overhead.resume_at(exchange.head_received_at);
    ctx.upstream_ttfb = Some(
        exchange
            .head_received_at
            .saturating_duration_since(exchange.request_sent_at),
    );
    ctx.upstream_status = Some(exchange.head.status());

    // Relay the response as it arrives, observing usage and tool calls on the side.
    relay::relay(shard, client, exchange, target.index, head, route, ctx).await
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
    let mut error = None;
    if let Err(err) = outcome {
        if !ctx.response_started && !ctx.client_gone {
            let close = err.closes_connection() || !ctx.keep_alive || shard.draining();
            let mut out = Vec::with_capacity(256);
            error_response(&mut out, &err, &ctx.request_id, close);
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
    shard
        .access_log
        .record(head, &ctx, error.as_ref().or(ctx.late_fault.as_ref()));
    ctx.keep_alive && !ctx.client_gone
}
