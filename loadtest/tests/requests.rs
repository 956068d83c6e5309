//! The request profiles: the Claude-Code-shaped body is valid JSON of 50–90 KB with its shape,
//! and every rendered request is a complete, correctly framed HTTP request.

use serde_json::Value;
use sluice_loadtest::requests::claude_code::{
    CLAUDE_CODE_MAX_BYTES, CLAUDE_CODE_MIN_BYTES, CLAUDE_CODE_TOOLS, claude_code_body,
};
use sluice_loadtest::requests::profiles::{Endpoint, Profile, RequestSet};
use sluice_loadtest::wire::body::BodyDecoder;
use sluice_loadtest::wire::framing::parse_request_head;

#[test]
fn claude_code_body_is_valid_json_of_the_right_size_and_shape() {
    for target in [
        0,
        CLAUDE_CODE_MIN_BYTES,
        70 * 1024,
        CLAUDE_CODE_MAX_BYTES,
        10 * 1024 * 1024,
    ] {
        let body = claude_code_body(target, 7);
        assert!(
            (CLAUDE_CODE_MIN_BYTES..=CLAUDE_CODE_MAX_BYTES).contains(&body.len()),
            "target {target} gave {} bytes",
            body.len()
        );
        let json: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["stream"], Value::Bool(true));
        assert!(json["max_tokens"].as_u64().unwrap() >= 32000);
        let tools = json["tools"].as_array().unwrap();
        assert!(tools.len() >= 20 && tools.len() == CLAUDE_CODE_TOOLS);
        assert!(tools.iter().all(|t| t["input_schema"]["type"] == "object"));
        let system = json["system"].as_array().unwrap();
        assert!(system.len() >= 2);
        assert!(
            system[1..]
                .iter()
                .all(|block| block["cache_control"]["type"] == "ephemeral")
        );
        let messages = json["messages"].as_array().unwrap();
        assert!(messages.len() >= 20, "long history");
        let blocks: Vec<&str> = messages
            .iter()
            .filter_map(|m| m["content"].as_array())
            .flatten()
            .filter_map(|b| b["type"].as_str())
            .collect();
        for kind in ["thinking", "tool_use", "tool_result", "text"] {
            assert!(blocks.contains(&kind), "history has {kind} blocks");
        }
        assert!(messages.iter().any(|m| m["role"] == "system"));
        assert!(json["metadata"]["user_id"].is_string());
    }
}

#[test]
fn claude_code_body_is_deterministic() {
    assert_eq!(claude_code_body(60_000, 3), claude_code_body(60_000, 3));
    assert_ne!(claude_code_body(60_000, 3), claude_code_body(60_000, 4));
}

fn check_request(bytes: &[u8], path: &[u8]) -> Value {
    let head = parse_request_head(bytes).unwrap().unwrap();
    assert_eq!(&bytes[head.path.clone()], path);
    let mut decoder = BodyDecoder::new(head.framing).unwrap();
    let mut body = Vec::new();
    let used = decoder
        .decode(&bytes[head.head_len..], |d| body.extend_from_slice(d))
        .unwrap();
    assert!(decoder.is_done());
    assert_eq!(head.head_len + used, bytes.len(), "nothing after the body");
    serde_json::from_slice(&body).unwrap()
}

#[test]
fn every_profile_renders_complete_requests() {
    let endpoint = Endpoint {
        host: "127.0.0.1:1".into(),
        path_prefix: "/anthropic".into(),
    };
    let extra = vec!["x-api-key: sk-test".to_string()];
    let small = RequestSet::build(Profile::Small, &endpoint, &extra, 60_000);
    let request = &small.pick(0).bytes;
    assert!(request.windows(19).any(|w| w == b"x-api-key: sk-test\r"));
    assert_eq!(
        check_request(request, b"/anthropic/v1/messages")["max_tokens"],
        64
    );
    assert!(!small.pick(0).streaming);
    let claude = RequestSet::build(Profile::ClaudeCode, &endpoint, &extra, 60_000);
    assert!(claude.pick(5).streaming);
    check_request(&claude.pick(5).bytes, b"/anthropic/v1/messages");
    let openai = RequestSet::build(Profile::OpenAi, &endpoint, &[], 60_000);
    let json = check_request(&openai.pick(0).bytes, b"/anthropic/v1/chat/completions");
    assert_eq!(json["stream_options"]["include_usage"], true);
}

#[test]
fn mix_profile_cycles_six_three_one() {
    let endpoint = Endpoint {
        host: "h".into(),
        path_prefix: String::new(),
    };
    let mix = RequestSet::build(Profile::Mix, &endpoint, &[], 60_000);
    assert_eq!(mix.templates().len(), 3);
    let picks: Vec<usize> = (0..10)
        .map(|i| {
            mix.templates()
                .iter()
                .position(|t| std::ptr::eq(t, mix.pick(i)))
                .unwrap()
        })
        .collect();
    assert_eq!(picks.iter().filter(|&&p| p == 0).count(), 6);
    assert_eq!(picks.iter().filter(|&&p| p == 1).count(), 3);
    assert_eq!(picks.iter().filter(|&&p| p == 2).count(), 1);
    assert_eq!(Profile::from_name("claude-code"), Some(Profile::ClaudeCode));
    assert_eq!(Profile::from_name("nope"), None);
}
