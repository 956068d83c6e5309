//! The broker thread: one per instance, a peer of the shards numbered after the last one. It
//! turns share requests into Redis leases, settlements into usage and ledger writes, share
//! handed back into lease releases, and keeps keys and other instances' usage flowing in.
//! While Redis is down it queues writes (bounded), tells the shards (they refuse under
//! `fail_closed`), leases from a local share of each cap under `local`, and reconnects with
//! backoff.

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
use super::{BackendSetup, CONNECT_TIMEOUT, IO_TIMEOUT, stats};
use crate::config::{BackendErrorPolicy, Config};
use crate::governance::clock::{Clock, SystemClock};
use crate::governance::keys::KeyRecord;
use crate::governance::messages::{
    BackendStatus, GovMsg, KeyRevocation, RemoteUsage, ShareGrant, ShareOf, ShareRequest,
    SpendDelta,
};

/// Leases are renewed this often (well inside [`LEASE_TTL_MS`]).
pub const RENEW_MS: u64 = 1_000;
/// Share is handed back to Redis when its item saw no ask and no settlement for this long.
pub const IDLE_MS: u64 = 2_000;
/// How often idle (or contended) share is called back from the shards.
pub const RECLAIM_MS: u64 = 1_000;
/// Other instances' usage is pulled this often (the soft-mode staleness bound, with
/// [`FLUSH_MS`]).
pub const PULL_MS: u64 = 500;
/// Key changes are polled this often (a change reaches every instance within ~1 s).
pub const KEY_POLL_MS: u64 = 1_000;
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

/// A write Redis must get (kept across outages).
#[derive(Clone, Debug)]
enum Write {
    Usage {
        key: String,
        field: String,
        units: u64,
        ttl_ms: u64,
        seq: u64,
    },
    Ledger {
        key: String,
        pico: u64,
        seq: u64,
    },
    Key {
        id: String,
        json: String,
    },
    Revocation {
        hash: String,
        value: String,
    },
}

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

/// One instance's broker.
pub struct Broker {
    setup: BackendSetup,
    client: redis::Client,
    conn: Option<redis::Connection>,
    lease_sha: String,
    share_sha: String,
    add_sha: String,
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
    /// Live instances seen by the last lease (for `local`: each enforces cap / this).
    live_seen: u64,
    clock: SystemClock,
}

impl Broker {
    /// Connects (a start-up failure names the URL without credentials).
    pub fn connect(setup: BackendSetup, config: &Config) -> Result<Broker, String> {
        let where_ = setup.redacted_url();
        let client = redis::Client::open(setup.url.as_str())
            .map_err(|e| format!("governance.redis_url ({where_}) is not usable: {e}"))?;
        let catalog = Catalog::build(&setup.prefix, config, std::iter::empty());
        let mut broker = Broker {
            setup,
            client,
            conn: None,
            lease_sha: String::new(),
            share_sha: String::new(),
            add_sha: String::new(),
            next_seq: SystemClock.now_unix_millis().saturating_mul(1_000),
            catalog,
            holdings: HashMap::new(),
            dirty: HashSet::new(),
            pending: VecDeque::new(),
            seen: HashMap::new(),
            known_keys: HashMap::new(),
            known_revoked: HashSet::new(),
            keys_version: None,
            live_seen: 1,
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
        self.lease_sha = redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg(LEASE_SCRIPT)
            .query(&mut conn)?;
        self.share_sha = redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg(SET_SHARE_SCRIPT)
            .query(&mut conn)?;
        self.add_sha = redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg(ADD_ONCE_SCRIPT)
            .query(&mut conn)?;
        self.conn = Some(conn);
        Ok(())
    }

    /// Every shared key record and revocation (start-up).
    pub fn shared_keys(&mut self) -> Result<(Vec<KeyRecord>, Vec<KeyRevocation>), String> {
        let prefix = self.setup.prefix.clone();
        let conn = self.conn.as_mut().ok_or("not connected")?;
        let (version, records, revoked): (
            Option<i64>,
            HashMap<String, String>,
            HashMap<String, String>,
        ) = redis::pipe()
            .get(super::keysync::version_key(&prefix))
            .hgetall(keys_key(&prefix))
            .hgetall(revoked_key(&prefix))
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
        Ok((out, revocations))
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
    /// `shards` reaches each shard's inbox.
    pub fn run(mut self, inbox: Receiver<GovMsg>, shards: Vec<UnboundedSender<GovMsg>>) {
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
                if let Err(e) = self.pull(now, &shards) {
                    self.go_down(&e.to_string(), &shards, &mut ticks);
                }
            }
            if self.conn.is_some() && now >= ticks.keys {
                ticks.keys = now + KEY_POLL_MS;
                if let Err(e) = self.poll_keys(&shards) {
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
            GovMsg::ShareRequest(_)
            | GovMsg::BudgetSeed(_)
            | GovMsg::ShareGrant(_)
            | GovMsg::BudgetReset(_)
            | GovMsg::Backend(_)
            | GovMsg::Remote(_) => {}
        }
    }

    fn queue(&mut self, write: Write) {
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
        let instance = self.setup.instance.clone();
        let mut writes = Vec::new();
        for entity in delta.entities.iter().flatten() {
            let Some(items) = self.catalog.by_entity.get(entity) else {
                continue;
            };
            for item in items {
                if !matches!(item.of, ShareOf::ToolCalls { .. }) {
                    continue;
                }
                if let Some(holding) = self.holdings.get_mut(&item.key) {
                    holding.last_active_ms = delta.at_ms;
                }
                self.next_seq += 1;
                writes.push(Write::Usage {
                    key: item.key.clone(),
                    field: usage_field(&instance, item.bucket(delta.at_ms)),
                    units: item.units_up(1),
                    ttl_ms: item.key_ttl_ms(delta.at_ms),
                    seq: self.next_seq,
                });
            }
        }
        for write in writes {
            self.queue(write);
        }
    }

    /// One settlement: usage of every item it touched, and the durable ledger.
    fn settled(&mut self, delta: &SpendDelta) {
        let instance = self.setup.instance.clone();
        let mut writes = Vec::new();
        for entity in delta.entities.iter().flatten() {
            let Some(items) = self.catalog.by_entity.get(entity) else {
                continue;
            };
            for item in items {
                let (at_ms, amount) = match item.of {
                    ShareOf::Budget(_) => (delta.settled_at_ms, delta.cost_pico),
                    ShareOf::Requests { .. } => (delta.admitted_at_ms, 1),
                    ShareOf::Tokens { .. } => (delta.settled_at_ms, delta.rate_tokens),
                    // Counted when admitted (`tool_called`), not at a model request's settlement.
                    ShareOf::ToolCalls { .. } => (delta.settled_at_ms, 0),
                };
                if let Some(holding) = self.holdings.get_mut(&item.key) {
                    holding.last_active_ms = delta.settled_at_ms;
                }
                if amount == 0 {
                    continue;
                }
                self.next_seq += 1;
                writes.push(Write::Usage {
                    key: item.key.clone(),
                    field: usage_field(&instance, item.bucket(at_ms)),
                    units: item.units_up(amount),
                    ttl_ms: item.key_ttl_ms(at_ms),
                    seq: self.next_seq,
                });
            }
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
        for write in &self.pending {
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
        let conn = self
            .conn
            .as_mut()
            .ok_or_else(|| redis::RedisError::from((redis::ErrorKind::Io, "not connected")))?;
        let replies: Vec<redis::Value> = pipe.query(conn)?;
        self.pending.clear();
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
            let own_cap = item.from_units(item.cap / self.live_seen.max(1));
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

    /// Announces this instance (and counts the live ones), reads every item's usage and
    /// passes other instances' new usage to the shards.
    fn pull(&mut self, now: u64, shards: &[UnboundedSender<GovMsg>]) -> redis::RedisResult<()> {
        let items: Vec<Item> = self.catalog.by_entity.values().flatten().cloned().collect();
        let mut pipe = redis::pipe();
        let instances = instances_key(&self.setup.prefix);
        pipe.hset(&instances, &self.setup.instance, now + LEASE_TTL_MS)
            .ignore();
        pipe.hgetall(&instances);
        for item in &items {
            pipe.hgetall(&item.key);
        }
        let conn = self
            .conn
            .as_mut()
            .ok_or_else(|| redis::RedisError::from((redis::ErrorKind::Io, "not connected")))?;
        let mut replies: Vec<HashMap<String, String>> = pipe.query(conn)?;
        let seen_alive = if replies.is_empty() {
            HashMap::new()
        } else {
            replies.remove(0)
        };
        let live = seen_alive
            .values()
            .filter(|until| until.parse::<u64>().is_ok_and(|u| u > now))
            .count() as u64;
        self.live_seen = live.max(1);
        let own = format!("u:{}|", self.setup.instance);
        let mut fresh = HashMap::new();
        for (item, fields) in items.iter().zip(replies) {
            let start = item.window_start(now);
            for (field, value) in fields {
                if !field.starts_with("u:") || field.starts_with(&own) {
                    continue;
                }
                let Some(bucket) = field
                    .rsplit_once('|')
                    .and_then(|(_, b)| b.parse::<u64>().ok())
                else {
                    continue;
                };
                let amount: u64 = value.parse().unwrap_or(0);
                let key = (item.key.clone(), field);
                let before = self.seen.get(&key).copied().unwrap_or(0);
                if amount > before && bucket >= start {
                    let usage = GovMsg::Remote(RemoteUsage {
                        entity: item.entity,
                        of: item.of,
                        at_ms: bucket.max(start).min(now),
                        amount: item.from_units(amount - before),
                    });
                    for shard in shards {
                        let _ = shard.unbounded_send(usage.clone());
                    }
                }
                fresh.insert(key, amount.max(before));
            }
        }
        self.seen = fresh;
        Ok(())
    }

    /// Passes keys created, changed or revoked on other instances to the shards.
    fn poll_keys(&mut self, shards: &[UnboundedSender<GovMsg>]) -> redis::RedisResult<()> {
        let prefix = self.setup.prefix.clone();
        let conn = self
            .conn
            .as_mut()
            .ok_or_else(|| redis::RedisError::from((redis::ErrorKind::Io, "not connected")))?;
        let version: Option<i64> = redis::cmd("GET").arg(version_key(&prefix)).query(conn)?;
        if version == self.keys_version {
            return Ok(());
        }
        let (records, revoked): (HashMap<String, String>, HashMap<String, String>) = redis::pipe()
            .hgetall(keys_key(&prefix))
            .hgetall(revoked_key(&prefix))
            .query(conn)?;
        self.keys_version = version;
        let mut out = Vec::new();
        for (id, json) in records {
            if self.known_keys.get(&id) == Some(&json) {
                continue;
            }
            if let Some(record) = decode_record(&json) {
                self.catalog.upsert_key(&prefix, &record);
                out.push(GovMsg::KeyUpsert(Box::new(record)));
                self.known_keys.insert(id, json);
            }
        }
        for (hash, value) in revoked {
            if self.known_revoked.contains(&hash) {
                continue;
            }
            if let Some(revocation) = decode_revocation(&hash, &value) {
                out.push(GovMsg::KeyRevoked(revocation));
                self.known_revoked.insert(hash);
            }
        }
        for msg in out {
            for shard in shards {
                let _ = shard.unbounded_send(msg.clone());
            }
        }
        Ok(())
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

/// `{prefix}:instances`: instance → until when it counts as live (renewed every pull).
fn instances_key(prefix: &str) -> String {
    format!("{{{prefix}}}:instances")
}

/// When each periodic duty is next due (unix ms).
struct Ticks {
    renew: u64,
    reclaim: u64,
    pull: u64,
    keys: u64,
    reconnect: u64,
}

impl Ticks {
    fn new(now: u64) -> Ticks {
        Ticks {
            renew: now + RENEW_MS,
            reclaim: now + RECLAIM_MS,
            pull: now,
            keys: now + KEY_POLL_MS,
            reconnect: now,
        }
    }

    fn next_due(&self) -> u64 {
        self.renew.min(self.reclaim).min(self.pull).min(self.keys)
    }
}
