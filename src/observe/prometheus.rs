//! Renders merged shard snapshots in the Prometheus text exposition format (version 0.0.4):
//! `# HELP` / `# TYPE`, cumulative `_bucket{le}` series ending in `+Inf`, `_sum`, `_count`.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::metrics::{Latency, MetricsSnapshot, TOKEN_KINDS};
use crate::governance::{Governor, Level};

/// The content type of the exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Bucket bounds (seconds) for sluice's own overhead: microseconds matter here.
const OVERHEAD_BUCKETS: [f64; 14] = [
    1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 5e-3, 1e-2, 1e-1, 1.0,
];
/// Bucket bounds (seconds) for upstream and total times: LLM calls take seconds to minutes.
const DURATION_BUCKETS: [f64; 17] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
    600.0,
];
/// Quantiles exported as gauges beside the overhead histogram (exact to 1%).
const OVERHEAD_QUANTILES: [f64; 4] = [0.5, 0.9, 0.99, 0.999];

/// Merges the snapshots of every shard and renders them.
pub fn render(snapshots: &[MetricsSnapshot]) -> String {
    let mut out = String::with_capacity(8 * 1024);
    let Some(first) = snapshots.first() else {
        return out;
    };
    let mut requests: BTreeMap<(&str, u16), u64> = BTreeMap::new();
    let mut rejections: BTreeMap<&str, u64> = BTreeMap::new();
    let mut overhead = first.overhead.clone();
    let mut ttfb = first.upstream_ttfb.clone();
    let mut duration = first.duration.clone();
    let (mut bytes_in, mut bytes_out, mut conns, mut streams) = (0, 0, 0, 0);
    let mut tokens = [0u64; 4];
    let mut allocations = 0;
    for (i, s) in snapshots.iter().enumerate() {
        for &(path, status, n) in &s.requests {
            *requests.entry((path, status)).or_insert(0) += n;
        }
        for &(reason, n) in &s.rejections {
            *rejections.entry(reason).or_insert(0) += n;
        }
        if i > 0 {
            overhead.merge(&s.overhead);
            ttfb.merge(&s.upstream_ttfb);
            duration.merge(&s.duration);
        }
        bytes_in += s.bytes_in;
        bytes_out += s.bytes_out;
        conns += s.active_connections;
        allocations += s.allocations;
        streams += s.active_streams;
        for (total, n) in tokens.iter_mut().zip(s.tokens) {
            *total += n;
        }
    }

    header(
        &mut out,
        "sluice_requests_total",
        "counter",
        "Requests answered, by path and status.",
    );
    for ((path, status), n) in &requests {
        let _ = writeln!(
            out,
            "sluice_requests_total{{path=\"{path}\",status=\"{status}\"}} {n}"
        );
    }
    header(
        &mut out,
        "sluice_rejections_total",
        "counter",
        "Requests refused by governance, by reason.",
    );
    for (reason, n) in &rejections {
        let _ = writeln!(out, "sluice_rejections_total{{reason=\"{reason}\"}} {n}");
    }
    counter(
        &mut out,
        "sluice_received_bytes_total",
        "Bytes received from clients.",
        bytes_in,
    );
    counter(
        &mut out,
        "sluice_sent_bytes_total",
        "Bytes sent to clients.",
        bytes_out,
    );
    gauge(
        &mut out,
        "sluice_active_connections",
        "Open client connections.",
        conns,
    );
    gauge(
        &mut out,
        "sluice_active_streams",
        "SSE streams being relayed.",
        streams,
    );
    if allocations > 0 {
        counter(
            &mut out,
            "sluice_allocations_total",
            "Heap allocations made by the shard threads (count-allocations builds only).",
            allocations,
        );
    }
    gauge(
        &mut out,
        "sluice_shards",
        "Shards (one per core) serving.",
        snapshots.len() as i64,
    );
    header(
        &mut out,
        "sluice_tokens_total",
        "counter",
        "Tokens reported by upstreams, by kind.",
    );
    for (kind, n) in TOKEN_KINDS.iter().zip(tokens) {
        let _ = writeln!(out, "sluice_tokens_total{{kind=\"{kind}\"}} {n}");
    }
    histogram(
        &mut out,
        "sluice_overhead_seconds",
        "Time spent inside sluice per request, upstream and client waits excluded.",
        &overhead,
        &OVERHEAD_BUCKETS,
    );
    header(
        &mut out,
        "sluice_overhead_quantile_seconds",
        "gauge",
        "Quantiles of sluice_overhead_seconds from the full-resolution histogram.",
    );
    for q in OVERHEAD_QUANTILES {
        let v = overhead.histogram.value_at_quantile(q) as f64 * overhead.unit_ns as f64 / 1e9;
        let _ = writeln!(
            out,
            "sluice_overhead_quantile_seconds{{quantile=\"{q}\"}} {v:e}"
        );
    }
    histogram(
        &mut out,
        "sluice_upstream_ttfb_seconds",
        "Time from the request's last byte sent upstream to the response head.",
        &ttfb,
        &DURATION_BUCKETS,
    );
    histogram(
        &mut out,
        "sluice_request_duration_seconds",
        "Total time from the request head to the response's last byte.",
        &duration,
        &DURATION_BUCKETS,
    );
    out
}

/// Appends spend and remaining budget per key, team and customer, as shard 0 sees them (its
/// spend view is global: every shard's settlements reach it as deltas).
pub fn render_governance(out: &mut String, gov: &Governor) {
    header(
        out,
        "sluice_governance_spent_usd",
        "gauge",
        "Settled spend in the current budget window.",
    );
    let mut remaining = String::new();
    for level in [Level::Key, Level::Team, Level::Customer, Level::Provider] {
        for usage in gov.list_usage(level) {
            for b in &usage.budgets {
                let labels = format!(
                    "level=\"{}\",id=\"{}\",reset=\"{}\"",
                    level.as_str(),
                    usage.id.replace(['\\', '"', '\n'], "_"),
                    b.budget.reset.as_str()
                );
                let _ = writeln!(
                    out,
                    "sluice_governance_spent_usd{{{labels}}} {}",
                    b.spent_pico as f64 / 1e12
                );
                let _ = writeln!(
                    remaining,
                    "sluice_governance_remaining_usd{{{labels}}} {}",
                    b.remaining_pico as f64 / 1e12
                );
            }
        }
    }
    header(
        out,
        "sluice_governance_remaining_usd",
        "gauge",
        "Budget left in the current window.",
    );
    out.push_str(&remaining);
    let overshoot = gov.overshoot();
    for (name, help, value) in [
        (
            "sluice_budget_overshoot_requests_total",
            "Strict-mode requests whose usage went past their reservation.",
            overshoot.requests as f64,
        ),
        (
            "sluice_budget_overshoot_usd_total",
            "Strict-mode cost beyond the reservations.",
            overshoot.pico as f64 / 1e12,
        ),
        (
            "sluice_budget_overshoot_tokens_total",
            "Strict-mode tokens beyond the token reservations.",
            overshoot.tokens as f64,
        ),
    ] {
        header(out, name, "counter", help);
        let _ = writeln!(out, "{name} {value}");
    }
}

pub(crate) fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    header(out, name, "counter", help);
    let _ = writeln!(out, "{name} {value}");
}

fn gauge(out: &mut String, name: &str, help: &str, value: i64) {
    header(out, name, "gauge", help);
    let _ = writeln!(out, "{name} {value}");
}

fn histogram(out: &mut String, name: &str, help: &str, latency: &Latency, bounds: &[f64]) {
    header(out, name, "histogram", help);
    histogram_series(out, name, "", latency, bounds);
}

/// One histogram series (buckets, sum, count) with `labels` (`a="x",b="y"`, or empty).
pub(crate) fn histogram_series(
    out: &mut String,
    name: &str,
    labels: &str,
    latency: &Latency,
    bounds: &[f64],
) {
    let h = &latency.histogram;
    let unit = latency.unit_ns as f64 / 1e9;
    let sep = if labels.is_empty() { "" } else { "," };
    for &le in bounds {
        let limit = (le / unit) as u64;
        let count = if limit == 0 {
            0
        } else {
            h.count_between(0, limit)
        };
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {count}");
    }
    let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}", h.len());
    let braces = if labels.is_empty() {
        String::new()
    } else {
        format!("{{{labels}}}")
    };
    let _ = writeln!(out, "{name}_sum{braces} {:e}", latency.sum as f64 * unit);
    let _ = writeln!(out, "{name}_count{braces} {}", h.len());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::metrics::ShardMetrics;

    #[test]
    fn empty_metrics_render_valid_series() {
        let a = ShardMetrics::new(0).snapshot();
        let b = ShardMetrics::new(1).snapshot();
        let text = render(&[a, b]);
        assert!(text.contains("# TYPE sluice_overhead_seconds histogram\n"));
        assert!(text.contains("sluice_overhead_seconds_bucket{le=\"+Inf\"} 0\n"));
        assert!(text.contains("sluice_shards 2\n"));
        assert!(text.ends_with('\n'));
        for line in text.lines() {
            assert!(
                line.starts_with('#') || line.split(' ').count() == 2,
                "{line}"
            );
        }
    }
}
