//! A sum over the last period, kept in sub-buckets: what a rolling budget has spent and how many
//! requests and tokens a rate limit has seen, with O(1) reads and amortised O(1) writes.
//!
//! The period is cut into `SLIDING_BUCKETS` buckets of `ceil(period / SLIDING_BUCKETS)` ms, and
//! the ring holds one more bucket than that, so an amount is counted for at least one full
//! period and forgotten between one period and one period plus one bucket after it was added
//! (resolution: 1/60 of the period, erring on the side of counting).

/// Buckets one period is cut into.
pub const SLIDING_BUCKETS: u64 = 60;
const RING: usize = SLIDING_BUCKETS as usize + 1;

/// A sliding-window sum of `u64` amounts (saturating).
#[derive(Clone, Debug)]
pub struct SlidingSum {
    bucket_ms: u64,
    /// Number of the newest bucket (`time / bucket_ms`).
    head: u64,
    slots: [u64; RING],
    total: u64,
}

impl SlidingSum {
    /// A sum over `period_ms` (at least 1 ms).
    pub fn new(period_ms: u64) -> SlidingSum {
        SlidingSum {
            bucket_ms: period_ms.max(1).div_ceil(SLIDING_BUCKETS),
            head: 0,
            slots: [0; RING],
            total: 0,
        }
    }

    pub fn bucket_ms(&self) -> u64 {
        self.bucket_ms
    }

    /// Moves the window forward to `now_ms` (never backward), dropping expired buckets.
    pub fn advance(&mut self, now_ms: u64) {
        let bucket = now_ms / self.bucket_ms;
        if bucket <= self.head {
            return;
        }
        if bucket - self.head >= RING as u64 {
            self.slots = [0; RING];
            self.total = 0;
        } else {
            for number in self.head + 1..=bucket {
                let slot = &mut self.slots[(number % RING as u64) as usize];
                self.total = self.total.saturating_sub(*slot);
                *slot = 0;
            }
        }
        self.head = bucket;
    }

    /// Adds `amount` at time `at_ms`; amounts older than the ring are dropped, and a time ahead
    /// of the window moves the window to it.
    pub fn add(&mut self, at_ms: u64, amount: u64) {
        let bucket = at_ms / self.bucket_ms;
        if bucket > self.head {
            self.advance(at_ms);
        } else if self.head - bucket >= RING as u64 {
            return;
        }
        let slot = &mut self.slots[(bucket % RING as u64) as usize];
        *slot = slot.saturating_add(amount);
        self.total = self.total.saturating_add(amount);
    }

    /// The sum as of the last `advance` or `add`.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.slots = [0; RING];
        self.total = 0;
    }

    /// When everything counted now will have left the ring (`now_ms` if nothing is counted):
    /// found from the newest bucket back, so usually in one step.
    pub fn empty_at_ms(&self, now_ms: u64) -> u64 {
        if self.total == 0 {
            return now_ms;
        }
        let oldest = self.head.saturating_sub(RING as u64 - 1);
        let newest = (oldest..=self.head)
            .rev()
            .find(|number| self.slots[(number % RING as u64) as usize] != 0)
            .unwrap_or(self.head);
        ((newest + RING as u64) * self.bucket_ms).max(now_ms)
    }

    /// The earliest time at which the sum will have fallen to `target` or below with nothing
    /// new added (`now_ms` if it already has): when the oldest buckets leave the ring.
    pub fn relief_at_ms(&self, now_ms: u64, target: u64) -> u64 {
        if self.total <= target {
            return now_ms;
        }
        let mut remaining = self.total;
        let oldest = self.head.saturating_sub(RING as u64 - 1);
        for number in oldest..=self.head {
            remaining = remaining.saturating_sub(self.slots[(number % RING as u64) as usize]);
            if remaining <= target {
                // Bucket `number` leaves when the head reaches `number + RING`.
                return ((number + RING as u64) * self.bucket_ms).max(now_ms);
            }
        }
        (self.head + RING as u64) * self.bucket_ms
    }
}
