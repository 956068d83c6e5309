//! Property tests for the stream translator: any valid upstream chunk sequence, split
//! anywhere, translates into a well-formed Anthropic stream carrying exactly what was sent;
//! damaged or random input never panics and still ends the client stream properly.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::stream::{StreamOutcome, StreamTranslator};
use super::stream_tests::{check, data};
use super::tool_names::ToolNameMap;

/// Characters that stress escaping and UTF-8 boundaries.
const CHARS: &[char] = &[
    'a', 'Z', '0', ' ', '"', '\\', '\n', '\t', '/', '{', '}', '[', ']', ':', ',', 'é', '日', '😀',
    '\u{1}',
];

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(CHARS), 0..10).prop_map(String::from_iter)
}

/// Text split into 1–4 fragments (at character boundaries, as JSON strings require).
fn fragments() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(text(), 1..4)
}

/// A tool input object, its JSON text split into fragments anywhere (escapes included).
fn tool_args() -> impl Strategy<Value = (String, Vec<usize>)> {
    let value = prop::collection::btree_map(
        text(),
        prop_oneof![
            text().prop_map(Value::from),
            any::<i32>().prop_map(Value::from),
            prop::collection::vec(text(), 0..3).prop_map(|v| json!(v)),
        ],
        0..4,
    );
    (value, prop::collection::vec(any::<usize>(), 0..6)).prop_map(|(map, cuts)| {
        let args = serde_json::to_string(&map).unwrap();
        (args, cuts)
    })
}

fn split_at_chars(text: &str, cuts: &[usize]) -> Vec<String> {
    let boundaries: Vec<usize> = (0..=text.len())
        .filter(|&i| text.is_char_boundary(i))
        .collect();
    let mut points: Vec<usize> = cuts
        .iter()
        .map(|c| boundaries[c % boundaries.len()])
        .collect();
    points.push(0);
    points.push(text.len());
    points.sort_unstable();
    points.dedup();
    points
        .windows(2)
        .map(|w| text[w[0]..w[1]].to_owned())
        .collect()
}

#[derive(Debug, Clone)]
struct Scenario {
    azure_first: bool,
    reasoning: Option<Vec<String>>,
    text: Option<Vec<String>>,
    tools: Vec<(String, Vec<String>)>,
    interleave: Vec<usize>,
    usage: Option<(u64, u64, u64)>,
    done: bool,
    cuts: Vec<usize>,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        any::<bool>(),
        prop::option::of(fragments()),
        prop::option::of(fragments()),
        prop::collection::vec(tool_args(), 0..=3),
        prop::collection::vec(any::<usize>(), 0..24),
        prop::option::of((0..10_000u64, 0..10_000u64, 0..10_000u64)),
        any::<bool>(),
        prop::collection::vec(any::<usize>(), 0..8),
    )
        .prop_map(
            |(azure_first, reasoning, text, tools, interleave, usage, done, cuts)| Scenario {
                azure_first,
                reasoning,
                text,
                tools: tools
                    .into_iter()
                    .map(|(args, cuts)| {
                        let pieces = split_at_chars(&args, &cuts);
                        (args, pieces)
                    })
                    .collect(),
                interleave,
                usage,
                done,
                cuts,
            },
        )
}

fn chunk(delta: Value, finish: Option<&str>) -> String {
    data(&json!({"id": "chatcmpl-p", "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}))
}

const LONG_NAME: &str = "mcp__a_server_with_a_long_name__and_a_tool_with_an_even_longer_name_x";

impl Scenario {
    fn tool_name(i: usize) -> String {
        if i == 1 {
            LONG_NAME.to_owned()
        } else {
            format!("tool_{i}")
        }
    }

    /// The upstream body and the request's name map.
    fn upstream(&self) -> (Vec<u8>, ToolNameMap) {
        let mut names = ToolNameMap::new();
        let mut body = String::new();
        if self.azure_first {
            body += &data(&json!({"id": "", "model": "", "choices": [],
                "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}]}));
        }
        body += &chunk(json!({"role": "assistant", "content": ""}), None);
        for piece in self.reasoning.iter().flatten() {
            body += &chunk(json!({"reasoning_content": piece}), None);
        }
        for piece in self.text.iter().flatten() {
            body += &chunk(json!({"content": piece}), None);
        }
        // Tool fragments interleaved; each call's first fragment (with id and name) comes
        // after the previous call's first fragment, as servers number them.
        let mut next = vec![0usize; self.tools.len()];
        let mut started = 0;
        let mut picks = self.interleave.iter().copied().chain(std::iter::repeat(0));
        loop {
            let live: Vec<usize> = (0..self.tools.len())
                .filter(|&t| t <= started && next[t] < self.tools[t].1.len())
                .collect();
            let Some(&t) = live.get(picks.next().unwrap_or(0) % live.len().max(1)) else {
                break;
            };
            let piece = &self.tools[t].1[next[t]];
            let mut call = json!({"index": t, "function": {"arguments": piece}});
            if next[t] == 0 {
                call["id"] = json!(format!("call_{t}"));
                call["type"] = json!("function");
                call["function"]["name"] = json!(names.outbound(&Self::tool_name(t)));
                started += 1;
            }
            next[t] += 1;
            body += &chunk(json!({"tool_calls": [call]}), None);
        }
        let finish = if self.tools.is_empty() {
            "stop"
        } else {
            "tool_calls"
        };
        body += &chunk(json!({}), Some(finish));
        if let Some((prompt, cached, completion)) = self.usage {
            body += &data(&json!({"id": "chatcmpl-p", "choices": [], "usage": {
                "prompt_tokens": prompt + cached, "completion_tokens": completion,
                "prompt_tokens_details": {"cached_tokens": cached}}}));
        }
        if self.done {
            body += "data: [DONE]\n\n";
        }
        (body.into_bytes(), names)
    }
}

/// Feeds `body` cut at the given points (any byte offsets) and finishes.
fn run(body: &[u8], cuts: &[usize], names: &ToolNameMap) -> (Vec<u8>, StreamTranslator) {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
    points.extend([0, body.len()]);
    points.sort_unstable();
    let mut translator = StreamTranslator::new(names.clone(), "m");
    let mut out = Vec::new();
    for w in points.windows(2) {
        translator.feed(&body[w[0]..w[1]], &mut out);
    }
    translator.finish(&mut out);
    (out, translator)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn valid_streams_translate_whole_and_well_formed(s in scenario()) {
        let (body, names) = s.upstream();
        let (out, translator) = run(&body, &s.cuts, &names);
        let t = check(&out);
        prop_assert!(t.completed, "{}", String::from_utf8_lossy(&out));
        prop_assert_eq!(translator.outcome(), StreamOutcome::Completed);
        let mut blocks = t.blocks.iter();
        if let Some(reasoning) = s.reasoning.as_ref().filter(|r| r.concat() != "") {
            let block = blocks.next().unwrap();
            prop_assert_eq!(block.kind.as_str(), "thinking");
            prop_assert_eq!(&block.content, &reasoning.concat());
        }
        if let Some(text) = s.text.as_ref().filter(|r| r.concat() != "") {
            let block = blocks.next().unwrap();
            prop_assert_eq!(block.kind.as_str(), "text");
            prop_assert_eq!(&block.content, &text.concat());
        }
        for (i, (args, _)) in s.tools.iter().enumerate() {
            let block = blocks.next().unwrap();
            prop_assert_eq!(block.kind.as_str(), "tool_use");
            prop_assert_eq!(&block.id, &format!("call_{i}"));
            prop_assert_eq!(&block.name, &Scenario::tool_name(i));
            prop_assert_eq!(&block.content, args);
            let parsed: Value = serde_json::from_str(&block.content).unwrap();
            prop_assert_eq!(parsed, serde_json::from_str::<Value>(args).unwrap());
            prop_assert_eq!(&translator.summary().tool_calls[i].input_json, args);
        }
        prop_assert!(blocks.next().is_none());
        let stop = if s.tools.is_empty() { "end_turn" } else { "tool_use" };
        prop_assert_eq!(t.stop_reason.as_deref(), Some(stop));
        if let Some((prompt, cached, completion)) = s.usage {
            let usage = t.usage.unwrap();
            prop_assert_eq!(&usage["input_tokens"], &json!(prompt));
            prop_assert_eq!(&usage["cache_read_input_tokens"], &json!(cached));
            prop_assert_eq!(&usage["output_tokens"], &json!(completion));
        }
    }

    #[test]
    fn damaged_streams_never_panic_and_still_end(
        s in scenario(),
        at in any::<usize>(),
        byte in any::<u8>(),
        how in 0..3u8,
    ) {
        let (mut body, names) = s.upstream();
        let at = at % body.len();
        match how {
            0 => body[at] = byte,
            1 => { body.remove(at); }
            _ => body.insert(at, byte),
        }
        let (out, translator) = run(&body, &s.cuts, &names);
        check(&out);
        prop_assert!(translator.terminated());
    }

    #[test]
    fn random_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..300),
                                cuts in prop::collection::vec(any::<usize>(), 0..6)) {
        let (out, translator) = run(&body, &cuts, &ToolNameMap::new());
        check(&out);
        prop_assert!(translator.terminated());
    }
}
