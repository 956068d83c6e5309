//! The ledger's SQLite file: schema, one group-commit transaction, roll-up of old spend into
//! coarser rows, and the snapshot read back at start-up.
//!
//! Spend is kept per entity in minute rows, rolled into hour rows after two days and day rows
//! after a hundred, and dropped after 400 days (longer than any budget period). Created keys
//! are stored with their digest only; revocations by digest; admin budget resets by entity.
//! Under the Redis backend the `backend_outbox` table is the write-ahead copy of what Redis
//! must still receive (opaque entries by sequence number, deleted once Redis has them).

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use super::entity::{EntityId, FastBuild};
use super::keys::{KeyOrigin, KeyRecord};
use super::ledger_codec::{
    decode_budget_key, decode_budgets, decode_rate_limits, encode_budget_key, encode_budgets,
    encode_rate_limits,
};
use super::messages::{BudgetReset, KeyRevocation};

/// The ledger's file name under `governance.state_dir`.
pub const LEDGER_FILE: &str = "ledger.sqlite3";
/// Resolution of fresh spend rows.
pub const MINUTE_MS: u64 = 60_000;
/// Resolution of spend rows older than `MINUTE_RETENTION_MS`.
pub const HOUR_MS: u64 = 3_600_000;
/// Resolution of spend rows older than `HOUR_RETENTION_MS`.
pub const DAY_MS: u64 = 86_400_000;
/// Age after which minute rows are rolled into hour rows.
pub const MINUTE_RETENTION_MS: u64 = 2 * DAY_MS;
/// Age after which hour rows are rolled into day rows.
pub const HOUR_RETENTION_MS: u64 = 100 * DAY_MS;
/// Age after which spend is forgotten (longer than a year, the longest period).
pub const SPEND_RETENTION_MS: u64 = 400 * DAY_MS;
const SCHEMA_VERSION: i64 = 1;

/// `state_dir/ledger.sqlite3`.
pub fn ledger_path(state_dir: &Path) -> PathBuf {
    state_dir.join(LEDGER_FILE)
}

/// A ledger failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LedgerError {
    Io(String),
    Sqlite(String),
    /// A row that cannot be read back (written by a newer version, or damaged).
    Corrupt(String),
    /// The ledger thread is gone.
    Stopped,
}

impl fmt::Display for LedgerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LedgerError::Io(e) => write!(f, "ledger: {e}"),
            LedgerError::Sqlite(e) => write!(f, "ledger database: {e}"),
            LedgerError::Corrupt(e) => write!(f, "ledger row unreadable: {e}"),
            LedgerError::Stopped => f.write_str("ledger thread has stopped"),
        }
    }
}

impl std::error::Error for LedgerError {}

impl From<rusqlite::Error> for LedgerError {
    fn from(e: rusqlite::Error) -> LedgerError {
        LedgerError::Sqlite(e.to_string())
    }
}

/// Spend of one entity over `[start_ms, start_ms + len_ms)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpendRow {
    pub entity: EntityId,
    pub start_ms: u64,
    pub len_ms: u64,
    pub cost_pico: u64,
    /// Tokens counted against rate limits.
    pub tokens: u64,
    pub requests: u64,
    /// MCP `tools/call`s admitted (counted against `tool_calls` rate limits).
    pub tool_calls: u64,
}

/// What the ledger holds, read at start-up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LedgerSnapshot {
    pub spend: Vec<SpendRow>,
    /// Keys created at run time (digests only).
    pub keys: Vec<KeyRecord>,
    pub revocations: Vec<KeyRevocation>,
    pub resets: Vec<BudgetReset>,
    /// Redis backend: writes Redis may not have received yet, by sequence number (ascending).
    pub outbox: Vec<(u64, String)>,
}

/// Sums of the deltas that fell into one minute row.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RowSums {
    pub cost_pico: u64,
    pub tokens: u64,
    pub requests: u64,
    pub tool_calls: u64,
}

/// What one group commit writes.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    pub spend: HashMap<(EntityId, u64), RowSums, FastBuild>,
    pub keys: Vec<KeyRecord>,
    pub revocations: Vec<KeyRevocation>,
    pub resets: Vec<BudgetReset>,
    /// Redis backend: entries for the outbox, and the sequence number up to which Redis has
    /// every entry (rows up to it are deleted; 0: none).
    pub outbox: Vec<(u64, String)>,
    pub outbox_done: u64,
    /// Deltas folded into `spend`.
    pub deltas: u64,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.spend.is_empty()
            && self.keys.is_empty()
            && self.revocations.is_empty()
            && self.resets.is_empty()
            && self.outbox.is_empty()
            && self.outbox_done == 0
    }

    pub fn clear(&mut self) {
        self.spend.clear();
        self.keys.clear();
        self.revocations.clear();
        self.resets.clear();
        self.outbox.clear();
        self.outbox_done = 0;
        self.deltas = 0;
    }
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn from_i64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// The open database.
pub struct Store {
    conn: Connection,
}

/// Adds `column` (of type `ddl`) to `table` when a ledger from an older build lacks it.
fn add_column_if_missing(
    conn: &Connection,
    table: &str,
    column: &str,
    ddl: &str,
) -> Result<(), rusqlite::Error> {
    let present: i64 = conn.query_row(
        "SELECT COUNT(*) FROM pragma_table_info(?1) WHERE name = ?2",
        [table, column],
        |r| r.get(0),
    )?;
    if present == 0 {
        conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {ddl};"))?;
    }
    Ok(())
}

impl Store {
    /// Opens (creating the directory, file and tables as needed) in WAL mode with full sync.
    pub fn open(path: &Path) -> Result<Store, LedgerError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| LedgerError::Io(format!("{}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS spend (
                 res_ms INTEGER NOT NULL, entity INTEGER NOT NULL, start_ms INTEGER NOT NULL,
                 cost_pico INTEGER NOT NULL, tokens INTEGER NOT NULL, requests INTEGER NOT NULL,
                 tool_calls INTEGER NOT NULL DEFAULT 0,
                 PRIMARY KEY (res_ms, entity, start_ms)) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS keys (
                 id TEXT PRIMARY KEY, hash BLOB NOT NULL UNIQUE, team TEXT NOT NULL,
                 customer TEXT, budgets TEXT NOT NULL, rate_limits TEXT NOT NULL,
                 models TEXT NOT NULL, expires_at INTEGER, created_at_ms INTEGER NOT NULL,
                 mcp_tools TEXT);
             CREATE TABLE IF NOT EXISTS revocations (
                 hash BLOB PRIMARY KEY, id TEXT NOT NULL, at_ms INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS budget_resets (
                 entity INTEGER NOT NULL, budget TEXT NOT NULL, at_ms INTEGER NOT NULL,
                 PRIMARY KEY (entity, budget));
             CREATE TABLE IF NOT EXISTS backend_outbox (
                 seq INTEGER PRIMARY KEY, body TEXT NOT NULL);",
        )?;
        // Ledgers written before keys had `mcp_tools` gain the column (NULL: no list), and
        // those written before MCP tool calls were persisted gain their count (0 so far).
        add_column_if_missing(&conn, "keys", "mcp_tools", "TEXT")?;
        add_column_if_missing(&conn, "spend", "tool_calls", "INTEGER NOT NULL DEFAULT 0")?;
        let version: Option<i64> = conn
            .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
                r.get(0)
            })
            .optional()?;
        match version {
            None => {
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema', ?1)",
                    [SCHEMA_VERSION],
                )?;
            }
            Some(SCHEMA_VERSION) => {}
            Some(other) => {
                return Err(LedgerError::Corrupt(format!(
                    "schema version {other}, this build reads {SCHEMA_VERSION}"
                )));
            }
        }
        Ok(Store { conn })
    }

    /// Writes `batch` in one transaction.
    pub fn commit(&mut self, batch: &Batch) -> Result<(), LedgerError> {
        let tx = self.conn.transaction()?;
        {
            let mut spend = tx.prepare_cached(
                "INSERT INTO spend (res_ms, entity, start_ms, cost_pico, tokens, requests, tool_calls)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (res_ms, entity, start_ms) DO UPDATE SET
                   cost_pico = cost_pico + excluded.cost_pico,
                   tokens = tokens + excluded.tokens,
                   requests = requests + excluded.requests,
                   tool_calls = tool_calls + excluded.tool_calls",
            )?;
            for ((entity, start_ms), sums) in &batch.spend {
                spend.execute(params![
                    to_i64(MINUTE_MS),
                    entity.0 as i64,
                    to_i64(*start_ms),
                    to_i64(sums.cost_pico),
                    to_i64(sums.tokens),
                    to_i64(sums.requests),
                    to_i64(sums.tool_calls)
                ])?;
            }
            let mut keys = tx.prepare_cached(
                "INSERT INTO keys (id, hash, team, customer, budgets, rate_limits, models, expires_at, created_at_ms, mcp_tools)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (id) DO UPDATE SET budgets = excluded.budgets,
                   rate_limits = excluded.rate_limits, models = excluded.models,
                   expires_at = excluded.expires_at, mcp_tools = excluded.mcp_tools",
            )?;
            for key in batch.keys.iter().filter(|k| k.origin == KeyOrigin::Runtime) {
                keys.execute(params![
                    key.id,
                    &key.hash[..],
                    key.team,
                    key.customer,
                    encode_budgets(&key.budgets),
                    encode_rate_limits(&key.rate_limits),
                    serde_json::to_string(&key.models)
                        .map_err(|e| LedgerError::Corrupt(e.to_string()))?,
                    key.expires_at_unix_secs.map(to_i64),
                    to_i64(key.created_at_ms),
                    key.mcp_tools
                        .as_ref()
                        .map(serde_json::to_string)
                        .transpose()
                        .map_err(|e| LedgerError::Corrupt(e.to_string()))?
                ])?;
            }
            let mut revocations = tx.prepare_cached(
                "INSERT INTO revocations (hash, id, at_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (hash) DO NOTHING",
            )?;
            for revocation in &batch.revocations {
                revocations.execute(params![
                    &revocation.hash[..],
                    revocation.id,
                    to_i64(revocation.at_ms)
                ])?;
            }
            let mut resets = tx.prepare_cached(
                "INSERT INTO budget_resets (entity, budget, at_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (entity, budget) DO UPDATE SET at_ms = max(at_ms, excluded.at_ms)",
            )?;
            for reset in &batch.resets {
                resets.execute(params![
                    reset.entity.0 as i64,
                    encode_budget_key(reset.budget),
                    to_i64(reset.at_ms)
                ])?;
            }
            let mut outbox = tx.prepare_cached(
                "INSERT INTO backend_outbox (seq, body) VALUES (?1, ?2) ON CONFLICT (seq) DO NOTHING",
            )?;
            for (seq, body) in &batch.outbox {
                outbox.execute(params![to_i64(*seq), body])?;
            }
            if batch.outbox_done > 0 {
                tx.execute(
                    "DELETE FROM backend_outbox WHERE seq <= ?1",
                    [to_i64(batch.outbox_done)],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Rolls minute rows older than two days into hours, hour rows older than 100 days into
    /// days, and drops spend older than 400 days.
    pub fn compact(&mut self, now_ms: u64) -> Result<(), LedgerError> {
        let tx = self.conn.transaction()?;
        for (from, to, age) in [
            (MINUTE_MS, HOUR_MS, MINUTE_RETENTION_MS),
            (HOUR_MS, DAY_MS, HOUR_RETENTION_MS),
        ] {
            let cutoff = to_i64(now_ms.saturating_sub(age) / to * to);
            tx.execute(
                "INSERT INTO spend (res_ms, entity, start_ms, cost_pico, tokens, requests, tool_calls)
                 SELECT ?1, entity, start_ms / ?1 * ?1, sum(cost_pico), sum(tokens), sum(requests),
                   sum(tool_calls)
                 FROM spend WHERE res_ms = ?2 AND start_ms < ?3 GROUP BY entity, start_ms / ?1
                 ON CONFLICT (res_ms, entity, start_ms) DO UPDATE SET
                   cost_pico = cost_pico + excluded.cost_pico,
                   tokens = tokens + excluded.tokens,
                   requests = requests + excluded.requests,
                   tool_calls = tool_calls + excluded.tool_calls",
                params![to_i64(to), to_i64(from), cutoff],
            )?;
            tx.execute(
                "DELETE FROM spend WHERE res_ms = ?1 AND start_ms < ?2",
                params![to_i64(from), cutoff],
            )?;
        }
        tx.execute(
            "DELETE FROM spend WHERE start_ms + res_ms <= ?1",
            [to_i64(now_ms.saturating_sub(SPEND_RETENTION_MS))],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Everything a restart needs: spend still within `SPEND_RETENTION_MS` of `now_ms`, created
    /// keys, revocations, resets.
    pub fn snapshot(&self, now_ms: u64) -> Result<LedgerSnapshot, LedgerError> {
        let mut snapshot = LedgerSnapshot::default();
        let mut spend = self.conn.prepare(
            "SELECT entity, start_ms, res_ms, cost_pico, tokens, requests, tool_calls FROM spend WHERE start_ms + res_ms > ?1",
        )?;
        let rows = spend.query_map([to_i64(now_ms.saturating_sub(SPEND_RETENTION_MS))], |r| {
            Ok(SpendRow {
                entity: EntityId(r.get::<_, i64>(0)? as u64),
                start_ms: from_i64(r.get(1)?),
                len_ms: from_i64(r.get(2)?),
                cost_pico: from_i64(r.get(3)?),
                tokens: from_i64(r.get(4)?),
                requests: from_i64(r.get(5)?),
                tool_calls: from_i64(r.get(6)?),
            })
        })?;
        for row in rows {
            snapshot.spend.push(row?);
        }
        let mut keys = self.conn.prepare(
            "SELECT id, hash, team, customer, budgets, rate_limits, models, expires_at, created_at_ms, mcp_tools FROM keys ORDER BY created_at_ms, id",
        )?;
        let rows = keys.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, Option<i64>>(7)?,
                r.get::<_, i64>(8)?,
                r.get::<_, Option<String>>(9)?,
            ))
        })?;
        for row in rows {
            let (id, hash, team, customer, budgets, limits, models, expires, created, tools) = row?;
            let hash: [u8; 32] = hash
                .try_into()
                .map_err(|_| LedgerError::Corrupt(format!("key `{id}` digest")))?;
            snapshot.keys.push(KeyRecord {
                budgets: decode_budgets(&budgets)
                    .ok_or_else(|| LedgerError::Corrupt(format!("key `{id}` budgets")))?,
                rate_limits: decode_rate_limits(&limits)
                    .ok_or_else(|| LedgerError::Corrupt(format!("key `{id}` rate limits")))?,
                models: serde_json::from_str(&models)
                    .map_err(|_| LedgerError::Corrupt(format!("key `{id}` models")))?,
                mcp_tools: tools
                    .map(|t| serde_json::from_str(&t))
                    .transpose()
                    .map_err(|_| LedgerError::Corrupt(format!("key `{id}` mcp_tools")))?,
                id,
                hash,
                team,
                customer,
                expires_at_unix_secs: expires.map(from_i64),
                origin: KeyOrigin::Runtime,
                created_at_ms: from_i64(created),
                revoked_at_ms: None,
            });
        }
        let mut revocations = self
            .conn
            .prepare("SELECT hash, id, at_ms FROM revocations")?;
        let rows = revocations.query_map([], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        for row in rows {
            let (hash, id, at_ms) = row?;
            let hash: [u8; 32] = hash
                .try_into()
                .map_err(|_| LedgerError::Corrupt(format!("revocation of `{id}`")))?;
            snapshot.revocations.push(KeyRevocation {
                id,
                hash,
                at_ms: from_i64(at_ms),
            });
        }
        let mut resets = self
            .conn
            .prepare("SELECT entity, budget, at_ms FROM budget_resets")?;
        let rows = resets.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        for row in rows {
            let (entity, budget, at_ms) = row?;
            snapshot.resets.push(BudgetReset {
                entity: EntityId(entity as u64),
                budget: decode_budget_key(&budget)
                    .ok_or_else(|| LedgerError::Corrupt(format!("budget reset `{budget}`")))?,
                at_ms: from_i64(at_ms),
            });
        }
        let mut outbox = self
            .conn
            .prepare("SELECT seq, body FROM backend_outbox ORDER BY seq")?;
        let rows = outbox.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
        for row in rows {
            let (seq, body) = row?;
            snapshot.outbox.push((from_i64(seq), body));
        }
        Ok(snapshot)
    }
}

impl Store {
    /// One entity's spend rows still within `SPEND_RETENTION_MS` of `now_ms`, and its budget
    /// resets (the rest of the snapshot stays empty).
    pub fn entity_history(
        &self,
        entity: EntityId,
        now_ms: u64,
    ) -> Result<LedgerSnapshot, LedgerError> {
        let mut history = LedgerSnapshot::default();
        let id = entity.0 as i64;
        let mut spend = self.conn.prepare(
            "SELECT start_ms, res_ms, cost_pico, tokens, requests, tool_calls FROM spend WHERE entity = ?1 AND start_ms + res_ms > ?2",
        )?;
        let since = to_i64(now_ms.saturating_sub(SPEND_RETENTION_MS));
        let rows = spend.query_map(params![id, since], |r| {
            Ok(SpendRow {
                entity,
                start_ms: from_i64(r.get(0)?),
                len_ms: from_i64(r.get(1)?),
                cost_pico: from_i64(r.get(2)?),
                tokens: from_i64(r.get(3)?),
                requests: from_i64(r.get(4)?),
                tool_calls: from_i64(r.get(5)?),
            })
        })?;
        for row in rows {
            history.spend.push(row?);
        }
        let mut resets = self
            .conn
            .prepare("SELECT budget, at_ms FROM budget_resets WHERE entity = ?1")?;
        let rows = resets.query_map([id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        for row in rows {
            let (budget, at_ms) = row?;
            history.resets.push(BudgetReset {
                entity,
                budget: decode_budget_key(&budget)
                    .ok_or_else(|| LedgerError::Corrupt(format!("budget reset `{budget}`")))?,
                at_ms: from_i64(at_ms),
            });
        }
        Ok(history)
    }
}

/// Reads the ledger at `path` (an absent file is an empty ledger).
pub fn load_snapshot(path: &Path, now_ms: u64) -> Result<LedgerSnapshot, LedgerError> {
    if !path.exists() {
        return Ok(LedgerSnapshot::default());
    }
    Store::open(path)?.snapshot(now_ms)
}
