//! Reads the tool results a client sent back from an Anthropic Messages request body: only
//! the `tool_result` blocks of the LAST message when it is a user turn, since clients such as
//! Claude Code resend the whole conversation every turn.
//!
//! Runs on the audit writer thread (the body is moved there, not copied), never on a shard.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::record::{Captured, ToolResultEntry, result_capture};
use crate::config::ToolResultsMode;

/// Most tool results taken from one request (a bound on a peer-controlled list).
pub const MAX_TOOL_RESULTS: usize = 1024;

#[derive(Deserialize)]
struct Body<'a> {
    #[serde(borrow, default)]
    messages: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct Message {
    role: String,
    content: serde_json::Value,
}

/// The `tool_result` blocks of the body's last message if that message is from the user, in
/// order, captured by `mode`. A body that is not a Messages request yields nothing.
pub fn last_turn_tool_results(
    body: &[u8],
    mode: ToolResultsMode,
    max_field_bytes: usize,
) -> Vec<ToolResultEntry> {
    let Ok(parsed) = serde_json::from_slice::<Body<'_>>(body) else {
        return Vec::new();
    };
    let Some(last) = parsed.messages.last() else {
        return Vec::new();
    };
    let Ok(message) = serde_json::from_str::<Message>(last.get()) else {
        return Vec::new();
    };
    if message.role != "user" {
        return Vec::new();
    }
    let serde_json::Value::Array(blocks) = message.content else {
        return Vec::new();
    };
    let capture = result_capture(mode, max_field_bytes);
    blocks
        .into_iter()
        .filter_map(|block| match block {
            serde_json::Value::Object(mut map)
                if map.get("type").and_then(|t| t.as_str()) == Some("tool_result") =>
            {
                let tool_use_id = map
                    .get("tool_use_id")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned();
                let is_error = map
                    .get("is_error")
                    .and_then(serde_json::Value::as_bool)
                    .unwrap_or(false);
                let content = map
                    .remove("content")
                    .unwrap_or(serde_json::Value::String(String::new()));
                Some(ToolResultEntry {
                    tool_use_id,
                    is_error,
                    content: capture.map(|c| Captured::of_value(content, c)),
                })
            }
            _ => None,
        })
        .take(MAX_TOOL_RESULTS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::audit::chain::sha256_hex;

    const BODY: &str = r#"{"model":"claude-sonnet-4-5","messages":[
        {"role":"user","content":"list files"},
        {"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"Bash","input":{"command":"ls"}}]},
        {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"old output"}]},
        {"role":"assistant","content":[{"type":"tool_use","id":"toolu_2","name":"Bash","input":{"command":"pwd"}}]},
        {"role":"user","content":[
            {"type":"tool_result","tool_use_id":"toolu_2","content":"/home/dev\n"},
            {"type":"tool_result","tool_use_id":"toolu_3","is_error":true,"content":[{"type":"text","text":"boom"}]},
            {"type":"text","text":"go on"}]}],"stream":true}"#;

    #[test]
    fn only_the_last_user_turn_counts() {
        let results = last_turn_tool_results(BODY.as_bytes(), ToolResultsMode::Digest, 1024);
        assert_eq!(results.len(), 2);
        assert_eq!(results[0].tool_use_id, "toolu_2");
        assert!(!results[0].is_error);
        let digest = results[0].content.as_ref().unwrap();
        assert_eq!(digest.sha256, sha256_hex(b"/home/dev\n"));
        assert_eq!(digest.bytes, 10);
        assert_eq!(digest.value, None);
        assert!(results[1].is_error);
    }

    #[test]
    fn modes_full_and_off() {
        let full = last_turn_tool_results(BODY.as_bytes(), ToolResultsMode::Full, 1024);
        assert_eq!(
            full[0].content.as_ref().unwrap().value,
            Some("/home/dev\n".into())
        );
        assert_eq!(
            full[1].content.as_ref().unwrap().value.as_ref().unwrap()[0]["text"],
            "boom"
        );
        let off = last_turn_tool_results(BODY.as_bytes(), ToolResultsMode::Off, 1024);
        assert_eq!(off.len(), 2);
        assert!(off.iter().all(|r| r.content.is_none()));
    }

    #[test]
    fn no_results_when_last_turn_is_not_a_user_tool_turn() {
        for body in [
            r#"{"messages":[{"role":"user","content":"hi"}]}"#,
            r#"{"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"a","content":"x"}]},{"role":"assistant","content":"ok"}]}"#,
            r#"{"messages":[]}"#,
            r#"not json"#,
            r#"{"messages":[{"role":"user"}]}"#,
        ] {
            assert!(
                last_turn_tool_results(body.as_bytes(), ToolResultsMode::Full, 64).is_empty(),
                "{body}"
            );
        }
    }

    #[test]
    fn result_count_is_capped_at_the_limit() {
        let block = r#"{"type":"tool_result","tool_use_id":"t","content":"x"}"#;
        for (n, expected) in [
            (MAX_TOOL_RESULTS, MAX_TOOL_RESULTS),
            (MAX_TOOL_RESULTS + 1, MAX_TOOL_RESULTS),
        ] {
            let blocks = vec![block; n].join(",");
            let body = format!(r#"{{"messages":[{{"role":"user","content":[{blocks}]}}]}}"#);
            let got = last_turn_tool_results(body.as_bytes(), ToolResultsMode::Off, 64);
            assert_eq!(got.len(), expected);
        }
    }
}
