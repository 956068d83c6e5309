//! Governance costs: admission + settlement for a key under a team under a customer (each with
//! a budget and a rate limit) in strict and soft mode, on one shard and on one of two shards
//! (strict shares in use, uncontended), and contended: two shards whose share of every budget
//! and token limit must move to the other for each admission (the ask, the grant, the retry);
//! authentication, the cross-shard propagation time of one spend delta, and the ledger's
//! committed throughput.
//!
//! Run: `cargo bench --bench governance` (figures in BENCHMARKS.md).

use std::hint::black_box;
use std::rc::Rc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sluice::config::Config;
use sluice::governance::Usage;
use sluice::governance::{
    Clock, GovMsg, Governor, Ledger, LedgerSnapshot, ManualClock, Outbound,
    SHARE_REQUEST_INTERVAL_MS, SystemClock,
};

const SECRET: &[u8] = b"sk-sluice-alice-0123456789abcdefghijklmnopqrstuv";

fn config(mode: &str) -> Config {
    let level = "budgets = [{ max_usd = 1000000.0, reset = \"1d\" }]\n\
                 rate_limits = [{ requests = 1000000000, tokens = 1000000000000, window = \"1m\" }]";
    config_with(mode, level)
}

fn config_with(mode: &str, level: &str) -> Config {
    let text = format!(
        "[[providers]]\nname = \"anthropic\"\nkind = \"anthropic\"\nkeys = [{{ secret = \"u\" }}]\n\
         [governance]\nrequire_virtual_key = true\nbudget_mode = \"{mode}\"\n\
         [[customers]]\nid = \"acme\"\n{level}\n\
         [[teams]]\nid = \"platform\"\ncustomer = \"acme\"\n{level}\n\
         [[virtual_keys]]\nid = \"alice\"\nsecret = \"{}\"\nteam = \"platform\"\n{level}\n",
        std::str::from_utf8(SECRET).unwrap()
    );
    Config::from_toml_str_with_env(&text, &|_| None).unwrap()
}

fn governor(mode: &str, shard: usize, shards: usize) -> Rc<Governor> {
    governor_with(&config(mode), shard, shards)
}

fn governor_with(config: &Config, shard: usize, shards: usize) -> Rc<Governor> {
    let clock: Rc<dyn Clock> = Rc::new(SystemClock);
    Governor::new(config, shard, shards, clock, &LedgerSnapshot::default())
        .unwrap()
        .0
}

fn usage() -> Usage {
    Usage {
        input_tokens: 1200,
        output_tokens: 300,
        cache_read_input_tokens: 20_000,
        cache_creation_input_tokens: 100,
    }
}

fn admission(c: &mut Criterion) {
    let mut g = c.benchmark_group("admit_and_settle_key_team_customer");
    g.throughput(Throughput::Elements(1));
    for mode in ["strict", "soft"] {
        let gov = governor(mode, 0, 1);
        let key = gov.authenticate(Some(SECRET), None).unwrap();
        let used = usage();
        let mut sink: Vec<Outbound> = Vec::with_capacity(4);
        g.bench_function(mode, |b| {
            b.iter(|| {
                let held = gov
                    .admit(
                        black_box(key),
                        "anthropic",
                        "claude-sonnet-4-5",
                        5_000,
                        8_192,
                    )
                    .unwrap();
                black_box(held.settle(&used));
                gov.drain_outbound(|o| sink.push(o));
                sink.clear();
            })
        });
    }
    // Shard 0 of 2: strict shares in use, but its share never runs short.
    let gov = governor("strict", 0, 2);
    let key = gov.authenticate(Some(SECRET), None).unwrap();
    let used = usage();
    let mut sink: Vec<Outbound> = Vec::with_capacity(4);
    g.bench_function("strict_one_of_two_shards_uncontended", |b| {
        b.iter(|| {
            let held = gov
                .admit(
                    black_box(key),
                    "anthropic",
                    "claude-sonnet-4-5",
                    5_000,
                    8_192,
                )
                .unwrap();
            black_box(held.settle(&used));
            gov.drain_outbound(|o| sink.push(o));
            sink.clear();
        })
    });
    g.finish();
    contended(c);
    let gov = governor("strict", 0, 1);
    c.bench_function("authenticate_virtual_key", |b| {
        b.iter(|| black_box(gov.authenticate(Some(black_box(SECRET)), None).unwrap()))
    });
}

/// Delivers everything `from` wants sent to `to` (two shards: every route reaches the other).
fn deliver(from: &Governor, to: &Governor) {
    from.drain_outbound(|o| to.apply(&o.msg));
}

/// Two shards in strict mode whose every level has a budget and a token limit that fit one
/// request and a half: each admission on one shard finds its share short, asks the other,
/// takes the grant and retries. The two shards take turns, so every admission is contended.
/// Measured per admitted request (the refused attempt, both message applications, the
/// admission and its settlement), messages handed over in-process: the CPU cost of the share
/// protocol without the channel hop (see `cross_shard_delta_propagation` for that).
fn contended(c: &mut Criterion) {
    // A worst case of 5,000 input + 8,192 output tokens at Sonnet 4.5 prices is $0.13788.
    let level = "budgets = [{ max_usd = 0.2, reset = \"1d\" }]\n\
                 rate_limits = [{ tokens = 20000, window = \"1m\" }]";
    let config = config_with("strict", level);
    // A shard asks for share of one budget at most every `SHARE_REQUEST_INTERVAL_MS`, and a
    // shard that asked within two intervals counts as still waiting (it keeps its remainder
    // from a higher-numbered asker): the clock moves two intervals between admissions, so each
    // shard's last ask is over when the other asks.
    let clock = Rc::new(ManualClock::new(1_800_000_000_000));
    let on = |shard| {
        let shared: Rc<dyn Clock> = clock.clone();
        Governor::new(&config, shard, 2, shared, &LedgerSnapshot::default())
            .unwrap()
            .0
    };
    let shards = [on(0), on(1)];
    let keys = [
        shards[0].authenticate(Some(SECRET), None).unwrap(),
        shards[1].authenticate(Some(SECRET), None).unwrap(),
    ];
    let nothing = Usage::default();
    let mut turn = 0usize;
    let mut g = c.benchmark_group("admit_and_settle_key_team_customer");
    g.throughput(Throughput::Elements(1));
    g.bench_function("strict_two_shards_every_admission_contended", |b| {
        b.iter(|| {
            let (me, other) = (turn % 2, (turn + 1) % 2);
            turn += 1;
            clock.advance(2 * SHARE_REQUEST_INTERVAL_MS);
            let admit =
                || shards[me].admit(keys[me], "anthropic", "claude-sonnet-4-5", 5_000, 8_192);
            let held = match admit() {
                Ok(held) => held,
                Err(_) => {
                    deliver(&shards[me], &shards[other]);
                    deliver(&shards[other], &shards[me]);
                    admit().expect("admitted once the grant arrived")
                }
            };
            black_box(held.settle(&nothing));
            deliver(&shards[me], &shards[other]);
        })
    });
    g.finish();
}

/// One settlement on shard A, its delta carried by the same kind of channel the gateway uses
/// to shard B's thread, applied there; measured until B acknowledges.
fn propagation(c: &mut Criterion) {
    let (to_b, mut b_inbox) = futures_channel::mpsc::unbounded::<GovMsg>();
    let (ack_tx, ack_rx) = std::sync::mpsc::channel::<()>();
    let shard_b = std::thread::spawn(move || {
        let gov = governor("soft", 1, 2);
        while let Some(msg) =
            futures_lite::future::block_on(futures_lite::StreamExt::next(&mut b_inbox))
        {
            gov.apply(&msg);
            if ack_tx.send(()).is_err() {
                break;
            }
        }
    });
    let gov = governor("soft", 0, 2);
    let key = gov.authenticate(Some(SECRET), None).unwrap();
    let used = usage();
    c.bench_function("cross_shard_delta_propagation", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let held = gov
                    .admit(key, "anthropic", "claude-sonnet-4-5", 5_000, 8_192)
                    .unwrap();
                let start = Instant::now();
                held.settle(&used);
                gov.drain_outbound(|o| {
                    let _ = to_b.unbounded_send(o.msg);
                });
                ack_rx.recv().unwrap();
                total += start.elapsed();
            }
            total
        })
    });
    drop(to_b);
    shard_b.join().unwrap();
}

fn ledger(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("sluice-bench-ledger-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ledger.sqlite3");
    let (handle, thread) = Ledger::start(&path, Duration::from_millis(50)).unwrap();
    let gov = governor("soft", 0, 1);
    let key = gov.authenticate(Some(SECRET), None).unwrap();
    let used = usage();
    let batch = 10_000u64;
    let mut g = c.benchmark_group("ledger_committed");
    g.throughput(Throughput::Elements(batch));
    g.sample_size(10);
    g.bench_function("deltas", |b| {
        b.iter(|| {
            for _ in 0..batch {
                let held = gov
                    .admit(key, "anthropic", "claude-sonnet-4-5", 5_000, 8_192)
                    .unwrap();
                held.settle(&used);
                gov.drain_outbound(|o| {
                    if o.ledger {
                        handle.record(o.msg);
                    }
                });
            }
            handle.flush().unwrap();
        })
    });
    g.finish();
    handle.flush_and_stop().unwrap();
    let _ = thread.join();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, admission, propagation, ledger);
criterion_main!(benches);
