//! Stream translation tests: every input split at every byte offset (and byte by byte) gives
//! the same chunks, and the chunks, accumulated the way the openai SDK does, carry exactly what
//! the Anthropic stream carried.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::stream::{ChunkStream, StreamOutcome};

pub(super) const CREATED: u64 = 1_761_000_000;

/// One SSE event as Anthropic writes it.
pub(super) fn event(data: &Value) -> String {
    let name = data["type"].as_str().unwrap_or("message");
    format!("event: {name}\ndata: {data}\n\n")
}

pub(super) fn message_start(usage: Value) -> String {
    event(&json!({"type": "message_start", "message": {
        "id": "msg_01XYZ", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
        "content": [], "stop_reason": null, "stop_sequence": null, "usage": usage}}))
}

pub(super) fn block_start(index: usize, block: Value) -> String {
    event(&json!({"type": "content_block_start", "index": index, "content_block": block}))
}

pub(super) fn delta(index: usize, delta: Value) -> String {
    event(&json!({"type": "content_block_delta", "index": index, "delta": delta}))
}

pub(super) fn block_stop(index: usize) -> String {
    event(&json!({"type": "content_block_stop", "index": index}))
}

pub(super) fn message_delta(stop: &str, usage: Value) -> String {
    event(
        &json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": usage}),
    )
}

pub(super) const PING: &str = "event: ping\ndata: {\"type\": \"ping\"}\n\n";
pub(super) const MESSAGE_STOP: &str = "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

/// Feeds `input` in the given pieces, then ends the stream.
pub(super) fn translate(pieces: &[&[u8]], include_usage: bool) -> (Vec<u8>, StreamOutcome) {
    let mut stream = ChunkStream::new(CREATED, "asked-model", include_usage);
    let mut out = Vec::new();
    for piece in pieces {
        stream.feed(piece, &mut out);
    }
    stream.finish(&mut out);
    (out, stream.outcome())
}

/// What an openai SDK client makes of the chunks.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Accumulated {
    pub roles: Vec<String>,
    pub content: String,
    pub reasoning: String,
    /// By `index`: id, type, name, arguments (concatenated).
    pub tool_calls: BTreeMap<u64, (String, String, String, String)>,
    pub finish_reasons: Vec<String>,
    pub usage: Vec<Value>,
    pub done: usize,
    pub errors: Vec<Value>,
    /// Distinct (id, object, created, model) seen.
    pub headers: Vec<(Value, Value, Value, Value)>,
    /// Data lines after `[DONE]` or an error.
    pub after_end: usize,
}

pub(super) fn accumulate(out: &[u8]) -> Accumulated {
    let text = std::str::from_utf8(out).expect("output is UTF-8");
    assert!(
        text.is_empty() || text.ends_with("\n\n"),
        "output ends mid-line: {text:?}"
    );
    let mut acc = Accumulated::default();
    for block in text.split_terminator("\n\n") {
        let data = block
            .strip_prefix("data: ")
            .unwrap_or_else(|| panic!("not a data line: {block:?}"));
        assert!(!data.contains('\n'), "one line per chunk: {data:?}");
        if acc.done > 0 || !acc.errors.is_empty() {
            acc.after_end += 1;
        }
        if data == "[DONE]" {
            acc.done += 1;
            continue;
        }
        let chunk: Value = serde_json::from_str(data).unwrap_or_else(|e| panic!("{e}: {data}"));
        if let Some(error) = chunk.get("error") {
            acc.errors.push(error.clone());
            continue;
        }
        let header = (
            chunk["id"].clone(),
            chunk["object"].clone(),
            chunk["created"].clone(),
            chunk["model"].clone(),
        );
        if !acc.headers.contains(&header) {
            acc.headers.push(header);
        }
        if let Some(usage) = chunk.get("usage").filter(|u| !u.is_null()) {
            acc.usage.push(usage.clone());
        }
        for choice in chunk["choices"].as_array().expect("choices is an array") {
            assert_eq!(choice["index"], 0);
            let delta = &choice["delta"];
            if let Some(role) = delta["role"].as_str() {
                acc.roles.push(role.to_owned());
            }
            if let Some(content) = delta["content"].as_str() {
                acc.content.push_str(content);
            }
            if let Some(reasoning) = delta["reasoning_content"].as_str() {
                acc.reasoning.push_str(reasoning);
            }
            for call in delta["tool_calls"].as_array().into_iter().flatten() {
                let index = call["index"].as_u64().expect("tool call index");
                let entry = acc.tool_calls.entry(index).or_default();
                if let Some(id) = call["id"].as_str() {
                    entry.0.push_str(id);
                }
                if let Some(kind) = call["type"].as_str() {
                    entry.1.push_str(kind);
                }
                if let Some(name) = call["function"]["name"].as_str() {
                    entry.2.push_str(name);
                }
                if let Some(arguments) = call["function"]["arguments"].as_str() {
                    entry.3.push_str(arguments);
                }
            }
            if let Some(reason) = choice["finish_reason"].as_str() {
                acc.finish_reasons.push(reason.to_owned());
            }
        }
    }
    acc
}

/// Checks that every split of `input` in two, and byte by byte, gives the whole-input output.
pub(super) fn same_at_every_split(input: &[u8], include_usage: bool) -> Vec<u8> {
    let (whole, outcome) = translate(&[input], include_usage);
    for at in 0..=input.len() {
        let (head, tail) = input.split_at(at);
        let (split, split_outcome) = translate(&[head, tail], include_usage);
        assert_eq!(split, whole, "split at {at}");
        assert_eq!(split_outcome, outcome);
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(translate(&bytes, include_usage).0, whole, "byte by byte");
    whole
}

/// Text, thinking and two parallel tool calls with fragmented, escaped, multi-byte arguments.
fn full_stream() -> String {
    let mut s = message_start(
        json!({"input_tokens": 12, "cache_creation_input_tokens": 30,
        "cache_read_input_tokens": 200, "output_tokens": 1}),
    );
    s += PING;
    s += &block_start(
        0,
        json!({"type": "thinking", "thinking": "", "signature": ""}),
    );
    s += &delta(
        0,
        json!({"type": "thinking_delta", "thinking": "Let me «think» "}),
    );
    s += &delta(
        0,
        json!({"type": "thinking_delta", "thinking": "😀 about\nit"}),
    );
    s += &delta(
        0,
        json!({"type": "signature_delta", "signature": "EqQBCgIYAh"}),
    );
    s += &block_stop(0);
    s += &block_start(1, json!({"type": "text", "text": ""}));
    s += &delta(1, json!({"type": "text_delta", "text": "I'll run \"ls\" "}));
    s += &delta(
        1,
        json!({"type": "text_delta", "text": "and read 日本.txt\t\u{1}"}),
    );
    s += &block_stop(1);
    s += &block_start(
        2,
        json!({"type": "tool_use", "id": "toolu_01A", "name": "Bash", "input": {}}),
    );
    for fragment in [
        "",
        "{\"comm",
        "and\": \"ls -la \\\"sr",
        "c dir\\\"\\n é",
        "😀\"}",
    ] {
        s += &delta(
            2,
            json!({"type": "input_json_delta", "partial_json": fragment}),
        );
    }
    s += &block_stop(2);
    s += PING;
    s += &block_start(
        3,
        json!({"type": "tool_use", "id": "toolu_01B", "name": "Read", "input": {}}),
    );
    for fragment in ["{\"file_path\":", " \"/tmp/日本.txt\", \"limit\": 5", "}"] {
        s += &delta(
            3,
            json!({"type": "input_json_delta", "partial_json": fragment}),
        );
    }
    s += &block_stop(3);
    s += &message_delta("tool_use", json!({"output_tokens": 87}));
    s += MESSAGE_STOP;
    s
}

#[test]
fn a_full_stream_accumulates_to_what_anthropic_sent_at_every_split() {
    let input = full_stream();
    let out = same_at_every_split(input.as_bytes(), true);
    let acc = accumulate(&out);
    assert_eq!(acc.roles, ["assistant"]);
    assert_eq!(acc.reasoning, "Let me «think» 😀 about\nit");
    assert_eq!(acc.content, "I'll run \"ls\" and read 日本.txt\t\u{1}");
    assert_eq!(acc.tool_calls.len(), 2);
    let first = &acc.tool_calls[&0];
    assert_eq!(
        (first.0.as_str(), first.1.as_str(), first.2.as_str()),
        ("toolu_01A", "function", "Bash")
    );
    let args: Value = serde_json::from_str(&first.3).unwrap();
    assert_eq!(args, json!({"command": "ls -la \"src dir\"\n é😀"}));
    let second = &acc.tool_calls[&1];
    assert_eq!(
        (second.0.as_str(), second.2.as_str()),
        ("toolu_01B", "Read")
    );
    let args: Value = serde_json::from_str(&second.3).unwrap();
    assert_eq!(args, json!({"file_path": "/tmp/日本.txt", "limit": 5}));
    assert_eq!(acc.finish_reasons, ["tool_calls"]);
    assert_eq!(
        acc.usage,
        [
            json!({"prompt_tokens": 242, "completion_tokens": 87, "total_tokens": 329,
                "prompt_tokens_details": {"cached_tokens": 200}})
        ]
    );
    assert_eq!(acc.done, 1);
    assert_eq!(acc.after_end, 0);
    assert!(acc.errors.is_empty());
    assert_eq!(
        acc.headers,
        [(
            json!("msg_01XYZ"),
            json!("chat.completion.chunk"),
            json!(CREATED),
            json!("claude-sonnet-4-5-20250929")
        )]
    );
}

#[test]
fn the_usage_chunk_is_last_and_other_chunks_carry_null_usage() {
    let (out, outcome) = translate(&[full_stream().as_bytes()], true);
    assert_eq!(outcome, StreamOutcome::Completed);
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.split_terminator("\n\n").collect();
    assert_eq!(lines.last(), Some(&"data: [DONE]"));
    let usage: Value =
        serde_json::from_str(lines[lines.len() - 2].strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["prompt_tokens"], 242);
    for line in &lines[..lines.len() - 2] {
        let chunk: Value = serde_json::from_str(line.strip_prefix("data: ").unwrap()).unwrap();
        assert_eq!(chunk["usage"], Value::Null);
        assert!(chunk.as_object().unwrap().contains_key("usage"));
    }
}

#[test]
fn without_include_usage_there_is_no_usage_anywhere() {
    let (out, outcome) = translate(&[full_stream().as_bytes()], false);
    assert_eq!(outcome, StreamOutcome::Completed);
    assert!(!String::from_utf8_lossy(&out).contains("usage"));
    let acc = accumulate(&out);
    assert!(acc.usage.is_empty());
    assert_eq!(acc.done, 1);
    assert_eq!(acc.finish_reasons, ["tool_calls"]);
}

#[test]
fn every_stop_reason_maps_to_one_finish_reason() {
    for (stop, finish) in super::chunks::STOP_REASONS {
        let mut s = message_start(json!({"input_tokens": 1, "output_tokens": 0}));
        s += &block_start(0, json!({"type": "text", "text": ""}));
        s += &delta(0, json!({"type": "text_delta", "text": "hi"}));
        s += &block_stop(0);
        s += &message_delta(stop, json!({"output_tokens": 2}));
        // A second message_delta (usage only, or repeated) adds no second finish_reason.
        s += &message_delta(stop, json!({"output_tokens": 3, "input_tokens": 4}));
        s += MESSAGE_STOP;
        let acc = accumulate(&translate(&[s.as_bytes()], true).0);
        assert_eq!(acc.finish_reasons, [finish], "{stop}");
        assert_eq!(acc.usage[0]["completion_tokens"], 3);
        assert_eq!(acc.usage[0]["prompt_tokens"], 4);
    }
}

#[test]
fn an_error_event_mid_stream_becomes_one_error_chunk_and_nothing_after() {
    let mut s = message_start(json!({"input_tokens": 1}));
    s += &block_start(0, json!({"type": "text", "text": ""}));
    s += &delta(0, json!({"type": "text_delta", "text": "partial"}));
    s += "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
    s += &delta(0, json!({"type": "text_delta", "text": "never shown"}));
    s += MESSAGE_STOP;
    let out = same_at_every_split(s.as_bytes(), true);
    let acc = accumulate(&out);
    assert_eq!(acc.content, "partial");
    assert_eq!(
        acc.errors,
        [
            json!({"message": "Overloaded", "type": "server_error", "param": null, "code": "overloaded"})
        ]
    );
    assert_eq!(acc.done, 0);
    assert_eq!(acc.after_end, 0);
    assert!(acc.finish_reasons.is_empty());
    assert_eq!(translate(&[s.as_bytes()], true).1, StreamOutcome::Failed);
}

#[test]
fn an_error_before_anything_else_is_still_one_error_chunk() {
    let s = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"slow down\"}}\n\n";
    let acc = accumulate(&translate(&[s.as_bytes()], false).0);
    assert_eq!(acc.errors[0]["code"], "rate_limit_exceeded");
    assert!(acc.roles.is_empty());
    let garbled = "event: error\ndata: nope\n\n";
    let acc = accumulate(&translate(&[garbled.as_bytes()], false).0);
    assert_eq!(acc.errors[0]["type"], "server_error");
    assert_eq!(acc.errors[0]["message"], "upstream stream error");
}

#[test]
fn a_stream_that_ends_early_fails_and_one_past_its_stop_reason_completes() {
    let mut s = message_start(json!({"input_tokens": 1}));
    s += &block_start(0, json!({"type": "text", "text": ""}));
    s += &delta(0, json!({"type": "text_delta", "text": "cut"}));
    let (out, outcome) = translate(&[s.as_bytes()], true);
    assert_eq!(outcome, StreamOutcome::Failed);
    let acc = accumulate(&out);
    assert_eq!(acc.content, "cut");
    assert_eq!(acc.errors.len(), 1);
    assert_eq!(acc.done, 0);

    s += &block_stop(0);
    s += &message_delta("end_turn", json!({"output_tokens": 5}));
    let (out, outcome) = translate(&[s.as_bytes()], true);
    assert_eq!(outcome, StreamOutcome::Completed);
    let acc = accumulate(&out);
    assert_eq!(acc.finish_reasons, ["stop"]);
    assert_eq!(acc.usage.len(), 1);
    assert_eq!(acc.done, 1);
    assert!(acc.errors.is_empty());
}

#[test]
fn message_stop_without_a_stop_reason_still_finishes_once() {
    let mut s = message_start(json!({}));
    s += MESSAGE_STOP;
    let acc = accumulate(&translate(&[s.as_bytes()], false).0);
    assert_eq!(acc.roles, ["assistant"]);
    assert_eq!(acc.finish_reasons, ["stop"]);
    assert_eq!(acc.done, 1);
}

#[test]
fn a_malformed_known_event_fails_the_stream_and_unknown_events_are_ignored() {
    let mut s = message_start(json!({}));
    s += "event: brand_new_event\ndata: {whatever\n\n";
    s += ": a comment\n\n";
    s += &block_start(0, json!({"type": "text", "text": ""}));
    s += &delta(0, json!({"type": "text_delta", "text": "ok"}));
    s += "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":\n\n";
    s += &delta(0, json!({"type": "text_delta", "text": "lost"}));
    let out = same_at_every_split(s.as_bytes(), false);
    let acc = accumulate(&out);
    assert_eq!(acc.content, "ok");
    assert_eq!(acc.errors.len(), 1);
    assert_eq!(
        acc.errors[0]["message"],
        "malformed upstream content_block_delta event"
    );
}

#[test]
fn data_only_events_are_named_by_their_type() {
    let mut s = String::new();
    for line in full_stream().split_terminator("\n\n") {
        let data = line.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
        s += &format!("data: {data}\r\n\r\n");
    }
    let acc = accumulate(&translate(&[s.as_bytes()], true).0);
    let expected = accumulate(&translate(&[full_stream().as_bytes()], true).0);
    assert_eq!(acc, expected);
}

#[test]
fn hidden_blocks_and_stray_deltas_send_nothing() {
    let mut s = message_start(json!({}));
    s += &block_start(0, json!({"type": "redacted_thinking", "data": "xyz"}));
    s += &block_stop(0);
    s += &block_start(
        1,
        json!({"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}),
    );
    s += &delta(
        1,
        json!({"type": "input_json_delta", "partial_json": "{\"q\":1}"}),
    );
    s += &block_stop(1);
    // A delta for a block never started.
    s += &delta(7, json!({"type": "input_json_delta", "partial_json": "{}"}));
    s += &delta(2, json!({"type": "citations_delta", "citation": {}}));
    s += &block_start(2, json!({"type": "text", "text": "start text "}));
    s += &delta(2, json!({"type": "text_delta", "text": ""}));
    s += &delta(2, json!({"type": "text_delta", "text": "more"}));
    s += &message_delta("end_turn", json!({}));
    s += MESSAGE_STOP;
    let acc = accumulate(&translate(&[s.as_bytes()], false).0);
    assert!(acc.tool_calls.is_empty());
    assert_eq!(acc.content, "start text more");
    assert_eq!(acc.done, 1);
}

#[test]
fn fail_writes_one_error_and_only_while_open() {
    let mut stream = ChunkStream::new(CREATED, "m", false);
    let mut out = Vec::new();
    stream.feed(message_start(json!({})).as_bytes(), &mut out);
    stream.fail("timeout_error", "upstream timed out", &mut out);
    stream.fail("api_error", "again", &mut out);
    stream.feed(MESSAGE_STOP.as_bytes(), &mut out);
    stream.finish(&mut out);
    let acc = accumulate(&out);
    assert_eq!(
        acc.errors,
        [
            json!({"message": "upstream timed out", "type": "server_error", "param": null, "code": "timeout"})
        ]
    );
    assert_eq!(acc.done, 0);
    assert_eq!(stream.outcome(), StreamOutcome::Failed);
}

#[test]
fn the_fallback_model_and_id_are_used_when_the_stream_names_none() {
    let mut s = block_start(0, json!({"type": "text", "text": ""}));
    s += &delta(0, json!({"type": "text_delta", "text": "x"}));
    s += &message_delta("end_turn", json!({"output_tokens": 1}));
    s += MESSAGE_STOP;
    let acc = accumulate(&translate(&[s.as_bytes()], true).0);
    assert_eq!(
        acc.headers,
        [(
            json!("chatcmpl-sluice"),
            json!("chat.completion.chunk"),
            json!(CREATED),
            json!("asked-model")
        )]
    );
    assert_eq!(acc.roles, ["assistant"]);
    assert_eq!(acc.content, "x");
}

#[test]
fn usage_reports_are_cumulative_and_readable() {
    let mut stream = ChunkStream::new(CREATED, "m", false);
    let mut out = Vec::new();
    stream.feed(
        message_start(json!({"input_tokens": 9, "cache_read_input_tokens": 3, "output_tokens": 1}))
            .as_bytes(),
        &mut out,
    );
    stream.feed(
        message_delta("end_turn", json!({"output_tokens": 40})).as_bytes(),
        &mut out,
    );
    let usage = stream.usage();
    assert_eq!(
        (
            usage.input_tokens,
            usage.cache_read_input_tokens,
            usage.output_tokens
        ),
        (9, 3, 40)
    );
    assert_eq!(usage.prompt_tokens(), 12);
}
