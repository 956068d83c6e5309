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

/// Vertex's rawPredict family, answering with the Anthropic mock's own bodies (Vertex speaks
/// Anthropic's format inside its envelope); refuses a body that still names `model` or lacks
/// Vertex's `anthropic_version`, and an unauthenticated call.
fn vertex_handler(request: &support::Recorded) -> Reply {
    let path = request.path();
    let base = "/v1/projects/my-proj/locations/us-east5/publishers/anthropic/models/";
    let body = request.json().unwrap_or_default();
    let authorized = request.header_str("authorization").as_deref() == Some("Bearer ya29.static");
    if !path.starts_with(base) || !authorized || body["anthropic_version"] != "vertex-2023-10-16" {
        return Reply::json(400, r#"{"error":{"code":400,"status":"INVALID_ARGUMENT"}}"#);
    }
    match &path[base.len()..] {
        "count-tokens:rawPredict" if body["model"] == "claude-sonnet-4-5@20250929" => {
            Reply::json(200, fixtures::COUNT_TOKENS_JSON)
        }
        "claude-sonnet-4-5@20250929:streamRawPredict" if body.get("model").is_none() => {
            fixtures::stream_reply(&[64])
        }
        "claude-sonnet-4-5@20250929:rawPredict" if body.get("model").is_none() => {
            Reply::json(200, &fixtures::message_json())
        }
        _ => Reply::json(404, r#"{"error":{"code":404,"status":"NOT_FOUND"}}"#),
    }
}

#[test]
fn python_sdk_through_sluice_to_vertex_equals_through_sluice_to_anthropic() {
    let anthropic = MockUpstream::start(fixtures::anthropic_handler);
    let direct_gateway = Gateway::start(&anthropic.base_url(), None, &[]);
    let via_anthropic = clients::run_python_sdk(&format!("http://{}", direct_gateway.addr));

    let vertex = MockUpstream::start(vertex_handler);
    let mut toml = config_toml(&anthropic.base_url(), None, &[]);
    toml.push_str(&format!(
        "\n[[providers]]\nname = \"vertex\"\nkind = \"vertex\"\nproject = \"my-proj\"\nlocation = \"us-east5\"\nbase_url = \"{}/v1\"\nkeys = [{{ secret = \"ya29.static\" }}]\nmodel_map = {{ \"claude-*\" = \"claude-sonnet-4-5@20250929\" }}\n\n[[routes]]\nmatch = \"claude-*\"\ntargets = [\"vertex\"]\n",
        vertex.base_url()
    ));
    let cloud_gateway = Gateway::start_config(&toml);
    let via_vertex = clients::run_python_sdk(&format!("http://{}", cloud_gateway.addr));

    assert!(
        via_anthropic["event_types"]
            .as_array()
            .is_some_and(|t| t.len() > 5),
        "{via_anthropic}"
    );
    // count_tokens included: Vertex serves it.
    assert_eq!(via_vertex, via_anthropic);
    let paths: Vec<String> = vertex
        .requests()
        .iter()
        .map(|r| r.path().rsplit('/').next().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        paths,
        [
            "claude-sonnet-4-5@20250929:streamRawPredict",
            "claude-sonnet-4-5@20250929:rawPredict",
            "count-tokens:rawPredict",
        ]
    );
}
