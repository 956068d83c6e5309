//! MCP tool-call metrics of one shard (`sluice_mcp_calls_total{server,tool,outcome}` and the call
//! latency by server), kept in shard-local cells and merged across shards at scrape time.
//! Label values need no escaping: server names and tool names are restricted to
//! `A-Z a-z 0-9 _ - .` by the configuration and the catalog.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

/// Upper bounds (seconds) of the call-latency histogram's buckets.
pub const CALL_SECONDS_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
];

/// One server's call latencies: bucket counts (cumulative at render), count and sum.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CallLatency {
    pub buckets: [u64; CALL_SECONDS_BUCKETS.len()],
    pub count: u64,
    pub sum_seconds: f64,
}

impl CallLatency {
    fn record(&mut self, d: Duration) {
        let seconds = d.as_secs_f64();
        if let Some(i) = CALL_SECONDS_BUCKETS.iter().position(|b| seconds <= *b) {
            self.buckets[i] += 1;
        }
        self.count += 1;
        self.sum_seconds += seconds;
    }

    fn merge(&mut self, other: &CallLatency) {
        for (a, b) in self.buckets.iter_mut().zip(other.buckets) {
            *a += b;
        }
        self.count += other.count;
        self.sum_seconds += other.sum_seconds;
    }
}

/// A copy of one shard's MCP metrics, sent to the scraping shard.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct McpMetricsSnapshot {
    /// (server, tool, outcome) → calls.
    pub calls: BTreeMap<(String, String, &'static str), u64>,
    pub latency: BTreeMap<String, CallLatency>,
}

/// One shard's live MCP metrics.
#[derive(Default)]
pub struct McpShardMetrics {
    inner: RefCell<McpMetricsSnapshot>,
}

impl McpShardMetrics {
    /// Counts one finished call (`tool` is the public `<server>__<tool>` name's tool part).
    pub fn record_call(&self, server: &str, tool: &str, outcome: &'static str, took: Duration) {
        let mut inner = self.inner.borrow_mut();
        *inner
            .calls
            .entry((server.to_owned(), tool.to_owned(), outcome))
            .or_insert(0) += 1;
        inner
            .latency
            .entry(server.to_owned())
            .or_default()
            .record(took);
    }

    pub fn snapshot(&self) -> McpMetricsSnapshot {
        self.inner.borrow().clone()
    }
}

/// Appends the merged MCP metrics of every shard in the Prometheus text format.
pub fn render<'a>(out: &mut String, shards: impl IntoIterator<Item = &'a McpMetricsSnapshot>) {
    let mut merged = McpMetricsSnapshot::default();
    for shard in shards {
        for (key, n) in &shard.calls {
            *merged.calls.entry(key.clone()).or_insert(0) += n;
        }
        for (server, latency) in &shard.latency {
            merged
                .latency
                .entry(server.clone())
                .or_default()
                .merge(latency);
        }
    }
    out.push_str("# HELP sluice_mcp_calls_total MCP tools/call requests through /mcp by server, tool and outcome.\n");
    out.push_str("# TYPE sluice_mcp_calls_total counter\n");
    for ((server, tool, outcome), n) in &merged.calls {
        let _ = writeln!(
            out,
            "sluice_mcp_calls_total{{server=\"{server}\",tool=\"{tool}\",outcome=\"{outcome}\"}} {n}"
        );
    }
    out.push_str("# HELP sluice_mcp_call_duration_seconds MCP tools/call latency by server, as sluice saw it.\n");
    out.push_str("# TYPE sluice_mcp_call_duration_seconds histogram\n");
    for (server, latency) in &merged.latency {
        let mut cumulative = 0;
        for (bound, n) in CALL_SECONDS_BUCKETS.iter().zip(latency.buckets) {
            cumulative += n;
            let _ = writeln!(
                out,
                "sluice_mcp_call_duration_seconds_bucket{{server=\"{server}\",le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "sluice_mcp_call_duration_seconds_bucket{{server=\"{server}\",le=\"+Inf\"}} {}",
            latency.count
        );
        let _ = writeln!(
            out,
            "sluice_mcp_call_duration_seconds_sum{{server=\"{server}\"}} {}",
            latency.sum_seconds
        );
        let _ = writeln!(
            out,
            "sluice_mcp_call_duration_seconds_count{{server=\"{server}\"}} {}",
            latency.count
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_merge_into_counters_and_a_cumulative_histogram() {
        let a = McpShardMetrics::default();
        let b = McpShardMetrics::default();
        a.record_call("web", "echo", "ok", Duration::from_millis(2));
        b.record_call("web", "echo", "ok", Duration::from_millis(200));
        b.record_call("web", "fail", "tool_error", Duration::from_secs(60));
        let mut out = String::new();
        render(&mut out, [&a.snapshot(), &b.snapshot()]);
        assert!(
            out.contains("sluice_mcp_calls_total{server=\"web\",tool=\"echo\",outcome=\"ok\"} 2")
        );
        assert!(out.contains("{server=\"web\",tool=\"fail\",outcome=\"tool_error\"} 1"));
        assert!(
            out.contains("sluice_mcp_call_duration_seconds_bucket{server=\"web\",le=\"0.0025\"} 1")
        );
        assert!(
            out.contains("sluice_mcp_call_duration_seconds_bucket{server=\"web\",le=\"0.25\"} 2")
        );
        assert!(
            out.contains("sluice_mcp_call_duration_seconds_bucket{server=\"web\",le=\"30\"} 2")
        );
        assert!(
            out.contains("sluice_mcp_call_duration_seconds_bucket{server=\"web\",le=\"+Inf\"} 3")
        );
        assert!(out.contains("sluice_mcp_call_duration_seconds_count{server=\"web\"} 3"));
    }
}
