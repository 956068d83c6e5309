//! Observability: per-shard metrics merged at scrape time, the Prometheus rendering and the access
//! log (one JSON line per request, written off the shards).

pub mod access_log;
pub mod alloc_count;
pub mod metrics;
pub mod prometheus;
pub mod record;
pub mod request_id;
pub mod summary;
