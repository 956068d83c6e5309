//! The trace of one request as plain data: the SERVER span (`chat {model}`) and one CLIENT
//! span per upstream attempt, filled by the request flow and handed to the exporter whole.
//! Also the per-shard tracer that starts traces (continuing a W3C parent) and samples them.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crossbeam_channel::{Sender, TrySendError};

use super::context::{
    IdGenerator, RemoteParent, SpanId, TraceId, format_traceparent, parse_traceparent,
    parse_tracestate,
};
use super::exporter::TraceStats;
use crate::observe::audit::ToolCallRecord;

/// Where a request's trace stands: its ids, its parent, and whether it is exported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceStart {
    pub trace_id: TraceId,
    /// The request (SERVER) span's id.
    pub span_id: SpanId,
    /// The caller's span when a `traceparent` came in.
    pub parent_span_id: Option<SpanId>,
    pub sampled: bool,
    /// The incoming `tracestate`, forwarded as is.
    pub tracestate: Option<String>,
}

impl TraceStart {
    /// The `traceparent` header value for an upstream attempt whose span id is `attempt`.
    pub fn upstream_traceparent(&self, attempt: SpanId) -> String {
        format_traceparent(self.trace_id, attempt, self.sampled)
    }
}

/// Token counts for the `gen_ai.usage.*` attributes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpanUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_input_tokens: u64,
    pub cache_creation_input_tokens: u64,
}

/// One upstream attempt (a CLIENT span under the request span).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttemptSpan {
    /// The id given to the attempt before it was sent (its `traceparent` carried it).
    pub span_id: Option<SpanId>,
    pub start_unix_nanos: u64,
    pub end_unix_nanos: u64,
    /// `gen_ai.provider.name` (the provider registry's `genai_name`).
    pub provider: String,
    /// The model id sent upstream.
    pub model: String,
    pub server_address: String,
    pub server_port: Option<u16>,
    /// The upstream status, if it answered.
    pub status: Option<u16>,
    /// Why it failed (`connect`, `timeout`, `http_503`, ...), if it did.
    pub error_type: Option<String>,
}

/// One finished request, everything the exporter turns into spans.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RequestSpan {
    pub trace: Option<TraceStart>,
    pub start_unix_nanos: u64,
    pub end_unix_nanos: u64,
    /// `gen_ai.operation.name`: `chat` for Messages and Chat Completions.
    pub operation: &'static str,
    pub provider: Option<String>,
    pub request_model: Option<String>,
    pub max_tokens: Option<u64>,
    pub response_model: Option<String>,
    pub response_id: Option<String>,
    pub finish_reasons: Vec<String>,
    pub usage: SpanUsage,
    /// The upstream host that served (`server.address` on the request span).
    pub server_address: Option<String>,
    pub status: u16,
    pub error_type: Option<String>,
    pub key_id: Option<String>,
    pub team: Option<String>,
    pub customer: Option<String>,
    pub cost_pico_usd: u64,
    pub ttft_nanos: Option<u64>,
    pub overhead_nanos: u64,
    pub tool_calls: Vec<ToolCallRecord>,
    pub attempts: Vec<AttemptSpan>,
}

/// Nanoseconds since the Unix epoch, now.
pub fn unix_nanos_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// A shard's tracer: starts traces and hands finished ones to the exporter without blocking.
pub struct ShardTracer {
    tx: Sender<Option<RequestSpan>>,
    stats: Arc<TraceStats>,
    sample_ratio: f64,
    ids: IdGenerator,
}

impl ShardTracer {
    pub(super) fn new(
        tx: Sender<Option<RequestSpan>>,
        stats: Arc<TraceStats>,
        sample_ratio: f64,
    ) -> Self {
        ShardTracer {
            tx,
            stats,
            sample_ratio,
            ids: IdGenerator::new(),
        }
    }

    /// Starts a request's trace from its `traceparent`/`tracestate` headers (raw values, if
    /// present). A valid parent is continued and its sampling decision followed; otherwise a
    /// new trace starts, sampled with `sample_ratio`.
    pub fn start(&self, traceparent: Option<&[u8]>, tracestate: Option<&[u8]>) -> TraceStart {
        match traceparent.and_then(parse_traceparent) {
            Some(RemoteParent {
                trace_id,
                span_id,
                sampled,
            }) => TraceStart {
                trace_id,
                span_id: self.ids.span_id(),
                parent_span_id: Some(span_id),
                sampled,
                tracestate: tracestate.and_then(parse_tracestate),
            },
            None => TraceStart {
                trace_id: self.ids.trace_id(),
                span_id: self.ids.span_id(),
                parent_span_id: None,
                sampled: self.ids.sample(self.sample_ratio),
                tracestate: None,
            },
        }
    }

    /// The exporter's shared counters (read at scrape).
    pub fn stats(&self) -> &TraceStats {
        &self.stats
    }

    /// A new span id for an upstream attempt (before it is sent, for its `traceparent`).
    pub fn attempt_span_id(&self) -> SpanId {
        self.ids.span_id()
    }

    /// Hands a finished request to the exporter if its trace is sampled. Never blocks: a full
    /// queue drops it and counts it. Returns whether it was queued.
    pub fn finish(&self, span: RequestSpan) -> bool {
        if !span.trace.as_ref().is_some_and(|t| t.sampled) {
            return false;
        }
        match self.tx.try_send(Some(span)) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.stats
                    .dropped_queue_full
                    .fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }
}
