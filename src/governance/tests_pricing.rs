//! Tests of pricing: built-in names under every provider's spelling, cache and long-prompt
//! rates, `[[pricing]]` overrides, unpriced models refused only when governed.

use std::rc::Rc;

use super::pricing::{builtin_price, normalize_model};
use super::tests_support::*;
use super::*;
use crate::governance::Usage;

fn setup(extra: &str) -> Rc<Governor> {
    let clock = Rc::new(ManualClock::new(1_800_000_000_000));
    shard(
        &config("soft", &format!("{}{extra}", hierarchy("", "", ""))),
        0,
        1,
        &clock,
    )
}

fn strict_setup(extra: &str) -> Rc<Governor> {
    let clock = Rc::new(ManualClock::new(1_800_000_000_000));
    shard(
        &config("strict", &format!("{}{extra}", hierarchy("", "", ""))),
        0,
        1,
        &clock,
    )
}

#[test]
fn unpriced_models_are_refused_when_governed_and_pass_otherwise() {
    let g = setup("");
    let refused = g
        .admit(Some(alice(&g)), "p", "no-such-model", 0, 0)
        .err()
        .unwrap();
    assert_eq!(
        refused,
        Rejection::UnpricedModel {
            model: "p/no-such-model".into()
        }
    );
    assert_eq!(refused.status(), 400);
    let passed = g
        .admit(None, "p", "no-such-model", 10, 10)
        .unwrap()
        .settle(&usage(1, 1));
    assert_eq!(passed.cost_pico, None);
    // Built-in prices apply through any provider name.
    let sonnet = g
        .admit(Some(alice(&g)), "p", "claude-sonnet-4-5-20250929", 0, 0)
        .unwrap();
    assert_eq!(
        sonnet.settle(&usage(100_000, 0)).cost_pico,
        Some(300_000_000_000)
    );
}

#[test]
fn costs_price_cache_tokens_and_long_prompts_separately() {
    let sonnet = builtin_price("claude-sonnet-4-5").unwrap();
    let cached = Usage {
        input_tokens: 100,
        output_tokens: 10,
        cache_read_input_tokens: 1_000,
        cache_creation_input_tokens: 200,
    };
    // 100×3 + 10×15 + 200×3.75 + 1000×0.30 micro-dollars per token ×1e-6 … in pico: ×1e6.
    assert_eq!(
        cost_pico(&sonnet, &cached),
        (300 + 150 + 750 + 300) * 1_000_000
    );
    let long = Usage {
        input_tokens: 150_000,
        output_tokens: 1_000,
        cache_read_input_tokens: 60_000,
        cache_creation_input_tokens: 0,
    };
    assert_eq!(
        cost_pico(&sonnet, &long),
        (150_000 * 6 + 1_000 * 22 + 60_000 * 6 / 10) * 1_000_000 + 500_000_000
    );
    assert_eq!(
        worst_case_pico(&sonnet, 10, 10, false),
        10 * 3_750_000 + 10 * 15_000_000
    );
    // A 1-hour cache write costs twice the input rate, dearer than the 5-minute write.
    assert_eq!(
        worst_case_pico(&sonnet, 10, 10, true),
        10 * 6_000_000 + 10 * 15_000_000
    );
    for id in [
        "claude-opus-4-5-20251101",
        "us.anthropic.claude-opus-4-5-20251101-v1:0",
        "claude-opus-4-5@20251101",
        "global.anthropic.claude-opus-4-5-v1",
    ] {
        assert_eq!(normalize_model(id), "claude-opus-4-5", "{id}");
    }
    assert_eq!(normalize_model("gpt-5-mini-2025-08-07"), "gpt-5-mini");
    assert!(
        builtin_price("claude-opus-4-9").is_none(),
        "unknown models stay unknown"
    );
    assert!(builtin_price("gpt-5.9").is_none());
    assert_eq!(builtin_price("gpt-5").unwrap().base.cache_write, 1_250_000);
    assert_eq!(
        builtin_price("claude-sonnet-4-5")
            .unwrap()
            .max_output_tokens,
        Some(64 * 1_024)
    );
}

#[test]
fn a_request_without_max_tokens_reserves_the_models_largest_output() {
    let g = strict_setup(
        "[[pricing]]\nmodel = \"p/big\"\ninput = 1.0\noutput = 1.0\nmax_output_tokens = 1000\n[[pricing]]\nmodel = \"p/plain\"\ninput = 1.0\noutput = 1.0\n",
    );
    let bound = RequestBound {
        input_tokens: 10,
        max_tokens: None,
        one_hour_cache_write: false,
    };
    let held = g
        .admit_bounded(Some(alice(&g)), "p", "big", &bound)
        .unwrap();
    assert_eq!(held.reserved_pico(), (10 + 1_000) * 1_000_000);
    assert_eq!(held.reserved_tokens(), 10 + 1_000);
    drop(held);
    let held = g
        .admit_bounded(Some(alice(&g)), "p", "plain", &bound)
        .unwrap();
    assert_eq!(held.reserved_tokens(), 10 + UNKNOWN_MAX_OUTPUT_TOKENS);
}

#[test]
fn a_one_hour_cache_write_is_reserved_and_settled_at_twice_the_input_rate() {
    let g = strict_setup(
        "[[pricing]]\nmodel = \"p/m1\"\ninput = 1.0\noutput = 1.0\ncache_write = 1.25\n",
    );
    let bound = RequestBound {
        input_tokens: 100,
        max_tokens: Some(0),
        one_hour_cache_write: true,
    };
    let held = g.admit_bounded(Some(alice(&g)), "p", "m1", &bound).unwrap();
    assert_eq!(held.reserved_pico(), 100 * 2_000_000);
    let written = Usage {
        cache_creation_input_tokens: 100,
        ..Usage::default()
    };
    assert_eq!(held.settle(&written).cost_pico, Some(100 * 2_000_000));
}

#[test]
fn configured_prices_override_the_built_in_ones() {
    let g = setup("[[pricing]]\nmodel = \"p/claude-sonnet-4-5*\"\ninput = 10.0\noutput = 20.0\n");
    let held = g
        .admit(Some(alice(&g)), "p", "claude-sonnet-4-5", 0, 0)
        .unwrap();
    assert_eq!(held.settle(&usage(1, 0)).cost_pico, Some(10_000_000));
}

#[test]
fn mapped_models_without_a_price_are_listed_for_start_up() {
    let mut config = config("soft", "");
    let provider = &mut config.providers[0];
    provider.model_map.insert("a".into(), "m".into());
    provider.model_map.insert(
        "b".into(),
        "anthropic.claude-haiku-4-5-20251001-v1:0".into(),
    );
    provider.model_map.insert("c".into(), "mystery-1".into());
    assert_eq!(
        unpriced_mapped_models(&config),
        vec!["p/mystery-1".to_owned()]
    );
}

#[test]
fn strict_usage_past_the_reservation_is_counted_as_overshoot() {
    let g = strict_setup("");
    let held = g.admit(Some(alice(&g)), "p", "m", 10, 5).unwrap();
    // Reserved 10 input at the dearest rate ($1.50 cache write) + 5 output at $2: 25 micro-USD;
    // charged 40 input at $1 + 5 output at $2: 50 micro-USD.
    assert_eq!(held.reserved_tokens(), 15);
    held.settle(&usage(40, 5));
    let overshoot = g.overshoot();
    assert_eq!(overshoot.requests, 1);
    assert_eq!(overshoot.tokens, 30);
    assert_eq!(overshoot.pico, (50 - 25) * 1_000_000);
    // Within the reservation: nothing more.
    g.admit(Some(alice(&g)), "p", "m", 10, 5)
        .unwrap()
        .settle(&usage(10, 5));
    assert_eq!(g.overshoot(), overshoot);
}
