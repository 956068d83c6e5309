//! Prometheus series of the two background pipelines: the audit writer (its head anchor,
//! records written and dropped) and the OTLP exporter (requests exported and dropped).
//! Read from their shared atomics at scrape; nothing here touches a shard.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use super::audit::AuditStats;
use super::prometheus::header;
use super::trace::TraceStats;

/// Hex digits of the head hash exported as a number (48 bits: exact in an f64).
const HEAD_HASH_METRIC_HEX: usize = 12;

/// Appends the audit and trace pipeline series (each only when that pipeline is on).
pub fn render(out: &mut String, audit: Option<&AuditStats>, trace: Option<&TraceStats>) {
    if let Some(audit) = audit {
        let head = audit.head.lock().ok().and_then(|h| h.clone());
        if let Some(head) = head {
            header(
                out,
                "sluice_audit_head_seq",
                "gauge",
                "seq of the last fsynced audit record (the head anchor).",
            );
            let _ = writeln!(out, "sluice_audit_head_seq {}", head.seq);
            let prefix = head.hash.get(..HEAD_HASH_METRIC_HEX).unwrap_or("0");
            let value = u64::from_str_radix(prefix, 16).unwrap_or(0);
            header(
                out,
                "sluice_audit_head_hash48",
                "gauge",
                "The head record's hash, first 48 bits as a number (an outside copy of the anchor).",
            );
            let _ = writeln!(out, "sluice_audit_head_hash48 {value}");
        }
        for (name, help, value) in [
            (
                "sluice_audit_records_written_total",
                "Audit records sealed and written.",
                &audit.written,
            ),
            (
                "sluice_audit_records_dropped_total",
                "Audit records dropped (queue full or write failed); each loss is noted in the log.",
                &audit.dropped,
            ),
            (
                "sluice_audit_errors_total",
                "Audit write or fsync errors.",
                &audit.errors,
            ),
        ] {
            header(out, name, "counter", help);
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        }
    }
    if let Some(trace) = trace {
        let dropped = "Requests whose spans were dropped: queue full, or the collector failed after \
                       retries.";
        for (name, help, labels, value) in [
            (
                "sluice_trace_requests_exported_total",
                Some("Requests whose spans the OTLP collector accepted."),
                "",
                &trace.exported,
            ),
            (
                "sluice_trace_requests_dropped_total",
                Some(dropped),
                "{reason=\"queue_full\"}",
                &trace.dropped_queue_full,
            ),
            (
                "sluice_trace_requests_dropped_total",
                None,
                "{reason=\"export_failed\"}",
                &trace.dropped_export_failed,
            ),
            (
                "sluice_trace_export_retries_total",
                Some("OTLP export POSTs retried after 429/502/503/504."),
                "",
                &trace.retries,
            ),
        ] {
            if let Some(help) = help {
                header(out, name, "counter", help);
            }
            let _ = writeln!(out, "{name}{labels} {}", value.load(Ordering::Relaxed));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::audit::files::Head;

    #[test]
    fn pipelines_render_their_counters_and_the_head() {
        let audit = AuditStats::default();
        audit.dropped.store(3, Ordering::Relaxed);
        *audit.head.lock().unwrap() = Some(Head {
            seq: 41,
            hash: format!("00000000002a{}", "f".repeat(52)),
            file: "audit-000001.jsonl".into(),
        });
        let trace = TraceStats::default();
        trace.dropped_queue_full.store(7, Ordering::Relaxed);
        let mut out = String::new();
        render(&mut out, Some(&audit), Some(&trace));
        assert!(out.contains("sluice_audit_head_seq 41\n"));
        assert!(out.contains("sluice_audit_head_hash48 42\n"));
        assert!(out.contains("sluice_audit_records_dropped_total 3\n"));
        assert!(out.contains("sluice_trace_requests_dropped_total{reason=\"queue_full\"} 7\n"));
        let mut none = String::new();
        render(&mut none, None, None);
        assert!(none.is_empty());
    }
}
