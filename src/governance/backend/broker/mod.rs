//! The broker thread: one per instance, a peer of the shards numbered after the last one. It
//! turns share requests into Redis leases, settlements into usage and ledger writes, share
//! handed back into lease releases, and keeps keys and other instances' usage flowing in.
//! While Redis is down it queues writes (bounded), tells the shards (they refuse under
//! `fail_closed`), leases from a local share of each cap under `local`, and reconnects with
//! backoff. Every settled write goes to the local ledger's outbox first (`outbox`), and what
//! a previous run left there is replayed at start.

mod inflow;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use futures_channel::mpsc::UnboundedSender;

use super::items::usage_field;
use super::items::{
    ADD_ONCE_SCRIPT, Catalog, Item, LEASE_SCRIPT, LEASE_TTL_MS, SET_SHARE_SCRIPT, guard_key,
    ledger_key,
};
use super::keysync::{
    decode_record, decode_revocation, encode_record, encode_revocation, hex, keys_key, revoked_key,
    version_key,
};
use super::outbox::Write;
use super::resets::{RESET_SCRIPT, decode_reset, reset_field, resets_key};
use super::{BackendSetup, CONNECT_TIMEOUT, IO_TIMEOUT, stats};
use crate::config::{BackendErrorPolicy, Config};
use crate::governance::clock::{Clock, SystemClock};
use crate::governance::keys::KeyRecord;
use crate::governance::ledger::LedgerHandle;
use crate::governance::messages::{
    BackendStatus, BudgetReset, GovMsg, KeyRevocation, ShareGrant, ShareOf, ShareRequest,
    SpendDelta,
};

/// Leases are renewed this often (well inside [`LEASE_TTL_MS`]).
pub const RENEW_MS: u64 = 1_000;
/// Share is handed back to Redis when its item saw no ask and no settlement for this long.
pub const IDLE_MS: u64 = 2_000;
/// How often idle (or contended) share is called back from the shards.
pub const RECLAIM_MS: u64 = 1_000;
/// Other instances' usage is pulled this often (the soft-mode staleness bound, with
/// [`FLUSH_MS`]); key changes and budget resets are polled just before each pull.
pub const PULL_MS: u64 = 500;
/// Longest the broker waits before pushing what it has (it also pushes on every message).
pub const FLUSH_MS: u64 = 50;
/// Reconnect backoff: first and longest wait.
pub const BACKOFF_MIN_MS: u64 = 100;
pub const BACKOFF_MAX_MS: u64 = 5_000;
/// Most writes kept for Redis while it is down (the local SQLite ledger keeps every
/// settlement regardless); past it the oldest are dropped, with a log line.
pub const MAX_PENDING: usize = 1_000_000;
/// Most messages taken in per round trip.
const MAX_BATCH: usize = 4_096;
/// A lease asks for the shard's want times up to this factor, more as asks come faster.
pub const MAX_SLICE_FACTOR: u64 = 8;

/// What the shards hold of one item, and how busy it is.
#[derive(Clone, Copy, Debug, Default)]
struct Holding {
    /// In the shard's unit (pico-dollars, requests or tokens).
    held: u64,
    last_active_ms: u64,
    /// Asks in the current second, and that second.
    asks: u64,
    asks_second: u64,
    contended: bool,
}

/// Test-only: while this variable is set, settled usage, ledger and reset writes are kept in
/// the local outbox and never pushed to Redis (the window a `kill -9` can hit, made wide).
pub const HOLD_WRITES_ENV: &str = "SLUICE_TEST_HOLD_REDIS_WRITES";

/// One instance's broker.
pub struct Broker {
    setup: BackendSetup,
    client: redis::Client,
    conn: Option<redis::Connection>,
    lease_sha: String,
    share_sha: String,
    add_sha: String,
    reset_sha: String,
    /// The next write's sequence number (starts at the start-up time in µs: increasing
    /// across restarts, exact in Lua's doubles for centuries).
    next_seq: u64,
    catalog: Catalog,
    holdings: HashMap<String, Holding>,
    /// Item keys whose lease must be written (share came back).
    dirty: HashSet<String>,
    pending: VecDeque<Write>,
    /// Other instances' usage already passed to the shards: (item key, field) → amount.
    seen: HashMap<(String, String), u64>,
    known_keys: HashMap<String, String>,
    known_revoked: HashSet<String>,
    keys_version: Option<i64>,
    /// Live instances seen by the last pull (for `local`: each enforces cap / the larger of
    /// this and `setup.expected_instances`).
    live_seen: u64,
    /// Resets known to be in Redis: field of the resets hash → when.
    known_resets: HashMap<String, u64>,
    /// Item key → its last reset (pulled usage counts from it on).
    reset_at: HashMap<String, u64>,
    /// The local ledger (its outbox keeps writes until Redis has them); set by `run`.
    ledger: Option<LedgerHandle>,
    /// Highest sequence number Redis is known to have (told to the ledger's outbox).
    outbox_done: u64,
    /// [`HOLD_WRITES_ENV`].
    hold_writes: bool,
    clock: SystemClock,
}

impl Broker {
    /// Connects (a start-up failure names the URL without credentials).
    pub fn connect(setup: BackendSetup, config: &Config) -> Result<Broker, String> {
        let where_ = setup.redacted_url();
        let client = redis::Client::open(setup.url.as_str())
            .map_err(|e| format!("governance.redis_url ({where_}) is not usable: {e}"))?;
        let catalog = Catalog::build(&setup.prefix, config, std::iter::empty());
        let started_ms = SystemClock.now_unix_millis();
        let mut broker = Broker {
            setup,
            client,
            conn: None,
            lease_sha: String::new(),
            share_sha: String::new(),
            add_sha: String::new(),
            reset_sha: String::new(),
            next_seq: started_ms.saturating_mul(1_000),
            catalog,
            holdings: HashMap::new(),
            dirty: HashSet::new(),
            pending: VecDeque::new(),
            seen: HashMap::new(),
            known_keys: HashMap::new(),
            known_revoked: HashSet::new(),
            keys_version: None,
            live_seen: 1,
            known_resets: HashMap::new(),
            reset_at: HashMap::new(),
            ledger: None,
            outbox_done: 0,
            hold_writes: std::env::var_os(HOLD_WRITES_ENV).is_some(),
            clock: SystemClock,
        };
        broker
            .open()
            .map_err(|e| format!("cannot reach governance.redis_url ({where_}): {e}"))?;
        stats::CONFIGURED.store(true, Ordering::Relaxed);
        stats::UP.store(true, Ordering::Relaxed);
        Ok(broker)
    }

    fn open(&mut self) -> redis::RedisResult<()> {
        let mut conn = self.client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
        conn.set_read_timeout(Some(IO_TIMEOUT))?;
        conn.set_write_timeout(Some(IO_TIMEOUT))?;
        let mut load = |script: &str| -> redis::RedisResult<String> {
            redis::cmd("SCRIPT")
                .arg("LOAD")
                .arg(script)
                .query(&mut conn)
        };
        self.lease_sha = load(LEASE_SCRIPT)?;
        self.share_sha = load(SET_SHARE_SCRIPT)?;
        self.add_sha = load(ADD_ONCE_SCRIPT)?;
        self.reset_sha = load(RESET_SCRIPT)?;
        self.conn = Some(conn);
        Ok(())
    }

    /// Every shared key record, revocation and budget reset (start-up).
    pub fn shared_keys(&mut self) -> Result<SharedKeys, String> {
        let prefix = self.setup.prefix.clone();
        let conn = self.conn.as_mut().ok_or("not connected")?;
        type Hash = HashMap<String, String>;
        let (version, records, revoked, resets): (Option<i64>, Hash, Hash, Hash) = redis::pipe()
            .get(super::keysync::version_key(&prefix))
            .hgetall(keys_key(&prefix))
            .hgetall(revoked_key(&prefix))
            .hgetall(resets_key(&prefix))
            .query(conn)
            .map_err(|e| format!("cannot read the shared keys: {e}"))?;
        self.keys_version = version;
        let mut out = Vec::new();
        for (id, json) in records {
            if let Some(record) = decode_record(&json) {
                self.known_keys.insert(id, json);
                out.push(record);
            }
        }
        let mut revocations = Vec::new();
        for (hash, value) in revoked {
            if let Some(revocation) = decode_revocation(&hash, &value) {
                self.known_revoked.insert(hash);
                revocations.push(revocation);
            }
        }
        let mut budget_resets = Vec::new();
        for (field, value) in resets {
            if let Some(reset) = decode_reset(&field, &value) {
                self.known_resets.insert(field, reset.at_ms);
                budget_resets.push(reset);
            }
        }
        Ok((out, revocations, budget_resets))
    }

    /// Drops the leases a previous run of this instance left in Redis (start-up): it is gone,
    /// and its unused share would otherwise count until it expires, or for as long as this
    /// run keeps asking in vain (each lease renews the instance's fields).
    pub fn drop_stale_leases(&mut self) -> Result<(), String> {
        let mut pipe = redis::pipe();
        let (share, expiry) = (
            format!("s:{}", self.setup.instance),
            format!("x:{}", self.setup.instance),
        );
        let mut items = 0;
        for item in self.catalog.by_entity.values().flatten() {
            pipe.hdel(&item.key, (&share, &expiry)).ignore();
            items += 1;
        }
        if items == 0 {
            return Ok(());
        }
        let conn = self.conn.as_mut().ok_or("not connected")?;
        pipe.query::<()>(conn)
            .map_err(|e| format!("cannot drop this instance's old leases: {e}"))
    }

    /// Queues what a previous run left in the local outbox (`rows`, by sequence number) ahead
    /// of every new write; Redis' guards skip what it already has. Returns how many.
    pub fn replay(&mut self, rows: &[(u64, String)]) -> usize {
        let mut replayed = 0;
        for (seq, line) in rows {
            match Write::decode(*seq, line) {
                Some(write) => {
                    self.next_seq = self.next_seq.max(*seq);
                    self.pending.push_back(write);
                    replayed += 1;
                }
                None => eprintln!(
                    "sluice: governance backend: outbox entry {seq} is unreadable and skipped"
                ),
            }
            self.outbox_done = self.outbox_done.max(*seq);
        }
        replayed
    }

    /// Publishes runtime keys and revocations this instance has and Redis lacks (start-up).
    pub fn publish_local(
        &mut self,
        keys: &[KeyRecord],
        revocations: &[KeyRevocation],
    ) -> Result<(), String> {
        for record in keys {
            self.note_key(record);
        }
        for revocation in revocations {
            if !self.known_revoked.contains(&hex(&revocation.hash)) {
                self.note_revocation(revocation);
            }
        }
        self.push(&mut Vec::new(), &mut Vec::new())
            .map_err(|e| format!("cannot publish keys: {e}"))
    }

    /// Adds the items of these keys to the catalog.
    pub fn catalog_keys<'a>(&mut self, keys: impl Iterator<Item = &'a KeyRecord>) {
        for record in keys {
            self.catalog.upsert_key(&self.setup.prefix, record);
        }
    }

    /// Runs until every shard is gone: `inbox` carries what the shards send the broker,
    /// `shards` reaches each shard's inbox, `ledger` keeps the outbox.
    pub fn run(
        mut self,
        inbox: Receiver<GovMsg>,
        shards: Vec<UnboundedSender<GovMsg>>,
        ledger: LedgerHandle,
    ) {
        if self.outbox_done > 0 {
            // What start-up replayed is in Redis now.
            ledger.outbox_done(self.outbox_done);
        }
        self.ledger = Some(ledger);
        let me = u32::try_from(shards.len()).unwrap_or(u32::MAX);
        let mut ticks = Ticks::new(self.now());
        let mut backoff = BACKOFF_MIN_MS;
        let mut batch = Vec::with_capacity(64);
        loop {
            let now = self.now();
            let wait = ticks.next_due().saturating_sub(now).min(FLUSH_MS);
            match inbox.recv_timeout(Duration::from_millis(wait.max(1))) {
                Ok(msg) => batch.push(msg),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            while batch.len() < MAX_BATCH {
                match inbox.try_recv() {
                    Ok(msg) => batch.push(msg),
                    Err(_) => break,
                }
            }
            let mut wants = Vec::new();
            for msg in batch.drain(..) {
                self.take(msg, me, &mut wants);
            }
            let now = self.now();
            if self.conn.is_none() && now >= ticks.reconnect {
                match self.open() {
                    Ok(()) => {
                        backoff = BACKOFF_MIN_MS;
                        self.dirty.extend(self.holdings.keys().cloned());
                        self.set_up(true, "reconnected", &shards);
                    }
                    Err(_) => {
                        backoff = (backoff * 2).min(BACKOFF_MAX_MS);
                        ticks.reconnect = now + backoff;
                    }
                }
            }
            if now >= ticks.renew {
                ticks.renew = now + RENEW_MS;
                let held: Vec<String> = self
                    .holdings
                    .iter()
                    .filter(|(_, h)| h.held > 0)
                    .map(|(k, _)| k.clone())
                    .collect();
                self.dirty.extend(held);
            }
            let mut grants = Vec::new();
            if self.conn.is_some()
                && let Err(e) = self.push(&mut wants, &mut grants)
            {
                self.go_down(&e.to_string(), &shards, &mut ticks);
            }
            if self.conn.is_none() {
                self.lease_locally(&wants, &mut grants);
            }
            for (to, grant) in grants {
                if let Some(shard) = shards.get(to as usize) {
                    let _ = shard.unbounded_send(GovMsg::ShareGrant(grant));
                }
            }
            if now >= ticks.reclaim {
                ticks.reclaim = now + RECLAIM_MS;
                self.reclaim(now, me, &shards);
            }
            if self.conn.is_some() && now >= ticks.pull {
                ticks.pull = now + PULL_MS;
                let polled = self
                    .poll_keys(&shards)
                    .and_then(|()| self.pull(now, &shards));
                if let Err(e) = polled {
                    self.go_down(&e.to_string(), &shards, &mut ticks);
                }
            }
            stats::PENDING.store(self.pending.len() as u64, Ordering::Relaxed);
        }
        // The shards are gone: hand every lease back (usage stays counted) and push the rest.
        for holding in self.holdings.values_mut() {
            holding.held = 0;
        }
        self.dirty.extend(self.holdings.keys().cloned());
        if self.conn.is_some() {
            let _ = self.push(&mut Vec::new(), &mut Vec::new());
        }
    }

    /// The open connection (an IO error while Redis is down).
    fn connection(&mut self) -> redis::RedisResult<&mut redis::Connection> {
        self.conn
            .as_mut()
            .ok_or_else(|| redis::RedisError::from((redis::ErrorKind::Io, "not connected")))
    }

    fn now(&self) -> u64 {
        self.clock.now_unix_millis()
    }

    /// Takes in one message from a shard.
    fn take(&mut self, msg: GovMsg, me: u32, wants: &mut Vec<ShareRequest>) {
        match msg {
            GovMsg::Spend(delta) => self.settled(&delta),
            GovMsg::ShareRequest(request) if request.from_shard != me => wants.push(request),
            GovMsg::ShareGrant(grant) if grant.to_shard == me => {
                if let Some(item) = self.catalog.item(grant.entity, grant.of) {
                    let key = item.key.clone();
                    let holding = self.holdings.entry(key.clone()).or_default();
                    holding.held = holding.held.saturating_sub(grant.amount);
                    self.dirty.insert(key);
                }
            }
            GovMsg::KeyUpsert(record) => {
                self.catalog.upsert_key(&self.setup.prefix, &record);
                self.note_key(&record);
            }
            GovMsg::KeyRevoked(revocation) => self.note_revocation(&revocation),
            GovMsg::ToolCall(delta) => self.tool_called(&delta),
            GovMsg::BudgetReset(reset) => self.reset_taken(&reset),
            GovMsg::ShareRequest(_)
            | GovMsg::BudgetSeed(_)
            | GovMsg::ShareGrant(_)
            | GovMsg::Backend(_)
            | GovMsg::Remote(_) => {}
        }
    }

    /// An admin reset made on this instance: Redis drops the budget's usage and publishes it.
    fn reset_taken(&mut self, reset: &BudgetReset) {
        let keys = self.forget_usage(reset);
        let field = reset_field(reset);
        self.known_resets.insert(field.clone(), reset.at_ms);
        self.next_seq += 1;
        self.queue(Write::Reset {
            keys,
            field,
            at_ms: reset.at_ms,
            seq: self.next_seq,
        });
    }

    /// Keeps `write` for Redis: in the local outbox first (when numbered), then in memory
    /// (unless the test-only hold is on).
    fn queue(&mut self, write: Write) {
        if let (Some(seq), Some(ledger)) = (write.seq(), &self.ledger)
            && let Some(line) = write.encode()
        {
            ledger.outbox_put(seq, line);
            if self.hold_writes {
                return;
            }
        }
        if self.pending.len() >= MAX_PENDING {
            self.pending.pop_front();
            eprintln!(
                "sluice: governance backend: more than {MAX_PENDING} writes wait for Redis; the oldest is dropped (the local ledger keeps it)"
            );
        }
        self.pending.push_back(write);
    }

    fn note_key(&mut self, record: &KeyRecord) {
        let json = encode_record(record);
        self.known_keys.insert(record.id.clone(), json.clone());
        self.queue(Write::Key {
            id: record.id.clone(),
            json,
        });
    }

    fn note_revocation(&mut self, revocation: &KeyRevocation) {
        let hash = hex(&revocation.hash);
        self.known_revoked.insert(hash.clone());
        self.queue(Write::Revocation {
            hash,
            value: encode_revocation(revocation),
        });
    }

    /// One admitted MCP tool call: usage of the `tool_calls` items of its entities.
    fn tool_called(&mut self, delta: &crate::governance::ToolCallDelta) {
        let mut writes = Vec::new();
        for entity in delta.entities.iter().flatten() {
            self.entity_usage(entity, delta.at_ms, &mut writes, |of| match of {
                ShareOf::ToolCalls { .. } => Some((delta.at_ms, 1)),
                _ => None,
            });
        }
        for write in writes {
            self.queue(write);
        }
    }

    /// One settlement: usage of every item it touched, and the durable ledger.
    fn settled(&mut self, delta: &SpendDelta) {
        let mut writes = Vec::new();
        for entity in delta.entities.iter().flatten() {
            self.entity_usage(entity, delta.settled_at_ms, &mut writes, |of| {
                Some(match of {
                    ShareOf::Budget(_) => (delta.settled_at_ms, delta.cost_pico),
                    ShareOf::Requests { .. } => (delta.admitted_at_ms, 1),
                    ShareOf::Tokens { .. } => (delta.settled_at_ms, delta.rate_tokens),
                    // Counted when admitted (`tool_called`), not at a model request's settlement.
                    ShareOf::ToolCalls { .. } => (delta.settled_at_ms, 0),
                })
            });
            if delta.cost_pico > 0 {
                self.next_seq += 1;
                writes.push(Write::Ledger {
                    key: ledger_key(&self.setup.prefix, *entity),
                    pico: delta.cost_pico,
                    seq: self.next_seq,
                });
            }
        }
        for write in writes {
            self.queue(write);
        }
    }

    /// Adds to `writes` the usage of `entity`'s items: `usage_of` gives each item's (bucket
    /// time, amount), or `None` to leave the item alone. Every item it does not leave alone is
    /// marked active at `active_ms`; an amount of 0 writes nothing.
    fn entity_usage(
        &mut self,
        entity: &crate::governance::EntityId,
        active_ms: u64,
        writes: &mut Vec<Write>,
        usage_of: impl Fn(&ShareOf) -> Option<(u64, u64)>,
    ) {
        let Some(items) = self.catalog.by_entity.get(entity) else {
            return;
        };
        for item in items {
            let Some((at_ms, amount)) = usage_of(&item.of) else {
                continue;
            };
            if let Some(holding) = self.holdings.get_mut(&item.key) {
                holding.last_active_ms = active_ms;
            }
            if amount > 0 {
                let instance = &self.setup.instance;
                writes.push(usage_write(
                    &mut self.next_seq,
                    instance,
                    item,
                    at_ms,
                    amount,
                ));
            }
        }
    }

    /// One round trip: every pending write, a lease per want and a lease write per dirty
    /// item. Grants go to `grants`. On error the writes stay pending.
    fn push(
        &mut self,
        wants: &mut Vec<ShareRequest>,
        grants: &mut Vec<(u32, ShareGrant)>,
    ) -> redis::RedisResult<()> {
        if self.pending.is_empty() && wants.is_empty() && self.dirty.is_empty() {
            return Ok(());
        }
        let now = self.now();
        let instance = self.setup.instance.clone();
        let prefix = self.setup.prefix.clone();
        let mut pipe = redis::pipe();
        let mut keys_changed = false;
        let mut top_seq = 0;
        for write in &self.pending {
            top_seq = top_seq.max(write.seq().unwrap_or(0));
            match write {
                Write::Usage {
                    key,
                    field,
                    units,
                    ttl_ms,
                    seq,
                } => {
                    add_once(
                        &mut pipe,
                        &self.add_sha,
                        key,
                        &instance,
                        *seq,
                        field,
                        *units,
                        *ttl_ms,
                    );
                }
                Write::Ledger { key, pico, seq } => {
                    add_once(
                        &mut pipe,
                        &self.add_sha,
                        key,
                        &instance,
                        *seq,
                        &instance,
                        *pico,
                        0,
                    );
                }
                Write::Reset {
                    keys,
                    field,
                    at_ms,
                    seq,
                } => {
                    for key in keys {
                        pipe.cmd("EVALSHA")
                            .arg(&self.reset_sha)
                            .arg(2)
                            .arg(key)
                            .arg(guard_key(key))
                            .arg(&instance)
                            .arg(*seq)
                            .ignore();
                    }
                    pipe.hset(resets_key(&prefix), field, *at_ms).ignore();
                    keys_changed = true;
                }
                Write::Key { id, json } => {
                    pipe.hset(keys_key(&prefix), id, json).ignore();
                    keys_changed = true;
                }
                Write::Revocation { hash, value } => {
                    pipe.hset(revoked_key(&prefix), hash, value).ignore();
                    keys_changed = true;
                }
            }
        }
        if keys_changed {
            pipe.incr(version_key(&prefix), 1).ignore();
        }
        // Lease writes first: each sets what the shards hold now, and the leases after it add
        // their grants on top (a write after a lease would drop that grant from Redis' count).
        let dirty: Vec<String> = self.dirty.iter().cloned().collect();
        for key in &dirty {
            let held = self.holdings.get(key).map_or(0, |h| h.held);
            let units = self.units_of_key(key, held);
            pipe.cmd("EVALSHA")
                .arg(&self.share_sha)
                .arg(1)
                .arg(key)
                .arg(&instance)
                .arg(units)
                .arg(now + LEASE_TTL_MS)
                .arg(now.saturating_sub(IDLE_MS));
        }
        let mut asked: Vec<(ShareRequest, Item, u64)> = Vec::new();
        for want in wants.iter() {
            let Some(item) = self.catalog.item(want.entity, want.of).cloned() else {
                continue;
            };
            let holding = self.holdings.entry(item.key.clone()).or_default();
            let second = now / 1_000;
            if holding.asks_second != second {
                holding.asks_second = second;
                holding.asks = 0;
            }
            holding.asks += 1;
            holding.last_active_ms = now;
            let factor = holding.asks.clamp(1, MAX_SLICE_FACTOR);
            let held_units = item.units_up(holding.held);
            let units = item.units_up(want.wanted).max(1).saturating_mul(factor);
            pipe.cmd("EVALSHA")
                .arg(&self.lease_sha)
                .arg(1)
                .arg(&item.key)
                .arg(&instance)
                .arg(now)
                .arg(now + LEASE_TTL_MS)
                .arg(item.cap)
                .arg(units)
                .arg(item.window_start(now))
                .arg(item.key_ttl_ms(now))
                .arg(held_units);
            asked.push((*want, item, units));
        }
        let conn = self.connection()?;
        let replies: Vec<redis::Value> = pipe.query(conn)?;
        self.pending.clear();
        if top_seq > self.outbox_done {
            self.outbox_done = top_seq;
            if let Some(ledger) = &self.ledger {
                ledger.outbox_done(top_seq);
            }
        }
        self.dirty.clear();
        wants.clear();
        let mut replies = replies.into_iter();
        for key in dirty {
            let Some(reply) = replies.next() else { break };
            let contended: u64 = redis::from_redis_value(reply).unwrap_or(0);
            if let Some(holding) = self.holdings.get_mut(&key) {
                holding.contended = contended == 1;
            }
            if self.holdings.get(&key).is_some_and(|h| h.held == 0) {
                self.holdings.remove(&key);
            }
        }
        for (want, item, units) in asked {
            let Some(reply) = replies.next() else { break };
            let (granted, _live): (u64, u64) = redis::from_redis_value(reply).unwrap_or((0, 1));
            stats::LEASES.fetch_add(1, Ordering::Relaxed);
            if granted < units {
                stats::LEASES_SHORT.fetch_add(1, Ordering::Relaxed);
            }
            let amount = item.from_units(granted);
            if amount == 0 {
                continue;
            }
            let holding = self.holdings.entry(item.key.clone()).or_default();
            holding.held = holding.held.saturating_add(amount);
            grants.push((
                want.from_shard,
                ShareGrant {
                    to_shard: want.from_shard,
                    entity: want.entity,
                    of: want.of,
                    amount,
                },
            ));
        }
        Ok(())
    }

    /// Redis units (rounded up) of `held` shard units of the item at `key`.
    fn units_of_key(&self, key: &str, held: u64) -> u64 {
        let budget = key.contains(":b:");
        if budget {
            held.div_ceil(super::items::PICO_PER_UNIT)
        } else {
            held
        }
    }

    /// `local` while Redis is down: leases from this instance's share of each cap (cap / the
    /// live instances last seen).
    fn lease_locally(&mut self, wants: &[ShareRequest], grants: &mut Vec<(u32, ShareGrant)>) {
        if self.setup.policy != BackendErrorPolicy::Local {
            return;
        }
        for want in wants {
            let Some(item) = self.catalog.item(want.entity, want.of).cloned() else {
                continue;
            };
            let instances = self.live_seen.max(self.setup.expected_instances).max(1);
            let own_cap = item.from_units(item.cap / instances);
            let holding = self.holdings.entry(item.key.clone()).or_default();
            let room = own_cap.saturating_sub(holding.held);
            let amount = room.min(want.wanted.max(1));
            if amount == 0 {
                continue;
            }
            holding.held += amount;
            grants.push((
                want.from_shard,
                ShareGrant {
                    to_shard: want.from_shard,
                    entity: want.entity,
                    of: want.of,
                    amount,
                },
            ));
        }
    }

    /// Calls back share that sits idle (or that another instance was refused) from every
    /// shard; what they free comes back as grants to the broker.
    fn reclaim(&mut self, now: u64, me: u32, shards: &[UnboundedSender<GovMsg>]) {
        if self.conn.is_none() {
            return;
        }
        let mut calls = Vec::new();
        for (key, holding) in &mut self.holdings {
            let idle = now.saturating_sub(holding.last_active_ms) >= IDLE_MS;
            if holding.held > 0 && (idle || holding.contended) {
                holding.contended = false;
                calls.push(key.clone());
            }
        }
        for key in calls {
            let Some(item) = self
                .catalog
                .by_entity
                .values()
                .flatten()
                .find(|i| i.key == key)
            else {
                continue;
            };
            let request = GovMsg::ShareRequest(ShareRequest {
                from_shard: me,
                entity: item.entity,
                of: item.of,
                wanted: u64::MAX,
            });
            for shard in shards {
                let _ = shard.unbounded_send(request.clone());
            }
        }
    }

    fn go_down(&mut self, why: &str, shards: &[UnboundedSender<GovMsg>], ticks: &mut Ticks) {
        self.conn = None;
        ticks.reconnect = self.now() + BACKOFF_MIN_MS;
        self.set_up(false, why, shards);
    }

    /// Records and announces a change: a log line, the metric, and a message to every shard.
    fn set_up(&mut self, up: bool, why: &str, shards: &[UnboundedSender<GovMsg>]) {
        if stats::UP.swap(up, Ordering::Relaxed) == up {
            return;
        }
        stats::CHANGES.fetch_add(1, Ordering::Relaxed);
        let policy = match self.setup.policy {
            BackendErrorPolicy::FailClosed => "governed requests are refused (fail_closed)",
            BackendErrorPolicy::Local => "each instance enforces its share of every cap (local)",
        };
        if up {
            eprintln!(
                "sluice: governance backend: Redis at {} answers again ({why}); shared budgets resume",
                self.setup.redacted_url()
            );
        } else {
            eprintln!(
                "sluice: governance backend: Redis at {} is down ({why}); {policy} until it answers",
                self.setup.redacted_url()
            );
        }
        for shard in shards {
            let _ = shard.unbounded_send(GovMsg::Backend(BackendStatus { up }));
        }
    }
}

/// The next-numbered usage write of `amount` (in the shard's unit) of `item` at `at_ms`.
fn usage_write(seq: &mut u64, instance: &str, item: &Item, at_ms: u64, amount: u64) -> Write {
    *seq += 1;
    Write::Usage {
        key: item.key.clone(),
        field: usage_field(instance, item.bucket(at_ms)),
        units: item.units_up(amount),
        ttl_ms: item.key_ttl_ms(at_ms),
        seq: *seq,
    }
}

/// Queues one [`ADD_ONCE_SCRIPT`] call (its reply ignored).
#[allow(clippy::too_many_arguments)]
fn add_once(
    pipe: &mut redis::Pipeline,
    sha: &str,
    key: &str,
    instance: &str,
    seq: u64,
    field: &str,
    amount: u64,
    ttl_ms: u64,
) {
    pipe.cmd("EVALSHA")
        .arg(sha)
        .arg(2)
        .arg(key)
        .arg(guard_key(key))
        .arg(instance)
        .arg(seq)
        .arg(field)
        .arg(amount)
        .arg(ttl_ms)
        .ignore();
}

/// Shared keys, revocations and budget resets, as read at start-up.
pub type SharedKeys = (Vec<KeyRecord>, Vec<KeyRevocation>, Vec<BudgetReset>);

/// `{prefix}:instances`: instance → until when it counts as live (renewed every pull).
fn instances_key(prefix: &str) -> String {
    format!("{{{prefix}}}:instances")
}

/// When each periodic duty is next due (unix ms).
struct Ticks {
    renew: u64,
    reclaim: u64,
    pull: u64,
    reconnect: u64,
}

impl Ticks {
    fn new(now: u64) -> Ticks {
        Ticks {
            renew: now + RENEW_MS,
            reclaim: now + RECLAIM_MS,
            pull: now,
            reconnect: now,
        }
    }

    fn next_due(&self) -> u64 {
        self.renew.min(self.reclaim).min(self.pull)
    }
}
