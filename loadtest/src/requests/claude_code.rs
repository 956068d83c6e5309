//! Builds request bodies shaped like the ones Claude Code sends (system blocks with
//! cache_control, 20+ tool schemas, a long history with thinking, tool_use and tool_result
//! blocks), so the gateway reads and forwards realistic 50–90 KB bodies.

use serde_json::{Value, json};

use crate::rng::Rng;

/// Smallest body the generator produces.
pub const CLAUDE_CODE_MIN_BYTES: usize = 50 * 1024;
/// Largest body the generator produces.
pub const CLAUDE_CODE_MAX_BYTES: usize = 90 * 1024;
/// Body size used unless asked otherwise.
pub const CLAUDE_CODE_DEFAULT_BYTES: usize = 70 * 1024;
/// Tool schemas in every body (Claude Code sends 12–25).
pub const CLAUDE_CODE_TOOLS: usize = 22;

const WORDS: &[&str] = &[
    "the",
    "file",
    "function",
    "returns",
    "error",
    "when",
    "config",
    "value",
    "is",
    "missing",
    "test",
    "module",
    "parse",
    "stream",
    "buffer",
    "request",
    "handler",
    "should",
    "check",
    "shard",
    "connection",
    "upstream",
    "latency",
    "budget",
    "token",
    "reads",
    "writes",
    "and",
    "retry",
    "cache",
    "header",
    "body",
    "event",
    "delta",
    "index",
    "path",
    "line",
    "build",
];

const TOOL_NAMES: [&str; CLAUDE_CODE_TOOLS] = [
    "Task",
    "Bash",
    "Glob",
    "Grep",
    "LS",
    "ExitPlanMode",
    "Read",
    "Edit",
    "MultiEdit",
    "Write",
    "NotebookEdit",
    "WebFetch",
    "TodoWrite",
    "WebSearch",
    "BashOutput",
    "KillShell",
    "SlashCommand",
    "AskUserQuestion",
    "Skill",
    "ListMcpResources",
    "ReadMcpResource",
    "EnterPlanMode",
];

fn words(rng: &mut Rng, count: usize) -> String {
    let mut text = String::with_capacity(count * 7);
    for n in 0..count {
        if n > 0 {
            text.push(' ');
        }
        let word = WORDS[rng.below(WORDS.len() as u64) as usize];
        text.push_str(word);
    }
    text
}

fn tool_schema(rng: &mut Rng, name: &str, index: usize) -> Value {
    let mut properties = serde_json::Map::new();
    let mut required = Vec::new();
    for field in 0..(3 + index % 4) {
        let key = format!(
            "{}_{field}",
            ["path", "pattern", "command", "content", "limit"][field % 5]
        );
        let kind = if field % 3 == 2 { "number" } else { "string" };
        properties.insert(
            key.clone(),
            json!({"type": kind, "description": words(rng, 10)}),
        );
        if field < 2 {
            required.push(Value::String(key));
        }
    }
    let mut tool = json!({
        "name": name,
        "description": words(rng, 45 + (index % 5) * 15),
        "input_schema": {
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": false,
            "$schema": "http://json-schema.org/draft-07/schema#"
        }
    });
    if index % 7 == 6 {
        tool["defer_loading"] = Value::Bool(true);
    }
    tool
}

fn history_turn(rng: &mut Rng, turn: usize) -> [Value; 2] {
    let tool_id = format!("toolu_01{turn:022}");
    let assistant = json!({
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": words(rng, 25),
             "signature": format!("EqQBCkYIBxgCKkB{}", "sig0".repeat(40))},
            {"type": "text", "text": words(rng, 30)},
            {"type": "tool_use", "id": tool_id, "name": TOOL_NAMES[turn % CLAUDE_CODE_TOOLS],
             "input": {"path_0": format!("/work/src/module_{turn}.rs"), "limit_4": 200}}
        ]
    });
    let user = json!({
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": tool_id, "content": words(rng, 80),
             "is_error": turn % 9 == 4}
        ]
    });
    [assistant, user]
}

/// A Claude-Code-shaped streaming `/v1/messages` body of about `target_bytes` (clamped to
/// [`CLAUDE_CODE_MIN_BYTES`]..=[`CLAUDE_CODE_MAX_BYTES`]); the same `seed` gives the same body.
pub fn claude_code_body(target_bytes: usize, seed: u64) -> Vec<u8> {
    let target = target_bytes.clamp(CLAUDE_CODE_MIN_BYTES + 4096, CLAUDE_CODE_MAX_BYTES - 4096);
    let mut rng = Rng::new(seed);
    let tools: Vec<Value> = TOOL_NAMES
        .iter()
        .enumerate()
        .map(|(n, name)| tool_schema(&mut rng, name, n))
        .collect();
    let system = json!([
        {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.0; cc_entrypoint=cli"},
        {"type": "text", "text": format!("You are Claude Code. {}", words(&mut rng, 900)),
         "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": words(&mut rng, 300), "cache_control": {"type": "ephemeral"}}
    ]);
    let mut messages = vec![json!({
        "role": "user",
        "content": [
            {"type": "text", "text": format!("<system-reminder>{}</system-reminder>", words(&mut rng, 120))},
            {"type": "text", "text": words(&mut rng, 40), "cache_control": {"type": "ephemeral"}}
        ]
    })];
    let mut body = json!({
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 32000,
        "stream": true,
        "system": system,
        "messages": [],
        "tools": tools,
        "thinking": {"type": "enabled", "budget_tokens": 31999},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "output_config": {"effort": "medium"},
        "metadata": {"user_id": "user_loadtest_account__session_00000000-0000-4000-8000-000000000000"}
    });
    let mut size = serde_json::to_vec(&body).map(|v| v.len()).unwrap_or(0);
    size += serde_json::to_vec(&messages[0])
        .map(|v| v.len() + 1)
        .unwrap_or(0);
    let closing = json!({"role": "user", "content": words(&mut rng, 25)});
    size += serde_json::to_vec(&closing)
        .map(|v| v.len() + 1)
        .unwrap_or(0);
    let mut turn = 0;
    while size < target {
        for message in history_turn(&mut rng, turn) {
            size += serde_json::to_vec(&message)
                .map(|v| v.len() + 1)
                .unwrap_or(0);
            messages.push(message);
        }
        if turn == 3 {
            let reminder = json!({"role": "system", "content": words(&mut rng, 30)});
            size += serde_json::to_vec(&reminder)
                .map(|v| v.len() + 1)
                .unwrap_or(0);
            messages.push(reminder);
        }
        turn += 1;
    }
    messages.push(closing);
    body["messages"] = Value::Array(messages);
    serde_json::to_vec(&body).unwrap_or_default()
}
