//! Renders every response the mock can send, once at start-up, as the exact bytes to write
//! (the Anthropic and OpenAI wire shapes), so serving a request is a buffer write.

use serde_json::{Value, json};

use crate::mock::script::{Fault, MockScript};
use crate::wire::body::{LAST_CHUNK, encode_chunk};
use crate::wire::first_token::{ANTHROPIC_NEEDLES, OPENAI_NEEDLES};

const MODEL: &str = "claude-sonnet-4-5-20250929";
const OPENAI_MODEL: &str = "gpt-4o-mini";
const SIGNATURE: &str = "EqQBCkYIBxgCKkDmockmockmockmockmockmockmockmockmockmockmockmockmock==";
const TOOL_NAMES: [&str; 4] = ["Read", "Grep", "Bash", "Edit"];

/// One streamed response: its head and each event as an already chunk-encoded frame.
#[derive(Debug, Clone)]
pub struct StreamResponse {
    /// Status line and headers.
    pub head: Vec<u8>,
    /// Each event (SSE frame) as one chunk.
    pub events: Vec<Vec<u8>>,
    /// Head, every event and the last chunk in one buffer, for unpaced streams.
    pub whole: Vec<u8>,
    /// Leading events written together, through the first content delta (the first token);
    /// pacing applies between the events after them, as a model's tokens trickle in.
    pub burst: usize,
}

/// Everything the mock serves.
#[derive(Debug, Clone)]
pub struct Responses {
    pub anthropic_message: Vec<u8>,
    pub anthropic_stream: StreamResponse,
    pub openai_completion: Vec<u8>,
    pub openai_stream: StreamResponse,
    pub openai_stream_with_usage: StreamResponse,
    pub count_tokens: Vec<u8>,
    pub models: Vec<u8>,
    pub health: Vec<u8>,
    pub head_ok: Vec<u8>,
    pub not_found: Vec<u8>,
    pub bad_request: Vec<u8>,
    /// Error responses in the Anthropic shape, in [`Fault`] order for the status faults.
    pub anthropic_errors: [Vec<u8>; 3],
    /// Error responses in the OpenAI shape, in the same order.
    pub openai_errors: [Vec<u8>; 3],
}

fn text_piece(n: u32) -> String {
    const PIECES: [&str; 6] = [
        "The ", "gateway ", "streams ", "this ", "delta ", "intact. ",
    ];
    PIECES[n as usize % PIECES.len()].to_string()
}

fn tool_input(n: u32) -> Value {
    json!({"file_path": format!("/work/src/module_{n}.rs"), "offset": 0, "limit": 200})
}

/// Splits the tool input JSON into the fragments streamed as partial_json.
fn input_fragments(n: u32) -> Vec<String> {
    let text = tool_input(n).to_string();
    let mut pieces = vec![String::new()];
    let chars: Vec<char> = text.chars().collect();
    pieces.extend(chars.chunks(12).map(|c| c.iter().collect::<String>()));
    pieces
}

fn usage(script: &MockScript) -> Value {
    json!({"input_tokens": 2048, "cache_creation_input_tokens": 0,
           "cache_read_input_tokens": 18000, "output_tokens": output_tokens(script)})
}

fn output_tokens(script: &MockScript) -> u32 {
    script.text_events + script.tool_uses * 20 + if script.thinking { 30 } else { 0 }
}

/// A JSON string literal (quoted and escaped).
fn quoted(text: &str) -> String {
    Value::String(text.to_string()).to_string()
}

/// The Anthropic stream's SSE frames, in order, with keys in the API's own order.
pub fn anthropic_events(script: &MockScript) -> Vec<Vec<u8>> {
    let frame =
        |event: &str, data: String| format!("event: {event}\ndata: {data}\n\n").into_bytes();
    let delta = |index: u32, delta: String| {
        frame(
            "content_block_delta",
            format!(r#"{{"type":"content_block_delta","index":{index},"delta":{delta}}}"#),
        )
    };
    let start = |index: u32, block: String| {
        frame(
            "content_block_start",
            format!(r#"{{"type":"content_block_start","index":{index},"content_block":{block}}}"#),
        )
    };
    let stop = |index: u32| {
        frame(
            "content_block_stop",
            format!(r#"{{"type":"content_block_stop","index":{index}}}"#),
        )
    };
    let mut events = vec![
        frame(
            "message_start",
            format!(
                r#"{{"type":"message_start","message":{{"id":"msg_01mock","type":"message","role":"assistant","model":"{MODEL}","content":[],"stop_reason":null,"stop_sequence":null,"usage":{{"input_tokens":2048,"cache_creation_input_tokens":0,"cache_read_input_tokens":18000,"output_tokens":1}}}}}}"#
            ),
        ),
        frame("ping", r#"{"type":"ping"}"#.to_string()),
    ];
    let mut index = 0;
    if script.thinking {
        events.push(start(
            index,
            r#"{"type":"thinking","thinking":"","signature":""}"#.to_string(),
        ));
        for n in 0..3 {
            events.push(delta(
                index,
                format!(
                    r#"{{"type":"thinking_delta","thinking":{}}}"#,
                    quoted(&text_piece(n))
                ),
            ));
        }
        events.push(delta(
            index,
            format!(r#"{{"type":"signature_delta","signature":"{SIGNATURE}"}}"#),
        ));
        events.push(stop(index));
        index += 1;
    }
    if script.text_events > 0 {
        events.push(start(index, r#"{"type":"text","text":""}"#.to_string()));
        for n in 0..script.text_events {
            events.push(delta(
                index,
                format!(
                    r#"{{"type":"text_delta","text":{}}}"#,
                    quoted(&text_piece(n))
                ),
            ));
        }
        events.push(stop(index));
        index += 1;
    }
    for n in 0..script.tool_uses {
        let name = TOOL_NAMES[n as usize % TOOL_NAMES.len()];
        events.push(start(
            index,
            format!(
                r#"{{"type":"tool_use","id":"toolu_01mock{n:04}","name":"{name}","input":{{}}}}"#
            ),
        ));
        for piece in input_fragments(n) {
            events.push(delta(
                index,
                format!(
                    r#"{{"type":"input_json_delta","partial_json":{}}}"#,
                    quoted(&piece)
                ),
            ));
        }
        events.push(stop(index));
        index += 1;
    }
    let stop_reason = if script.tool_uses > 0 {
        "tool_use"
    } else {
        "end_turn"
    };
    events.push(frame("message_delta", format!(
        r#"{{"type":"message_delta","delta":{{"stop_reason":"{stop_reason}","stop_sequence":null}},"usage":{{"output_tokens":{}}}}}"#,
        output_tokens(script))));
    events.push(frame(
        "message_stop",
        r#"{"type":"message_stop"}"#.to_string(),
    ));
    events
}

/// The non-streaming Anthropic message.
pub fn anthropic_message(script: &MockScript) -> Value {
    let mut content = Vec::new();
    if script.thinking {
        let thinking: String = (0..3).map(text_piece).collect();
        content.push(json!({"type": "thinking", "thinking": thinking, "signature": SIGNATURE}));
    }
    if script.text_events > 0 {
        let text: String = (0..script.text_events).map(text_piece).collect();
        content.push(json!({"type": "text", "text": text}));
    }
    for n in 0..script.tool_uses {
        content.push(
            json!({"type": "tool_use", "id": format!("toolu_01mock{n:04}"),
            "name": TOOL_NAMES[n as usize % TOOL_NAMES.len()], "input": tool_input(n)}),
        );
    }
    let stop_reason = if script.tool_uses > 0 {
        "tool_use"
    } else {
        "end_turn"
    };
    json!({"id": "msg_01mock", "type": "message", "role": "assistant", "model": MODEL,
        "content": content, "stop_reason": stop_reason, "stop_sequence": null, "usage": usage(script)})
}

fn openai_chunk(delta: &str, finish: Option<&str>) -> Vec<u8> {
    let finish = finish.map(quoted).unwrap_or_else(|| "null".to_string());
    format!(
        r#"data: {{"id":"chatcmpl-mock","object":"chat.completion.chunk","created":1700000000,"model":"{OPENAI_MODEL}","choices":[{{"index":0,"delta":{delta},"finish_reason":{finish}}}]}}"#
    )
    .into_bytes()
    .into_iter()
    .chain(*b"\n\n")
    .collect()
}

fn openai_usage(script: &MockScript) -> Value {
    let completion = output_tokens(script);
    json!({"prompt_tokens": 1200, "completion_tokens": completion, "total_tokens": 1200 + completion,
        "prompt_tokens_details": {"cached_tokens": 1024}})
}

/// The OpenAI stream's `data:` frames, in order, ending with `[DONE]`.
pub fn openai_events(script: &MockScript, include_usage: bool) -> Vec<Vec<u8>> {
    let mut events = vec![openai_chunk(r#"{"role":"assistant","content":""}"#, None)];
    for n in 0..script.text_events {
        events.push(openai_chunk(
            &format!(r#"{{"content":{}}}"#, quoted(&text_piece(n))),
            None,
        ));
    }
    for n in 0..script.tool_uses {
        let name = TOOL_NAMES[n as usize % TOOL_NAMES.len()];
        events.push(openai_chunk(&format!(
            r#"{{"tool_calls":[{{"index":{n},"id":"call_mock{n:04}","type":"function","function":{{"name":"{name}","arguments":""}}}}]}}"#), None));
        for piece in input_fragments(n).into_iter().skip(1) {
            events.push(openai_chunk(
                &format!(
                    r#"{{"tool_calls":[{{"index":{n},"function":{{"arguments":{}}}}}]}}"#,
                    quoted(&piece)
                ),
                None,
            ));
        }
    }
    let finish = if script.tool_uses > 0 {
        "tool_calls"
    } else {
        "stop"
    };
    events.push(openai_chunk("{}", Some(finish)));
    if include_usage {
        events.push(format!(
            "data: {{\"id\":\"chatcmpl-mock\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"{OPENAI_MODEL}\",\"choices\":[],\"usage\":{}}}\n\n",
            openai_usage(script)).into_bytes());
    }
    events.push(b"data: [DONE]\n\n".to_vec());
    events
}

/// The non-streaming OpenAI chat completion.
pub fn openai_completion(script: &MockScript) -> Value {
    let text: String = (0..script.text_events).map(text_piece).collect();
    let mut message = json!({"role": "assistant", "content": text});
    if script.tool_uses > 0 {
        let calls: Vec<Value> = (0..script.tool_uses)
            .map(|n| {
                json!({"id": format!("call_mock{n:04}"),
            "type": "function", "function": {"name": TOOL_NAMES[n as usize % TOOL_NAMES.len()],
            "arguments": tool_input(n).to_string()}})
            })
            .collect();
        message["tool_calls"] = Value::Array(calls);
    }
    let finish = if script.tool_uses > 0 {
        "tool_calls"
    } else {
        "stop"
    };
    json!({"id": "chatcmpl-mock", "object": "chat.completion", "created": 1_700_000_000,
        "model": OPENAI_MODEL, "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": openai_usage(script)})
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        _ => "Overloaded",
    }
}

/// A complete JSON response, framed by Content-Length or as one chunk.
pub fn json_response(status: u16, extra_headers: &str, body: &[u8], chunked: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\ncontent-type: application/json\r\nrequest-id: req_mock\r\n{extra_headers}",
        reason(status)
    )
    .into_bytes();
    if chunked {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n\r\n");
        encode_chunk(&mut out, body);
        out.extend_from_slice(LAST_CHUNK);
    } else {
        out.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
        out.extend_from_slice(body);
    }
    out
}

fn stream_response(events: Vec<Vec<u8>>, first_token: &[&[u8]]) -> StreamResponse {
    let burst = events
        .iter()
        .position(|event| {
            first_token
                .iter()
                .any(|needle| memchr::memmem::find(event, needle).is_some())
        })
        .map_or(events.len(), |first| first + 1);
    let head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nrequest-id: req_mock\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
    let events: Vec<Vec<u8>> = events
        .into_iter()
        .map(|event| {
            let mut chunk = Vec::with_capacity(event.len() + 12);
            encode_chunk(&mut chunk, &event);
            chunk
        })
        .collect();
    let mut whole = head.clone();
    events
        .iter()
        .for_each(|event| whole.extend_from_slice(event));
    whole.extend_from_slice(LAST_CHUNK);
    StreamResponse {
        head,
        events,
        whole,
        burst,
    }
}

fn error_pair(fault: Fault, retry_after: u32, chunked: bool) -> (Vec<u8>, Vec<u8>) {
    let (status, kind, message, openai_kind) = match fault {
        Fault::RateLimited => (
            429,
            "rate_limit_error",
            "Number of request tokens has exceeded your per-minute rate limit (mock)",
            "rate_limit_exceeded",
        ),
        Fault::ServerError => (
            500,
            "api_error",
            "Internal server error (mock)",
            "server_error",
        ),
        _ => (529, "overloaded_error", "Overloaded (mock)", "server_error"),
    };
    let headers = if status == 429 {
        format!("retry-after: {retry_after}\r\n")
    } else {
        String::new()
    };
    let anthropic = json!({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_mock"});
    let openai = json!({"error": {"message": message, "type": openai_kind, "param": null, "code": openai_kind}});
    (
        json_response(status, &headers, anthropic.to_string().as_bytes(), chunked),
        json_response(status, &headers, openai.to_string().as_bytes(), chunked),
    )
}

impl Responses {
    /// Renders everything `script` describes.
    pub fn render(script: &MockScript) -> Self {
        let chunked = script.chunked;
        let models = json!({"data": [
            {"id": MODEL, "display_name": "Claude Sonnet 4.5", "type": "model", "created_at": "2025-09-29T00:00:00Z"},
            {"id": "claude-haiku-4-5", "display_name": "Claude Haiku 4.5", "type": "model", "created_at": "2025-10-01T00:00:00Z"}],
            "has_more": false, "first_id": MODEL, "last_id": "claude-haiku-4-5"});
        let not_found = json!({"type": "error", "error": {"type": "not_found_error", "message": "no such endpoint (mock)"}});
        let bad_request = json!({"type": "error", "error": {"type": "invalid_request_error", "message": "unreadable request (mock)"}});
        let errors = [Fault::RateLimited, Fault::ServerError, Fault::Overloaded]
            .map(|fault| error_pair(fault, script.retry_after_secs, chunked));
        Self {
            anthropic_message: json_response(
                200,
                "",
                anthropic_message(script).to_string().as_bytes(),
                chunked,
            ),
            anthropic_stream: stream_response(anthropic_events(script), ANTHROPIC_NEEDLES),
            openai_completion: json_response(
                200,
                "",
                openai_completion(script).to_string().as_bytes(),
                chunked,
            ),
            openai_stream: stream_response(openai_events(script, false), OPENAI_NEEDLES),
            openai_stream_with_usage: stream_response(openai_events(script, true), OPENAI_NEEDLES),
            count_tokens: json_response(200, "", br#"{"input_tokens":2048}"#, chunked),
            models: json_response(200, "", models.to_string().as_bytes(), chunked),
            health: json_response(200, "", br#"{"status":"ok"}"#, false),
            head_ok: b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n".to_vec(),
            not_found: json_response(404, "", not_found.to_string().as_bytes(), false),
            bad_request: json_response(
                400,
                "connection: close\r\n",
                bad_request.to_string().as_bytes(),
                false,
            ),
            anthropic_errors: errors.clone().map(|(anthropic, _)| anthropic),
            openai_errors: errors.map(|(_, openai)| openai),
        }
    }
}
