//! Whether a Bedrock event stream failed before its first event: Bedrock answers 200 and then
//! sends a `throttlingException` (or another exception) as the stream's first frame, which is a
//! failure the attempt loop can still fail over on, since nothing reached the client yet.
//! IO-free: the loop peeks at the body bytes it has and asks [`first_event`] what they are.

use super::errors::BedrockError;
use super::stream::BedrockSse;

/// Body bytes peeked at for the first event at most; a first frame longer than this is not
/// waited for (the response is relayed and a failure in it reaches the client as an event).
pub const MAX_FIRST_EVENT_PEEK_BYTES: usize = 64 * 1024;

/// What the start of a Bedrock event stream says.
#[derive(Debug, PartialEq, Eq)]
pub enum FirstEvent {
    /// No whole frame yet: read more (the body so far is shorter than the peek limit).
    Incomplete,
    /// An event arrives first (or the peek limit passed): relay the stream.
    Relay,
    /// The stream failed before any event: an HTTP status can still answer it.
    Failed(BedrockError),
}

/// Reads the first frames of `body` (the decoded body bytes received so far).
pub fn first_event(body: &[u8]) -> FirstEvent {
    let mut sse = BedrockSse::new();
    let mut out = Vec::new();
    match sse.feed(body, &mut out) {
        Err(e) if sse.events_written() == 0 => FirstEvent::Failed(e),
        _ if sse.events_written() > 0 || body.len() >= MAX_FIRST_EVENT_PEEK_BYTES => {
            FirstEvent::Relay
        }
        _ => FirstEvent::Incomplete,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::bedrock::eventstream::tests::fixture;
    use crate::providers::bedrock::eventstream::{encode_chunk, encode_message};

    fn frame_len(bytes: &[u8]) -> usize {
        u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize
    }

    #[test]
    fn an_exception_first_is_a_failure_at_every_split() {
        let throttled = fixture("throttled_after_start.bin");
        let exception = &throttled[frame_len(&throttled)..];
        for cut in 0..exception.len() {
            assert_eq!(
                first_event(&exception[..cut]),
                FirstEvent::Incomplete,
                "cut {cut}"
            );
        }
        let FirstEvent::Failed(e) = first_event(exception) else {
            panic!("not a failure");
        };
        assert_eq!((e.status(), e.retryable()), (429, true));
    }

    #[test]
    fn an_event_first_is_relayed_even_when_an_exception_follows() {
        let stream = fixture("thinking_tool_use.bin");
        let first = frame_len(&stream);
        assert_eq!(first_event(&stream[..first - 1]), FirstEvent::Incomplete);
        assert_eq!(first_event(&stream[..first]), FirstEvent::Relay);
        let throttled = fixture("throttled_after_start.bin");
        assert_eq!(first_event(&throttled), FirstEvent::Relay);
    }

    #[test]
    fn a_corrupt_first_frame_is_a_failure() {
        let mut stream = fixture("thinking_tool_use.bin");
        let first = frame_len(&stream);
        stream[first - 1] ^= 0xff;
        let FirstEvent::Failed(e) = first_event(&stream[..first]) else {
            panic!("not a failure");
        };
        assert_eq!(e.status(), 502);
    }

    #[test]
    fn the_peek_stops_at_its_limit() {
        // A chunk frame whose event is larger than the limit: incomplete below it, relayed at it.
        let event = format!(
            r#"{{"type":"message_start","pad":"{}"}}"#,
            "x".repeat(MAX_FIRST_EVENT_PEEK_BYTES)
        );
        let mut frame = Vec::new();
        encode_chunk(event.as_bytes(), &mut frame);
        assert!(frame.len() > MAX_FIRST_EVENT_PEEK_BYTES + 1);
        let below = &frame[..MAX_FIRST_EVENT_PEEK_BYTES - 1];
        assert_eq!(first_event(below), FirstEvent::Incomplete);
        assert_eq!(
            first_event(&frame[..MAX_FIRST_EVENT_PEEK_BYTES]),
            FirstEvent::Relay
        );
        assert_eq!(
            first_event(&frame[..MAX_FIRST_EVENT_PEEK_BYTES + 1]),
            FirstEvent::Relay
        );
        // A frame that carries no event (not a chunk) does not end the peek by itself.
        let mut other = Vec::new();
        encode_message(&[(":event-type", "other")], b"{}", &mut other);
        assert_eq!(first_event(&other), FirstEvent::Incomplete);
    }
}
