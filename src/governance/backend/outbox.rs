//! The writes the broker owes Redis, and their write-ahead form: settled usage, ledger and
//! budget-reset writes carry this instance's sequence number and are kept in the local SQLite
//! ledger's outbox (as one line of text each) until Redis has them, so a `kill -9` before a
//! push, or during an outage, loses nothing: the next start replays them, and the guard in
//! Redis (`ADD_ONCE_SCRIPT`, `RESET_SCRIPT`) skips what was already applied. IO-free.

/// A write Redis must get (kept across outages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Write {
    /// Usage of one item in one bucket.
    Usage {
        key: String,
        field: String,
        units: u64,
        ttl_ms: u64,
        seq: u64,
    },
    /// Settled spend in the entity's durable ledger.
    Ledger { key: String, pico: u64, seq: u64 },
    /// An admin budget reset: the items' usage is dropped, and the reset is published under
    /// `field` of the shared resets hash (`resets::resets_key`) for the other instances.
    Reset {
        keys: Vec<String>,
        field: String,
        at_ms: u64,
        seq: u64,
    },
    /// A key record (the local ledger keeps keys; republished at start).
    Key { id: String, json: String },
    /// A revocation (likewise).
    Revocation { hash: String, value: String },
}

impl Write {
    /// The sequence number of a write kept in the outbox.
    pub fn seq(&self) -> Option<u64> {
        match self {
            Write::Usage { seq, .. } | Write::Ledger { seq, .. } | Write::Reset { seq, .. } => {
                Some(*seq)
            }
            Write::Key { .. } | Write::Revocation { .. } => None,
        }
    }

    /// The outbox line of a write that goes there (keys and revocations do not).
    pub fn encode(&self) -> Option<String> {
        Some(match self {
            Write::Usage {
                key,
                field,
                units,
                ttl_ms,
                ..
            } => format!("u\t{key}\t{field}\t{units}\t{ttl_ms}"),
            Write::Ledger { key, pico, .. } => format!("l\t{key}\t{pico}"),
            Write::Reset {
                keys, field, at_ms, ..
            } => format!("r\t{}\t{field}\t{at_ms}", keys.join(",")),
            Write::Key { .. } | Write::Revocation { .. } => return None,
        })
    }

    /// The write an outbox line holds; `None` for a line this build did not write.
    pub fn decode(seq: u64, line: &str) -> Option<Write> {
        let parts: Vec<&str> = line.split('\t').collect();
        let number = |i: usize| parts.get(i)?.parse::<u64>().ok();
        let text = |i: usize| parts.get(i).map(|s| (*s).to_owned());
        match (parts.first()?, parts.len()) {
            (&"u", 5) => Some(Write::Usage {
                key: text(1)?,
                field: text(2)?,
                units: number(3)?,
                ttl_ms: number(4)?,
                seq,
            }),
            (&"l", 3) => Some(Write::Ledger {
                key: text(1)?,
                pico: number(2)?,
                seq,
            }),
            (&"r", 4) => Some(Write::Reset {
                keys: parts
                    .get(1)?
                    .split(',')
                    .filter(|k| !k.is_empty())
                    .map(str::to_owned)
                    .collect(),
                field: text(2)?,
                at_ms: number(3)?,
                seq,
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbox_lines_round_trip() {
        let writes = [
            Write::Usage {
                key: "{t:00ff}:b:1d:c".into(),
                field: "u:gw-1:8080|1800000000000".into(),
                units: 12,
                ttl_ms: 30_000,
                seq: 7,
            },
            Write::Ledger {
                key: "{t:00ff}:ledger".into(),
                pico: 5_000_000,
                seq: 8,
            },
            Write::Reset {
                keys: vec!["{t:00ff}:b:1d:c".into(), "{t:00ff}:b:1h:r".into()],
                field: "00ff|*".into(),
                at_ms: 42,
                seq: 9,
            },
        ];
        for write in writes {
            let line = write.encode().expect("kept in the outbox");
            let seq = write.seq().expect("numbered");
            assert_eq!(Write::decode(seq, &line), Some(write));
        }
        let key = Write::Key {
            id: "k".into(),
            json: "{}".into(),
        };
        assert_eq!((key.encode(), key.seq()), (None, None));
        assert_eq!(Write::decode(1, "u\tonly-two"), None);
        assert_eq!(Write::decode(1, "l\tk\tnot-a-number"), None);
        assert_eq!(Write::decode(1, "x\ta\tb"), None);
    }
}
