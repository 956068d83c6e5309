//! `sluice-mock`: a fast scripted upstream speaking the Anthropic and OpenAI APIs, so sluice and
//! other proxies can be measured without a real provider. Prints `listening ADDR` first.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, mpsc};
use std::time::Duration;

use clap::Parser;
use glommio::net::TcpListener;
use glommio::{LocalExecutorBuilder, Placement};
use sluice_loadtest::mock::script::{FaultShares, MockScript};
use sluice_loadtest::mock::server::{MockShared, serve};
use sluice_loadtest::sys::{parse_cpu_list, raise_nofile_limit};

/// Scripted mock upstream for load tests.
#[derive(Debug, Parser)]
#[command(name = "sluice-mock", version)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Unpinned server threads (ignored when --cpus is given).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// CPUs to pin one server thread each to, e.g. `0` or `0,1`.
    #[arg(long)]
    cpus: Option<String>,
    /// Delay before each response head, in microseconds.
    #[arg(long, default_value_t = 0)]
    latency_us: u64,
    /// Uniform random extra delay up to this, in microseconds.
    #[arg(long, default_value_t = 0)]
    jitter_us: u64,
    /// Streams: delay between the head and the first event, in microseconds.
    #[arg(long, default_value_t = 0)]
    first_event_us: u64,
    /// Streams: delay between events after the first content delta, in microseconds (the
    /// events up to the first delta go out together; 0: all events in one write).
    #[arg(long, default_value_t = 0)]
    pace_us: u64,
    /// Text deltas per response.
    #[arg(long, default_value_t = 12)]
    text_events: u32,
    /// Open each response with a thinking block.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    thinking: bool,
    /// tool_use blocks (tool_calls for OpenAI) per response.
    #[arg(long, default_value_t = 1)]
    tool_uses: u32,
    /// Send non-streaming bodies chunked instead of with Content-Length.
    #[arg(long)]
    chunked: bool,
    /// Percent of requests answered 429 rate_limit_error with retry-after.
    #[arg(long, default_value_t = 0.0)]
    fault_429: f64,
    /// Percent of requests answered 500 api_error.
    #[arg(long, default_value_t = 0.0)]
    fault_500: f64,
    /// Percent of requests answered 529 overloaded_error.
    #[arg(long, default_value_t = 0.0)]
    fault_529: f64,
    /// Percent of responses cut by a TCP reset halfway through.
    #[arg(long, default_value_t = 0.0)]
    fault_reset: f64,
    /// Percent of responses that stall for --stall-ms after their first event.
    #[arg(long, default_value_t = 0.0)]
    fault_stall: f64,
    /// Percent of responses closed cleanly (no RST, no last chunk) halfway through.
    #[arg(long, default_value_t = 0.0)]
    fault_truncate: f64,
    /// Length of a stall, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    stall_ms: u64,
    /// retry-after seconds sent with a 429.
    #[arg(long, default_value_t = 1)]
    retry_after: u32,
    /// Exit after this many seconds (0: run until killed).
    #[arg(long, default_value_t = 0)]
    exit_after: u64,
}

fn script_from(args: &Args) -> MockScript {
    MockScript {
        latency: Duration::from_micros(args.latency_us),
        jitter: Duration::from_micros(args.jitter_us),
        first_event: Duration::from_micros(args.first_event_us),
        pace: Duration::from_micros(args.pace_us),
        text_events: args.text_events,
        thinking: args.thinking,
        tool_uses: args.tool_uses,
        chunked: args.chunked,
        faults: FaultShares {
            rate_limited: args.fault_429,
            server_error: args.fault_500,
            overloaded: args.fault_529,
            reset: args.fault_reset,
            stall: args.fault_stall,
            truncate: args.fault_truncate,
        },
        retry_after_secs: args.retry_after,
        stall: Duration::from_millis(args.stall_ms),
    }
}

fn main() {
    let args = Args::parse();
    if let Err(message) = run(&args) {
        eprintln!("sluice-mock: {message}");
        std::process::exit(2);
    }
}

fn run(args: &Args) -> Result<(), String> {
    let script = script_from(args);
    script.validate().map_err(|error| error.to_string())?;
    raise_nofile_limit();
    let placements: Vec<Placement> = match &args.cpus {
        Some(list) => parse_cpu_list(list)?
            .into_iter()
            .map(Placement::Fixed)
            .collect(),
        None => (0..args.threads.max(1))
            .map(|_| Placement::Unbound)
            .collect(),
    };
    let shared = Arc::new(MockShared::new(script));
    let (ready_tx, ready_rx) = mpsc::channel::<Result<SocketAddr, String>>();
    let mut handles = Vec::new();
    let mut addr = args.listen;
    for (n, placement) in placements.into_iter().enumerate() {
        let (shared, ready_tx) = (shared.clone(), ready_tx.clone());
        let handle = LocalExecutorBuilder::new(placement)
            .name(&format!("mock-{n}"))
            .spawn(move || async move {
                match TcpListener::bind(addr) {
                    Ok(listener) => {
                        let bound = listener.local_addr().map_err(|e| e.to_string());
                        let _ = ready_tx.send(bound);
                        serve(listener, shared, 0x5EED + n as u64).await;
                    }
                    Err(error) => {
                        let _ = ready_tx.send(Err(format!("bind {addr}: {error}")));
                    }
                }
            })
            .map_err(|error| format!("starting server thread {n}: {error}"))?;
        handles.push(handle);
        addr = ready_rx
            .recv()
            .map_err(|_| "server thread died".to_string())??;
    }
    println!("listening {addr}");
    let _ = std::io::stdout().flush();
    if args.exit_after > 0 {
        std::thread::sleep(Duration::from_secs(args.exit_after));
        std::process::exit(0);
    }
    for handle in handles {
        let _ = handle.join();
    }
    Ok(())
}
