//! Virtual keys shared through Redis: a key created, changed or revoked on one instance is
//! written to one hash (records by id, digests only) and one of revocations, with a version
//! counter every instance polls; records travel as JSON with the ledger's budget and limit
//! encodings.

use serde_json::{Value, json};

use crate::governance::keys::{KeyOrigin, KeyRecord};
use crate::governance::ledger_codec::{
    decode_budgets, decode_rate_limits, encode_budgets, encode_rate_limits,
};
use crate::governance::messages::KeyRevocation;

/// `{prefix}:keys`: id → record (JSON).
pub fn keys_key(prefix: &str) -> String {
    format!("{{{prefix}}}:keys")
}

/// `{prefix}:revoked`: digest (hex) → `id|at_ms`.
pub fn revoked_key(prefix: &str) -> String {
    format!("{{{prefix}}}:revoked")
}

/// `{prefix}:keys:v`: bumped on every write to the two hashes above.
pub fn version_key(prefix: &str) -> String {
    format!("{{{prefix}}}:keys:v")
}

pub fn hex(bytes: &[u8; 32]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if text.len() != 64 {
        return None;
    }
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

pub fn encode_record(record: &KeyRecord) -> String {
    json!({
        "id": record.id,
        "hash": hex(&record.hash),
        "team": record.team,
        "customer": record.customer,
        "budgets": encode_budgets(&record.budgets),
        "rate_limits": encode_rate_limits(&record.rate_limits),
        "models": record.models,
        "mcp_tools": record.mcp_tools,
        "expires_at": record.expires_at_unix_secs,
        "config": record.origin == KeyOrigin::Config,
        "created_at_ms": record.created_at_ms,
        "revoked_at_ms": record.revoked_at_ms,
    })
    .to_string()
}

/// A record written by [`encode_record`]; `None` for anything else (another writer's junk
/// is skipped, never trusted).
pub fn decode_record(text: &str) -> Option<KeyRecord> {
    let v: Value = serde_json::from_str(text).ok()?;
    let string = |name: &str| v.get(name)?.as_str().map(str::to_owned);
    let opt_u64 = |name: &str| v.get(name).and_then(Value::as_u64);
    Some(KeyRecord {
        id: string("id")?,
        hash: unhex(v.get("hash")?.as_str()?)?,
        team: string("team")?,
        customer: string("customer"),
        budgets: decode_budgets(v.get("budgets")?.as_str()?)?,
        rate_limits: decode_rate_limits(v.get("rate_limits")?.as_str()?)?,
        models: v
            .get("models")?
            .as_array()?
            .iter()
            .map(|m| m.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()?,
        mcp_tools: match v.get("mcp_tools") {
            None | Some(Value::Null) => None,
            Some(list) => Some(
                list.as_array()?
                    .iter()
                    .map(|m| m.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()?,
            ),
        },
        expires_at_unix_secs: opt_u64("expires_at"),
        origin: if v.get("config")?.as_bool()? {
            KeyOrigin::Config
        } else {
            KeyOrigin::Runtime
        },
        created_at_ms: opt_u64("created_at_ms")?,
        revoked_at_ms: opt_u64("revoked_at_ms"),
    })
}

/// The revocation value: `id|at_ms`.
pub fn encode_revocation(revocation: &KeyRevocation) -> String {
    format!("{}|{}", revocation.id, revocation.at_ms)
}

pub fn decode_revocation(hash_hex: &str, value: &str) -> Option<KeyRevocation> {
    let (id, at) = value.rsplit_once('|')?;
    Some(KeyRevocation {
        id: id.to_owned(),
        hash: unhex(hash_hex)?,
        at_ms: at.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Budget, RateLimit, ResetPeriod};
    use std::time::Duration;

    #[test]
    fn records_and_revocations_round_trip() {
        let record = KeyRecord {
            id: "k1".into(),
            hash: [7; 32],
            team: "t".into(),
            customer: Some("c".into()),
            budgets: vec![Budget {
                max_micro_usd: 1_500_000,
                reset: ResetPeriod::Day,
                calendar_aligned: true,
            }],
            rate_limits: vec![RateLimit {
                requests: Some(10),
                tokens: None,
                tool_calls: Some(3),
                window: Duration::from_secs(60),
            }],
            models: vec!["a/*".into()],
            mcp_tools: Some(vec!["github__*".into()]),
            expires_at_unix_secs: Some(99),
            origin: KeyOrigin::Runtime,
            created_at_ms: 5,
            revoked_at_ms: None,
        };
        assert_eq!(decode_record(&encode_record(&record)), Some(record));
        assert_eq!(decode_record("{\"id\":1}"), None);
        assert_eq!(decode_record("not json"), None);
        let revocation = KeyRevocation {
            id: "a|b".into(),
            hash: [9; 32],
            at_ms: 42,
        };
        let value = encode_revocation(&revocation);
        assert_eq!(
            decode_revocation(&hex(&revocation.hash), &value),
            Some(revocation)
        );
        assert_eq!(decode_revocation("zz", &value), None);
    }
}
