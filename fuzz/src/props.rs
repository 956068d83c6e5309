//! Properties of sluice's parsers under arbitrary input, beyond "no panic". Each function takes
//! the fuzzer's bytes and panics when a property fails; the fuzz targets call them, and
//! tests/fuzz_props.rs runs them under proptest and on every recorded crash.

use sluice::http::chunked::ChunkedDecoder;
use sluice::http::head::{ParseStatus, parse_request_head};
use sluice::http::limits::MAX_HEADERS;
use sluice::http::response_head::parse_response_head;
use sluice::sse::SseParser;

/// Split points taken from the input itself: the first byte chooses a cut, the rest is the data.
fn split_input(data: &[u8]) -> (usize, &[u8]) {
    match data.split_first() {
        Some((&cut, rest)) => (usize::from(cut), rest),
        None => (0, data),
    }
}

/// A request head parses to the same method, target, version and fields as httparse reads from
/// the same bytes, or it is rejected (or still partial).
pub fn request_head(data: &[u8]) {
    let Ok(ParseStatus::Complete(head)) = parse_request_head(data, MAX_HEADERS) else {
        return;
    };
    let used = data
        .get(..head.head_len())
        .expect("head_len within the buffer");
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut reference = httparse::Request::new(&mut fields);
    let status = reference
        .parse(used)
        .expect("httparse accepts what sluice accepted");
    assert!(status.is_complete(), "httparse sees a complete head");
    assert_eq!(reference.method, Some(head.method()));
    assert_eq!(reference.path, Some(head.target()));
    assert_eq!(reference.version, Some(head.minor_version()));
    let ours: Vec<(&str, &[u8])> = head.headers().collect();
    let theirs: Vec<(&str, &[u8])> = reference
        .headers
        .iter()
        .map(|h| (h.name, h.value))
        .collect();
    assert_eq!(ours, theirs);
    let _ = (head.path(), head.query(), head.framing(), head.keep_alive());
}

/// A response head either parses (and every accessor answers) or is rejected.
pub fn response_head(data: &[u8]) {
    if let Ok(ParseStatus::Complete(head)) = parse_response_head(data, MAX_HEADERS) {
        assert!(head.head_len() <= data.len());
        let _ = (head.status(), head.reason(), head.keep_alive());
        let _ = (
            head.framing(false),
            head.framing(true),
            head.headers().count(),
        );
    }
}

/// A plain, whole-input chunked decoder written from RFC 9112 §7.1 for the strict subset (hex
/// size, CRLF, data, CRLF; no extensions, no trailers). Returns the body and the bytes used, or
/// `None` when the input is outside that subset or incomplete.
pub fn reference_chunked(input: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut body = Vec::new();
    let mut pos = 0;
    loop {
        let line_end = pos + input.get(pos..)?.windows(2).position(|w| w == b"\r\n")?;
        let digits = input.get(pos..line_end)?;
        if digits.is_empty() || digits.len() > 16 || !digits.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        let size = u64::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()?;
        pos = line_end + 2;
        if size == 0 {
            return (input.get(pos..pos + 2)? == b"\r\n").then_some((body, pos + 2));
        }
        let size = usize::try_from(size).ok()?;
        let data_end = pos.checked_add(size)?;
        body.extend_from_slice(input.get(pos..data_end)?);
        if input.get(data_end..data_end + 2)? != b"\r\n" {
            return None;
        }
        pos = data_end + 2;
    }
}

/// Feeds `input` to sluice's decoder in two pieces cut at `cut`: (body, consumed, done) or the
/// error.
fn decode_in_two(input: &[u8], cut: usize) -> Result<(Vec<u8>, usize, bool), ()> {
    let cut = cut.min(input.len());
    let mut decoder = ChunkedDecoder::new(u64::MAX);
    let mut out = Vec::new();
    let first = decoder.decode(&input[..cut], &mut out).map_err(|_| ())?;
    if first.done {
        return Ok((out, first.consumed, true));
    }
    let second = decoder
        .decode(&input[first.consumed..], &mut out)
        .map_err(|_| ())?;
    Ok((out, first.consumed + second.consumed, second.done))
}

/// The chunked decoder, fed in any two pieces, decodes the same body as the reference decoder
/// whenever the reference accepts the input.
pub fn chunked(data: &[u8]) {
    let (cut, input) = split_input(data);
    let whole = decode_in_two(input, input.len());
    let split = decode_in_two(input, cut);
    assert_eq!(whole, split, "the split does not change the outcome");
    if let Some((body, used)) = reference_chunked(input) {
        assert_eq!(
            whole,
            Ok((body, used, true)),
            "same body as the reference decoder"
        );
    }
    if let Ok((body, _, _)) = &whole {
        assert!(body.len() <= input.len());
    }
}

/// One event as owned bytes, for comparing runs.
type OwnedEvent = (Vec<u8>, Vec<u8>, Option<Vec<u8>>);

/// Runs the SSE parser and the Anthropic observer over `input` cut at `cuts` (ascending).
fn sse_run(
    input: &[u8],
    cuts: &[usize],
) -> (Vec<OwnedEvent>, sluice::observe::summary::ResponseSummary) {
    let mut parser = SseParser::new();
    let mut observer = sluice::providers::anthropic::AnthropicObserver::new();
    let mut events = Vec::new();
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
        let cut = cut.clamp(start, input.len());
        parser.feed(&input[start..cut], |event| {
            events.push((
                event.event.to_vec(),
                event.data.to_vec(),
                event.id.map(<[u8]>::to_vec),
            ));
            observer.on_event(event);
        });
        start = cut;
    }
    (events, observer.into_summary())
}

/// The SSE parser fed any split yields the same events (and the Anthropic observer the same
/// summary) as fed whole.
pub fn sse_anthropic(data: &[u8]) {
    let (seed, input) = split_input(data);
    let whole = sse_run(input, &[]);
    let len = input.len().max(1);
    let mut cuts: Vec<usize> = (1..4).map(|k| (seed * k * 7919) % len).collect();
    cuts.sort_unstable();
    assert_eq!(whole, sse_run(input, &cuts), "split at {cuts:?}");
    let bytewise: Vec<usize> = (1..input.len().min(512)).collect();
    assert_eq!(whole, sse_run(input, &bytewise), "fed byte by byte");
}

/// The request peek never panics; a peeked model span can be substituted and peeked again.
pub fn request_peek(data: &[u8]) {
    use sluice::providers::anthropic::{peek_request, substitute_model};
    let Ok(peek) = peek_request(data) else {
        return;
    };
    if let Some(span) = peek.model_span {
        assert!(span.start <= span.end && span.end <= data.len());
        let replaced = substitute_model(data, span, "fuzz-model");
        let again = peek_request(&replaced).expect("substituting the model keeps the body valid");
        assert_eq!(again.model.as_deref(), Some("fuzz-model"));
        assert_eq!(
            (again.stream, again.max_tokens),
            (peek.stream, peek.max_tokens)
        );
    }
}

/// The non-streaming body summary and error-type reader never panic.
pub fn body_summary(data: &[u8]) {
    let _ = sluice::providers::anthropic::summarize_message_json(data);
    let _ = sluice::providers::anthropic::error_type_of(data);
}

/// The config parser answers any text with a config or an error.
pub fn config(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = sluice::config::Config::from_toml_str(text);
    }
}

/// The OpenAI chunk-stream translator gives the same Anthropic stream however its input is
/// split.
pub fn openai_stream(data: &[u8]) {
    use sluice::providers::openai::stream::StreamTranslator;
    use sluice::providers::openai::tool_names::ToolNameMap;
    let (cut, input) = split_input(data);
    let run = |cut: usize| {
        let mut translator = StreamTranslator::new(ToolNameMap::new(), "fuzz-model");
        let mut out = Vec::new();
        let cut = cut.min(input.len());
        translator.feed(&input[..cut], &mut out);
        translator.feed(&input[cut..], &mut out);
        translator.finish(&mut out);
        (out, translator.terminated())
    };
    assert_eq!(run(input.len()), run(cut));
}

/// The Bedrock event-stream decoder takes any bytes: messages, then an error or the end.
pub fn bedrock_eventstream(data: &[u8]) {
    use sluice::providers::bedrock::eventstream::FrameDecoder;
    let (cut, input) = split_input(data);
    let cut = cut.min(input.len());
    let mut decoder = FrameDecoder::new();
    for piece in [&input[..cut], &input[cut..]] {
        decoder.push(piece);
        while let Ok(Some(_)) = decoder.next_message() {}
    }
    let _ = decoder.finish();
}

/// The MCP JSON-RPC codec: bodies, SSE-framed messages and stdio lines.
pub fn mcp_jsonrpc(data: &[u8]) {
    use sluice::mcp::jsonrpc::{LineFramer, SseMessageReader, parse_body, peek_numeric_id};
    let _ = parse_body(data);
    let _ = peek_numeric_id(data);
    let mut reader = SseMessageReader::new();
    reader.feed(data, |_| {});
    let mut lines = 0usize;
    let mut framer = LineFramer::new(64);
    framer.feed(data, |_| lines += 1);
    assert!(lines <= data.len());
}

/// The inbound OpenAI request translator and chunk stream never panic.
pub fn inbound_openai_request(data: &[u8]) {
    use sluice::inbound::openai::{ChunkStream, translate_request};
    if let Ok(request) = translate_request(data) {
        let body = request.into_anthropic_body("fuzz-model", 1024);
        assert!(serde_json_free_check(&body));
    }
    let mut stream = ChunkStream::new(0, "fuzz-model", true);
    let mut out = Vec::new();
    stream.feed(data, &mut out);
    stream.finish(&mut out);
}

/// The translated body is a JSON object (starts with `{`, ends with `}`).
fn serde_json_free_check(body: &[u8]) -> bool {
    body.first() == Some(&b'{') && body.last() == Some(&b'}')
}
