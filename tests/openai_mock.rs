//! The OpenAI-format mock upstream itself, over real sockets: each flavor's addressing and
//! credential header, streamed scripts cut at awkward offsets decoding back to their chunks
//! (and translating into the Anthropic events they stand for), whole completions, errors with
//! retry-after, malformed and cut streams, and the recording of what it received.

mod support;

use std::time::Duration;

use serde_json::json;
use sluice::providers::anthropic::AnthropicObserver;
use sluice::providers::openai::{StreamTranslator, ToolNameMap};
use sluice::sse::SseParser;
use support::RawClient;
use support::openai_mock::{
    self, Flavor, OpenAiMock, OpenAiReply, StreamScript, completion_json, error_json,
};

fn post(
    mock: &OpenAiMock,
    target: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> support::Response {
    let mut client = RawClient::connect(mock.upstream().addr());
    let mut all = vec![("host", "mock"), ("content-type", "application/json")];
    all.extend_from_slice(headers);
    client.request("POST", target, &all, body.as_bytes())
}

fn tool_script() -> StreamScript {
    let args = r#"{"command":"echo \"héllo\" 日本 \\ done"}"#;
    let mut payloads = vec![
        openai_mock::role_chunk(),
        openai_mock::text_chunk("Running."),
    ];
    payloads.extend(openai_mock::tool_call_chunks(0, "call_a", "Bash", args, 5));
    payloads.extend(openai_mock::tool_call_chunks(
        1,
        "call_b",
        "Read",
        r#"{"path":"a.rs"}"#,
        2,
    ));
    payloads.push(openai_mock::finish_chunk("tool_calls"));
    payloads.push(openai_mock::usage_chunk(120, 20, 33));
    StreamScript::new(payloads)
}

/// Translates a streamed body and reads it back as an Anthropic client would.
fn translated(body: &[u8]) -> sluice::observe::summary::ResponseSummary {
    let mut translator = StreamTranslator::new(ToolNameMap::new(), "m");
    let mut out = Vec::new();
    translator.feed(body, &mut out);
    translator.finish(&mut out);
    let mut observer = AnthropicObserver::new();
    SseParser::new().feed(&out, |e| observer.on_event(e));
    observer.into_summary()
}

#[test]
fn each_flavor_answers_its_own_path_and_records_the_request() {
    let flavors = [
        (Flavor::OpenAi, "/v1/chat/completions"),
        (Flavor::Groq, "/openai/v1/chat/completions"),
        (
            Flavor::Azure {
                api_version: "2024-10-21".into(),
            },
            "/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21",
        ),
    ];
    for (flavor, target) in flavors {
        let script = tool_script().split(&[7, 3, 1, 64], Duration::from_millis(1));
        let mock = OpenAiMock::start(flavor.clone(), vec![OpenAiReply::Stream(script)]);
        let body = r#"{"model":"mock-gpt","stream":true,"messages":[]}"#;
        let response = post(&mock, target, &[("authorization", "Bearer sk-test")], body);
        assert_eq!(response.status, 200, "{flavor:?}");
        assert!(response.complete);
        assert_eq!(response.body, tool_script().body(), "{flavor:?}");
        let summary = translated(&response.body);
        assert_eq!(summary.stop_reason.as_deref(), Some("tool_use"));
        assert_eq!(summary.tool_calls.len(), 2);
        let input: serde_json::Value =
            serde_json::from_str(&summary.tool_calls[0].input_json).unwrap();
        assert_eq!(input["command"], "echo \"héllo\" 日本 \\ done");
        assert_eq!(summary.usage.input_tokens, 100);
        let recorded = mock.wait_requests(1, support::EVENTUALLY);
        assert_eq!(recorded[0].body, body.as_bytes());
        assert_eq!(
            recorded[0].header_str("authorization").as_deref(),
            Some("Bearer sk-test")
        );
        assert!(mock.base_url().ends_with(flavor.base_path()));
        let wrong = post(&mock, "/v1/messages", &[], body);
        assert_eq!(wrong.status, 404);
        assert_eq!(wrong.json()["error"]["type"], "invalid_request_error");
    }
}

#[test]
fn azure_needs_its_api_version_and_key_header() {
    let flavor = Flavor::Azure {
        api_version: "2024-10-21".into(),
    };
    let script = StreamScript::new(vec![
        openai_mock::text_chunk("hi"),
        openai_mock::finish_chunk("stop"),
    ])
    .azure_first();
    let mock =
        OpenAiMock::start_with_key(flavor, Some("az-key"), vec![OpenAiReply::Stream(script)]);
    let path = "/openai/deployments/d/chat/completions";
    assert_eq!(
        post(&mock, path, &[("api-key", "az-key")], "{}").status,
        404
    );
    let versioned = format!("{path}?api-version=2024-10-21");
    let wrong_key = post(&mock, &versioned, &[("api-key", "other")], "{}");
    assert_eq!(wrong_key.status, 401);
    assert_eq!(wrong_key.json()["error"]["code"], "invalid_api_key");
    let ok = post(&mock, &versioned, &[("api-key", "az-key")], "{}");
    assert_eq!(ok.status, 200);
    assert!(ok.text().starts_with("data: {\"choices\":[]"));
    let summary = translated(&ok.body);
    assert!(summary.saw_message_stop);
    assert_eq!(summary.model.as_deref(), Some(openai_mock::MOCK_MODEL));
}

#[test]
fn the_script_plays_in_order_and_the_last_reply_repeats() {
    let completion = completion_json(
        None,
        &[("call_1", "Bash", r#"{"command":"ls"}"#)],
        "tool_calls",
        openai_mock::usage(10, 0, 5),
    );
    let mock = OpenAiMock::start(
        Flavor::OpenAi,
        vec![
            OpenAiReply::Error {
                status: 429,
                body: error_json(
                    "Rate limit reached",
                    "requests",
                    Some("rate_limit_exceeded"),
                ),
                retry_after: Some("7".into()),
            },
            OpenAiReply::Json(completion.clone()),
        ],
    );
    let path = "/v1/chat/completions";
    let limited = post(&mock, path, &[], "{}");
    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("retry-after").as_deref(), Some("7"));
    assert_eq!(limited.json()["error"]["message"], "Rate limit reached");
    for _ in 0..2 {
        let whole = post(&mock, path, &[], "{}");
        assert_eq!(whole.status, 200);
        assert_eq!(whole.json(), completion);
    }
    assert_eq!(mock.requests().len(), 3);
}

#[test]
fn malformed_and_cut_streams_fail_the_translation() {
    let malformed = tool_script().malformed_at(3);
    let cut = tool_script().cut_after(4);
    let mock = OpenAiMock::start(
        Flavor::Groq,
        vec![OpenAiReply::Stream(malformed), OpenAiReply::Stream(cut)],
    );
    let path = "/openai/v1/chat/completions";
    let bad = post(&mock, path, &[], "{}");
    assert!(bad.complete);
    assert!(
        bad.text()
            .ends_with(&format!("data: {}\n\n", openai_mock::MALFORMED_CHUNK))
    );
    assert_eq!(
        translated(&bad.body).error_type.as_deref(),
        Some("api_error")
    );
    let cut = post(&mock, path, &[], "{}");
    assert!(!cut.complete, "the body ends without its last chunk");
    let summary = translated(&cut.body);
    assert!(!summary.saw_message_stop);
    assert_eq!(summary.error_type.as_deref(), Some("api_error"));
}

#[test]
fn a_mid_stream_error_chunk_is_sent_as_scripted() {
    let script = StreamScript::new(vec![
        openai_mock::text_chunk("partial"),
        openai_mock::stream_error_chunk("The server had an error", "server_error"),
    ]);
    let mock = OpenAiMock::start(Flavor::OpenAi, vec![OpenAiReply::Stream(script)]);
    let response = post(&mock, "/v1/chat/completions", &[], &json!({}).to_string());
    let summary = translated(&response.body);
    assert_eq!(summary.error_type.as_deref(), Some("api_error"));
    assert!(summary.first_token_seen);
}
