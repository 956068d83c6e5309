//! Tests for the JSON-RPC codec: every message kind and every malformed shape, the encoders,
//! and the incremental framers (stdio lines, SSE events) split at every byte offset.

use serde_json::{Value, json};

use super::jsonrpc::*;

fn parse_one(text: &str) -> Result<Message, Invalid> {
    match parse_body(text.as_bytes())? {
        Incoming::Single(message) => Ok(message),
        Incoming::Batch(_) => panic!("batch"),
    }
}

#[test]
fn reads_each_message_kind() {
    assert_eq!(
        parse_one(r#"{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{"cursor":"c"}}"#),
        Ok(Message::Request(Request {
            id: RequestId::Number(7),
            method: "tools/list".into(),
            params: Some(json!({"cursor": "c"})),
        }))
    );
    assert_eq!(
        parse_one(r#"{"jsonrpc":"2.0","id":"a-1","method":"ping"}"#),
        Ok(Message::Request(Request {
            id: RequestId::String("a-1".into()),
            method: "ping".into(),
            params: None,
        }))
    );
    assert_eq!(
        parse_one(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
        Ok(Message::Notification(Notification {
            method: "notifications/initialized".into(),
            params: None,
        }))
    );
    assert_eq!(
        parse_one(r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}"#),
        Ok(Message::Response(Response {
            id: Some(RequestId::Number(1)),
            outcome: Ok(json!({"tools": []})),
        }))
    );
    assert_eq!(
        parse_one(r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"nope","data":3}}"#),
        Ok(Message::Response(Response {
            id: Some(RequestId::Number(1)),
            outcome: Err(RpcError {
                code: METHOD_NOT_FOUND,
                message: "nope".into(),
                data: Some(json!(3)),
            }),
        }))
    );
    let malformed_error = parse_one(r#"{"jsonrpc":"2.0","id":1,"error":"boom"}"#).unwrap();
    let Message::Response(Response {
        outcome: Err(error),
        ..
    }) = malformed_error
    else {
        panic!("an error response");
    };
    assert_eq!(error.code, INTERNAL_ERROR);
}

#[test]
fn malformed_input_gets_the_specified_code_and_keeps_the_id() {
    for text in ["", "{", "nope", "{\"jsonrpc\":\"2.0\",}", "\u{0}"] {
        let invalid = parse_body(text.as_bytes()).unwrap_err();
        assert_eq!(invalid.error.code, PARSE_ERROR, "{text:?}");
        assert_eq!(invalid.id, None);
    }
    let cases = [
        (r#"[]"#, None),
        (r#"3"#, None),
        (r#""text""#, None),
        (r#"{"id":1,"method":"ping"}"#, Some(RequestId::Number(1))),
        (
            r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
            Some(RequestId::Number(1)),
        ),
        (r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#, None),
        (r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#, None),
        (r#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#, None),
        (
            r#"{"jsonrpc":"2.0","id":"x","method":5}"#,
            Some(RequestId::String("x".into())),
        ),
        (
            r#"{"jsonrpc":"2.0","id":2,"method":"ping","params":3}"#,
            Some(RequestId::Number(2)),
        ),
        (r#"{"jsonrpc":"2.0","id":2}"#, Some(RequestId::Number(2))),
        (
            r#"{"jsonrpc":"2.0","id":2,"result":1,"error":{}}"#,
            Some(RequestId::Number(2)),
        ),
    ];
    for (text, id) in cases {
        let invalid = parse_body(text.as_bytes()).unwrap_err();
        assert_eq!(invalid.error.code, INVALID_REQUEST, "{text}");
        assert_eq!(invalid.id, id, "{text}");
    }
}

#[test]
fn batches_are_read_element_by_element() {
    let body = r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}, 5, {"jsonrpc":"2.0","method":"n"}]"#;
    let Incoming::Batch(items) = parse_body(body.as_bytes()).unwrap() else {
        panic!("batch");
    };
    assert_eq!(items.len(), 3);
    assert!(matches!(items[0], Ok(Message::Request(_))));
    assert_eq!(items[1].as_ref().unwrap_err().error.code, INVALID_REQUEST);
    assert!(matches!(items[2], Ok(Message::Notification(_))));
}

#[test]
fn encoders_write_what_the_parser_reads() {
    let id = RequestId::String("r".into());
    let request = encode_request(&id, "tools/call", Some(&json!({"name": "x"})));
    assert_eq!(
        parse_body(&request).unwrap(),
        Incoming::Single(Message::Request(Request {
            id: id.clone(),
            method: "tools/call".into(),
            params: Some(json!({"name": "x"})),
        }))
    );
    let error = RpcError::invalid_params("bad");
    let encoded = encode_error(None, &error);
    let value: Value = serde_json::from_slice(&encoded).unwrap();
    assert_eq!(
        value,
        json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32602, "message": "bad"}})
    );
    let ok = encode_response(&RequestId::Number(3), &Ok(json!({})));
    let value: Value = serde_json::from_slice(&ok).unwrap();
    assert_eq!(value, json!({"jsonrpc": "2.0", "id": 3, "result": {}}));
    let batch = encode_batch(&[ok.clone(), encode_notification("n", None)]);
    let Incoming::Batch(items) = parse_body(&batch).unwrap() else {
        panic!("batch");
    };
    assert_eq!(items.len(), 2);
    let mut framed = Vec::new();
    sse_frame(&mut framed, &ok);
    assert!(framed.starts_with(b"event: message\ndata: {"));
    assert!(framed.ends_with(b"}\n\n"));
}

fn frame_lines(pieces: &[&[u8]], limit: usize) -> Vec<String> {
    let mut framer = LineFramer::new(limit);
    let mut out = Vec::new();
    for piece in pieces {
        framer.feed(piece, |line| match line {
            Line::Complete(bytes) => out.push(String::from_utf8(bytes.to_vec()).unwrap()),
            Line::Oversized { head, len } => {
                out.push(format!("oversized {len} {}", String::from_utf8_lossy(head)))
            }
        });
    }
    out
}

#[test]
fn line_framer_splits_at_every_offset() {
    let input = b"{\"id\":1}\n\r\n{\"id\":22,\"x\":\"y\"}\r\n\n{\"id\":3}\npartial";
    let whole = frame_lines(&[input], 1024);
    assert_eq!(
        whole,
        ["{\"id\":1}", "{\"id\":22,\"x\":\"y\"}", "{\"id\":3}"]
    );
    for at in 0..=input.len() {
        assert_eq!(
            frame_lines(&[&input[..at], &input[at..]], 1024),
            whole,
            "split at {at}"
        );
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(frame_lines(&bytes, 1024), whole);
}

#[test]
fn line_framer_limit_at_and_one_past() {
    let limit = 300;
    let at_limit = format!("{{\"id\":9,\"p\":\"{}\"}}", "a".repeat(limit - 15));
    assert_eq!(at_limit.len(), limit);
    let input = format!("{at_limit}\n");
    for at in 0..=input.len() {
        let lines = frame_lines(&[&input.as_bytes()[..at], &input.as_bytes()[at..]], limit);
        assert_eq!(lines, std::slice::from_ref(&at_limit), "split at {at}");
    }
    let past = format!("{{\"id\":9,\"p\":\"{}\"}}", "a".repeat(limit - 14));
    let input = format!("{past}\n{{\"id\":10}}\n");
    for at in 0..=input.len() {
        let lines = frame_lines(&[&input.as_bytes()[..at], &input.as_bytes()[at..]], limit);
        assert_eq!(lines.len(), 2, "split at {at}");
        assert!(
            lines[0].starts_with(&format!("oversized {} {{\"id\":9", limit + 1)),
            "{}",
            lines[0]
        );
        assert!(lines[0].len() <= "oversized 301 ".len() + OVERSIZED_HEAD_BYTES);
        assert_eq!(lines[1], "{\"id\":10}");
    }
}

#[test]
fn numeric_ids_are_found_in_oversized_heads() {
    assert_eq!(
        peek_numeric_id(br#"{"jsonrpc":"2.0","id":42,"result":{"#),
        Some(42)
    );
    assert_eq!(peek_numeric_id(br#"{"id" : 7 ,"#), Some(7));
    assert_eq!(peek_numeric_id(br#"{"jsonrpc":"2.0","id":"s","#), None);
    assert_eq!(
        peek_numeric_id(br#"{"jsonrpc":"2.0","id":12"#),
        None,
        "digits may continue"
    );
    assert_eq!(peek_numeric_id(br#"{"result":{}}"#), None);
}

fn sse_messages(pieces: &[&[u8]]) -> Vec<Result<Value, i64>> {
    let mut reader = SseMessageReader::new();
    let mut out = Vec::new();
    for piece in pieces {
        reader.feed(piece, |message| out.push(message.map_err(|e| e.error.code)));
    }
    out
}

#[test]
fn sse_messages_split_at_every_offset() {
    let input = b"id: 1\ndata:\n\n: comment\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\nevent: other\ndata: {}\n\ndata: {\"jsonrpc\":\"2.0\",\r\ndata: \"method\":\"n\"}\r\n\r\ndata: not json\n\n";
    let whole = sse_messages(&[input]);
    assert_eq!(
        whole,
        [
            Ok(json!({"jsonrpc": "2.0", "id": 1, "result": {}})),
            Ok(json!({"jsonrpc": "2.0", "method": "n"})),
            Err(PARSE_ERROR),
        ]
    );
    for at in 0..=input.len() {
        assert_eq!(
            sse_messages(&[&input[..at], &input[at..]]),
            whole,
            "split at {at}"
        );
    }
}
