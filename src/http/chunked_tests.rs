//! Tests for the chunked decoder: every fixture fed whole, split at every offset and byte by
//! byte with identical results; each limit at and past the limit; one test per malformed shape.

use super::*;
use crate::http::limits::DEFAULT_MAX_BODY_BYTES;

/// Outcome of feeding a whole input in pieces: body, bytes consumed, done.
type Outcome = Result<(Vec<u8>, usize, bool), ChunkedError>;

/// Feeds `input` in the pieces `cuts` delimits, the way a connection loop would: after each
/// call only the unconsumed tail of what was offered is offered again with the next piece.
fn feed(input: &[u8], cuts: &[usize], max_body: u64) -> Outcome {
    let mut decoder = ChunkedDecoder::new(max_body);
    let mut body = Vec::new();
    let mut offered_from = 0;
    let mut done = false;
    for &end in cuts.iter().chain([&input.len()]) {
        if done {
            break;
        }
        let progress = decoder.decode(&input[offered_from..end], &mut body)?;
        assert!(progress.consumed <= end - offered_from);
        if !progress.done {
            assert_eq!(
                progress.consumed,
                end - offered_from,
                "all input used until done"
            );
        }
        offered_from += progress.consumed;
        done = progress.done;
    }
    assert_eq!(decoder.body_len(), body.len() as u64);
    Ok((body, offered_from, done))
}

/// Feeds whole, at every single split, and byte by byte; all must agree. Returns the outcome.
fn decode_every_way(input: &[u8], max_body: u64) -> Outcome {
    let whole = feed(input, &[], max_body);
    for split in 0..=input.len() {
        assert_eq!(feed(input, &[split], max_body), whole, "split at {split}");
    }
    let every_byte: Vec<usize> = (1..input.len()).collect();
    assert_eq!(feed(input, &every_byte, max_body), whole, "byte by byte");
    whole
}

fn decoded(input: &[u8]) -> (Vec<u8>, usize, bool) {
    decode_every_way(input, DEFAULT_MAX_BODY_BYTES).unwrap()
}

fn rejected(input: &[u8]) -> ChunkedError {
    decode_every_way(input, DEFAULT_MAX_BODY_BYTES).unwrap_err()
}

#[test]
fn simple_body_decodes_every_way() {
    let input = b"5\r\nhello\r\n0\r\n\r\n";
    assert_eq!(decoded(input), (b"hello".to_vec(), input.len(), true));
}

#[test]
fn extensions_and_trailers_decode_every_way() {
    let input = b"5;name=value;flag\r\nhello\r\n6 ; q = \"a \\\"b\\\" ;c\" ;t=tok\r\n world\r\n\
0;last\r\nx-checksum: abc\r\nX-Empty:\r\nX-Tab:\tv\t\r\n\r\n";
    assert_eq!(decoded(input), (b"hello world".to_vec(), input.len(), true));
}

#[test]
fn many_chunks_with_hex_cases_and_leading_zeros_decode_every_way() {
    let mut input = Vec::new();
    let mut expected = Vec::new();
    for (size, size_text) in [(1, "1"), (10, "A"), (11, "0b"), (26, "1a"), (255, "00Ff")] {
        let data: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
        input.extend_from_slice(format!("{size_text}\r\n").as_bytes());
        input.extend_from_slice(&data);
        input.extend_from_slice(b"\r\n");
        expected.extend_from_slice(&data);
    }
    input.extend_from_slice(b"000\r\n\r\n");
    assert_eq!(decoded(&input), (expected, input.len(), true));
}

#[test]
fn data_may_contain_crlf_and_hex_lookalikes() {
    let input = b"a\r\n\r\n0\r\n\r\nabc\r\n0\r\n\r\n";
    assert_eq!(
        decoded(input),
        (b"\r\n0\r\n\r\nabc".to_vec(), input.len(), true)
    );
}

#[test]
fn bytes_after_the_body_are_not_consumed() {
    let body = b"3\r\nabc\r\n0\r\n\r\n";
    let input = [body.as_slice(), b"GET / HTTP/1.1\r\n\r\n"].concat();
    assert_eq!(decoded(&input), (b"abc".to_vec(), body.len(), true));
}

#[test]
fn every_strict_prefix_is_not_done() {
    let input = b"5;a=\"b\"\r\nhello\r\n0\r\nt: v\r\n\r\n";
    for len in 0..input.len() {
        let (_, consumed, done) = feed(&input[..len], &[], DEFAULT_MAX_BODY_BYTES).unwrap();
        assert!(!done, "prefix of {len} bytes");
        assert_eq!(consumed, len);
    }
}

#[test]
fn decoding_after_done_consumes_nothing() {
    let mut decoder = ChunkedDecoder::new(100);
    let mut body = Vec::new();
    assert!(decoder.decode(b"0\r\n\r\n", &mut body).unwrap().done);
    let again = decoder.decode(b"1\r\nx\r\n", &mut body).unwrap();
    assert_eq!(
        again,
        DecodeProgress {
            consumed: 0,
            done: true
        }
    );
    assert!(body.is_empty());
}

#[test]
fn errors_are_sticky() {
    let mut decoder = ChunkedDecoder::new(100);
    let mut body = Vec::new();
    assert_eq!(
        decoder.decode(b"x", &mut body),
        Err(ChunkedError::BadChunkSize)
    );
    assert_eq!(
        decoder.decode(b"0\r\n\r\n", &mut body),
        Err(ChunkedError::BadChunkSize)
    );
}

#[test]
fn encoded_chunks_decode_back() {
    let mut encoded = Vec::new();
    let mut expected = Vec::new();
    for size in [1usize, 9, 15, 16, 17, 255, 256, 4095, 4096, 70_000] {
        let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        encode_chunk(&mut encoded, &data);
        expected.extend_from_slice(&data);
    }
    encode_chunk(&mut encoded, b"");
    encoded.extend_from_slice(LAST_CHUNK);
    let (body, consumed, done) = feed(&encoded, &[], DEFAULT_MAX_BODY_BYTES).unwrap();
    assert_eq!((body, consumed, done), (expected, encoded.len(), true));
    let mut one = Vec::new();
    encode_chunk(&mut one, &[b'x'; 26]);
    assert_eq!(&one[..4], b"1a\r\n");
}

#[test]
fn sixteen_hex_digits_are_accepted() {
    let input = b"000000000000000a\r\n0123456789\r\n0\r\n\r\n";
    assert_eq!(decoded(input).0, b"0123456789");
    let mut decoder = ChunkedDecoder::new(u64::MAX);
    let progress = decoder
        .decode(b"ffffffffffffffff\r\nabc", &mut Vec::new())
        .unwrap();
    assert_eq!((progress.consumed, decoder.body_len()), (21, 3));
}

#[test]
fn seventeen_hex_digits_are_too_long() {
    assert_eq!(
        rejected(b"0000000000000000a\r\n"),
        ChunkedError::ChunkSizeTooLong
    );
    let mut decoder = ChunkedDecoder::new(u64::MAX);
    let result = decoder.decode(b"10000000000000000\r\n", &mut Vec::new());
    assert_eq!(result, Err(ChunkedError::ChunkSizeTooLong));
}

/// A size line for a 1-byte chunk, padded by one extension to `len` bytes including CRLF.
fn size_line_of_len(len: usize) -> Vec<u8> {
    let fixed = "1;x=\r\n".len();
    format!("1;x={}\r\n", "v".repeat(len - fixed)).into_bytes()
}

#[test]
fn size_line_at_limit_is_accepted() {
    let input = [
        size_line_of_len(MAX_CHUNK_SIZE_LINE_BYTES),
        b"z\r\n0\r\n\r\n".to_vec(),
    ]
    .concat();
    let (body, _, done) = feed(&input, &[], DEFAULT_MAX_BODY_BYTES).unwrap();
    assert_eq!((body, done), (b"z".to_vec(), true));
}

#[test]
fn size_line_one_past_limit_is_too_long() {
    let input = [
        size_line_of_len(MAX_CHUNK_SIZE_LINE_BYTES + 1),
        b"z\r\n0\r\n\r\n".to_vec(),
    ]
    .concat();
    let result = feed(&input, &[], DEFAULT_MAX_BODY_BYTES);
    assert_eq!(result, Err(ChunkedError::ChunkSizeTooLong));
    let every_byte: Vec<usize> = (1..input.len()).collect();
    let result = feed(&input, &every_byte, DEFAULT_MAX_BODY_BYTES);
    assert_eq!(result, Err(ChunkedError::ChunkSizeTooLong));
}

/// A last chunk whose trailer section (final CRLF included) is exactly `len` bytes.
fn trailer_section_of_len(len: usize) -> Vec<u8> {
    let fixed = "t: \r\n\r\n".len();
    format!("0\r\nt: {}\r\n\r\n", "v".repeat(len - fixed)).into_bytes()
}

#[test]
fn trailer_section_at_limit_is_accepted() {
    let input = trailer_section_of_len(MAX_TRAILER_BYTES);
    assert_eq!(feed(&input, &[], 0), Ok((Vec::new(), input.len(), true)));
}

#[test]
fn trailer_section_one_past_limit_is_too_large() {
    let input = trailer_section_of_len(MAX_TRAILER_BYTES + 1);
    assert_eq!(feed(&input, &[], 0), Err(ChunkedError::TrailerTooLarge));
    let every_byte: Vec<usize> = (1..input.len()).collect();
    assert_eq!(
        feed(&input, &every_byte, 0),
        Err(ChunkedError::TrailerTooLarge)
    );
}

#[test]
fn body_at_limit_is_accepted() {
    let input = b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    let (body, _, done) = decode_every_way(input, 5).unwrap();
    assert_eq!((body, done), (b"abcde".to_vec(), true));
}

#[test]
fn body_one_past_limit_is_too_large() {
    let input = b"3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n";
    assert_eq!(decode_every_way(input, 5), Err(ChunkedError::BodyTooLarge));
    assert_eq!(
        decode_every_way(b"6\r\nabcdef\r\n", 5),
        Err(ChunkedError::BodyTooLarge)
    );
}

#[test]
fn body_too_large_is_reported_before_its_data_arrives() {
    let mut decoder = ChunkedDecoder::new(DEFAULT_MAX_BODY_BYTES);
    let result = decoder.decode(b"ffffffff\r\n", &mut Vec::new());
    assert_eq!(result, Err(ChunkedError::BodyTooLarge));
}

#[test]
fn empty_chunk_size_is_bad() {
    assert_eq!(rejected(b"\r\n"), ChunkedError::BadChunkSize);
    assert_eq!(rejected(b";a\r\n"), ChunkedError::BadChunkSize);
}

#[test]
fn non_hex_chunk_size_is_bad() {
    assert_eq!(rejected(b"g\r\n"), ChunkedError::BadChunkSize);
    assert_eq!(rejected(b"5g\r\n"), ChunkedError::BadChunkSize);
}

#[test]
fn signed_chunk_size_is_bad() {
    assert_eq!(
        rejected(b"+5\r\nhello\r\n0\r\n\r\n"),
        ChunkedError::BadChunkSize
    );
    assert_eq!(
        rejected(b"-5\r\nhello\r\n0\r\n\r\n"),
        ChunkedError::BadChunkSize
    );
}

#[test]
fn hex_prefixed_chunk_size_is_bad() {
    assert_eq!(
        rejected(b"0x5\r\nhello\r\n0\r\n\r\n"),
        ChunkedError::BadChunkSize
    );
}

#[test]
fn whitespace_around_chunk_size_is_bad() {
    assert_eq!(rejected(b" 5\r\nhello\r\n"), ChunkedError::BadChunkSize);
    assert_eq!(rejected(b"5 \r\nhello\r\n"), ChunkedError::BadChunkSize);
    assert_eq!(rejected(b"5\t\r\nhello\r\n"), ChunkedError::BadChunkSize);
    assert_eq!(rejected(b"5 5\r\nhello\r\n"), ChunkedError::BadChunkSize);
}

#[test]
fn bare_lf_after_chunk_size_is_missing_crlf() {
    assert_eq!(
        rejected(b"5\nhello\r\n0\r\n\r\n"),
        ChunkedError::MissingCrlf
    );
    assert_eq!(rejected(b"5;a=b\nhello\r\n"), ChunkedError::MissingCrlf);
}

#[test]
fn lone_cr_after_chunk_size_is_missing_crlf() {
    assert_eq!(rejected(b"5\rhello\r\n"), ChunkedError::MissingCrlf);
}

#[test]
fn data_longer_than_its_size_is_missing_crlf() {
    assert_eq!(
        rejected(b"5\r\nhello!\r\n0\r\n\r\n"),
        ChunkedError::MissingCrlf
    );
}

#[test]
fn bare_lf_after_data_is_missing_crlf() {
    assert_eq!(
        rejected(b"5\r\nhello\n0\r\n\r\n"),
        ChunkedError::MissingCrlf
    );
    assert_eq!(rejected(b"5\r\nhello\rX"), ChunkedError::MissingCrlf);
}

#[test]
fn bare_lf_ending_body_is_missing_crlf() {
    assert_eq!(rejected(b"0\r\n\n"), ChunkedError::MissingCrlf);
    assert_eq!(rejected(b"0\r\n\rX"), ChunkedError::MissingCrlf);
    assert_eq!(rejected(b"0\r\nt: v\n\r\n"), ChunkedError::MissingCrlf);
}

#[test]
fn malformed_extensions_are_bad() {
    for input in [
        &b"5;\r\n"[..],
        b"5;=v\r\n",
        b"5;a=\r\n",
        b"5;a b\r\n",
        b"5;a=b c\r\n",
        b"5;a \r\n",
        b"5;a=b \r\n",
        b"5;a=\"unterminated\r\n",
        b"5;a=\"x\"y\r\n",
        b"5;a=\"\x01\"\r\n",
        b"5;a=\"\\\x7f\"\r\n",
        b"5;a@b\r\n",
        b"5;a=b@\r\n",
        b"5;\x00\r\n",
        b"5;a=\"x\" \r\n",
    ] {
        assert_eq!(rejected(input), ChunkedError::BadExtension, "{input:?}");
    }
}

#[test]
fn extension_whitespace_where_the_grammar_allows_it_is_accepted() {
    let input = b"5 \t; a = b ;c= \"q\\\"\" \t;d\r\nhello\r\n0\r\n\r\n";
    assert_eq!(decoded(input).0, b"hello");
}

#[test]
fn obsolete_fold_in_trailer_is_bad() {
    assert_eq!(
        rejected(b"0\r\nt: v\r\n folded\r\n\r\n"),
        ChunkedError::BadTrailer
    );
}

#[test]
fn trailer_without_colon_is_bad() {
    assert_eq!(rejected(b"0\r\ntrailer\r\n\r\n"), ChunkedError::BadTrailer);
}

#[test]
fn trailer_with_empty_name_is_bad() {
    assert_eq!(rejected(b"0\r\n: v\r\n\r\n"), ChunkedError::BadTrailer);
}

#[test]
fn trailer_whitespace_before_colon_is_bad() {
    assert_eq!(rejected(b"0\r\nt : v\r\n\r\n"), ChunkedError::BadTrailer);
}

#[test]
fn trailer_control_byte_is_bad() {
    assert_eq!(
        rejected(b"0\r\nt: a\x00b\r\n\r\n"),
        ChunkedError::BadTrailer
    );
    assert_eq!(
        rejected(b"0\r\nt: a\x7fb\r\n\r\n"),
        ChunkedError::BadTrailer
    );
}
