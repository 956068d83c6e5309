//! Why this exists: sluice's own time on a request (the `sluice_overhead_seconds` histogram,
//! `overhead_us` in the access log, the span's gateway overhead) is computed from timestamps
//! at the request's phase boundaries. The flow stamps each boundary it crosses; a boundary
//! either hands the request to sluice (work) or to someone sluice waits on (the client, the
//! upstream, a timer, another shard). Own time is the sum of the work stretches.
//!
//! The response body is the upstream's and the client's pace: from the relay's first wait
//! until the response ended, the clock does not run. What it measures is what sluice adds on
//! the request's critical path: before the upstream call, between the upstream's head and the
//! relay's first wait, and from the response's end to the request's record.

use std::time::{Duration, Instant};

/// A phase boundary of one request, in the order the flow crosses them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Boundary {
    /// Reading the body from the client begins.
    ReadingBody,
    /// The body is in: authentication, peek, routing, admission.
    BodyRead,
    /// A strict admission waits for a budget grant from another shard.
    AwaitingGrant,
    /// The grant came (or the wait gave up).
    GrantWaitOver,
    /// A failover backoff begins.
    Backoff,
    /// The backoff is over: the next attempt is prepared.
    BackoffOver,
    /// An attempt leaves for the upstream: connect, write, wait for the response head.
    UpstreamCall,
    /// The response head arrived, or the attempt failed: judge it, choose the codec.
    UpstreamAnswered,
    /// The relay waits on the upstream or the client for the first time.
    Relaying,
    /// The upstream's response is complete: the relay finishes it.
    ResponseEnded,
    /// The flow reaches `finish`: settlement.
    Finishing,
    /// The response's last bytes (or the error answer) go to the client.
    FinalWrite,
    /// They went: metrics and logs.
    FinalWritten,
    /// The request is recorded: the clock stops.
    Recorded,
}

impl Boundary {
    /// Whether sluice works from this boundary on (else it waits).
    fn starts_work(self) -> bool {
        matches!(
            self,
            Boundary::BodyRead
                | Boundary::GrantWaitOver
                | Boundary::BackoffOver
                | Boundary::UpstreamAnswered
                | Boundary::ResponseEnded
                | Boundary::Finishing
                | Boundary::FinalWritten
        )
    }
}

/// One request's phase clock.
#[derive(Debug)]
pub struct PhaseClock {
    /// When the current work stretch began (None: sluice is waiting).
    working_since: Option<Instant>,
    own: Duration,
}

impl PhaseClock {
    /// A clock whose first work stretch began when the request head was parsed.
    pub fn head_parsed_at(at: Instant) -> Self {
        PhaseClock {
            working_since: Some(at),
            own: Duration::ZERO,
        }
    }

    /// Crosses `boundary` now. The clock is read only when the boundary changes the state:
    /// the relay crosses `Relaying` on every wait and pays nothing after the first.
    pub fn cross(&mut self, boundary: Boundary) {
        if boundary.starts_work() != self.working_since.is_some() {
            self.cross_at(boundary, Instant::now());
        }
    }

    /// Crosses `boundary` at `at` (a timestamp taken where it happened, e.g. when the
    /// upstream's response head was complete). Crossing into the state the request is already
    /// in changes nothing: only the first `Relaying` of a response counts.
    pub fn cross_at(&mut self, boundary: Boundary, at: Instant) {
        if boundary.starts_work() {
            self.working_since.get_or_insert(at);
        } else if let Some(since) = self.working_since.take() {
            self.own += at.saturating_duration_since(since);
        }
    }

    /// sluice's own time so far (the current work stretch not included until it ends).
    pub fn own_time(&self) -> Duration {
        self.own
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_time_sums_the_work_stretches_between_boundaries() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut clock = PhaseClock::head_parsed_at(t0);
        clock.cross_at(Boundary::ReadingBody, t0 + ms(1)); // 1 ms routing
        clock.cross_at(Boundary::BodyRead, t0 + ms(9)); // the client's 8 ms
        clock.cross_at(Boundary::UpstreamCall, t0 + ms(11)); // 2 ms
        clock.cross_at(Boundary::UpstreamAnswered, t0 + ms(40)); // the upstream's
        clock.cross_at(Boundary::Relaying, t0 + ms(43)); // 3 ms
        clock.cross_at(Boundary::Relaying, t0 + ms(50)); // already waiting: nothing
        clock.cross_at(Boundary::ResponseEnded, t0 + ms(90));
        clock.cross_at(Boundary::Finishing, t0 + ms(91)); // already working: nothing
        clock.cross_at(Boundary::FinalWrite, t0 + ms(92)); // 2 ms
        clock.cross_at(Boundary::FinalWritten, t0 + ms(95));
        clock.cross_at(Boundary::Recorded, t0 + ms(96)); // 1 ms
        assert_eq!(clock.own_time(), ms(9));
    }

    #[test]
    fn a_failover_counts_the_work_between_attempts_but_not_the_waits() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut clock = PhaseClock::head_parsed_at(t0);
        clock.cross_at(Boundary::UpstreamCall, t0 + ms(1)); // 1 ms
        clock.cross_at(Boundary::UpstreamAnswered, t0 + ms(20)); // a 529
        clock.cross_at(Boundary::Backoff, t0 + ms(21)); // 1 ms
        clock.cross_at(Boundary::BackoffOver, t0 + ms(70));
        clock.cross_at(Boundary::UpstreamCall, t0 + ms(72)); // 2 ms
        clock.cross_at(Boundary::UpstreamAnswered, t0 + ms(99));
        clock.cross_at(Boundary::Recorded, t0 + ms(100)); // 1 ms
        assert_eq!(clock.own_time(), ms(5));
    }
}
