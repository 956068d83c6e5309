//! The audit writer: one background thread that seals records into the chain, appends them,
//! fsyncs by policy, rotates files and moves the head file. Shards only `try_send` records
//! over a bounded channel; a full queue drops the record, counts it, and the writer then
//! writes a `records_dropped` note so the loss is visible in the chain itself.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError, bounded};

use super::chain::{GENESIS_HASH, open_line, seal};
use super::extract::last_turn_tool_results;
use super::files::{
    Head, first_line, last_line, list_log_files, log_file_name, read_head, sync_dir, torn_tail,
    write_head,
};
use super::record::{
    AdminRecord, AuditRecord, McpCallRecord, NoteKind, NoteRecord, RequestRecord, ToolCallEntry,
    ToolCallRecord,
};
use crate::config::{AuditConfig, FsyncPolicy, ToolResultsMode};

/// Records the queue holds before `try_send` drops (about a second at 50,000 requests/s).
pub const AUDIT_QUEUE_CAPACITY: usize = 65_536;
/// Most records sealed into one write (one `write(2)`, at most one fsync).
pub const MAX_BATCH_RECORDS: usize = 4_096;
/// Seconds in a day, for `retain_days`.
const SECS_PER_DAY: u64 = 86_400;

/// Why the audit log cannot start.
#[derive(Debug)]
pub enum AuditError {
    Io(PathBuf, io::Error),
    /// The last complete record of the log does not read as a sealed record.
    CorruptTail {
        file: PathBuf,
        detail: String,
    },
    /// `head.json` anchors a record the log no longer has: records were cut.
    CutBeforeHead {
        head: Head,
        last_seq: Option<u64>,
    },
}

impl std::fmt::Display for AuditError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuditError::Io(path, e) => write!(f, "audit log {}: {e}", path.display()),
            AuditError::CorruptTail { file, detail } => write!(
                f,
                "audit log {}: last record is damaged ({detail}); run `sluice audit verify`",
                file.display()
            ),
            AuditError::CutBeforeHead { head, last_seq } => write!(
                f,
                "audit log was cut: {} anchors seq {} but the log ends at {}; run `sluice \
                 audit verify`",
                super::files::HEAD_FILE,
                head.seq,
                last_seq.map_or_else(|| "no record".to_owned(), |s| format!("seq {s}"))
            ),
        }
    }
}

impl std::error::Error for AuditError {}

/// One message to the writer thread.
enum Message {
    Request {
        record: Box<RequestRecord>,
        tool_calls: Vec<ToolCallRecord>,
        body: Option<Vec<u8>>,
    },
    Admin(AdminRecord),
    McpCall(Box<McpCallRecord>),
    /// Write and fsync everything sent before, then answer.
    Sync(std::sync::mpsc::Sender<()>),
    /// Write and fsync everything sent before, then end the thread (shutdown: a shard's
    /// sender may outlive its shard, so the end cannot wait for every sender to drop).
    Stop,
}

/// Counters shared with the scrape and the access log.
#[derive(Debug, Default)]
pub struct AuditStats {
    /// Records dropped because the queue was full or a write failed.
    pub dropped: AtomicU64,
    /// Records sealed and written.
    pub written: AtomicU64,
    /// Write or fsync errors.
    pub errors: AtomicU64,
    /// The last head written (`seq`, `hash`), for the metric and the access log.
    pub head: Mutex<Option<Head>>,
}

/// The running audit log: owns the writer thread.
pub struct AuditLog {
    tx: Option<Sender<Message>>,
    thread: Option<JoinHandle<()>>,
    stats: Arc<AuditStats>,
    tool_results: ToolResultsMode,
    max_field_bytes: usize,
}

/// A shard's end of the log: cheap to clone, never blocks.
#[derive(Clone)]
pub struct AuditSender {
    tx: Sender<Message>,
    stats: Arc<AuditStats>,
}

impl AuditLog {
    /// Opens (or creates) the log in `config.dir`, repairs a torn last line, checks the head,
    /// applies retention, and starts the writer thread.
    pub fn open(config: &AuditConfig) -> Result<AuditLog, AuditError> {
        let stats = Arc::new(AuditStats::default());
        let mut state = WriterState::recover(config, Arc::clone(&stats))?;
        state
            .sync()
            .map_err(|e| AuditError::Io(config.dir.clone(), e))?;
        let (tx, rx) = bounded(AUDIT_QUEUE_CAPACITY);
        let thread = std::thread::Builder::new()
            .name("sluice-audit".into())
            .spawn(move || state.run(&rx))
            .map_err(|e| AuditError::Io(config.dir.clone(), e))?;
        Ok(AuditLog {
            tx: Some(tx),
            thread: Some(thread),
            stats,
            tool_results: config.tool_results,
            max_field_bytes: config.max_field_bytes,
        })
    }

    /// A sender for a shard.
    pub fn sender(&self) -> Option<AuditSender> {
        self.tx.as_ref().map(|tx| AuditSender {
            tx: tx.clone(),
            stats: Arc::clone(&self.stats),
        })
    }

    /// The shared counters and head.
    pub fn stats(&self) -> Arc<AuditStats> {
        Arc::clone(&self.stats)
    }

    /// The configured `tool_results` mode and field cap.
    pub fn capture(&self) -> (ToolResultsMode, usize) {
        (self.tool_results, self.max_field_bytes)
    }

    /// Writes and fsyncs what is queued, moves the head, and joins the thread. Call once the
    /// shards have ended: records sent after this are dropped.
    pub fn shutdown(mut self) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(Message::Stop);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl AuditSender {
    /// Queues a request record. `tool_calls` come from the response summary; `body`, the
    /// request body moved here (not copied), is read on the writer thread for the tool
    /// results of its last user turn. Returns false (and counts a drop) when the queue is full.
    pub fn record_request(
        &self,
        record: RequestRecord,
        tool_calls: Vec<ToolCallRecord>,
        body: Option<Vec<u8>>,
    ) -> bool {
        self.send(Message::Request {
            record: Box::new(record),
            tool_calls,
            body,
        })
    }

    /// The writer's shared counters and head (read at scrape and for the head line).
    pub fn stats(&self) -> &AuditStats {
        &self.stats
    }

    /// Queues an admin record. Returns false (and counts a drop) when the queue is full.
    pub fn record_admin(&self, record: AdminRecord) -> bool {
        self.send(Message::Admin(record))
    }

    /// Queues an MCP tool-call record. Returns false (and counts a drop) when the queue is full.
    pub fn record_mcp_call(&self, record: McpCallRecord) -> bool {
        self.send(Message::McpCall(Box::new(record)))
    }

    /// Blocks until everything queued before is written and fsynced. Tests and shutdown
    /// paths only: never call it on a shard.
    pub fn sync_blocking(&self) {
        let (tx, rx) = std::sync::mpsc::channel();
        if self.tx.send(Message::Sync(tx)).is_ok() {
            let _ = rx.recv();
        }
    }

    fn send(&self, message: Message) -> bool {
        match self.tx.try_send(message) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }
}

/// Everything the writer thread owns.
struct WriterState {
    dir: PathBuf,
    fsync: FsyncPolicy,
    rotate_bytes: u64,
    retain_days: u32,
    tool_results: ToolResultsMode,
    max_field_bytes: usize,
    file: File,
    index: u64,
    /// Bytes in `file` known written.
    size: u64,
    next_seq: u64,
    prev: String,
    /// Sealed lines not yet written, and the chain position before them.
    pending: Vec<u8>,
    pending_records: u64,
    flushed_seq: u64,
    flushed_prev: String,
    /// Written but not fsynced.
    dirty: bool,
    /// A `Stop` arrived: end after this batch.
    stopping: bool,
    last_sync: Instant,
    noted_dropped: u64,
    stats: Arc<AuditStats>,
}

impl WriterState {
    fn recover(config: &AuditConfig, stats: Arc<AuditStats>) -> Result<WriterState, AuditError> {
        let dir = config.dir.clone();
        let io_err = |path: &Path, e: io::Error| AuditError::Io(path.to_path_buf(), e);
        fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
        let files = list_log_files(&dir).map_err(|e| io_err(&dir, e))?;
        let mut torn_note = None;
        let mut last: Option<(u64, String)> = None;
        for (position, (_, path)) in files.iter().enumerate().rev() {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .map_err(|e| io_err(path, e))?;
            let (cut, torn) = torn_tail(&mut file).map_err(|e| io_err(path, e))?;
            if torn > 0 && position + 1 == files.len() {
                file.set_len(cut).map_err(|e| io_err(path, e))?;
                file.sync_all().map_err(|e| io_err(path, e))?;
                torn_note = Some(format!(
                    "cut a torn last line of {torn} bytes at offset {cut} of {}",
                    path.file_name().and_then(|n| n.to_str()).unwrap_or("?")
                ));
            }
            if let Some(line) = last_line(&mut file, cut).map_err(|e| io_err(path, e))? {
                let opened = open_line(&line).map_err(|e| AuditError::CorruptTail {
                    file: path.clone(),
                    detail: format!("{e:?}"),
                })?;
                if !opened.hash_ok {
                    return Err(AuditError::CorruptTail {
                        file: path.clone(),
                        detail: format!("record seq {} fails its hash", opened.seq),
                    });
                }
                last = Some((opened.seq, opened.hash));
                break;
            }
        }
        if let Some(head) = read_head(&dir).map_err(|e| io_err(&dir, e))?
            && last.as_ref().is_none_or(|(seq, _)| *seq < head.seq)
        {
            return Err(AuditError::CutBeforeHead {
                head,
                last_seq: last.map(|(seq, _)| seq),
            });
        }
        let index = files.last().map_or(1, |(index, _)| *index);
        let path = dir.join(log_file_name(index));
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        let size = file.metadata().map_err(|e| io_err(&path, e))?.len();
        if files.is_empty() {
            sync_dir(&dir).map_err(|e| io_err(&dir, e))?;
        }
        let (next_seq, prev) = match last {
            Some((seq, hash)) => (seq + 1, hash),
            None => (0, GENESIS_HASH.to_owned()),
        };
        let mut state = WriterState {
            dir,
            fsync: config.fsync,
            rotate_bytes: config.rotate_bytes,
            retain_days: config.retain_days,
            tool_results: config.tool_results,
            max_field_bytes: config.max_field_bytes,
            file,
            index,
            size,
            flushed_seq: next_seq,
            flushed_prev: prev.clone(),
            next_seq,
            prev,
            pending: Vec::new(),
            pending_records: 0,
            dirty: false,
            stopping: false,
            last_sync: Instant::now(),
            noted_dropped: 0,
            stats,
        };
        if let Some(detail) = torn_note {
            state.append(&AuditRecord::Note(NoteRecord::now(
                NoteKind::TornTailTruncated,
                detail,
            )));
        }
        state.apply_retention();
        state.flush().map_err(|e| io_err(&state.dir, e))?;
        Ok(state)
    }

    fn run(mut self, rx: &Receiver<Message>) {
        let mut acks = Vec::new();
        loop {
            let wait = match self.fsync {
                FsyncPolicy::Interval(every) if self.dirty => {
                    Some(every.saturating_sub(self.last_sync.elapsed()))
                }
                _ => None,
            };
            let first = match wait {
                None => rx.recv().ok(),
                Some(wait) => match rx.recv_timeout(wait) {
                    Ok(message) => Some(message),
                    Err(RecvTimeoutError::Timeout) => {
                        self.sync_or_count();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => None,
                },
            };
            let Some(first) = first else {
                break;
            };
            self.handle(first, &mut acks);
            for message in rx.try_iter().take(MAX_BATCH_RECORDS - 1) {
                self.handle(message, &mut acks);
            }
            self.note_drops();
            if let Err(e) = self.flush() {
                self.write_failed(&e);
            }
            let due = match self.fsync {
                FsyncPolicy::Always => true,
                FsyncPolicy::Interval(every) => self.last_sync.elapsed() >= every,
            };
            if due || !acks.is_empty() {
                self.sync_or_count();
            }
            for ack in acks.drain(..) {
                let _ = ack.send(());
            }
            if self.stopping {
                break;
            }
        }
        self.note_drops();
        if let Err(e) = self.flush() {
            self.write_failed(&e);
        }
        self.sync_or_count();
    }

    fn handle(&mut self, message: Message, acks: &mut Vec<std::sync::mpsc::Sender<()>>) {
        match message {
            Message::Request {
                mut record,
                tool_calls,
                body,
            } => {
                record.tool_calls = tool_calls
                    .iter()
                    .map(|call| ToolCallEntry::from_call(call, self.max_field_bytes))
                    .collect();
                if let Some(body) = body {
                    record.tool_results =
                        last_turn_tool_results(&body, self.tool_results, self.max_field_bytes);
                }
                self.append(&AuditRecord::Request(record));
            }
            Message::Admin(record) => self.append(&AuditRecord::Admin(record)),
            Message::McpCall(record) => self.append(&AuditRecord::McpCall(record)),
            Message::Sync(ack) => acks.push(ack),
            Message::Stop => self.stopping = true,
        }
    }

    /// Seals one record into `pending`, rotating first when the file would pass its cap.
    fn append(&mut self, record: &AuditRecord) {
        let Ok(body) = serde_json::to_vec(record) else {
            self.stats.errors.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let projected = self.size + self.pending.len() as u64 + body.len() as u64 + 200;
        if self.size + self.pending.len() as u64 > 0
            && projected > self.rotate_bytes
            && let Err(e) = self.rotate()
        {
            self.write_failed(&e);
        }
        let (line, hash) = seal(self.next_seq, &self.prev, &body);
        self.pending.extend_from_slice(&line);
        self.pending_records += 1;
        self.next_seq += 1;
        self.prev = hash;
    }

    /// Writes `pending` to the current file.
    fn flush(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.file.write_all(&self.pending)?;
        self.size += self.pending.len() as u64;
        self.stats
            .written
            .fetch_add(self.pending_records, Ordering::Relaxed);
        self.pending.clear();
        self.pending_records = 0;
        self.flushed_seq = self.next_seq;
        self.flushed_prev = self.prev.clone();
        self.dirty = true;
        Ok(())
    }

    /// A failed write: cut the file back to its last good length and roll the chain back, so
    /// the log stays verifiable; the lost records are counted as dropped (and noted later).
    fn write_failed(&mut self, error: &io::Error) {
        self.stats.errors.fetch_add(1, Ordering::Relaxed);
        eprintln!("sluice: audit log write failed: {error}");
        let _ = self.file.set_len(self.size);
        self.stats
            .dropped
            .fetch_add(self.pending_records, Ordering::Relaxed);
        self.pending.clear();
        self.pending_records = 0;
        self.next_seq = self.flushed_seq;
        self.prev = self.flushed_prev.clone();
    }

    /// fsyncs the file and moves the head to the last record written.
    fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()?;
        self.dirty = false;
        self.last_sync = Instant::now();
        if self.flushed_seq == 0 {
            return Ok(());
        }
        let head = Head {
            seq: self.flushed_seq - 1,
            hash: self.flushed_prev.clone(),
            file: log_file_name(self.index),
        };
        write_head(&self.dir, &head)?;
        if let Ok(mut slot) = self.stats.head.lock() {
            *slot = Some(head);
        }
        Ok(())
    }

    fn sync_or_count(&mut self) {
        if let Err(e) = self.sync() {
            self.stats.errors.fetch_add(1, Ordering::Relaxed);
            eprintln!("sluice: audit log fsync failed: {e}");
        }
    }

    /// Writes a note when records were dropped since the last one.
    fn note_drops(&mut self) {
        let dropped = self.stats.dropped.load(Ordering::Relaxed);
        if dropped > self.noted_dropped {
            let lost = dropped - self.noted_dropped;
            self.noted_dropped = dropped;
            self.append(&AuditRecord::Note(NoteRecord::now(
                NoteKind::RecordsDropped,
                format!("{lost} records dropped (queue full or write failed)"),
            )));
        }
    }

    /// Finishes the current file (written and fsynced) and starts the next one with a
    /// `file_start` note chained to the last record of the previous file.
    fn rotate(&mut self) -> io::Result<()> {
        self.flush()?;
        self.sync()?;
        let index = self.index + 1;
        let path = self.dir.join(log_file_name(index));
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)?;
        sync_dir(&self.dir)?;
        let previous = log_file_name(self.index);
        self.file = file;
        self.index = index;
        self.size = 0;
        self.append(&AuditRecord::Note(NoteRecord::now(
            NoteKind::FileStart,
            format!("continues {previous}"),
        )));
        self.apply_retention();
        Ok(())
    }

    /// Removes the oldest files past `retain_days` (never the current one, and only a
    /// contiguous oldest run so the kept chain has no holes). The `retention` note naming
    /// where the kept chain starts is written and fsynced first, so a crash between the two
    /// steps never leaves a shortened chain without its note.
    fn apply_retention(&mut self) {
        if self.retain_days == 0 {
            return;
        }
        // The current file's first line must be on disk to anchor the kept chain.
        if let Err(e) = self.flush() {
            self.write_failed(&e);
        }
        let Ok(files) = list_log_files(&self.dir) else {
            return;
        };
        let max_age = Duration::from_secs(u64::from(self.retain_days) * SECS_PER_DAY);
        let now = SystemTime::now();
        let expired = |(index, path): &&(u64, PathBuf)| {
            *index != self.index
                && fs::metadata(path)
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| now.duration_since(t).is_ok_and(|age| age > max_age))
        };
        let doomed: Vec<(u64, PathBuf)> = files.iter().take_while(expired).cloned().collect();
        let Some(first_kept) = files.get(doomed.len()) else {
            return;
        };
        if doomed.is_empty() {
            return;
        }
        let Some(first) = first_line(&first_kept.1)
            .ok()
            .flatten()
            .and_then(|line| open_line(&line).ok())
        else {
            return;
        };
        let names: Vec<String> = doomed.iter().map(|(i, _)| log_file_name(*i)).collect();
        let mut note = NoteRecord::now(NoteKind::Retention, format!("removed {}", names.join(" ")));
        note.first_seq = Some(first.seq);
        note.first_prev = Some(first.prev);
        self.append(&AuditRecord::Note(note));
        if let Err(e) = self.flush().and_then(|()| self.sync()) {
            self.write_failed(&e);
            return;
        }
        for (_, path) in &doomed {
            let _ = fs::remove_file(path);
        }
        let _ = sync_dir(&self.dir);
    }
}
