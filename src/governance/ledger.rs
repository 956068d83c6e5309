//! The ledger thread: owns the SQLite file, takes settlements and key changes from every shard
//! over one channel, folds them into per-minute rows in memory, and group-commits them in one
//! transaction every commit interval, so at most one interval of settled spend is lost to a
//! `kill -9` (plus the commit in progress).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::entity::EntityId;
use super::ledger_store::{Batch, LedgerError, MINUTE_MS, Store};
use super::messages::{GovMsg, SpendDelta, ToolCallDelta};

/// Default time between group commits.
pub const DEFAULT_COMMIT_INTERVAL: Duration = Duration::from_millis(50);
/// Time between roll-ups of old spend rows.
pub const COMPACT_INTERVAL: Duration = Duration::from_secs(600);

enum Command {
    Record(GovMsg),
    /// Redis backend: one write Redis must still receive (sequence number, opaque entry).
    Outbox(u64, String),
    /// Redis backend: Redis has every write up to this sequence number.
    OutboxDone(u64),
    Flush(mpsc::SyncSender<Result<(), LedgerError>>),
    Stop(mpsc::SyncSender<Result<(), LedgerError>>),
}

/// Counters the ledger thread keeps about itself (read by metrics and the admin API).
#[derive(Debug, Default)]
pub struct LedgerStats {
    pub deltas_committed: AtomicU64,
    pub commits: AtomicU64,
    pub failed_commits: AtomicU64,
    pub last_error: Mutex<Option<String>>,
}

/// A sender to the ledger thread; cheap to clone into every shard.
#[derive(Clone, Debug)]
pub struct LedgerHandle {
    tx: mpsc::Sender<Command>,
    stats: Arc<LedgerStats>,
}

impl LedgerHandle {
    /// Queues a message for the next group commit (share messages are not persisted and are
    /// dropped here). false once the thread has stopped.
    pub fn record(&self, msg: GovMsg) -> bool {
        if matches!(
            msg,
            GovMsg::ShareRequest(_) | GovMsg::ShareGrant(_) | GovMsg::BudgetSeed(_)
        ) {
            return true;
        }
        self.tx.send(Command::Record(msg)).is_ok()
    }

    /// Redis backend: keeps `body` (write number `seq`; one sender, numbers increasing) in
    /// the outbox until [`LedgerHandle::outbox_done`] covers it. false once the thread has
    /// stopped.
    pub fn outbox_put(&self, seq: u64, body: String) -> bool {
        self.tx.send(Command::Outbox(seq, body)).is_ok()
    }

    /// Redis backend: Redis has every outbox entry up to `seq`; they are dropped (those not
    /// yet committed are never written).
    pub fn outbox_done(&self, seq: u64) -> bool {
        self.tx.send(Command::OutboxDone(seq)).is_ok()
    }

    /// Commits everything queued so far and waits for it.
    pub fn flush(&self) -> Result<(), LedgerError> {
        let (ack, done) = mpsc::sync_channel(1);
        self.tx
            .send(Command::Flush(ack))
            .map_err(|_| LedgerError::Stopped)?;
        done.recv().map_err(|_| LedgerError::Stopped)?
    }

    /// Commits everything queued so far and ends the thread.
    pub fn flush_and_stop(&self) -> Result<(), LedgerError> {
        let (ack, done) = mpsc::sync_channel(1);
        self.tx
            .send(Command::Stop(ack))
            .map_err(|_| LedgerError::Stopped)?;
        done.recv().map_err(|_| LedgerError::Stopped)?
    }

    pub fn stats(&self) -> &LedgerStats {
        &self.stats
    }
}

/// The ledger's entry point.
pub struct Ledger;

impl Ledger {
    /// Opens (or creates) the ledger at `path` and starts its thread, committing every
    /// `interval`. The thread ends on `flush_and_stop` or when every handle is dropped.
    pub fn start(
        path: &Path,
        interval: Duration,
    ) -> Result<(LedgerHandle, JoinHandle<Result<(), LedgerError>>), LedgerError> {
        let store = Store::open(path)?;
        let (tx, rx) = mpsc::channel();
        let stats = Arc::new(LedgerStats::default());
        let thread_stats = Arc::clone(&stats);
        let thread = std::thread::Builder::new()
            .name("sluice-ledger".into())
            .spawn(move || run(store, &rx, interval, &thread_stats))
            .map_err(|e| LedgerError::Io(e.to_string()))?;
        Ok((LedgerHandle { tx, stats }, thread))
    }
}

fn run(
    mut store: Store,
    rx: &mpsc::Receiver<Command>,
    interval: Duration,
    stats: &LedgerStats,
) -> Result<(), LedgerError> {
    let mut batch = Batch::default();
    let mut next_commit = Instant::now() + interval;
    let mut next_compact = Instant::now();
    loop {
        // Sleep rather than block on the channel: a sender then never has to wake this thread,
        // so a settlement costs a shard one queue push and no system call. Commands wait at
        // most one interval, which is also the durability bound.
        std::thread::sleep(next_commit.saturating_duration_since(Instant::now()));
        loop {
            match rx.try_recv() {
                Ok(Command::Record(msg)) => fold(&mut batch, msg),
                Ok(Command::Outbox(seq, body)) => batch.outbox.push((seq, body)),
                Ok(Command::OutboxDone(seq)) => {
                    // One sender numbers the entries in order: those done are a prefix.
                    let done = batch.outbox.partition_point(|(s, _)| *s <= seq);
                    batch.outbox.drain(..done);
                    batch.outbox_done = batch.outbox_done.max(seq);
                }
                Ok(Command::Flush(ack)) => {
                    let _ = ack.send(commit(&mut store, &mut batch, stats));
                }
                Ok(Command::Stop(ack)) => {
                    let result = commit(&mut store, &mut batch, stats);
                    let _ = ack.send(result.clone());
                    return result;
                }
                Err(mpsc::TryRecvError::Disconnected) => {
                    return commit(&mut store, &mut batch, stats);
                }
                Err(mpsc::TryRecvError::Empty) => break,
            }
        }
        let now = Instant::now();
        // A failed commit keeps its batch for the next try; the error is in `stats`.
        let _ = commit(&mut store, &mut batch, stats);
        next_commit = now + interval;
        if now >= next_compact {
            if let Err(e) = store.compact(unix_now_ms()) {
                record_error(stats, &e);
            }
            next_compact = now + COMPACT_INTERVAL;
        }
    }
}

fn commit(store: &mut Store, batch: &mut Batch, stats: &LedgerStats) -> Result<(), LedgerError> {
    if batch.is_empty() {
        return Ok(());
    }
    match store.commit(batch) {
        Ok(()) => {
            stats
                .deltas_committed
                .fetch_add(batch.deltas, Ordering::Relaxed);
            stats.commits.fetch_add(1, Ordering::Relaxed);
            batch.clear();
            Ok(())
        }
        Err(e) => {
            stats.failed_commits.fetch_add(1, Ordering::Relaxed);
            record_error(stats, &e);
            Err(e)
        }
    }
}

fn record_error(stats: &LedgerStats, error: &LedgerError) {
    if let Ok(mut last) = stats.last_error.lock() {
        *last = Some(error.to_string());
    }
}

fn fold(batch: &mut Batch, msg: GovMsg) {
    match msg {
        GovMsg::Spend(delta) => fold_spend(batch, &delta),
        GovMsg::KeyUpsert(record) => batch.keys.push(*record),
        GovMsg::KeyRevoked(revocation) => batch.revocations.push(revocation),
        GovMsg::BudgetReset(reset) => batch.resets.push(reset),
        GovMsg::ToolCall(call) => fold_tool_call(batch, &call),
        GovMsg::ShareRequest(_)
        | GovMsg::ShareGrant(_)
        | GovMsg::BudgetSeed(_)
        | GovMsg::Backend(_)
        | GovMsg::Remote(_) => {}
    }
}

/// A tool call goes to the minute it was admitted in, like a request.
fn fold_tool_call(batch: &mut Batch, call: &ToolCallDelta) {
    let admitted = call.at_ms / MINUTE_MS * MINUTE_MS;
    for entity in call.entities.iter().flatten() {
        let row = batch.spend.entry((*entity, admitted)).or_default();
        row.tool_calls = row.tool_calls.saturating_add(1);
    }
    batch.deltas += 1;
}

/// Cost and tokens go to the minute the request settled in; the request to the minute it was
/// admitted in (as the shards count them).
fn fold_spend(batch: &mut Batch, delta: &SpendDelta) {
    let settled = delta.settled_at_ms / MINUTE_MS * MINUTE_MS;
    let admitted = delta.admitted_at_ms / MINUTE_MS * MINUTE_MS;
    for entity in delta.entities.iter().flatten() {
        let row = batch.spend.entry((*entity, settled)).or_default();
        row.cost_pico = row.cost_pico.saturating_add(delta.cost_pico);
        row.tokens = row.tokens.saturating_add(delta.rate_tokens);
        let row = batch
            .spend
            .entry((EntityId(entity.0), admitted))
            .or_default();
        row.requests = row.requests.saturating_add(1);
    }
    batch.deltas += 1;
}

fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
