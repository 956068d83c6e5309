//! Frame decoder tests: fixtures split at every byte offset, CRC and length corruption, limits,
//! and a property that arbitrary bytes never panic.

use std::path::Path;

use proptest::prelude::*;

use super::*;

pub(crate) fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/eventstream")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Owned copy of a decoded frame, to compare runs.
#[derive(Debug, PartialEq, Eq)]
struct Owned {
    message_type: Option<String>,
    event_type: Option<String>,
    exception_type: Option<String>,
    content_type: Option<String>,
    payload: Vec<u8>,
}

fn own(m: Message<'_>) -> Owned {
    Owned {
        message_type: m.headers.message_type.map(str::to_owned),
        event_type: m.headers.event_type.map(str::to_owned),
        exception_type: m.headers.exception_type.map(str::to_owned),
        content_type: m.headers.content_type.map(str::to_owned),
        payload: m.payload.to_vec(),
    }
}

/// Feeds `pieces` one after another, collecting frames; the first error ends it.
fn decode_pieces<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> Result<Vec<Owned>, FrameError> {
    let mut decoder = FrameDecoder::new();
    let mut frames = Vec::new();
    for piece in pieces {
        decoder.push(piece);
        while let Some(message) = decoder.next_message()? {
            frames.push(own(message));
        }
    }
    decoder.finish()?;
    Ok(frames)
}

#[test]
fn fixtures_decode_identically_at_every_split() {
    for name in ["thinking_tool_use.bin", "throttled_after_start.bin"] {
        let bytes = fixture(name);
        let whole = decode_pieces([bytes.as_slice()]).expect("whole");
        assert!(whole.len() >= 2, "{name}");
        for cut in 0..=bytes.len() {
            let (a, b) = bytes.split_at(cut);
            assert_eq!(
                decode_pieces([a, b]).expect("split"),
                whole,
                "{name} cut at {cut}"
            );
        }
        let bytewise = decode_pieces(bytes.chunks(1)).expect("bytewise");
        assert_eq!(bytewise, whole, "{name} byte by byte");
    }
}

#[test]
fn fixture_headers_are_read() {
    let frames = decode_pieces([fixture("throttled_after_start.bin").as_slice()]).expect("ok");
    assert_eq!(frames[0].event_type.as_deref(), Some("chunk"));
    assert_eq!(frames[0].message_type.as_deref(), Some("event"));
    assert_eq!(frames[0].content_type.as_deref(), Some("application/json"));
    assert_eq!(frames[1].message_type.as_deref(), Some("exception"));
    assert_eq!(
        frames[1].exception_type.as_deref(),
        Some("throttlingException")
    );
}

#[test]
fn every_single_bit_flip_is_caught() {
    let mut frame = Vec::new();
    encode_message(
        &[(":event-type", "chunk")],
        b"{\"bytes\":\"e30=\"}",
        &mut frame,
    );
    for index in 0..frame.len() {
        for bit in 0..8 {
            let mut bad = frame.clone();
            bad[index] ^= 1 << bit;
            let result = decode_pieces([bad.as_slice()]);
            assert!(
                result.is_err(),
                "flip at byte {index} bit {bit} went unnoticed"
            );
        }
    }
}

#[test]
fn crc_errors_are_named() {
    let mut frame = Vec::new();
    encode_message(&[], b"x", &mut frame);
    let mut prelude = frame.clone();
    prelude[8] ^= 1;
    assert!(matches!(
        decode_pieces([prelude.as_slice()]),
        Err(FrameError::PreludeCrc { .. })
    ));
    let mut message = frame.clone();
    let last = message.len() - 1;
    message[last] ^= 1;
    assert!(matches!(
        decode_pieces([message.as_slice()]),
        Err(FrameError::MessageCrc { .. })
    ));
}

/// A prelude claiming `total` and `headers` lengths, with a correct prelude CRC.
fn prelude(total: u32, headers: u32) -> Vec<u8> {
    let mut bytes = total.to_be_bytes().to_vec();
    bytes.extend_from_slice(&headers.to_be_bytes());
    let crc = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&crc.to_be_bytes());
    bytes
}

#[test]
fn frame_length_limits() {
    // At the limit: accepted, waits for the rest.
    let mut decoder = FrameDecoder::new();
    decoder.push(&prelude(MAX_FRAME_LEN as u32, 0));
    assert_eq!(decoder.next_message(), Ok(None));
    // One past: rejected at once, without buffering the claimed length.
    let mut decoder = FrameDecoder::new();
    decoder.push(&prelude(MAX_FRAME_LEN as u32 + 1, 0));
    assert_eq!(
        decoder.next_message(),
        Err(FrameError::TooLong {
            len: MAX_FRAME_LEN + 1
        })
    );
    assert!(decoder.next_message().is_err(), "stays failed");
    // Below the minimum.
    let mut decoder = FrameDecoder::new();
    decoder.push(&prelude(MIN_FRAME_LEN as u32 - 1, 0));
    assert_eq!(
        decoder.next_message(),
        Err(FrameError::TooShort {
            len: MIN_FRAME_LEN - 1
        })
    );
    // The minimum frame is valid and empty.
    let mut frame = Vec::new();
    encode_message(&[], b"", &mut frame);
    assert_eq!(frame.len(), MIN_FRAME_LEN);
    assert_eq!(
        decode_pieces([frame.as_slice()]).expect("ok")[0].payload,
        b""
    );
}

#[test]
fn headers_length_limits() {
    let mut decoder = FrameDecoder::new();
    decoder.push(&prelude(MAX_FRAME_LEN as u32, MAX_HEADERS_LEN as u32));
    assert_eq!(decoder.next_message(), Ok(None));
    let mut decoder = FrameDecoder::new();
    decoder.push(&prelude(MAX_FRAME_LEN as u32, MAX_HEADERS_LEN as u32 + 1));
    assert_eq!(
        decoder.next_message(),
        Err(FrameError::BadHeadersLength {
            len: MAX_HEADERS_LEN + 1
        })
    );
    let mut decoder = FrameDecoder::new();
    decoder.push(&prelude(20, 5));
    assert_eq!(
        decoder.next_message(),
        Err(FrameError::BadHeadersLength { len: 5 })
    );
}

#[test]
fn truncated_stream_is_an_error_at_finish() {
    let bytes = fixture("thinking_tool_use.bin");
    for cut in 1..bytes.len() {
        let mut decoder = FrameDecoder::new();
        decoder.push(&bytes[..cut]);
        while let Ok(Some(_)) = decoder.next_message() {}
        let frame_boundary = decoder.buffered() == 0;
        assert_eq!(decoder.finish().is_ok(), frame_boundary, "cut at {cut}");
    }
}

/// Frames with a hand-built header section (valid CRCs).
fn frame_with_raw_headers(headers: &[u8]) -> Vec<u8> {
    let total = (PRELUDE_LEN + headers.len() + 4) as u32;
    let mut frame = prelude(total, headers.len() as u32);
    frame.extend_from_slice(headers);
    let crc = crc32fast::hash(&frame);
    frame.extend_from_slice(&crc.to_be_bytes());
    frame
}

#[test]
fn malformed_headers_are_errors() {
    let cases: &[(&[u8], &str)] = &[
        (b"\x00", "empty name"),
        (b"\x05ab", "truncated name"),
        (b"\x01a", "truncated type"),
        (b"\x01a\x0a", "unknown value type"),
        (b"\x01a\x07\x00", "truncated value length"),
        (b"\x01a\x07\x00\x05ab", "truncated value"),
        (b"\x01a\x04\x00\x00", "truncated value"),
        (
            b"\x0d:message-type\x07\x00\x02\xff\xfe",
            "string value is not UTF-8",
        ),
    ];
    for (headers, what) in cases {
        let frame = frame_with_raw_headers(headers);
        assert_eq!(
            decode_pieces([frame.as_slice()]),
            Err(FrameError::BadHeader(what)),
            "{headers:?}"
        );
    }
}

#[test]
fn every_header_type_is_skipped_or_read() {
    let mut headers = Vec::new();
    for (name, kind, value) in [
        ("t", 0u8, &[][..]),
        ("f", 1, &[]),
        ("b", 2, &[1]),
        ("s", 3, &[1, 2]),
        ("i", 4, &[1, 2, 3, 4]),
        ("l", 5, &[0; 8]),
        ("ts", 8, &[0; 8]),
        ("u", 9, &[0; 16]),
    ] {
        headers.push(name.len() as u8);
        headers.extend_from_slice(name.as_bytes());
        headers.push(kind);
        headers.extend_from_slice(value);
    }
    headers.extend_from_slice(b"\x03bin\x06\x00\x02\xff\x00");
    headers.extend_from_slice(b"\x0b:event-type\x07\x00\x05chunk");
    let frame = frame_with_raw_headers(&headers);
    let frames = decode_pieces([frame.as_slice()]).expect("ok");
    assert_eq!(frames[0].event_type.as_deref(), Some("chunk"));
}

fn arbitrary_frames() -> impl Strategy<Value = Vec<u8>> {
    let header = (
        prop::sample::select(vec![":event-type", ":message-type", ":content-type", "x"]),
        "[a-z]{0,12}",
    );
    let frame = (
        prop::collection::vec(header, 0..4),
        prop::collection::vec(any::<u8>(), 0..64),
    );
    prop::collection::vec(frame, 1..5).prop_map(|frames| {
        let mut out = Vec::new();
        for (headers, payload) in frames {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            encode_message(&headers, &payload, &mut out);
        }
        out
    })
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512), cut in 0usize..512) {
        let cut = cut.min(bytes.len());
        let _ = decode_pieces([&bytes[..cut], &bytes[cut..]]);
        let mut sse = crate::providers::bedrock::stream::BedrockSse::new();
        let mut out = Vec::new();
        let _ = sse.feed(&bytes, &mut out);
        let _ = sse.finish();
    }

    #[test]
    fn valid_frames_decode_identically_however_split(bytes in arbitrary_frames(), cuts in prop::collection::vec(0usize..1024, 0..6)) {
        let whole = decode_pieces([bytes.as_slice()]).expect("valid");
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.sort_unstable();
        let mut pieces = Vec::new();
        let mut at = 0;
        for cut in cuts {
            pieces.push(&bytes[at..cut]);
            at = cut;
        }
        pieces.push(&bytes[at..]);
        prop_assert_eq!(decode_pieces(pieces).expect("split"), whole);
    }

    #[test]
    fn corrupted_valid_frames_never_panic(bytes in arbitrary_frames(), index in any::<usize>(), byte in any::<u8>()) {
        let mut bad = bytes.clone();
        let index = index % bad.len();
        bad[index] = byte;
        let _ = decode_pieces([bad.as_slice()]);
    }
}
