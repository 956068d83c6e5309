//! Claude Code (the pinned CLI) through sluice to a `kind = "bedrock"` target: a mock Bedrock
//! Runtime answers InvokeModel(WithResponseStream) in its own envelope (SigV4-signed requests,
//! bodies without `model`/`stream`, the event stream framing), and the session's Bash tool call
//! runs and its result comes back as the final answer.

mod support;

use std::path::PathBuf;

use serde_json::json;
use sluice::providers::bedrock::eventstream::encode_chunk;
use support::clients::{self, bash_marker_input, claude_code_turn, message_json, sse_message};
use support::gateway::config_toml;
use support::temp::token;
use support::{Gateway, MockUpstream, Recorded, Reply, TempDir};

const MODEL_ID: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
const ENCODED_MODEL_ID: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1%3A0";

/// An Anthropic SSE stream re-framed as Bedrock sends it: each event's JSON in a `chunk` frame
/// (Bedrock sends no pings, so those are left out).
fn as_event_stream(sse: &[u8]) -> Vec<u8> {
    let mut frames = Vec::new();
    for line in String::from_utf8_lossy(sse).lines() {
        if let Some(data) = line.strip_prefix("data: ")
            && !data.contains(r#""type":"ping""#)
        {
            encode_chunk(data.as_bytes(), &mut frames);
        }
    }
    frames
}

fn bedrock_error(status: u16, error_type: &str, message: &str) -> Reply {
    Reply::full(
        status,
        &[
            ("content-type", "application/json"),
            ("x-amzn-errortype", error_type),
        ],
        json!({ "message": message }).to_string().as_bytes(),
    )
}

/// The Bedrock side of a Claude Code session: refuses what Bedrock would refuse (unsigned, a
/// body with `model` or `stream`, no `anthropic_version`), else answers as
/// [`claude_code_turn`] decides, streamed or not by the path.
fn bedrock_claude_code(token: String, marker: PathBuf) -> impl Fn(&Recorded) -> Reply {
    let input = bash_marker_input(&token, &marker);
    move |request: &Recorded| {
        let path = request.path();
        let Some(action) = path
            .strip_prefix("/model/")
            .and_then(|rest| rest.strip_prefix(ENCODED_MODEL_ID))
        else {
            return bedrock_error(404, "ResourceNotFoundException", "no such model");
        };
        let signed = request
            .header_str("authorization")
            .is_some_and(|a| a.starts_with("AWS4-HMAC-SHA256 Credential=AKIDCLAUDE/"));
        if request.method != "POST" || !signed || request.header("x-api-key").is_some() {
            return bedrock_error(403, "AccessDeniedException", "bad signature");
        }
        let Some(body) = request.json() else {
            return bedrock_error(400, "ValidationException", "body is not JSON");
        };
        if body.get("model").is_some()
            || body.get("stream").is_some()
            || body["anthropic_version"] != "bedrock-2023-05-31"
        {
            return bedrock_error(400, "ValidationException", "not a Bedrock body");
        }
        let (id, blocks, stop_reason) = claude_code_turn(&token, "Bash", &input, &body);
        match action {
            "/invoke-with-response-stream" => {
                let sse = sse_message(id, &blocks, stop_reason);
                Reply::full(
                    200,
                    &[("content-type", "application/vnd.amazon.eventstream")],
                    &as_event_stream(&sse),
                )
            }
            "/invoke" => Reply::json(200, &message_json(id, blocks, stop_reason).to_string()),
            _ => bedrock_error(404, "UnknownOperationException", "no such action"),
        }
    }
}

#[test]
fn claude_code_runs_a_bash_tool_through_sluice_to_bedrock() {
    let token = token();
    let home = TempDir::new("claude-bedrock-home");
    let work = TempDir::new("claude-bedrock-work");
    let marker = work.join("sluice-marker.txt");
    let bedrock = MockUpstream::start(bedrock_claude_code(token.clone(), marker.clone()));
    // The Anthropic provider is unreachable: every model call must go to Bedrock.
    let mut toml = config_toml(&support::gateway::closed_port_url(), None, &[]);
    toml.push_str(&format!(
        "\n[[providers]]\nname = \"bedrock\"\nkind = \"bedrock\"\nregion = \"us-east-1\"\nbase_url = \"{}\"\naws_access_key_id = \"AKIDCLAUDE\"\naws_secret_access_key = \"claude/secret\"\nmodel_map = {{ \"claude-*\" = \"{MODEL_ID}\" }}\n\n[[routes]]\nmatch = \"claude-*\"\ntargets = [\"bedrock\"]\n",
        bedrock.base_url()
    ));
    let gateway = Gateway::start_config(&toml);
    let base_url = format!("http://{}", gateway.addr);
    let output = clients::run_claude(&base_url, home.path(), work.path(), &token);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let seen: Vec<String> = bedrock
        .requests()
        .iter()
        .map(|r| {
            let body: String = String::from_utf8_lossy(&r.body).chars().take(200).collect();
            format!("{} {} {body}", r.method, r.target)
        })
        .collect();
    let context = format!(
        "status {}\nstdout: {stdout}\nstderr: {}\nbedrock saw:\n{}\nsluice stderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        seen.join("\n"),
        gateway.stderr()
    );
    clients::assert_bash_scenario(&output, &stdout, &marker, &token, &context);
    let streamed = bedrock
        .requests()
        .into_iter()
        .filter(|r| r.path().ends_with("/invoke-with-response-stream"))
        .count();
    assert!(
        streamed >= 2,
        "a tool-use turn and a tool-result turn, streamed: {context}"
    );
}
