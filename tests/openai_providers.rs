//! The OpenAI-format provider kinds end to end: the real gateway between a raw Anthropic client
//! and the OpenAI-format mock, for every kind (`openai`, `openai_compatible` as Groq,
//! `azure_openai`) × every behaviour Claude Code relies on, in one conformance matrix. Every
//! streamed reply is written in pieces of awkward sizes, so chunks, events and multi-byte
//! characters arrive cut. Every cell also checks credentials: the mock only answers the
//! provider's own key, and never sees the client's key or a virtual key.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::gateway::{closed_port_url, config_toml};
use support::governance::{key_toml, team_toml, worst_case_micro};
use support::openai_mock::{
    Flavor, OpenAiMock, OpenAiReply, StreamScript, completion_json, error_json, finish_chunk,
    reasoning_chunk, role_chunk, text_chunk, tool_call_chunks, usage, usage_chunk,
};
use support::sse::parse_events;
use support::{Gateway, Response, TempDir};

/// The provider's own upstream key: the only credential the mock accepts.
const UPSTREAM_KEY: &str = "sk-upstream-OWN-7731";
/// The client's own credential in passthrough mode: must never reach the mock.
const CLIENT_KEY: &str = "sk-ant-client-OWN-4411";
/// A virtual key: must never reach any upstream.
const VIRTUAL_KEY: &str = "sk-vk-matrix-9902";
/// Awkward write sizes: chunks, SSE lines and UTF-8 sequences all arrive cut.
const SPLITS: &[usize] = &[1, 2, 3, 5, 7, 11, 13, 17, 64];
/// The Azure deployment `model_map` sends `gpt-5*` to.
const DEPLOYMENT: &str = "dep-gpt5";

/// One provider kind under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    OpenAi,
    Groq,
    Azure,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::OpenAi => "openai",
            Kind::Groq => "groq",
            Kind::Azure => "azure",
        }
    }

    fn flavor(self) -> Flavor {
        match self {
            Kind::OpenAi => Flavor::OpenAi,
            Kind::Groq => Flavor::Groq,
            Kind::Azure => Flavor::Azure {
                api_version: "2024-10-21".to_owned(),
            },
        }
    }

    fn provider_toml(self, base_url: &str) -> String {
        let kind = match self {
            Kind::OpenAi => "openai",
            Kind::Groq => "openai_compatible",
            Kind::Azure => "azure_openai",
        };
        let mut toml = format!(
            "\n[[providers]]\nname = \"{}\"\nkind = \"{kind}\"\nbase_url = \"{base_url}\"\n\
             keys = [{{ secret = \"{UPSTREAM_KEY}\" }}]\n",
            self.name()
        );
        if self == Kind::Azure {
            toml.push_str(&format!(
                "api_version = \"2024-10-21\"\nmodel_map = {{ \"gpt-5*\" = \"{DEPLOYMENT}\" }}\n"
            ));
        }
        toml
    }

    /// The model a client asks for.
    fn model(self) -> String {
        format!("{}/gpt-5-mini", self.name())
    }
}

/// A gateway with the kind's provider (and an unreachable Anthropic one), governance in
/// passthrough mode with one virtual key, and a price for the kind's models.
struct Setup {
    kind: Kind,
    mock: OpenAiMock,
    gateway: Gateway,
    _state: TempDir,
}

fn setup(kind: Kind, script: Vec<OpenAiReply>) -> Setup {
    let script = script
        .into_iter()
        .map(|reply| match (kind, reply) {
            (Kind::Azure, OpenAiReply::Stream(s)) => OpenAiReply::Stream(s.azure_first()),
            (_, reply) => reply,
        })
        .collect();
    let mock = OpenAiMock::start_with_key(kind.flavor(), Some(UPSTREAM_KEY), script);
    let state = TempDir::new("openai-matrix");
    let mut toml = config_toml(&closed_port_url(), None, &[]);
    toml.push_str(&kind.provider_toml(&mock.base_url()));
    toml.push_str(&format!(
        "\n[governance]\nrequire_virtual_key = false\nstate_dir = \"{}\"\nbudget_mode = \"soft\"\n\
         \n[[pricing]]\nmodel = \"{}/*\"\ninput = 100.0\noutput = 10000.0\ncache_read = 100.0\n\
         cache_write = 100.0\n\n",
        state.path().display(),
        kind.name()
    ));
    toml.push_str(&team_toml("t", None, ""));
    toml.push_str(&key_toml("k", VIRTUAL_KEY, "t", ""));
    let gateway = Gateway::start_config(&toml);
    Setup {
        kind,
        mock,
        gateway,
        _state: state,
    }
}

impl Setup {
    /// POSTs an Anthropic Messages request; `virtual_key` chooses the credential.
    fn send(&self, body: &Value, virtual_key: bool) -> Response {
        let key = if virtual_key { VIRTUAL_KEY } else { CLIENT_KEY };
        let text = body.to_string();
        self.gateway.client().request(
            "POST",
            "/v1/messages",
            &[
                ("content-type", "application/json"),
                ("anthropic-version", "2023-06-01"),
                ("x-api-key", key),
            ],
            text.as_bytes(),
        )
    }

    fn body(&self, stream: bool) -> Value {
        json!({"model": self.kind.model(), "max_tokens": 20, "stream": stream,
            "messages": [{"role": "user", "content": "hi"}]})
    }

    /// What reached the mock: addressed as the kind expects, with the provider's key and
    /// neither of the client's credentials anywhere in the head. Returns the last body.
    fn upstream_body(&self) -> Value {
        let requests = self.mock.wait_requests(1, support::EVENTUALLY);
        for request in &requests {
            let flavor = self.kind.flavor();
            let deployment = flavor
                .accepts(request)
                .expect("addressed as the kind expects");
            if self.kind == Kind::Azure {
                assert_eq!(deployment, DEPLOYMENT, "model_map chose the deployment");
            }
            assert_eq!(flavor.presented_key(request).as_deref(), Some(UPSTREAM_KEY));
            let head = String::from_utf8_lossy(&request.head).to_string();
            for secret in [CLIENT_KEY, VIRTUAL_KEY] {
                assert!(
                    !head.contains(secret),
                    "{secret} reached the upstream:\n{head}"
                );
            }
            assert!(request.header_str("x-api-key").is_none());
        }
        let last = requests.last().unwrap();
        serde_json::from_slice(&last.body).expect("the upstream body is JSON")
    }
}

fn stream(payloads: Vec<String>) -> OpenAiReply {
    OpenAiReply::Stream(StreamScript::new(payloads).split(SPLITS, Duration::ZERO))
}

/// The events of a streamed answer, checked well-formed: message_start first, every block
/// started before its deltas and stopped before the next starts.
fn events(response: &Response) -> Vec<(String, Value)> {
    assert_eq!(response.status, 200, "{}", response.text());
    let events: Vec<(String, Value)> = parse_events(&response.body)
        .into_iter()
        .filter(|e| e.name != "ping")
        .map(|e| (e.name.clone(), e.json()))
        .collect();
    assert_eq!(events.first().map(|e| e.0.as_str()), Some("message_start"));
    let mut open: Option<u64> = None;
    for (name, data) in &events {
        let index = data["index"].as_u64();
        match name.as_str() {
            "content_block_start" => {
                assert!(open.is_none(), "a block opened inside another");
                open = index;
            }
            "content_block_delta" => assert_eq!(open, index, "delta outside its block"),
            "content_block_stop" => {
                assert_eq!(open, index);
                open = None;
            }
            _ => {}
        }
    }
    events
}

/// The blocks of a stream: (type, id, name, concatenated text/thinking/partial_json).
fn blocks(events: &[(String, Value)]) -> Vec<(String, String, String, String)> {
    let mut out: Vec<(String, String, String, String)> = Vec::new();
    for (name, data) in events {
        match name.as_str() {
            "content_block_start" => {
                let block = &data["content_block"];
                out.push((
                    block["type"].as_str().unwrap().to_owned(),
                    block["id"].as_str().unwrap_or("").to_owned(),
                    block["name"].as_str().unwrap_or("").to_owned(),
                    String::new(),
                ));
            }
            "content_block_delta" => {
                let delta = &data["delta"];
                let piece = ["text", "thinking", "partial_json"]
                    .iter()
                    .find_map(|f| delta[*f].as_str())
                    .unwrap_or("");
                out.last_mut().unwrap().3.push_str(piece);
            }
            _ => {}
        }
    }
    out
}

fn message_delta(events: &[(String, Value)]) -> Value {
    let (_, delta) = events
        .iter()
        .find(|(n, _)| n == "message_delta")
        .expect("a message_delta");
    delta.clone()
}

fn ends_with_message_stop(events: &[(String, Value)]) {
    assert_eq!(events.last().unwrap().0, "message_stop");
}

fn non_streaming(kind: Kind) {
    let reply = completion_json(Some("Hello wörld 👋"), &[], "stop", usage(20, 5, 7));
    let s = setup(kind, vec![OpenAiReply::Json(reply)]);
    let response = s.send(&s.body(false), false);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        response.header("content-type").as_deref(),
        Some("application/json")
    );
    let message = response.json();
    assert_eq!(message["type"], "message");
    assert_eq!(message["content"][0]["text"], "Hello wörld 👋");
    assert_eq!(message["stop_reason"], "end_turn");
    assert_eq!(message["usage"]["input_tokens"], 15);
    assert_eq!(message["usage"]["cache_read_input_tokens"], 5);
    assert_eq!(message["usage"]["output_tokens"], 7);
    let sent = s.upstream_body();
    assert_eq!(sent["messages"][0]["role"], "user");
    let expected_model = if kind == Kind::Azure {
        DEPLOYMENT
    } else {
        "gpt-5-mini"
    };
    assert_eq!(sent["model"], expected_model);
    assert!(sent.get("stream_options").is_none());
}

fn streaming_text(kind: Kind) {
    let s = setup(
        kind,
        vec![stream(vec![
            role_chunk(),
            text_chunk("Hel"),
            text_chunk("lo wörld 👋 日本"),
            finish_chunk("stop"),
            usage_chunk(20, 5, 7),
        ])],
    );
    let response = s.send(&s.body(true), false);
    let events = events(&response);
    let blocks = blocks(&events);
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].0, "text");
    assert_eq!(blocks[0].3, "Hello wörld 👋 日本");
    assert_eq!(message_delta(&events)["delta"]["stop_reason"], "end_turn");
    ends_with_message_stop(&events);
    let sent = s.upstream_body();
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["stream_options"]["include_usage"], true);
}

fn reasoning(kind: Kind) {
    let s = setup(
        kind,
        vec![stream(vec![
            role_chunk(),
            reasoning_chunk("Let me "),
            reasoning_chunk("think… ✓"),
            text_chunk("The answer is 4."),
            finish_chunk("stop"),
            usage_chunk(30, 0, 12),
        ])],
    );
    let response = s.send(&s.body(true), false);
    let events = events(&response);
    let blocks = blocks(&events);
    let kinds: Vec<&str> = blocks.iter().map(|b| b.0.as_str()).collect();
    assert_eq!(kinds, ["thinking", "text"]);
    assert_eq!(blocks[0].3, "Let me think… ✓");
    assert_eq!(blocks[1].3, "The answer is 4.");
    ends_with_message_stop(&events);
    s.upstream_body();
}

fn tool_stream(calls: &[(&str, &str, &str, usize)]) -> OpenAiReply {
    let mut payloads = vec![role_chunk()];
    for (index, (id, name, arguments, pieces)) in calls.iter().enumerate() {
        payloads.extend(tool_call_chunks(index as u64, id, name, arguments, *pieces));
    }
    payloads.push(finish_chunk("tool_calls"));
    payloads.push(usage_chunk(40, 0, 9));
    stream(payloads)
}

fn tools_body(kind: Kind) -> Value {
    json!({"model": kind.model(), "max_tokens": 200, "stream": true,
        "tools": [{"name": "Bash", "description": "Run a command",
            "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}}},
            {"name": "Write", "input_schema": {"type": "object"}}],
        "messages": [{"role": "user", "content": "do it"}]})
}

fn one_tool_call(kind: Kind) {
    let arguments = r#"{"command":"ls -la /tmp"}"#;
    let s = setup(kind, vec![tool_stream(&[("call_1", "Bash", arguments, 4)])]);
    let response = s.send(&tools_body(kind), false);
    let events = events(&response);
    let blocks = blocks(&events);
    assert_eq!(blocks.len(), 1);
    assert_eq!(
        (
            blocks[0].0.as_str(),
            blocks[0].1.as_str(),
            blocks[0].2.as_str()
        ),
        ("tool_use", "call_1", "Bash")
    );
    let input: Value = serde_json::from_str(&blocks[0].3).unwrap();
    assert_eq!(input, json!({"command": "ls -la /tmp"}));
    assert_eq!(message_delta(&events)["delta"]["stop_reason"], "tool_use");
    ends_with_message_stop(&events);
    let sent = s.upstream_body();
    assert_eq!(sent["tools"][0]["function"]["name"], "Bash");
    assert_eq!(sent["tools"][0]["type"], "function");
}

fn parallel_tool_calls(kind: Kind) {
    let first = r#"{"path":"a \"quoted\" \\ dir/ñ.txt","content":"héllo ✓ 日本語\n\ttab 👋"}"#;
    let second = r#"{"command":"printf '%s\\n' \"x\" | wc -c","u":"\u00e9\ud83d\ude00"}"#;
    let s = setup(
        kind,
        vec![tool_stream(&[
            ("call_a", "Write", first, 9),
            ("call_b", "Bash", second, 7),
        ])],
    );
    let response = s.send(&tools_body(kind), false);
    let events = events(&response);
    let blocks = blocks(&events);
    assert_eq!(blocks.len(), 2, "{blocks:?}");
    for (block, (id, name, arguments)) in blocks
        .iter()
        .zip([("call_a", "Write", first), ("call_b", "Bash", second)])
    {
        assert_eq!((block.0.as_str(), block.1.as_str()), ("tool_use", id));
        assert_eq!(block.2, name);
        let got: Value = serde_json::from_str(&block.3).unwrap();
        let want: Value = serde_json::from_str(arguments).unwrap();
        assert_eq!(got, want);
    }
    assert_eq!(message_delta(&events)["delta"]["stop_reason"], "tool_use");
    ends_with_message_stop(&events);
    s.upstream_body();
}

fn tool_result_round_trip(kind: Kind) {
    let reply = completion_json(Some("It printed 3 files."), &[], "stop", usage(50, 0, 6));
    let s = setup(kind, vec![OpenAiReply::Json(reply)]);
    let body = json!({"model": kind.model(), "max_tokens": 100,
        "system": "You are terse.",
        "tools": [{"name": "Bash", "input_schema": {"type": "object"}}],
        "messages": [
            {"role": "user", "content": "list files"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Running ls."},
                {"type": "tool_use", "id": "toolu_01", "name": "Bash",
                    "input": {"command": "ls"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01",
                    "content": "a\nb\nc"},
                {"type": "text", "text": "and?"}]}]});
    let response = s.send(&body, false);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["content"][0]["text"], "It printed 3 files.");
    let sent = s.upstream_body();
    let messages = sent["messages"].as_array().unwrap();
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "tool", "user"]);
    let call = &messages[2]["tool_calls"][0];
    assert_eq!(call["id"], "toolu_01");
    assert_eq!(call["function"]["name"], "Bash");
    let arguments: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(arguments, json!({"command": "ls"}));
    assert_eq!(messages[3]["tool_call_id"], "toolu_01");
    assert!(messages[3]["content"].to_string().contains("a\\nb\\nc"));
}

fn upstream_error_before_stream(kind: Kind) {
    let s = setup(
        kind,
        vec![OpenAiReply::Error {
            status: 429,
            body: error_json("Rate limit reached for requests", "requests", None),
            retry_after: Some("7".to_owned()),
        }],
    );
    let response = s.send(&s.body(true), false);
    assert_eq!(response.status, 429, "{}", response.text());
    assert_eq!(response.header("retry-after").as_deref(), Some("7"));
    assert_eq!(
        response.header("content-type").as_deref(),
        Some("application/json")
    );
    let content_length: usize = response.header("content-length").unwrap().parse().unwrap();
    assert_eq!(content_length, response.body.len());
    let body = response.json();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "rate_limit_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Rate limit reached")
    );
    s.upstream_body();
}

fn malformed_chunk_mid_stream(kind: Kind) {
    let script = StreamScript::new(vec![role_chunk(), text_chunk("partial "), text_chunk("x")])
        .malformed_at(2)
        .split(SPLITS, Duration::ZERO);
    let s = setup(kind, vec![OpenAiReply::Stream(script)]);
    let response = s.send(&s.body(true), false);
    let events = events(&response);
    assert_eq!(blocks(&events)[0].3, "partial ");
    let (last, data) = events.last().unwrap();
    assert_eq!(last, "error", "{events:?}");
    assert_eq!(data["type"], "error");
    assert!(!events.iter().any(|(n, _)| n == "message_stop"));
    s.upstream_body();
}

fn usage_metered(kind: Kind) {
    let payloads = vec![
        role_chunk(),
        text_chunk("ok"),
        finish_chunk("stop"),
        usage_chunk(20, 5, 7),
    ];
    // The second answer carries no usage: it is charged its worst case, never zero.
    let no_usage = StreamScript::new(vec![role_chunk(), text_chunk("ok"), finish_chunk("stop")])
        .split(SPLITS, Duration::ZERO);
    let s = setup(kind, vec![stream(payloads), OpenAiReply::Stream(no_usage)]);
    let response = s.send(&s.body(true), true);
    let events = events(&response);
    let usage = &message_delta(&events)["usage"];
    assert_eq!(usage["output_tokens"], 7);
    assert_eq!(usage["input_tokens"], 15);
    assert_eq!(usage["cache_read_input_tokens"], 5);
    ends_with_message_stop(&events);
    let body = s.body(true);
    let unread = s.send(&body, true);
    ends_with_message_stop(&self::events(&unread));
    s.upstream_body();
    let log = support::wait_for(support::EVENTUALLY, || {
        let log = s.gateway.access_log();
        (log.len() >= 2).then_some(log)
    })
    .expect("two access-log lines");
    let micro = |line: &Value| (line["cost_usd"].as_f64().unwrap() * 1e6).round() as u64;
    assert_eq!(log[0]["key_id"], "k");
    assert_eq!(
        (
            log[0]["input_tokens"].as_u64(),
            log[0]["output_tokens"].as_u64()
        ),
        (Some(15), Some(7))
    );
    // 15 input + 5 cache read at $100/M, 7 output at $10,000/M.
    assert_eq!(micro(&log[0]), 15 * 100 + 5 * 100 + 7 * 10_000);
    // The worst case of the body as admitted (the model already renamed for the provider).
    let mut admitted = body.clone();
    admitted["model"] = json!(if kind == Kind::Azure {
        DEPLOYMENT
    } else {
        "gpt-5-mini"
    });
    assert_eq!(micro(&log[1]), worst_case_micro(&admitted.to_string(), 20));
}

/// The conformance matrix: every kind × every behaviour, each cell its own test.
macro_rules! conformance_matrix {
    ($($kind:ident: $value:expr),* $(,)?) => {$(
        mod $kind {
            use super::*;
            #[test] fn non_streaming() { super::non_streaming($value) }
            #[test] fn streaming_text() { super::streaming_text($value) }
            #[test] fn reasoning() { super::reasoning($value) }
            #[test] fn one_tool_call() { super::one_tool_call($value) }
            #[test] fn parallel_tool_calls() { super::parallel_tool_calls($value) }
            #[test] fn tool_result_round_trip() { super::tool_result_round_trip($value) }
            #[test] fn upstream_error_before_stream() { super::upstream_error_before_stream($value) }
            #[test] fn malformed_chunk_mid_stream() { super::malformed_chunk_mid_stream($value) }
            #[test] fn usage_metered() { super::usage_metered($value) }
        }
    )*};
}

conformance_matrix! {
    openai: Kind::OpenAi,
    groq: Kind::Groq,
    azure: Kind::Azure,
}
