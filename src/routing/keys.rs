//! Which of a provider's keys the next request uses: a smooth rotation over the keys' weights,
//! per shard (each shard starts at a different point, so the shards together spread evenly).

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
        let total: u64 = provider.keys.iter().map(|k| u64::from(k.weight)).sum();
        if total == 0 {
            return None;
        }
        let n = self.next.get();
        self.next.set(n.wrapping_add(1));
        let mut point = n % total;
        for key in &provider.keys {
            let weight = u64::from(key.weight);
            if point < weight {
                return Some(&key.secret);
            }
            point -= weight;
        }
        None
    }
}
