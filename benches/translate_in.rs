//! What serving OpenAI Chat Completions clients from an Anthropic-dialect provider costs, beside
//! what sluice already does for the same traffic on the passthrough path: per stream event
//! (Anthropic events → `chat.completion.chunk` lines vs SSE parse + observe), per request (a
//! chat request with a tool loop → Anthropic body vs the request peek), per whole response, and
//! the `include_usage` splice for OpenAI-format upstreams.
//!
//! Run: `cargo bench --bench translate_in` (figures in BENCHMARKS.md).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use sluice::inbound::openai::{
    ChunkStream, ensure_include_usage, translate_request, translate_response,
};
use sluice::providers::anthropic::{AnthropicObserver, peek_request};
use sluice::sse::SseParser;

const EVENTS: usize = 200;

fn event(name: &str, data: &serde_json::Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

fn start() -> String {
    event(
        "message_start",
        &json!({"type": "message_start", "message": {"id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929", "content": [],
        "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 2095,
        "cache_creation_input_tokens": 0, "cache_read_input_tokens": 1800, "output_tokens": 1}}}),
    )
}

fn end(stop: &str) -> String {
    let mut s = event(
        "message_delta",
        &json!({"type": "message_delta",
        "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": 412}}),
    );
    s += "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    s
}

/// `EVENTS` text deltas.
fn text_stream() -> Vec<u8> {
    let mut s = start();
    s += &event(
        "content_block_start",
        &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    );
    for i in 0..EVENTS {
        s += &event(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "text": format!(" word{i} \"q\"")}}),
        );
    }
    s += &event(
        "content_block_stop",
        &json!({"type": "content_block_stop", "index": 0}),
    );
    s += &end("end_turn");
    s.into_bytes()
}

/// One tool call whose input arrives in `EVENTS` fragments.
fn tool_stream() -> Vec<u8> {
    let mut s = start();
    s += &event(
        "content_block_start",
        &json!({"type": "content_block_start", "index": 0,
        "content_block": {"type": "tool_use", "id": "toolu_01", "name": "Bash", "input": {}}}),
    );
    s += &event(
        "content_block_delta",
        &json!({"type": "content_block_delta", "index": 0,
        "delta": {"type": "input_json_delta", "partial_json": "{\"command\":\""}}),
    );
    for i in 0..EVENTS {
        s += &event(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": format!("ls {i} \\\"x\\\"")}}),
        );
    }
    s += &event(
        "content_block_delta",
        &json!({"type": "content_block_delta", "index": 0,
        "delta": {"type": "input_json_delta", "partial_json": "\"}"}}),
    );
    s += &event(
        "content_block_stop",
        &json!({"type": "content_block_stop", "index": 0}),
    );
    s += &end("tool_use");
    s.into_bytes()
}

/// An agent's chat request mid tool loop: a system prompt, 20 turns, 12 tools.
fn chat_request() -> Vec<u8> {
    let mut messages =
        vec![json!({"role": "system", "content": "You are a coding agent. ".repeat(200)})];
    for i in 0..10 {
        messages.push(json!({"role": "user", "content": format!("Step {i}: look at src/file{i}.rs and fix the bug. ").repeat(10)}));
        messages.push(
            json!({"role": "assistant", "content": "Reading it.", "tool_calls": [
            {"id": format!("call_{i}"), "type": "function", "function": {"name": "Read",
             "arguments": format!("{{\"file_path\":\"src/file{i}.rs\",\"limit\":200}}")}}]}),
        );
        messages.push(json!({"role": "tool", "tool_call_id": format!("call_{i}"), "content": "fn main() {}\n".repeat(60)}));
    }
    let tools: Vec<_> = (0..12).map(|i| json!({"type": "function", "function": {"name": format!("Tool{i}"),
        "description": "A tool that does something useful for the agent. ".repeat(4),
        "parameters": {"type": "object", "properties": {"path": {"type": "string"}, "limit": {"type": "integer"}}, "required": ["path"]}}})).collect();
    serde_json::to_vec(&json!({"model": "gpt-4o", "messages": messages, "tools": tools, "tool_choice": "auto",
        "stream": true, "stream_options": {"include_usage": true}, "max_completion_tokens": 8192, "temperature": 0.2, "user": "u1"}))
    .unwrap()
}

fn message_body() -> Vec<u8> {
    serde_json::to_vec(&json!({"id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [{"type": "text", "text": "Let me check that. ".repeat(40)},
                    {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "cargo test --workspace"}}],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": {"input_tokens": 2095, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 1800, "output_tokens": 412}}))
    .unwrap()
}

fn stream_events(c: &mut Criterion) {
    for (name, stream) in [("text", text_stream()), ("tool_args", tool_stream())] {
        let mut group = c.benchmark_group(format!("stream_{name}"));
        group.throughput(Throughput::Elements(EVENTS as u64));
        let mut out = Vec::with_capacity(stream.len() * 2);
        group.bench_function("to_openai_chunks", |b| {
            b.iter(|| {
                out.clear();
                let mut translator = ChunkStream::new(1_761_000_000, "gpt-4o", true);
                translator.feed(black_box(&stream), &mut out);
                translator.finish(&mut out);
                black_box(out.len())
            })
        });
        group.bench_function("baseline_parse_and_observe", |b| {
            b.iter(|| {
                let mut parser = SseParser::new();
                let mut observer = AnthropicObserver::new();
                parser.feed(black_box(&stream), |ev| observer.on_event(ev));
                black_box(observer.summary().usage.output_tokens)
            })
        });
        group.finish();
    }
}

fn requests(c: &mut Criterion) {
    let body = chat_request();
    let mut group = c.benchmark_group("request");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("chat_to_anthropic", |b| {
        b.iter(|| {
            let translated = translate_request(black_box(&body)).unwrap();
            black_box(
                translated
                    .into_anthropic_body("claude-sonnet-4-5", 64_000)
                    .len(),
            )
        })
    });
    group.bench_function("include_usage_splice", |b| {
        b.iter(|| black_box(ensure_include_usage(black_box(&body)).unwrap()))
    });
    group.bench_function("baseline_peek", |b| {
        b.iter(|| black_box(peek_request(black_box(&body)).unwrap()))
    });
    group.finish();

    let message = message_body();
    let mut group = c.benchmark_group("response");
    group.throughput(Throughput::Bytes(message.len() as u64));
    group.bench_function("message_to_chat_completion", |b| {
        b.iter(|| {
            black_box(
                translate_response(black_box(&message), 1_761_000_000, "gpt-4o")
                    .unwrap()
                    .len(),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, stream_events, requests);
criterion_main!(benches);
