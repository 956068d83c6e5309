//! Event stream → SSE tests: the fixture split at every offset gives the same SSE, exceptions
//! map to Anthropic errors, bad chunks end the stream cleanly, metrics are read.

use super::*;
use crate::providers::bedrock::eventstream::tests::fixture;
use crate::providers::bedrock::eventstream::{encode_chunk, encode_exception, encode_message};

fn run<'a>(
    pieces: impl IntoIterator<Item = &'a [u8]>,
) -> (Vec<u8>, Result<(), BedrockError>, BedrockSse) {
    let mut sse = BedrockSse::new();
    let mut out = Vec::new();
    for piece in pieces {
        if let Err(err) = sse.feed(piece, &mut out) {
            return (out, Err(err), sse);
        }
    }
    let end = sse.finish();
    (out, end, sse)
}

#[test]
fn fixture_becomes_the_anthropic_stream_at_every_split() {
    let bytes = fixture("thinking_tool_use.bin");
    let expected = fixture("expected_thinking_tool_use.sse");
    for cut in 0..=bytes.len() {
        let (out, end, sse) = run([&bytes[..cut], &bytes[cut..]]);
        assert_eq!(end, Ok(()), "cut {cut}");
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&expected),
            "cut {cut}"
        );
        assert_eq!(sse.events_written(), 10);
    }
}

#[test]
fn invocation_metrics_are_read() {
    let (_, end, sse) = run([fixture("thinking_tool_use.bin").as_slice()]);
    assert_eq!(end, Ok(()));
    assert_eq!(
        sse.invocation_metrics(),
        Some(InvocationMetrics {
            input_tokens: 12,
            output_tokens: 42,
            cache_read_input_tokens: 5,
            cache_creation_input_tokens: 7
        })
    );
}

#[test]
fn exception_after_the_first_event_keeps_what_was_sent() {
    let bytes = fixture("throttled_after_start.bin");
    let (out, end, sse) = run([bytes.as_slice()]);
    assert!(out.starts_with(b"event: message_start\ndata: {\"type\":\"message_start\""));
    assert_eq!(sse.events_written(), 1);
    let err = end.expect_err("throttled");
    assert_eq!((err.status(), err.error_type()), (429, "rate_limit_error"));
    assert!(err.to_string().contains("Too many requests"));
}

#[test]
fn exception_before_any_event_is_a_status() {
    for (name, status) in [
        ("throttlingException", 429),
        ("serviceUnavailableException", 503),
        ("modelStreamErrorException", 500),
        ("validationException", 400),
        ("internalServerException", 500),
        ("modelTimeoutException", 504),
    ] {
        let mut bytes = Vec::new();
        encode_exception(name, "boom", &mut bytes);
        let (out, end, sse) = run([bytes.as_slice()]);
        assert!(out.is_empty());
        assert_eq!(sse.events_written(), 0);
        assert_eq!(end.expect_err(name).status(), status, "{name}");
    }
}

#[test]
fn error_message_frames_are_errors() {
    let mut bytes = Vec::new();
    encode_message(
        &[
            (":message-type", "error"),
            (":error-code", "InternalFailure"),
            (":error-message", "oops"),
        ],
        b"",
        &mut bytes,
    );
    let err = run([bytes.as_slice()]).1.expect_err("error frame");
    assert_eq!(err.status(), 502);
    assert!(err.to_string().contains("oops"));
}

#[test]
fn bad_chunks_end_the_stream_cleanly() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"not json".to_vec(), "payload"),
        (b"{\"bytes\":\"***\"}".to_vec(), "base64"),
        (b"{\"bytes\":\"bm90IGpzb24=\"}".to_vec(), "JSON object"),
        (b"{\"bytes\":\"eyJhIjoxfQ==\"}".to_vec(), "JSON object"),
        (b"{\"bytes\":\"eyJ0eXBlIjoiIn0=\"}".to_vec(), "empty"),
    ];
    for (payload, what) in cases {
        let mut bytes = Vec::new();
        encode_message(
            &[(":event-type", "chunk"), (":message-type", "event")],
            &payload,
            &mut bytes,
        );
        let (out, end, _) = run([bytes.as_slice()]);
        assert!(out.is_empty(), "{what}");
        let err = end.expect_err(what);
        assert_eq!(err.status(), 502);
        assert!(err.to_string().contains(what), "{err} vs {what}");
    }
}

#[test]
fn corrupt_frame_mid_stream_is_an_error_after_good_events() {
    let mut bytes = Vec::new();
    encode_chunk(br#"{"type":"message_start","message":{}}"#, &mut bytes);
    let good = bytes.len();
    encode_chunk(br#"{"type":"ping"}"#, &mut bytes);
    bytes[good + 20] ^= 0xff;
    let (out, end, sse) = run([bytes.as_slice()]);
    assert_eq!(sse.events_written(), 1);
    assert!(out.ends_with(b"\n\n"));
    let err = end.expect_err("crc");
    assert!(matches!(err, BedrockError::Frame(_)));
    let mut event = Vec::new();
    err.write_sse_event(&mut event);
    assert!(
        event.starts_with(
            b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\""
        )
    );
}

#[test]
fn truncated_stream_is_an_error() {
    let bytes = fixture("thinking_tool_use.bin");
    let (_, end, _) = run([&bytes[..bytes.len() - 1]]);
    assert!(matches!(
        end,
        Err(BedrockError::Frame(FrameError::Truncated { .. }))
    ));
}

#[test]
fn pretty_printed_events_are_flattened_and_unknown_frames_skipped() {
    let mut bytes = Vec::new();
    encode_message(
        &[
            (":event-type", "initial-response"),
            (":message-type", "event"),
        ],
        b"{}",
        &mut bytes,
    );
    encode_chunk(b"{\n  \"type\": \"ping\"\r\n}", &mut bytes);
    let (out, end, _) = run([bytes.as_slice()]);
    assert_eq!(end, Ok(()));
    assert_eq!(out, b"event: ping\ndata: {   \"type\": \"ping\"  }\n\n");
}

use crate::providers::bedrock::eventstream::FrameError;
