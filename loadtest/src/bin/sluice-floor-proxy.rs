//! `sluice-floor-proxy`: the least a proxy does per request, on glommio (`uring`, the default)
//! or on a plain epoll loop (`epoll`), to measure what a runtime's socket path costs apart from
//! sluice's own work (issue 15; see the `floor` module).
//!
//! It speaks sluice's command line just enough for `loadtest/compare.sh --sluice-bin` to
//! measure it in sluice's place against nginx:
//!
//! ```text
//! SLUICE_FLOOR_REACTOR=epoll sluice-floor-proxy serve --config sluice.toml
//! ```
//!
//! It reads `listen` and `base_url` from the file and prints `listening ADDR admin ADDR
//! shards 1` like sluice; the admin address is a closed port (there are no metrics).

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use sluice_loadtest::floor::{FloorConfig, epoll, uring};
use sluice_loadtest::sys::raise_nofile_limit;

/// The least a proxy does per request (a measuring tool, not a gateway).
#[derive(Debug, Parser)]
#[command(name = "sluice-floor-proxy", version)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Proxy `listen` to the first `base_url` of a sluice config file.
    Serve {
        #[arg(long)]
        config: PathBuf,
    },
}

fn fail(message: String) -> ! {
    eprintln!("sluice-floor-proxy: {message}");
    std::process::exit(2);
}

fn main() {
    let Command::Serve { config } = Args::parse().command;
    let text = std::fs::read_to_string(&config)
        .unwrap_or_else(|e| fail(format!("cannot read {}: {e}", config.display())));
    let floor = FloorConfig::from_sluice_toml(&text).unwrap_or_else(|e| fail(e));
    raise_nofile_limit();
    let announce = |bound: std::net::SocketAddr| {
        // A closed port for compare.sh's metrics scrape.
        let admin = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_or_else(|_| "127.0.0.1:1".to_owned(), |a| a.to_string());
        println!("listening {bound} admin {admin} shards 1");
    };
    match std::env::var("SLUICE_FLOOR_REACTOR").as_deref() {
        Ok("epoll") => {
            if let Err(e) = epoll::run(floor, announce) {
                fail(format!("epoll loop: {e}"));
            }
        }
        Ok("uring") | Err(_) => uring::run(floor, announce),
        Ok(other) => fail(format!("SLUICE_FLOOR_REACTOR={other}: epoll or uring")),
    }
}
