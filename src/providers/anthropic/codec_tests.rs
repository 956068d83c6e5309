//! Tests of the Anthropic response codecs: the fixture stream and a message body fed split at
//! every byte offset come out byte for byte, only at event boundaries, with the usage read on
//! the side; the pending-event limit at and one past it.

use super::codec::{EventStreamCodec, MAX_PENDING_EVENT_BYTES, MessageCodec};
use super::parser_tests::{LineEnds, anthropic_blocks, build};
use crate::providers::codec::{CodecError, ResponseCodec};

/// Feeds `input` in two pieces split at `at` (the second one finishing the body) and returns
/// what the codec emitted, each emission as one piece.
fn feed_split<C: ResponseCodec>(codec: &mut C, input: &[u8], at: usize) -> Vec<Vec<u8>> {
    let mut emitted = Vec::new();
    let mut data = Vec::new();
    for (piece, finished) in [(&input[..at], false), (&input[at..], true)] {
        let fed = data.len();
        data.extend_from_slice(piece);
        codec
            .feed(&mut data, fed, finished, |bytes| {
                emitted.push(bytes.to_vec())
            })
            .unwrap();
    }
    assert!(data.is_empty(), "a finished body leaves nothing held");
    emitted
}

#[test]
fn event_stream_passes_every_byte_through_at_event_boundaries_at_every_split() {
    let fixture = build(&anthropic_blocks(), LineEnds::Lf);
    for at in 0..=fixture.bytes.len() {
        let mut codec = EventStreamCodec::new();
        let emitted = feed_split(&mut codec, &fixture.bytes, at);
        assert_eq!(emitted.concat(), fixture.bytes, "split at {at}");
        let first = emitted.first().map_or(0, Vec::len);
        assert!(
            first == 0 || fixture.boundaries.contains(&first),
            "split at {at}: the first emission ends at an event boundary"
        );
        assert!(codec.terminated(), "split at {at}: message_stop seen");
        let usage = codec.usage().cloned().unwrap_or_default();
        assert_eq!((usage.input_tokens, usage.output_tokens), (12, 412));
        assert_eq!(codec.into_summary().unwrap().tool_calls.len(), 2);
    }
}

#[test]
fn an_unfinished_event_is_held_up_to_the_limit_and_fails_one_past_it() {
    let mut at_limit = b"data: ".to_vec();
    at_limit.resize(MAX_PENDING_EVENT_BYTES, b'x');
    let mut codec = EventStreamCodec::new();
    let mut data = at_limit.clone();
    assert_eq!(codec.feed(&mut data, 0, false, |_| {}), Ok(()));
    assert_eq!(data.len(), MAX_PENDING_EVENT_BYTES, "held, nothing emitted");
    let fed = data.len();
    data.push(b'x');
    assert_eq!(
        codec.feed(&mut data, fed, false, |_| {}),
        Err(CodecError::EventTooLarge)
    );
}

#[test]
fn a_message_body_is_forwarded_as_it_arrives_and_summarised_at_the_end() {
    let body = br#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[],"stop_reason":"end_turn","usage":{"input_tokens":7,"output_tokens":3}}"#;
    for at in 0..=body.len() {
        let mut codec = MessageCodec::new();
        let emitted = feed_split(&mut codec, body, at);
        assert_eq!(emitted.concat(), body.to_vec(), "split at {at}");
        let usage = codec.usage().cloned().unwrap_or_default();
        assert_eq!(
            (usage.input_tokens, usage.output_tokens),
            (7, 3),
            "split at {at}"
        );
    }
}
