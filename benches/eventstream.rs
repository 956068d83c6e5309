//! The cost of Bedrock's event-stream framing per Anthropic event: frame decode alone, the
//! full frame → SSE translation, and a naive baseline (serde_json::Value parse and re-serialise
//! of each event), over a stream shaped like a streamed answer (500 text deltas).
//!
//! Run: `cargo bench --bench eventstream` (figures in BENCHMARKS.md).

use std::hint::black_box;

use base64::Engine as _;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sluice::providers::bedrock::eventstream::{FrameDecoder, encode_chunk};
use sluice::providers::bedrock::stream::BedrockSse;

const DELTAS: usize = 500;

/// message_start, a text block of `DELTAS` deltas, message_delta and message_stop with
/// Bedrock's invocation metrics, each in its own `chunk` frame.
fn bedrock_stream() -> (Vec<u8>, usize) {
    let mut events = vec![
        r#"{"type":"message_start","message":{"id":"msg_bdrk_01","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":2048,"output_tokens":1}}}"#.to_owned(),
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#.to_owned(),
    ];
    for i in 0..DELTAS {
        events.push(format!(r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":"token {i} of a streamed answer, "}}}}"#));
    }
    events.push(r#"{"type":"content_block_stop","index":0}"#.to_owned());
    events.push(r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":500}}"#.to_owned());
    events.push(r#"{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":2048,"outputTokenCount":500,"invocationLatency":4000,"firstByteLatency":300}}"#.to_owned());
    let mut out = Vec::new();
    for event in &events {
        encode_chunk(event.as_bytes(), &mut out);
    }
    (out, events.len())
}

/// The naive way: decode frames, then parse each payload and event into serde_json::Value and
/// write the event back out.
fn naive(bytes: &[u8], out: &mut Vec<u8>) {
    let mut decoder = FrameDecoder::new();
    decoder.push(bytes);
    while let Ok(Some(message)) = decoder.next_message() {
        let payload: serde_json::Value =
            serde_json::from_slice(message.payload).unwrap_or_default();
        let b64 = payload["bytes"].as_str().unwrap_or_default();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap_or_default();
        let event: serde_json::Value = serde_json::from_slice(&raw).unwrap_or_default();
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(event["type"].as_str().unwrap_or_default().as_bytes());
        out.extend_from_slice(b"\ndata: ");
        out.extend_from_slice(event.to_string().as_bytes());
        out.extend_from_slice(b"\n\n");
    }
}

fn bench(c: &mut Criterion) {
    let (bytes, events) = bedrock_stream();
    let mut group = c.benchmark_group("bedrock_eventstream");
    group.throughput(Throughput::Elements(events as u64));
    group.bench_function("frame_decode_only", |b| {
        b.iter(|| {
            let mut decoder = FrameDecoder::new();
            decoder.push(black_box(&bytes));
            let mut n = 0;
            while let Ok(Some(message)) = decoder.next_message() {
                n += message.payload.len();
            }
            black_box(n)
        })
    });
    let mut out = Vec::with_capacity(bytes.len() * 2);
    group.bench_function("frames_to_sse", |b| {
        b.iter(|| {
            out.clear();
            let mut sse = BedrockSse::new();
            let _ = sse.feed(black_box(&bytes), &mut out);
            black_box(out.len())
        })
    });
    group.bench_function("frames_to_sse_4k_reads", |b| {
        b.iter(|| {
            out.clear();
            let mut sse = BedrockSse::new();
            for piece in bytes.chunks(4096) {
                let _ = sse.feed(black_box(piece), &mut out);
            }
            black_box(out.len())
        })
    });
    group.bench_function("naive_serde_value_baseline", |b| {
        b.iter(|| {
            out.clear();
            naive(black_box(&bytes), &mut out);
            black_box(out.len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
