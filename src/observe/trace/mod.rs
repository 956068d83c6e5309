//! Tracing: each request as an OTLP trace with OpenTelemetry's GenAI conventions, exported
//! from a background thread so a slow or dead collector never costs a shard time.
//!
//! The shard side is [`ShardTracer`]: `start` a trace from the request's W3C headers, give
//! each upstream attempt a span id (its `traceparent` goes upstream), then `finish` with a
//! filled [`RequestSpan`]. The exporter batches, encodes and POSTs.

pub mod context;
pub mod exporter;
pub mod otlp;
pub mod span;

pub use context::{SpanId, TraceId, format_traceparent, parse_traceparent};
pub use exporter::{SPAN_QUEUE_CAPACITY, TraceExporter, TraceStats};
pub use span::{AttemptSpan, RequestSpan, ShardTracer, SpanUsage, TraceStart, unix_nanos_now};
