//! Tests of a shard under the Redis backend: shares start at zero and come only from grants
//! (the broker's leases), share is handed back to the broker even by a waiting shard, `Backend`
//! messages switch `fail_closed` refusals on and off, and other instances' usage counts in the
//! global view.

use std::rc::Rc;

use super::tests_support::*;
use super::*;
use crate::config::BudgetMode;

const T0: u64 = 1_800_000_000_000;
const REDIS: &str = "backend = \"redis\"\nredis_url = \"redis://127.0.0.1:1\"\n";

/// One shard of one instance under the Redis backend, `policy` on Redis errors.
fn pooled(mode: &str, policy: &str, key: &str) -> (Rc<ManualClock>, Rc<Governor>) {
    let clock = Rc::new(ManualClock::new(T0));
    let text = format!(
        "{}{}",
        BASE.replace("MODE", mode).replace(
            "[governance]\n",
            &format!("[governance]\n{REDIS}on_backend_error = \"{policy}\"\n")
        ),
        hierarchy("", "", key)
    );
    let config = crate::config::Config::from_toml_str_with_env(&text, &|_| None).unwrap();
    assert_eq!(config.governance.budget_mode.as_str(), mode);
    let governor = shard(&config, 0, 1, &clock);
    (clock, governor)
}

fn admit(g: &Rc<Governor>) -> Result<Reservation, Rejection> {
    g.admit(Some(alice(g)), "p", "m", 100, 100)
}

fn alice_id() -> EntityId {
    EntityId::of(Level::Key, "alice")
}

/// The broker's number on a one-shard instance.
const BROKER: u32 = 1;

#[test]
fn a_pooled_shard_starts_with_no_share_and_asks_the_broker() {
    let (_, g) = pooled(
        "strict",
        "fail_closed",
        "budgets = [{ max_usd = 1.0, reset = \"1d\" }]",
    );
    assert!(matches!(admit(&g), Err(Rejection::BudgetBusy { .. })));
    let mut asked = Vec::new();
    g.drain_outbound(|o| asked.push(o));
    let request = asked
        .iter()
        .find_map(|o| match (&o.route, &o.msg) {
            (Route::Others, GovMsg::ShareRequest(r)) => Some(*r),
            _ => None,
        })
        .expect("a share request for the broker");
    assert_eq!(request.entity, alice_id());
    // The broker's lease arrives as a grant; the request now fits.
    g.apply(&GovMsg::ShareGrant(ShareGrant {
        to_shard: 0,
        entity: alice_id(),
        of: request.of,
        amount: request.wanted,
    }));
    let held = admit(&g).expect("admitted within the lease");
    held.settle(&usage(100, 100));
    // Asked by the broker, even a shard that waits for share itself (it asked at this very
    // instant of the manual clock) hands back what is free.
    g.apply(&GovMsg::ShareRequest(ShareRequest {
        from_shard: BROKER,
        entity: alice_id(),
        of: request.of,
        wanted: u64::MAX,
    }));
    let mut back = Vec::new();
    g.drain_outbound(|o| back.push(o));
    assert!(
        back.iter().any(|o| matches!(
            (&o.route, &o.msg),
            (Route::Shard(BROKER), GovMsg::ShareGrant(grant)) if grant.amount > 0
        )),
        "free share goes back to the broker: {back:?}"
    );
}

#[test]
fn fail_closed_refuses_governed_requests_while_redis_is_down() {
    let (_, g) = pooled(
        "strict",
        "fail_closed",
        "rate_limits = [{ requests = 5, window = \"1m\" }]",
    );
    g.apply(&GovMsg::Backend(BackendStatus { up: false }));
    let refused = admit(&g).map(|_| ()).unwrap_err();
    assert_eq!(refused, Rejection::BackendUnavailable);
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.error_type(), "api_error");
    assert!(refused.message().contains("budget backend"));
    g.apply(&GovMsg::Backend(BackendStatus { up: true }));
    assert!(matches!(admit(&g), Err(Rejection::BudgetBusy { .. })));
}

#[test]
fn local_keeps_admitting_while_redis_is_down() {
    let (_, g) = pooled(
        "soft",
        "local",
        "budgets = [{ max_usd = 1.0, reset = \"1d\" }]",
    );
    g.apply(&GovMsg::Backend(BackendStatus { up: false }));
    assert!(admit(&g).is_ok());
}

#[test]
fn other_instances_usage_counts_in_the_global_view() {
    let (clock, g) = pooled(
        "soft",
        "local",
        "budgets = [{ max_usd = 1.0, reset = \"1d\" }]",
    );
    assert_eq!(
        g.state.borrow().mode,
        BudgetMode::Soft,
        "soft mode checks the global view only"
    );
    let key = BudgetKey {
        reset: crate::config::ResetPeriod::Day,
        calendar_aligned: false,
    };
    let remote = |amount| {
        GovMsg::Remote(RemoteUsage {
            entity: alice_id(),
            of: ShareOf::Budget(key),
            at_ms: clock.now_unix_millis(),
            amount,
        })
    };
    // $0.999999 spent elsewhere: still under the cap.
    g.apply(&remote(999_999_000_000));
    admit(&g).expect("under the cap").settle(&usage(0, 0));
    // One more pico-dollar: the cap is spent.
    g.apply(&remote(1_000_000));
    assert!(matches!(admit(&g), Err(Rejection::BudgetExceeded { .. })));
}
