//! The official `openai` Python SDK (pinned by tests/clients/setup.sh) reads what the reverse
//! translation writes: a stand-in server answers the SDK's chat requests by translating them
//! (the request must translate cleanly) and replying with a fixed Anthropic stream and message
//! run through `sluice::inbound::openai`. The SDK's own accumulation must hold the text, both
//! parallel tool calls with their arguments, `finish_reason` `tool_calls` and the usage chunk.
//! (The endpoints through the gateway are tested end to end once they are wired.)

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};

use serde_json::{Value, json};
use sluice::inbound::openai::{ChunkStream, translate_request, translate_response};

use support::clients;

fn event(data: Value) -> String {
    format!(
        "event: {}\ndata: {data}\n\n",
        data["type"].as_str().unwrap()
    )
}

/// Text and two tool calls whose inputs arrive in awkward fragments.
fn anthropic_stream() -> String {
    let mut s = event(
        json!({"type": "message_start", "message": {"id": "msg_sdk", "type": "message",
        "role": "assistant", "model": "claude-sonnet-4-5-20250929", "content": [], "stop_reason": null,
        "usage": {"input_tokens": 21, "cache_creation_input_tokens": 7, "cache_read_input_tokens": 100, "output_tokens": 1}}}),
    );
    s += &event(
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    );
    for text in ["I'll list “src dir” ", "and write héllo.txt 😀"] {
        s += &event(
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}),
        );
    }
    s += &event(json!({"type": "content_block_stop", "index": 0}));
    let tools = [
        (
            "toolu_A",
            "Bash",
            vec!["", "{\"command\": \"ls \\\"src", " dir\\\"\"}"],
        ),
        (
            "toolu_B",
            "Write",
            vec![
                "{\"file_path\":\"héllo.txt\",",
                "\"content\":\"日本\\n😀\"}",
            ],
        ),
    ];
    for (k, (id, name, fragments)) in tools.iter().enumerate() {
        let index = k + 1;
        s += &event(
            json!({"type": "content_block_start", "index": index, "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}),
        );
        for fragment in fragments {
            s += &event(
                json!({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": fragment}}),
            );
        }
        s += &event(json!({"type": "content_block_stop", "index": index}));
    }
    s += &event(
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 55}}),
    );
    s += "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    s
}

fn anthropic_message() -> Vec<u8> {
    serde_json::to_vec(&json!({"id": "msg_sdk2", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
        "content": [{"type": "text", "text": "Done."},
                    {"type": "tool_use", "id": "toolu_C", "name": "Bash", "input": {"command": "ls"}}],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": {"input_tokens": 21, "cache_creation_input_tokens": 7, "cache_read_input_tokens": 100, "output_tokens": 9}}))
    .unwrap()
}

/// Reads one request; returns its body.
fn read_request(stream: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut length = 0;
    loop {
        let mut line = String::new();
        if stream.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).ok()?;
    Some(body)
}

fn serve(listener: TcpListener) {
    for conn in listener.incoming() {
        let Ok(conn) = conn else { return };
        let mut reader = BufReader::new(conn.try_clone().unwrap());
        let Some(body) = read_request(&mut reader) else {
            continue;
        };
        let translated = translate_request(&body).expect("the SDK's request translates");
        let (content_type, reply) = if translated.stream {
            assert!(translated.include_usage, "the script asks for usage");
            let mut stream =
                ChunkStream::new(1_761_000_000, &translated.model, translated.include_usage);
            let mut out = Vec::new();
            // Fed in 7-byte pieces, as a network might deliver it.
            for piece in anthropic_stream().as_bytes().chunks(7) {
                stream.feed(piece, &mut out);
            }
            stream.finish(&mut out);
            ("text/event-stream", out)
        } else {
            let out =
                translate_response(&anthropic_message(), 1_761_000_000, &translated.model).unwrap();
            ("application/json", out)
        };
        let mut conn = conn;
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            reply.len()
        );
        let _ = conn.write_all(head.as_bytes());
        let _ = conn.write_all(&reply);
    }
}

#[test]
fn the_openai_sdk_accumulates_the_translated_stream_and_message() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
    std::thread::spawn(move || serve(listener));
    let result = clients::run_openai_sdk(&base_url, "sk-test", "chat", "gpt-4o");

    let message = &result["stream_final"]["choices"][0]["message"];
    assert_eq!(
        message["content"],
        "I'll list “src dir” and write héllo.txt 😀"
    );
    let calls = message["tool_calls"].as_array().expect("tool calls");
    assert_eq!(calls.len(), 2);
    let expected = [
        ("toolu_A", "Bash", json!({"command": "ls \"src dir\""})),
        (
            "toolu_B",
            "Write",
            json!({"file_path": "héllo.txt", "content": "日本\n😀"}),
        ),
    ];
    for (call, (id, name, input)) in calls.iter().zip(expected) {
        assert_eq!(call["id"], id);
        assert_eq!(call["type"], "function");
        assert_eq!(call["function"]["name"], name);
        let arguments: Value =
            serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(arguments, input);
    }
    assert_eq!(
        result["stream_final"]["choices"][0]["finish_reason"],
        "tool_calls"
    );
    assert_eq!(result["stream_finish_reasons"], json!(["tool_calls"]));
    assert_eq!(result["stream_final"]["id"], "msg_sdk");
    assert_eq!(
        result["stream_final"]["model"],
        "claude-sonnet-4-5-20250929"
    );
    let usage = json!({"prompt_tokens": 128, "completion_tokens": 55, "total_tokens": 183});
    let seen = &result["stream_usage_chunks"][0];
    for key in ["prompt_tokens", "completion_tokens", "total_tokens"] {
        assert_eq!(seen[key], usage[key], "{key}");
    }
    assert_eq!(seen["prompt_tokens_details"]["cached_tokens"], 100);

    let created = &result["create"];
    assert_eq!(created["choices"][0]["message"]["content"], "Done.");
    assert_eq!(
        created["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
        "{\"command\":\"ls\"}"
    );
    assert_eq!(created["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(created["usage"]["prompt_tokens"], 128);
}
