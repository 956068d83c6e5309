//! The broker's counters, process-wide atomics read at scrape (one broker per process), and
//! their Prometheus series.

use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Whether this process runs the Redis backend at all (no series otherwise).
pub static CONFIGURED: AtomicBool = AtomicBool::new(false);
/// Whether Redis answered the last round trip.
pub static UP: AtomicBool = AtomicBool::new(false);
/// Up/down transitions since start.
pub static CHANGES: AtomicU64 = AtomicU64::new(0);
/// Settled usage and key writes waiting for Redis.
pub static PENDING: AtomicU64 = AtomicU64::new(0);
/// Lease round trips (refills) and the share they brought.
pub static LEASES: AtomicU64 = AtomicU64::new(0);
/// Lease round trips that granted less than asked.
pub static LEASES_SHORT: AtomicU64 = AtomicU64::new(0);

/// Appends the backend series (only when the Redis backend is configured).
pub fn render_metrics(out: &mut String) {
    if !CONFIGURED.load(Ordering::Relaxed) {
        return;
    }
    let series = [
        (
            "sluice_governance_backend_up",
            "gauge",
            "1 while the Redis budget backend answers, 0 while it does not.",
            u64::from(UP.load(Ordering::Relaxed)),
        ),
        (
            "sluice_governance_backend_changes_total",
            "counter",
            "Times the Redis budget backend went down or came back.",
            CHANGES.load(Ordering::Relaxed),
        ),
        (
            "sluice_governance_backend_pending",
            "gauge",
            "Settled usage and key writes waiting for Redis.",
            PENDING.load(Ordering::Relaxed),
        ),
        (
            "sluice_governance_backend_leases_total",
            "counter",
            "Lease round trips to Redis (share refills).",
            LEASES.load(Ordering::Relaxed),
        ),
        (
            "sluice_governance_backend_leases_short_total",
            "counter",
            "Lease round trips that granted less than asked.",
            LEASES_SHORT.load(Ordering::Relaxed),
        ),
    ];
    for (name, kind, help, value) in series {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    }
}
