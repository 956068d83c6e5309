//! Tests of the durable ledger: round trip of spend, keys, revocations and resets; commits
//! without a clean stop (a `kill -9` loses at most the interval); restart resuming every
//! counter; roll-up of old rows; the Redis backend's outbox.

use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::ledger_store::{Batch, DAY_MS, HOUR_MS, MINUTE_MS, RowSums, Store};
use super::tests_support::*;
use super::*;

const T0: u64 = 1_800_000_000_000;

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("sluice-ledger-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }

    fn ledger(&self) -> PathBuf {
        ledger_path(&self.0)
    }

    /// A ledger file an older build wrote, with only the tables of `schema`.
    fn legacy_ledger(&self, schema: &str) -> rusqlite::Connection {
        std::fs::create_dir_all(&self.0).unwrap();
        let conn = rusqlite::Connection::open(self.ledger()).unwrap();
        conn.execute_batch(schema).unwrap();
        conn
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn delta(entities: [Option<EntityId>; 4], at_ms: u64, cost_pico: u64, tokens: u64) -> SpendDelta {
    SpendDelta {
        origin_shard: 0,
        entities,
        admitted_at_ms: at_ms,
        settled_at_ms: at_ms,
        cost_pico,
        rate_tokens: tokens,
        input_tokens: tokens,
        output_tokens: 0,
        cache_read_tokens: 0,
        cache_write_tokens: 0,
        overshoot_pico: 0,
        overshoot_tokens: 0,
    }
}

fn totals(snapshot: &LedgerSnapshot, entity: EntityId) -> (u64, u64, u64) {
    snapshot
        .spend
        .iter()
        .filter(|r| r.entity == entity)
        .fold((0, 0, 0), |(c, t, r), row| {
            (c + row.cost_pico, t + row.tokens, r + row.requests)
        })
}

#[test]
fn spend_keys_revocations_and_resets_survive_a_restart() {
    let dir = TempDir::new();
    let (handle, thread) = Ledger::start(&dir.ledger(), DEFAULT_COMMIT_INTERVAL).unwrap();
    let key = EntityId::of(Level::Key, "alice");
    let team = EntityId::of(Level::Team, "platform");
    for i in 0..1_000 {
        assert!(handle.record(GovMsg::Spend(delta(
            [Some(key), Some(team), None, None],
            T0 + i * 1_000,
            7,
            3
        ))));
    }
    // The admin work happens 8 minutes in: the reset drops the first 480 deltas' spend.
    let clock = Rc::new(ManualClock::new(T0 + 480_000));
    let g = shard(
        &config(
            "soft",
            &hierarchy("", "", "budgets = [{ max_usd = 1.0, reset = \"1d\" }]"),
        ),
        0,
        1,
        &clock,
    );
    let created = g
        .create_key(NewKey {
            id: "dave".into(),
            team: "platform".into(),
            customer: None,
            budgets: vec![parse_budget(5.0, "1M", true).unwrap()],
            rate_limits: vec![parse_rate_limit(Some(10), None, "1m").unwrap()],
            models: vec!["p/*".into()],
            mcp_tools: Some(vec!["files__*".into()]),
            expires_at_unix_secs: Some(2_000_000_000),
        })
        .unwrap();
    g.revoke_key("alice").unwrap();
    assert!(
        g.reset_budget(Level::Provider, "p", None).is_err(),
        "p has no budget"
    );
    g.reset_budget(Level::Key, "alice", None).unwrap();
    g.drain_outbound(|o| {
        if o.ledger {
            handle.record(o.msg);
        }
    });
    handle.flush_and_stop().unwrap();
    thread.join().unwrap().unwrap();
    assert!(
        !handle.record(GovMsg::Spend(delta(
            [Some(key), None, None, None],
            T0,
            1,
            1
        ))),
        "stopped"
    );

    let snapshot = load_snapshot(&dir.ledger(), T0 + 1_000_000).unwrap();
    assert_eq!(totals(&snapshot, key), (7_000, 3_000, 1_000));
    assert_eq!(totals(&snapshot, team), (7_000, 3_000, 1_000));
    assert_eq!(snapshot.keys.len(), 1);
    let dave = &snapshot.keys[0];
    assert_eq!(
        (
            dave.id.as_str(),
            dave.customer.as_deref(),
            dave.models.clone()
        ),
        ("dave", Some("acme"), vec!["p/*".to_owned()])
    );
    assert_eq!(dave.budgets, vec![parse_budget(5.0, "1M", true).unwrap()]);
    assert_eq!(
        dave.rate_limits,
        vec![parse_rate_limit(Some(10), None, "1m").unwrap()]
    );
    assert_eq!(dave.expires_at_unix_secs, Some(2_000_000_000));
    assert_eq!(dave.mcp_tools, Some(vec!["files__*".to_owned()]));
    assert_eq!(
        dave.hash,
        keys::hash_secret(created.secret.as_bytes()),
        "only the digest is stored"
    );
    assert_eq!(snapshot.revocations.len(), 1);
    assert_eq!(
        snapshot.resets,
        vec![BudgetReset {
            entity: key,
            budget: None,
            at_ms: T0 + 480_000
        }]
    );

    // A new process: the created key works, the revoked config key does not, spend resumes.
    let budgeted = config(
        "soft",
        &hierarchy("", "", "budgets = [{ max_usd = 0.000007, reset = \"1d\" }]"),
    );
    let clock = Rc::new(ManualClock::new(T0 + 1_000_000));
    let clock_dyn: Rc<dyn Clock> = clock.clone();
    let (g, warnings) = Governor::new(&budgeted, 0, 1, clock_dyn, &snapshot).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(
        g.authenticate(Some(created.secret.as_bytes()), None)
            .unwrap()
            .is_some()
    );
    assert_eq!(
        g.authenticate(Some(b"sk-alice"), None),
        Err(Rejection::Unauthenticated(AuthFailure::Revoked))
    );
    let usage = g.usage(Level::Key, "alice").unwrap();
    assert_eq!(
        usage.budgets[0].spent_pico,
        520 * 7,
        "spend before the reset stays reset"
    );
    let team = g.usage(Level::Team, "platform").unwrap();
    assert!(team.budgets.is_empty());
}

#[test]
fn commits_happen_without_a_clean_stop() {
    let dir = TempDir::new();
    let interval = Duration::from_millis(20);
    let (handle, thread) = Ledger::start(&dir.ledger(), interval).unwrap();
    let key = EntityId::of(Level::Key, "alice");
    for i in 0..500 {
        handle.record(GovMsg::Spend(delta(
            [Some(key), None, None, None],
            T0 + i,
            11,
            1,
        )));
    }
    // No flush, no stop: read the file from another connection, as a restarted process
    // would after `kill -9`, until the group commit has landed (bounded wait).
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = (0, 0, 0);
    while Instant::now() < deadline {
        std::thread::sleep(interval);
        seen = totals(&load_snapshot(&dir.ledger(), T0).unwrap(), key);
        if seen == (5_500, 500, 500) {
            break;
        }
    }
    assert_eq!(seen, (5_500, 500, 500));
    assert!(handle.stats().commits.load(Ordering::Relaxed) >= 1);
    assert_eq!(handle.stats().deltas_committed.load(Ordering::Relaxed), 500);
    handle.flush_and_stop().unwrap();
    thread.join().unwrap().unwrap();
}

#[test]
fn restored_counters_resume_budgets_and_rate_limits() {
    let key = EntityId::of(Level::Key, "alice");
    let row = |start_ms, len_ms, cost_pico, requests| SpendRow {
        entity: key,
        start_ms,
        len_ms,
        cost_pico,
        tokens: 0,
        requests,
        tool_calls: 0,
    };
    let now = utc(2027, 3, 10, 12, 0, 30);
    let snapshot = LedgerSnapshot {
        spend: vec![
            // Last month: outside the calendar month, inside the rolling 30 days.
            row(utc(2027, 2, 20, 0, 0, 0), DAY_MS, 40_000_000, 0),
            // This month, this minute.
            row(utc(2027, 3, 10, 12, 0, 0), MINUTE_MS, 5_000_000, 2),
        ],
        ..LedgerSnapshot::default()
    };
    let limits = "budgets = [{ max_usd = 0.0001, reset = \"1M\", calendar_aligned = true }, { max_usd = 0.0001, reset = \"1M\" }]\n\
                  rate_limits = [{ requests = 3, window = \"1m\" }]";
    let clock: Rc<dyn Clock> = Rc::new(ManualClock::new(now));
    // Shard 0 of 2: its share of the 3 requests is 2, its own part of the 2 restored is 1.
    let (g, _) = Governor::new(
        &config("strict", &hierarchy("", "", limits)),
        0,
        2,
        clock,
        &snapshot,
    )
    .unwrap();
    let usage = g.usage(Level::Key, "alice").unwrap();
    assert_eq!(usage.budgets[0].spent_pico, 5_000_000, "calendar month");
    assert_eq!(usage.budgets[1].spent_pico, 45_000_000, "rolling 30 days");
    assert_eq!(usage.rate_limits[0].requests, 2);
    drop(g.admit(Some(alice(&g)), "p", "m", 0, 0).unwrap());
    assert!(matches!(
        g.admit(Some(alice(&g)), "p", "m", 0, 0),
        Err(Rejection::RateLimited { .. })
    ));
}

#[test]
fn old_rows_roll_up_without_changing_totals() {
    let dir = TempDir::new();
    let mut store = Store::open(&dir.ledger()).unwrap();
    let key = EntityId::of(Level::Key, "alice");
    let now = utc(2027, 6, 1, 0, 0, 0);
    let mut batch = Batch::default();
    let mut add = |at: u64, cost| {
        batch.spend.insert(
            (key, at / MINUTE_MS * MINUTE_MS),
            RowSums {
                cost_pico: cost,
                tokens: 1,
                requests: 1,
                tool_calls: 2,
            },
        );
    };
    add(now - 3 * DAY_MS, 10); // rolled into an hour row
    add(now - 3 * DAY_MS + 60_000, 20); // same hour
    add(now - 150 * DAY_MS, 30); // into a day row
    add(now - 500 * DAY_MS, 40); // dropped
    add(now - 60_000, 50); // stays a minute row
    store.commit(&batch).unwrap();
    store.compact(now).unwrap();
    store.compact(now).unwrap();
    let snapshot = store.snapshot(now).unwrap();
    assert_eq!(totals(&snapshot, key), (110, 4, 4));
    let tool_calls: u64 = snapshot.spend.iter().map(|r| r.tool_calls).sum();
    assert_eq!(tool_calls, 8, "tool calls roll up with the rest");
    let mut lengths: Vec<u64> = snapshot.spend.iter().map(|r| r.len_ms).collect();
    lengths.sort_unstable();
    assert_eq!(lengths, vec![MINUTE_MS, HOUR_MS, DAY_MS]);
}

#[test]
fn a_ledger_from_before_mcp_tools_gains_the_column_and_keeps_its_keys() {
    let dir = TempDir::new();
    {
        let conn = dir.legacy_ledger(
            "CREATE TABLE keys (
                 id TEXT PRIMARY KEY, hash BLOB NOT NULL UNIQUE, team TEXT NOT NULL,
                 customer TEXT, budgets TEXT NOT NULL, rate_limits TEXT NOT NULL,
                 models TEXT NOT NULL, expires_at INTEGER, created_at_ms INTEGER NOT NULL);",
        );
        conn.execute(
            "INSERT INTO keys VALUES ('old', ?1, 'platform', NULL, '', '5:-:60000', '[]', NULL, 1)",
            [&[7u8; 32][..]],
        )
        .unwrap();
    }
    let snapshot = load_snapshot(&dir.ledger(), T0).unwrap();
    assert_eq!(snapshot.keys.len(), 1);
    assert_eq!(snapshot.keys[0].id, "old");
    assert_eq!(snapshot.keys[0].mcp_tools, None);
    assert_eq!(snapshot.keys[0].rate_limits[0].requests, Some(5));
    // Opened again (the column now exists): still readable.
    assert_eq!(load_snapshot(&dir.ledger(), T0).unwrap().keys.len(), 1);
}

#[test]
fn the_backend_outbox_keeps_entries_until_done_and_survives_a_restart() {
    let dir = TempDir::new();
    let (handle, thread) = Ledger::start(&dir.ledger(), Duration::from_millis(20)).unwrap();
    // Entries 1 and 2 are committed; 3 and 4 wait in the batch.
    handle.outbox_put(1, "one".into());
    handle.outbox_put(2, "two".into());
    handle.flush().unwrap();
    handle.outbox_put(3, "three".into());
    handle.outbox_put(4, "four".into());
    // Redis has everything up to 3: 1 and 2 are deleted, 3 is dropped (or deleted).
    handle.outbox_done(3);
    handle.flush_and_stop().unwrap();
    thread.join().unwrap().unwrap();
    let snapshot = load_snapshot(&dir.ledger(), T0).unwrap();
    assert_eq!(snapshot.outbox, vec![(4, "four".to_owned())]);
    // Reopened (a restart), the entry is still there until done.
    let (handle, thread) = Ledger::start(&dir.ledger(), Duration::from_millis(20)).unwrap();
    handle.outbox_done(4);
    handle.flush_and_stop().unwrap();
    thread.join().unwrap().unwrap();
    assert!(load_snapshot(&dir.ledger(), T0).unwrap().outbox.is_empty());
}

#[test]
fn tool_calls_survive_a_restart_in_their_window() {
    let dir = TempDir::new();
    let limits = "rate_limits = [{ tool_calls = 3, window = \"1h\" }]";
    let clock = Rc::new(ManualClock::new(T0));
    {
        let (handle, thread) = Ledger::start(&dir.ledger(), DEFAULT_COMMIT_INTERVAL).unwrap();
        let g = shard(&config("soft", &hierarchy("", "", limits)), 0, 1, &clock);
        for _ in 0..3 {
            g.admit_tool_call("alice").unwrap();
        }
        g.drain_outbound(|o| {
            if o.ledger {
                assert!(handle.record(o.msg));
            }
        });
        handle.flush_and_stop().unwrap();
        thread.join().unwrap().unwrap();
    }
    // Restarted ten minutes later: the three calls are still in the hour.
    clock.advance(600_000);
    let snapshot = load_snapshot(&dir.ledger(), T0 + 600_000).unwrap();
    let key = EntityId::of(Level::Key, "alice");
    let on_key: u64 = (snapshot.spend.iter())
        .filter(|r| r.entity == key)
        .map(|r| r.tool_calls)
        .sum();
    assert_eq!(on_key, 3, "one count per call");
    let restarted = |now| {
        let clock: Rc<dyn Clock> = Rc::new(ManualClock::new(now));
        Governor::new(
            &config("soft", &hierarchy("", "", limits)),
            0,
            1,
            clock,
            &snapshot,
        )
        .unwrap()
        .0
    };
    assert!(matches!(
        restarted(T0 + 600_000).admit_tool_call("alice"),
        Err(Rejection::RateLimited {
            kind: RateKind::ToolCalls,
            ..
        })
    ));
    // Once the hour has passed, the window is free again.
    restarted(T0 + 3_600_000 + 60_000)
        .admit_tool_call("alice")
        .unwrap();
}

#[test]
fn a_ledger_from_before_tool_calls_gains_the_column_and_keeps_its_spend() {
    let dir = TempDir::new();
    {
        let conn = dir.legacy_ledger(
            "CREATE TABLE spend (
                 res_ms INTEGER NOT NULL, entity INTEGER NOT NULL, start_ms INTEGER NOT NULL,
                 cost_pico INTEGER NOT NULL, tokens INTEGER NOT NULL, requests INTEGER NOT NULL,
                 PRIMARY KEY (res_ms, entity, start_ms)) WITHOUT ROWID;",
        );
        conn.execute(
            "INSERT INTO spend VALUES (?1, 42, ?2, 5, 6, 7)",
            [MINUTE_MS as i64, (T0 / MINUTE_MS * MINUTE_MS) as i64],
        )
        .unwrap();
    }
    let snapshot = load_snapshot(&dir.ledger(), T0).unwrap();
    assert_eq!(snapshot.spend.len(), 1);
    let row = snapshot.spend[0];
    assert_eq!((row.cost_pico, row.tokens, row.requests), (5, 6, 7));
    assert_eq!(row.tool_calls, 0);
}
