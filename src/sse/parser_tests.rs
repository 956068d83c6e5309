//! Tests of the SSE parser: every fixture fed whole, split at every byte offset and byte by byte,
//! in LF, CRLF, lone-CR and mixed line ends; plus BOM, limits, partial events and reset.

use super::parser::{MAX_EVENT_BYTES, MAX_LINE_BYTES, SseParser};

/// An event as the parser dispatched it, owned so it outlives the callback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OwnedEvent {
    pub event: Vec<u8>,
    pub data: Vec<u8>,
    pub id: Option<Vec<u8>>,
}

fn event(event: &str, data: &str, id: Option<&str>) -> OwnedEvent {
    OwnedEvent {
        event: event.as_bytes().to_vec(),
        data: data.as_bytes().to_vec(),
        id: id.map(|id| id.as_bytes().to_vec()),
    }
}

/// One block of a fixture: its lines (no line ends; empty for an extra blank line) and the event
/// it must dispatch, if any.
pub(crate) struct Block {
    pub lines: Vec<String>,
    pub expect: Option<OwnedEvent>,
}

fn block(lines: &[&str], expect: Option<OwnedEvent>) -> Block {
    Block {
        lines: lines.iter().map(|line| (*line).to_owned()).collect(),
        expect,
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum LineEnds {
    Lf,
    CrLf,
    Cr,
    /// Each block uses the next of LF, CRLF, CR in turn.
    Mixed,
}

pub(crate) const ALL_LINE_ENDS: [LineEnds; 4] =
    [LineEnds::Lf, LineEnds::CrLf, LineEnds::Cr, LineEnds::Mixed];

/// A stream and what parsing it must give.
pub(crate) struct Fixture {
    pub bytes: Vec<u8>,
    pub events: Vec<OwnedEvent>,
    /// Offsets just past the blank line closing each non-empty block.
    pub boundaries: Vec<usize>,
}

pub(crate) fn build(blocks: &[Block], line_ends: LineEnds) -> Fixture {
    let mut fixture = Fixture {
        bytes: Vec::new(),
        events: Vec::new(),
        boundaries: Vec::new(),
    };
    for (n, block) in blocks.iter().enumerate() {
        let eol: &[u8] = match (line_ends, n % 3) {
            (LineEnds::Lf, _) | (LineEnds::Mixed, 0) => b"\n",
            (LineEnds::CrLf, _) | (LineEnds::Mixed, 1) => b"\r\n",
            (LineEnds::Cr, _) | (LineEnds::Mixed, _) => b"\r",
        };
        for line in &block.lines {
            fixture.bytes.extend_from_slice(line.as_bytes());
            fixture.bytes.extend_from_slice(eol);
        }
        fixture.bytes.extend_from_slice(eol);
        if !block.lines.is_empty() {
            fixture.boundaries.push(fixture.bytes.len());
        }
        fixture.events.extend(block.expect.clone());
    }
    fixture
}

/// A full Anthropic stream: thinking with signature, text, two tool_use blocks whose
/// input_json_delta fragments split a key, an inner `\"` and an inner `\u00e9`, with an
/// event-level `\u00e9` escape and multi-byte characters; pings, a comment block and an unknown
/// event. Returns (event name, data) pairs; `anthropic_blocks` frames them.
pub(crate) fn anthropic_events() -> Vec<(&'static str, String)> {
    let tool_b_fragments = [
        r#"{"command": "echo \"#,
        r#""hi\" > caf\u00"#,
        r#"e9.txt", "descr"#,
        r#"iption": "naï"#,
        r#"ve ✓"}"#,
    ];
    let mut events: Vec<(&'static str, String)> = vec![
        ("message_start", r#"{"type":"message_start","message":{"id":"msg_01XyZ","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":12,"cache_creation_input_tokens":1800,"cache_read_input_tokens":40000,"output_tokens":1}}}"#.into()),
        ("ping", r#"{"type": "ping"}"#.into()),
        ("content_block_start", r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}"#.into()),
        ("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"The user wants the file. "}}"#.into()),
        ("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"I'll read it \u2014 then run \"echo\"."}}"#.into()),
        ("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxXz+/Sig=="}}"#.into()),
        ("content_block_stop", r#"{"type":"content_block_stop","index":0}"#.into()),
        ("content_block_start", r#"{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}"#.into()),
        ("content_block_delta", r#"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Reading caf\u00e9 😀 — \"now\"\n"}}"#.into()),
        ("ping", r#"{"type": "ping"}"#.into()),
        ("content_block_stop", r#"{"type":"content_block_stop","index":1}"#.into()),
        ("content_block_start", r#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_01A","name":"Read","input":{}}}"#.into()),
        ("content_block_delta", r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":""}}"#.into()),
        ("content_block_delta", r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"file_pa"}}"#.into()),
        ("content_block_delta", r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"th\": \"/tmp/caf\u00e9 "}}"#.into()),
        ("content_block_delta", r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"😀.txt\", \"li"}}"#.into()),
        ("content_block_delta", r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"mit\": 20}"}}"#.into()),
        ("content_block_stop", r#"{"type":"content_block_stop","index":2}"#.into()),
        ("content_block_start", r#"{"type":"content_block_start","index":3,"content_block":{"type":"tool_use","id":"toolu_01B","name":"Bash","input":{}}}"#.into()),
    ];
    for fragment in tool_b_fragments {
        let encoded = serde_json::to_string(fragment).unwrap();
        events.push((
            "content_block_delta",
            format!(
                r#"{{"type":"content_block_delta","index":3,"delta":{{"type":"input_json_delta","partial_json":{encoded}}}}}"#
            ),
        ));
    }
    events.extend([
        ("future_event", r#"{"type":"future_event","index":3}"#.into()),
        ("content_block_stop", r#"{"type":"content_block_stop","index":3}"#.into()),
        ("message_delta", r#"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"input_tokens":12,"cache_creation_input_tokens":1800,"cache_read_input_tokens":40000,"output_tokens":380}}"#.into()),
        ("message_delta", r#"{"type":"message_delta","delta":{},"usage":{"output_tokens":412}}"#.into()),
        ("message_stop", r#"{"type":"message_stop"}"#.into()),
    ]);
    events
}

/// The exact tool inputs the fragments of `anthropic_events` assemble to.
pub(crate) const TOOL_A_INPUT: &str = r#"{"file_path": "/tmp/café 😀.txt", "limit": 20}"#;
pub(crate) const TOOL_B_INPUT: &str =
    r#"{"command": "echo \"hi\" > caf\u00e9.txt", "description": "naïve ✓"}"#;

pub(crate) fn anthropic_blocks() -> Vec<Block> {
    let mut blocks = vec![block(&[": upstream keep-alive"], None)];
    for (name, data) in anthropic_events() {
        blocks.push(Block {
            lines: vec![format!("event: {name}"), format!("data: {data}")],
            expect: Some(event(name, &data, None)),
        });
    }
    blocks
}

/// Parser rules beyond the Anthropic shape: multi-line data, comments, fields without colon or
/// space, unknown fields, ids persisting, events without data, empty data, multi-byte names.
fn rules_blocks() -> Vec<Block> {
    vec![
        block(&[": comment only"], None),
        block(&["data: first"], Some(event("", "first", None))),
        block(&[], None),
        block(
            &[
                "event: multi",
                "data: line one",
                ": a comment inside",
                "data:line two",
                "data:  two spaces",
                "data",
                "unknown: x",
                "retry: 1000",
            ],
            Some(event("multi", "line one\nline two\n two spaces\n", None)),
        ),
        block(
            &["id: 7", "event: with-id", r#"data: {"type":"ping"}"#],
            Some(event("with-id", r#"{"type":"ping"}"#, Some("7"))),
        ),
        block(
            &["data: keeps last id"],
            Some(event("", "keeps last id", Some("7"))),
        ),
        block(&["event: no-data", "id: 8"], None),
        block(
            &["data: after no-data"],
            Some(event("", "after no-data", Some("8"))),
        ),
        block(
            &["id", "data: id cleared"],
            Some(event("", "id cleared", None)),
        ),
        block(
            &["id: 9", "id: x\0y", "data: nul id ignored"],
            Some(event("", "nul id ignored", Some("9"))),
        ),
        block(&["data:"], Some(event("", "", Some("9")))),
        block(&[], None),
        block(
            &["event: héllo 😀", "data: ünïcode ✓"],
            Some(event("héllo 😀", "ünïcode ✓", Some("9"))),
        ),
    ]
}

/// Feed `bytes` cut at `cuts` (interior offsets, ascending); return the events and each part's
/// return value.
fn run(bytes: &[u8], cuts: &[usize]) -> (Vec<OwnedEvent>, Vec<Option<usize>>) {
    let mut parser = SseParser::new();
    let mut events = Vec::new();
    let mut returns = Vec::new();
    let mut start = 0;
    for end in cuts.iter().copied().chain([bytes.len()]) {
        returns.push(parser.feed(&bytes[start..end], |ev| {
            events.push(OwnedEvent {
                event: ev.event.to_vec(),
                data: ev.data.to_vec(),
                id: ev.id.map(<[u8]>::to_vec),
            });
        }));
        start = end;
    }
    (events, returns)
}

/// What each part must return: the last boundary that became certain inside it, relative to the
/// part. A boundary right after a lone CR becomes certain only once the next byte is seen.
fn expected_returns(fixture: &Fixture, cuts: &[usize]) -> Vec<Option<usize>> {
    let certain_at = |b: usize| b + usize::from(fixture.bytes[b - 1] == b'\r');
    let starts = std::iter::once(0).chain(cuts.iter().copied());
    let ends = cuts.iter().copied().chain([fixture.bytes.len()]);
    starts
        .zip(ends)
        .map(|(start, end)| {
            fixture
                .boundaries
                .iter()
                .filter(|&&b| (start + 1..=end).contains(&certain_at(b)))
                .map(|&b| b - start)
                .max()
        })
        .collect()
}

fn check_every_split(blocks: &[Block]) {
    for line_ends in ALL_LINE_ENDS {
        let fixture = build(blocks, line_ends);
        let len = fixture.bytes.len();
        let mut cut_sets: Vec<Vec<usize>> = (0..=len).map(|k| vec![k]).collect();
        cut_sets.push((1..len).collect());
        for cuts in cut_sets {
            let (events, returns) = run(&fixture.bytes, &cuts);
            let context = format!("{line_ends:?} cut at {:?}", cuts.first());
            assert_eq!(events, fixture.events, "{context}");
            assert_eq!(returns, expected_returns(&fixture, &cuts), "{context}");
        }
    }
}

#[test]
fn anthropic_stream_parses_identically_at_every_split() {
    check_every_split(&anthropic_blocks());
}

#[test]
fn parser_rules_hold_at_every_split() {
    check_every_split(&rules_blocks());
}

#[test]
fn byte_by_byte_reports_every_boundary() {
    for line_ends in ALL_LINE_ENDS {
        let fixture = build(&rules_blocks(), line_ends);
        let cuts: Vec<usize> = (1..fixture.bytes.len()).collect();
        let (_, returns) = run(&fixture.bytes, &cuts);
        let reported: Vec<usize> = returns
            .iter()
            .enumerate()
            .filter_map(|(part, ret)| ret.map(|n| part + n))
            .collect();
        let mut expected = fixture.boundaries.clone();
        if let LineEnds::Cr = line_ends {
            // The last blank line's CR may still be followed by an LF: not reported yet.
            expected.pop();
        }
        assert_eq!(reported, expected, "{line_ends:?}");
    }
}

#[test]
fn cr_then_lf_across_feeds_is_one_line_end() {
    let mut parser = SseParser::new();
    let mut data = Vec::new();
    let mut collect = |ev: &super::SseEvent<'_>| data.push(ev.data.to_vec());
    assert_eq!(parser.feed(b"data: a\r", &mut collect), None);
    assert_eq!(parser.feed(b"\n", &mut collect), None);
    assert_eq!(parser.feed(b"data: b\r\n\r", &mut collect), None);
    assert!(parser.in_partial_event());
    assert_eq!(parser.feed(b"\n", &mut collect), Some(1));
    assert!(!parser.in_partial_event());
    assert_eq!(data, vec![b"a\nb".to_vec()]);
}

#[test]
fn lone_cr_boundary_is_reported_by_the_next_feed() {
    let mut parser = SseParser::new();
    let mut count = 0;
    assert_eq!(parser.feed(b"data: a\r\r", |_| count += 1), None);
    assert_eq!(count, 1, "the event is dispatched without waiting");
    assert_eq!(parser.feed(b"data: b", |_| count += 1), Some(0));
    assert_eq!(parser.feed(b"", |_| count += 1), None);
    assert!(parser.in_partial_event());
}

#[test]
fn bom_is_skipped_only_at_stream_start() {
    let stream = b"\xEF\xBB\xBFdata: x\n\n\xEF\xBB\xBFdata: y\n\ndata: z\n\n";
    for k in 0..=stream.len() {
        let (events, _) = run(stream, &[k]);
        let data: Vec<&[u8]> = events.iter().map(|e| e.data.as_slice()).collect();
        assert_eq!(data, vec![b"x".as_slice(), b"z"], "cut at {k}");
    }
}

#[test]
fn partial_event_state_and_reset() {
    let mut parser = SseParser::new();
    let mut events = 0;
    assert!(!parser.in_partial_event());
    assert_eq!(parser.feed(b"event: x\ndata: part", |_| events += 1), None);
    assert!(parser.in_partial_event());
    parser.reset();
    assert!(!parser.in_partial_event());
    assert_eq!(parser.feed(b"ial\n\n", |_| events += 1), Some(5));
    assert_eq!(events, 0, "reset dropped the unfinished event");
    assert_eq!(parser.feed(b": c\n", |_| events += 1), None);
    assert!(
        parser.in_partial_event(),
        "an open comment block is unfinished"
    );
    assert_eq!(parser.feed(b"\n", |_| events += 1), Some(1));
    assert!(!parser.in_partial_event());
    assert_eq!(
        parser.feed(b"\n\n", |_| events += 1),
        None,
        "empty blocks are no boundary"
    );
}

#[test]
fn unfinished_event_at_stream_end_is_not_dispatched() {
    let (events, returns) = run(b"data: a\n\ndata: b\n", &[]);
    assert_eq!(events, vec![event("", "a", None)]);
    assert_eq!(returns, vec![Some(9)]);
}

/// Feed `stream` in pieces of `piece` bytes; return the data lengths dispatched and the parser.
fn feed_in_pieces(stream: &[u8], piece: usize) -> (Vec<usize>, Vec<usize>, SseParser) {
    let mut parser = SseParser::new();
    let mut lens = Vec::new();
    let mut boundaries = Vec::new();
    for (n, chunk) in stream.chunks(piece).enumerate() {
        if let Some(b) = parser.feed(chunk, |ev| lens.push(ev.data.len())) {
            boundaries.push(n * piece + b);
        }
    }
    (lens, boundaries, parser)
}

fn data_event(value_len: usize, follow: &[u8]) -> Vec<u8> {
    let mut stream = b"data: ".to_vec();
    stream.resize(stream.len() + value_len, b'x');
    stream.extend_from_slice(b"\n\n");
    stream.extend_from_slice(follow);
    stream
}

#[test]
fn event_at_max_bytes_is_dispatched() {
    let stream = data_event(MAX_EVENT_BYTES, b"data: next\n\n");
    assert_eq!(stream.len() - 2 - 12, MAX_LINE_BYTES);
    for piece in [stream.len(), 1 << 20, 65_537] {
        let (lens, boundaries, parser) = feed_in_pieces(&stream, piece);
        assert_eq!(lens, vec![MAX_EVENT_BYTES, 4], "piece {piece}");
        assert_eq!(boundaries.last(), Some(&stream.len()));
        assert_eq!(parser.oversized_events(), 0);
    }
}

#[test]
fn event_one_past_max_bytes_is_dropped_and_stream_continues() {
    let stream = data_event(MAX_EVENT_BYTES + 1, b"data: next\n\n");
    for piece in [stream.len(), 1 << 20, 65_537] {
        let (lens, boundaries, parser) = feed_in_pieces(&stream, piece);
        assert_eq!(lens, vec![4], "piece {piece}");
        assert_eq!(boundaries.last(), Some(&stream.len()));
        assert_eq!(parser.oversized_events(), 1);
        assert!(!parser.in_partial_event());
    }
}

#[test]
fn multi_line_data_limit_counts_the_joining_newlines() {
    let half = (MAX_EVENT_BYTES - 1) / 2;
    let at_limit = [half, MAX_EVENT_BYTES - 1 - half];
    for (extra, dispatched) in [(0, true), (1, false)] {
        let mut stream = Vec::new();
        for len in [at_limit[0], at_limit[1] + extra] {
            stream.extend_from_slice(b"data:");
            stream.resize(stream.len() + len, b'y');
            stream.push(b'\n');
        }
        stream.extend_from_slice(b"\ndata: next\n\n");
        let (lens, _, parser) = feed_in_pieces(&stream, 1 << 20);
        let expected = if dispatched {
            vec![MAX_EVENT_BYTES, 4]
        } else {
            vec![4]
        };
        assert_eq!(lens, expected, "extra {extra}");
        assert_eq!(parser.oversized_events(), u64::from(!dispatched));
    }
}

#[test]
fn overlong_comment_line_is_ignored_but_overlong_field_drops_its_event() {
    let mut stream = b":".to_vec();
    stream.resize(MAX_LINE_BYTES + 10, b'c');
    stream.extend_from_slice(b"\ndata: kept\n\nevent: ");
    stream.resize(stream.len() + MAX_LINE_BYTES, b'e');
    stream.extend_from_slice(b"\ndata: dropped\n\ndata: after\n\n");
    for piece in [stream.len(), 1 << 20] {
        let (lens, _, parser) = feed_in_pieces(&stream, piece);
        assert_eq!(lens, vec![4, 5], "piece {piece}");
        assert_eq!(parser.oversized_events(), 1);
    }
}
