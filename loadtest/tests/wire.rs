//! Framing, body decoding, first-token scanning and the receive buffer, fed every fixture whole,
//! split at every byte offset, and byte by byte; each limit at the limit and one past.

use sluice_loadtest::wire::body::{BodyDecoder, LAST_CHUNK, encode_chunk};
use sluice_loadtest::wire::first_token::{ANTHROPIC_NEEDLES, FirstTokenScanner, OPENAI_NEEDLES};
use sluice_loadtest::wire::framing::{
    BodyFraming, FramingError, MAX_BODY_BYTES, MAX_CHUNK_LINE_BYTES, MAX_HEAD_BYTES, Method,
    parse_request_head, parse_response_head,
};
use sluice_loadtest::wire::readbuf::ReadBuf;

/// Decodes `input` offered in the given pieces, the way a connection offers reads: unused
/// bytes stay and more are appended. Returns the body and whether it ended.
fn decode_in_pieces(
    framing: BodyFraming,
    pieces: &[&[u8]],
) -> Result<(Vec<u8>, bool), FramingError> {
    let mut decoder = BodyDecoder::new(framing)?;
    let mut pending: Vec<u8> = Vec::new();
    let mut body = Vec::new();
    for piece in pieces {
        pending.extend_from_slice(piece);
        let used = decoder.decode(&pending, |data| body.extend_from_slice(data))?;
        pending.drain(..used);
    }
    Ok((body, decoder.is_done()))
}

fn every_split(framing: BodyFraming, input: &[u8], expected: &[u8]) {
    for at in 0..=input.len() {
        let (body, done) = decode_in_pieces(framing, &[&input[..at], &input[at..]]).unwrap();
        assert_eq!(body, expected, "split at {at}");
        assert!(done, "split at {at}");
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    let (body, done) = decode_in_pieces(framing, &bytes).unwrap();
    assert_eq!(body, expected);
    assert!(done);
}

#[test]
fn chunked_body_decodes_at_every_split() {
    let input = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\ntrailer: x\r\n\r\n";
    every_split(BodyFraming::Chunked, input, b"hello, world");
}

#[test]
fn chunked_body_stops_at_its_end_and_leaves_the_next_message() {
    let mut decoder = BodyDecoder::new(BodyFraming::Chunked).unwrap();
    let input = b"3\r\nabc\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n";
    let used = decoder.decode(input, |_| {}).unwrap();
    assert!(decoder.is_done());
    assert_eq!(&input[used..], b"HTTP/1.1 200 OK\r\n");
}

#[test]
fn encoded_chunks_round_trip() {
    let mut encoded = Vec::new();
    encode_chunk(&mut encoded, b"event: ping\n\n");
    encode_chunk(&mut encoded, &[b'x'; 300]);
    encode_chunk(&mut encoded, b"");
    encoded.extend_from_slice(LAST_CHUNK);
    assert!(encoded.starts_with(b"d\r\nevent: ping"));
    let mut expected = b"event: ping\n\n".to_vec();
    expected.extend_from_slice(&[b'x'; 300]);
    every_split(BodyFraming::Chunked, &encoded, &expected);
}

#[test]
fn length_body_decodes_at_every_split() {
    every_split(BodyFraming::Length(11), b"hello world", b"hello world");
    let mut decoder = BodyDecoder::new(BodyFraming::Length(3)).unwrap();
    assert_eq!(decoder.decode(b"abcdef", |_| {}).unwrap(), 3);
    assert!(decoder.is_done());
}

#[test]
fn body_limits_hold_at_the_limit_and_refuse_one_past() {
    assert!(BodyDecoder::new(BodyFraming::Length(MAX_BODY_BYTES)).is_ok());
    assert_eq!(
        BodyDecoder::new(BodyFraming::Length(MAX_BODY_BYTES + 1)).unwrap_err(),
        FramingError::BodyTooLarge
    );
    let size = format!("{MAX_BODY_BYTES:x}\r\n");
    let mut decoder = BodyDecoder::new(BodyFraming::Chunked).unwrap();
    assert_eq!(decoder.decode(size.as_bytes(), |_| {}).unwrap(), size.len());
    let size = format!("{:x}\r\n", MAX_BODY_BYTES + 1);
    let mut decoder = BodyDecoder::new(BodyFraming::Chunked).unwrap();
    assert_eq!(
        decoder.decode(size.as_bytes(), |_| {}),
        Err(FramingError::BodyTooLarge)
    );
}

#[test]
fn chunk_line_limit_holds_at_the_limit_and_refuses_one_past() {
    // A line of exactly MAX_CHUNK_LINE_BYTES (CRLF included) is read.
    let padding = MAX_CHUNK_LINE_BYTES - "5;x=\r\n".len();
    let line = format!("5;x={}\r\n", "a".repeat(padding));
    assert_eq!(line.len(), MAX_CHUNK_LINE_BYTES);
    let input = format!("{line}hello\r\n0\r\n\r\n");
    let (body, done) = decode_in_pieces(BodyFraming::Chunked, &[input.as_bytes()]).unwrap();
    assert_eq!((body.as_slice(), done), (&b"hello"[..], true));
    let line = format!("5;x={}\r\n", "a".repeat(padding + 1));
    assert_eq!(
        decode_in_pieces(BodyFraming::Chunked, &[line.as_bytes()]).unwrap_err(),
        FramingError::ChunkLineTooLong
    );
}

#[test]
fn bad_chunks_are_refused() {
    let bad = |input: &[u8]| decode_in_pieces(BodyFraming::Chunked, &[input]).unwrap_err();
    assert_eq!(bad(b"zz\r\n"), FramingError::BadChunkSize);
    assert_eq!(bad(b"\r\n"), FramingError::BadChunkSize);
    assert_eq!(bad(b"3\n"), FramingError::BadChunkSize);
    assert_eq!(bad(b"3\r\nabcX\r\n"), FramingError::BadChunkTerminator);
    assert_eq!(bad(b"1000000000000000\r\n"), FramingError::BadChunkSize);
}

#[test]
fn truncated_bodies_are_reported_on_close() {
    let mut decoder = BodyDecoder::new(BodyFraming::Length(10)).unwrap();
    decoder.decode(b"abc", |_| {}).unwrap();
    assert_eq!(decoder.finish_on_close(), Err(FramingError::Truncated));
    let decoder = BodyDecoder::new(BodyFraming::UntilClose).unwrap();
    assert_eq!(decoder.finish_on_close(), Ok(()));
}

#[test]
fn response_heads_parse_at_every_split() {
    let head =
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
    for at in 0..head.len() {
        assert_eq!(
            parse_response_head(&head[..at], false),
            Ok(None),
            "prefix {at}"
        );
    }
    let parsed = parse_response_head(head, false).unwrap().unwrap();
    assert_eq!(parsed.status, 200);
    assert_eq!(parsed.head_len, head.len());
    assert_eq!(parsed.framing, BodyFraming::Chunked);
    assert!(parsed.keep_alive);
}

#[test]
fn response_framing_follows_the_rules() {
    let framing = |head: &[u8], was_head: bool| {
        let parsed = parse_response_head(head, was_head).unwrap().unwrap();
        (parsed.framing, parsed.keep_alive)
    };
    assert_eq!(
        framing(b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\n", false),
        (BodyFraming::Length(12), true)
    );
    assert_eq!(
        framing(b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\n", true),
        (BodyFraming::Empty, true)
    );
    assert_eq!(
        framing(b"HTTP/1.1 204 No Content\r\n\r\n", false),
        (BodyFraming::Empty, true)
    );
    assert_eq!(
        framing(
            b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 1\r\n\r\n",
            false
        ),
        (BodyFraming::Length(1), false)
    );
    assert_eq!(
        framing(b"HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\n", false),
        (BodyFraming::Length(1), false)
    );
    assert_eq!(
        framing(
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\ncontent-length: 1\r\n\r\n",
            false
        ),
        (BodyFraming::Length(1), true)
    );
    assert_eq!(
        framing(b"HTTP/1.1 200 OK\r\n\r\n", false),
        (BodyFraming::UntilClose, false)
    );
    assert_eq!(
        framing(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\ncontent-length: 5\r\n\r\n",
            false
        ),
        (BodyFraming::Chunked, true)
    );
}

#[test]
fn conflicting_content_lengths_are_refused() {
    let head = b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n";
    assert_eq!(
        parse_response_head(head, false),
        Err(FramingError::BadContentLength)
    );
    let head = b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n";
    assert_eq!(
        parse_response_head(head, false),
        Err(FramingError::BadContentLength)
    );
    assert_eq!(
        parse_response_head(b"NOT HTTP\r\n\r\n", false),
        Err(FramingError::BadHead)
    );
}

#[test]
fn head_limit_holds_at_the_limit_and_refuses_one_past() {
    let start = "HTTP/1.1 200 OK\r\nx-pad: ";
    let pad = MAX_HEAD_BYTES - start.len() - "\r\ncontent-length: 0\r\n\r\n".len();
    let head = format!("{start}{}\r\ncontent-length: 0\r\n\r\n", "a".repeat(pad));
    assert_eq!(head.len(), MAX_HEAD_BYTES);
    assert!(
        parse_response_head(head.as_bytes(), false)
            .unwrap()
            .is_some()
    );
    let head = format!(
        "{start}{}\r\ncontent-length: 0\r\n\r\n",
        "a".repeat(pad + 1)
    );
    assert_eq!(
        parse_response_head(head.as_bytes(), false),
        Err(FramingError::HeadTooLarge)
    );
    let partial = format!("{start}{}", "a".repeat(MAX_HEAD_BYTES));
    assert_eq!(
        parse_response_head(partial.as_bytes(), false),
        Err(FramingError::HeadTooLarge)
    );
    assert_eq!(
        parse_request_head(
            partial
                .replace("HTTP/1.1 200 OK", "GET / HTTP/1.1")
                .as_bytes()
        ),
        Err(FramingError::HeadTooLarge)
    );
}

#[test]
fn request_heads_parse_at_every_split() {
    let head = b"POST /v1/messages?beta=true HTTP/1.1\r\nhost: x\r\ncontent-length: 42\r\n\r\n";
    for at in 0..head.len() {
        assert_eq!(parse_request_head(&head[..at]), Ok(None), "prefix {at}");
    }
    let parsed = parse_request_head(head).unwrap().unwrap();
    assert_eq!(parsed.method, Method::Post);
    assert_eq!(&head[parsed.path.clone()], b"/v1/messages");
    assert_eq!(parsed.framing, BodyFraming::Length(42));
    assert!(parsed.keep_alive);
    let get = parse_request_head(b"GET /v1/models HTTP/1.1\r\nconnection: close\r\n\r\n")
        .unwrap()
        .unwrap();
    assert_eq!(
        (get.method, get.framing, get.keep_alive),
        (Method::Get, BodyFraming::Empty, false)
    );
    let chunked = parse_request_head(b"POST /x HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n")
        .unwrap()
        .unwrap();
    assert_eq!(chunked.framing, BodyFraming::Chunked);
}

fn first_hit(needles: &'static [&'static [u8]], pieces: &[&[u8]]) -> Option<usize> {
    let mut scanner = FirstTokenScanner::new(needles);
    pieces.iter().position(|piece| scanner.feed(piece))
}

#[test]
fn first_token_is_found_across_every_split() {
    let stream: &[u8] = b"event: message_start\ndata: {}\n\nevent: content_block_start\ndata: {}\n\nevent: content_block_delta\ndata: {}\n\n";
    for at in 0..=stream.len() {
        let hit = first_hit(ANTHROPIC_NEEDLES, &[&stream[..at], &stream[at..]]);
        assert!(hit.is_some(), "split at {at}");
    }
    let bytes: Vec<&[u8]> = stream.chunks(1).collect();
    let end_of_needle =
        memchr::memmem::find(stream, b"content_block_delta").unwrap() + "content_block_delta".len();
    assert_eq!(
        first_hit(ANTHROPIC_NEEDLES, &bytes),
        Some(end_of_needle - 1)
    );
}

#[test]
fn first_token_ignores_events_before_content() {
    let before: &[u8] =
        b"event: message_start\ndata: {\"type\":\"message_start\"}\n\nevent: content_block_start\n";
    assert_eq!(first_hit(ANTHROPIC_NEEDLES, &[before]), None);
    let role = br#"data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#;
    assert_eq!(first_hit(OPENAI_NEEDLES, &[role]), None);
    let text = br#"data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}"#;
    for at in 0..=text.len() {
        assert!(first_hit(OPENAI_NEEDLES, &[role, &text[..at], &text[at..]]).is_some());
    }
    let tools = br#"data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0}]}}]}"#;
    assert_eq!(first_hit(OPENAI_NEEDLES, &[role, tools]), Some(1));
}

#[test]
fn first_token_reports_only_the_first_hit() {
    let mut scanner = FirstTokenScanner::new(ANTHROPIC_NEEDLES);
    assert!(scanner.feed(b"content_block_delta"));
    assert!(scanner.found());
    assert!(!scanner.feed(b"content_block_delta"));
}

#[test]
fn read_buffer_compacts_grows_and_stops_at_its_ceiling() {
    let mut buf = ReadBuf::new(4, 8);
    buf.spare()[..4].copy_from_slice(b"abcd");
    buf.commit(4);
    buf.consume(2);
    assert_eq!(buf.filled(), b"cd");
    assert_eq!(buf.spare().len(), 2, "compacted to the front");
    buf.spare()[..2].copy_from_slice(b"ef");
    buf.commit(2);
    assert_eq!(buf.spare().len(), 4, "grown to the ceiling");
    buf.commit(4);
    assert!(buf.spare().is_empty(), "full at the ceiling");
    assert_eq!(&buf.filled()[..4], b"cdef");
    buf.clear();
    assert!(buf.filled().is_empty());
}
