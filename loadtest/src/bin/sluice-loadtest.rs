//! `sluice-loadtest`: an open-loop HTTP load generator (wrk2 model) for Anthropic- and
//! OpenAI-shaped traffic, with a concurrent-streams mode; prints a summary and writes JSON.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use glommio::{LocalExecutorBuilder, Placement};
use sluice_loadtest::load::open_loop::{OpenLoopPlan, run_sender};
use sluice_loadtest::load::report::{RunInfo, summary_json, summary_text};
use sluice_loadtest::load::schedule::{MAX_DURATION, Schedule};
use sluice_loadtest::load::stats::Stats;
use sluice_loadtest::load::streams::{StreamsPlan, run_stream_sender};
use sluice_loadtest::load::target::parse_target;
use sluice_loadtest::requests::claude_code::CLAUDE_CODE_DEFAULT_BYTES;
use sluice_loadtest::requests::profiles::{Profile, RequestSet};
use sluice_loadtest::sys::{parse_cpu_list, raise_nofile_limit};

/// Time between building the plan and the first due request (connections open meanwhile).
const START_DELAY: Duration = Duration::from_millis(300);
/// Extra time the watchdog allows past the planned end before it aborts the run.
const WATCHDOG_SLACK: Duration = Duration::from_secs(15);

/// Open-loop load generator.
#[derive(Debug, Parser)]
#[command(name = "sluice-loadtest", version)]
struct Args {
    /// Target base URL, e.g. http://127.0.0.1:8080 (a path prefix such as /anthropic is kept).
    #[arg(long)]
    url: String,
    /// small | claude-code | openai | mix.
    #[arg(long, default_value = "small")]
    profile: String,
    /// Target rate in requests per second (open-loop mode).
    #[arg(long)]
    rate: Option<f64>,
    /// Seconds to send for (capped at one hour).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Stop after this many requests, if that comes before --duration.
    #[arg(long)]
    requests: Option<u64>,
    /// Keep-alive connections in total (split across sender threads).
    #[arg(long, default_value_t = 64)]
    connections: u64,
    /// Unpinned sender threads (ignored when --cpus is given).
    #[arg(long, default_value_t = 1)]
    threads: u64,
    /// CPUs to pin one sender thread each to, e.g. `0`.
    #[arg(long)]
    cpus: Option<String>,
    /// Seconds at the start that are sent but not recorded.
    #[arg(long, default_value_t = 0.0)]
    warmup: f64,
    /// Longest wait for one response, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    timeout_ms: u64,
    /// Longest wait for a connection, in milliseconds.
    #[arg(long, default_value_t = 2_000)]
    connect_timeout_ms: u64,
    /// Extra request header `name: value` (repeatable), e.g. `x-api-key: sk-test`.
    #[arg(short = 'H', long = "header")]
    headers: Vec<String>,
    /// Size of claude-code bodies in bytes (50-90 KiB).
    #[arg(long, default_value_t = CLAUDE_CODE_DEFAULT_BYTES)]
    body_bytes: usize,
    /// Hold this many streaming requests open at once instead of an open-loop rate.
    #[arg(long)]
    concurrent_streams: Option<u64>,
    /// Concurrent-streams mode: seconds over which the streams are opened.
    #[arg(long, default_value_t = 2.0)]
    ramp: f64,
    /// Write the result as JSON here.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// Print only the JSON result on stdout.
    #[arg(long)]
    quiet: bool,
}

fn main() {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => {}
        Err(message) => {
            eprintln!("sluice-loadtest: {message}");
            std::process::exit(2);
        }
    }
}

fn secs(value: f64, what: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(value)
        .map(|d| d.min(MAX_DURATION))
        .map_err(|_| format!("{what} must be a non-negative number of seconds"))
}

fn run(args: &Args) -> Result<(), String> {
    let target = parse_target(&args.url)?;
    let profile = Profile::from_name(&args.profile).ok_or_else(|| {
        format!(
            "unknown profile {:?} (small, claude-code, openai, mix)",
            args.profile
        )
    })?;
    let placements: Vec<Placement> = match &args.cpus {
        Some(list) => parse_cpu_list(list)?
            .into_iter()
            .map(Placement::Fixed)
            .collect(),
        None => (0..args.threads.max(1))
            .map(|_| Placement::Unbound)
            .collect(),
    };
    let senders = placements.len() as u64;
    raise_nofile_limit();
    let duration = secs(args.duration, "--duration")?;
    let warmup = secs(args.warmup, "--warmup")?;
    let timeout = Duration::from_millis(args.timeout_ms.max(1));
    let connect_timeout = Duration::from_millis(args.connect_timeout_ms.max(1));
    let requests = Arc::new(RequestSet::build(
        profile,
        &target.endpoint,
        &args.headers,
        args.body_bytes,
    ));
    let start = Instant::now() + START_DELAY;
    let mut info = RunInfo {
        mode: "open-loop",
        profile: profile.name(),
        url: args.url.clone(),
        rate: args.rate,
        streams: args.concurrent_streams,
        connections: args.connections,
        senders,
        scheduled: None,
        warmup_secs: warmup.as_secs_f64(),
    };
    let (handles, planned_end) = if let Some(streams) = args.concurrent_streams {
        info.mode = "concurrent-streams";
        info.connections = streams;
        info.warmup_secs = 0.0;
        let plan = Arc::new(StreamsPlan {
            addr: target.addr,
            streams,
            senders,
            ramp: secs(args.ramp, "--ramp")?,
            hold: duration,
            timeout,
            connect_timeout,
            requests,
        });
        let handles = spawn_senders(&placements, |sender| {
            let plan = plan.clone();
            move || run_stream_sender(plan, sender, start)
        })?;
        (handles, duration + timeout)
    } else {
        let rate = args
            .rate
            .ok_or("--rate is needed (or --concurrent-streams)")?;
        let schedule =
            Schedule::new(rate, duration, args.requests, senders).map_err(|e| e.to_string())?;
        info.scheduled = Some(schedule.total());
        let plan = Arc::new(OpenLoopPlan {
            addr: target.addr,
            schedule,
            connections: (args.connections / senders).max(1) as usize,
            timeout,
            connect_timeout,
            warmup,
            requests,
        });
        let handles = spawn_senders(&placements, |sender| {
            let plan = plan.clone();
            move || run_sender(plan, sender, start)
        })?;
        (handles, schedule.span() + timeout + connect_timeout)
    };
    let watchdog_limit = START_DELAY + planned_end + WATCHDOG_SLACK;
    std::thread::spawn(move || {
        std::thread::sleep(watchdog_limit);
        eprintln!("sluice-loadtest: run exceeded {watchdog_limit:?}; aborting");
        std::process::exit(3);
    });
    let mut stats = Stats::default();
    for handle in handles {
        let part = handle
            .join()
            .map_err(|error| format!("sender thread failed: {error}"))?;
        stats.merge(&part);
    }
    let summary = summary_json(&info, &stats);
    if args.quiet {
        println!("{summary}");
    } else {
        print!("{}", summary_text(&summary));
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&summary).map_err(|e| e.to_string())?;
        std::fs::write(path, text + "\n")
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    Ok(())
}

type SenderHandle = glommio::ExecutorJoinHandle<Stats>;

fn spawn_senders<G, F, Fut>(placements: &[Placement], make: G) -> Result<Vec<SenderHandle>, String>
where
    G: Fn(u64) -> F,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Stats> + 'static,
{
    placements
        .iter()
        .enumerate()
        .map(|(n, placement)| {
            LocalExecutorBuilder::new(placement.clone())
                .name(&format!("sender-{n}"))
                .spawn(make(n as u64))
                .map_err(|error| format!("starting sender thread {n}: {error}"))
        })
        .collect()
}
