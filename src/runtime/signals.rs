//! SIGTERM and SIGINT become a `Shutdown` message to every shard. A plain thread waits for the
//! signals so no shard ever blocks on them.

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use super::mesh::Mesh;

/// Registers the handlers now (so a signal that arrives at once is not lost) and forwards the
/// first SIGTERM/SIGINT to every shard. A second one exits at once.
pub fn forward_to(mesh: Mesh) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGTERM, SIGINT])?;
    std::thread::Builder::new()
        .name("sluice-signals".into())
        .spawn(move || {
            let mut seen = 0;
            for signal in signals.forever() {
                seen += 1;
                if seen > 1 {
                    eprintln!("sluice: second signal {signal}, exiting without drain");
                    std::process::exit(1);
                }
                eprintln!("sluice: signal {signal}, draining");
                mesh.shutdown_all();
            }
        })?;
    Ok(())
}
