//! One request, top to bottom (docs/ARCHITECTURE.md, "Request flow"): route, read body, peek,
//! choose target, admit, send upstream, relay the response; and `finish`, the single exit that
//! settles, answers errors, counts and logs each request exactly once. The request moves
//! through the phases of [`Phase`] on its [`RequestContext`].

use std::rc::Rc;

use super::Client;
use super::cloud::{self, CloudStep};
use super::context::{Phase, RequestContext};
use super::govern;
use super::relay;
use super::state::ProxyState;
use super::translate::{self, Prepared};
use crate::error::{ErrorKind, GatewayError};
use crate::http::conn::Scratch;
use crate::http::encode::local_response;
use crate::http::head::RequestHead;
use crate::providers::anthropic::error_body::error_response;
use crate::providers::anthropic::request_peek::{PeekError, peek_request, substitute_model};
use crate::providers::{Credentials, ResponseEncoding, UpstreamRequest, provider_for};
use crate::routing::{self, Route};

/// Bodies up to this size are copied behind the upstream head and sent in one write.
const SMALL_BODY_BYTES: usize = 16 * 1024;

/// Serves one request; returns whether the connection may carry another.
pub async fn serve(state: &Rc<ProxyState>, client: &mut Client, head: RequestHead) -> bool {
    let _in_flight = state.enter_request();
    let mut ctx = RequestContext::new(state.next_request_id(), head.keep_alive());
    let mut scratch = client.take_scratch();
    let outcome = handle(state, client, &head, &mut scratch, &mut ctx).await;
    let keep_alive = finish(state, client, Some(&head), ctx, outcome, &mut scratch.out).await;
    client.recycle_scratch(scratch);
    keep_alive
}

/// Answers a request whose head was refused before it could be served (bad HTTP, too large,
/// too slow); the connection then closes.
pub async fn refuse(state: &Rc<ProxyState>, client: &mut Client, err: GatewayError) -> bool {
    let ctx = RequestContext::new(state.next_request_id(), false);
    finish(state, client, None, ctx, Err(err), &mut Vec::new()).await
}

/// The phases, in order. Returns once the response is relayed (its last bytes may wait in
/// `scratch.out` for `finish`, which writes them after settling), or with the error to answer
/// if nothing was sent yet.
async fn handle(
    state: &Rc<ProxyState>,
    client: &mut Client,
    head: &RequestHead,
    scratch: &mut Scratch,
    ctx: &mut RequestContext,
) -> Result<(), GatewayError> {
    let server = &state.config.server;
    let body = &mut scratch.body;

    // Reading. Route by method and path. The body is still read on a refusal, so that the
    // connection stays in step with the client's next request.
    let routed = routing::classify(head.method(), head.path());
    ctx.overhead
        .excluding(client.read_body(head, server.max_body_bytes, server.idle_timeout, body))
        .await?;
    let route = routed?;
    ctx.route = Some(route);

    if !route.is_proxied() {
        return answer_locally(ctx, head, &mut scratch.out);
    }

    // Authenticate the virtual key; without one, the client's own credentials pass through
    // (unless `governance.require_virtual_key`).
    govern::authenticate(state, head, ctx)?;

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
    let target = routing::choose(&state.config, requested)?;
    ctx.provider = Some(target.index);
    let skip = target.strip_model_prefix.unwrap_or(0);
    let unprefixed = requested.and_then(|m| m.get(skip..)).unwrap_or("");
    let upstream_model = target.provider.model_map.resolve(unprefixed);
    if (target.strip_model_prefix.is_some() || upstream_model != unprefixed)
        && let Some(span) = peek.as_ref().and_then(|p| p.model_span.clone())
    {
        *body = substitute_model(body, span, upstream_model);
    }
    let provider = provider_for(target.provider.kind).ok_or_else(|| {
        GatewayError::new(ErrorKind::NoProvider, "this provider kind is not served")
    })?;
    if provider.translates() && route == Route::CountTokens {
        let out = &mut scratch.out;
        translate::prepare(
            provider,
            target.provider,
            route,
            upstream_model,
            body,
            ctx,
            out,
        )?;
        return Ok(());
    }

    // Admitted: allow-lists, rate limits and a budget reservation on every level.
    if route == Route::Messages {
        let max_tokens = peek.as_ref().and_then(|p| p.max_tokens);
        let name = &target.provider.name;
        govern::admit(state, ctx, name, upstream_model, body, max_tokens).await?;
    }
    ctx.enter(Phase::Admitted);
    let out = &mut scratch.out;
    let prepared = translate::prepare(
        provider,
        target.provider,
        route,
        upstream_model,
        body,
        ctx,
        out,
    )?;
    let Prepared::Send(translation) = prepared else {
        return Ok(());
    };
    let (index, config) = (target.index, target.provider);
    let cloud = match cloud::prepare(
        state,
        index,
        config,
        route,
        head,
        upstream_model,
        body,
        ctx,
        out,
    )? {
        CloudStep::Send(cloud) => cloud,
        CloudStep::Answered => return Ok(()),
    };
    let metered = ctx.key.is_some() || !target.provider.budgets.is_empty();
    let encoding = if metered {
        ResponseEncoding::Identity
    } else {
        ResponseEncoding::AsClientAsked
    };
    let credentials = if ctx.key.is_some() {
        Credentials::Provider(state.keys.pick(target.provider))
    } else {
        Credentials::ClientOwn {
            fallback: state.keys.pick(target.provider),
        }
    };

    // Upstream: send and wait for the response head. A small body rides in the head's buffer
    // so the whole request leaves in one write.
    let upstream = &mut scratch.upstream_head;
    let request = UpstreamRequest {
        provider: target.provider,
        head,
        path: routing::upstream_path(head.path()),
        model: upstream_model,
        body_len: body.len(),
        credentials,
        encoding,
        cloud: cloud.as_ref(),
    };
    provider.write_request_head(upstream, &request);
    let separate_body: &[u8] = if body.len() <= SMALL_BODY_BYTES {
        upstream.extend_from_slice(body);
        &[]
    } else {
        body
    };
    ctx.enter(Phase::Upstream);
    ctx.overhead.pause();
    let exchange = state
        .upstreams
        .exchange(target.index, target.provider, upstream, separate_body)
        .await;
    let exchange = exchange?;
    ctx.overhead.resume_at(exchange.head_received_at);
    scratch.release_request();
    ctx.upstream_ttfb = Some(
        exchange
            .head_received_at
            .saturating_duration_since(exchange.request_sent_at),
    );
    ctx.upstream_status = Some(exchange.head.status());

    // Streaming: relay the response as it arrives through the codec the provider chooses for
    // it, which reads usage and tool calls on the side.
    let messages = route == Route::Messages;
    let codec = provider.response_codec(messages, &exchange.head, translation);
    let job = relay::Relay {
        state,
        client,
        exchange,
        request: head,
        ctx,
        scratch,
    };
    codec.run(job).await
}

/// Health and the like, answered by sluice itself (written by `finish`).
fn answer_locally(
    ctx: &mut RequestContext,
    head: &RequestHead,
    out: &mut Vec<u8>,
) -> Result<(), GatewayError> {
    let body: &[u8] = if head.method() == "HEAD" {
        b""
    } else {
        b"{\"status\":\"ok\"}"
    };
    local_response(out, 200, "application/json", body, !ctx.keep_alive);
    ctx.status = 200;
    ctx.enter(Phase::Streaming);
    Ok(())
}

fn bad_json(e: &PeekError) -> GatewayError {
    let why = match e {
        PeekError::NotJson(why) => format!("request body is not valid JSON: {why}"),
        PeekError::NotAnObject => "request body must be a JSON object".to_owned(),
    };
    GatewayError::new(ErrorKind::BadRequest, why)
}

/// The single exit: settle once, write what the response still has pending, answer an error
/// if nothing was sent yet, then count and log once.
async fn finish(
    state: &ProxyState,
    client: &mut Client,
    head: Option<&RequestHead>,
    mut ctx: RequestContext,
    outcome: Result<(), GatewayError>,
    pending: &mut Vec<u8>,
) -> bool {
    // The one settlement: before the response's last byte goes out, so that once the client
    // has it, every later admission on any shard sees this cost.
    govern::settle(state, &mut ctx);
    if !pending.is_empty() {
        let written = ctx.overhead.excluding(client.write_all(pending)).await;
        pending.clear();
        if written.is_err() {
            ctx.client_gone = true;
        }
    }
    let mut error = None;
    if let Err(err) = outcome {
        if !ctx.response_started() && !ctx.client_gone {
            let close = err.closes_connection() || !ctx.keep_alive || state.draining();
            let mut out = Vec::with_capacity(512);
            let mut limits = Vec::new();
            govern::write_limit_headers(state, &ctx, &mut limits);
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
    ctx.enter(Phase::Finished);
    ctx.overhead.pause();
    let (bytes_in, bytes_out) = client.take_byte_counts();
    state.metrics.add_bytes(bytes_in, bytes_out);
    let record = ctx.record();
    state.metrics.record_request(&record);
    let provider = ctx
        .provider
        .and_then(|i| state.config.providers.get(i))
        .map(|p| p.name.as_str());
    state.access_log.record(
        head,
        &record,
        provider,
        error.as_ref().or(ctx.late_fault.as_ref()),
    );
    ctx.keep_alive && !ctx.client_gone
}
