//! The rest of an OpenAI-format provider's surface through the real gateway: count_tokens is
//! answered by sluice with its stated estimate (the provider has no such endpoint), routes the
//! provider cannot serve and bodies that cannot be translated get Anthropic-format errors, and
//! a translated stream is kept alive with pings while the upstream is silent.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::gateway::{closed_port_url, config_toml};
use support::openai_mock::{
    Flavor, OpenAiMock, OpenAiReply, StreamScript, finish_chunk, role_chunk, text_chunk,
    usage_chunk,
};
use support::sse::parse_events;
use support::{Gateway, Response};

const UPSTREAM_KEY: &str = "gsk-upstream-OWN-1234";

fn groq_gateway(mock: &OpenAiMock, server: &[(&str, &str)]) -> Gateway {
    let mut toml = config_toml(&closed_port_url(), None, server);
    toml.push_str(&format!(
        "\n[[providers]]\nname = \"groq\"\nkind = \"openai_compatible\"\nbase_url = \"{}\"\n\
         keys = [{{ secret = \"{UPSTREAM_KEY}\" }}]\n\
         model_map = {{ \"claude-*-haiku-*\" = \"llama-3.3-70b-versatile\" }}\n",
        mock.base_url()
    ));
    Gateway::start_config(&toml)
}

fn post(gateway: &Gateway, path: &str, body: &Value) -> Response {
    gateway.client().request(
        "POST",
        path,
        &[
            ("content-type", "application/json"),
            ("x-api-key", "sk-ant-client"),
        ],
        body.to_string().as_bytes(),
    )
}

fn text_reply() -> OpenAiReply {
    OpenAiReply::Stream(StreamScript::new(vec![
        role_chunk(),
        text_chunk("hi"),
        finish_chunk("stop"),
        usage_chunk(3, 0, 1),
    ]))
}

#[test]
fn count_tokens_is_answered_locally_with_the_stated_estimate() {
    let mock = OpenAiMock::start(Flavor::Groq, vec![text_reply()]);
    let gateway = groq_gateway(&mock, &[]);
    // 8 bytes of system text + 40 of user text = 48 bytes → 12 tokens; one image → 1,600.
    let body = json!({"model": "groq/claude-3-5-haiku-20241022",
        "system": "be brief",
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "0123456789012345678901234567890123456789"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                "data": "iVBORw0KGgo="}}]}]});
    let response = post(&gateway, "/v1/messages/count_tokens", &body);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json(), json!({"input_tokens": 12 + 1600}));
    assert!(mock.requests().is_empty(), "the provider was not asked");
}

#[test]
fn a_route_the_provider_cannot_serve_and_an_untranslatable_body_are_refused() {
    let mock = OpenAiMock::start(Flavor::Groq, vec![text_reply()]);
    let gateway = groq_gateway(&mock, &[]);
    let response = post(
        &gateway,
        "/v1/messages",
        &json!({"model": "groq/llama", "max_tokens": 5}),
    );
    assert_eq!(response.status, 400, "{}", response.text());
    assert_eq!(response.error_type(), "invalid_request_error");
    assert!(response.text().contains("messages"));
    let models = gateway.client().request(
        "GET",
        "/v1/models/groq/llama",
        &[("x-api-key", "sk-ant-client")],
        b"",
    );
    assert!(models.status >= 400, "{}", models.text());
    assert!(mock.requests().is_empty(), "nothing went upstream");
    // The gateway still serves.
    let ok = post(
        &gateway,
        "/v1/messages",
        &json!({"model": "groq/claude-3-5-haiku-1", "max_tokens": 5, "stream": true,
            "messages": [{"role": "user", "content": "hi"}]}),
    );
    assert_eq!(ok.status, 200, "{}", ok.text());
    let sent: Value = serde_json::from_slice(&mock.requests()[0].body).unwrap();
    assert_eq!(
        sent["model"], "llama-3.3-70b-versatile",
        "model_map glob applied"
    );
    assert_eq!(sent["max_tokens"], 5, "Groq takes max_tokens");
}

#[test]
fn a_silent_translated_stream_is_kept_alive_with_pings() {
    // Each of the five writes is followed by 300 ms of silence; pings go every 50 ms.
    let script = StreamScript::new(vec![
        role_chunk(),
        text_chunk("slow "),
        text_chunk("answer"),
        finish_chunk("stop"),
        usage_chunk(3, 0, 2),
    ])
    .split(&[60], Duration::from_millis(300));
    let mock = OpenAiMock::start(Flavor::Groq, vec![OpenAiReply::Stream(script)]);
    let gateway = groq_gateway(&mock, &[("stream_ping_ms", "50")]);
    let response = post(
        &gateway,
        "/v1/messages",
        &json!({"model": "groq/llama", "max_tokens": 5, "stream": true,
            "messages": [{"role": "user", "content": "hi"}]}),
    );
    assert_eq!(response.status, 200);
    let events = parse_events(&response.body);
    assert!(events.iter().any(|e| e.name == "ping"), "{events:?}");
    assert_eq!(events.last().map(|e| e.name.as_str()), Some("message_stop"));
}
