//! Stream translation cases, each fed whole, split at every byte offset and byte by byte, with
//! the output checked for a well-formed Anthropic event sequence and against the Anthropic
//! observer's reading of it.

use serde_json::{Value, json};

use super::stream::{StreamOutcome, StreamTranslator};
use super::tool_names::ToolNameMap;
use crate::providers::anthropic::observer::AnthropicObserver;
use crate::sse::parser::SseParser;

/// One content block of the translated stream, with its deltas joined.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Block {
    pub kind: String,
    pub id: String,
    pub name: String,
    /// Joined text, thinking or partial_json.
    pub content: String,
}

/// What a well-formed translated stream said.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Translated {
    pub blocks: Vec<Block>,
    pub stop_reason: Option<String>,
    pub usage: Option<Value>,
    pub error: Option<Value>,
    pub completed: bool,
}

/// Parses `out` and asserts the Anthropic stream rules: event name = data type; one
/// message_start first; blocks opened with consecutive indices, one at a time, deltas of the
/// block's own type to the open block, each closed before the next opens; then exactly one
/// message_delta and one message_stop last; or an error event last.
pub(super) fn check(out: &[u8]) -> Translated {
    let mut events = Vec::new();
    let mut parser = SseParser::new();
    parser.feed(out, |e| {
        let data: Value = serde_json::from_slice(e.data).expect("event data is JSON");
        let name = String::from_utf8(e.event.to_vec()).unwrap();
        assert_eq!(data["type"], name.as_str(), "event name equals its type");
        events.push((name, data));
    });
    assert!(
        !parser.in_partial_event(),
        "output ends on an event boundary"
    );
    let mut result = Translated {
        blocks: Vec::new(),
        stop_reason: None,
        usage: None,
        error: None,
        completed: false,
    };
    let mut open: Option<usize> = None;
    let mut started = false;
    let mut delta_seen = false;
    for (i, (name, data)) in events.iter().enumerate() {
        assert!(
            !result.completed && result.error.is_none(),
            "event after the end"
        );
        match name.as_str() {
            "message_start" => {
                assert!(!started, "one message_start");
                assert_eq!(i, 0, "message_start first");
                started = true;
                assert_eq!(data["message"]["role"], "assistant");
                assert!(data["message"]["id"].as_str().unwrap().starts_with("msg_"));
            }
            "content_block_start" => {
                assert!(
                    started && !delta_seen && open.is_none(),
                    "block opens alone"
                );
                assert_eq!(data["index"], result.blocks.len(), "consecutive indices");
                let block = &data["content_block"];
                let kind = block["type"].as_str().unwrap().to_owned();
                let text = |k: &str| block[k].as_str().unwrap_or_default().to_owned();
                result.blocks.push(Block {
                    kind,
                    id: text("id"),
                    name: text("name"),
                    content: String::new(),
                });
                open = Some(result.blocks.len() - 1);
            }
            "content_block_delta" => {
                let index = open.expect("delta to an open block");
                assert_eq!(data["index"], index);
                let block = &mut result.blocks[index];
                let (expected, field) = match block.kind.as_str() {
                    "text" => ("text_delta", "text"),
                    "thinking" => ("thinking_delta", "thinking"),
                    _ => ("input_json_delta", "partial_json"),
                };
                assert_eq!(data["delta"]["type"], expected);
                block
                    .content
                    .push_str(data["delta"][field].as_str().unwrap());
            }
            "content_block_stop" => {
                assert_eq!(Some(data["index"].as_u64().unwrap() as usize), open);
                open = None;
            }
            "message_delta" => {
                assert!(
                    started && open.is_none() && !delta_seen,
                    "one message_delta"
                );
                delta_seen = true;
                result.stop_reason = data["delta"]["stop_reason"].as_str().map(str::to_owned);
                result.usage = Some(data["usage"].clone());
            }
            "message_stop" => {
                assert!(delta_seen, "message_delta before message_stop");
                result.completed = true;
            }
            "error" => result.error = Some(data["error"].clone()),
            other => panic!("unexpected event {other}"),
        }
    }
    assert!(
        result.completed || result.error.is_some(),
        "the stream ends"
    );
    result
}

/// Translates `input` in one piece, at every split into two, and byte by byte; asserts all
/// give the same bytes and outcome; returns the output and the translator.
pub(super) fn translate_all_ways(input: &[u8], names: &ToolNameMap) -> (Vec<u8>, StreamTranslator) {
    let run = |pieces: &[&[u8]]| {
        let mut translator = StreamTranslator::new(names.clone(), "fallback-model");
        let mut out = Vec::new();
        for piece in pieces {
            translator.feed(piece, &mut out);
        }
        translator.finish(&mut out);
        (out, translator)
    };
    let (whole, translator) = run(&[input]);
    for at in 0..=input.len() {
        let (a, b) = input.split_at(at);
        let (split, other) = run(&[a, b]);
        assert_eq!(split, whole, "split at {at} differs");
        assert_eq!(other.summary(), translator.summary());
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(run(&bytes).0, whole, "byte by byte differs");
    (whole, translator)
}

pub(super) fn data(chunk: &Value) -> String {
    format!("data: {chunk}\n\n")
}

fn delta(delta: Value) -> String {
    data(
        &json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "gpt-x",
        "choices": [{"index": 0, "delta": delta, "finish_reason": null}]}),
    )
}

fn finish(reason: &str) -> String {
    data(&json!({"id": "chatcmpl-1", "model": "gpt-x",
        "choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}))
}

fn usage(prompt: u64, cached: u64, completion: u64) -> String {
    data(
        &json!({"id": "chatcmpl-1", "choices": [], "usage": {"prompt_tokens": prompt,
        "completion_tokens": completion, "prompt_tokens_details": {"cached_tokens": cached}}}),
    )
}

const DONE: &str = "data: [DONE]\n\n";

fn tool(index: u64, id: Option<&str>, name: Option<&str>, args: &str) -> String {
    let mut call = json!({"index": index, "function": {"arguments": args}});
    if let Some(id) = id {
        call["id"] = json!(id);
        call["type"] = json!("function");
    }
    if let Some(name) = name {
        call["function"]["name"] = json!(name);
    }
    delta(json!({"tool_calls": [call]}))
}

/// Translates and checks; also asserts the Anthropic observer reads the same summary from the
/// output as the translator reports.
fn translate(input: &str, names: &ToolNameMap) -> (Translated, StreamTranslator) {
    let (out, translator) = translate_all_ways(input.as_bytes(), names);
    let translated = check(&out);
    let mut observer = AnthropicObserver::new();
    SseParser::new().feed(&out, |e| observer.on_event(e));
    assert_eq!(
        observer.summary(),
        translator.summary(),
        "summary as observed"
    );
    (translated, translator)
}

#[test]
fn text_stream_with_usage_after_finish() {
    let input = [
        delta(json!({"role": "assistant", "content": ""})),
        delta(json!({"content": "Hel"})),
        delta(json!({"content": "lo \"wörld\" ✓\n"})),
        finish("stop"),
        usage(100, 60, 7),
        DONE.into(),
    ]
    .concat();
    let (t, translator) = translate(&input, &ToolNameMap::new());
    assert_eq!(t.blocks.len(), 1);
    assert_eq!(t.blocks[0].kind, "text");
    assert_eq!(t.blocks[0].content, "Hello \"wörld\" ✓\n");
    assert_eq!(t.stop_reason.as_deref(), Some("end_turn"));
    let usage = t.usage.unwrap();
    assert_eq!(usage["input_tokens"], 40);
    assert_eq!(usage["cache_read_input_tokens"], 60);
    assert_eq!(usage["output_tokens"], 7);
    assert_eq!(translator.outcome(), StreamOutcome::Completed);
    assert!(translator.terminated());
    let summary = translator.summary();
    assert_eq!(summary.message_id.as_deref(), Some("msg_chatcmpl-1"));
    assert_eq!(summary.model.as_deref(), Some("gpt-x"));
    assert_eq!(summary.usage.output_tokens, 7);
}

#[test]
fn reasoning_then_text_are_two_blocks() {
    let input = [
        delta(json!({"reasoning_content": "think "})),
        delta(json!({"reasoning": "more"})),
        delta(json!({"content": "answer"})),
        finish("length"),
        usage(5, 0, 9),
        DONE.into(),
    ]
    .concat();
    let (t, _) = translate(&input, &ToolNameMap::new());
    let kinds: Vec<_> = t.blocks.iter().map(|b| b.kind.as_str()).collect();
    assert_eq!(kinds, ["thinking", "text"]);
    assert_eq!(t.blocks[0].content, "think more");
    assert_eq!(t.stop_reason.as_deref(), Some("max_tokens"));
}

#[test]
fn one_tool_call_with_escapes_and_utf8_and_a_restored_long_name() {
    let long = format!("mcp__server__{}", "x".repeat(70));
    let mut names = ToolNameMap::new();
    let sent = names.outbound(&long);
    let args = r#"{"command":"echo \"héllo\" \\ 日本\n","n":[1,{"a":"}"}]}"#;
    let (a, rest) = args.split_at(9);
    let (b, c) = rest.split_at(9); // inside the `\"` escape
    let input = [
        delta(json!({"content": "Running it."})),
        tool(0, Some("call_A"), Some(&sent), ""),
        tool(0, None, None, a),
        tool(0, None, None, b),
        tool(0, None, None, c),
        finish("tool_calls"),
        usage(10, 0, 20),
        DONE.into(),
    ]
    .concat();
    let (t, translator) = translate(&input, &names);
    assert_eq!(t.blocks.len(), 2);
    let tool = &t.blocks[1];
    assert_eq!(
        (tool.kind.as_str(), tool.id.as_str()),
        ("tool_use", "call_A")
    );
    assert_eq!(tool.name, long);
    assert_eq!(tool.content, args);
    let parsed: Value = serde_json::from_str(&tool.content).unwrap();
    assert_eq!(parsed["command"], "echo \"héllo\" \\ 日本\n");
    assert_eq!(t.stop_reason.as_deref(), Some("tool_use"));
    assert_eq!(translator.summary().tool_calls[0].name, long);
    assert_eq!(translator.summary().tool_calls[0].input_json, args);
}

#[test]
fn interleaved_parallel_tool_calls_never_overlap() {
    let input = [
        tool(0, Some("call_0"), Some("Read"), "{\"path\":"),
        tool(1, Some("call_1"), Some("Bash"), "{\"cmd\""),
        tool(0, None, None, "\"a.rs\"}"),
        tool(1, None, None, ":\"ls\"}"),
        tool(2, Some("call_2"), Some("Glob"), ""),
        finish("tool_calls"),
        usage(1, 0, 1),
        DONE.into(),
    ]
    .concat();
    let (t, translator) = translate(&input, &ToolNameMap::new());
    let got: Vec<_> = t
        .blocks
        .iter()
        .map(|b| (b.id.as_str(), b.name.as_str(), b.content.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("call_0", "Read", "{\"path\":\"a.rs\"}"),
            ("call_1", "Bash", "{\"cmd\":\"ls\"}"),
            ("call_2", "Glob", ""),
        ]
    );
    assert_eq!(translator.summary().tool_calls[2].input_json, "{}");
}

#[test]
fn a_completed_call_closes_when_the_next_begins() {
    let mut translator = StreamTranslator::new(ToolNameMap::new(), "m");
    let mut out = Vec::new();
    translator.feed(tool(0, Some("a"), Some("A"), "{}").as_bytes(), &mut out);
    translator.feed(tool(1, Some("b"), Some("B"), "{\"x\"").as_bytes(), &mut out);
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("\"content_block_stop\",\"index\":0"));
    assert!(text.contains("\"partial_json\":\"{\\\"x\\\"\""), "{text}");
}

#[test]
fn azure_filter_chunks_and_null_choices_are_tolerated() {
    let azure_first = data(&json!({"choices": [], "created": 0, "id": "", "model": "",
        "object": "", "prompt_filter_results": [{"prompt_index": 0,
        "content_filter_results": {"hate": {"filtered": false, "severity": "safe"}}}]}));
    let null_choices = data(&json!({"id": "chatcmpl-1", "choices": null}));
    let filtered = data(
        &json!({"id": "chatcmpl-1", "model": "gpt-4o", "choices": [{"index": 0,
        "delta": {"content": "hi"}, "finish_reason": null,
        "content_filter_results": {"violence": {"filtered": false}}}]}),
    );
    let input = [
        azure_first,
        null_choices,
        filtered,
        finish("content_filter"),
        usage(3, 0, 1),
        DONE.into(),
    ]
    .concat();
    let (t, translator) = translate(&input, &ToolNameMap::new());
    assert_eq!(t.blocks[0].content, "hi");
    assert_eq!(t.stop_reason.as_deref(), Some("refusal"));
    assert_eq!(translator.summary().model.as_deref(), Some("gpt-4o"));
}

#[test]
fn content_and_finish_in_one_chunk_are_two_steps() {
    let both = data(&json!({"id": "c", "model": "m", "choices": [{"index": 0,
        "delta": {"content": "bye"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 2, "completion_tokens": 1}}));
    let (t, _) = translate(&[both, DONE.into()].concat(), &ToolNameMap::new());
    assert_eq!(t.blocks[0].content, "bye");
    assert_eq!(t.usage.unwrap()["input_tokens"], 2);
}

#[test]
fn message_delta_waits_for_usage_then_done_stops() {
    let mut translator = StreamTranslator::new(ToolNameMap::new(), "m");
    let mut out = Vec::new();
    translator.feed(delta(json!({"content": "x"})).as_bytes(), &mut out);
    translator.feed(finish("stop").as_bytes(), &mut out);
    assert!(!String::from_utf8_lossy(&out).contains("message_delta"));
    translator.feed(usage(4, 1, 2).as_bytes(), &mut out);
    assert!(String::from_utf8_lossy(&out).contains("message_delta"));
    assert!(!translator.terminated());
    translator.feed(DONE.as_bytes(), &mut out);
    assert!(translator.terminated());
    assert_eq!(translator.outcome(), StreamOutcome::Completed);
}

#[test]
fn done_without_usage_still_sends_message_delta() {
    let input = [delta(json!({"content": "x"})), finish("stop"), DONE.into()].concat();
    let (t, _) = translate(&input, &ToolNameMap::new());
    assert_eq!(t.usage.unwrap()["output_tokens"], 0);
    assert!(t.completed);
}

#[test]
fn end_after_finish_without_done_completes() {
    let input = [
        delta(json!({"content": "x"})),
        finish("stop"),
        usage(1, 0, 1),
    ]
    .concat();
    let (t, translator) = translate(&input, &ToolNameMap::new());
    assert!(t.completed);
    assert_eq!(translator.outcome(), StreamOutcome::Completed);
}

#[test]
fn end_before_finish_is_an_error_event() {
    let input = [
        delta(json!({"content": "x"})),
        tool(0, Some("c"), Some("T"), "{\"a"),
    ]
    .concat();
    let (t, translator) = translate(&input, &ToolNameMap::new());
    assert_eq!(t.error.unwrap()["type"], "api_error");
    assert_eq!(translator.outcome(), StreamOutcome::Failed);
    assert!(translator.terminated());
}

#[test]
fn a_malformed_chunk_fails_the_stream_and_later_input_is_ignored() {
    for bad in [
        "data: {\"choices\":[{\"delta\":{\"content\":\"x\"\n\n",
        "data: [1,2]\n\n",
        "data: \"text\"\n\n",
        "data: {\"choices\":[{\"index\":\"zero\"}]}\n\n",
        "data: \u{fffd}\n\n",
    ] {
        let input = [delta(json!({"content": "ok"})), bad.into(), DONE.into()].concat();
        let (t, translator) = translate(&input, &ToolNameMap::new());
        assert_eq!(t.error.unwrap()["type"], "api_error", "{bad}");
        assert!(!t.completed);
        assert_eq!(translator.outcome(), StreamOutcome::Failed);
    }
}

#[test]
fn an_upstream_error_object_becomes_its_error_event() {
    let error = data(
        &json!({"error": {"message": "Rate limit reached", "type": "tokens",
        "code": "rate_limit_exceeded"}}),
    );
    let input = [delta(json!({"content": "ok"})), error].concat();
    let (t, translator) = translate(&input, &ToolNameMap::new());
    let error = t.error.unwrap();
    assert_eq!(error["type"], "rate_limit_error");
    assert_eq!(error["message"], "Rate limit reached");
    assert_eq!(
        translator.summary().error_type.as_deref(),
        Some("rate_limit_error")
    );
}

#[test]
fn arguments_for_a_closed_call_fail_but_whitespace_is_ignored() {
    let input = [
        tool(0, Some("a"), Some("A"), "{}"),
        tool(1, Some("b"), Some("B"), "{}"),
        tool(0, None, None, " "),
        finish("tool_calls"),
        DONE.into(),
    ]
    .concat();
    let (t, _) = translate(&input, &ToolNameMap::new());
    assert!(t.completed);
    let input = [
        tool(0, Some("a"), Some("A"), "{}"),
        tool(1, Some("b"), Some("B"), "{}"),
        tool(0, None, None, "x"),
    ]
    .concat();
    let (t, _) = translate(&input, &ToolNameMap::new());
    assert!(t.error.is_some());
}

#[test]
fn an_empty_stream_is_an_error_and_done_alone_is_an_empty_message() {
    let (t, _) = translate("", &ToolNameMap::new());
    assert!(t.error.is_some());
    let (t, translator) = translate(DONE, &ToolNameMap::new());
    assert!(t.completed && t.blocks.is_empty());
    assert_eq!(
        translator.summary().model.as_deref(),
        Some("fallback-model")
    );
}

#[test]
fn a_transport_failure_writes_one_error_event() {
    let mut translator = StreamTranslator::new(ToolNameMap::new(), "m");
    let mut out = Vec::new();
    translator.feed(delta(json!({"content": "x"})).as_bytes(), &mut out);
    translator.fail("overloaded_error", "upstream reset", &mut out);
    translator.fail("api_error", "again", &mut out);
    translator.finish(&mut out);
    let t = check(&out);
    assert_eq!(t.error.unwrap()["message"], "upstream reset");
}

#[test]
fn comments_event_names_and_crlf_are_accepted() {
    let input = format!(
        ": keep-alive\r\n\r\nevent: chunk\r\n{}{}",
        delta(json!({"content": "x"})).replace("\n\n", "\r\n\r\n"),
        [finish("stop"), DONE.into()].concat()
    );
    let (t, _) = translate(&input, &ToolNameMap::new());
    assert_eq!(t.blocks[0].content, "x");
}

#[test]
fn content_after_the_finish_is_ignored() {
    let input = [
        delta(json!({"content": "x"})),
        finish("stop"),
        usage(1, 0, 1),
        delta(json!({"content": "late"})),
        tool(0, Some("c"), Some("T"), "{}"),
        DONE.into(),
    ]
    .concat();
    let (t, _) = translate(&input, &ToolNameMap::new());
    assert_eq!(t.blocks.len(), 1);
    assert_eq!(t.blocks[0].content, "x");
}
