//! Tests of the Anthropic stream observer: the full fixture stream through the parser at every
//! split, cumulative usage, exact tool inputs, robustness and limits.

use super::observer::{
    AnthropicObserver, MAX_TOOL_CALLS, MAX_TOOL_INPUT_BYTES, ResponseSummary, ToolCall, Usage,
};
use super::parser::{SseEvent, SseParser};
use super::parser_tests::{
    ALL_LINE_ENDS, TOOL_A_INPUT, TOOL_B_INPUT, anthropic_blocks, anthropic_events, build,
};

fn expected_summary() -> ResponseSummary {
    ResponseSummary {
        message_id: Some("msg_01XyZ".into()),
        model: Some("claude-sonnet-4-5-20250929".into()),
        usage: Usage {
            input_tokens: 12,
            output_tokens: 412,
            cache_read_input_tokens: 40000,
            cache_creation_input_tokens: 1800,
        },
        stop_reason: Some("tool_use".into()),
        tool_calls: vec![
            ToolCall {
                id: "toolu_01A".into(),
                name: "Read".into(),
                input_json: TOOL_A_INPUT.into(),
            },
            ToolCall {
                id: "toolu_01B".into(),
                name: "Bash".into(),
                input_json: TOOL_B_INPUT.into(),
            },
        ],
        saw_message_stop: true,
        error_type: None,
        first_token_seen: true,
    }
}

fn observe(events: &[(&str, &str)]) -> ResponseSummary {
    let mut observer = AnthropicObserver::new();
    for (name, data) in events {
        observer.on_event(&SseEvent {
            event: name.as_bytes(),
            data: data.as_bytes(),
            id: None,
        });
    }
    observer.into_summary()
}

#[test]
fn full_stream_summary_at_every_split() {
    for line_ends in ALL_LINE_ENDS {
        let bytes = build(&anthropic_blocks(), line_ends).bytes;
        let cut_sets = (0..=bytes.len())
            .map(|k| vec![k])
            .chain([(1..bytes.len()).collect()]);
        for cuts in cut_sets {
            let mut parser = SseParser::new();
            let mut observer = AnthropicObserver::new();
            let mut start = 0;
            for end in cuts.iter().copied().chain([bytes.len()]) {
                parser.feed(&bytes[start..end], |ev| observer.on_event(ev));
                start = end;
            }
            assert_eq!(
                observer.summary(),
                &expected_summary(),
                "{line_ends:?} {cuts:?}"
            );
        }
    }
}

#[test]
fn tool_inputs_are_the_json_the_model_meant() {
    let a: serde_json::Value = serde_json::from_str(TOOL_A_INPUT).unwrap();
    assert_eq!(a["file_path"], "/tmp/café 😀.txt");
    let b: serde_json::Value = serde_json::from_str(TOOL_B_INPUT).unwrap();
    assert_eq!(b["command"], "echo \"hi\" > café.txt");
    assert_eq!(b["description"], "naïve ✓");
}

#[test]
fn first_token_is_the_first_content_delta() {
    let events = anthropic_events();
    let first_delta = events
        .iter()
        .position(|(name, _)| *name == "content_block_delta")
        .unwrap();
    let mut observer = AnthropicObserver::new();
    for (n, (name, data)) in events.iter().enumerate() {
        assert_eq!(
            observer.summary().first_token_seen,
            n > first_delta,
            "event {n}"
        );
        observer.on_event(&SseEvent {
            event: name.as_bytes(),
            data: data.as_bytes(),
            id: None,
        });
    }
}

#[test]
fn signature_delta_alone_is_no_first_token() {
    let summary = observe(&[(
        "content_block_delta",
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"x"}}"#,
    )]);
    assert!(!summary.first_token_seen);
}

#[test]
fn unnamed_events_are_typed_by_their_json() {
    let summary = observe(&[
        (
            "",
            r#"{"type":"message_start","message":{"id":"msg_1","model":"m","usage":{"input_tokens":3}}}"#,
        ),
        (
            "",
            r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":9}}"#,
        ),
        ("", r#"{"type":"message_stop"}"#),
    ]);
    assert_eq!(summary.message_id.as_deref(), Some("msg_1"));
    assert_eq!(summary.usage.input_tokens, 3);
    assert_eq!(summary.usage.output_tokens, 9);
    assert_eq!(summary.stop_reason.as_deref(), Some("end_turn"));
    assert!(summary.saw_message_stop);
}

#[test]
fn error_event_records_its_type() {
    let summary = observe(&[
        ("ping", r#"{"type":"ping"}"#),
        (
            "error",
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        ),
    ]);
    assert_eq!(summary.error_type.as_deref(), Some("overloaded_error"));
    assert!(!summary.saw_message_stop);
}

#[test]
fn tool_without_parameters_gets_an_empty_object() {
    let summary = observe(&[
        (
            "content_block_start",
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"Now","input":{}}}"#,
        ),
        (
            "content_block_delta",
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":""}}"#,
        ),
        (
            "content_block_stop",
            r#"{"type":"content_block_stop","index":0}"#,
        ),
    ]);
    assert_eq!(summary.tool_calls[0].input_json, "{}");
}

#[test]
fn malformed_events_are_ignored_without_panic() {
    let junk = [
        "",
        "not json",
        "{",
        "[]",
        "null",
        r#"{"type":"content_block_delta"}"#,
        r#"{"index":-1,"delta":{"type":"input_json_delta","partial_json":"x"}}"#,
        r#"{"index":99,"delta":{"type":"input_json_delta","partial_json":"x"}}"#,
        r#"{"index":"0","delta":{"type":"input_json_delta","partial_json":7}}"#,
        r#"{"message":[],"usage":{"output_tokens":-5},"error":"x","content_block":{"type":7}}"#,
        r#"{"message":{"usage":{"input_tokens":1.5,"output_tokens":null}}}"#,
    ];
    let names = [
        "",
        "message_start",
        "message_delta",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "error",
        "ping",
        "unknown",
    ];
    let mut observer = AnthropicObserver::new();
    for name in names {
        for data in junk {
            observer.on_event(&SseEvent {
                event: name.as_bytes(),
                data: data.as_bytes(),
                id: None,
            });
        }
    }
    // The input_json_delta events do count as a first token; nothing else was recorded.
    let expected = ResponseSummary {
        first_token_seen: true,
        ..ResponseSummary::default()
    };
    assert_eq!(observer.summary(), &expected);
}

fn tool_start(index: usize) -> String {
    format!(
        r#"{{"type":"content_block_start","index":{index},"content_block":{{"type":"tool_use","id":"t{index}","name":"n","input":{{}}}}}}"#
    )
}

#[test]
fn tool_calls_are_kept_up_to_the_limit() {
    for (starts, kept) in [
        (MAX_TOOL_CALLS, MAX_TOOL_CALLS),
        (MAX_TOOL_CALLS + 1, MAX_TOOL_CALLS),
    ] {
        let mut observer = AnthropicObserver::new();
        for index in 0..starts {
            let data = tool_start(index);
            observer.on_event(&SseEvent {
                event: b"content_block_start",
                data: data.as_bytes(),
                id: None,
            });
        }
        let calls = &observer.summary().tool_calls;
        assert_eq!(calls.len(), kept);
        assert_eq!(calls.last().unwrap().id, format!("t{}", kept - 1));
    }
}

fn fragment_event(fragment: &str) -> String {
    format!(
        r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"input_json_delta","partial_json":"{fragment}"}}}}"#
    )
}

#[test]
fn tool_input_is_kept_up_to_the_limit() {
    let at_limit = "a".repeat(MAX_TOOL_INPUT_BYTES - 1);
    for (first, then, expected_len) in [
        (at_limit.as_str(), "b", MAX_TOOL_INPUT_BYTES),
        (at_limit.as_str(), "bc", MAX_TOOL_INPUT_BYTES - 1),
    ] {
        let mut observer = AnthropicObserver::new();
        let start = tool_start(0);
        observer.on_event(&SseEvent {
            event: b"content_block_start",
            data: start.as_bytes(),
            id: None,
        });
        for fragment in [first, then, "d"] {
            let data = fragment_event(fragment);
            observer.on_event(&SseEvent {
                event: b"content_block_delta",
                data: data.as_bytes(),
                id: None,
            });
        }
        let input = &observer.summary().tool_calls[0].input_json;
        assert_eq!(input.len(), expected_len);
        assert!(
            !input.ends_with('d'),
            "fragments after a dropped one are dropped too"
        );
    }
}
