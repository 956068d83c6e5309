//! Temporary credentials (AWS role credentials, Google access tokens) fetched and refreshed
//! before they expire on a background thread, and handed to shards through one lock-free
//! `ArcSwap` load: nothing on the request path waits for the network or a lock.
//!
//! A failed refresh keeps the old value until it expires, counts the failure and records the
//! message; requests fail only once no unexpired value is left.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use arc_swap::{ArcSwap, ArcSwapOption};

/// How long before expiry a value is refreshed (at most half its lifetime).
pub const REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// The wait before retrying a failed refresh (shortened when expiry is nearer).
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(10);
/// The longest the refresh thread sleeps before checking whether its owner is gone.
const WAKE_INTERVAL: Duration = Duration::from_millis(250);

/// A fetched value and when it stops being valid (`None`: never).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expiring<T> {
    pub value: T,
    pub expires_at: Option<SystemTime>,
}

/// A source of temporary values (an STS call, a token exchange, a metadata server).
pub trait Fetch: Send + Sync + 'static {
    type Value: Send + Sync + 'static;
    /// Blocking; called only from the refresh thread or at startup.
    fn fetch(&self) -> Result<Expiring<Self::Value>, String>;
}

/// Why no value can be handed out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unavailable {
    /// Never fetched successfully; the last error.
    NotFetched(String),
    /// The last value expired and refreshing failed; the last error.
    Expired(String),
}

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unavailable::NotFetched(err) => write!(f, "credentials not available yet: {err}"),
            Unavailable::Expired(err) => {
                write!(f, "credentials expired and refreshing failed: {err}")
            }
        }
    }
}

/// What shards read: the value, its expiry and when the refresh thread renews it.
#[derive(Debug)]
pub struct Snapshot<T> {
    pub value: T,
    pub expires_at: Option<SystemTime>,
    pub refresh_at: Option<SystemTime>,
}

/// The shared cache of one source.
pub struct Refresher<F: Fetch> {
    source: F,
    slot: ArcSwapOption<Snapshot<F::Value>>,
    last_error: ArcSwap<String>,
    fetches: AtomicU64,
    failures: AtomicU64,
}

impl<F: Fetch> Refresher<F> {
    pub fn new(source: F) -> Arc<Refresher<F>> {
        Arc::new(Refresher {
            source,
            slot: ArcSwapOption::empty(),
            last_error: ArcSwap::from_pointee("no fetch attempted yet".to_owned()),
            fetches: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        })
    }

    /// The current value if it has not expired at `now`. One atomic load; no lock, no IO.
    pub fn current(&self, now: SystemTime) -> Result<Arc<Snapshot<F::Value>>, Unavailable> {
        let Some(held) = self.slot.load_full() else {
            return Err(Unavailable::NotFetched(self.last_error()));
        };
        match held.expires_at {
            Some(at) if at <= now => Err(Unavailable::Expired(self.last_error())),
            _ => Ok(held),
        }
    }

    /// Fetches when nothing is held or the held value is within its refresh margin at `now`.
    /// Returns whether a fetch happened; a failed fetch keeps the old value.
    pub fn refresh_if_due(&self, now: SystemTime) -> Result<bool, String> {
        if !self.is_due(now) {
            return Ok(false);
        }
        self.fetches.fetch_add(1, Ordering::Relaxed);
        match self.source.fetch() {
            Ok(fresh) => {
                let refresh_at = fresh.expires_at.map(|expires| {
                    let lifetime = expires.duration_since(now).unwrap_or_default();
                    expires - REFRESH_MARGIN.min(lifetime / 2)
                });
                self.slot.store(Some(Arc::new(Snapshot {
                    value: fresh.value,
                    expires_at: fresh.expires_at,
                    refresh_at,
                })));
                Ok(true)
            }
            Err(err) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                self.last_error.store(Arc::new(err.clone()));
                Err(err)
            }
        }
    }

    fn is_due(&self, now: SystemTime) -> bool {
        match &*self.slot.load() {
            None => true,
            Some(held) => held.refresh_at.is_some_and(|at| at <= now),
        }
    }

    /// When the next refresh is due (`None`: the value never expires).
    pub fn next_refresh(&self) -> Option<SystemTime> {
        match &*self.slot.load() {
            None => Some(SystemTime::UNIX_EPOCH),
            Some(held) => held.refresh_at,
        }
    }

    /// Fetch attempts so far.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// Failed fetches so far (a metric).
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// The last fetch error's message.
    pub fn last_error(&self) -> String {
        (**self.last_error.load()).clone()
    }

    /// Starts the refresh thread. It holds only a weak reference and ends when the last
    /// `Arc` is dropped or the value never expires.
    pub fn spawn(self: &Arc<Self>, name: &str) -> std::io::Result<JoinHandle<()>> {
        let weak: Weak<Refresher<F>> = Arc::downgrade(self);
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || refresh_loop(weak))
    }
}

fn refresh_loop<F: Fetch>(weak: Weak<Refresher<F>>) {
    let mut wake_at = SystemTime::now();
    loop {
        let Some(refresher) = weak.upgrade() else {
            return;
        };
        let now = SystemTime::now();
        if now >= wake_at {
            wake_at = match refresher.refresh_if_due(now) {
                Err(e) => {
                    let thread = std::thread::current();
                    eprintln!(
                        "sluice: {}: credential refresh failed (the old credentials stay in use until they expire; retrying): {e}",
                        thread.name().unwrap_or("refresh")
                    );
                    now + RETRY_AFTER_FAILURE
                }
                Ok(_) => match refresher.next_refresh() {
                    Some(at) => at,
                    None => return,
                },
            };
            if let Some(expires) = refresher.slot.load().as_ref().and_then(|h| h.expires_at) {
                // After a failure, retry sooner when expiry is near.
                wake_at = wake_at.min(expires.max(now + Duration::from_millis(100)));
            }
        }
        drop(refresher);
        let pause = wake_at
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        std::thread::sleep(pause.min(WAKE_INTERVAL));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    struct Scripted {
        answers: Mutex<Vec<Result<Expiring<u32>, String>>>,
    }

    impl Fetch for Scripted {
        type Value = u32;
        fn fetch(&self) -> Result<Expiring<u32>, String> {
            self.answers.lock().expect("lock").remove(0)
        }
    }

    const T0: SystemTime = SystemTime::UNIX_EPOCH;

    fn at(secs: u64) -> SystemTime {
        T0 + Duration::from_secs(secs)
    }

    fn expiring(value: u32, expires: u64) -> Result<Expiring<u32>, String> {
        Ok(Expiring {
            value,
            expires_at: Some(at(expires)),
        })
    }

    #[test]
    fn reused_until_the_margin_then_refreshed() {
        let cache = Refresher::new(Scripted {
            answers: Mutex::new(vec![expiring(1, 3600), expiring(2, 7200)]),
        });
        assert!(matches!(
            cache.current(at(0)),
            Err(Unavailable::NotFetched(_))
        ));
        assert_eq!(cache.refresh_if_due(at(0)), Ok(true));
        for now in [1, 1000, 3299] {
            assert_eq!(cache.refresh_if_due(at(now)), Ok(false), "{now}");
            assert_eq!(cache.current(at(now)).expect("held").value, 1);
        }
        assert_eq!(cache.fetches(), 1);
        assert_eq!(cache.refresh_if_due(at(3300)), Ok(true));
        assert_eq!(cache.current(at(3300)).expect("held").value, 2);
        assert_eq!(cache.fetches(), 2);
    }

    #[test]
    fn failure_keeps_the_old_value_until_it_expires() {
        let cache = Refresher::new(Scripted {
            answers: Mutex::new(vec![
                expiring(1, 3600),
                Err("token endpoint said 500".into()),
                expiring(3, 9000),
            ]),
        });
        cache.refresh_if_due(at(0)).expect("first");
        assert_eq!(
            cache.refresh_if_due(at(3400)),
            Err("token endpoint said 500".into())
        );
        assert_eq!(cache.failures(), 1);
        assert_eq!(cache.current(at(3599)).expect("still valid").value, 1);
        assert_eq!(
            cache.current(at(3600)).err(),
            Some(Unavailable::Expired("token endpoint said 500".into()))
        );
        assert_eq!(cache.refresh_if_due(at(3600)), Ok(true));
        assert_eq!(cache.current(at(3600)).expect("fresh").value, 3);
    }

    #[test]
    fn short_lifetimes_refresh_at_half_life_and_static_values_never() {
        let cache = Refresher::new(Scripted {
            answers: Mutex::new(vec![expiring(1, 60)]),
        });
        cache.refresh_if_due(at(0)).expect("ok");
        assert_eq!(cache.next_refresh(), Some(at(30)));
        let cache = Refresher::new(Scripted {
            answers: Mutex::new(vec![Ok(Expiring {
                value: 9,
                expires_at: None,
            })]),
        });
        cache.refresh_if_due(at(0)).expect("ok");
        assert_eq!(cache.next_refresh(), None);
        assert_eq!(cache.refresh_if_due(at(u32::MAX as u64)), Ok(false));
    }
}
