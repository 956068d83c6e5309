//! Tests across shards: deltas make every shard's admission see a settlement once applied;
//! strict shares keep the shards together under a cap whatever the message timing; key
//! changes, revocations and budget resets reach every shard; reload keeps spend.

use std::collections::VecDeque;
use std::rc::Rc;

use super::tests_admission::Rng;
use super::tests_support::*;
use super::*;

const T0: u64 = 1_800_000_000_000;

fn shards(mode: &str, n: usize, key: &str) -> (Rc<ManualClock>, Vec<Rc<Governor>>) {
    let clock = Rc::new(ManualClock::new(T0));
    let config = config(mode, &hierarchy("", "", key));
    let all = (0..n).map(|i| shard(&config, i, n, &clock)).collect();
    (clock, all)
}

fn admit(g: &Rc<Governor>, input: u64, max_tokens: u64) -> Result<Reservation, Rejection> {
    g.admit(Some(alice(g)), "p", "m", input, max_tokens)
}

fn shares(all: &[Rc<Governor>], level: Level, name: &str) -> u64 {
    let id = EntityId::of(level, name);
    all.iter()
        .map(|g| {
            let state = g.state.borrow();
            let slot = state.registry.by_id[&id];
            state.registry.get(slot).unwrap().budgets[0].share_pico
        })
        .sum()
}

#[test]
fn once_a_delta_is_applied_the_other_shard_sees_the_settlement() {
    for mode in ["soft", "strict"] {
        let (_, all) = shards(mode, 2, "budgets = [{ max_usd = 0.0001, reset = \"1d\" }]");
        let refs: Vec<&Rc<Governor>> = all.iter().collect();
        admit(&all[0], 0, 5).unwrap().settle(&usage(100, 0));
        assert!(admit(&all[1], 0, 1).is_ok(), "{mode}: not applied yet");
        let ledger = deliver(&all[0], &refs);
        assert_eq!(ledger.len(), 1, "the settlement also goes to the ledger");
        let spent = all[1].usage(Level::Key, "alice").unwrap().budgets[0].spent_pico;
        assert_eq!(spent, 100_000_000, "{mode}");
        assert!(
            matches!(
                admit(&all[1], 0, 1),
                Err(Rejection::BudgetExceeded {
                    level: Level::Key,
                    ..
                })
            ),
            "{mode}: shard 1 sees shard 0's spend"
        );
    }
}

#[test]
fn request_counts_cross_shards_with_their_admission_time() {
    let (clock, all) = shards(
        "soft",
        2,
        "rate_limits = [{ requests = 2, window = \"1m\" }]",
    );
    let refs: Vec<&Rc<Governor>> = all.iter().collect();
    drop(admit(&all[0], 0, 0).unwrap());
    drop(admit(&all[0], 0, 0).unwrap());
    assert!(admit(&all[0], 0, 0).is_err());
    clock.advance(30_000);
    deliver(&all[0], &refs);
    let refused = admit(&all[1], 0, 0).err().unwrap();
    // Counted when shard 0 admitted them, 30 s ago: about 30 s left.
    assert!(
        matches!(
            refused,
            Rejection::RateLimited {
                retry_after_secs: 30..=32,
                ..
            }
        ),
        "{refused:?}"
    );
}

#[test]
fn strict_shares_move_to_the_shard_that_needs_them() {
    // 100 micro-dollars over 2 shards: 50 each; a request's worst case is 20.
    let (_, all) = shards(
        "strict",
        2,
        "budgets = [{ max_usd = 0.0001, reset = \"1d\" }]",
    );
    let refs: Vec<&Rc<Governor>> = all.iter().collect();
    let first = admit(&all[0], 0, 10).unwrap();
    let second = admit(&all[0], 0, 10).unwrap();
    match admit(&all[0], 0, 10) {
        Err(Rejection::BudgetBusy {
            level: Level::Key,
            retry_after_secs: 1,
            ..
        }) => {}
        other => panic!("expected busy, got {:?}", other.map(|_| ())),
    }
    assert_eq!(shares(&all, Level::Key, "alice"), 100_000_000);
    deliver(&all[0], &refs); // the request for share
    deliver(&all[1], &refs); // the grant
    assert_eq!(
        shares(&all, Level::Key, "alice"),
        100_000_000,
        "share is conserved"
    );
    let third = admit(&all[0], 0, 10).unwrap();
    drop((first, second, third));
}

#[test]
fn strict_shards_never_cross_a_cap_whatever_the_message_timing() {
    let (clock, all) = shards(
        "strict",
        3,
        "budgets = [{ max_usd = 0.0002, reset = \"1h\" }]",
    );
    let refs: Vec<&Rc<Governor>> = all.iter().collect();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut open: Vec<Vec<Reservation>> = vec![Vec::new(), Vec::new(), Vec::new()];
    let mut queued: Vec<VecDeque<Outbound>> =
        vec![VecDeque::new(), VecDeque::new(), VecDeque::new()];
    let (mut settled_micro, mut admitted) = (0u64, 0);
    for _ in 0..3_000 {
        let s = rng.below(3) as usize;
        match rng.below(4) {
            0 | 1 => {
                let output = 1 + rng.below(10);
                match admit(&all[s], 0, output) {
                    Ok(held) => {
                        admitted += 1;
                        open[s].push(held);
                    }
                    Err(Rejection::BudgetBusy { .. } | Rejection::BudgetExceeded { .. }) => {}
                    Err(other) => panic!("{other:?}"),
                }
            }
            2 => {
                if !open[s].is_empty() {
                    let index = rng.below(open[s].len() as u64) as usize;
                    let held = open[s].swap_remove(index);
                    let most = held.reserved_pico() / 2_000_000;
                    let output = rng.below(most + 1);
                    settled_micro += 2 * output;
                    held.settle(&usage(0, output));
                }
            }
            _ => {
                // Deliver one shard's oldest queued messages (FIFO per shard), late.
                for target in 0..3 {
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
        assert!(
            settled_micro <= 200,
            "settled {settled_micro} over the cap of 200"
        );
        clock.advance(rng.below(3));
    }
    assert!(
        admitted > 20,
        "the shards did share the cap ({admitted} admitted)"
    );
}

#[test]
fn created_and_revoked_keys_and_budget_resets_reach_every_shard() {
    let (_, all) = shards(
        "soft",
        2,
        "budgets = [{ max_usd = 0.00001, reset = \"1d\" }]",
    );
    let refs: Vec<&Rc<Governor>> = all.iter().collect();
    let created = all[0]
        .create_key(NewKey {
            id: "dave".into(),
            team: "platform".into(),
            customer: None,
            budgets: Vec::new(),
            rate_limits: Vec::new(),
            models: Vec::new(),
            mcp_tools: None,
            expires_at_unix_secs: None,
        })
        .unwrap();
    let secret = created.secret.as_bytes();
    assert_eq!(
        all[1].authenticate(Some(secret), None),
        Err(Rejection::Unauthenticated(AuthFailure::Unknown))
    );
    let ledger = deliver(&all[0], &refs);
    assert!(
        matches!(&ledger[..], [GovMsg::KeyUpsert(record)] if record.id == "dave" && record.customer.as_deref() == Some("acme"))
    );
    let dave = all[1].authenticate(Some(secret), None).unwrap().unwrap();
    assert!(all[1].admit(Some(dave), "p", "m", 0, 0).is_ok());

    all[0].revoke_key("dave").unwrap();
    deliver(&all[0], &refs);
    assert_eq!(
        all[1].authenticate(Some(secret), None),
        Err(Rejection::Unauthenticated(AuthFailure::Revoked))
    );
    assert_eq!(
        all[1].admit(Some(dave), "p", "m", 0, 0).err(),
        Some(Rejection::Unauthenticated(AuthFailure::Revoked))
    );

    admit(&all[1], 0, 0).unwrap().settle(&usage(10, 0));
    deliver(&all[1], &refs);
    assert!(admit(&all[0], 0, 0).is_err());
    all[0].reset_budget(Level::Key, "alice", None).unwrap();
    deliver(&all[0], &refs);
    assert!(
        admit(&all[0], 0, 0).is_ok() && admit(&all[1], 0, 0).is_ok(),
        "reset everywhere"
    );
}

#[test]
fn reload_keeps_spend_requests_and_reservations() {
    let clock = Rc::new(ManualClock::new(T0));
    let before = config(
        "strict",
        &hierarchy(
            "",
            "",
            "budgets = [{ max_usd = 0.0001, reset = \"1d\" }]\nrate_limits = [{ requests = 5, window = \"1h\" }]",
        ),
    );
    let g = shard(&before, 0, 1, &clock);
    let key = alice(&g);
    g.admit(Some(key), "p", "m", 0, 0)
        .unwrap()
        .settle(&usage(30, 0));
    let held = g.admit(Some(key), "p", "m", 0, 10).unwrap();
    // The cap doubles; the key's limit changes; a new key appears.
    let after = config(
        "strict",
        &format!(
            "{}[[virtual_keys]]\nid = \"erin\"\nsecret = \"sk-erin\"\nteam = \"platform\"\n",
            hierarchy(
                "",
                "",
                "budgets = [{ max_usd = 0.0002, reset = \"1d\" }]\nrate_limits = [{ requests = 3, window = \"1h\" }]"
            )
        ),
    );
    g.reload(&after).unwrap();
    let usage_now = g.usage(Level::Key, "alice").unwrap();
    assert_eq!(usage_now.budgets[0].spent_pico, 30_000_000);
    assert_eq!(usage_now.budgets[0].reserved_pico, 20_000_000);
    assert_eq!(usage_now.rate_limits[0].requests, 2);
    assert!(g.authenticate(Some(b"sk-erin"), None).unwrap().is_some());
    // The old KeyRef still works after the rebuild; the reservation settles into the new table.
    held.settle(&usage(0, 10));
    assert_eq!(
        g.usage(Level::Key, "alice").unwrap().budgets[0].spent_pico,
        50_000_000
    );
    g.admit(Some(key), "p", "m", 0, 0)
        .unwrap()
        .settle(&usage(0, 0));
    assert!(matches!(
        g.admit(Some(key), "p", "m", 0, 0),
        Err(Rejection::RateLimited { limit: 3, .. })
    ));
}
