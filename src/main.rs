//! The `sluice` command line: `serve` runs the gateway, `check-config` validates a file.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sluice::config::Config;

#[cfg(feature = "count-allocations")]
#[global_allocator]
static ALLOCATOR: sluice::observe::alloc_count::CountingAllocator =
    sluice::observe::alloc_count::CountingAllocator;

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "A thread-per-core AI gateway for Claude Code"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (with no --config: the embedded default, 127.0.0.1:8080 → api.anthropic.com).
    Serve {
        /// A TOML configuration file (see examples/sluice.example.toml).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Validate a configuration file and print what it configures.
    CheckConfig {
        /// The TOML configuration file.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { file } => match Config::load(&file) {
            Ok(config) => {
                println!("{}: ok", file.display());
                println!("{}", config.summary());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{}: {e}", file.display());
                ExitCode::from(2)
            }
        },
        Command::Serve { config } => {
            let config = match &config {
                Some(path) => match Config::load(path) {
                    Ok(c) => c,
                    Err(e) => {
                        eprintln!("sluice: {}: {e}", path.display());
                        return ExitCode::from(2);
                    }
                },
                None => Config::embedded_default(),
            };
            let served = sluice::runtime::serve(config, |ready| {
                let admin = ready
                    .admin
                    .map_or_else(|| "off".to_owned(), |a| a.to_string());
                // Tests and scripts read this first line to learn the bound ports.
                println!(
                    "listening {} admin {} shards {}",
                    ready.listen, admin, ready.shards
                );
            });
            match served {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("sluice: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
