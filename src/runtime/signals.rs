//! Signals become mesh messages: SIGTERM and SIGINT a `Shutdown` to every shard, SIGHUP a
//! reload of the configuration file (and the listeners' certificates; audited) plus a reopen
//! of the access-log file, SIGUSR1 only the reopen (logrotate's `postrotate`). A plain thread
//! waits for them so no shard ever blocks.

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
use signal_hook::iterator::Signals;

use super::admin_audit::record_signal_reload;
use super::mesh::Mesh;
use crate::observe::access_log::AccessLogReopen;
use crate::observe::audit::AuditSender;

/// Registers the handlers now (so a signal that arrives at once is not lost) and forwards them.
/// A second SIGTERM/SIGINT exits at once.
pub fn forward_to(
    mesh: Mesh,
    access_log: AccessLogReopen,
    audit: Option<AuditSender>,
) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP, SIGUSR1])?;
    std::thread::Builder::new()
        .name("sluice-signals".into())
        .spawn(move || {
            let mut stops = 0;
            for signal in signals.forever() {
                if signal == SIGUSR1 {
                    access_log.reopen();
                    continue;
                }
                if signal == SIGHUP {
                    access_log.reopen();
                    let result = mesh.reload_blocking();
                    record_signal_reload(audit.as_ref(), &result);
                    match result {
                        Ok(warnings) => {
                            eprintln!("sluice: SIGHUP, configuration reloaded");
                            for w in warnings {
                                eprintln!("sluice: reload: {w}");
                            }
                        }
                        Err(e) => eprintln!("sluice: SIGHUP, reload refused: {e}"),
                    }
                    continue;
                }
                stops += 1;
                if stops > 1 {
                    eprintln!("sluice: second signal {signal}, exiting without drain");
                    std::process::exit(1);
                }
                eprintln!("sluice: signal {signal}, draining");
                mesh.shutdown_all();
            }
        })?;
    Ok(())
}
