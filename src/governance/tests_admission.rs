//! Tests of admission and settlement on one shard: each rejection with its fields, budgets on
//! every level in both modes, strict reservations under interleaving, soft overshoot, guards
//! released on every path, prices, and the limit headers.

use std::rc::Rc;

use super::tests_support::*;
use super::*;
use crate::config::ResetPeriod;
use crate::governance::Usage;

const T0: u64 = 1_800_000_000_000;

fn setup(
    mode: &str,
    customer: &str,
    team: &str,
    key: &str,
    extra: &str,
) -> (Rc<ManualClock>, Rc<Governor>) {
    let clock = Rc::new(ManualClock::new(T0));
    let config = config(mode, &format!("{}{extra}", hierarchy(customer, team, key)));
    (clock.clone(), shard(&config, 0, 1, &clock))
}

fn admit(g: &Rc<Governor>, input: u64, max_tokens: u64) -> Result<Reservation, Rejection> {
    g.admit(Some(alice(g)), "p", "m", input, max_tokens)
}

const TEN_MICRO_DAILY: &str = "budgets = [{ max_usd = 0.00001, reset = \"1d\" }]";

#[test]
fn models_outside_an_allow_list_are_refused_naming_the_model() {
    let (_, g) = setup(
        "soft",
        "",
        "models = [\"p/m*\", \"q/*\"]",
        "models = [\"p/m\", \"p/m2\"]",
        "",
    );
    assert!(admit(&g, 0, 0).is_ok());
    let refused = g.admit(Some(alice(&g)), "p", "other", 0, 0).err().unwrap();
    assert_eq!(
        refused,
        Rejection::ModelNotAllowed {
            level: Level::Key,
            entity: "alice".into(),
            model: "p/other".into()
        }
    );
    assert_eq!(
        (refused.status(), refused.error_type()),
        (403, "permission_error")
    );
    assert!(refused.message().contains("p/other"));
    // The key allows p/m2; the team does not (its globs are p/m* and q/*: p/m2 matches p/m*).
    let (_, g) = setup("soft", "", "models = [\"q/*\"]", "", "");
    let refused = g.admit(Some(alice(&g)), "p", "m", 0, 0).err().unwrap();
    assert_eq!(
        refused,
        Rejection::ModelNotAllowed {
            level: Level::Team,
            entity: "platform".into(),
            model: "p/m".into()
        }
    );
}

#[test]
fn request_limits_answer_429_with_retry_after_on_each_level() {
    let limit = "rate_limits = [{ requests = 2, window = \"1m\" }]";
    for (level, name, customer, team, key) in [
        (Level::Key, "alice", "", "", limit),
        (Level::Team, "platform", "", limit, ""),
        (Level::Customer, "acme", limit, "", ""),
    ] {
        let (clock, g) = setup("soft", customer, team, key, "");
        admit(&g, 0, 0).unwrap().settle(&usage(1, 1));
        clock.advance(10_000);
        drop(admit(&g, 0, 0).unwrap());
        let refused = admit(&g, 0, 0).err().unwrap();
        match &refused {
            Rejection::RateLimited {
                level: l,
                entity,
                kind: RateKind::Requests,
                limit: 2,
                window_secs: 60,
                retry_after_secs,
            } => {
                assert_eq!((*l, entity.as_str()), (level, name));
                // The first request leaves the window about 50 s from now.
                assert!((50..=52).contains(retry_after_secs), "{retry_after_secs}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            (refused.status(), refused.error_type(), refused.reason()),
            (429, "rate_limit_error", "rate_limit_requests")
        );
        clock.advance(52_000);
        assert!(
            admit(&g, 0, 0).is_ok(),
            "{name}: free again after the window"
        );
    }
}

#[test]
fn token_limits_count_input_cache_writes_and_output() {
    let (clock, g) = setup(
        "soft",
        "",
        "",
        "rate_limits = [{ tokens = 100, window = \"1h\" }]",
        "",
    );
    let used = Usage {
        input_tokens: 40,
        output_tokens: 30,
        cache_creation_input_tokens: 30,
        cache_read_input_tokens: 1_000,
    };
    admit(&g, 0, 0).unwrap().settle(&used);
    let refused = admit(&g, 0, 0).err().unwrap();
    assert!(
        matches!(
            refused,
            Rejection::RateLimited {
                kind: RateKind::Tokens,
                limit: 100,
                window_secs: 3_600,
                ..
            }
        ),
        "{refused:?}"
    );
    assert_eq!(refused.retry_after_secs(), Some(3_600 + 60));
    clock.advance(3_600_000 + 60_000);
    assert!(admit(&g, 0, 0).is_ok());
}

#[test]
fn budgets_answer_402_naming_the_level_and_the_reset_on_every_level() {
    let provider_budget = "\n[[providers]]\nname = \"q\"\nkind = \"anthropic\"\nkeys = [{ secret = \"u\" }]\nbudgets = [{ max_usd = 0.00001, reset = \"1d\", calendar_aligned = true }]\n[[pricing]]\nmodel = \"q/*\"\ninput = 1.0\noutput = 2.0\n";
    for mode in ["soft", "strict"] {
        for (level, name, customer, team, key, provider) in [
            (Level::Key, "alice", "", "", TEN_MICRO_DAILY, "p"),
            (Level::Team, "platform", "", TEN_MICRO_DAILY, "", "p"),
            (Level::Customer, "acme", TEN_MICRO_DAILY, "", "", "p"),
            (Level::Provider, "q", "", "", "", "q"),
        ] {
            let (_, g) = setup(mode, customer, team, key, provider_budget);
            let key = alice(&g);
            g.admit(Some(key), provider, "m", 0, 0)
                .unwrap()
                .settle(&usage(10, 0));
            let refused = g.admit(Some(key), provider, "m", 0, 0).err().unwrap();
            match &refused {
                Rejection::BudgetExceeded {
                    level: l,
                    entity,
                    max_micro_usd: 10,
                    reset: ResetPeriod::Day,
                    resets_at_unix_secs,
                    ..
                } => {
                    assert_eq!((*l, entity.as_str()), (level, name), "{mode}");
                    assert!(*resets_at_unix_secs * 1_000 > T0, "{mode} {name}");
                }
                other => panic!("{mode} {name}: {other:?}"),
            }
            assert_eq!(
                (refused.status(), refused.error_type()),
                (402, "billing_error")
            );
            assert!(
                refused.message().contains(name) && refused.message().contains("resets at"),
                "{}",
                refused.message()
            );
        }
    }
}

#[test]
fn strict_reserves_the_worst_case_and_soft_reserves_nothing() {
    // 10 micro-dollars: 5 output tokens (2 each) fit exactly; input is reserved at the dearer
    // of input and cache-write (1.5), so one more input token does not fit.
    let (_, strict) = setup("strict", "", "", TEN_MICRO_DAILY, "");
    let held = admit(&strict, 0, 5).unwrap();
    assert_eq!(held.reserved_pico(), 10_000_000);
    assert!(
        matches!(admit(&strict, 1, 0), Err(Rejection::BudgetExceeded { .. })),
        "the cap is fully reserved"
    );
    drop(held);
    assert!(
        matches!(admit(&strict, 1, 5), Err(Rejection::BudgetExceeded { .. })),
        "11.5 micro never fits"
    );
    assert!(
        admit(&strict, 0, 5).is_ok(),
        "a dropped guard released its reservation"
    );
    let (_, soft) = setup("soft", "", "", TEN_MICRO_DAILY, "");
    let held = admit(&soft, 1_000, 1_000).unwrap();
    assert_eq!(held.reserved_pico(), 0);
    assert!(admit(&soft, 1_000, 1_000).is_ok());
}

/// A deterministic xorshift generator for interleavings.
pub struct Rng(pub u64);

impl Rng {
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn strict_mode_never_lets_settled_spend_cross_the_cap_under_interleaving() {
    // A 100 micro-dollar budget on every level; each request reserves 4×1.5 + 3×2 = 12 and
    // costs at most 4 + 3×2 = 10 (input at the plain rate).
    let tiny = "budgets = [{ max_usd = 0.0001, reset = \"1h\" }]";
    let (clock, g) = setup("strict", tiny, tiny, tiny, "");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut open = Vec::new();
    let (mut settled_micro, mut admitted, mut refused) = (0u64, 0, 0);
    for _ in 0..200 {
        match admit(&g, 4, 3) {
            Ok(held) => {
                admitted += 1;
                open.push(held);
            }
            Err(Rejection::BudgetExceeded { .. }) => refused += 1,
            Err(other) => panic!("{other:?}"),
        }
        // Settle a random number of the requests in flight, at up to their worst case.
        for _ in 0..rng.below(3) {
            if open.is_empty() {
                break;
            }
            let index = rng.below(open.len() as u64) as usize;
            let held = open.swap_remove(index);
            let (input, output) = (rng.below(5), rng.below(4));
            settled_micro += input + 2 * output;
            held.settle(&usage(input, output));
            assert!(settled_micro <= 100, "settled {settled_micro} over the cap");
        }
        clock.advance(1);
    }
    for held in open.drain(..) {
        settled_micro += 10;
        held.settle(&usage(4, 3));
    }
    assert!(settled_micro <= 100, "settled {settled_micro} over the cap");
    assert!(
        admitted >= 10 && refused > 0,
        "admitted {admitted}, refused {refused}"
    );
    let spent = g.usage(Level::Customer, "acme").unwrap().budgets[0].spent_pico;
    assert_eq!(spent, settled_micro * 1_000_000);
}

#[test]
fn soft_mode_overshoot_is_bounded_by_what_was_in_flight() {
    // 100 micro-dollars; each request costs 30; at most 5 are in flight at once.
    let (_, g) = setup(
        "soft",
        "",
        "",
        "budgets = [{ max_usd = 0.0001, reset = \"1h\" }]",
        "",
    );
    let mut open = std::collections::VecDeque::new();
    let mut settled = 0u64;
    for _ in 0..50 {
        if open.len() == 5 {
            let held: Reservation = open.pop_front().unwrap();
            held.settle(&usage(30, 0));
            settled += 30;
        }
        if let Ok(held) = admit(&g, 0, 0) {
            open.push_back(held);
        }
    }
    let in_flight = open.len() as u64;
    while let Some(held) = open.pop_front() {
        held.settle(&usage(30, 0));
        settled += 30;
    }
    assert!(settled > 100, "soft mode does overshoot ({settled})");
    // Admission stopped once 100 was reached: only the requests in flight then added to it.
    assert!(
        settled < 100 + 5 * 30,
        "overshoot {settled} beyond what was in flight ({in_flight})"
    );
    assert!(matches!(
        admit(&g, 0, 0),
        Err(Rejection::BudgetExceeded { .. })
    ));
}

#[test]
fn partial_and_dropped_settlements_charge_what_was_seen() {
    let (_, g) = setup(
        "strict",
        "",
        "",
        "rate_limits = [{ requests = 100, tokens = 1000, window = \"1m\" }]",
        "",
    );
    let settled = admit(&g, 10, 10).unwrap().settle_partial(&usage(5, 2));
    assert_eq!(settled.cost_pico, Some(9_000_000));
    assert!(!settled.complete);
    assert_eq!(
        settled.delta.entity(Level::Key),
        Some(EntityId::of(Level::Key, "alice"))
    );
    drop(admit(&g, 10, 10).unwrap());
    let usage = g.usage(Level::Key, "alice").unwrap();
    assert_eq!(
        (
            usage.rate_limits[0].requests,
            usage.rate_limits[0].tokens,
            usage.in_flight
        ),
        (2, 7, 0)
    );
    let mut deltas = 0;
    g.drain_outbound(|o| {
        assert!(o.ledger && o.route == Route::Others);
        deltas += usize::from(matches!(o.msg, GovMsg::Spend(_)));
    });
    assert_eq!(deltas, 2, "a dropped guard still reports its request");
}

#[test]
fn limit_headers_report_the_tightest_level() {
    let (_, g) = setup(
        "strict",
        "budgets = [{ max_usd = 0.0001, reset = \"1M\", calendar_aligned = true }]",
        "rate_limits = [{ requests = 10, tokens = 500, window = \"1m\" }]",
        "budgets = [{ max_usd = 1.0, reset = \"1d\" }]\nrate_limits = [{ requests = 3, window = \"1m\" }]",
        "",
    );
    admit(&g, 0, 0).unwrap().settle(&usage(40, 5));
    let held = admit(&g, 2, 2).unwrap();
    let headers = g.limit_headers(alice(&g));
    let requests = headers.requests.unwrap();
    assert_eq!((requests.limit, requests.remaining), (3, 1));
    let tokens = headers.tokens.unwrap();
    assert_eq!((tokens.limit, tokens.remaining), (500, 455));
    let budget = headers.budget.unwrap();
    assert_eq!(budget.level, Level::Customer);
    assert_eq!(
        budget.remaining_pico,
        (100 - 50 - 7) * 1_000_000,
        "2 input at the cache-write rate, 2 output"
    );
    let mut out = Vec::new();
    headers.write_to(&mut out);
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("x-sluice-ratelimit-requests-remaining: 1\r\n"),
        "{text}"
    );
    assert!(
        text.contains("x-sluice-budget-remaining-usd: 0.000043\r\n"),
        "{text}"
    );
    assert!(
        text.contains("x-sluice-budget-level: customer\r\n"),
        "{text}"
    );
    assert!(
        text.contains("x-sluice-budget-reset: 2027-02-01T00:00:00Z\r\n"),
        "{text}"
    );
    drop(held);
}

#[test]
fn model_memos_stay_bounded_and_correct() {
    let (_, g) = setup("soft", "", "", "models = [\"p/m\"]", "");
    for i in 0..=super::state::MAX_MODEL_MEMO {
        let model = format!("m{i}");
        // Without a key nothing is governed: unpriced models pass and fill the memo.
        drop(g.admit(None, "p", &model, 0, 0).unwrap());
    }
    assert!(g.state.borrow().models.len() <= super::state::MAX_MODEL_MEMO);
    for i in 0..=super::registry::MAX_ALLOW_MEMO {
        let refused = g.admit(Some(alice(&g)), "p", &format!("x{i}"), 0, 0).err();
        assert!(matches!(refused, Some(Rejection::ModelNotAllowed { .. })));
    }
    let slot = g.state.borrow().registry.slot(Level::Key, "alice").unwrap();
    assert!(
        g.state
            .borrow()
            .registry
            .get(slot)
            .unwrap()
            .allow_memo
            .len()
            <= super::registry::MAX_ALLOW_MEMO
    );
    assert!(
        admit(&g, 0, 0).is_ok(),
        "still allowed after the memo started over"
    );
    assert!(g.admit(Some(alice(&g)), "p", "x1", 0, 0).is_err());
}
