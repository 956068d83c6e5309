//! Turns a run's merged statistics into the printed summary and the JSON result file, with
//! latencies in microseconds.

use hdrhistogram::Histogram;
use serde_json::{Map, Value, json};

use crate::load::stats::{Stats, peak_concurrency};

/// What was asked of the run, echoed into the results.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// `open-loop` or `concurrent-streams`.
    pub mode: &'static str,
    pub profile: &'static str,
    pub url: String,
    /// Target rate (open loop only).
    pub rate: Option<f64>,
    /// Streams held (concurrent-streams only).
    pub streams: Option<u64>,
    pub connections: u64,
    pub senders: u64,
    /// Requests in the schedule (open loop only).
    pub scheduled: Option<u64>,
    /// Seconds of the run not recorded.
    pub warmup_secs: f64,
}

fn micros(nanos: u64) -> f64 {
    (nanos as f64 / 100.0).round() / 10.0
}

/// Count, mean and the reported percentiles of a nanosecond histogram, in microseconds.
pub fn percentiles(histogram: &Histogram<u64>) -> Value {
    if histogram.is_empty() {
        return json!({"count": 0});
    }
    json!({
        "count": histogram.len(),
        "mean": micros(histogram.mean() as u64),
        "p50": micros(histogram.value_at_quantile(0.50)),
        "p90": micros(histogram.value_at_quantile(0.90)),
        "p99": micros(histogram.value_at_quantile(0.99)),
        "p99_9": micros(histogram.value_at_quantile(0.999)),
        "max": micros(histogram.max()),
    })
}

/// The whole result as JSON.
pub fn summary_json(info: &RunInfo, stats: &Stats) -> Value {
    let recorded_secs = (stats.last_done_nanos as f64 / 1e9 - info.warmup_secs).max(1e-9);
    let status: Map<String, Value> = stats
        .errors
        .status
        .iter()
        .map(|(code, n)| (code.to_string(), json!(n)))
        .collect();
    let mut result = json!({
        "mode": info.mode,
        "profile": info.profile,
        "url": info.url,
        "connections": info.connections,
        "senders": info.senders,
        "warmup_s": info.warmup_secs,
        "sent": stats.sent,
        "ok": stats.ok,
        "warmup_requests": stats.warmup,
        "errors": {
            "total": stats.errors.total(),
            "connect": stats.errors.connect,
            "timeout": stats.errors.timeout,
            "parse": stats.errors.parse,
            "io": stats.errors.io,
            "status": status,
        },
        "recorded_s": recorded_secs,
        "achieved_rps": stats.sent as f64 / recorded_secs,
        "ok_rps": stats.ok as f64 / recorded_secs,
        "bytes_in": stats.bytes_in,
        "latency_us": percentiles(&stats.latency),
        "ttfb_us": percentiles(&stats.ttfb),
        "ttft_us": percentiles(&stats.ttft),
        "send_lag_us": percentiles(&stats.send_lag),
    });
    if let Some(rate) = info.rate {
        result["target_rps"] = json!(rate);
    }
    if let Some(scheduled) = info.scheduled {
        result["scheduled"] = json!(scheduled);
    }
    if let Some(streams) = info.streams {
        result["streams"] = json!(streams);
        result["peak_open_streams"] = json!(peak_concurrency(&stats.stream_spans));
    }
    result
}

fn line(name: &str, value: &Value) -> String {
    let get = |key: &str| value.get(key).and_then(Value::as_f64).unwrap_or(0.0);
    if value.get("count").and_then(Value::as_u64).unwrap_or(0) == 0 {
        return format!("  {name:<8} (none)");
    }
    format!(
        "  {name:<8} p50 {:>9.1}  p90 {:>9.1}  p99 {:>9.1}  p99.9 {:>9.1}  max {:>9.1}  (us, n={})",
        get("p50"),
        get("p90"),
        get("p99"),
        get("p99_9"),
        get("max"),
        get("count"),
    )
}

/// The human summary printed at the end of a run.
pub fn summary_text(summary: &Value) -> String {
    let text = |key: &str| summary.get(key).map(|v| v.to_string()).unwrap_or_default();
    let number = |key: &str| summary.get(key).and_then(Value::as_f64).unwrap_or(0.0);
    let mut out = format!(
        "{} {} -> {}\n  sent {} ok {}  achieved {:.0} req/s",
        text("mode"),
        text("profile"),
        text("url"),
        text("sent"),
        text("ok"),
        number("achieved_rps"),
    );
    if let Some(rate) = summary.get("target_rps") {
        out.push_str(&format!(" (target {rate})"));
    }
    if let Some(peak) = summary.get("peak_open_streams") {
        out.push_str(&format!("  peak open streams {peak}"));
    }
    out.push_str(&format!(
        "\n  errors {}\n",
        summary
            .get("errors")
            .map(Value::to_string)
            .unwrap_or_default()
    ));
    for (name, key) in [
        ("total", "latency_us"),
        ("ttfb", "ttfb_us"),
        ("ttft", "ttft_us"),
        ("send lag", "send_lag_us"),
    ] {
        out.push_str(&line(name, summary.get(key).unwrap_or(&Value::Null)));
        out.push('\n');
    }
    out
}
