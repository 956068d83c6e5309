//! The fuzz targets' properties (fuzz/src/props.rs) under proptest, over the committed seed
//! corpora and over every crash the fuzzer found (fuzz/regressions/<target>/), so `cargo test`
//! keeps checking them without cargo-fuzz.

#[path = "../fuzz/src/props.rs"]
mod props;

use proptest::prelude::*;
use std::path::Path;

/// Every file under fuzz/corpus/<target>/ (committed seeds) and fuzz/regressions/<target>/.
fn recorded_inputs(target: &str) -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut inputs = Vec::new();
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for entry in entries.flatten() {
            inputs.push(std::fs::read(entry.path()).expect("readable corpus file"));
        }
    }
    inputs
}

macro_rules! recorded {
    ($($target:ident),* $(,)?) => {$(
        #[test]
        fn $target() {
            let inputs = recorded_inputs(stringify!($target));
            assert!(!inputs.is_empty(), "seed corpus for {} is committed", stringify!($target));
            for input in inputs {
                props::$target(&input);
            }
        }
    )*};
}

mod seeds_and_regressions {
    use super::*;
    recorded!(
        request_head,
        chunked,
        response_head,
        sse_anthropic,
        request_peek,
        body_summary,
        config,
        openai_stream,
        bedrock_eventstream,
        mcp_jsonrpc,
        inbound_openai_request,
    );
}

/// Chunked bodies built from random chunks, with random cut and size-case choices.
fn chunked_body() -> impl Strategy<Value = (Vec<Vec<u8>>, bool, u8)> {
    (
        prop::collection::vec(prop::collection::vec(any::<u8>(), 1..40), 0..6),
        any::<bool>(),
        any::<u8>(),
    )
}

/// SSE text from event-ish lines, with every line ending style.
fn sse_text() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        Just(b"event: message_start".to_vec()),
        Just(b"data: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":7}}".to_vec()),
        Just(b"data: {\"type\":\"message_start\",\"message\":{\"model\":\"m\",\"usage\":{\"input_tokens\":3}}}".to_vec()),
        Just(b"id: 4".to_vec()),
        Just(b": ping".to_vec()),
        Just(Vec::new()),
        prop::collection::vec(any::<u8>(), 0..12),
    ];
    let end = prop_oneof![Just(&b"\n"[..]), Just(&b"\r\n"[..]), Just(&b"\r"[..])];
    prop::collection::vec((line, end), 0..16).prop_map(|lines| {
        lines
            .into_iter()
            .flat_map(|(mut line, end)| {
                line.extend_from_slice(end);
                line
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn chunked_matches_the_reference_decoder((chunks, upper, cut) in chunked_body()) {
        let mut wire = Vec::new();
        for chunk in &chunks {
            let size = if upper { format!("{:X}", chunk.len()) } else { format!("{:x}", chunk.len()) };
            wire.extend_from_slice(size.as_bytes());
            wire.extend_from_slice(b"\r\n");
            wire.extend_from_slice(chunk);
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b"0\r\n\r\n");
        prop_assert!(props::reference_chunked(&wire).is_some());
        let mut input = vec![cut];
        input.extend_from_slice(&wire);
        props::chunked(&input);
    }

    #[test]
    fn chunked_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        props::chunked(&bytes);
    }

    #[test]
    fn sse_any_split_yields_the_same_events(seed in any::<u8>(), text in sse_text()) {
        let mut input = vec![seed];
        input.extend_from_slice(&text);
        props::sse_anthropic(&input);
    }

    #[test]
    fn request_head_agrees_with_httparse(
        method in "(GET|POST|PUT|[A-Z]{1,6})",
        target in "/[a-z0-9/?=&%.-]{0,20}",
        minor in 0u8..2,
        fields in prop::collection::vec(("[A-Za-z-]{1,12}", "[ -~]{0,20}"), 0..6),
        tail in prop::collection::vec(any::<u8>(), 0..8),
    ) {
        let mut head = format!("{method} {target} HTTP/1.{minor}\r\n").into_bytes();
        for (name, value) in &fields {
            head.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        head.extend_from_slice(&tail);
        props::request_head(&head);
    }

    #[test]
    fn request_head_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        props::request_head(&bytes);
        props::response_head(&bytes);
    }

    #[test]
    fn decoders_take_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        props::request_peek(&bytes);
        props::body_summary(&bytes);
        props::openai_stream(&bytes);
        props::bedrock_eventstream(&bytes);
        props::mcp_jsonrpc(&bytes);
        props::inbound_openai_request(&bytes);
        props::config(&bytes);
    }
}
