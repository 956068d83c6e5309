//! Shards: one glommio executor pinned to each core, every one binding the listen port with
//! SO_REUSEPORT, sharing nothing but typed messages; plus start-up, shutdown and DNS.
//!
//! glommio stays behind this module and [`net`]: the rest of the crate sees "a shard", "spawn
//! local", "a TCP stream" and "a timer".

pub mod dns;
pub mod mesh;
pub mod net;
pub mod shard;
pub mod signals;
pub mod time;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use crate::config::Config;
use crate::observe::access_log::AccessLogWriter;

pub use shard::Shard;

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
/// every shard is accepting, with the bound addresses.
pub fn serve(config: Config, on_ready: impl FnOnce(&Listening)) -> Result<(), StartError> {
    let config = Arc::new(config);
    let cpus = shard_cpus(config.server.cores)?;
    // Learn the real port first (the configured one may be 0) with a socket that is bound but
    // never listens, so it joins the SO_REUSEPORT group without ever receiving a connection.
    let (placeholder, listen) = net::reserve_port(config.server.listen)
        .map_err(|e| StartError(format!("cannot bind {}: {e}", config.server.listen)))?;

    let dns = dns::Resolver::start();
    let access_log = AccessLogWriter::start(&config.server.access_log)
        .map_err(|e| StartError(format!("cannot open the access log: {e}")))?;
    let (mesh, inboxes) = mesh::Mesh::wire(cpus.len());
    let (ready_tx, ready_rx) = mpsc::channel::<Result<Option<SocketAddr>, String>>();

    let mut handles = Vec::with_capacity(cpus.len());
    for (index, (cpu, inbox)) in cpus.iter().copied().zip(inboxes).enumerate() {
        let config = Arc::clone(&config);
        let mesh = mesh.clone();
        let dns = dns.clone();
        let log = access_log.sender();
        let ready = ready_tx.clone();
        let handle = glommio::LocalExecutorBuilder::new(glommio::Placement::Fixed(cpu))
            .name(&format!("sluice-shard-{index}"))
            .io_memory(SHARD_IO_MEMORY_BYTES)
            .spawn(move || async move {
                shard::run(index, config, listen, mesh, inbox, dns, log, ready).await
            })
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
    signals::forward_to(mesh.clone())
        .map_err(|e| StartError(format!("cannot install signal handlers: {e}")))?;
    on_ready(&Listening {
        listen,
        admin,
        shards: cpus.len(),
    });

    for handle in handles {
        handle
            .join()
            .map_err(|e| StartError(format!("a shard failed: {e}")))?;
    }
    access_log.finish();
    Ok(())
}
