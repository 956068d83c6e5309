//! End to end, strict mode against bodies dense in tokens per byte: long digit strings, CJK
//! text, many small tool results, and a 1-hour cache write. The upstream reports the largest
//! usage such a body can produce (every byte of every string in it an input token, or a cache
//! write when the body asks for one, and `max_tokens` of output), and requests go until the cap
//! refuses them: settled spend never passes the cap, nothing is counted as overshoot, and a
//! 1-hour cache write is charged at twice the input rate.

mod support;

use serde_json::Value;

use support::governance::{
    self as gov, Auth, GovConfig, INPUT_MICRO_PER_TOKEN, OUTPUT_MICRO_PER_TOKEN, PROVIDER_KEY,
    TEST_MODEL, assert_error, budget_line, is_budget_busy, platform_hierarchy, post,
};
use support::mock::Reply;
use support::temp::TempDir;
use support::{Gateway, MockUpstream};

/// The cap every case runs against.
const CAP_USD: f64 = 2.0;
/// `max_tokens` of every dense request.
const DENSE_MAX_TOKENS: u64 = 5;
/// Most requests a case sends before it expects the cap to have refused one.
const MOST_REQUESTS: usize = 60;

/// UTF-8 bytes of every string value in `value` (the most input tokens its text can be).
fn text_bytes(value: &Value) -> u64 {
    match value {
        Value::String(s) => s.len() as u64,
        Value::Array(items) => items.iter().map(text_bytes).sum(),
        Value::Object(map) => map.values().map(text_bytes).sum(),
        _ => 0,
    }
}

/// Whether the body asks for a 1-hour cache write anywhere.
fn asks_one_hour_cache(value: &Value) -> bool {
    match value {
        Value::Array(items) => items.iter().any(asks_one_hour_cache),
        Value::Object(map) => {
            map.get("ttl").and_then(Value::as_str) == Some("1h")
                || map.values().any(asks_one_hour_cache)
        }
        _ => false,
    }
}

/// The largest usage of `body`: (input, cache write, output) tokens.
fn largest_usage(body: &Value) -> (u64, u64, u64) {
    let text = text_bytes(body);
    let output = body["max_tokens"].as_u64().unwrap_or(0);
    if asks_one_hour_cache(body) {
        (0, text, output)
    } else {
        (text, 0, output)
    }
}

/// A mock answering with [`largest_usage`].
fn densest_mock() -> MockUpstream {
    MockUpstream::start(|request| {
        let body = request.json().unwrap_or(Value::Null);
        let (input, cache_write, output) = largest_usage(&body);
        let one_hour = if cache_write > 0 { cache_write } else { 0 };
        Reply::json(
            200,
            &format!(
                r#"{{"id":"msg_dense","type":"message","role":"assistant","model":"{TEST_MODEL}","content":[{{"type":"text","text":"ok"}}],"stop_reason":"max_tokens","stop_sequence":null,"usage":{{"input_tokens":{input},"cache_creation_input_tokens":{cache_write},"cache_creation":{{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":{one_hour}}},"cache_read_input_tokens":0,"output_tokens":{output}}}}}"#
            ),
        )
    })
}

fn start(mock: &MockUpstream, state: &TempDir, secret: &str) -> Gateway {
    let mut config = GovConfig::new(&mock.base_url(), state.path());
    config.mode = "strict";
    config.hierarchy =
        platform_hierarchy("", "", &[("alice", secret, &budget_line(CAP_USD, "1d"))]);
    config.start()
}

/// A Messages body with `content` (a JSON array of blocks) and optional `extra` top-level
/// fields.
fn dense_body(content: &str, extra: &str) -> String {
    format!(
        r#"{{"model":"{TEST_MODEL}","max_tokens":{DENSE_MAX_TOKENS},{extra}"messages":[{{"role":"user","content":{content}}}]}}"#
    )
}

/// Sends `body` until the cap refuses it; returns the micro-dollars the responses report as
/// settled by the mock's usage at the dearest rate the body allows.
fn spend_until_refused(name: &str, body: &str, one_hour_rate: bool) {
    let mock = densest_mock();
    let state = TempDir::new(&format!("gov-dense-{name}"));
    let secret = gov::vkey("alice");
    let gateway = start(&mock, &state, &secret);
    let parsed: Value = serde_json::from_str(body).unwrap();
    let (input, cache_write, output) = largest_usage(&parsed);
    let write_rate = if one_hour_rate {
        2 * INPUT_MICRO_PER_TOKEN
    } else {
        INPUT_MICRO_PER_TOKEN
    };
    let per_request =
        input * INPUT_MICRO_PER_TOKEN + cache_write * write_rate + output * OUTPUT_MICRO_PER_TOKEN;
    let cap = (CAP_USD * gov::MICRO as f64) as u64;
    let mut admitted = 0u64;
    let mut busy_in_a_row = 0;
    let refusal = loop {
        let response = post(&mut gateway.client(), Auth::XApiKey(&secret), body);
        if response.status == 200 {
            admitted += 1;
            busy_in_a_row = 0;
            assert!(admitted as usize <= MOST_REQUESTS, "{name}: never refused");
            continue;
        }
        if is_budget_busy(&response) && busy_in_a_row < 40 {
            busy_in_a_row += 1;
            std::thread::sleep(std::time::Duration::from_millis(50));
            continue;
        }
        break response;
    };
    assert_error(&refusal, 402, "billing_error");
    let spent = gov::spent_micro(&gateway, "key", "alice");
    eprintln!(
        "{name}: {admitted} admitted at {per_request} micro-USD each, {spent} of {cap} spent \
         ({:.1}% of the cap)",
        spent as f64 * 100.0 / cap as f64
    );
    assert!(admitted >= 1, "{name}: the cap fits at least one request");
    assert_eq!(
        spent,
        admitted * per_request,
        "{name}: each request was charged its largest usage"
    );
    assert!(
        spent <= cap,
        "{name}: {spent} micro-USD settled over a cap of {cap}"
    );
    let metrics = gov::metrics(&gateway);
    assert!(
        metrics.contains("sluice_budget_overshoot_requests_total 0\n"),
        "{name}: no overshoot expected:\n{metrics}"
    );
    assert_eq!(mock.requests().len() as u64, admitted);
    assert!(
        mock.requests()
            .iter()
            .all(|r| r.header("x-api-key") == Some(PROVIDER_KEY.as_bytes())),
        "upstream saw the provider key"
    );
}

#[test]
fn digit_strings_never_cross_a_strict_cap() {
    let digits = "1234567890".repeat(300);
    let body = dense_body(&format!(r#"[{{"type":"text","text":"{digits}"}}]"#), "");
    spend_until_refused("digits", &body, false);
}

#[test]
fn cjk_text_never_crosses_a_strict_cap() {
    let text = "東京都渋谷区の天気予報と交通情報".repeat(60);
    let body = dense_body(&format!(r#"[{{"type":"text","text":"{text}"}}]"#), "");
    spend_until_refused("cjk", &body, false);
}

#[test]
fn many_small_tool_results_never_cross_a_strict_cap() {
    let results: Vec<String> = (0..120)
        .map(|i| format!(r#"{{"type":"tool_result","tool_use_id":"t{i}","content":"{i}"}}"#))
        .collect();
    let body = dense_body(&format!("[{}]", results.join(",")), "");
    spend_until_refused("tool-results", &body, false);
}

#[test]
fn a_one_hour_cache_write_is_reserved_and_charged_at_its_rate() {
    let text = "0123456789".repeat(250);
    let system = format!(
        r#""system":[{{"type":"text","text":"{text}","cache_control":{{"type":"ephemeral","ttl":"1h"}}}}],"#
    );
    let body = dense_body(r#"[{"type":"text","text":"go"}]"#, &system);
    spend_until_refused("one-hour-cache", &body, true);
}
