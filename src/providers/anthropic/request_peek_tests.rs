//! Tests of the top-level request peek and the in-place model substitution.

use super::request_peek::{MAX_NESTING, PeekError, RequestPeek, peek_request, substitute_model};

/// A body shaped like Claude Code's (system blocks, tools with nested schemas, messages with
/// escapes, thinking, metadata), `model` placed after nested "model" keys; `text_repeats` sets
/// the size: 55 gives about 80 KB.
fn claude_code_like_body(text_repeats: usize) -> String {
    let text =
        "Line with \\\"quotes\\\", a tab\\t, caf\\u00e9, 😀 and a path C:\\\\dir\\\\file.\\n";
    let long_text = text.repeat(text_repeats);
    let tool = |n: usize| {
        format!(
            r#"{{"name":"tool_{n}","description":"{long_text}","input_schema":{{"type":"object","properties":{{"model":{{"type":"string","enum":["a","b"]}},"nested":{{"type":"array","items":{{"type":"object","properties":{{"x":{{"type":"number","minimum":-1.5e3}}}}}}}}}},"required":["model"],"additionalProperties":false}}}}"#
        )
    };
    let tools: Vec<String> = (0..14).map(tool).collect();
    let message = |role: &str| {
        format!(
            r#"{{"role":"{role}","content":[{{"type":"text","text":"{long_text}","cache_control":{{"type":"ephemeral"}}}},{{"type":"tool_result","tool_use_id":"toolu_1","content":"\"model\": \"nested-evil\"","is_error":false}}]}}"#
        )
    };
    format!(
        r#"{{"system":[{{"type":"text","text":"x-anthropic-billing-header: cc_version=2.1"}},{{"type":"text","text":"{long_text}","cache_control":{{"type":"ephemeral"}}}}],"messages":[{},{},{}],"tools":[{}],"metadata":{{"user_id":"user_abc","model":"meta-evil"}},"thinking":{{"type":"adaptive"}},"context_management":{{"edits":[]}},"output_config":{{"effort":"high"}},"model" : "claude-sonnet-4-5-20250929","max_tokens":32000,"stream":true}}"#,
        message("user"),
        message("assistant"),
        message("user"),
        tools.join(",")
    )
}

const FULL_SIZE: usize = 55;

fn peek(body: &str) -> Result<RequestPeek, PeekError> {
    peek_request(body.as_bytes())
}

#[test]
fn claude_code_body_top_level_fields() {
    let body = claude_code_like_body(FULL_SIZE);
    assert!((50_000..90_000).contains(&body.len()), "{}", body.len());
    let peeked = peek(&body).unwrap();
    let reference: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(peeked.model.as_deref(), reference["model"].as_str());
    assert_eq!(peeked.model.as_deref(), Some("claude-sonnet-4-5-20250929"));
    assert_eq!(
        &body[peeked.model_span.clone().unwrap()],
        "claude-sonnet-4-5-20250929"
    );
    assert!(peeked.stream);
    assert_eq!(peeked.max_tokens, Some(32000));
}

#[test]
fn nested_model_is_ignored() {
    let peeked = peek(
        r#"{"messages":[{"model":"a","content":"\"model\":\"b\""}],"metadata":{"model":"c"}}"#,
    );
    assert_eq!(peeked.unwrap(), RequestPeek::default());
    let peeked = peek(r#"{"m":{"model":"x"},"model":"top","n":[{"model":"y"}]}"#).unwrap();
    assert_eq!(peeked.model.as_deref(), Some("top"));
}

#[test]
fn model_escapes_are_decoded_and_span_is_raw() {
    let body = r#"{"model":"a\"b\\c\u00e9\ud83d\ude00\/\n"}"#;
    let peeked = peek(body).unwrap();
    assert_eq!(peeked.model.as_deref(), Some("a\"b\\cé😀/\n"));
    assert_eq!(
        &body[peeked.model_span.unwrap()],
        r#"a\"b\\c\u00e9\ud83d\ude00\/\n"#
    );
}

#[test]
fn escaped_backslash_before_a_closing_quote_ends_the_string() {
    let peeked = peek(r#"{"a":"dir\\","b":["\\\\",{"c":"\\\""}],"model":"x\\"}"#).unwrap();
    assert_eq!(peeked.model.as_deref(), Some("x\\"));
}

#[test]
fn escaped_key_names_count() {
    let peeked = peek(r#"{"m\u006fdel":"x","str\u0065am":true,"max\u005ftokens":5}"#).unwrap();
    assert_eq!(peeked.model.as_deref(), Some("x"));
    assert!(peeked.stream);
    assert_eq!(peeked.max_tokens, Some(5));
}

#[test]
fn stream_values() {
    for (body, stream) in [
        (r#"{"stream":true}"#, true),
        (r#"{ "stream" : true }"#, true),
        (r#"{"stream":false}"#, false),
        (r#"{"model":"x"}"#, false),
        (r#"{"stream":null}"#, false),
        (r#"{"stream":"true"}"#, false),
        (r#"{"stream":1}"#, false),
    ] {
        assert_eq!(peek(body).unwrap().stream, stream, "{body}");
    }
}

#[test]
fn max_tokens_values() {
    for (body, max_tokens) in [
        (r#"{"max_tokens":1}"#, Some(1)),
        (r#"{"max_tokens":128000}"#, Some(128_000)),
        (r#"{"max_tokens":0}"#, Some(0)),
        (r#"{"max_tokens":18446744073709551615}"#, Some(u64::MAX)),
        (r#"{"max_tokens":18446744073709551616}"#, None),
        (r#"{"max_tokens":1.5}"#, None),
        (r#"{"max_tokens":-1}"#, None),
        (r#"{"max_tokens":1e3}"#, None),
        (r#"{"max_tokens":"100"}"#, None),
        (r#"{"max_tokens":null}"#, None),
        (r#"{}"#, None),
    ] {
        assert_eq!(peek(body).unwrap().max_tokens, max_tokens, "{body}");
    }
}

#[test]
fn non_string_model_is_none() {
    for body in [r#"{"model":null}"#, r#"{"model":7}"#, r#"{"model":["x"]}"#] {
        assert_eq!(peek(body).unwrap(), RequestPeek::default(), "{body}");
    }
}

#[test]
fn broken_json_is_rejected() {
    for body in [
        "",
        "   ",
        "{",
        r#"{"model":"x""#,
        r#"{"model":"x",}"#,
        r#"{"model" "x"}"#,
        r#"{"model":}"#,
        r#"{model:"x"}"#,
        r#"{"a":[1,2}"#,
        r#"{"a":{"b":1]}"#,
        r#"{"a":[1,2]]}"#,
        r#"{"a":"unterminated}"#,
        r#"{"a":"escaped quote\"}"#,
        r#"{"model":"x"} trailing"#,
        r#"{"model":"x"}}"#,
        r#"{"a":tru}"#,
        r#"{"a":nul}"#,
        r#"{"a":01}"#,
        r#"{"a":1.}"#,
        r#"{"a":-}"#,
        r#"{"a":[<b>]}"#,
        r#"{"a":['x']}"#,
        r#"{"model":"bad\q"}"#,
        r#"{"model":"bad\u12"}"#,
        r#"{"model":"lone \ud83d surrogate"}"#,
        "{\"model\":\"raw\ncontrol\"}",
        r#"{"model":"a","model":"b"}"#,
        r#"{"stream":true,"stream":false}"#,
        r#"{"max_tokens":1,"max_tokens":2}"#,
        "[1,",
    ] {
        assert!(matches!(peek(body), Err(PeekError::NotJson(_))), "{body:?}");
    }
}

#[test]
fn every_truncation_of_a_body_is_rejected() {
    let body = claude_code_like_body(1);
    for end in 0..body.len() {
        assert!(
            matches!(
                peek_request(&body.as_bytes()[..end]),
                Err(PeekError::NotJson(_))
            ),
            "truncated at {end}"
        );
    }
}

#[test]
fn non_objects_are_not_objects() {
    for body in [
        "[1,2]",
        r#""model""#,
        "42",
        "true",
        " null ",
        r#"[{"model":"x"}]"#,
    ] {
        assert_eq!(peek(body), Err(PeekError::NotAnObject), "{body}");
    }
}

#[test]
fn nesting_at_the_limit_and_one_past() {
    for (depth, ok) in [(MAX_NESTING, true), (MAX_NESTING + 1, false)] {
        let body = format!(
            r#"{{"a":{}{},"model":"m"}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let expected = if ok {
            Ok(Some("m".to_owned()))
        } else {
            Err(PeekError::NotJson("nested too deeply"))
        };
        assert_eq!(peek(&body).map(|p| p.model), expected, "depth {depth}");
    }
}

#[test]
fn substitution_changes_only_the_model_value() {
    let body = claude_code_like_body(FULL_SIZE);
    let span = peek(&body).unwrap().model_span.unwrap();
    for new_model in ["gpt-5", "a \"quoted\" \\ name\n\u{1}é😀", ""] {
        let out = substitute_model(body.as_bytes(), span.clone(), new_model);
        let new_span = peek_request(&out).unwrap().model_span.unwrap();
        assert_eq!(new_span.start, span.start);
        assert_eq!(&out[..new_span.start], &body.as_bytes()[..span.start]);
        assert_eq!(&out[new_span.end..], &body.as_bytes()[span.end..]);
        assert_eq!(
            peek_request(&out).unwrap().model.as_deref(),
            Some(new_model)
        );
        let mut expected: serde_json::Value = serde_json::from_str(&body).unwrap();
        expected["model"] = new_model.into();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&out).unwrap(),
            expected
        );
    }
}
