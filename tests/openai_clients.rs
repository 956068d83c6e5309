//! Real clients to a model on an OpenAI-format provider through sluice: Claude Code (pinned)
//! runs a Bash tool the OpenAI mock asks for and gets the answer after the tool result; the
//! Anthropic Python SDK's accumulated streamed message holds the mock's tool calls, stop reason
//! and usage. The client's own key never reaches the OpenAI mock.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::claude_openai::claude_code_openai_handler;
use support::clients;
use support::gateway::config_toml;
use support::openai_mock::{
    Flavor, OpenAiMock, OpenAiReply, StreamScript, finish_chunk, role_chunk, text_chunk,
    tool_call_chunks, usage_chunk,
};
use support::temp::token;
use support::{Gateway, MockUpstream, TempDir};

const UPSTREAM_KEY: &str = "sk-openai-upstream-OWN-5150";

fn gateway_for(anthropic: &str, openai_base: &str) -> Gateway {
    let mut toml = config_toml(anthropic, None, &[]);
    toml.push_str(&format!(
        "\n[[providers]]\nname = \"openai\"\nkind = \"openai\"\nbase_url = \"{openai_base}\"\n\
         keys = [{{ secret = \"{UPSTREAM_KEY}\" }}]\n"
    ));
    Gateway::start_config(&toml)
}

#[test]
fn claude_code_runs_a_bash_tool_on_an_openai_model_through_sluice() {
    let token = token();
    let home = TempDir::new("claude-home");
    let work = TempDir::new("claude-work");
    let marker = work.join("sluice-marker.txt");
    let openai = MockUpstream::start(claude_code_openai_handler(
        token.clone(),
        marker.clone(),
        UPSTREAM_KEY.to_owned(),
    ));
    // Whatever Claude Code still asks Anthropic for (model lists, probes) gets the usual mock.
    let anthropic = MockUpstream::start(clients::claude_code_handler(
        token.clone(),
        work.join("unused.txt"),
    ));
    let gateway = gateway_for(&anthropic.base_url(), &format!("{}/v1", openai.base_url()));
    let model = "openai/mock-gpt";
    let output = clients::run_claude_with_vars(
        &format!("http://{}", gateway.addr),
        home.path(),
        work.path(),
        &token,
        &[
            ("ANTHROPIC_MODEL", model),
            ("ANTHROPIC_DEFAULT_HAIKU_MODEL", model),
            ("ANTHROPIC_DEFAULT_SONNET_MODEL", model),
            ("ANTHROPIC_SMALL_FAST_MODEL", model),
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let seen: Vec<String> = openai
        .requests()
        .iter()
        .map(|r| {
            let body: String = String::from_utf8_lossy(&r.body).chars().take(300).collect();
            format!("{} {} {body}", r.method, r.target)
        })
        .collect();
    let context = format!(
        "status {}\nstdout: {stdout}\nstderr: {}\nopenai mock saw:\n{}\nsluice:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        seen.join("\n"),
        gateway.stderr()
    );
    assert!(output.status.success(), "claude failed: {context}");
    let written = std::fs::read_to_string(&marker).unwrap_or_default();
    assert_eq!(
        written.trim(),
        format!("sluice-ok-{token}"),
        "the Bash tool ran: {context}"
    );
    let result: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("claude printed no JSON ({e}): {context}"));
    assert_eq!(result["is_error"], false, "{context}");
    assert_eq!(
        result["result"].as_str().map(str::trim),
        Some(format!("done: sluice-ok-{token}").as_str()),
        "the answer after the tool result comes back: {context}"
    );
    let turns = openai.requests();
    assert!(
        turns.len() >= 2,
        "a tool-call turn and a tool-result turn: {context}"
    );
    assert!(
        turns
            .iter()
            .any(|t| String::from_utf8_lossy(&t.body).contains("\"role\":\"tool\"")),
        "the tool result went back as a tool message: {context}"
    );
    for turn in &turns {
        let head = String::from_utf8_lossy(&turn.head);
        assert!(
            !head.contains("test-key"),
            "the client's key reached the OpenAI mock"
        );
        assert!(turn.header_str("x-api-key").is_none());
    }
}

#[test]
fn anthropic_sdk_streams_openai_tool_calls_through_sluice() {
    let first = r#"{"file_path":"héllo.txt","content":"line \"one\"\n日本語 ✓"}"#;
    let second = r#"{"command":"ls -la"}"#;
    let mut payloads = vec![role_chunk(), text_chunk("Writing it. ")];
    payloads.extend(tool_call_chunks(0, "call_w", "Write", first, 7));
    payloads.extend(tool_call_chunks(1, "call_b", "Bash", second, 3));
    payloads.push(finish_chunk("tool_calls"));
    payloads.push(usage_chunk(321, 21, 45));
    let script = StreamScript::new(payloads).split(&[3, 1, 8, 2, 21], Duration::ZERO);
    let mock = OpenAiMock::start_with_key(
        Flavor::OpenAi,
        Some(UPSTREAM_KEY),
        vec![OpenAiReply::Stream(script)],
    );
    let gateway = gateway_for(&support::gateway::closed_port_url(), &mock.base_url());
    let client_key = "sk-ant-sdk-client-OWN-8080";
    let result = clients::run_python_sdk_tools(
        &format!("http://{}", gateway.addr),
        "openai/gpt-5",
        client_key,
    );
    let final_message = &result["final"];
    let content = final_message["content"].as_array().expect("content");
    let kinds: Vec<&str> = content
        .iter()
        .map(|b| b["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["text", "tool_use", "tool_use"], "{result}");
    assert_eq!(content[0]["text"], "Writing it. ");
    assert_eq!(
        (content[1]["id"].as_str(), content[1]["name"].as_str()),
        (Some("call_w"), Some("Write"))
    );
    assert_eq!(
        content[1]["input"],
        serde_json::from_str::<Value>(first).unwrap()
    );
    assert_eq!(content[2]["name"], "Bash");
    assert_eq!(content[2]["input"], json!({"command": "ls -la"}));
    assert_eq!(final_message["stop_reason"], "tool_use");
    assert_eq!(final_message["usage"]["input_tokens"], 300);
    assert_eq!(final_message["usage"]["cache_read_input_tokens"], 21);
    assert_eq!(final_message["usage"]["output_tokens"], 45);
    let requests = mock.wait_requests(1, support::EVENTUALLY);
    assert_eq!(requests.len(), 1);
    let head = String::from_utf8_lossy(&requests[0].head);
    assert!(
        !head.contains(client_key),
        "the client's key reached the OpenAI mock:\n{head}"
    );
    let sent: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(sent["model"], "gpt-5");
    assert_eq!(sent["stream_options"]["include_usage"], true);
}
