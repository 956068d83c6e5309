//! Anthropic wire fixtures: a thinking + text + two tool_use stream with awkward fragments,
//! the matching non-streaming message, count_tokens, models, errors, requests and a handler.

use super::mock::{LAST_CHUNK, Recorded, Reply, chunked, response_head, split_by_sizes};

pub const MODEL: &str = "claude-sonnet-4-5-20250929";
pub const MESSAGE_ID: &str = "msg_01XFDUDYJgAACzvnptvVoYEL";
pub const TOOL_1_ID: &str = "toolu_01A09q90qw90lq917835lq9";
pub const TOOL_2_ID: &str = "toolu_01B7Vh4fJm3VQ8pNmA3yZx2K";

const THINKING: [&str; 3] = [
    "The user wants two things — ",
    "list “src dir” 🗂️ and write a file named h\u{e9}llo in 日本語.",
    "\nI'll call Bash, then Write.",
];
const SIGNATURE: &str = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxDdoqXz3gx+5rH5uE1IjBbXLc0kDL9pWYm0aQ2\
    rq7nP8dQ4VQ6DdZpWJhN/yZWrVtLXY6sQ4v6V0Hs7kYq1wKTnT3yqGkF2nJ0v9B8sZ3xQ==";
const TEXT: [&str; 2] = [
    "I'll run two tools: ",
    "first `ls`, then a greeting — “héllo” 👋.",
];

/// `input_json_delta` fragments of tool 1: they split a key, split `\"` and `\\` escapes
/// between fragments, and carry multi-byte UTF-8.
pub const TOOL_1_FRAGMENTS: [&str; 7] = [
    "",
    r#"{"comm"#,
    r#"and": "ls -la \"#,
    r#""src dir\" | grep \"#,
    r#"\.rs", "descr"#,
    r#"iption": "List Rust files — ü"#,
    r#"nïcödé 🚀"}"#,
];

/// Tool 2's fragments split a `\u00e9` escape and a `\n` escape, and carry 3- and 4-byte UTF-8.
pub const TOOL_2_FRAGMENTS: [&str; 7] = [
    "",
    r#"{"file_"#,
    r#"path": "/tmp/h\u00"#,
    r#"e9llo.txt", "content": "line1\"#,
    r#"nline2 \"quo"#,
    r#"ted\" 日本"#,
    r#"語 𝄞"}"#,
];

pub fn tool_1_input() -> serde_json::Value {
    serde_json::from_str(&TOOL_1_FRAGMENTS.concat()).unwrap()
}

pub fn tool_2_input() -> serde_json::Value {
    serde_json::from_str(&TOOL_2_FRAGMENTS.concat()).unwrap()
}

fn js(text: &str) -> String {
    serde_json::to_string(text).unwrap()
}

fn event(name: &str, data: &str) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

const PING: &str = "event: ping\ndata: {\"type\": \"ping\"}\n\n";

const START_USAGE: &str = r#"{"input_tokens":2095,"cache_creation_input_tokens":0,"cache_read_input_tokens":1024,"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0},"output_tokens":1,"service_tier":"standard"}"#;
const FINAL_USAGE: &str = r#"{"input_tokens":2095,"cache_creation_input_tokens":0,"cache_read_input_tokens":1024,"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0},"output_tokens":412,"service_tier":"standard"}"#;

fn delta(index: usize, kind: &str, field: &str, value: &str) -> String {
    event(
        "content_block_delta",
        &format!(
            r#"{{"type":"content_block_delta","index":{index},"delta":{{"type":"{kind}","{field}":{}}}}}"#,
            js(value)
        ),
    )
}

fn block_start(index: usize, block: &str) -> String {
    event(
        "content_block_start",
        &format!(r#"{{"type":"content_block_start","index":{index},"content_block":{block}}}"#),
    )
}

fn block_stop(index: usize) -> String {
    event(
        "content_block_stop",
        &format!(r#"{{"type":"content_block_stop","index":{index}}}"#),
    )
}

/// The streamed message, one string per SSE event, as Anthropic frames them.
pub fn stream_events() -> Vec<String> {
    let mut events = vec![
        event(
            "message_start",
            &format!(
                r#"{{"type":"message_start","message":{{"model":"{MODEL}","id":"{MESSAGE_ID}","type":"message","role":"assistant","content":[],"stop_reason":null,"stop_sequence":null,"usage":{START_USAGE}}}}}"#
            ),
        ),
        PING.to_string(),
        block_start(0, r#"{"type":"thinking","thinking":"","signature":""}"#),
    ];
    for piece in THINKING {
        events.push(delta(0, "thinking_delta", "thinking", piece));
    }
    events.push(delta(0, "signature_delta", "signature", SIGNATURE));
    events.push(block_stop(0));
    events.push(block_start(1, r#"{"type":"text","text":""}"#));
    for piece in TEXT {
        events.push(delta(1, "text_delta", "text", piece));
    }
    events.push(block_stop(1));
    events.push(block_start(
        2,
        &format!(r#"{{"type":"tool_use","id":"{TOOL_1_ID}","name":"Bash","input":{{}}}}"#),
    ));
    for piece in TOOL_1_FRAGMENTS {
        events.push(delta(2, "input_json_delta", "partial_json", piece));
    }
    events.push(block_stop(2));
    events.push(PING.to_string());
    events.push(block_start(
        3,
        &format!(r#"{{"type":"tool_use","id":"{TOOL_2_ID}","name":"Write","input":{{}}}}"#),
    ));
    for piece in TOOL_2_FRAGMENTS {
        events.push(delta(3, "input_json_delta", "partial_json", piece));
    }
    events.push(block_stop(3));
    events.push(event(
        "message_delta",
        &format!(
            r#"{{"type":"message_delta","delta":{{"stop_reason":"tool_use","stop_sequence":null}},"usage":{FINAL_USAGE}}}"#
        ),
    ));
    events.push(event("message_stop", r#"{"type":"message_stop"}"#));
    events
}

/// All events of [`stream_events`] back to back: the decoded body a client must receive.
pub fn stream_body() -> Vec<u8> {
    stream_events().concat().into_bytes()
}

/// The same message as one non-streaming JSON body.
pub fn message_json() -> String {
    format!(
        r#"{{"model":"{MODEL}","id":"{MESSAGE_ID}","type":"message","role":"assistant","content":[{{"type":"thinking","thinking":{},"signature":{}}},{{"type":"text","text":{}}},{{"type":"tool_use","id":"{TOOL_1_ID}","name":"Bash","input":{}}},{{"type":"tool_use","id":"{TOOL_2_ID}","name":"Write","input":{}}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{FINAL_USAGE}}}"#,
        js(&THINKING.concat()),
        js(SIGNATURE),
        js(&TEXT.concat()),
        TOOL_1_FRAGMENTS.concat(),
        TOOL_2_FRAGMENTS.concat(),
    )
}

pub const COUNT_TOKENS_JSON: &str = r#"{"input_tokens":2095}"#;

pub fn models_json() -> String {
    r#"{"data":[{"type":"model","id":"claude-sonnet-4-5-20250929","display_name":"Claude Sonnet 4.5","created_at":"2025-09-29T00:00:00Z"},{"type":"model","id":"claude-haiku-4-5-20251001","display_name":"Claude Haiku 4.5","created_at":"2025-10-01T00:00:00Z"}],"has_more":false,"first_id":"claude-sonnet-4-5-20250929","last_id":"claude-haiku-4-5-20251001"}"#
        .to_string()
}

pub fn error_json(kind: &str, message: &str) -> String {
    format!(
        r#"{{"type":"error","error":{{"type":"{kind}","message":{}}},"request_id":"req_011CSHoEeqs5C35K2UUqR7Fy"}}"#,
        js(message)
    )
}

/// Response headers Anthropic sends on JSON answers.
pub fn json_headers() -> Vec<(&'static str, &'static str)> {
    vec![
        ("Date", "Tue, 04 Nov 2025 10:00:00 GMT"),
        ("Content-Type", "application/json"),
        ("request-id", "req_011CSHoEeqs5C35K2UUqR7Fy"),
        (
            "anthropic-organization-id",
            "0b9a3c1e-1111-2222-3333-444455556666",
        ),
        ("x-robots-tag", "none"),
        ("Server", "cloudflare"),
    ]
}

/// Response headers Anthropic sends on a stream.
pub fn sse_headers() -> Vec<(&'static str, &'static str)> {
    vec![
        ("Date", "Tue, 04 Nov 2025 10:00:00 GMT"),
        ("Content-Type", "text/event-stream; charset=utf-8"),
        ("Cache-Control", "no-cache"),
        ("request-id", "req_011CSHoEeqs5C35K2UUqR7Fy"),
        ("anthropic-ratelimit-output-tokens-remaining", "79000"),
        ("X-Custom-Upstream", "Mixed  Case\tvalue"),
        ("Transfer-Encoding", "chunked"),
    ]
}

/// Awkward TCP write sizes for a stream.
pub const SMALL_WRITES: [usize; 10] = [1, 7, 13, 2, 31, 3, 5, 64, 11, 200];
/// Chunk sizes that do not line up with events.
pub const AWKWARD_CHUNKS: [usize; 5] = [100, 37, 512, 3, 1000];

/// The whole streamed response on the wire: head, chunked body, last chunk.
pub fn stream_response_bytes(body: &[u8]) -> Vec<u8> {
    let mut bytes = response_head(200, &sse_headers());
    bytes.extend_from_slice(&chunked(body, &AWKWARD_CHUNKS));
    bytes.extend_from_slice(LAST_CHUNK);
    bytes
}

/// `bytes` cut into writes of the given sizes (cycled), each write that holds the start of a
/// multi-byte UTF-8 character cut again right after that lead byte.
pub fn awkward_writes(bytes: &[u8], sizes: &[usize]) -> Vec<Vec<u8>> {
    let mut writes = Vec::new();
    for piece in split_by_sizes(bytes, sizes) {
        let mut start = 0;
        for (i, byte) in piece.iter().enumerate() {
            if *byte >= 0xC0 && i + 1 < piece.len() {
                writes.push(piece[start..=i].to_vec());
                start = i + 1;
            }
        }
        writes.push(piece[start..].to_vec());
    }
    writes
}

/// The fixture stream written in awkward sizes with a tiny pause between writes.
pub fn stream_reply(writes: &[usize]) -> Reply {
    let mut reply = Reply::new();
    for piece in awkward_writes(&stream_response_bytes(&stream_body()), writes) {
        reply = reply.write(piece).sleep_ms(1);
    }
    reply
}

/// Answers like Anthropic: messages (stream or not), count_tokens, models, health.
pub fn anthropic_handler(request: &Recorded) -> Reply {
    let path = request.path();
    let path = path.strip_prefix("/anthropic").unwrap_or(path);
    match (request.method.as_str(), path) {
        ("POST", "/v1/messages") => {
            let streaming = request
                .json()
                .is_some_and(|body| body["stream"] == serde_json::Value::Bool(true));
            if streaming {
                stream_reply(&SMALL_WRITES)
            } else {
                Reply::json(200, &message_json())
            }
        }
        ("POST", "/v1/messages/count_tokens") => Reply::json(200, COUNT_TOKENS_JSON),
        ("GET", "/v1/models") => Reply::json(200, &models_json()),
        _ => Reply::json(404, &error_json("not_found_error", "Not found")),
    }
}

/// A Claude Code-like request body; `pad` adds that many bytes of system prompt.
pub fn request_body(stream: bool, pad: usize) -> String {
    let system_pad = "x".repeat(pad);
    format!(
        r#"{{"model":"{MODEL}","max_tokens":32000,"stream":{stream},"system":[{{"type":"text","text":"x-anthropic-billing-header: cc_version=2.1.332"}},{{"type":"text","text":"You are Claude Code — «élan» 日本語 🚀 {system_pad}","cache_control":{{"type":"ephemeral"}}}}],"messages":[{{"role":"user","content":[{{"type":"text","text":"List “src dir” and write h\u00e9llo.txt"}}]}}],"tools":[{{"name":"Bash","description":"Run a command","input_schema":{{"type":"object","properties":{{"command":{{"type":"string"}}}},"required":["command"]}}}}],"thinking":{{"type":"enabled","budget_tokens":4000}},"context_management":{{"edits":[]}},"metadata":{{"user_id":"user_abc_account__session_123"}}}}"#
    )
}

/// The headers Claude Code sends (besides Host and Content-Length).
pub fn claude_code_headers() -> Vec<(&'static str, &'static str)> {
    vec![
        ("Accept", "application/json"),
        ("X-Stainless-Retry-Count", "0"),
        ("X-Stainless-Timeout", "600"),
        ("X-Stainless-Lang", "js"),
        ("X-Stainless-Package-Version", "0.70.0"),
        ("X-Stainless-OS", "Linux"),
        ("X-Stainless-Arch", "x64"),
        ("X-Stainless-Runtime", "node"),
        ("X-Stainless-Runtime-Version", "v24.3.0"),
        ("anthropic-dangerous-direct-browser-access", "true"),
        ("anthropic-version", "2023-06-01"),
        (
            "anthropic-beta",
            "claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27",
        ),
        ("x-app", "cli"),
        ("User-Agent", "claude-cli/2.1.332 (external, sdk-cli)"),
        (
            "X-Claude-Code-Session-Id",
            "3f1c2a9e-5b7d-4e0f-9a1b-2c3d4e5f6a7b",
        ),
        ("x-api-key", "sk-ant-test-key"),
        ("content-type", "application/json"),
        ("accept-encoding", "gzip, deflate, br, zstd"),
    ]
}
