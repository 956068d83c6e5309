//! Which of a provider's keys the next request uses: a smooth rotation over the weights of the
//! keys that may be used now, per shard (each shard starts at a different point, so the shards
//! together spread evenly).

use std::cell::Cell;

use crate::config::{ProviderConfig, Secret};

/// One shard's position in every provider's key rotation.
pub struct KeyRotation {
    next: Cell<u64>,
}

impl KeyRotation {
    /// A rotation starting at `start` (the shard's index).
    pub fn new(start: u64) -> Self {
        KeyRotation {
            next: Cell::new(start),
        }
    }

    /// The provider key to use next for `provider`, by weight; None when it has no keys.
    pub fn pick<'c>(&self, provider: &'c ProviderConfig) -> Option<&'c Secret> {
        self.pick_usable(provider, |_| true).map(|(_, key)| key)
    }

    /// The next key, by weight, among those `usable` accepts (by index); with its index.
    pub fn pick_usable<'c>(
        &self,
        provider: &'c ProviderConfig,
        usable: impl Fn(usize) -> bool,
    ) -> Option<(usize, &'c Secret)> {
        let weight = |i: usize, w: u32| if usable(i) { u64::from(w) } else { 0 };
        let total: u64 = (provider.keys.iter().enumerate())
            .map(|(i, k)| weight(i, k.weight))
            .sum();
        if total == 0 {
            return None;
        }
        let n = self.next.get();
        self.next.set(n.wrapping_add(1));
        let mut point = n % total;
        for (i, key) in provider.keys.iter().enumerate() {
            let w = weight(i, key.weight);
            if point < w {
                return Some((i, &key.secret));
            }
            point -= w;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn weights_among_usable_keys_only() {
        let c = Config::from_toml_str(
            "[[providers]]\nname = \"a\"\nkind = \"anthropic\"\n\
             keys = [{ secret = \"k1\", weight = 2 }, { secret = \"k2\" }, { id = \"third\", secret = \"k3\" }]\n",
        )
        .unwrap();
        let p = &c.providers[0];
        assert_eq!(p.keys[0].id, "a#1");
        assert_eq!(p.keys[2].id, "third");
        let r = KeyRotation::new(0);
        let picks: Vec<usize> = (0..8)
            .map(|_| r.pick_usable(p, |_| true).unwrap().0)
            .collect();
        assert_eq!(picks.iter().filter(|&&i| i == 0).count(), 4, "{picks:?}");
        let picks: Vec<usize> = (0..6)
            .map(|_| r.pick_usable(p, |i| i != 0).unwrap().0)
            .collect();
        assert!(picks.iter().all(|&i| i != 0), "{picks:?}");
        assert_eq!(picks.iter().filter(|&&i| i == 1).count(), 3);
        assert!(r.pick_usable(p, |_| false).is_none());
    }
}
