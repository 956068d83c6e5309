//! Admission cost under the Redis governance backend: a local lease hit (admission + settlement
//! on a shard whose leased share covers the request: no Redis on the path) against the same on
//! the embedded backend (baseline, same run), and a lease refill: one round trip of the lease
//! script to a real `redis-server` (started here on a free loopback port), which is what an
//! admission waits for when its shard's lease runs out.
//!
//! Run: `cargo bench --bench redis_backend` (needs `redis-server`; figures in BENCHMARKS.md).

use std::hint::black_box;
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sluice::config::Config;
use sluice::governance::backend::items::{LEASE_SCRIPT, LEASE_TTL_MS};
use sluice::governance::{
    BudgetKey, Clock, EntityId, GovMsg, Governor, LedgerSnapshot, Level, ShareGrant, ShareOf,
    SystemClock, Usage,
};

const SECRET: &[u8] = b"sk-sluice-alice-0123456789abcdefghijklmnopqrstuv";

fn config(redis: bool) -> Config {
    let level = "budgets = [{ max_usd = 1000000.0, reset = \"1d\" }]\n\
                 rate_limits = [{ requests = 1000000000, tokens = 1000000000000, window = \"1m\" }]";
    let backend = if redis {
        "backend = \"redis\"\nredis_url = \"redis://127.0.0.1:1\"\n"
    } else {
        ""
    };
    let text = format!(
        "[[providers]]\nname = \"anthropic\"\nkind = \"anthropic\"\nkeys = [{{ secret = \"u\" }}]\n\
         [governance]\nrequire_virtual_key = true\nbudget_mode = \"strict\"\n{backend}\
         [[customers]]\nid = \"acme\"\n{level}\n\
         [[teams]]\nid = \"platform\"\ncustomer = \"acme\"\n{level}\n\
         [[virtual_keys]]\nid = \"alice\"\nsecret = \"{}\"\nteam = \"platform\"\n{level}\n",
        std::str::from_utf8(SECRET).unwrap()
    );
    Config::from_toml_str_with_env(&text, &|_| None).unwrap()
}

fn governor(redis: bool) -> Rc<Governor> {
    let clock: Rc<dyn Clock> = Rc::new(SystemClock);
    let gov = Governor::new(&config(redis), 0, 1, clock, &LedgerSnapshot::default())
        .unwrap()
        .0;
    if redis {
        // The broker's leases: far more than the run can use, on every level's budget and limit.
        let budget = ShareOf::Budget(BudgetKey {
            reset: sluice::config::ResetPeriod::Day,
            calendar_aligned: false,
        });
        for (level, name) in [
            (Level::Key, "alice"),
            (Level::Team, "platform"),
            (Level::Customer, "acme"),
        ] {
            for of in [
                budget,
                ShareOf::Requests { window_ms: 60_000 },
                ShareOf::Tokens { window_ms: 60_000 },
            ] {
                gov.apply(&GovMsg::ShareGrant(ShareGrant {
                    to_shard: 0,
                    entity: EntityId::of(level, name),
                    of,
                    amount: u64::MAX / 4,
                }));
            }
        }
    }
    gov
}

fn usage() -> Usage {
    Usage {
        input_tokens: 1200,
        output_tokens: 300,
        cache_read_input_tokens: 20_000,
        cache_creation_input_tokens: 100,
    }
}

fn lease_hit(c: &mut Criterion) {
    let mut g = c.benchmark_group("redis_admit_and_settle");
    g.throughput(Throughput::Elements(1));
    for (name, redis) in [("embedded_baseline", false), ("redis_lease_hit", true)] {
        let gov = governor(redis);
        let key = gov.authenticate(Some(SECRET), None).unwrap();
        let used = usage();
        g.bench_function(name, |b| {
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
                held.settle(&used);
                gov.drain_outbound(|o| {
                    black_box(o);
                });
            })
        });
    }
    g.finish();
}

/// A `redis-server` on a free loopback port, killed on drop.
struct Server(Child, u16);

impl Server {
    fn start() -> Server {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let child = Command::new("redis-server")
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--save",
                "",
            ])
            .args(["--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Server(child, port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn lease_refill(c: &mut Criterion) {
    let server = Server::start();
    let client = redis::Client::open(format!("redis://127.0.0.1:{}", server.1)).unwrap();
    let mut conn = client.get_connection().unwrap();
    let sha: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg(LEASE_SCRIPT)
        .query(&mut conn)
        .unwrap();
    let mut g = c.benchmark_group("redis_lease_refill");
    g.throughput(Throughput::Elements(1));
    g.bench_function("lease_script_round_trip", |b| {
        b.iter(|| {
            let now = SystemClock.now_unix_millis();
            let granted: (u64, u64) = redis::cmd("EVALSHA")
                .arg(&sha)
                .arg(1)
                .arg("{bench:0}:b:1d:r")
                .arg("bench-instance")
                .arg(now)
                .arg(now + LEASE_TTL_MS)
                .arg(u64::MAX / 1024)
                .arg(1_000)
                .arg(now.saturating_sub(90_000_000))
                .arg(200_000_000)
                .arg(0)
                .query(&mut conn)
                .unwrap();
            black_box(granted);
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = lease_hit, lease_refill
}
criterion_main!(benches);
