//! Why this exists: the trace, the audit record and the GenAI metrics of one request are built
//! here, from its finished `RequestContext`, so `finish` makes one call and the flow keeps one
//! hook per upstream attempt. Everything leaves the shard without blocking (bounded channels).

use std::time::{Duration, Instant};

use super::context::{Attempt, RequestContext};
use super::state::ProxyState;
use crate::error::GatewayError;
use crate::governance::Usage;
use crate::http::head::RequestHead;
use crate::observe::audit::{
    AttemptRecord, RequestRecord as AuditRequest, TokenRecord, ToolCallRecord, UnixMillis,
};
use crate::observe::genai_metrics::{GenAiOutcome, TokenUse};
use crate::observe::trace::{AttemptSpan, RequestSpan, SpanUsage, TraceStart, unix_nanos_now};
use crate::routing::Route;

/// The GenAI operation of a Messages call.
const OPERATION: &str = "chat";

/// Starts the request's trace from its W3C headers, when tracing is on.
pub fn start_trace(state: &ProxyState, head: &RequestHead) -> Option<TraceStart> {
    let tracer = state.tracer.as_ref()?;
    Some(tracer.start(head.header("traceparent"), head.header("tracestate")))
}

/// Records the start of an upstream attempt at provider `provider` and returns the
/// `traceparent` it carries (None when the request is not traced).
pub fn begin_attempt(
    state: &ProxyState,
    ctx: &mut RequestContext,
    provider: usize,
) -> Option<String> {
    if state.tracer.is_none() && state.audit.is_none() {
        return None;
    }
    let traced = ctx.trace.as_ref().filter(|t| t.sampled);
    let span_id = traced
        .and(state.tracer.as_ref())
        .map(|tracer| tracer.attempt_span_id());
    let traceparent = traced
        .zip(span_id)
        .map(|(trace, id)| trace.upstream_traceparent(id));
    ctx.spans.push(Attempt {
        provider,
        span_id,
        started: Instant::now(),
        ended: None,
        status: None,
        error: None,
    });
    traceparent
}

/// Records how the current attempt's exchange ended: a response status, or the error.
pub fn end_attempt(ctx: &mut RequestContext, result: Result<u16, &GatewayError>) {
    let Some(attempt) = ctx.spans.last_mut() else {
        return;
    };
    match result {
        Ok(status) => attempt.status = Some(status),
        Err(e) => {
            attempt.ended = Some(Instant::now());
            attempt.error = Some(e.anthropic_type());
        }
    }
}

/// Converts instants of this request to Unix nanoseconds against one reading of both clocks.
struct Clock {
    now: Instant,
    now_unix_nanos: u64,
}

impl Clock {
    fn unix_nanos(&self, at: Instant) -> u64 {
        let ago = self.now.saturating_duration_since(at);
        self.now_unix_nanos
            .saturating_sub(u64::try_from(ago.as_nanos()).unwrap_or(u64::MAX))
    }
}

/// The values every sink reads, computed once.
struct Facts<'a> {
    provider: Option<&'a crate::config::ProviderConfig>,
    team: Option<std::rc::Rc<str>>,
    customer: Option<std::rc::Rc<str>>,
    usage: Usage,
    error_type: Option<&'a str>,
    ttft: Option<Duration>,
    duration: Duration,
}

/// Moves the request body into `ctx` for the audit writer (which reads the tool results of
/// its last user turn), when the audit log is on and it was not moved already. The scratch
/// buffer is left empty: the body is moved, never copied.
pub fn keep_body(state: &ProxyState, ctx: &mut RequestContext, body: &mut Vec<u8>) {
    if state.audit.is_some() && ctx.audit_body.is_none() && !body.is_empty() {
        ctx.audit_body = Some(std::mem::take(body));
    }
}

/// Records the finished request to the GenAI metrics, the trace exporter and the audit log.
pub fn observe_request(
    state: &ProxyState,
    head: Option<&RequestHead>,
    ctx: &mut RequestContext,
    fault: Option<&GatewayError>,
) {
    let model_call = ctx.route == Some(Route::Messages) && ctx.provider.is_some();
    if !model_call && state.audit.is_none() {
        return;
    }
    let (team, customer) = ctx
        .key
        .map_or((None, None), |key| state.gov.key_owners(key));
    let summary = ctx.summary.as_ref();
    let facts = Facts {
        provider: ctx.provider.and_then(|i| state.config.providers.get(i)),
        team,
        customer,
        usage: summary.map(|s| s.usage.clone()).unwrap_or_default(),
        error_type: fault
            .map(GatewayError::anthropic_type)
            .or_else(|| summary.and_then(|s| s.error_type.as_deref())),
        ttft: ctx
            .first_body_at
            .map(|at| at.saturating_duration_since(ctx.started)),
        duration: ctx.started.elapsed(),
    };
    if model_call {
        record_genai(state, ctx, &facts);
        send_trace(state, ctx, &facts);
    }
    let body = ctx.audit_body.take();
    send_audit(state, head, ctx, &facts, fault, body);
}

fn record_genai(state: &ProxyState, ctx: &RequestContext, facts: &Facts<'_>) {
    let u = &facts.usage;
    state.metrics.genai.record(&GenAiOutcome {
        operation: OPERATION,
        provider: facts.provider.map_or("", |p| p.name.as_str()),
        request_model: ctx.model.as_deref().unwrap_or(""),
        key_id: ctx.key_id.as_deref(),
        team: facts.team.as_deref(),
        customer: facts.customer.as_deref(),
        tokens: TokenUse {
            input: u.input_tokens,
            output: u.output_tokens,
            cache_read: u.cache_read_input_tokens,
            cache_creation: u.cache_creation_input_tokens,
        },
        cost_pico_usd: ctx.cost_pico.unwrap_or(0),
        duration: facts.duration,
        ttft: facts.ttft,
        error_type: facts.error_type,
    });
}

fn tool_calls(ctx: &RequestContext) -> Vec<ToolCallRecord> {
    ctx.summary.as_ref().map_or_else(Vec::new, |s| {
        s.tool_calls
            .iter()
            .map(|c| ToolCallRecord {
                id: c.id.clone(),
                name: c.name.clone(),
                input_json: c.input_json.clone(),
            })
            .collect()
    })
}

fn send_trace(state: &ProxyState, ctx: &RequestContext, facts: &Facts<'_>) {
    let Some(tracer) = &state.tracer else {
        return;
    };
    let Some(trace) = ctx.trace.clone().filter(|t| t.sampled) else {
        return;
    };
    let clock = Clock {
        now: Instant::now(),
        now_unix_nanos: unix_nanos_now(),
    };
    let summary = ctx.summary.as_ref();
    let genai_name = |i: usize| {
        state
            .config
            .providers
            .get(i)
            .map(|p| crate::providers::genai_name(p.kind))
    };
    let attempts = ctx
        .spans
        .iter()
        .map(|a| {
            let provider = state.config.providers.get(a.provider);
            AttemptSpan {
                span_id: a.span_id,
                start_unix_nanos: clock.unix_nanos(a.started),
                end_unix_nanos: clock.unix_nanos(a.ended.unwrap_or(clock.now)),
                provider: genai_name(a.provider).unwrap_or_default().to_owned(),
                model: ctx.model.clone().unwrap_or_default(),
                server_address: provider
                    .map(|p| p.base_url.host.clone())
                    .unwrap_or_default(),
                server_port: provider.map(|p| p.base_url.port),
                status: a.status,
                error_type: a.error.map(str::to_owned),
            }
        })
        .collect();
    let u = &facts.usage;
    tracer.finish(RequestSpan {
        trace: Some(trace),
        start_unix_nanos: clock.unix_nanos(ctx.started),
        end_unix_nanos: clock.now_unix_nanos,
        operation: OPERATION,
        provider: ctx.provider.and_then(genai_name).map(str::to_owned),
        request_model: ctx.model.clone(),
        max_tokens: ctx.max_tokens,
        response_model: summary.and_then(|s| s.model.clone()),
        response_id: summary.and_then(|s| s.message_id.clone()),
        finish_reasons: summary
            .and_then(|s| s.stop_reason.clone())
            .into_iter()
            .collect(),
        usage: SpanUsage {
            input_tokens: u.input_tokens,
            output_tokens: u.output_tokens,
            cache_read_input_tokens: u.cache_read_input_tokens,
            cache_creation_input_tokens: u.cache_creation_input_tokens,
        },
        server_address: facts.provider.map(|p| p.base_url.host.clone()),
        status: ctx.status,
        error_type: facts.error_type.map(str::to_owned),
        key_id: ctx.key_id.as_deref().map(str::to_owned),
        team: facts.team.as_deref().map(str::to_owned),
        customer: facts.customer.as_deref().map(str::to_owned),
        cost_pico_usd: ctx.cost_pico.unwrap_or(0),
        ttft_nanos: facts
            .ttft
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        overhead_nanos: u64::try_from(ctx.clock.own_time().as_nanos()).unwrap_or(u64::MAX),
        tool_calls: tool_calls(ctx),
        attempts,
    });
}

fn send_audit(
    state: &ProxyState,
    head: Option<&RequestHead>,
    ctx: &RequestContext,
    facts: &Facts<'_>,
    fault: Option<&GatewayError>,
    body: Option<Vec<u8>>,
) {
    let Some(audit) = &state.audit else {
        return;
    };
    let summary = ctx.summary.as_ref();
    let name = |i: usize| state.config.providers.get(i).map(|p| p.name.clone());
    let now_ms = UnixMillis::now().0;
    let elapsed_ms = u64::try_from(facts.duration.as_millis()).unwrap_or(u64::MAX);
    let u = &facts.usage;
    let record = AuditRequest {
        time: UnixMillis(now_ms.saturating_sub(elapsed_ms)),
        request_id: ctx.request_id.as_str().to_owned(),
        key_id: ctx.key_id.as_deref().map(str::to_owned),
        team: facts.team.as_deref().map(str::to_owned),
        customer: facts.customer.as_deref().map(str::to_owned),
        client_addr: ctx.client_addr.map(|a| a.to_string()),
        method: head.map_or_else(String::new, |h| h.method().to_owned()),
        path: head.map_or_else(String::new, |h| h.path().to_owned()),
        provider: ctx.provider.and_then(name),
        model_requested: ctx.model.clone(),
        model_served: summary.and_then(|s| s.model.clone()),
        attempts: ctx
            .spans
            .iter()
            .map(|a| AttemptRecord {
                provider: name(a.provider).unwrap_or_default(),
                status: a.status,
                error: a.error.map(str::to_owned),
            })
            .collect(),
        status: ctx.status,
        tokens: TokenRecord {
            input: u.input_tokens,
            output: u.output_tokens,
            cache_read: u.cache_read_input_tokens,
            cache_write: u.cache_creation_input_tokens,
        },
        cost_pico_usd: ctx.cost_pico.unwrap_or(0),
        latency_ms: elapsed_ms,
        ttft_ms: facts
            .ttft
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        stop_reason: summary.and_then(|s| s.stop_reason.clone()),
        error: fault.map(|e| e.message.to_string()),
        tool_calls: Vec::new(),
        tool_results: Vec::new(),
    };
    let messages = ctx.route == Some(Route::Messages);
    audit.record_request(record, tool_calls(ctx), body.filter(|_| messages));
}
