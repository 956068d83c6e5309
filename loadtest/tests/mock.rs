//! The mock's script checks and fault picks, its routing, and the responses it renders: each is
//! read back through the generator's own parsers and checked against the API shapes; one test
//! serves real requests over loopback.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sluice_loadtest::load::exchange::{connect, exchange, new_read_buf};
use sluice_loadtest::mock::responses::{Responses, anthropic_events, openai_events};
use sluice_loadtest::mock::route::{Endpoint as Route, route, wants_stream, wants_usage};
use sluice_loadtest::mock::script::{Fault, FaultShares, MAX_TOOL_USES, MockScript};
use sluice_loadtest::mock::server::{MockShared, serve};
use sluice_loadtest::requests::profiles::{Endpoint, Profile, RequestSet};
use sluice_loadtest::rng::Rng;
use sluice_loadtest::wire::body::BodyDecoder;
use sluice_loadtest::wire::framing::{Method, parse_response_head};

/// Splits a response into (status, headers text, body), checking its framing.
fn read_response(bytes: &[u8]) -> (u16, String, Vec<u8>) {
    let head = parse_response_head(bytes, false).unwrap().unwrap();
    let mut decoder = BodyDecoder::new(head.framing).unwrap();
    let mut body = Vec::new();
    let used = decoder
        .decode(&bytes[head.head_len..], |d| body.extend_from_slice(d))
        .unwrap();
    assert!(decoder.is_done());
    assert_eq!(head.head_len + used, bytes.len());
    (
        head.status,
        String::from_utf8_lossy(&bytes[..head.head_len]).into_owned(),
        body,
    )
}

/// (event name, data JSON) of every SSE frame.
fn sse_frames(body: &[u8]) -> Vec<(String, Value)> {
    let text = std::str::from_utf8(body).unwrap();
    assert!(text.ends_with("\n\n"));
    text.split_terminator("\n\n")
        .map(|frame| {
            let mut lines = frame.lines();
            let event = lines
                .next()
                .unwrap()
                .strip_prefix("event: ")
                .unwrap()
                .to_string();
            let data = lines.next().unwrap().strip_prefix("data: ").unwrap();
            (event, serde_json::from_str(data).unwrap())
        })
        .collect()
}

#[test]
fn anthropic_stream_has_the_api_event_order() {
    let script = MockScript {
        text_events: 5,
        thinking: true,
        tool_uses: 2,
        ..MockScript::default()
    };
    let responses = Responses::render(&script);
    let (status, head, body) = read_response(&responses.anthropic_stream.whole);
    assert_eq!(status, 200);
    assert!(head.contains("content-type: text/event-stream"));
    let frames = sse_frames(&body);
    assert!(
        frames
            .iter()
            .all(|(event, data)| data["type"] == event.as_str())
    );
    assert_eq!(frames.first().unwrap().0, "message_start");
    assert_eq!(frames.last().unwrap().0, "message_stop");
    assert_eq!(frames[frames.len() - 2].0, "message_delta");
    assert_eq!(
        frames[frames.len() - 2].1["delta"]["stop_reason"],
        "tool_use"
    );
    let mut open: Option<u64> = None;
    let mut started = Vec::new();
    let mut tool_json = String::new();
    let mut kinds = Vec::new();
    for (event, data) in &frames {
        match event.as_str() {
            "content_block_start" => {
                assert_eq!(open, None, "blocks do not nest");
                let index = data["index"].as_u64().unwrap();
                assert_eq!(index, started.len() as u64, "indices count up from 0");
                open = Some(index);
                started.push(data["content_block"]["type"].as_str().unwrap().to_string());
                tool_json.clear();
            }
            "content_block_delta" => {
                assert_eq!(Some(data["index"].as_u64().unwrap()), open);
                let kind = data["delta"]["type"].as_str().unwrap().to_string();
                if kind == "input_json_delta" {
                    tool_json.push_str(data["delta"]["partial_json"].as_str().unwrap());
                }
                kinds.push(kind);
            }
            "content_block_stop" => {
                assert_eq!(Some(data["index"].as_u64().unwrap()), open);
                if started.last().unwrap() == "tool_use" {
                    let input: Value = serde_json::from_str(&tool_json).unwrap();
                    assert!(input["file_path"].is_string());
                }
                open = None;
            }
            _ => {}
        }
    }
    assert_eq!(started, ["thinking", "text", "tool_use", "tool_use"]);
    assert_eq!(kinds.iter().filter(|k| *k == "text_delta").count(), 5);
    let signature = kinds.iter().position(|k| k == "signature_delta").unwrap();
    assert_eq!(
        kinds[signature - 1],
        "thinking_delta",
        "signature comes right after thinking"
    );
    assert_eq!(responses.anthropic_stream.events.len(), frames.len());
    let burst = responses.anthropic_stream.burst;
    assert_eq!(
        frames[burst - 1].0,
        "content_block_delta",
        "the burst ends with the first delta"
    );
    assert!(
        frames[..burst - 1]
            .iter()
            .all(|(event, _)| event != "content_block_delta")
    );
    assert_eq!(
        responses.openai_stream.burst, 2,
        "role chunk and first content chunk"
    );
}

#[test]
fn anthropic_stream_without_thinking_or_tools_ends_the_turn() {
    let script = MockScript {
        text_events: 1,
        thinking: false,
        tool_uses: 0,
        ..MockScript::default()
    };
    let frames: Vec<Value> = anthropic_events(&script)
        .iter()
        .map(|frame| sse_frames(frame).remove(0).1)
        .collect();
    assert!(
        frames
            .iter()
            .all(|f| f["content_block"]["type"] != "thinking")
    );
    assert_eq!(frames[frames.len() - 2]["delta"]["stop_reason"], "end_turn");
}

#[test]
fn openai_stream_has_tool_calls_usage_and_done() {
    let script = MockScript {
        text_events: 3,
        tool_uses: 2,
        ..MockScript::default()
    };
    for include_usage in [false, true] {
        let events = openai_events(&script, include_usage);
        let text: Vec<String> = events
            .iter()
            .map(|e| String::from_utf8(e.clone()).unwrap())
            .collect();
        assert_eq!(text.last().unwrap(), "data: [DONE]\n\n");
        let chunks: Vec<Value> = text[..text.len() - 1]
            .iter()
            .map(|t| serde_json::from_str(t.strip_prefix("data: ").unwrap().trim_end()).unwrap())
            .collect();
        assert!(
            chunks
                .iter()
                .all(|c| c["object"] == "chat.completion.chunk")
        );
        let usage_chunks = chunks
            .iter()
            .filter(|c| c["choices"].as_array().unwrap().is_empty());
        assert_eq!(usage_chunks.count(), usize::from(include_usage));
        let ids: Vec<&Value> = chunks
            .iter()
            .filter_map(|c| {
                c["choices"][0]["delta"]["tool_calls"][0]["id"]
                    .as_str()
                    .map(|_| c)
            })
            .collect();
        assert_eq!(ids.len(), 2, "each tool call's id arrives once");
        let finish: Vec<&str> = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["finish_reason"].as_str())
            .collect();
        assert_eq!(finish, ["tool_calls"]);
    }
}

#[test]
fn non_streaming_bodies_are_valid_in_both_framings() {
    for chunked in [false, true] {
        let script = MockScript {
            chunked,
            ..MockScript::default()
        };
        let responses = Responses::render(&script);
        let (_, head, body) = read_response(&responses.anthropic_message);
        assert_eq!(head.contains("transfer-encoding: chunked"), chunked);
        let message: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(message["type"], "message");
        assert!(message["usage"]["output_tokens"].as_u64().unwrap() > 0);
        let (_, _, body) = read_response(&responses.openai_completion);
        let completion: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(completion["choices"][0]["finish_reason"], "tool_calls");
        let (_, _, body) = read_response(&responses.count_tokens);
        assert_eq!(
            serde_json::from_slice::<Value>(&body).unwrap()["input_tokens"],
            2048
        );
        let (_, _, body) = read_response(&responses.models);
        assert_eq!(
            serde_json::from_slice::<Value>(&body).unwrap()["has_more"],
            false
        );
    }
}

#[test]
fn error_responses_have_status_type_and_retry_after() {
    let script = MockScript {
        retry_after_secs: 7,
        ..MockScript::default()
    };
    let responses = Responses::render(&script);
    let expected = [
        (429, "rate_limit_error"),
        (500, "api_error"),
        (529, "overloaded_error"),
    ];
    for (bytes, (status, kind)) in responses.anthropic_errors.iter().zip(expected) {
        let (got, head, body) = read_response(bytes);
        assert_eq!(got, status);
        assert_eq!(head.contains("retry-after: 7"), status == 429);
        let json: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            (json["type"].as_str(), json["error"]["type"].as_str()),
            (Some("error"), Some(kind))
        );
    }
    for bytes in &responses.openai_errors {
        let (_, _, body) = read_response(bytes);
        assert!(serde_json::from_slice::<Value>(&body).unwrap()["error"]["message"].is_string());
    }
}

#[test]
fn fault_shares_pick_in_proportion_and_are_checked() {
    let none = FaultShares::default();
    assert!(none.is_none());
    assert_eq!(none.pick(&mut Rng::new(1)), None);
    let all_529 = FaultShares {
        overloaded: 100.0,
        ..FaultShares::default()
    };
    let mut rng = Rng::new(9);
    assert!((0..100).all(|_| all_529.pick(&mut rng) == Some(Fault::Overloaded)));
    let tenth = FaultShares {
        rate_limited: 10.0,
        reset: 10.0,
        ..FaultShares::default()
    };
    let picks: Vec<Option<Fault>> = (0..10_000).map(|_| tenth.pick(&mut rng)).collect();
    let limited = picks
        .iter()
        .filter(|p| **p == Some(Fault::RateLimited))
        .count();
    let resets = picks.iter().filter(|p| **p == Some(Fault::Reset)).count();
    assert!((800..1200).contains(&limited), "{limited}");
    assert!((800..1200).contains(&resets), "{resets}");
    let all_truncated = FaultShares {
        truncate: 100.0,
        ..FaultShares::default()
    };
    assert!(!all_truncated.is_none());
    assert!((0..100).all(|_| all_truncated.pick(&mut rng) == Some(Fault::Truncate)));
    let over = MockScript {
        faults: FaultShares {
            server_error: 60.0,
            stall: 41.0,
            ..FaultShares::default()
        },
        ..MockScript::default()
    };
    assert!(over.validate().is_err());
    let negative = MockScript {
        faults: FaultShares {
            reset: -1.0,
            ..FaultShares::default()
        },
        ..MockScript::default()
    };
    assert!(negative.validate().is_err());
    assert!(
        MockScript {
            tool_uses: MAX_TOOL_USES,
            ..MockScript::default()
        }
        .validate()
        .is_ok()
    );
    assert!(
        MockScript {
            tool_uses: MAX_TOOL_USES + 1,
            ..MockScript::default()
        }
        .validate()
        .is_err()
    );
}

#[test]
fn jitter_stays_within_its_bound() {
    let script = MockScript {
        latency: Duration::from_micros(100),
        jitter: Duration::from_micros(50),
        ..MockScript::default()
    };
    let mut rng = Rng::new(3);
    for _ in 0..1000 {
        let delay = script.head_delay(&mut rng);
        assert!(delay >= Duration::from_micros(100) && delay <= Duration::from_micros(150));
    }
}

#[test]
fn routes_and_body_peeks() {
    assert_eq!(route(Method::Post, b"/v1/messages"), Route::Messages);
    assert_eq!(
        route(Method::Post, b"/anthropic/v1/messages"),
        Route::Messages
    );
    assert_eq!(
        route(Method::Post, b"/v1/messages/count_tokens"),
        Route::CountTokens
    );
    assert_eq!(route(Method::Get, b"/v1/models"), Route::Models);
    assert_eq!(
        route(Method::Post, b"/openai/v1/chat/completions"),
        Route::ChatCompletions
    );
    assert_eq!(route(Method::Head, b"/"), Route::HeadCheck);
    assert_eq!(route(Method::Get, b"/v1/messages"), Route::NotFound);
    assert!(wants_stream(br#"{"stream": true}"#) && wants_stream(br#"{"stream":true}"#));
    assert!(!wants_stream(br#"{"stream":false}"#));
    assert!(wants_usage(br#"{"stream_options":{"include_usage":true}}"#));
}

/// Serves over loopback on one executor and drives it with the generator's own exchange.
fn serve_and_ask(script: MockScript, profile: Profile) -> Vec<(u16, bool)> {
    glommio::LocalExecutorBuilder::default()
        .spawn(move || async move {
            let listener = glommio::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let shared = Arc::new(MockShared::new(script));
            glommio::spawn_local(serve(listener, shared, 1)).detach();
            let endpoint = Endpoint {
                host: addr.to_string(),
                path_prefix: String::new(),
            };
            let requests = RequestSet::build(profile, &endpoint, &[], 60_000);
            let mut stream = connect(addr, Duration::from_secs(2)).await.unwrap();
            let mut buf = new_read_buf();
            let mut replies = Vec::new();
            for index in 0..3 {
                let reply = exchange(&mut stream, &mut buf, requests.pick(index))
                    .await
                    .unwrap();
                replies.push((reply.status, reply.first_token.is_some()));
            }
            replies
        })
        .unwrap()
        .join()
        .unwrap()
}

#[test]
fn mock_serves_streams_and_messages_over_keep_alive() {
    let streams = serve_and_ask(MockScript::default(), Profile::ClaudeCode);
    assert_eq!(streams, vec![(200, true); 3]);
    let openai = serve_and_ask(MockScript::default(), Profile::OpenAi);
    assert_eq!(openai, vec![(200, true); 3]);
    let small = serve_and_ask(
        MockScript {
            chunked: true,
            ..MockScript::default()
        },
        Profile::Small,
    );
    assert_eq!(small, vec![(200, false); 3]);
}

#[test]
fn mock_injects_status_faults() {
    let script = MockScript {
        faults: FaultShares {
            rate_limited: 100.0,
            ..FaultShares::default()
        },
        ..MockScript::default()
    };
    assert_eq!(serve_and_ask(script, Profile::Small), vec![(429, false); 3]);
}
