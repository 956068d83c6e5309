//! One request, top to bottom (docs/ARCHITECTURE.md, "Request flow"): route, read body, peek,
//! choose target, admit, send upstream, relay the response; and `finish`, the single exit that
//! settles, answers errors, counts and logs each request exactly once. The request moves
//! through the phases of [`Phase`] on its [`RequestContext`].

use std::rc::Rc;
use std::sync::Arc;

use super::Client;
use super::attempts;
use super::context::{Phase, RequestContext};
use super::govern;
use super::openai_codecs::ClientCodec;
use super::openai_in;
use super::outcome;
use super::phase_clock::Boundary;
use super::relay;
use super::state::ProxyState;
use super::translate::{self, Prepared, answer_count_tokens};
use crate::error::{ErrorKind, GatewayError};
use crate::http::conn::Scratch;
use crate::http::encode::local_response;
use crate::http::head::RequestHead;
use crate::providers::anthropic;
use crate::providers::anthropic::request_peek::{PeekError, peek_request, substitute_model};
use crate::providers::cloud_kind::BEDROCK_KIND;
use crate::providers::provider_for;
use crate::routing::{self, Route};

/// Serves one request; returns whether the connection may carry another.
pub async fn serve(state: &Rc<ProxyState>, client: &mut Client, head: RequestHead) -> bool {
    let _in_flight = state.enter_request();
    let mut ctx = RequestContext::new(state.next_request_id(), head.keep_alive());
    ctx.client_addr = client.peer_addr();
    ctx.trace = outcome::start_trace(state, &head);
    let mut scratch = client.take_scratch();
    let outcome = handle(state, client, &head, &mut scratch, &mut ctx).await;
    outcome::keep_body(state, &mut ctx, &mut scratch.body);
    let keep_alive = finish(state, client, Some(&head), ctx, outcome, &mut scratch.out).await;
    client.recycle_scratch(scratch);
    keep_alive
}

/// Answers a request whose head was refused before it could be served (bad HTTP, too large,
/// too slow); the connection then closes.
pub async fn refuse(state: &Rc<ProxyState>, client: &mut Client, err: GatewayError) -> bool {
    let mut ctx = RequestContext::new(state.next_request_id(), false);
    ctx.client_addr = client.peer_addr();
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
    ctx.clock.cross(Boundary::ReadingBody);
    let read = client
        .read_body(head, server.max_body_bytes, server.idle_timeout, body)
        .await;
    ctx.clock.cross(Boundary::BodyRead);
    read?;
    let route = openai_in::refine(routed?, head);
    ctx.route = Some(route);

    if route == Route::Mcp {
        return super::mcp::serve(state, client, head, body, &mut scratch.out, ctx).await;
    }
    if !route.is_proxied() {
        return answer_locally(ctx, head, &mut scratch.out);
    }

    // Authenticate the virtual key; without one, the client's own credentials pass through
    // (unless `governance.require_virtual_key`).
    govern::authenticate(state, head, ctx, Some(client))?;

    // Peek the fields that decide, without re-serialising.
    let peek = if route.has_json_body() {
        let peek = peek_request(body).map_err(|e| bad_json(&e))?;
        ctx.stream = peek.stream && route != Route::CountTokens;
        ctx.model = peek.model.clone();
        ctx.max_tokens = peek.max_tokens;
        Some(peek)
    } else {
        None
    };

    // Choose the targets, in failover order (`[[routes]]` over the model as written).
    // A request keeps the configuration it started with, even across a reload.
    let config = state.current_config();
    ctx.config = Some(Arc::clone(&config));
    let requested = peek.as_ref().and_then(|p| p.model.as_deref());
    let targets = match routing::plan(&config, requested) {
        // No provider speaks Anthropic's API: the model list comes from the configuration.
        Err(_) if route.is_model_list() => {
            openai_in::answer_configured_models(route, &config, ctx, &mut scratch.out);
            return Ok(());
        }
        planned => planned?,
    };
    let first = targets[0];
    ctx.provider = Some(first.index);
    let metered = ctx.key.is_some() || targets.iter().any(|t| !t.provider.budgets.is_empty());

    // An OpenAI-format client's body, readied once before the attempts by the first target's
    // dialect: translated into an Anthropic Messages body (for the model as the client wrote
    // it; each attempt substitutes its own target's), or kept in OpenAI's format for an
    // OpenAI-format provider. The result is the client body the attempts prepare per target.
    let mut peeked_max = peek.as_ref().and_then(|p| p.max_tokens);
    let mut model_span = peek.as_ref().and_then(|p| p.model_span.clone());
    let inbound = if route == Route::ChatCompletions {
        let provider = provider_for(first.provider.kind).ok_or_else(|| {
            GatewayError::new(ErrorKind::NoProvider, "this provider kind is not served")
        })?;
        let model = attempts::target_model(&first, requested);
        let other = openai_in::other_dialect(provider, &targets, requested);
        let body = &mut scratch.body;
        let inbound = openai_in::prepare(
            &config,
            provider,
            first.provider,
            model,
            body,
            metered,
            other,
        )?;
        // The body changed: where its model sits now.
        let again = peek_request(body).map_err(|e| bad_json(&e))?;
        model_span = again.model_span;
        peeked_max = again.max_tokens;
        ctx.max_tokens = inbound.max_tokens.or(peeked_max);
        Some(inbound)
    } else {
        None
    };

    // Admitted: allow-lists, rate limits and a budget reservation on every level (on the
    // first target whose provider budget admits it; each attempt moves it to its own target).
    let mut admitted = 0;
    if route == Route::Messages || route == Route::ChatCompletions {
        let max_tokens = inbound.as_ref().map_or(peeked_max, |i| i.max_tokens);
        let model = attempts::target_model(&first, requested);
        // The bound is the body's as the first target gets it (its model, not the client's).
        let renamed = model_span
            .clone()
            .filter(|_| requested != Some(model))
            .map(|span| substitute_model(&scratch.body, span, model));
        let body = renamed.as_deref().unwrap_or(&scratch.body);
        admitted = govern::admit_route(state, ctx, &targets, requested, body, max_tokens).await?;
    }
    ctx.enter(Phase::Admitted);
    // The model list of a first target that does not speak Anthropic's API (OpenAI-format
    // and cloud kinds): the configured names, answered here in the route's shape.
    if route.is_model_list() && first.provider.kind != anthropic::KIND {
        openai_in::answer_configured_models(route, &config, ctx, &mut scratch.out);
        return Ok(());
    }
    // A first target on Bedrock: count_tokens answered here (Bedrock has no such endpoint).
    if route == Route::CountTokens && first.provider.kind == BEDROCK_KIND {
        answer_count_tokens(&scratch.body, ctx, &mut scratch.out)?;
        return Ok(());
    }
    // A first target that translates: count_tokens answered here (it has no such endpoint),
    // other routes but Messages refused. Messages and Chat Completions bodies are prepared per
    // attempt.
    if route != Route::Messages
        && route != Route::ChatCompletions
        && let Some(provider) = provider_for(first.provider.kind)
    {
        let model = attempts::target_model(&first, requested);
        let (body, out) = (&mut scratch.body, &mut scratch.out);
        let prepared = translate::prepare(provider, first.provider, route, model, body, ctx, out)?;
        let Prepared::Send(_) = prepared else {
            return Ok(());
        };
    }

    // Upstream: the attempt phase sends the request to the targets in order until one
    // answers with a head worth relaying (failover happens only here, before any byte went
    // to the client). Each attempt prepares the body for its own target's provider.
    ctx.enter(Phase::Upstream);
    let request = attempts::Request {
        config: &config,
        route,
        head,
        body: &scratch.body,
        requested,
        model_span,
        metered,
        inbound: inbound.as_ref(),
        admitted,
    };
    let served = attempts::attempt(state, ctx, &request, &targets, &mut scratch.upstream_head);
    let served = served.await?;
    let exchange = served.exchange;
    outcome::keep_body(state, ctx, &mut scratch.body);
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
    let models = route
        .is_model_list()
        .then(|| openai_in::models_codec(route, &config, &exchange.head))
        .flatten();
    let codec = match (inbound, models) {
        (Some(inbound), _) => inbound.codec(served.provider.translates(), &exchange.head),
        (None, Some(models)) => models,
        (None, None) => ClientCodec::Provider((served.provider).response_codec(
            messages,
            &exchange.head,
            served.translation,
        )),
    };
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
    ctx.clock.cross(Boundary::Finishing);
    govern::settle(state, &mut ctx);
    if !pending.is_empty() {
        ctx.clock.cross(Boundary::FinalWrite);
        let written = client.write_all(pending).await;
        ctx.clock.cross(Boundary::FinalWritten);
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
            let id = ctx.request_id.as_str();
            openai_in::error_response_for(ctx.route, &mut out, &err, id, &limits, close);
            ctx.status = err.status();
            ctx.clock.cross(Boundary::FinalWrite);
            let written = client.write_all(&out).await;
            ctx.clock.cross(Boundary::FinalWritten);
            if written.is_err() {
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
    ctx.clock.cross(Boundary::Recorded);
    let (bytes_in, bytes_out) = client.take_byte_counts();
    state.metrics.add_bytes(bytes_in, bytes_out);
    let config = ctx
        .config
        .clone()
        .unwrap_or_else(|| Arc::clone(&state.config));
    let attempt_lines = attempts::log_lines(&config, &ctx.attempts);
    let mut record = ctx.record();
    record.attempts = &attempt_lines;
    state.metrics.record_request(&record);
    let provider = ctx
        .provider
        .and_then(|i| config.providers.get(i))
        .map(|p| p.name.as_str());
    state.access_log.record(
        head,
        &record,
        provider,
        error.as_ref().or(ctx.late_fault.as_ref()),
    );
    let late_fault = ctx.late_fault.take();
    outcome::observe_request(
        state,
        head,
        &mut ctx,
        error.as_ref().or(late_fault.as_ref()),
    );
    ctx.keep_alive && !ctx.client_gone
}
