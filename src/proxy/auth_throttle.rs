//! Virtual keys cannot be guessed at speed: failed authentications are counted per client
//! address in a fixed window of [`AUTH_FAILURE_WINDOW`], and an address that reached
//! `server.max_auth_failures_per_minute` on this shard is answered 429 with `retry-after`
//! (rejection reason `auth_throttled` in the log and `sluice_rejections_total`) without its key
//! being looked at, until its window ends. The key comparison itself stays constant-time
//! (governance/keys.rs).

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::error::{ErrorKind, GatewayError};

/// The window failures are counted in.
pub const AUTH_FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Most client addresses tracked per shard (about 40 bytes each). When full, addresses whose
/// window ended are forgotten; if every one is still active, a new address is not tracked
/// until room frees up (the table's memory stays bounded whatever the peers do).
pub const MAX_TRACKED_ADDRESSES: usize = 65_536;

/// The rejection reason counted for a throttled request.
pub const AUTH_THROTTLED: &str = "auth_throttled";

#[derive(Clone, Copy)]
struct Failures {
    since: Instant,
    count: u32,
}

/// One shard's failure counts by client address.
#[derive(Default)]
pub struct AuthThrottle {
    by_addr: RefCell<HashMap<IpAddr, Failures>>,
}

impl AuthThrottle {
    /// Whether nothing is tracked (the peer's address need not be looked up).
    pub fn is_empty(&self) -> bool {
        self.by_addr.borrow().is_empty()
    }

    /// Refuses `addr` while it has `max` failures in its current window (`max` 0: unlimited).
    pub fn check(&self, addr: IpAddr, max: u32, now: Instant) -> Result<(), GatewayError> {
        if max == 0 {
            return Ok(());
        }
        let mut by_addr = self.by_addr.borrow_mut();
        let Some(f) = by_addr.get(&addr).copied() else {
            return Ok(());
        };
        let ends = f.since + AUTH_FAILURE_WINDOW;
        if now >= ends {
            by_addr.remove(&addr);
            return Ok(());
        }
        if f.count < max {
            return Ok(());
        }
        let retry_after = ends.saturating_duration_since(now).as_secs_f64().ceil() as u64;
        Err(GatewayError {
            kind: ErrorKind::RateLimited,
            message: "too many failed authentications from this address".into(),
            retry_after_secs: Some(retry_after.max(1)),
        })
    }

    /// Counts one failed authentication from `addr`.
    pub fn failed(&self, addr: IpAddr, now: Instant) {
        let mut by_addr = self.by_addr.borrow_mut();
        if by_addr.len() >= MAX_TRACKED_ADDRESSES && !by_addr.contains_key(&addr) {
            by_addr.retain(|_, f| now < f.since + AUTH_FAILURE_WINDOW);
            if by_addr.len() >= MAX_TRACKED_ADDRESSES {
                return;
            }
        }
        let f = by_addr.entry(addr).or_insert(Failures {
            since: now,
            count: 0,
        });
        if now >= f.since + AUTH_FAILURE_WINDOW {
            *f = Failures {
                since: now,
                count: 0,
            };
        }
        f.count = f.count.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn an_address_at_the_limit_is_refused_until_its_window_ends() {
        let t = AuthThrottle::default();
        let now = Instant::now();
        for _ in 0..2 {
            assert!(t.check(A, 3, now).is_ok());
            t.failed(A, now);
        }
        assert!(t.check(A, 3, now).is_ok(), "two failures: under the limit");
        t.failed(A, now);
        let refused = t
            .check(A, 3, now)
            .expect_err("three failures: at the limit");
        assert_eq!(refused.kind, ErrorKind::RateLimited);
        assert_eq!(refused.retry_after_secs, Some(60));
        assert!(
            t.check(B, 3, now).is_ok(),
            "another address is not affected"
        );
        let later = now + AUTH_FAILURE_WINDOW;
        assert!(t.check(A, 3, later).is_ok(), "a new window");
        assert!(t.is_empty());
    }

    #[test]
    fn zero_means_unlimited() {
        let t = AuthThrottle::default();
        let now = Instant::now();
        for _ in 0..100 {
            t.failed(A, now);
        }
        assert!(t.check(A, 0, now).is_ok());
    }

    #[test]
    fn the_table_is_bounded() {
        let t = AuthThrottle::default();
        let now = Instant::now();
        for i in 0..=MAX_TRACKED_ADDRESSES as u32 {
            t.failed(IpAddr::V4(Ipv4Addr::from(i)), now);
        }
        assert_eq!(t.by_addr.borrow().len(), MAX_TRACKED_ADDRESSES);
        // Once their windows end, the old ones make room.
        t.failed(B, now + AUTH_FAILURE_WINDOW);
        assert_eq!(t.by_addr.borrow().len(), 1);
    }
}
