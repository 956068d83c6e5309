//! Tests of `tool_calls` rate limits: counted apart from requests on the key, team and
//! customer levels, at the limit and one past it, and exact across strict shards whatever the
//! message timing.

use std::collections::VecDeque;
use std::rc::Rc;

use super::tests_admission::Rng;
use super::tests_support::*;
use super::*;

const T0: u64 = 1_800_000_000_000;

fn shards(n: usize, mode: &str, customer: &str, key: &str) -> (Rc<ManualClock>, Vec<Rc<Governor>>) {
    let clock = Rc::new(ManualClock::new(T0));
    let config = config(mode, &hierarchy(customer, "", key));
    let all = (0..n).map(|i| shard(&config, i, n, &clock)).collect();
    (clock, all)
}

#[test]
fn a_key_limit_admits_exactly_its_count_and_refuses_one_past_it() {
    let (clock, all) = shards(
        1,
        "strict",
        "",
        "rate_limits = [{ tool_calls = 3, window = \"1m\" }]",
    );
    for _ in 0..3 {
        all[0].admit_tool_call("alice").unwrap();
    }
    match all[0].admit_tool_call("alice") {
        Err(Rejection::RateLimited {
            level: Level::Key,
            kind: RateKind::ToolCalls,
            limit: 3,
            window_secs: 60,
            ..
        }) => {}
        other => panic!("expected a tool-call limit, got {other:?}"),
    }
    // Requests are counted apart: the model path is untouched by tool calls.
    drop(all[0].admit(Some(alice(&all[0])), "p", "m", 1, 1).unwrap());
    clock.advance(61_000);
    all[0].admit_tool_call("alice").unwrap();
}

#[test]
fn requests_do_not_use_up_tool_calls_and_a_customer_limit_applies() {
    let (_, all) = shards(
        1,
        "soft",
        "rate_limits = [{ tool_calls = 2, window = \"1h\" }]",
        "rate_limits = [{ requests = 1, window = \"1h\" }]",
    );
    drop(all[0].admit(Some(alice(&all[0])), "p", "m", 1, 1).unwrap());
    assert!(all[0].admit(Some(alice(&all[0])), "p", "m", 1, 1).is_err());
    all[0].admit_tool_call("alice").unwrap();
    all[0].admit_tool_call("alice").unwrap();
    match all[0].admit_tool_call("alice") {
        Err(
            rejection @ Rejection::RateLimited {
                level: Level::Customer,
                kind: RateKind::ToolCalls,
                ..
            },
        ) => {
            assert_eq!(rejection.reason(), "rate_limit_tool_calls");
            assert!(
                rejection.message().contains("2 tool calls per 3600s"),
                "{rejection}"
            );
        }
        other => panic!("expected the customer's limit, got {other:?}"),
    }
}

#[test]
fn an_unknown_or_revoked_key_gets_no_tool_calls() {
    let (_, all) = shards(1, "strict", "", "");
    assert_eq!(
        all[0].admit_tool_call("nobody"),
        Err(Rejection::Unauthenticated(AuthFailure::Unknown))
    );
    all[0].admit_tool_call("alice").unwrap();
}

#[test]
fn a_shard_short_of_tool_call_share_is_busy_until_another_grants_some() {
    let (_, all) = shards(
        2,
        "strict",
        "",
        "rate_limits = [{ tool_calls = 4, window = \"1m\" }]",
    );
    let refs: Vec<&Rc<Governor>> = all.iter().collect();
    all[0].admit_tool_call("alice").unwrap();
    all[0].admit_tool_call("alice").unwrap();
    match all[0].admit_tool_call("alice") {
        Err(Rejection::BudgetBusy {
            limit: BusyLimit::ToolCalls,
            ..
        }) => {}
        other => panic!("expected busy, got {other:?}"),
    }
    deliver(&all[0], &refs); // the ask and the two calls
    deliver(&all[1], &refs); // the grant
    all[0].admit_tool_call("alice").unwrap();
    all[0].admit_tool_call("alice").unwrap();
    deliver(&all[0], &refs);
    assert!(all[0].admit_tool_call("alice").is_err());
    assert!(all[1].admit_tool_call("alice").is_err());
}

/// Random tool calls and late message delivery across `n` strict shards: the calls admitted
/// in the window never pass the limit, and the shards do share it.
fn never_past_the_limit(n: usize, seed: u64) {
    let (_, all) = shards(
        n,
        "strict",
        "",
        "rate_limits = [{ tool_calls = 30, window = \"1h\" }]",
    );
    let refs: Vec<&Rc<Governor>> = all.iter().collect();
    let mut rng = Rng(seed);
    let mut queued: Vec<VecDeque<Outbound>> = (0..n).map(|_| VecDeque::new()).collect();
    let mut admitted = 0u64;
    for _ in 0..3_000 {
        let s = rng.below(n as u64) as usize;
        if rng.below(2) == 0 {
            match all[s].admit_tool_call("alice") {
                Ok(()) => admitted += 1,
                Err(Rejection::BudgetBusy { .. } | Rejection::RateLimited { .. }) => {}
                Err(other) => panic!("{other:?}"),
            }
        } else {
            for target in 0..n {
                all[target].drain_outbound(|o| queued[target].push_back(o));
            }
            for _ in 0..rng.below(4) {
                if let Some(o) = queued[s].pop_front() {
                    route(&o, s, &refs);
                }
            }
        }
        assert!(admitted <= 30, "{admitted} admitted past a limit of 30");
    }
    assert!(
        admitted >= 20,
        "the shards did share the limit ({admitted})"
    );
}

#[test]
fn strict_shards_never_pass_a_tool_call_limit_whatever_the_message_timing() {
    for (n, seed) in [
        (2, 0x2545_f491_4f6c_dd1d),
        (3, 0x9e37_79b9_7f4a_7c15),
        (4, 7),
    ] {
        never_past_the_limit(n, seed);
    }
}
