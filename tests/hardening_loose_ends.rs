//! End to end, two loose ends of governance and observation: a budget added to a key with
//! `PATCH /admin/keys/{id}` starts from the spend already recorded for its window (on every
//! shard, soft and strict), and a client asking for a compressed answer to an unmetered
//! Messages request still gets its tokens and tool calls into the access log.

mod support;

use serde_json::json;

use support::fixtures;
use support::governance::{
    self as gov, GovConfig, REQUEST_COST_MICRO, admin_ok, assert_error, call_key, create_key,
    platform_hierarchy, spent_micro,
};
use support::temp::TempDir;
use support::{EVENTUALLY, Gateway, MockUpstream, Recorded, Reply, wait_for};

/// Calls per check that must reach both shards (connections spread over them).
const CALLS_PER_CHECK: usize = 8;

#[test]
fn a_budget_added_by_patch_starts_from_the_spend_already_recorded() {
    for mode in ["soft", "strict"] {
        let mock = gov::priced_mock();
        let state = TempDir::new("hard-patch-budget");
        let mut config = GovConfig::new(&mock.base_url(), state.path());
        config.mode = mode;
        config.hierarchy = platform_hierarchy("", "", &[]);
        let gateway = config.start();
        let bob = create_key(&gateway, "bob", "platform", json!({}));
        for _ in 0..3 {
            assert_eq!(call_key(&gateway, &bob).status, 200);
        }

        // $1 a day, added now: the three requests already spent count against it.
        let budget = json!({ "budgets": [{ "max_usd": 1.0, "reset": "1d" }] });
        admin_ok(&gateway, "PATCH", "/admin/keys/bob", Some(&budget), 200);
        assert_eq!(
            spent_micro(&gateway, "key", "bob"),
            3 * REQUEST_COST_MICRO,
            "{mode}: the new budget starts from the recorded spend"
        );

        // A daily budget under what was spent refuses at once, on every shard.
        let tight = json!({ "budgets": [{ "max_usd": 1.0, "reset": "1d" },
                                         { "max_usd": 0.5, "reset": "1h" }] });
        admin_ok(&gateway, "PATCH", "/admin/keys/bob", Some(&tight), 200);
        for _ in 0..CALLS_PER_CHECK {
            let refused = call_key(&gateway, &bob);
            let message = assert_error(&refused, 402, "billing_error");
            assert!(message.contains("bob"), "{mode}: {message}");
        }
        assert_eq!(mock.requests().len(), 3, "{mode}: nothing past the budget");
    }
}

#[test]
fn a_patch_keeping_a_budget_does_not_count_its_spend_twice() {
    let mock = gov::priced_mock();
    let state = TempDir::new("hard-patch-keep");
    let mut config = GovConfig::new(&mock.base_url(), state.path());
    config.hierarchy = platform_hierarchy("", "", &[]);
    let gateway = config.start();
    let budget = json!({ "budgets": [{ "max_usd": 5.0, "reset": "1d" }] });
    let carol = create_key(&gateway, "carol", "platform", budget);
    for _ in 0..2 {
        assert_eq!(call_key(&gateway, &carol).status, 200);
    }
    let raised = json!({ "budgets": [{ "max_usd": 6.0, "reset": "1d" }] });
    admin_ok(&gateway, "PATCH", "/admin/keys/carol", Some(&raised), 200);
    assert_eq!(
        spent_micro(&gateway, "key", "carol"),
        2 * REQUEST_COST_MICRO
    );
}

/// Input and output tokens the compressing mock reports.
const GZ_INPUT: u64 = 17;
const GZ_OUTPUT: u64 = 5;

/// `bytes` as a gzip member holding one stored (uncompressed) deflate block: a real gzip body
/// any client decodes, built without a compressor.
fn gzip_stored(bytes: &[u8]) -> Vec<u8> {
    let len = u16::try_from(bytes.len()).expect("one stored block holds at most 65,535 bytes");
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 0x01];
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&(!len).to_le_bytes());
    out.extend_from_slice(bytes);
    out.extend_from_slice(&crc32fast::hash(bytes).to_le_bytes());
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out
}

/// A message with a tool call and usage; gzip-encoded whenever the request accepts gzip.
fn compressing_reply(request: &Recorded) -> Reply {
    let message = format!(
        r#"{{"id":"msg_gz","type":"message","role":"assistant","model":"claude-gz","content":[{{"type":"tool_use","id":"toolu_gz_1","name":"Bash","input":{{"command":"ls"}}}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{{"input_tokens":{GZ_INPUT},"output_tokens":{GZ_OUTPUT}}}}}"#
    );
    let gzip = request
        .header_str("accept-encoding")
        .is_some_and(|v| v.contains("gzip"));
    if gzip {
        Reply::full(
            200,
            &[
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
            ],
            &gzip_stored(message.as_bytes()),
        )
    } else {
        Reply::json(200, &message)
    }
}

#[test]
fn an_unmetered_request_asking_for_gzip_is_still_observed() {
    let mock = MockUpstream::start(compressing_reply);
    let gateway = Gateway::start(&mock.base_url(), None, &[]);
    let headers = fixtures::claude_code_headers();
    assert!(
        headers
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case("accept-encoding") && v.contains("gzip")),
        "the client asks for gzip"
    );
    let response = gateway.client().request(
        "POST",
        "/v1/messages",
        &headers,
        fixtures::request_body(false, 0).as_bytes(),
    );
    assert_eq!(response.status, 200, "{}", response.text());
    let line = wait_for(EVENTUALLY, || gateway.access_log().into_iter().next())
        .unwrap_or_else(|| panic!("no access-log line:\n{}", gateway.stderr()));
    assert_eq!(line["input_tokens"], GZ_INPUT, "{line}");
    assert_eq!(line["output_tokens"], GZ_OUTPUT, "{line}");
    assert_eq!(line["tool_calls"], 1, "{line}");
    assert_eq!(line["stop_reason"], "tool_use", "{line}");
}
