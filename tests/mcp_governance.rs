//! `/mcp` under governance, through the real binary on two strict-mode shards: `tool_calls`
//! rate limits (counted apart from `requests`, on keys and teams, exact across shards while
//! many calls arrive at once on sessions owned by both shards, and still counted after a
//! restart), one access-log line per call, and `mcp_tools` set through the admin API and
//! `sluice keys create --mcp-tools`.

mod support;

use std::collections::BTreeSet;

use serde_json::{Value, json};

use support::governance::{
    self as gov, ADMIN_TOKEN, Auth, GovConfig, MAX_TOKENS, TEST_MODEL, admin, admin_ok, body_for,
    create_key, key_toml, keys_cli, team_toml,
};
use support::mcp::{
    NEWEST, Outcome, call_tool, echo_call, initialize, post, python, rpc_answer, script,
};
use support::{Gateway, MockUpstream, TempDir};

/// Strict mode, two shards, the stdio fixture server as `files`; `hierarchy` appended.
fn start(mock: &MockUpstream, state: &TempDir, hierarchy: String) -> Gateway {
    let mut config = GovConfig::new(&mock.base_url(), state.path());
    config.mode = "strict";
    config.hierarchy = hierarchy;
    let mut toml = config.toml();
    toml.push_str(&format!(
        "\n[[mcp_servers]]\nname = \"files\"\ncommand = \"{}\"\nargs = [\"{}\"]\n",
        python().display(),
        script("mcp_server_stdio.py")
    ));
    let gateway = Gateway::start_config(&toml);
    assert_eq!(gateway.shards, 2);
    gateway
}

/// Sessions for `key` until both shards own at least one (new connections land on either).
fn sessions_on_both_shards(gateway: &Gateway, key: &str) -> Vec<String> {
    let mut sessions = Vec::new();
    let mut owners = BTreeSet::new();
    for _ in 0..64 {
        let session = initialize(gateway, key);
        owners.insert(sluice::mcp::owner_shard(&session).expect("an owner"));
        sessions.push(session);
        if owners.len() == 2 && sessions.len() >= 4 {
            return sessions;
        }
    }
    panic!("64 sessions all landed on shards {owners:?}");
}

fn echo(gateway: &Gateway, key: &str, session: &str, id: u64) -> Outcome {
    echo_call(gateway, key, session, id, "files__echo")
}

/// Calls (round robin over `sessions`) until every session's shard refuses with the limit
/// itself rather than a busy share; how many were admitted.
fn call_until_limited(gateway: &Gateway, key: &str, sessions: &[String], first_id: u64) -> usize {
    let mut admitted = 0;
    let mut limited = BTreeSet::new();
    for id in first_id..first_id + 200 {
        let session = &sessions[id as usize % sessions.len()];
        match echo(gateway, key, session, id) {
            Outcome::Ok => admitted += 1,
            Outcome::Refused(reason) if reason == "rate_limit_tool_calls" => {
                limited.insert(sluice::mcp::owner_shard(session));
                if limited.len() == 2 {
                    return admitted;
                }
            }
            Outcome::Refused(reason) => assert_eq!(reason, "budget_busy"),
        }
    }
    panic!("the limit was never reached ({admitted} admitted)");
}

fn call_model(gateway: &Gateway, key: &str) -> support::Response {
    gov::post(
        &mut gateway.client(),
        Auth::XApiKey(key),
        &body_for(TEST_MODEL, MAX_TOKENS, false),
    )
}

/// The access log's `mcp_call` lines.
fn mcp_call_lines(gateway: &Gateway) -> Vec<Value> {
    gateway
        .stderr()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|v| v.get("mcp_call").cloned())
        .collect()
}

#[test]
fn tool_call_limits_hold_exactly_across_shards_and_apart_from_requests() {
    let mock = gov::priced_mock();
    let state = TempDir::new("mcp-gov-limits");
    let (alice, bob) = (gov::vkey("alice"), gov::vkey("bob"));
    let mut hierarchy = team_toml(
        "eng",
        None,
        "mcp_tools = [\"files__*\"]\nrate_limits = [{ tool_calls = 9, window = \"1h\" }]",
    );
    hierarchy.push_str(&key_toml(
        "alice",
        &alice,
        "eng",
        "rate_limits = [{ requests = 1, tool_calls = 6, window = \"1h\" }]",
    ));
    hierarchy.push_str(&key_toml("bob", &bob, "eng", ""));
    let gateway = start(&mock, &state, hierarchy);

    // A model request uses alice's one request; tool calls are counted apart.
    assert_eq!(call_model(&gateway, &alice).status, 200);
    assert_eq!(call_model(&gateway, &alice).status, 429);

    // 24 calls at once on sessions owned by both shards: never more than 6 pass.
    let sessions = sessions_on_both_shards(&gateway, &alice);
    let outcomes: Vec<Outcome> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..24u64)
            .map(|id| {
                let (gateway, alice, sessions) = (&gateway, &alice, &sessions);
                scope.spawn(move || {
                    echo(gateway, alice, &sessions[id as usize % sessions.len()], id)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let burst = outcomes.iter().filter(|o| **o == Outcome::Ok).count();
    assert!((1..=6).contains(&burst), "{burst} admitted: {outcomes:?}");
    // Whatever share was still moving, exactly 6 are ever admitted.
    let later = call_until_limited(&gateway, &alice, &sessions, 100);
    assert_eq!(burst + later, 6, "{burst} in the burst, {later} after");

    // The team's 9 leave bob 3, on either shard.
    let sessions = sessions_on_both_shards(&gateway, &bob);
    assert_eq!(call_until_limited(&gateway, &bob, &sessions, 1000), 3);

    // One access-log line per call, naming the server and the tool.
    let lines = mcp_call_lines(&gateway);
    let ok = lines.iter().filter(|l| l["outcome"] == "ok").count();
    assert_eq!(ok, 9, "{lines:#?}");
    for line in &lines {
        assert_eq!(line["server"], "files");
        assert_eq!(line["tool"], "echo");
        assert!(
            line["key_id"] == "alice" || line["key_id"] == "bob",
            "{line}"
        );
    }
    assert!(lines.iter().any(|l| {
        l["outcome"] == "rate_limited"
            && l["error"]
                .as_str()
                .unwrap_or_default()
                .contains("tool calls")
    }));
    let metrics = gov::metrics(&gateway);
    assert!(
        metrics.contains("outcome=\"rate_limited\""),
        "refused calls are counted by outcome"
    );
}

#[test]
fn tool_calls_counted_before_a_restart_still_count_after_it() {
    let mock = gov::priced_mock();
    let state = TempDir::new("mcp-gov-restart");
    let alice = gov::vkey("alice");
    let mut hierarchy = team_toml("eng", None, "mcp_tools = [\"files__*\"]");
    hierarchy.push_str(&key_toml(
        "alice",
        &alice,
        "eng",
        "rate_limits = [{ tool_calls = 3, window = \"1h\" }]",
    ));
    let mut gateway = start(&mock, &state, hierarchy.clone());
    let sessions = sessions_on_both_shards(&gateway, &alice);
    // Two of the three calls of the hour, on either shard (a share still moving is retried).
    let mut admitted = 0;
    for id in 0..200u64 {
        match echo(
            &gateway,
            &alice,
            &sessions[id as usize % sessions.len()],
            id,
        ) {
            Outcome::Ok => admitted += 1,
            Outcome::Refused(reason) => assert_eq!(reason, "budget_busy"),
        }
        if admitted == 2 {
            break;
        }
    }
    assert_eq!(admitted, 2);
    gateway.sigterm();
    assert!(
        gateway.wait_exit(support::EVENTUALLY).is_some(),
        "sluice did not exit on SIGTERM"
    );

    // Restarted on the same state_dir: the window still holds the two, so one call is left.
    let gateway = start(&mock, &state, hierarchy);
    let sessions = sessions_on_both_shards(&gateway, &alice);
    assert_eq!(call_until_limited(&gateway, &alice, &sessions, 1000), 1);
}

/// The public names `tools/list` gives `key` in `session` (every page).
fn listed(gateway: &Gateway, key: &str, session: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    for id in 0..100 {
        let mut list = json!({"jsonrpc": "2.0", "id": id, "method": "tools/list"});
        if let Some(cursor) = &cursor {
            list["params"] = json!({"cursor": cursor});
        }
        let response = post(
            gateway,
            Some(key),
            Some(session),
            Some(NEWEST),
            list.to_string().as_bytes(),
        );
        assert_eq!(response.status, 200, "{}", response.text());
        let answer = rpc_answer(&response);
        for tool in answer["result"]["tools"].as_array().unwrap() {
            names.push(tool["name"].as_str().unwrap().to_owned());
        }
        match answer["result"]["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return names,
        }
    }
    panic!("tools/list never ended");
}

/// The error message of a refused `tools/call` (panics on a result).
fn refusal(gateway: &Gateway, key: &str, session: &str, name: &str) -> String {
    let response = call_tool(gateway, key, session, 7, name, json!({"city": "Oslo"}));
    let answer = rpc_answer(&response);
    answer["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{name} was not refused: {answer}"))
        .to_owned()
}

#[test]
fn mcp_tools_set_through_the_admin_api_and_the_cli() {
    let mock = gov::priced_mock();
    let state = TempDir::new("mcp-gov-admin");
    let gateway = start(&mock, &state, team_toml("ops", None, ""));

    // Created with a list: only that tool is listed and callable, whichever shard answers.
    let secret = create_key(
        &gateway,
        "api",
        "ops",
        json!({"mcp_tools": ["files__echo"]}),
    );
    let session = initialize(&gateway, &secret);
    assert_eq!(listed(&gateway, &secret, &session), ["files__echo"]);
    assert!(refusal(&gateway, &secret, &session, "files__weather").contains("not permitted"));
    let keys = admin_ok(&gateway, "GET", "/admin/keys", None, 200);
    let api = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == "api")
        .cloned();
    assert_eq!(api.unwrap()["mcp_tools"], json!(["files__echo"]), "{keys}");

    // PATCHed: the open session follows the new list at once.
    let patched = admin_ok(
        &gateway,
        "PATCH",
        "/admin/keys/api",
        Some(&json!({"mcp_tools": ["files__weather", "files__fail"]})),
        200,
    );
    assert_eq!(
        patched["key"]["mcp_tools"],
        json!(["files__weather", "files__fail"])
    );
    for _ in 0..4 {
        assert_eq!(
            listed(&gateway, &secret, &session),
            ["files__fail", "files__weather"]
        );
        assert!(refusal(&gateway, &secret, &session, "files__echo").contains("not permitted"));
    }
    let weather = call_tool(
        &gateway,
        &secret,
        &session,
        8,
        "files__weather",
        json!({"city": "Oslo"}),
    );
    assert_eq!(
        rpc_answer(&weather)["result"]["structuredContent"]["city"],
        "Oslo"
    );

    // null removes the key's list; its team has none either, so it sees no tool.
    admin_ok(
        &gateway,
        "PATCH",
        "/admin/keys/api",
        Some(&json!({"mcp_tools": null})),
        200,
    );
    assert!(listed(&gateway, &secret, &session).is_empty());

    // Malformed lists are 400s in the admin API's format; the gateway lives on.
    for bad in [
        json!("files__*"),
        json!([""]),
        json!([1]),
        json!(vec!["a*"; sluice::config::MAX_MCP_TOOL_GLOBS + 1]),
    ] {
        let response = admin(
            &gateway,
            "PATCH",
            "/admin/keys/api",
            Some(ADMIN_TOKEN),
            Some(&json!({ "mcp_tools": bad })),
        );
        assert_eq!(response.status, 400, "{bad}: {}", response.text());
        assert_eq!(response.json()["error"]["type"], "invalid_request_error");
    }

    // `sluice keys create --mcp-tools GLOB,...`, with a tool-call limit from --rate-limit.
    let output = keys_cli(
        &gateway,
        Some(ADMIN_TOKEN),
        &[
            "create",
            "--id",
            "cli",
            "--team",
            "ops",
            "--mcp-tools",
            "files__echo,files__we*",
            "--rate-limit",
            "::1h:2",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let created: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        created["key"]["mcp_tools"],
        json!(["files__echo", "files__we*"])
    );
    assert_eq!(created["key"]["rate_limits"][0]["tool_calls"], 2);
    let cli = created["secret"].as_str().unwrap();
    let session = initialize(&gateway, cli);
    assert_eq!(
        listed(&gateway, cli, &session),
        ["files__echo", "files__weather"]
    );
    let sessions = sessions_on_both_shards(&gateway, cli);
    assert_eq!(call_until_limited(&gateway, cli, &sessions, 1), 2);
    let usage = admin_ok(&gateway, "GET", "/admin/usage/key/cli", None, 200);
    assert_eq!(usage["rate_limits"][0]["tool_calls_limit"], 2, "{usage}");
}
