//! Which keys and providers may be tried now: per-key cool-downs (401/403/429) and a circuit
//! breaker per key and per provider (open after N consecutive failures, half-open with one
//! probe after the cool-down). Each shard keeps its own copy, changed only by [`HealthEvent`]s
//! that every shard applies alike (the runtime carries them through the mesh), so the next
//! request on any shard sees a change made on another. IO-free.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use crate::config::{Config, RoutingConfig};

/// A change to the health of one provider (and one of its keys, when `key` is Some), by
/// config indexes. Sent to every shard; applying one twice is harmless.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HealthEvent {
    /// The key answered 401/403/429: not used until `until`.
    CoolDown {
        provider: usize,
        key: usize,
        until: Instant,
    },
    /// An attempt failed in a way that counts against the breaker (connect error, timeout,
    /// 5xx, 529). `at` is when it happened.
    Failed {
        provider: usize,
        key: Option<usize>,
        at: Instant,
    },
    /// An attempt got a response head that was not a failure: breakers close.
    Succeeded { provider: usize, key: Option<usize> },
    /// A half-open breaker let its one probe through: the others wait until `until`.
    Probing {
        provider: usize,
        key: Option<usize>,
        until: Instant,
    },
}

/// Where health events go: every other shard (the runtime implements it over the mesh).
pub trait HealthBroadcast {
    fn broadcast(&self, event: HealthEvent);

    /// Asks the one shard that arbitrates probes for the half-open probe of `provider` (or of
    /// its `key`), held until `until`: true for exactly one claimant per half-open period,
    /// false for every other (on any shard). The arbiter tells every shard through a
    /// [`HealthEvent::Probing`].
    fn claim_probe(
        &self,
        provider: usize,
        key: Option<usize>,
        until: Instant,
    ) -> Pin<Box<dyn Future<Output = bool>>>;
}

/// A breaker: consecutive failures and, once open, until when.
#[derive(Clone, Copy, Debug, Default)]
struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
}

/// How a breaker stands right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    /// The cool-down is over: one probe may go.
    HalfOpen,
}

impl Breaker {
    fn state(&self, now: Instant) -> BreakerState {
        match self.open_until {
            None => BreakerState::Closed,
            Some(until) if now < until => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
        }
    }

    fn fail(&mut self, at: Instant, rules: &RoutingConfig) {
        self.failures = self.failures.saturating_add(1);
        if self.failures >= rules.breaker_failures {
            self.open_until = Some(at + rules.breaker_cooldown);
        }
    }

    fn succeed(&mut self) {
        *self = Breaker::default();
    }
}

#[derive(Clone, Debug, Default)]
struct KeyHealth {
    breaker: Breaker,
    cool_until: Option<Instant>,
}

#[derive(Clone, Debug, Default)]
struct ProviderHealth {
    breaker: Breaker,
    keys: Vec<KeyHealth>,
}

/// One shard's view of every provider's and key's health.
pub struct Health {
    rules: RefCell<RoutingConfig>,
    providers: RefCell<Vec<ProviderHealth>>,
}

impl Health {
    /// All closed and warm, shaped like `config`'s providers and keys.
    pub fn new(config: &Config) -> Self {
        let providers = config
            .providers
            .iter()
            .map(|p| ProviderHealth {
                breaker: Breaker::default(),
                keys: vec![KeyHealth::default(); p.keys.len()],
            })
            .collect();
        Health {
            rules: RefCell::new(config.routing.clone()),
            providers: RefCell::new(providers),
        }
    }

    /// Starts over for a reloaded configuration (indexes may mean other providers now).
    pub fn reset(&self, config: &Config) {
        let fresh = Health::new(config);
        *self.rules.borrow_mut() = fresh.rules.into_inner();
        *self.providers.borrow_mut() = fresh.providers.into_inner();
    }

    /// Applies one event (from this shard or another).
    pub fn apply(&self, event: HealthEvent) {
        let mut providers = self.providers.borrow_mut();
        let rules = &*self.rules.borrow();
        let (p, key) = match event {
            HealthEvent::CoolDown { provider, key, .. }
            | HealthEvent::Probing {
                provider,
                key: Some(key),
                ..
            }
            | HealthEvent::Failed {
                provider,
                key: Some(key),
                ..
            }
            | HealthEvent::Succeeded {
                provider,
                key: Some(key),
            } => (provider, Some(key)),
            HealthEvent::Probing { provider, .. }
            | HealthEvent::Failed { provider, .. }
            | HealthEvent::Succeeded { provider, .. } => (provider, None),
        };
        let Some(ph) = providers.get_mut(p) else {
            return; // an event about a provider this configuration does not have
        };
        match event {
            HealthEvent::CoolDown { until, .. } => {
                if let Some(k) = key.and_then(|k| ph.keys.get_mut(k)) {
                    k.cool_until = Some(k.cool_until.map_or(until, |u| u.max(until)));
                }
            }
            HealthEvent::Failed { at, .. } => {
                ph.breaker.fail(at, rules);
                if let Some(k) = key.and_then(|k| ph.keys.get_mut(k)) {
                    k.breaker.fail(at, rules);
                }
            }
            HealthEvent::Succeeded { .. } => {
                ph.breaker.succeed();
                if let Some(k) = key.and_then(|k| ph.keys.get_mut(k)) {
                    k.breaker.succeed();
                }
            }
            HealthEvent::Probing { until, .. } => match key.and_then(|k| ph.keys.get_mut(k)) {
                Some(k) => k.breaker.open_until = Some(until),
                None => ph.breaker.open_until = Some(until),
            },
        }
    }

    /// The provider breaker's state.
    pub fn provider_state(&self, provider: usize, now: Instant) -> BreakerState {
        self.providers
            .borrow()
            .get(provider)
            .map_or(BreakerState::Closed, |p| p.breaker.state(now))
    }

    /// Whether a key may be tried now: not cooling down and its breaker not open (half-open
    /// counts: the caller takes the probe).
    pub fn key_usable(&self, provider: usize, key: usize, now: Instant) -> bool {
        self.key_state(provider, key, now)
            .is_some_and(|s| s != BreakerState::Open)
    }

    /// The key's breaker state, with a cool-down counting as open; None for an unknown key.
    pub fn key_state(&self, provider: usize, key: usize, now: Instant) -> Option<BreakerState> {
        let providers = self.providers.borrow();
        let k = providers.get(provider)?.keys.get(key)?;
        if k.cool_until.is_some_and(|u| now < u) {
            return Some(BreakerState::Open);
        }
        Some(k.breaker.state(now))
    }

    /// Whether any key of `provider` other than `except` is usable now.
    pub fn other_key_usable(&self, provider: usize, except: usize, now: Instant) -> bool {
        let count = self
            .providers
            .borrow()
            .get(provider)
            .map_or(0, |p| p.keys.len());
        (0..count).any(|k| k != except && self.key_usable(provider, k, now))
    }

    /// The arbiter's side of [`HealthBroadcast::claim_probe`]: grants the probe (and holds the
    /// breaker open until `until`) only while the breaker is half-open, so of several claims
    /// for one half-open period exactly the first is granted.
    pub fn claim_probe(&self, provider: usize, key: Option<usize>, until: Instant) -> bool {
        let now = Instant::now();
        let state = match key {
            Some(k) => self.key_state(provider, k, now),
            None => Some(self.provider_state(provider, now)),
        };
        if state != Some(BreakerState::HalfOpen) {
            return false;
        }
        self.apply(HealthEvent::Probing {
            provider,
            key,
            until,
        });
        true
    }

    /// How long a probe holds a half-open breaker for the other shards.
    pub fn probe_hold(&self) -> Duration {
        self.rules.borrow().breaker_cooldown
    }

    /// Whether `provider`'s breaker (or `key`'s) is open right now, for the gauges.
    pub fn is_open(&self, provider: usize, key: Option<usize>, now: Instant) -> bool {
        let providers = self.providers.borrow();
        let Some(p) = providers.get(provider) else {
            return false;
        };
        let breaker = match key {
            None => &p.breaker,
            Some(k) => match p.keys.get(k) {
                Some(k) => &k.breaker,
                None => return false,
            },
        };
        breaker.state(now) == BreakerState::Open
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn config(failures: u32) -> Config {
        let mut c = Config::from_toml_str(
            "[[providers]]\nname = \"a\"\nkind = \"anthropic\"\nkeys = [{ secret = \"k1\" }, { secret = \"k2\" }]\n",
        )
        .unwrap();
        c.routing.breaker_failures = failures;
        c.routing.breaker_cooldown = Duration::from_secs(30);
        c
    }

    #[test]
    fn breaker_opens_at_n_failures_not_before_and_probe_closes_it() {
        let h = Health::new(&config(3));
        let t0 = Instant::now();
        let fail = |at| HealthEvent::Failed {
            provider: 0,
            key: Some(0),
            at,
        };
        h.apply(fail(t0));
        h.apply(fail(t0));
        assert_eq!(
            h.provider_state(0, t0),
            BreakerState::Closed,
            "N - 1 failures"
        );
        h.apply(fail(t0));
        assert_eq!(h.provider_state(0, t0), BreakerState::Open, "N failures");
        assert!(!h.key_usable(0, 0, t0));
        assert!(
            h.key_usable(0, 1, t0),
            "the other key's own breaker is closed"
        );
        let later = t0 + Duration::from_secs(31);
        assert_eq!(h.provider_state(0, later), BreakerState::HalfOpen);
        h.apply(HealthEvent::Probing {
            provider: 0,
            key: None,
            until: later + Duration::from_secs(30),
        });
        assert_eq!(h.provider_state(0, later), BreakerState::Open, "one probe");
        h.apply(HealthEvent::Succeeded {
            provider: 0,
            key: Some(0),
        });
        assert_eq!(h.provider_state(0, later), BreakerState::Closed);
        assert!(h.key_usable(0, 0, later));
    }

    #[test]
    fn only_the_first_claim_of_a_half_open_breaker_is_granted() {
        let h = Health::new(&config(1));
        let long_ago = Instant::now() - Duration::from_secs(31);
        h.apply(HealthEvent::Failed {
            provider: 0,
            key: Some(1),
            at: long_ago,
        });
        let until = Instant::now() + Duration::from_secs(30);
        assert!(
            !h.claim_probe(0, Some(0), until),
            "key 0's breaker is closed"
        );
        assert!(h.claim_probe(0, None, until), "the provider's first claim");
        assert!(
            !h.claim_probe(0, None, until),
            "a second claim for the same period"
        );
        assert!(h.claim_probe(0, Some(1), until), "the key's own breaker");
        assert!(!h.claim_probe(0, Some(1), until));
        assert!(!h.claim_probe(5, None, until), "an unknown provider");
    }

    #[test]
    fn cool_down_takes_a_key_out_until_it_expires() {
        let h = Health::new(&config(5));
        let t0 = Instant::now();
        h.apply(HealthEvent::CoolDown {
            provider: 0,
            key: 1,
            until: t0 + Duration::from_secs(2),
        });
        assert!(!h.key_usable(0, 1, t0));
        assert!(h.other_key_usable(0, 1, t0));
        assert!(!h.other_key_usable(0, 0, t0));
        assert!(h.key_usable(0, 1, t0 + Duration::from_secs(2)));
        // Events about providers or keys this config lacks are ignored.
        h.apply(HealthEvent::CoolDown {
            provider: 9,
            key: 0,
            until: t0,
        });
        assert_eq!(h.key_state(0, 7, t0), None);
    }
}
