//! Property tests for the stream translation: any valid Anthropic event sequence, split
//! anywhere, yields chunks that accumulate (the openai SDK's way) to exactly the text,
//! reasoning and tool inputs sent, with one finish reason and one `[DONE]`; damaged or random
//! input never panics and always ends the client stream.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::stream::{ChunkStream, StreamOutcome};
use super::stream_tests::{
    MESSAGE_STOP, PING, accumulate, block_start, block_stop, delta, message_delta, message_start,
    translate,
};

/// Characters that stress escaping and UTF-8 boundaries.
const CHARS: &[char] = &[
    'a', 'Z', '0', ' ', '"', '\\', '\n', '\t', '/', '{', '}', ':', ',', 'é', '日', '😀', '\u{1}',
];

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(CHARS), 0..10).prop_map(String::from_iter)
}

/// Text in 1–4 fragments.
fn fragments() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(text(), 1..4)
}

/// A tool input object and the cut points of its JSON text.
fn tool_input() -> impl Strategy<Value = (Value, Vec<usize>)> {
    let value = prop::collection::btree_map(
        text(),
        prop_oneof![
            text().prop_map(Value::from),
            any::<i32>().prop_map(Value::from),
            prop::collection::vec(text(), 0..3).prop_map(|v| json!(v)),
        ],
        0..4,
    );
    (
        value.prop_map(|m| json!(m)),
        prop::collection::vec(any::<usize>(), 0..6),
    )
}

/// `text` cut at character boundaries (escapes may be cut in half: fragments are raw JSON).
fn split_at_chars(text: &str, cuts: &[usize]) -> Vec<String> {
    let boundaries: Vec<usize> = (0..=text.len())
        .filter(|&i| text.is_char_boundary(i))
        .collect();
    let mut points: Vec<usize> = cuts
        .iter()
        .map(|c| boundaries[c % boundaries.len()])
        .collect();
    points.extend([0, text.len()]);
    points.sort_unstable();
    points.dedup();
    points
        .windows(2)
        .map(|w| text[w[0]..w[1]].to_owned())
        .collect()
}

#[derive(Debug, Clone)]
struct Scenario {
    thinking: Option<Vec<String>>,
    text: Option<Vec<String>>,
    tools: Vec<(Value, Vec<usize>)>,
    stop: &'static str,
    usage: (u64, u64, u64, u64),
    include_usage: bool,
    pings: Vec<usize>,
    cuts: Vec<usize>,
}

const STOPS: &[&str] = &[
    "end_turn",
    "stop_sequence",
    "max_tokens",
    "tool_use",
    "refusal",
    "pause_turn",
];

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        prop::option::of(fragments()),
        prop::option::of(fragments()),
        prop::collection::vec(tool_input(), 1..=3),
        prop::sample::select(STOPS),
        (0..100_000u64, 0..100_000u64, 0..100_000u64, 0..100_000u64),
        any::<bool>(),
        prop::collection::vec(any::<usize>(), 0..4),
        prop::collection::vec(any::<usize>(), 0..12),
    )
        .prop_map(
            |(thinking, text, tools, stop, usage, include_usage, pings, cuts)| Scenario {
                thinking,
                text,
                tools,
                stop,
                usage,
                include_usage,
                pings,
                cuts,
            },
        )
}

/// The Anthropic stream of a scenario, as a list of events.
fn events(s: &Scenario) -> Vec<String> {
    let (input, cache_read, cache_creation, output) = s.usage;
    let mut events = vec![message_start(
        json!({"input_tokens": input, "cache_read_input_tokens": cache_read,
        "cache_creation_input_tokens": cache_creation, "output_tokens": 1}),
    )];
    let mut index = 0;
    if let Some(thinking) = &s.thinking {
        events.push(block_start(
            index,
            json!({"type": "thinking", "thinking": "", "signature": ""}),
        ));
        for t in thinking {
            events.push(delta(
                index,
                json!({"type": "thinking_delta", "thinking": t}),
            ));
        }
        events.push(delta(
            index,
            json!({"type": "signature_delta", "signature": "sig"}),
        ));
        events.push(block_stop(index));
        index += 1;
    }
    if let Some(text) = &s.text {
        events.push(block_start(index, json!({"type": "text", "text": ""})));
        for t in text {
            events.push(delta(index, json!({"type": "text_delta", "text": t})));
        }
        events.push(block_stop(index));
        index += 1;
    }
    for (k, (input, cuts)) in s.tools.iter().enumerate() {
        events.push(block_start(index, json!({"type": "tool_use", "id": format!("toolu_{k}"), "name": format!("tool{k}"), "input": {}})));
        events.push(delta(
            index,
            json!({"type": "input_json_delta", "partial_json": ""}),
        ));
        for fragment in split_at_chars(&input.to_string(), cuts) {
            events.push(delta(
                index,
                json!({"type": "input_json_delta", "partial_json": fragment}),
            ));
        }
        events.push(block_stop(index));
        index += 1;
    }
    events.push(message_delta(s.stop, json!({"output_tokens": output})));
    events.push(MESSAGE_STOP.to_owned());
    for &p in &s.pings {
        let at = p % (events.len() + 1);
        events.insert(at.max(1), PING.to_owned());
    }
    events
}

fn pieces<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    points.extend([0, bytes.len()]);
    points.sort_unstable();
    points.dedup();
    points.windows(2).map(|w| &bytes[w[0]..w[1]]).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn valid_streams_split_anywhere_accumulate_to_what_was_sent(s in scenario()) {
        let input = events(&s).concat();
        let bytes = input.as_bytes();
        let (out, outcome) = translate(&pieces(bytes, &s.cuts), s.include_usage);
        prop_assert_eq!(outcome, StreamOutcome::Completed);
        prop_assert_eq!(&out, &translate(&[bytes], s.include_usage).0);
        let acc = accumulate(&out);
        prop_assert_eq!(acc.roles, ["assistant"]);
        prop_assert_eq!(acc.reasoning, s.thinking.clone().unwrap_or_default().concat());
        prop_assert_eq!(acc.content, s.text.clone().unwrap_or_default().concat());
        prop_assert_eq!(acc.tool_calls.len(), s.tools.len());
        for (k, (input, _)) in s.tools.iter().enumerate() {
            let (id, kind, name, arguments) = &acc.tool_calls[&(k as u64)];
            prop_assert_eq!(id, &format!("toolu_{k}"));
            prop_assert_eq!(kind, "function");
            prop_assert_eq!(name, &format!("tool{k}"));
            let parsed: Value = serde_json::from_str(arguments).unwrap();
            prop_assert_eq!(&parsed, input);
        }
        prop_assert_eq!(acc.finish_reasons.len(), 1);
        prop_assert_eq!(acc.done, 1);
        prop_assert_eq!(acc.after_end, 0);
        prop_assert!(acc.errors.is_empty());
        prop_assert_eq!(acc.headers.len(), 1);
        let (input_tokens, cache_read, cache_creation, output) = s.usage;
        if s.include_usage {
            prop_assert_eq!(acc.usage, [json!({
                "prompt_tokens": input_tokens + cache_read + cache_creation,
                "completion_tokens": output,
                "total_tokens": input_tokens + cache_read + cache_creation + output,
                "prompt_tokens_details": {"cached_tokens": cache_read}})]);
        } else {
            prop_assert!(acc.usage.is_empty());
        }
    }

    #[test]
    fn damaged_streams_never_panic_and_always_end(
        s in scenario(),
        drop_event in any::<usize>(),
        truncate in any::<usize>(),
        flips in prop::collection::vec((any::<usize>(), any::<u8>()), 0..4),
    ) {
        let mut events = events(&s);
        events.remove(drop_event % events.len());
        let mut bytes = events.concat().into_bytes();
        for (at, byte) in flips {
            let len = bytes.len();
            bytes[at % len] = byte;
        }
        bytes.truncate(truncate % (bytes.len() + 1));
        let (out, outcome) = translate(&pieces(&bytes, &s.cuts), s.include_usage);
        prop_assert_ne!(outcome, StreamOutcome::Open);
        let acc = accumulate(&out);
        prop_assert_eq!(acc.done + acc.errors.len(), 1);
        prop_assert_eq!(acc.after_end, 0);
        prop_assert!(acc.finish_reasons.len() <= 1);
        prop_assert!(acc.roles.len() <= 1);
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512), cuts in prop::collection::vec(any::<usize>(), 0..8)) {
        let mut stream = ChunkStream::new(0, "m", true);
        let mut out = Vec::new();
        for piece in pieces(&bytes, &cuts) {
            stream.feed(piece, &mut out);
        }
        stream.finish(&mut out);
        prop_assert_ne!(stream.outcome(), StreamOutcome::Open);
        let acc = accumulate(&out);
        prop_assert_eq!(acc.done + acc.errors.len(), 1);
    }
}
