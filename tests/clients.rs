//! Real clients end to end: the official Anthropic Python SDK and Claude Code itself, pinned and
//! installed by tests/clients/setup.sh, work through sluice exactly as they do directly.

mod support;

use serde_json::Value;

use support::audit::{assert_verifies, audit_records, audit_text, audit_toml, sha256_hex};
use support::clients;
use support::fixtures;
use support::temp::token;
use support::{Gateway, MockUpstream, TempDir};

/// `value` without object members whose value is null (the SDK's models add optional fields).
fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

fn assert_sdk_saw_the_fixture(result: &Value) {
    let final_message = &result["stream_final"];
    let content = final_message["content"].as_array().expect("content");
    let kinds: Vec<&str> = content
        .iter()
        .map(|b| b["type"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(kinds, ["thinking", "text", "tool_use", "tool_use"]);
    assert!(
        content[0]["signature"]
            .as_str()
            .is_some_and(|s| s.len() > 40)
    );
    assert_eq!(content[2]["input"], fixtures::tool_1_input());
    assert_eq!(content[3]["input"], fixtures::tool_2_input());
    assert_eq!(final_message["stop_reason"], "tool_use");
    assert_eq!(final_message["usage"]["output_tokens"], 412);
    let message: Value = serde_json::from_str(&fixtures::message_json()).unwrap();
    assert_eq!(
        without_nulls(&final_message["content"]),
        message["content"],
        "the stream accumulates to the same message as the non-streaming fixture"
    );
    assert_eq!(
        without_nulls(&result["create"]["content"]),
        message["content"]
    );
    assert_eq!(result["count_tokens"]["input_tokens"], 2095);
}

#[test]
fn python_sdk_stream_through_sluice_equals_direct() {
    let mock = MockUpstream::start(fixtures::anthropic_handler);
    let direct = clients::run_python_sdk(&mock.base_url());
    assert_sdk_saw_the_fixture(&direct);
    let gateway = Gateway::start(&mock.base_url(), None, &[]);
    let through = clients::run_python_sdk(&format!("http://{}", gateway.addr));
    assert_eq!(
        through, direct,
        "the SDK's view through sluice equals its view direct"
    );
    let requests = mock.requests();
    let streamed: Vec<_> = requests
        .iter()
        .filter(|r| r.path() == "/v1/messages")
        .collect();
    assert_eq!(
        streamed.len(),
        4,
        "two message calls direct, two through sluice"
    );
    assert_eq!(
        streamed[0].body, streamed[2].body,
        "the SDK's request body arrives unchanged"
    );
}

/// Runs Claude Code against `base_url` (the mock or sluice in front of it) and checks that the
/// Bash tool really ran and the final answer came back.
fn claude_code_round_trip(through_sluice: bool) {
    let token = token();
    let home = TempDir::new("claude-home");
    let work = TempDir::new("claude-work");
    let marker = work.join("sluice-marker.txt");
    let mock = MockUpstream::start(clients::claude_code_handler(token.clone(), marker.clone()));
    let gateway = through_sluice.then(|| Gateway::start(&mock.base_url(), None, &[]));
    let base_url = match &gateway {
        Some(gateway) => format!("http://{}", gateway.addr),
        None => mock.base_url(),
    };
    let output = clients::run_claude(&base_url, home.path(), work.path(), &token);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let seen: Vec<String> = mock
        .requests()
        .iter()
        .map(|r| {
            format!(
                "{} {} {}",
                r.method,
                r.target,
                String::from_utf8_lossy(&r.body)
                    .chars()
                    .take(200)
                    .collect::<String>()
            )
        })
        .collect();
    let context = format!(
        "status {}\nstdout: {stdout}\nstderr: {}\nupstream saw:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        seen.join("\n")
    );
    clients::assert_bash_scenario(&output, &stdout, &marker, &token, &context);
    let turns: Vec<_> = mock
        .requests()
        .into_iter()
        .filter(|r| r.path() == "/v1/messages")
        .collect();
    assert!(
        turns.len() >= 2,
        "a tool-use turn and a tool-result turn: {context}"
    );
    for turn in &turns {
        assert_eq!(
            turn.header_str("x-api-key").as_deref(),
            Some("test-key"),
            "{context}"
        );
        assert!(
            turn.header_str("user-agent")
                .is_some_and(|ua| ua.starts_with("claude-cli/")),
            "Claude Code's own headers reach the upstream: {context}"
        );
    }
    if let Some(gateway) = &gateway {
        let logged = gateway
            .access_log()
            .iter()
            .filter(|line| {
                line["path"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("/v1/messages"))
            })
            .count();
        assert!(
            logged >= turns.len(),
            "every model call went through sluice: {context}"
        );
    }
}

#[test]
fn claude_code_runs_a_bash_tool_directly_against_the_mock() {
    claude_code_round_trip(false);
}

#[test]
fn claude_code_runs_a_bash_tool_through_sluice() {
    claude_code_round_trip(true);
}

/// A Claude Code session through sluice with `[audit]` on: the model's Bash call is recorded
/// with the command as its input, the turn that carries the tool's output records its digest,
/// the chain verifies, and the client's API key appears nowhere.
#[test]
fn claude_code_session_leaves_a_verifiable_audit_trail() {
    let token = token();
    let home = TempDir::new("claude-home");
    let work = TempDir::new("claude-work");
    let state = TempDir::new("claude-audit");
    let audit_dir = state.join("audit");
    let marker = work.join("sluice-marker.txt");
    let mock = MockUpstream::start(clients::claude_code_handler(token.clone(), marker.clone()));
    let mut toml = support::gateway::config_toml(&mock.base_url(), None, &[]);
    toml.push_str(&audit_toml(&audit_dir, "\"always\""));
    let mut gateway = Gateway::start_config(&toml);
    let output = clients::run_claude(
        &format!("http://{}", gateway.addr),
        home.path(),
        work.path(),
        &token,
    );
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "claude failed: {stderr}");
    gateway.sigterm();
    assert!(gateway.wait_exit(support::EVENTUALLY).is_some());
    assert_verifies(&audit_dir);

    let records = audit_records(&audit_dir);
    let calls: Vec<&Value> = records
        .iter()
        .flat_map(|r| r["tool_calls"].as_array().into_iter().flatten())
        .collect();
    let bash = calls
        .iter()
        .find(|c| c["name"] == "Bash")
        .unwrap_or_else(|| panic!("no Bash call recorded: {records:?}"));
    let command = bash["input"]["value"]["command"].as_str().unwrap();
    assert_eq!(
        command,
        format!(
            "echo sluice-ok-{token} > {} && cat {}",
            marker.display(),
            marker.display()
        )
    );
    // The tool's output as Claude Code sent it back (read from the upstream's copy).
    let sent_back = mock
        .requests()
        .iter()
        .filter_map(|r| r.json())
        .flat_map(|body| body["messages"].as_array().cloned().unwrap_or_default())
        .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default())
        .find(|b| b["type"] == "tool_result" && b["tool_use_id"] == bash["id"])
        .expect("Claude Code sent the tool result");
    let content = match &sent_back["content"] {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    assert!(content.contains(&format!("sluice-ok-{token}")), "{content}");
    let result = records
        .iter()
        .flat_map(|r| r["tool_results"].as_array().into_iter().flatten())
        .find(|r| r["tool_use_id"] == bash["id"])
        .unwrap_or_else(|| panic!("no tool result recorded: {records:?}"));
    assert_eq!(result["content"]["sha256"], sha256_hex(&content));
    assert_eq!(result["content"]["bytes"], content.len());
    let everything = gateway.stderr() + &audit_text(&audit_dir);
    assert!(
        !everything.contains("test-key"),
        "the client's API key leaked"
    );
}
