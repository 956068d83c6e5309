//! The `sluice` binary: parses the command line and runs it (see [`sluice::cli`]).

use std::process::ExitCode;

use clap::Parser;

#[cfg(feature = "count-allocations")]
#[global_allocator]
static ALLOCATOR: sluice::observe::alloc_count::CountingAllocator =
    sluice::observe::alloc_count::CountingAllocator;

fn main() -> ExitCode {
    sluice::cli::Cli::parse().run()
}
