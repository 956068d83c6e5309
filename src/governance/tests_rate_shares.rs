//! Tests of strict rate limits across shards: request and token counts are shared out like a
//! budget's cap, so the shards together never admit past a limit whatever the message timing,
//! a shard short of share says busy and asks, and share is conserved as it moves.

use std::collections::VecDeque;
use std::rc::Rc;

use super::tests_admission::Rng;
use super::tests_support::*;
use super::*;

const T0: u64 = 1_800_000_000_000;

fn shards(n: usize, key: &str) -> (Rc<ManualClock>, Vec<Rc<Governor>>) {
    let clock = Rc::new(ManualClock::new(T0));
    let config = config("strict", &hierarchy("", "", key));
    let all = (0..n).map(|i| shard(&config, i, n, &clock)).collect();
    (clock, all)
}

fn admit(g: &Rc<Governor>, input: u64, max_tokens: u64) -> Result<Reservation, Rejection> {
    g.admit(Some(alice(g)), "p", "m", input, max_tokens)
}

/// (request shares, token shares) summed over the shards.
fn shares(all: &[Rc<Governor>]) -> (u64, u64) {
    let id = EntityId::of(Level::Key, "alice");
    all.iter()
        .map(|g| {
            let state = g.state.borrow();
            let slot = state.registry.by_id[&id];
            let limit = &state.registry.get(slot).unwrap().limits[0];
            (limit.request_share, limit.token_share)
        })
        .fold((0, 0), |(r, t), (a, b)| (r + a, t + b))
}

#[test]
fn a_shard_short_of_request_share_is_busy_until_another_grants_some() {
    let (_, all) = shards(2, "rate_limits = [{ requests = 4, window = \"1m\" }]");
    let refs: Vec<&Rc<Governor>> = all.iter().collect();
    drop(admit(&all[0], 0, 0).unwrap());
    drop(admit(&all[0], 0, 0).unwrap());
    match admit(&all[0], 0, 0) {
        Err(Rejection::BudgetBusy {
            limit: BusyLimit::Requests,
            retry_after_secs: 1,
            ..
        }) => {}
        other => panic!("expected busy, got {:?}", other.map(|_| ())),
    }
    deliver(&all[0], &refs); // the ask
    deliver(&all[1], &refs); // the grant
    assert_eq!(shares(&all).0, 4, "share is conserved");
    drop(admit(&all[0], 0, 0).unwrap());
    drop(admit(&all[0], 0, 0).unwrap());
    // All 4 are used: shard 1 has nothing left to give, and the limit holds.
    assert!(admit(&all[0], 0, 0).is_err());
    assert!(admit(&all[1], 0, 0).is_err());
    deliver(&all[0], &refs);
    deliver(&all[1], &refs);
    assert!(admit(&all[1], 0, 0).is_err());
}

#[test]
fn a_token_limit_reserves_the_bound_and_settles_the_usage() {
    let (_, all) = shards(1, "rate_limits = [{ tokens = 1000, window = \"1m\" }]");
    // Input bound 300 + output cap 100: 400 tokens held each.
    let first = admit(&all[0], 300, 100).unwrap();
    let second = admit(&all[0], 300, 100).unwrap();
    assert_eq!(first.reserved_tokens(), 400);
    match admit(&all[0], 300, 100) {
        Err(Rejection::RateLimited {
            kind: RateKind::Tokens,
            ..
        }) => {}
        other => panic!("expected a token limit, got {:?}", other.map(|_| ())),
    }
    // Settled at 50 tokens: the 350 left unused come back.
    first.settle(&usage(40, 10));
    let third = admit(&all[0], 300, 100).unwrap();
    // 50 settled + 800 held: 150 more fit exactly, 151 do not.
    assert!(admit(&all[0], 0, 151).is_err());
    let fourth = admit(&all[0], 0, 150).unwrap();
    drop((second, third, fourth));
}

/// Random admissions, settlements (never above the reservation) and late message delivery
/// across `n` shards: admissions in the window never pass `requests`, and settled plus held
/// tokens never pass `tokens`.
fn never_past_the_limit(n: usize, seed: u64) {
    let (_, all) = shards(
        n,
        "rate_limits = [{ requests = 40, tokens = 5000, window = \"1h\" }]",
    );
    let refs: Vec<&Rc<Governor>> = all.iter().collect();
    let mut rng = Rng(seed);
    let mut open: Vec<Vec<Reservation>> = (0..n).map(|_| Vec::new()).collect();
    let mut queued: Vec<VecDeque<Outbound>> = (0..n).map(|_| VecDeque::new()).collect();
    let (mut admitted, mut settled_tokens) = (0u64, 0u64);
    for _ in 0..4_000 {
        let s = rng.below(n as u64) as usize;
        match rng.below(4) {
            0 | 1 => match admit(&all[s], rng.below(200), 1 + rng.below(100)) {
                Ok(held) => {
                    admitted += 1;
                    open[s].push(held);
                }
                Err(Rejection::BudgetBusy { .. } | Rejection::RateLimited { .. }) => {}
                Err(other) => panic!("{other:?}"),
            },
            2 => {
                if !open[s].is_empty() {
                    let index = rng.below(open[s].len() as u64) as usize;
                    let held = open[s].swap_remove(index);
                    let used = rng.below(held.reserved_tokens() + 1);
                    settled_tokens += used;
                    held.settle(&usage(used, 0));
                }
            }
            _ => {
                for target in 0..n {
                    all[target].drain_outbound(|o| queued[target].push_back(o));
                }
                for _ in 0..rng.below(4) {
                    if let Some(o) = queued[s].pop_front() {
                        for target in &refs {
                            let chosen = match o.route {
                                Route::Others => target.shard() != s,
                                Route::Shard(index) => target.shard() == index as usize,
                            };
                            if chosen {
                                target.apply(&o.msg);
                            }
                        }
                    }
                }
            }
        }
        let held: u64 = open.iter().flatten().map(|r| r.reserved_tokens()).sum();
        assert!(admitted <= 40, "{admitted} admitted past a limit of 40");
        assert!(
            settled_tokens + held <= 5_000,
            "{settled_tokens} settled + {held} held past 5000"
        );
    }
    assert!(
        admitted >= 20,
        "the shards did share the limit ({admitted})"
    );
}

#[test]
fn strict_shards_never_pass_a_rate_limit_whatever_the_message_timing() {
    for (n, seed) in [
        (2, 0x2545_f491_4f6c_dd1d),
        (3, 0x9e37_79b9_7f4a_7c15),
        (4, 7),
    ] {
        never_past_the_limit(n, seed);
    }
}

#[test]
fn a_reload_that_changes_a_limit_rescales_each_shards_share() {
    let (_, all) = shards(
        2,
        "rate_limits = [{ requests = 10, tokens = 100, window = \"1m\" }]",
    );
    let changed = config(
        "strict",
        &hierarchy(
            "",
            "",
            "rate_limits = [{ requests = 20, tokens = 50, window = \"1m\" }]",
        ),
    );
    for g in &all {
        g.reload(&changed).unwrap();
    }
    assert_eq!(shares(&all), (20, 50));
}
