//! Observability: per-shard metrics merged at scrape time, the Prometheus rendering, the admin
//! listener, the access log (one JSON line per request, written off the shards), OTLP traces
//! and the hash-chained audit log (both exported by background threads).

pub mod access_log;
pub mod alloc_count;
pub mod audit;
pub mod export_metrics;
pub mod genai_metrics;
pub mod mcp_metrics;
pub mod metrics;
pub mod prometheus;
pub mod record;
pub mod request_id;
pub mod routing_metrics;
pub mod summary;
pub mod trace;
