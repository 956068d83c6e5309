//! Tests of moving a reservation to another target: the request stays counted once on the key's
//! limits, the provider level moves (checked, held, released), the price becomes the new
//! target's, and a refusal leaves the reservation where it was.

use std::rc::Rc;

use super::tests_support::*;
use super::*;

const T0: u64 = 1_800_000_000_000;

/// Provider `q` (model `m` at twice `p/m`'s price) with `q_budget`; the key with `key_extra`.
fn setup(mode: &str, key_extra: &str, q_budget: &str) -> Rc<Governor> {
    let clock = Rc::new(ManualClock::new(T0));
    let extra = format!(
        "{}\n[[providers]]\nname = \"q\"\nkind = \"anthropic\"\nkeys = [{{ secret = \"k\" }}]\n{q_budget}\n\
         [[pricing]]\nmodel = \"q/m\"\ninput = 2.0\noutput = 4.0\ncache_write = 3.0\ncache_read = 0.2\n",
        hierarchy("", "", key_extra)
    );
    shard(&config(mode, &extra), 0, 1, &clock)
}

fn in_flight(g: &Governor, level: Level, id: &str) -> u32 {
    g.usage(level, id).map_or(0, |u| u.in_flight)
}

#[test]
fn a_moved_request_is_counted_once_and_charged_at_the_new_price() {
    // One request per hour: the move must not count it a second time.
    let g = setup(
        "soft",
        "rate_limits = [{ requests = 1, window = \"1h\" }]",
        "budgets = [{ max_usd = 10.0, reset = \"1d\" }]",
    );
    let mut held = g.admit(Some(alice(&g)), "p", "m", 100, 10).unwrap();
    g.retarget(&mut held, "q", "m").unwrap();
    assert_eq!(in_flight(&g, Level::Provider, "q"), 1);
    let settled = held.settle(&usage(100, 10));
    // q/m: $2/Mtok input, $4 output: 100 × 2 + 10 × 4 micro-dollars.
    assert_eq!(settled.cost_pico, Some((100 * 2 + 10 * 4) * 1_000_000));
    assert_eq!(in_flight(&g, Level::Provider, "q"), 0);
    assert_eq!(in_flight(&g, Level::Key, "alice"), 0);
    // The one request the hour allows was used, once.
    assert!(g.admit(Some(alice(&g)), "p", "m", 1, 1).is_err());
}

#[test]
fn a_provider_budget_that_refuses_leaves_the_reservation_as_it_was() {
    // Strict: the worst case of 100 input tokens (priced as cache writes, q's dearest input
    // rate: $3/Mtok) and 10 output tokens ($4) is 340 micro-dollars at q's price: a budget one
    // micro-dollar short refuses, one of exactly that fits.
    let refusing = setup(
        "strict",
        "",
        "budgets = [{ max_usd = 0.000339, reset = \"1d\" }]",
    );
    let mut held = refusing
        .admit(Some(alice(&refusing)), "p", "m", 100, 10)
        .unwrap();
    let before = held.reserved_pico();
    let refused = refusing.retarget(&mut held, "q", "m").unwrap_err();
    assert!(matches!(
        refused,
        Rejection::BudgetExceeded {
            level: Level::Provider,
            ..
        }
    ));
    assert_eq!(held.reserved_pico(), before, "unchanged");
    assert_eq!(in_flight(&refusing, Level::Provider, "q"), 0);
    let settled = held.settle(&usage(100, 10));
    assert_eq!(
        settled.cost_pico,
        Some((100 + 10 * 2) * 1_000_000),
        "p's price"
    );

    let fits = setup(
        "strict",
        "",
        "budgets = [{ max_usd = 0.00034, reset = \"1d\" }]",
    );
    let mut held = fits.admit(Some(alice(&fits)), "p", "m", 100, 10).unwrap();
    fits.retarget(&mut held, "q", "m").unwrap();
    assert_eq!(
        held.reserved_pico(),
        340 * 1_000_000,
        "re-sized at q's price"
    );
    drop(held);
    let key = fits.usage(Level::Key, "alice").unwrap();
    assert!(key.budgets.is_empty() || key.budgets[0].reserved_pico == 0);
}
