//! Shared fixtures for the governance tests: a small config, shards on a manual clock, message
//! delivery between shards, and UTC instants.

use std::rc::Rc;

use super::window::days_from_civil;
use super::*;
use crate::config::Config;
use crate::governance::Usage;

/// One provider `p`, customer `acme` → team `platform` → key `alice` (secret `sk-alice`), and
/// model `p/m` at $1/Mtok input, $2 output, $1.50 cache write, $0.10 cache read: one input
/// token costs one micro-dollar. `extra` is appended (more entries, or budgets via `{KEY}`…).
pub const BASE: &str = r#"
[[providers]]
name = "p"
kind = "anthropic"
keys = [{ secret = "upstream" }]

[governance]
require_virtual_key = true
budget_mode = "MODE"

[[pricing]]
model = "p/m"
input = 1.0
output = 2.0
cache_write = 1.5
cache_read = 0.1
"#;

/// `BASE` in `mode` plus `extra`, parsed.
pub fn config(mode: &str, extra: &str) -> Config {
    let text = format!("{}{extra}", BASE.replace("MODE", mode));
    Config::from_toml_str_with_env(&text, &|_| None).unwrap()
}

/// The customer → team → key hierarchy with a budget/limit line for each level.
pub fn hierarchy(customer: &str, team: &str, key: &str) -> String {
    format!(
        "[[customers]]\nid = \"acme\"\n{customer}\n[[teams]]\nid = \"platform\"\ncustomer = \"acme\"\n{team}\n\
         [[virtual_keys]]\nid = \"alice\"\nsecret = \"sk-alice\"\nteam = \"platform\"\n{key}\n"
    )
}

pub fn shard(
    config: &Config,
    index: usize,
    shards: usize,
    clock: &Rc<ManualClock>,
) -> Rc<Governor> {
    let clock: Rc<dyn Clock> = clock.clone();
    Governor::new(config, index, shards, clock, &LedgerSnapshot::default())
        .unwrap()
        .0
}

pub fn usage(input: u64, output: u64) -> Usage {
    Usage {
        input_tokens: input,
        output_tokens: output,
        ..Usage::default()
    }
}

/// Alice's key on `governor`.
pub fn alice(governor: &Governor) -> KeyRef {
    governor
        .authenticate(Some(b"sk-alice"), None)
        .unwrap()
        .unwrap()
}

/// Delivers everything `from` has queued to the shards in `all` (by route); returns what
/// was sent to the ledger.
pub fn deliver(from: &Governor, all: &[&Rc<Governor>]) -> Vec<GovMsg> {
    let mut ledger = Vec::new();
    let mut outbound = Vec::new();
    from.drain_outbound(|o| outbound.push(o));
    for o in outbound {
        if o.ledger {
            ledger.push(o.msg.clone());
        }
        route(&o, from.shard(), all);
    }
    ledger
}

/// Applies one message sent by shard `from` on every shard in `all` its route names.
pub fn route(o: &Outbound, from: usize, all: &[&Rc<Governor>]) {
    for target in all {
        let chosen = match o.route {
            Route::Others => target.shard() != from,
            Route::Shard(index) => target.shard() == index as usize,
        };
        if chosen {
            target.apply(&o.msg);
        }
    }
}

/// Unix milliseconds of a UTC date and time.
pub fn utc(year: u64, month: u64, day: u64, hour: u64, minute: u64, second: u64) -> u64 {
    (days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second) * 1_000
}
