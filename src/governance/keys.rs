//! The virtual-key table: config keys and keys created at run time, held only as SHA-256
//! digests, found by the digest of what a client presents and confirmed with a constant-time
//! compare; plus minting new secrets.

use std::collections::HashMap;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::entity::FastBuild;
use crate::config::{Budget, RateLimit, VirtualKeyConfig, VirtualKeySecret};

/// Prefix of every secret sluice mints.
pub const SECRET_PREFIX: &str = "sk-sluice-";
/// Random base62 characters after the prefix (43 × log2(62) ≈ 256 bits).
pub const SECRET_RANDOM_CHARS: usize = 43;
/// Longest credential hashed for lookup; longer ones cannot be keys and are refused unhashed.
pub const MAX_PRESENTED_KEY_LEN: usize = 4096;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Where a key was declared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyOrigin {
    Config,
    Runtime,
}

/// One virtual key (never its secret: only the digest).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRecord {
    pub id: String,
    pub hash: [u8; 32],
    pub team: String,
    pub customer: Option<String>,
    pub budgets: Vec<Budget>,
    pub rate_limits: Vec<RateLimit>,
    /// Globs on `provider/model`; empty: whatever the team allows.
    pub models: Vec<String>,
    /// MCP tool globs (`server__tool`); `None`: no list at this level.
    pub mcp_tools: Option<Vec<String>>,
    pub expires_at_unix_secs: Option<u64>,
    pub origin: KeyOrigin,
    pub created_at_ms: u64,
    pub revoked_at_ms: Option<u64>,
}

impl KeyRecord {
    /// A config key as a record (a plain secret is hashed here, once).
    pub fn from_config(key: &VirtualKeyConfig) -> KeyRecord {
        KeyRecord {
            id: key.id.clone(),
            hash: match &key.secret {
                VirtualKeySecret::Plain(secret) => hash_secret(secret.expose().as_bytes()),
                VirtualKeySecret::Sha256(digest) => *digest,
            },
            team: key.team.clone(),
            customer: key.customer.clone(),
            budgets: key.budgets.clone(),
            rate_limits: key.rate_limits.clone(),
            models: key.models.clone(),
            mcp_tools: key.mcp_tools.clone(),
            expires_at_unix_secs: key.expires_at_unix_secs,
            origin: KeyOrigin::Config,
            created_at_ms: 0,
            revoked_at_ms: None,
        }
    }

    /// Why this key may not be used at `now_ms`, if it may not.
    pub fn unusable(&self, now_ms: u64) -> Option<KeyState> {
        if self.revoked_at_ms.is_some() {
            Some(KeyState::Revoked)
        } else if self
            .expires_at_unix_secs
            .is_some_and(|at| now_ms / 1_000 >= at)
        {
            Some(KeyState::Expired)
        } else {
            None
        }
    }
}

/// Why a known key is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState {
    Revoked,
    Expired,
}

/// SHA-256 of a presented or minted secret.
pub fn hash_secret(secret: &[u8]) -> [u8; 32] {
    Sha256::digest(secret).into()
}

/// Mints `sk-sluice-` + 43 base62 characters from the OS's random source.
pub fn mint_secret() -> Result<String, getrandom::Error> {
    let mut out = String::with_capacity(SECRET_PREFIX.len() + SECRET_RANDOM_CHARS);
    out.push_str(SECRET_PREFIX);
    let mut pool = [0u8; 64];
    while out.len() < SECRET_PREFIX.len() + SECRET_RANDOM_CHARS {
        getrandom::getrandom(&mut pool)?;
        for &byte in &pool {
            // 248 = 4 × 62: rejecting 248..=255 keeps every character equally likely.
            if byte < 248 && out.len() < SECRET_PREFIX.len() + SECRET_RANDOM_CHARS {
                out.push(char::from(BASE62[usize::from(byte % 62)]));
            }
        }
    }
    Ok(out)
}

/// The credential in an `Authorization` value: after `Bearer ` (scheme case-insensitive).
pub fn bearer_token(authorization: &[u8]) -> Option<&[u8]> {
    let scheme = authorization.get(..7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let token = authorization.get(7..)?.trim_ascii();
    (!token.is_empty()).then_some(token)
}

/// All keys of one shard, by digest and by id. Records are never removed while the table
/// lives (revoked keys stay, flagged), so a slot stays valid until the next rebuild.
#[derive(Clone, Debug, Default)]
pub struct KeyTable {
    records: Vec<KeyRecord>,
    by_hash: HashMap<[u8; 32], u32, FastBuild>,
    by_id: HashMap<String, u32>,
}

impl KeyTable {
    /// Adds `record`; refused (with its id) when its id or its digest is already taken.
    pub fn insert(&mut self, record: KeyRecord) -> Result<u32, String> {
        if self.by_id.contains_key(&record.id) || self.by_hash.contains_key(&record.hash) {
            return Err(record.id);
        }
        let slot = u32::try_from(self.records.len()).map_err(|_| record.id.clone())?;
        self.by_hash.insert(record.hash, slot);
        self.by_id.insert(record.id.clone(), slot);
        self.records.push(record);
        Ok(slot)
    }

    /// The slot whose digest equals SHA-256(`presented`), confirmed in constant time.
    pub fn find_presented(&self, presented: &[u8]) -> Option<u32> {
        if presented.is_empty() || presented.len() > MAX_PRESENTED_KEY_LEN {
            return None;
        }
        let digest = hash_secret(presented);
        let slot = *self.by_hash.get(&digest)?;
        let record = self.records.get(slot as usize)?;
        bool::from(record.hash.ct_eq(&digest)).then_some(slot)
    }

    pub fn slot_of_id(&self, id: &str) -> Option<u32> {
        self.by_id.get(id).copied()
    }

    pub fn slot_of_hash(&self, hash: &[u8; 32]) -> Option<u32> {
        self.by_hash.get(hash).copied()
    }

    pub fn get(&self, slot: u32) -> Option<&KeyRecord> {
        self.records.get(slot as usize)
    }

    pub fn get_mut(&mut self, slot: u32) -> Option<&mut KeyRecord> {
        self.records.get_mut(slot as usize)
    }

    pub fn records(&self) -> &[KeyRecord] {
        &self.records
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, hash: [u8; 32]) -> KeyRecord {
        KeyRecord {
            id: id.into(),
            hash,
            team: "t".into(),
            customer: None,
            budgets: Vec::new(),
            rate_limits: Vec::new(),
            models: Vec::new(),
            mcp_tools: None,
            expires_at_unix_secs: None,
            origin: KeyOrigin::Runtime,
            created_at_ms: 0,
            revoked_at_ms: None,
        }
    }

    #[test]
    fn a_digest_found_in_the_index_is_confirmed_against_the_record() {
        let mut table = KeyTable::default();
        table.insert(record("a", hash_secret(b"secret-a"))).unwrap();
        assert_eq!(table.find_presented(b"secret-a"), Some(0));
        // The index points at a record whose digest differs: the compare refuses it.
        table.by_hash.insert(hash_secret(b"secret-b"), 0);
        assert_eq!(table.find_presented(b"secret-b"), None);
        assert_eq!(table.find_presented(b""), None);
        let longest = vec![b'x'; MAX_PRESENTED_KEY_LEN];
        table.insert(record("long", hash_secret(&longest))).unwrap();
        assert_eq!(table.find_presented(&longest), Some(1), "at the limit");
        let mut past = longest.clone();
        past.push(b'x');
        table.insert(record("past", hash_secret(&past))).unwrap();
        assert_eq!(
            table.find_presented(&past),
            None,
            "one past the limit is never hashed"
        );
    }

    #[test]
    fn ids_and_digests_are_unique() {
        let mut table = KeyTable::default();
        table.insert(record("a", hash_secret(b"1"))).unwrap();
        assert_eq!(
            table.insert(record("a", hash_secret(b"2"))),
            Err("a".to_owned())
        );
        assert_eq!(
            table.insert(record("b", hash_secret(b"1"))),
            Err("b".to_owned())
        );
        assert_eq!(table.len(), 1);
    }
}
