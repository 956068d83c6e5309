//! Micro-benchmarks of the hot protocol code, each beside a naive baseline that shows what the
//! specialised code buys: request head parsing, chunked decoding, SSE parse + observe (per event
//! and per MB), the request peek, and usage extraction from a non-streaming body.
//!
//! Run: `cargo bench --bench parsers` (figures in BENCHMARKS.md).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sluice::governance::request_bound;
use sluice::http::chunked::{ChunkedDecoder, encode_chunk};
use sluice::http::head::parse_request_head;
use sluice::http::limits::MAX_HEADERS;
use sluice::providers::anthropic::{AnthropicObserver, peek_request, summarize_message_json};
use sluice::sse::SseParser;

/// A request head shaped like Claude Code's (as Claude Code sends it).
fn claude_code_head() -> Vec<u8> {
    let mut h = String::from("POST /v1/messages?beta=true HTTP/1.1\r\nhost: gateway:8080\r\n");
    for (name, value) in [
        ("accept", "application/json"),
        (
            "anthropic-beta",
            "claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27,prompt-caching-scope-2026-01-05,effort-2025-11-24",
        ),
        ("anthropic-dangerous-direct-browser-access", "true"),
        ("anthropic-version", "2023-06-01"),
        (
            "authorization",
            "Bearer sk-sluice-0123456789abcdef0123456789abcdef",
        ),
        ("content-type", "application/json"),
        ("user-agent", "claude-cli/2.1.332 (external, sdk-cli)"),
        ("x-app", "cli"),
        (
            "x-claude-code-session-id",
            "5b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0",
        ),
        ("x-stainless-arch", "x64"),
        ("x-stainless-lang", "js"),
        ("x-stainless-os", "Linux"),
        ("x-stainless-package-version", "0.70.0"),
        ("x-stainless-retry-count", "0"),
        ("x-stainless-runtime", "node"),
        ("x-stainless-runtime-version", "v20.20.2"),
        ("x-stainless-timeout", "600"),
        ("accept-encoding", "gzip, deflate, br, zstd"),
        ("content-length", "78000"),
    ] {
        h.push_str(&format!("{name}: {value}\r\n"));
    }
    h.push_str("\r\n");
    h.into_bytes()
}

/// An Anthropic stream of `text_events` text deltas plus a tool call, as SSE bytes.
fn anthropic_stream(text_events: usize) -> Vec<u8> {
    let mut s = String::new();
    let mut ev = |name: &str, data: &str| s.push_str(&format!("event: {name}\ndata: {data}\n\n"));
    ev(
        "message_start",
        r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"usage":{"input_tokens":2095,"cache_creation_input_tokens":0,"cache_read_input_tokens":1800,"output_tokens":1}}}"#,
    );
    ev(
        "content_block_start",
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
    );
    for i in 0..text_events {
        ev(
            "content_block_delta",
            &format!(
                r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":"word {i} of a fairly ordinary sentence, "}}}}"#
            ),
        );
    }
    ev(
        "content_block_stop",
        r#"{"type":"content_block_stop","index":0}"#,
    );
    ev(
        "content_block_start",
        r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"Bash","input":{}}}"#,
    );
    for frag in [r#"{\"comm"#, r#"and\": \"ls -la"#, r#" /tmp\"}"#] {
        ev(
            "content_block_delta",
            &format!(
                r#"{{"type":"content_block_delta","index":1,"delta":{{"type":"input_json_delta","partial_json":"{frag}"}}}}"#
            ),
        );
    }
    ev(
        "content_block_stop",
        r#"{"type":"content_block_stop","index":1}"#,
    );
    ev(
        "message_delta",
        r#"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":412}}"#,
    );
    ev("message_stop", r#"{"type":"message_stop"}"#);
    s.into_bytes()
}

/// A Claude-Code-sized request body (~80 KB): system blocks, 20 tools, a long history.
fn claude_code_body() -> Vec<u8> {
    let tools: Vec<String> = (0..20)
        .map(|i| {
            format!(
                r#"{{"name":"Tool{i}","description":"{}","input_schema":{{"type":"object","properties":{{"command":{{"type":"string","description":"what to run \"quoted\""}}}},"required":["command"]}}}}"#,
                "A tool that does a thing. ".repeat(40)
            )
        })
        .collect();
    let messages: Vec<String> = (0..60)
        .map(|i| {
            let role = if i % 2 == 0 { "user" } else { "assistant" };
            format!(
                r#"{{"role":"{role}","content":[{{"type":"text","text":"{}"}}]}}"#,
                r#"turn text with \"escapes\" and more words "#.repeat(20)
            )
        })
        .collect();
    format!(
        r#"{{"model":"claude-sonnet-4-5","max_tokens":32000,"stream":true,"system":[{{"type":"text","text":"You are Claude Code.","cache_control":{{"type":"ephemeral"}}}}],"tools":[{}],"messages":[{}],"metadata":{{"user_id":"u1"}}}}"#,
        tools.join(","),
        messages.join(",")
    )
    .into_bytes()
}

fn message_json() -> Vec<u8> {
    br#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"Let me look."},{"type":"tool_use","id":"toolu_1","name":"Bash","input":{"command":"ls -la /tmp"}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":2095,"cache_creation_input_tokens":0,"cache_read_input_tokens":1800,"output_tokens":412}}"#.to_vec()
}

fn head_parse(c: &mut Criterion) {
    let head = claude_code_head();
    let mut g = c.benchmark_group("request_head");
    g.throughput(Throughput::Elements(1));
    g.bench_function("sluice_strict", |b| {
        b.iter(|| black_box(parse_request_head(black_box(&head), MAX_HEADERS)))
    });
    g.bench_function("baseline_httparse_only", |b| {
        b.iter(|| {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut req = httparse::Request::new(&mut headers);
            black_box(req.parse(black_box(&head)).is_ok())
        })
    });
    g.finish();
}

fn chunked(c: &mut Criterion) {
    let payload: Vec<u8> = (0..64 * 1024).map(|i| b'a' + (i % 26) as u8).collect();
    let mut wire = Vec::new();
    for piece in payload.chunks(4096) {
        encode_chunk(&mut wire, piece);
    }
    wire.extend_from_slice(b"0\r\n\r\n");
    let mut g = c.benchmark_group("chunked_decode_64KiB");
    g.throughput(Throughput::Bytes(payload.len() as u64));
    g.bench_function("sluice", |b| {
        let mut out = Vec::with_capacity(payload.len());
        b.iter(|| {
            out.clear();
            let mut d = ChunkedDecoder::new(u64::MAX / 2);
            black_box(d.decode(black_box(&wire), &mut out).ok());
        })
    });
    g.bench_function("baseline_naive_split", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(payload.len());
            let mut rest = black_box(&wire[..]);
            while let Some(pos) = rest.windows(2).position(|w| w == b"\r\n") {
                let size =
                    usize::from_str_radix(std::str::from_utf8(&rest[..pos]).unwrap(), 16).unwrap();
                if size == 0 {
                    break;
                }
                out.extend_from_slice(&rest[pos + 2..pos + 2 + size]);
                rest = &rest[pos + 2 + size + 2..];
            }
            black_box(out)
        })
    });
    g.finish();
}

fn sse(c: &mut Criterion) {
    let stream = anthropic_stream(500);
    let events = stream.windows(2).filter(|w| w == b"\n\n").count() as u64;
    for (label, throughput) in [
        ("sse_per_event", Throughput::Elements(events)),
        ("sse_per_byte", Throughput::Bytes(stream.len() as u64)),
    ] {
        let mut g = c.benchmark_group(label);
        g.throughput(throughput);
        g.bench_function("sluice_parse_and_observe", |b| {
            b.iter(|| {
                let mut parser = SseParser::new();
                let mut observer = AnthropicObserver::new();
                for piece in stream.chunks(1400) {
                    parser.feed(black_box(piece), |ev| observer.on_event(ev));
                }
                black_box(observer.into_summary())
            })
        });
        g.bench_function("baseline_lines_and_serde_json", |b| {
            b.iter(|| {
                let text = std::str::from_utf8(black_box(&stream)).unwrap();
                let mut output_tokens = 0u64;
                for line in text.lines() {
                    if let Some(data) = line.strip_prefix("data: ") {
                        let v: serde_json::Value = serde_json::from_str(data).unwrap();
                        if let Some(n) = v["usage"]["output_tokens"].as_u64() {
                            output_tokens = n;
                        }
                    }
                }
                black_box(output_tokens)
            })
        });
        g.finish();
    }
}

fn json_peeks(c: &mut Criterion) {
    let body = claude_code_body();
    let mut g = c.benchmark_group("request_peek_80KB");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("sluice_top_level_scan", |b| {
        b.iter(|| black_box(peek_request(black_box(&body)).expect("valid body")))
    });
    g.bench_function("sluice_strict_request_bound", |b| {
        b.iter(|| black_box(request_bound(black_box(&body), Some(32_000))))
    });
    g.bench_function("baseline_serde_json_value", |b| {
        b.iter(|| {
            let v: serde_json::Value = serde_json::from_slice(black_box(&body)).unwrap();
            black_box(v["model"].as_str().map(str::len))
        })
    });
    g.finish();

    let message = message_json();
    let mut g = c.benchmark_group("usage_from_message_json");
    g.bench_function("sluice_simd_json_peek", |b| {
        b.iter(|| black_box(summarize_message_json(black_box(&message))))
    });
    g.bench_function("baseline_serde_json_value", |b| {
        b.iter(|| {
            let v: serde_json::Value = serde_json::from_slice(black_box(&message)).unwrap();
            black_box(v["usage"]["output_tokens"].as_u64())
        })
    });
    g.finish();
}

criterion_group!(benches, head_parse, chunked, sse, json_peeks);
criterion_main!(benches);
