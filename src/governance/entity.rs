//! Names every governed thing (virtual key, team, customer, provider entry) with a stable 64-bit
//! id that means the same on every shard, in every delta and in the ledger, across restarts.

use std::hash::{BuildHasherDefault, Hasher};

use sha2::{Digest, Sha256};

/// The level of the hierarchy an entity sits at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    Key,
    Team,
    Customer,
    Provider,
}

impl Level {
    pub const ALL: [Level; 4] = [Level::Key, Level::Team, Level::Customer, Level::Provider];

    /// The word used in error messages, headers and the admin API.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Key => "key",
            Level::Team => "team",
            Level::Customer => "customer",
            Level::Provider => "provider",
        }
    }

    fn tag(self) -> u8 {
        match self {
            Level::Key => 1,
            Level::Team => 2,
            Level::Customer => 3,
            Level::Provider => 4,
        }
    }
}

/// A stable entity id: the first 8 bytes of SHA-256(level tag, 0, name). Computed when the
/// registry is built, never on the request path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntityId(pub u64);

impl EntityId {
    pub fn of(level: Level, name: &str) -> EntityId {
        let mut hasher = Sha256::new();
        hasher.update([level.tag(), 0]);
        hasher.update(name.as_bytes());
        let digest = hasher.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        EntityId(u64::from_le_bytes(first))
    }
}

/// A multiply-rotate hasher (FxHash's) for maps whose keys are ids, digests or short strings
/// that the gateway itself inserted: fast, and not exposed to untrusted insertion.
#[derive(Clone, Copy, Debug, Default)]
pub struct FastHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.write_u64(u64::from_le_bytes(word) ^ (rest.len() as u64) << 56);
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }

    fn write_u8(&mut self, byte: u8) {
        self.write_u64(u64::from(byte));
    }

    fn write_usize(&mut self, word: usize) {
        self.write_u64(word as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// `HashMap`/`HashSet` state for [`FastHasher`].
pub type FastBuild = BuildHasherDefault<FastHasher>;
