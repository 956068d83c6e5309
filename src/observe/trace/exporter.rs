//! The span exporter: a background thread fed by a bounded channel from the shards. It
//! batches finished requests, encodes them with the OTLP protobuf types, and POSTs them to
//! `{otlp_endpoint}/v1/traces` with a timeout, retrying with backoff on 429/502/503/504.
//! A dead or slow collector only fills the queue; shards then drop spans and count them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};
use prost::Message;

use super::context::IdGenerator;
use super::otlp::{ExportIdentity, export_request, request_spans};
use super::span::{RequestSpan, ShardTracer};
use crate::config::{Secret, TelemetryConfig};

/// Finished requests the queue holds before shards drop (each is 2+ spans).
pub const SPAN_QUEUE_CAPACITY: usize = 8_192;
/// Most requests in one export.
pub const MAX_EXPORT_BATCH: usize = 512;
/// Longest a finished request waits in a partial batch.
pub const BATCH_DELAY: Duration = Duration::from_millis(1_000);
/// Retries of one batch on a retryable answer (429, 502, 503, 504), before it is dropped.
pub const MAX_EXPORT_RETRIES: u32 = 4;
/// First retry delay; doubled each time.
pub const FIRST_RETRY_DELAY: Duration = Duration::from_millis(100);

/// Exporter counters, read at scrape.
#[derive(Debug, Default)]
pub struct TraceStats {
    /// Requests whose spans were dropped because the queue was full.
    pub dropped_queue_full: AtomicU64,
    /// Requests whose spans the collector refused or never took (after retries).
    pub dropped_export_failed: AtomicU64,
    /// Requests whose spans were exported.
    pub exported: AtomicU64,
    /// Export POSTs retried.
    pub retries: AtomicU64,
}

/// The running exporter: owns the thread.
pub struct TraceExporter {
    /// `None` asks the worker to export what it has and end.
    tx: Option<Sender<Option<RequestSpan>>>,
    thread: Option<JoinHandle<()>>,
    stats: Arc<TraceStats>,
    sample_ratio: f64,
}

impl TraceExporter {
    /// Starts the exporter thread for `config`.
    pub fn start(config: &TelemetryConfig) -> std::io::Result<TraceExporter> {
        TraceExporter::start_with_capacity(config, SPAN_QUEUE_CAPACITY)
    }

    /// As [`TraceExporter::start`] with a given queue capacity (tests use a small one).
    pub fn start_with_capacity(
        config: &TelemetryConfig,
        capacity: usize,
    ) -> std::io::Result<TraceExporter> {
        let stats = Arc::new(TraceStats::default());
        let (tx, rx) = bounded(capacity.max(1));
        let worker = Worker {
            url: format!("{}/v1/traces", config.otlp_endpoint),
            headers: config.headers.clone(),
            identity: ExportIdentity {
                service_name: config.service_name.clone(),
                resource_attributes: config.resource_attributes.clone(),
            },
            capture_content: config.capture_content,
            agent: ureq::Agent::config_builder()
                .timeout_global(Some(config.timeout))
                .http_status_as_error(false)
                .build()
                .into(),
            stats: Arc::clone(&stats),
            ids: IdGenerator::new(),
        };
        let thread = std::thread::Builder::new()
            .name("sluice-otlp".into())
            .spawn(move || worker.run(&rx))?;
        Ok(TraceExporter {
            tx: Some(tx),
            thread: Some(thread),
            stats,
            sample_ratio: config.sample_ratio,
        })
    }

    /// A tracer for one shard (call on the shard's thread).
    pub fn shard_tracer(&self) -> Option<ShardTracer> {
        self.tx
            .as_ref()
            .map(|tx| ShardTracer::new(tx.clone(), Arc::clone(&self.stats), self.sample_ratio))
    }

    /// The counters.
    pub fn stats(&self) -> Arc<TraceStats> {
        Arc::clone(&self.stats)
    }

    /// Exports what is queued and joins the thread. Call once the shards have ended (a shard's
    /// tracer may outlive its shard, so the end does not wait for every tracer to drop).
    pub fn shutdown(mut self) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(None);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Worker {
    url: String,
    headers: Vec<(String, Secret)>,
    identity: ExportIdentity,
    capture_content: bool,
    agent: ureq::Agent,
    stats: Arc<TraceStats>,
    ids: IdGenerator,
}

/// What one POST came to.
enum Outcome {
    Done,
    Retry,
    Failed,
}

impl Worker {
    fn run(self, rx: &Receiver<Option<RequestSpan>>) {
        let mut batch: Vec<RequestSpan> = Vec::with_capacity(MAX_EXPORT_BATCH);
        let mut oldest: Option<Instant> = None;
        loop {
            let received = match oldest {
                None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                Some(since) => rx.recv_timeout(BATCH_DELAY.saturating_sub(since.elapsed())),
            };
            match received {
                Ok(None) => {
                    self.export(&mut batch);
                    return;
                }
                Ok(Some(request)) => {
                    batch.push(request);
                    oldest.get_or_insert_with(Instant::now);
                    let mut stop = false;
                    batch.extend(
                        rx.try_iter()
                            .take(MAX_EXPORT_BATCH - batch.len())
                            .map_while(|m| {
                                stop |= m.is_none();
                                m
                            }),
                    );
                    if stop {
                        self.export(&mut batch);
                        return;
                    }
                    if batch.len() < MAX_EXPORT_BATCH
                        && oldest.is_some_and(|t| t.elapsed() < BATCH_DELAY)
                    {
                        continue;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    self.export(&mut batch);
                    return;
                }
            }
            self.export(&mut batch);
            oldest = None;
        }
    }

    /// POSTs one batch, retrying with backoff; counts the outcome.
    fn export(&self, batch: &mut Vec<RequestSpan>) {
        if batch.is_empty() {
            return;
        }
        let requests = batch.len() as u64;
        let spans = batch
            .drain(..)
            .flat_map(|request| request_spans(&request, self.capture_content, &self.ids))
            .collect();
        let body = export_request(&self.identity, spans).encode_to_vec();
        let mut delay = FIRST_RETRY_DELAY;
        for attempt in 0..=MAX_EXPORT_RETRIES {
            match self.post(&body) {
                Outcome::Done => {
                    self.stats.exported.fetch_add(requests, Ordering::Relaxed);
                    return;
                }
                Outcome::Retry if attempt < MAX_EXPORT_RETRIES => {
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(delay);
                    delay = delay.saturating_mul(2);
                }
                Outcome::Retry | Outcome::Failed => break,
            }
        }
        self.stats
            .dropped_export_failed
            .fetch_add(requests, Ordering::Relaxed);
    }

    fn post(&self, body: &[u8]) -> Outcome {
        let mut request = self
            .agent
            .post(&self.url)
            .header("content-type", "application/x-protobuf");
        for (name, value) in &self.headers {
            request = request.header(name.as_str(), value.expose());
        }
        match request.send(body) {
            Ok(response) => match response.status().as_u16() {
                200..=299 => Outcome::Done,
                429 | 502 | 503 | 504 => Outcome::Retry,
                _ => Outcome::Failed,
            },
            // Connection refused, timeout, reset: the collector is away; try the next batch.
            Err(_) => Outcome::Failed,
        }
    }
}
