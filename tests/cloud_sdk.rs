//! The official `anthropic` Python SDK through sluice to a Bedrock mock sees the same streamed
//! thinking + tool_use message, the same events and the same non-streamed message as through
//! sluice to an Anthropic mock: the Bedrock mock sends the Anthropic mock's events as
//! event-stream `chunk` frames.

mod support;

use serde_json::Value;
use sluice::providers::bedrock::eventstream::encode_chunk;
use support::gateway::config_toml;
use support::{Gateway, MockUpstream, Reply, clients, fixtures};

/// The Anthropic fixture stream's events, each as one Bedrock `chunk` frame.
fn bedrock_frames() -> Vec<u8> {
    let sse = String::from_utf8(fixtures::stream_body()).expect("utf-8");
    let mut frames = Vec::new();
    for line in sse.lines() {
        if let Some(data) = line.strip_prefix("data: ") {
            encode_chunk(data.as_bytes(), &mut frames);
        }
    }
    frames
}

fn bedrock_handler(request: &support::Recorded) -> Reply {
    if request.path().ends_with("/invoke-with-response-stream") {
        Reply::full(
            200,
            &[("content-type", "application/vnd.amazon.eventstream")],
            &bedrock_frames(),
        )
    } else if request.path().ends_with("/invoke") {
        Reply::json(200, &fixtures::message_json())
    } else {
        Reply::full(
            404,
            &[("content-type", "application/json")],
            b"{\"message\":\"unknown\"}",
        )
    }
}

/// What the SDK saw, without the token count (Bedrock's is sluice's estimate).
fn messages_view(mut view: Value) -> Value {
    view.as_object_mut().expect("object").remove("count_tokens");
    view
}

#[test]
fn python_sdk_through_sluice_to_bedrock_equals_through_sluice_to_anthropic() {
    let anthropic = MockUpstream::start(fixtures::anthropic_handler);
    let direct_gateway = Gateway::start(&anthropic.base_url(), None, &[]);
    let via_anthropic = clients::run_python_sdk(&format!("http://{}", direct_gateway.addr));

    let bedrock = MockUpstream::start(bedrock_handler);
    let mut toml = config_toml(&anthropic.base_url(), None, &[]);
    toml.push_str(&format!(
        "\n[[providers]]\nname = \"bedrock\"\nkind = \"bedrock\"\nregion = \"us-east-1\"\nbase_url = \"{}\"\naws_access_key_id = \"AKIDSLUICE\"\naws_secret_access_key = \"sluice/secret+key\"\nmodel_map = {{ \"claude-*\" = \"us.anthropic.claude-sonnet-4-5-20250929-v1:0\" }}\n\n[[routes]]\nmatch = \"claude-*\"\ntargets = [\"bedrock\"]\n",
        bedrock.base_url()
    ));
    let cloud_gateway = Gateway::start_config(&toml);
    let via_bedrock = clients::run_python_sdk(&format!("http://{}", cloud_gateway.addr));

    assert!(
        via_anthropic["event_types"]
            .as_array()
            .is_some_and(|t| t.len() > 5),
        "{via_anthropic}"
    );
    assert_eq!(
        messages_view(via_bedrock.clone()),
        messages_view(via_anthropic)
    );
    assert!(
        via_bedrock["count_tokens"]["input_tokens"]
            .as_u64()
            .is_some_and(|n| n > 0)
    );
    let paths: Vec<String> = bedrock
        .requests()
        .iter()
        .map(|r| r.path().to_owned())
        .collect();
    assert_eq!(
        paths,
        [
            "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke-with-response-stream",
            "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke",
        ]
    );
}
