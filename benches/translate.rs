//! What the Anthropic ⇄ OpenAI translation costs, beside what sluice's passthrough does for the
//! same traffic: per request (a Claude-Code-shaped 70 KB body), per stream event, per whole
//! response, and the count_tokens estimate.
//!
//! Run: `cargo bench --bench translate` (figures in BENCHMARKS.md).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sluice::providers::anthropic::{AnthropicObserver, peek_request};
use sluice::providers::openai::{
    Quirks, StreamTranslator, ToolNameMap, estimate_input_tokens, translate_request,
    translate_response,
};
use sluice::sse::SseParser;
use sluice_loadtest::requests::claude_code::{CLAUDE_CODE_DEFAULT_BYTES, claude_code_body};

const EVENTS: usize = 200;

fn chunk(delta: &str) -> String {
    format!(
        "data: {{\"id\":\"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT\",\"object\":\"chat.completion.chunk\",\"created\":1741569952,\"model\":\"gpt-4.1-2025-04-14\",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_fc9f1d7035\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n"
    )
}

/// An OpenAI stream of `EVENTS` text deltas, then a finish, usage and `[DONE]`.
fn openai_text_stream() -> Vec<u8> {
    let mut s = chunk(r#"{"role":"assistant","content":"","refusal":null}"#);
    for i in 0..EVENTS {
        s += &chunk(&format!(r#"{{"content":" word{i} \"q\""}}"#));
    }
    s += "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n";
    s += "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":2095,\"completion_tokens\":412,\"prompt_tokens_details\":{\"cached_tokens\":1800}}}\n\n";
    s += "data: [DONE]\n\n";
    s.into_bytes()
}

/// An OpenAI stream of one tool call whose arguments arrive in `EVENTS` fragments.
fn openai_tool_stream() -> Vec<u8> {
    let mut s = chunk(
        r#"{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"Bash","arguments":""}}]}"#,
    );
    s += &chunk(r#"{"tool_calls":[{"index":0,"function":{"arguments":"{\"command\":\""}}]}"#);
    for i in 0..EVENTS {
        s += &chunk(&format!(
            r#"{{"tool_calls":[{{"index":0,"function":{{"arguments":"ls {i} \\\"x\\\""}}}}]}}"#
        ));
    }
    s += &chunk(r#"{"tool_calls":[{"index":0,"function":{"arguments":"\"}"}}]}"#);
    s += "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n";
    s += "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":2095,\"completion_tokens\":412}}\n\n";
    s += "data: [DONE]\n\n";
    s.into_bytes()
}

fn translate_stream(input: &[u8], out: &mut Vec<u8>) -> usize {
    let mut translator = StreamTranslator::new(ToolNameMap::new(), "gpt-4.1");
    out.clear();
    translator.feed(input, out);
    translator.finish(out);
    out.len()
}

fn per_event(c: &mut Criterion) {
    let mut out = Vec::with_capacity(256 * 1024);
    for (label, upstream) in [
        ("stream_text_per_event", openai_text_stream()),
        ("stream_tool_args_per_event", openai_tool_stream()),
    ] {
        translate_stream(&upstream, &mut out);
        let anthropic = out.clone();
        let mut g = c.benchmark_group(label);
        g.throughput(Throughput::Elements(EVENTS as u64 + 3));
        g.bench_function("openai_to_anthropic", |b| {
            b.iter(|| black_box(translate_stream(black_box(&upstream), &mut out)))
        });
        // What the passthrough does with the equivalent Anthropic stream: parse and observe.
        g.bench_function("passthrough_parse_and_observe", |b| {
            b.iter(|| {
                let mut parser = SseParser::new();
                let mut observer = AnthropicObserver::new();
                parser.feed(black_box(&anthropic), |e| observer.on_event(e));
                black_box(observer.into_summary())
            })
        });
        g.finish();
    }
}

fn per_request(c: &mut Criterion) {
    let body = claude_code_body(CLAUDE_CODE_DEFAULT_BYTES, 7);
    let mut g = c.benchmark_group("request_claude_code_70KB");
    g.throughput(Throughput::Elements(1));
    g.bench_function("anthropic_to_openai", |b| {
        b.iter(|| {
            black_box(translate_request(
                black_box(&body),
                "gpt-5",
                &Quirks::OPENAI,
            ))
        })
    });
    g.bench_function("passthrough_peek", |b| {
        b.iter(|| black_box(peek_request(black_box(&body))))
    });
    g.bench_function("count_tokens_estimate", |b| {
        b.iter(|| black_box(estimate_input_tokens(black_box(&body))))
    });
    g.finish();

    let completion = br#"{"id":"chatcmpl-9","object":"chat.completion","created":1,"model":"gpt-5","choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":"Let me look.","tool_calls":[{"id":"call_1","type":"function","function":{"name":"Bash","arguments":"{\"command\":\"ls -la /tmp\"}"}}]}}],"usage":{"prompt_tokens":2095,"completion_tokens":412,"prompt_tokens_details":{"cached_tokens":1800}}}"#;
    let mut g = c.benchmark_group("response_whole");
    g.throughput(Throughput::Elements(1));
    g.bench_function("openai_to_anthropic", |b| {
        b.iter(|| {
            black_box(translate_response(
                black_box(completion),
                &ToolNameMap::new(),
                "m",
            ))
        })
    });
    g.finish();
}

criterion_group!(benches, per_event, per_request);
criterion_main!(benches);
