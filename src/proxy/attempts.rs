//! The attempt phase of the request flow (docs/ARCHITECTURE.md, "Request flow"): sends the
//! request to its targets in order until one answers with a response head worth relaying, and
//! decides, for each failure, whether to try the next key of the same provider, the next
//! target, or to stop. Nothing here has sent a byte to the client: failover ends where the
//! relay begins.
//!
//! - next key of the same provider: 401/403 (the key cools down for the breaker cool-down) and
//!   429 (the key cools down for `retry-after`, or `routing.rate_limit_cooldown_ms`);
//! - next target: connect errors and timeouts, 500/502/503/504/529, a streaming request with no
//!   head within `routing.first_byte_timeout_ms`, and 429 when no other key is healthy; a
//!   cloud stream that fails before its first event (a Bedrock exception frame) is judged by
//!   the status its failure maps to (proxy/cloud.rs);
//! - never: 400/404/413/422 and any status not in `routing.retry_on`, and a read timeout of a
//!   non-streaming request (the upstream may still be generating: the client gets 504).
//!
//! Cool-downs and breaker changes are applied here and broadcast to every shard as
//! [`HealthEvent`]s. When every attempt failed, the last failure is what the client gets: an
//! upstream error response is relayed as it came (in the client's format via the provider's
//! codec, `retry-after` included), a connection failure becomes the gateway's error.

use std::time::{Duration, Instant};

use super::attempt_metrics::outcome_label;
use super::cloud;
use super::context::{AttemptOutcome, AttemptRecord, RequestContext};
use super::govern;
use super::openai_in::{self, Inbound};
use super::outcome;
use super::phase_clock::Boundary;
use super::state::ProxyState;
use crate::config::{Config, NEVER_RETRY, RoutingConfig, Secret};
use crate::error::{ErrorKind, GatewayError};
use crate::http::head::RequestHead;
use crate::observe::record::AttemptLine;
use crate::providers::anthropic::request_peek::{peek_request, substitute_model};
use crate::providers::{
    Credentials, Provider, ResponseEncoding, Translation, UpstreamRequest, UpstreamTrace,
    provider_for,
};
use crate::routing::{self, BreakerState, HealthEvent, Route, Target};
use crate::runtime::io::time::sleep;
use crate::upstream::Exchange;

/// Bodies up to this size are copied behind the upstream head and sent in one write.
const SMALL_BODY_BYTES: usize = 16 * 1024;

/// What the attempts are made with: the client's request as read and peeked.
pub struct Request<'a> {
    /// The configuration the request started with.
    pub config: &'a Config,
    pub route: Route,
    pub head: &'a RequestHead,
    pub body: &'a [u8],
    /// The model as the client wrote it, and where it sits in the body.
    pub requested: Option<&'a str>,
    pub model_span: Option<std::ops::Range<usize>>,
    /// Metered (a virtual key or a provider budget): identity encoding upstream.
    pub metered: bool,
    /// An OpenAI-format client's request, its body readied for one dialect (proxy/openai_in.rs):
    /// only targets of that dialect are tried, and the response is answered in OpenAI's format.
    pub inbound: Option<&'a Inbound>,
    /// The position in the targets of the one the reservation was admitted for.
    pub admitted: usize,
}

/// The attempt that will be relayed: its response head and connection, and who served it.
pub struct Served<'c> {
    pub exchange: Exchange,
    pub target: Target<'c>,
    pub provider: &'static dyn Provider,
    /// What preparing the body for this attempt's provider learned (its codec needs it).
    pub translation: Option<Translation>,
}

/// Why an attempt did not serve, and what comes next.
enum Next {
    /// Try another key of the same provider.
    SameProvider,
    /// Try the next target.
    NextTarget,
}

/// The last failure, returned when no attempt served.
enum Failure<'c> {
    Response(Box<Served<'c>>),
    Error(GatewayError),
}

/// Runs the attempts over `targets` (in order) within `routing.max_attempts` and
/// `routing.failover_budget_ms`; records each in `ctx.attempts`.
pub async fn attempt<'c>(
    state: &ProxyState,
    ctx: &mut RequestContext,
    request: &Request<'_>,
    targets: &[Target<'c>],
    upstream: &mut Vec<u8>,
) -> Result<Served<'c>, GatewayError> {
    let rules = &request.config.routing;
    let started = Instant::now();
    let mut last: Option<Failure<'c>> = None;
    let mut made = 0u32;
    let mut previous: Option<usize> = None;
    // The first failure (for the failover time) and the last one (for the failover's reason).
    let mut first_failure: Option<Instant> = None;
    let mut failed_on: Option<(usize, &'static str)> = None;
    // The body as one attempt's provider gets it, when it differs from the client's (which
    // stays untouched for the next attempt).
    let mut prepared = Vec::new();
    // The target (provider, model) the reservation holds, and a refusal to move it.
    let mut reserved_for = targets
        .get(request.admitted)
        .map(|t| (t.index, target_model(t, request.requested)));
    let mut refused = None;
    'targets: for (i, target) in targets.iter().enumerate() {
        let now = Instant::now();
        // Health decides among alternatives; with none left and nothing tried yet, the last
        // target is tried anyway (refusing would only turn a maybe into a certain failure).
        let last_resort = made == 0 && i + 1 == targets.len();
        match state.health.provider_state(target.index, now) {
            BreakerState::Open if !last_resort => {
                note(state, ctx, skipped(target, "breaker_open"));
                continue;
            }
            BreakerState::HalfOpen => {
                if !claim_probe(state, target.index, None).await && !last_resort {
                    note(state, ctx, skipped(target, "probe_in_flight"));
                    continue;
                }
            }
            BreakerState::Open | BreakerState::Closed => {}
        }
        let Some(provider) = provider_for(target.provider.kind) else {
            note(state, ctx, skipped(target, "kind_not_served"));
            continue;
        };
        if let Some(inbound) = request.inbound
            && inbound
                .body_for(provider.translates(), request.body)
                .is_none()
        {
            // No body was readied for this target's dialect (the flow readies one per dialect
            // the route has: this cannot happen for a route's own targets).
            note(state, ctx, skipped(target, "dialect_differs"));
            continue;
        }
        if provider.translates()
            && !matches!(request.route, Route::Messages | Route::ChatCompletions)
        {
            // Only Messages is translated; count_tokens is answered locally only when the
            // first target translates (proxy/flow.rs).
            note(state, ctx, skipped(target, "route_not_served"));
            continue;
        }
        loop {
            if made >= rules.max_attempts
                || (made > 0 && started.elapsed() >= rules.failover_budget)
            {
                break 'targets;
            }
            let model = target_model(target, request.requested);
            if reserved_for != Some((target.index, model)) {
                // The provider's budget is reserved as the attempt starts; the price moves.
                let name = &target.provider.name;
                if let Err(rejection) = govern::retarget(state, ctx, name, model).await {
                    let why = if govern::on_provider_level(&rejection) {
                        "provider_budget"
                    } else {
                        rejection.reason()
                    };
                    note(state, ctx, skipped(target, why));
                    failed_on = Some((target.index, why));
                    refused = Some(rejection);
                    continue 'targets;
                }
                reserved_for = Some((target.index, model));
            }
            let now = Instant::now();
            let key = match pick_key(state, target, now, last_resort && made == 0) {
                Ok(key) => key,
                Err(why) => {
                    note(state, ctx, skipped(target, why));
                    continue 'targets;
                }
            };
            let key_index = key.map(|(k, _)| k);
            if let Some(k) = key_index
                && state.health.key_state(target.index, k, now) == Some(BreakerState::HalfOpen)
                && !claim_probe(state, target.index, Some(k)).await
            {
                // Another request (on some shard) probes this key: pick again.
                continue;
            }
            if previous == Some(target.index) && !rules.backoff.is_zero() {
                ctx.clock.cross(Boundary::Backoff);
                sleep(jittered(rules.backoff)).await;
                ctx.clock.cross(Boundary::BackoffOver);
            }
            previous = Some(target.index);
            made += 1;
            if let Some((from, reason)) = failed_on.take()
                && from != target.index
            {
                state.metrics.routing.failover(from, target.index, reason);
            }
            let secret = key.map(|(_, s)| s);
            let credentials = if ctx.key.is_some() {
                Credentials::Provider(secret)
            } else {
                Credentials::ClientOwn { fallback: secret }
            };
            let began = Instant::now();
            let attempt = Attempt {
                target,
                provider,
                credentials,
            };
            let result = send(state, ctx, request, &attempt, &mut prepared, upstream).await;
            let elapsed = began.elapsed();
            ctx.provider = Some(target.index);
            ctx.provider_key = key_index;
            let (outcome, next, failure) = match result {
                Ok((mut exchange, translation)) => {
                    let status = exchange.head.status();
                    let mut outcome = AttemptOutcome::Status(status);
                    let (index, stream) = (target.index, ctx.stream);
                    let mut verdict = judge(state, rules, index, key_index, status, &exchange, now);
                    // A stream that fails before its first event (Bedrock's exception frames)
                    // is judged by the status that failure maps to.
                    let mut early = None;
                    if verdict.is_none()
                        && stream
                        && let Some(cloud) = state.clouds.get(&target.provider.name)
                    {
                        let wait = head_timeout(state, request, stream);
                        let peek = cloud::failure_before_first_event(&cloud, &mut exchange, wait);
                        // Waiting for the first frame is the upstream's time, not sluice's.
                        ctx.clock.cross(Boundary::UpstreamCall);
                        let failure = peek.await;
                        ctx.clock.cross(Boundary::UpstreamAnswered);
                        if let Some((status, e)) = failure {
                            verdict = judge(state, rules, index, key_index, status, None, now);
                            outcome = AttemptOutcome::Status(status);
                            early = Some(e);
                        }
                    }
                    let Some(next) = verdict else {
                        broadcast(
                            state,
                            HealthEvent::Succeeded {
                                provider: target.index,
                                key: key_index,
                            },
                        );
                        note(state, ctx, record(target, key_index, outcome, elapsed));
                        if let Some(at) = first_failure {
                            state.metrics.routing.failover_time(at.elapsed());
                        }
                        let target = *target;
                        return Ok(Served {
                            exchange,
                            target,
                            provider,
                            translation,
                        });
                    };
                    let failure = match early {
                        Some(e) => Failure::Error(e),
                        None => Failure::Response(Box::new(Served {
                            exchange,
                            target: *target,
                            provider,
                            translation,
                        })),
                    };
                    (outcome, next, failure)
                }
                Err(e) if e.kind == ErrorKind::BadRequest => {
                    // The client's body cannot be translated: no other target changes that.
                    return Err(e);
                }
                Err(e) if e.kind == ErrorKind::UpstreamTimeout && !ctx.stream => {
                    // The upstream may still be generating (and billing): no second one.
                    let outcome = AttemptOutcome::Error("timeout");
                    note(state, ctx, record(target, key_index, outcome, elapsed));
                    return Err(e);
                }
                Err(e) => {
                    broadcast(state, failed(target.index, key_index));
                    let outcome = AttemptOutcome::Error(error_label(e.kind));
                    (outcome, Next::NextTarget, Failure::Error(e))
                }
            };
            note(state, ctx, record(target, key_index, outcome, elapsed));
            first_failure.get_or_insert_with(Instant::now);
            failed_on = Some((target.index, outcome_label(outcome)));
            last = Some(failure);
            match next {
                Next::SameProvider => {}
                Next::NextTarget => continue 'targets,
            }
        }
    }
    match (last, refused) {
        (Some(Failure::Response(served)), _) => {
            ctx.provider = Some(served.target.index);
            Ok(*served)
        }
        (Some(Failure::Error(e)), _) => Err(e),
        // No target could take the request within its budgets: the last refusal.
        (None, Some(rejection)) => Err(govern::refused(ctx, &rejection)),
        (None, None) => Err(GatewayError::new(
            ErrorKind::UpstreamUnreachable,
            "no provider for this model is available now (breakers open or keys cooling down)",
        )),
    }
}

/// The attempts as the access log lists them: only when there was more than one (a single
/// attempt is the line's `provider` and `upstream_status`), so the usual request allocates
/// nothing here.
pub fn log_lines<'c>(config: &'c Config, attempts: &[AttemptRecord]) -> Vec<AttemptLine<'c>> {
    if attempts.len() < 2 {
        return Vec::new();
    }
    let line = |a: &AttemptRecord| {
        let provider = config.providers.get(a.provider);
        let key = a.key.and_then(|k| provider?.keys.get(k));
        let (status, error) = match a.outcome {
            AttemptOutcome::Status(s) => (Some(s), None),
            AttemptOutcome::Error(e) | AttemptOutcome::Skipped(e) => (None, Some(e)),
        };
        AttemptLine {
            provider: provider.map_or("", |p| p.name.as_str()),
            key: key.map(|k| k.id.as_str()),
            status,
            error,
            ms: a.elapsed.as_millis() as u64,
        }
    };
    attempts.iter().map(line).collect()
}

/// The key for the next attempt on `target`: None when the provider has no keys (the
/// client's own credentials go), Err when it has keys but none is usable now (unless this is
/// the `last_resort`: then any key, by weight).
fn pick_key<'c>(
    state: &ProxyState,
    target: &Target<'c>,
    now: Instant,
    last_resort: bool,
) -> Result<Option<(usize, &'c Secret)>, &'static str> {
    if target.provider.keys.is_empty() {
        return Ok(None);
    }
    let usable = |k| state.health.key_usable(target.index, k, now);
    match state.keys.pick_usable(target.provider, usable) {
        Some(pick) => Ok(Some(pick)),
        None if last_resort => Ok(state.keys.pick_usable(target.provider, |_| true)),
        None => Err("no_healthy_key"),
    }
}

/// The model `target` is asked for, given the client's `requested` one: the route's or the
/// client's (without a `provider/` prefix), through the provider's `model_map`.
pub fn target_model<'a>(target: &Target<'a>, requested: Option<&'a str>) -> &'a str {
    let model = target.upstream_model(requested).unwrap_or("");
    target.provider.model_map.resolve(model)
}

/// One attempt: where it goes and with which credentials.
struct Attempt<'t, 'c, 's> {
    target: &'t Target<'c>,
    provider: &'static dyn Provider,
    credentials: Credentials<'s>,
}

/// The body for `attempt`'s provider, from the client's: translated for a translating
/// provider, the model substituted when it differs, else the client's own (no copy).
fn prepare_body<'b>(
    request: &'b Request<'_>,
    attempt: &Attempt<'_, '_, '_>,
    model: &str,
    prepared: &'b mut Vec<u8>,
) -> Result<(&'b [u8], Option<Translation>), GatewayError> {
    let (target, provider) = (attempt.target, attempt.provider);
    // An OpenAI-format client's body for an OpenAI-format provider passes as it is.
    if provider.translates() && request.inbound.is_none() {
        prepared.clear();
        prepared.extend_from_slice(request.body);
        let translation = provider.translate_request(target.provider, model, prepared)?;
        return Ok((prepared, translation));
    }
    Ok((client_body(request, provider, model, prepared)?, None))
}

/// The client's body as `provider` takes it, for `model`: an OpenAI-format client's readied for
/// the provider's dialect, the model substituted in place when it differs (into `prepared`),
/// else the body as it is (no copy).
fn client_body<'b>(
    request: &'b Request<'_>,
    provider: &dyn Provider,
    model: &str,
    prepared: &'b mut Vec<u8>,
) -> Result<&'b [u8], GatewayError> {
    let body = dialect_body(request, provider)?;
    Ok(match body.renamed(model) {
        Some(renamed) => {
            *prepared = renamed;
            prepared
        }
        None => body.bytes,
    })
}

/// A body as one dialect takes it, and where its model sits.
struct DialectBody<'b> {
    bytes: &'b [u8],
    model_span: Option<std::ops::Range<usize>>,
}

impl DialectBody<'_> {
    /// The body with `model` in place of its own, or None when it already names `model`.
    fn renamed(&self, model: &str) -> Option<Vec<u8>> {
        let span = self.model_span.clone()?;
        (self.bytes.get(span.clone()) != Some(model.as_bytes()))
            .then(|| substitute_model(self.bytes, span, model))
    }
}

/// The client's body in `provider`'s dialect: an OpenAI-format client's as the flow readied it
/// for that dialect, anyone else's as it came.
fn dialect_body<'b>(
    request: &'b Request<'_>,
    provider: &dyn Provider,
) -> Result<DialectBody<'b>, GatewayError> {
    match request.inbound {
        Some(inbound) if inbound.passthrough() != provider.translates() => {
            // The other dialect's body: where its model sits is found here (failover only).
            let bytes = inbound
                .body_for(provider.translates(), request.body)
                .ok_or_else(|| {
                    GatewayError::new(ErrorKind::NoProvider, "no body for this provider's format")
                })?;
            let peek = peek_request(bytes).map_err(|_| {
                GatewayError::new(ErrorKind::Internal, "the readied body is not JSON")
            })?;
            Ok(DialectBody {
                bytes,
                model_span: peek.model_span,
            })
        }
        _ => Ok(DialectBody {
            bytes: request.body,
            model_span: request.model_span.clone(),
        }),
    }
}

/// Writes the upstream request through the attempt's provider envelope (the body prepared
/// for it) and waits for the head: within `routing.first_byte_timeout_ms` for a streaming
/// request, the read timeout otherwise.
async fn send(
    state: &ProxyState,
    ctx: &mut RequestContext,
    request: &Request<'_>,
    attempt: &Attempt<'_, '_, '_>,
    prepared: &mut Vec<u8>,
    upstream: &mut Vec<u8>,
) -> Result<(Exchange, Option<Translation>), GatewayError> {
    let target = attempt.target;
    let model = target_model(target, request.requested);
    // A cloud kind rewrites its own copy of the body (the client's stays for the next attempt).
    let (body, translation, cloud) = match state.clouds.get(&target.provider.name) {
        Some(cloud) => {
            let body = dialect_body(request, attempt.provider)?;
            *prepared = body.renamed(model).unwrap_or_else(|| body.bytes.to_vec());
            let (route, head, stream) = (request.route, request.head, ctx.stream);
            let call = super::cloud::prepare(
                &cloud,
                target.provider,
                route,
                head,
                model,
                stream,
                prepared,
            )?;
            (&prepared[..], None, Some(call))
        }
        None if cloud::is_cloud(target.provider) => return Err(cloud::not_ready(target.provider)),
        None => {
            let (body, translation) = prepare_body(request, attempt, model, prepared)?;
            (body, translation, None)
        }
    };
    upstream.clear();
    // Metered or not, a Messages response is read for the log and metrics (tokens, tool
    // calls), and a model list gains the configured names: ask for identity whenever the
    // codec reads the body.
    let observed = request.route == Route::Messages
        || request.route.is_model_list()
        || request.inbound.is_some();
    let encoding = if request.metered || observed {
        ResponseEncoding::Identity
    } else {
        ResponseEncoding::AsClientAsked
    };
    let traceparent = outcome::begin_attempt(state, ctx, target.index);
    let upstream_request = UpstreamRequest {
        provider: target.provider,
        head: request.head,
        path: match request.inbound {
            Some(inbound) => inbound.upstream_path(),
            None if request.route == Route::OpenAiModels => openai_in::OPENAI_MODELS_UPSTREAM_PATH,
            None => routing::upstream_path(request.head.path()),
        },
        model,
        body_len: body.len(),
        credentials: attempt.credentials,
        encoding,
        trace: traceparent.as_deref().map(|traceparent| UpstreamTrace {
            traceparent,
            tracestate: ctx.trace.as_ref().and_then(|t| t.tracestate.as_deref()),
        }),
        cloud: cloud.as_ref(),
    };
    attempt
        .provider
        .write_request_head(upstream, &upstream_request);
    if let Some(inbound) = request.inbound {
        inbound.complete_head(attempt.provider.translates(), upstream);
    }
    if request.route == Route::OpenAiModels && request.head.header("anthropic-version").is_none() {
        openai_in::add_anthropic_version(upstream);
    }
    let separate_body: &[u8] = if body.len() <= SMALL_BODY_BYTES {
        upstream.extend_from_slice(body);
        &[]
    } else {
        body
    };
    let head_timeout = head_timeout(state, request, ctx.stream);
    ctx.clock.cross(Boundary::UpstreamCall);
    let exchange = state
        .upstreams
        .exchange_within(
            target.index,
            target.provider,
            upstream,
            separate_body,
            head_timeout,
        )
        .await;
    match &exchange {
        Ok(exchange) => ctx
            .clock
            .cross_at(Boundary::UpstreamAnswered, exchange.head_received_at),
        Err(_) => ctx.clock.cross(Boundary::UpstreamAnswered),
    }
    outcome::end_attempt(ctx, exchange.as_ref().map(|e| e.head.status()));
    Ok((exchange?, translation))
}

/// How long an attempt waits for its response head: `routing.first_byte_timeout_ms` for a
/// streaming request, the read timeout otherwise.
fn head_timeout(state: &ProxyState, request: &Request<'_>, stream: bool) -> Duration {
    let read_timeout = state.upstreams.read_timeout();
    if stream {
        request.config.routing.first_byte_timeout.min(read_timeout)
    } else {
        read_timeout
    }
}

/// Whether an attempt's outcome `status` means "move on" (and where), applying the key's
/// cool-down (`retry-after` read from `exchange`'s head, if any) or the breaker's count; None:
/// relay it.
fn judge<'e>(
    state: &ProxyState,
    rules: &RoutingConfig,
    provider: usize,
    key: Option<usize>,
    status: u16,
    exchange: impl Into<Option<&'e Exchange>>,
    now: Instant,
) -> Option<Next> {
    if NEVER_RETRY.contains(&status) || !rules.retry_on.contains(&status) {
        return None;
    }
    match (status, key) {
        (401 | 403, Some(k)) => {
            let until = now + rules.breaker_cooldown;
            broadcast(state, cool_down(provider, k, until));
            Some(Next::SameProvider)
        }
        (429, Some(k)) => {
            let wait = (exchange.into())
                .and_then(retry_after)
                .unwrap_or(rules.rate_limit_cooldown);
            broadcast(state, cool_down(provider, k, now + wait));
            if state.health.other_key_usable(provider, k, now) {
                Some(Next::SameProvider)
            } else {
                Some(Next::NextTarget)
            }
        }
        (401 | 403 | 429, None) => Some(Next::NextTarget),
        _ => {
            broadcast(state, failed(provider, key));
            Some(Next::NextTarget)
        }
    }
}

/// `retry-after` in whole seconds (the HTTP-date form is not used by model providers).
fn retry_after(exchange: &Exchange) -> Option<Duration> {
    let value = exchange.head.header("retry-after")?;
    let secs: u64 = std::str::from_utf8(value).ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(secs.min(MAX_RETRY_AFTER_SECS)))
}

/// The longest cool-down a `retry-after` may impose on a key (one hour).
pub const MAX_RETRY_AFTER_SECS: u64 = 3_600;

/// Applies `event` on this shard and sends it to every other.
fn broadcast(state: &ProxyState, event: HealthEvent) {
    state.health.apply(event);
    state.health_bus.broadcast(event);
}

fn cool_down(provider: usize, key: usize, until: Instant) -> HealthEvent {
    HealthEvent::CoolDown {
        provider,
        key,
        until,
    }
}

fn failed(provider: usize, key: Option<usize>) -> HealthEvent {
    HealthEvent::Failed {
        provider,
        key,
        at: Instant::now(),
    }
}

/// Claims the one half-open probe of `provider` (or its `key`) from the arbiter shard; either
/// way the breaker is held open here until the probe's hold ends (the arbiter's broadcast
/// says the same, but may arrive after its reply).
async fn claim_probe(state: &ProxyState, provider: usize, key: Option<usize>) -> bool {
    let until = Instant::now() + state.health.probe_hold();
    let granted = state.health_bus.claim_probe(provider, key, until).await;
    state.health.apply(HealthEvent::Probing {
        provider,
        key,
        until,
    });
    granted
}

/// `base` scaled by a factor in [0.5, 1.5), from the clock's low bits (no RNG needed).
fn jittered(base: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    base / 2 + base.mul_f64(f64::from(nanos % 1000) / 1000.0)
}

fn error_label(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::UpstreamUnreachable => "connect",
        ErrorKind::UpstreamTimeout => "timeout",
        ErrorKind::UpstreamProtocol => "protocol",
        _ => "error",
    }
}

/// Keeps one attempt in the request's list and counts it.
fn note(state: &ProxyState, ctx: &mut RequestContext, attempt: AttemptRecord) {
    let outcome = outcome_label(attempt.outcome);
    (state.metrics.routing).attempt(attempt.provider, attempt.key, outcome);
    ctx.attempts.push(attempt);
}

fn record(
    target: &Target<'_>,
    key: Option<usize>,
    outcome: AttemptOutcome,
    elapsed: Duration,
) -> AttemptRecord {
    AttemptRecord {
        provider: target.index,
        key,
        outcome,
        elapsed,
    }
}

fn skipped(target: &Target<'_>, why: &'static str) -> AttemptRecord {
    record(target, None, AttemptOutcome::Skipped(why), Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_half_to_one_and_a_half() {
        let base = Duration::from_millis(100);
        for _ in 0..100 {
            let j = jittered(base);
            assert!(j >= base / 2 && j < base * 3 / 2, "{j:?}");
        }
    }
}
