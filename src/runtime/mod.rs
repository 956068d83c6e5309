//! The top layer: shards (one glommio executor pinned to each core, every one binding the
//! listen port with SO_REUSEPORT, sharing nothing but typed messages), start-up, the listeners
//! and their handlers wired together, the admin listener, shutdown.
//!
//! glommio stays behind this module: the rest of the crate sees [`io`]'s small types (a
//! shard-local spawn, a TCP stream, a timer, a channel, a notify).

pub mod admin;
pub mod admin_api;
pub mod admin_audit;
pub mod io;
pub mod mesh;
pub mod serve;
pub mod shard;
pub mod signals;
pub mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use crate::config::Config;
use crate::governance::{
    Clock, DEFAULT_COMMIT_INTERVAL, Ledger, SystemClock, ledger_path, load_snapshot,
};
use crate::mcp::{Catalog, Hub};
use crate::observe::access_log::AccessLogWriter;
use crate::observe::audit::AuditLog;
use crate::observe::trace::TraceExporter;
use crate::upstream::dns;

pub use shard::Shard;

/// How long start-up waits for every `[[mcp_servers]]` entry to list its tools; a server not
/// ready by then joins the catalog when it is (a name collision then is logged, not fatal).
const MCP_START_WAIT: Duration = Duration::from_secs(30);

/// Bytes of io_uring-registered memory per shard. sluice does no direct file IO, so it needs
/// little; a small value keeps it inside the default 8 MiB `RLIMIT_MEMLOCK` on many shards.
const SHARD_IO_MEMORY_BYTES: usize = 512 * 1024;

/// What `serve` reports once every shard is accepting.
#[derive(Clone, Debug)]
pub struct Listening {
    pub listen: SocketAddr,
    pub admin: Option<SocketAddr>,
    pub shards: usize,
}

/// Errors that stop the gateway from starting.
#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The CPUs the shards run on: `cores = 0` means every online core, `N` the first N.
pub fn shard_cpus(cores: usize) -> Result<Vec<usize>, StartError> {
    let mut online: Vec<usize> = core_affinity::get_core_ids()
        .map(|ids| ids.into_iter().map(|c| c.id).collect())
        .unwrap_or_default();
    if online.is_empty() {
        online = (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect();
    }
    online.sort_unstable();
    if cores == 0 {
        return Ok(online);
    }
    if cores > online.len() {
        return Err(StartError(format!(
            "server.cores = {cores} but only {} cores are online",
            online.len()
        )));
    }
    online.truncate(cores);
    Ok(online)
}

/// Runs the gateway until SIGTERM/SIGINT and the drain that follows. `on_ready` is called once
/// every shard is accepting, with the bound addresses. `config_path` is re-read on SIGHUP and
/// on the admin reload call (None: the embedded default, nothing to re-read).
pub fn serve(
    config: Config,
    config_path: Option<PathBuf>,
    on_ready: impl FnOnce(&Listening),
) -> Result<(), StartError> {
    let config = Arc::new(config);
    let cpus = shard_cpus(config.server.cores)?;
    // Learn the real port first (the configured one may be 0) with a socket that is bound but
    // never listens, so it joins the SO_REUSEPORT group without ever receiving a connection.
    let (placeholder, listen) = io::net::reserve_port(config.server.listen)
        .map_err(|e| StartError(format!("cannot bind {}: {e}", config.server.listen)))?;

    // A bad certificate or key stops the start, naming the key.
    let certs = tls::ListenerCerts::load(&config.server.tls).map_err(StartError)?;
    let dns = dns::Resolver::start();
    let access_log = AccessLogWriter::start(&config.server.access_log)
        .map_err(|e| StartError(format!("cannot open the access log: {e}")))?;
    // Durable spend: resume from the ledger, then keep appending to it.
    let state_dir = &config.governance.state_dir;
    std::fs::create_dir_all(state_dir).map_err(|e| {
        StartError(format!(
            "cannot create governance.state_dir {}: {e}",
            state_dir.display()
        ))
    })?;
    let ledger_file = ledger_path(state_dir);
    let now_ms = SystemClock.now_unix_millis();
    let mut snapshot = load_snapshot(&ledger_file, now_ms).map_err(|e| {
        StartError(format!(
            "cannot read the ledger {}: {e}",
            ledger_file.display()
        ))
    })?;
    // Several instances: connect to Redis now (unreachable is a start-up error) and start
    // from the shared keys.
    let broker = match &config.governance.redis {
        Some(redis) => Some(
            crate::governance::backend::connect(&config, redis, listen.port(), &mut snapshot)
                .map_err(StartError)?,
        ),
        None => None,
    };
    let snapshot = Arc::new(snapshot);
    let (ledger, ledger_thread) =
        Ledger::start(&ledger_file, DEFAULT_COMMIT_INTERVAL).map_err(|e| {
            StartError(format!(
                "cannot open the ledger {}: {e}",
                ledger_file.display()
            ))
        })?;
    let (backend_tx, backend_rx) = crossbeam_channel::unbounded();
    let backend_tx = broker.as_ref().map(|_| backend_tx);
    let (gov_links, gov_senders) =
        crate::governance::link::wire_with_backend(cpus.len(), &ledger, backend_tx);
    let broker_thread = match broker {
        Some(broker) => Some(
            std::thread::Builder::new()
                .name("sluice-redis".into())
                .spawn({
                    let ledger = ledger.clone();
                    move || broker.run(backend_rx, gov_senders, ledger)
                })
                .map_err(|e| StartError(format!("cannot start the Redis broker: {e}")))?,
        ),
        None => None,
    };
    let (audit, exporter) = start_pipelines(&config)?;
    let mcp_hub = start_mcp_hub(&config)?;
    let env = |name: &str| std::env::var(name).ok();
    let clouds = Arc::new(
        crate::providers::cloud::Clouds::start(&config.providers, &env).map_err(StartError)?,
    );

    let (mesh, inboxes) = mesh::Mesh::wire(cpus.len(), config_path);
    let mesh = mesh.with_clouds(Arc::clone(&clouds));
    let (ready_tx, ready_rx) = mpsc::channel::<Result<Option<SocketAddr>, String>>();

    let mut handles = Vec::with_capacity(cpus.len());
    let per_shard = cpus.iter().copied().zip(inboxes).zip(gov_links);
    for (index, ((cpu, inbox), gov_link)) in per_shard.enumerate() {
        let setup = shard::ShardSetup {
            index,
            config: Arc::clone(&config),
            listen,
            mesh: mesh.clone(),
            inbox,
            resolver: dns.clone(),
            access_log: access_log.sender(),
            audit: audit.as_ref().and_then(AuditLog::sender),
            tracer: exporter.as_ref().and_then(TraceExporter::shard_tracer),
            mcp_hub: mcp_hub.as_ref().map(Hub::handle),
            gov_link,
            snapshot: Arc::clone(&snapshot),
            certs: certs.clone(),
            clouds: Arc::clone(&clouds),
            ready: ready_tx.clone(),
        };
        let handle = glommio::LocalExecutorBuilder::new(glommio::Placement::Fixed(cpu))
            .name(&format!("sluice-shard-{index}"))
            .io_memory(SHARD_IO_MEMORY_BYTES)
            .spin_before_park(config.server.spin_before_park)
            .spawn(move || shard::run(setup))
            .map_err(|e| StartError(format!("cannot start shard {index} on cpu {cpu}: {e}")))?;
        handles.push(handle);
    }
    drop(ready_tx);

    let mut admin = None;
    for _ in 0..cpus.len() {
        match ready_rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(Some(addr))) => admin = Some(addr),
            Ok(Ok(None)) => {}
            Ok(Err(e)) => {
                mesh.shutdown_all();
                return Err(StartError(e));
            }
            Err(_) => {
                mesh.shutdown_all();
                return Err(StartError("a shard did not start within 30 s".into()));
            }
        }
    }
    drop(placeholder);
    let signal_audit = audit.as_ref().and_then(AuditLog::sender);
    signals::forward_to(mesh.clone(), access_log.reopener(), signal_audit)
        .map_err(|e| StartError(format!("cannot install signal handlers: {e}")))?;
    on_ready(&Listening {
        listen,
        admin,
        shards: cpus.len(),
    });

    let mut failed = None;
    for handle in handles {
        if let Err(e) = handle.join() {
            failed = Some(StartError(format!("a shard failed: {e}")));
        }
    }
    // The broker pushes what the shards settled last and hands its leases back.
    if let Some(thread) = broker_thread {
        let _ = thread.join();
    }
    // Every settlement is in the ledger's queue by now: commit it before exiting.
    if let Err(e) = ledger.flush_and_stop() {
        eprintln!("sluice: the ledger did not flush cleanly: {e}");
    }
    let _ = ledger_thread.join();
    // Every shard (and so every sender) is gone: write out what is queued.
    if let Some(audit) = audit {
        audit.shutdown();
    }
    if let Some(exporter) = exporter {
        exporter.shutdown();
    }
    access_log.finish();
    if let Some(hub) = mcp_hub {
        hub.shutdown();
    }
    failed.map_or(Ok(()), Err)
}

/// Opens the audit log (when `[audit]` is configured) and starts the trace exporter (when
/// `[telemetry].otlp_endpoint` is set): both run on threads of their own, fed by the shards.
fn start_pipelines(
    config: &Config,
) -> Result<(Option<AuditLog>, Option<TraceExporter>), StartError> {
    let audit = match &config.audit {
        Some(audit) => Some(AuditLog::open(audit).map_err(|e| {
            StartError(format!(
                "cannot open the audit log {}: {e}",
                audit.dir.display()
            ))
        })?),
        None => None,
    };
    let exporter = match &config.telemetry {
        Some(telemetry) => Some(
            TraceExporter::start(telemetry)
                .map_err(|e| StartError(format!("cannot start the trace exporter: {e}")))?,
        ),
        None => None,
    };
    Ok((audit, exporter))
}

/// Starts the MCP clients of every `[[mcp_servers]]` entry off the shards and waits (a bounded
/// time) for their tool lists; two tools whose public names collide stop the start-up.
fn start_mcp_hub(config: &Config) -> Result<Option<Hub>, StartError> {
    if config.mcp_servers.is_empty() {
        return Ok(None);
    }
    let hub = Hub::start(&config.mcp_servers).map_err(|e| StartError(format!("mcp: {e}")))?;
    if !hub.wait_for_tools(MCP_START_WAIT) {
        eprintln!(
            "sluice: mcp: not every server listed its tools within {} s; the others join when ready",
            MCP_START_WAIT.as_secs()
        );
    }
    if let Err(problem) = Catalog::build_strict(&hub.tools()) {
        hub.shutdown();
        return Err(StartError(format!("mcp: {problem}")));
    }
    Ok(Some(hub))
}
