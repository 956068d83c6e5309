//! Real clients for the end-to-end tests: installs them (pinned, via `setup.sh`), runs them
//! with bounded time, and scripts the mock upstream the way a Claude Code session needs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::fixtures;
use super::mock::{LAST_CHUNK, Recorded, Reply, chunked, response_head};

/// Where `setup.sh` installs the clients: beside Cargo's target temp dir.
pub fn deps_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("client-deps")
}

/// Installs the pinned clients once per test binary; panics (fails the test) if that fails.
pub fn setup() -> &'static Path {
    static DONE: OnceLock<PathBuf> = OnceLock::new();
    DONE.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/setup.sh");
        let deps = deps_dir();
        let output = run_bounded(
            Command::new("bash").arg(&script).arg(&deps),
            Duration::from_secs(900),
        );
        assert!(
            output.status.success(),
            "client setup failed ({}):\nstdout: {}\nstderr: {}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        deps
    })
}

/// Runs `command` to completion, killing it (and failing) after `limit`.
pub fn run_bounded(command: &mut Command, limit: Duration) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stdout, &mut bytes);
        bytes
    });
    let err_reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stderr, &mut bytes);
        bytes
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let out = out_reader.join().unwrap_or_default();
            let err = err_reader.join().unwrap_or_default();
            panic!(
                "{command:?} did not finish within {limit:?}\nstdout: {}\nstderr: {}",
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&err)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

/// The Anthropic event stream of one assistant message with the given content blocks.
pub fn sse_message(id: &str, blocks: &[Value], stop_reason: &str) -> Vec<u8> {
    let mut out = String::new();
    let mut push = |name: &str, data: Value| {
        out.push_str(&format!("event: {name}\ndata: {data}\n\n"));
    };
    push(
        "message_start",
        json!({"type": "message_start", "message": {"id": id, "type": "message", "role": "assistant",
            "model": fixtures::MODEL, "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 1200, "cache_creation_input_tokens": 0,
                      "cache_read_input_tokens": 0, "output_tokens": 1}}}),
    );
    push("ping", json!({"type": "ping"}));
    for (index, block) in blocks.iter().enumerate() {
        match block["type"].as_str() {
            Some("tool_use") => {
                push(
                    "content_block_start",
                    json!({"type": "content_block_start", "index": index,
                    "content_block": {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}}),
                );
                let input = block["input"].to_string();
                let (a, b) = input.split_at(input.len() / 2);
                for part in ["", a, b] {
                    push(
                        "content_block_delta",
                        json!({"type": "content_block_delta", "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": part}}),
                    );
                }
            }
            _ => {
                push(
                    "content_block_start",
                    json!({"type": "content_block_start", "index": index,
                    "content_block": {"type": "text", "text": ""}}),
                );
                push(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": index,
                    "delta": {"type": "text_delta", "text": block["text"]}}),
                );
            }
        }
        push(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        );
    }
    push(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": null},
            "usage": {"output_tokens": 42}}),
    );
    push("message_stop", json!({"type": "message_stop"}));
    out.into_bytes()
}

/// One assistant message, streamed or as JSON, as the request asked.
fn assistant_reply(request: &Value, id: &str, blocks: Vec<Value>, stop_reason: &str) -> Reply {
    if request["stream"] == json!(true) {
        let mut bytes = response_head(200, &fixtures::sse_headers());
        bytes.extend_from_slice(&chunked(&sse_message(id, &blocks, stop_reason), &[512]));
        bytes.extend_from_slice(LAST_CHUNK);
        Reply::new().write(bytes)
    } else {
        Reply::json(200, &message_json(id, blocks, stop_reason).to_string())
    }
}

/// One assistant message as a non-streaming Messages response.
pub fn message_json(id: &str, blocks: Vec<Value>, stop_reason: &str) -> Value {
    json!({"id": id, "type": "message", "role": "assistant", "model": fixtures::MODEL,
        "content": blocks, "stop_reason": stop_reason, "stop_sequence": null,
        "usage": {"input_tokens": 1200, "output_tokens": 42}})
}

/// The text of a tool_result block (string content, or text blocks).
fn tool_result_text(block: &Value) -> String {
    match &block["content"] {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

/// Every text in a message's content (string or blocks).
fn message_text(message: &Value) -> String {
    match &message["content"] {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// The upstream a Claude Code session needs: the main turn that mentions `token` gets a Bash
/// tool call writing it to `marker`; the turn carrying that tool's result gets "done: <output>";
/// any other model call (titles, summaries, probes) gets a short text answer.
pub fn claude_code_handler(
    token: String,
    marker: PathBuf,
) -> impl Fn(&Recorded) -> Reply + Send + Sync {
    let input = bash_marker_input(&token, &marker);
    claude_code_calling(token, "Bash".to_owned(), input)
}

/// The Bash tool input that writes `sluice-ok-<token>` to `marker` and prints it.
pub fn bash_marker_input(token: &str, marker: &Path) -> Value {
    let command = format!(
        "echo sluice-ok-{token} > {} && cat {}",
        marker.display(),
        marker.display()
    );
    json!({"command": command, "description": "Write the sluice marker file"})
}

/// Like [`claude_code_handler`], with the main turn calling `tool` (as Claude Code names it,
/// e.g. `mcp__tools__files__echo`) with `input`; the next turn answers "done: <its result>".
pub fn claude_code_calling(
    token: String,
    tool: String,
    input: Value,
) -> impl Fn(&Recorded) -> Reply + Send + Sync {
    move |request: &Recorded| {
        let path = request.path();
        let path = path.strip_prefix("/anthropic").unwrap_or(path);
        match (request.method.as_str(), path) {
            ("HEAD", _) => Reply::full(200, &[("Content-Type", "text/plain")], b""),
            ("GET", "/v1/models") => Reply::json(200, &fixtures::models_json()),
            ("POST", "/v1/messages/count_tokens") => Reply::json(200, r#"{"input_tokens":1200}"#),
            ("POST", "/v1/messages") => {
                let Some(body) = request.json() else {
                    return Reply::json(
                        400,
                        &fixtures::error_json("invalid_request_error", "bad json"),
                    );
                };
                let (id, blocks, stop_reason) = claude_code_turn(&token, &tool, &input, &body);
                assistant_reply(&body, id, blocks, stop_reason)
            }
            _ => Reply::json(404, &fixtures::error_json("not_found_error", "Not found")),
        }
    }
}

/// The answer of [`claude_code_calling`]'s upstream to one Messages `body`: (message id,
/// content blocks, stop reason). The main turn that mentions `token` calls `tool` with `input`;
/// the turn carrying its result answers "done: <result>"; any other call gets a short text.
pub fn claude_code_turn(
    token: &str,
    tool: &str,
    input: &Value,
    body: &Value,
) -> (&'static str, Vec<Value>, &'static str) {
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    // Claude Code may put `role: "system"` entries after the user's turn.
    let last = messages
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .cloned()
        .unwrap_or(Value::Null);
    let tool_result = last["content"]
        .as_array()
        .and_then(|blocks| blocks.iter().find(|b| b["type"] == "tool_result").cloned());
    let has_tool = body["tools"]
        .as_array()
        .is_some_and(|tools| tools.iter().any(|t| t["name"] == tool));
    if let Some(result) = tool_result {
        let output = tool_result_text(&result);
        let text = format!("done: {}", output.trim());
        (
            "msg_done",
            vec![json!({"type": "text", "text": text})],
            "end_turn",
        )
    } else if has_tool && message_text(&last).contains(token) {
        let call = json!({"type": "tool_use", "id": "toolu_01SluiceBashCall0000000001",
            "name": tool, "input": input});
        let blocks = vec![json!({"type": "text", "text": "Running it now."}), call];
        ("msg_tool", blocks, "tool_use")
    } else {
        let text = json!({"type": "text", "text": "Sluice test session"});
        ("msg_side", vec![text], "end_turn")
    }
}
/// Asserts the outcome of Claude Code's Bash-tool scenario (`claude_code_turn`): the run
/// succeeded, the tool wrote `sluice-ok-<token>` into `marker`, and the final JSON answer
/// (`stdout`) reports it. `context` is added to every failure message.
pub fn assert_bash_scenario(
    output: &Output,
    stdout: &str,
    marker: &Path,
    token: &str,
    context: &str,
) {
    assert!(output.status.success(), "claude failed: {context}");
    let written = std::fs::read_to_string(marker).unwrap_or_default();
    assert_eq!(
        written.trim(),
        format!("sluice-ok-{token}"),
        "the Bash tool ran: {context}"
    );
    let result: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("claude printed no JSON ({e}): {context}"));
    assert_eq!(result["is_error"], false, "{context}");
    assert_eq!(
        result["result"].as_str().map(str::trim),
        Some(format!("done: sluice-ok-{token}").as_str()),
        "the answer after the tool result comes back: {context}"
    );
}

/// Runs `claude -p` against `base_url` in `workdir` with a private HOME; returns its output.
pub fn run_claude(base_url: &str, home: &Path, workdir: &Path, token: &str) -> Output {
    run_claude_with_env(base_url, home, workdir, token, &[])
}

/// [`run_claude`] with extra string environment variables (e.g. `ANTHROPIC_MODEL`).
pub fn run_claude_with_vars(
    base_url: &str,
    home: &Path,
    workdir: &Path,
    token: &str,
    env: &[(&str, &str)],
) -> Output {
    let prompt = format!("run the command: echo sluice-ok-{token}");
    run_claude_with(
        base_url,
        home,
        workdir,
        &prompt,
        &["--allowedTools", "Bash"],
        env,
    )
}

/// `run_claude` with extra environment variables (`NODE_EXTRA_CA_CERTS` for https).
pub fn run_claude_with_env(
    base_url: &str,
    home: &Path,
    workdir: &Path,
    token: &str,
    env: &[(&str, &Path)],
) -> Output {
    let prompt = format!("run the command: echo sluice-ok-{token}");
    let envs: Vec<(&str, &str)> = env
        .iter()
        .map(|(k, v)| (*k, v.to_str().unwrap_or_default()))
        .collect();
    run_claude_with(
        base_url,
        home,
        workdir,
        &prompt,
        &["--allowedTools", "Bash"],
        &envs,
    )
}

/// Runs `claude -p prompt` with extra arguments (e.g. `--mcp-config FILE`) and environment.
pub fn run_claude_with(
    base_url: &str,
    home: &Path,
    workdir: &Path,
    prompt: &str,
    args: &[&str],
    envs: &[(&str, &str)],
) -> Output {
    let deps = setup();
    let claude = deps.join("node/node_modules/.bin/claude");
    run_bounded(
        Command::new(claude)
            .arg("-p")
            .arg(prompt)
            .arg("--output-format")
            .arg("json")
            .args(args)
            .current_dir(workdir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", home)
            .env("TERM", "dumb")
            .env("ANTHROPIC_BASE_URL", base_url)
            .env("ANTHROPIC_API_KEY", "test-key")
            .env("DISABLE_TELEMETRY", "1")
            .env("DISABLE_ERROR_REPORTING", "1")
            .env("DISABLE_AUTOUPDATER", "1")
            .env("DISABLE_BUG_COMMAND", "1")
            .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
            .env("CLAUDE_CODE_DISABLE_TERMINAL_TITLE", "1")
            .env("CLAUDE_CODE_MAX_RETRIES", "0")
            .envs(envs.iter().copied()),
        Duration::from_secs(120),
    )
}

/// Runs the Python SDK script against `base_url`; returns what it printed, parsed.
pub fn run_python_sdk(base_url: &str) -> Value {
    run_python_script("sdk_stream.py", &[base_url], &[])
}

/// `run_python_sdk` with extra environment variables (`SSL_CERT_FILE` for https).
pub fn run_python_sdk_with_env(base_url: &str, env: &[(&str, &Path)]) -> Value {
    run_python_script("sdk_stream.py", &[base_url], env)
}

/// Runs tests/clients/sdk_openai_tools.py: the Anthropic SDK streaming one tool-using turn
/// for `model` with the client's own `api_key`; returns its final message and event types.
pub fn run_python_sdk_tools(base_url: &str, model: &str, api_key: &str) -> Value {
    run_python_script("sdk_openai_tools.py", &[base_url, model, api_key], &[])
}

/// Runs tests/clients/openai_sdk.py (the pinned `openai` SDK) against `base_url` (ending in
/// `/v1`) with `api_key`, in `mode` (chat, models, error) for `model`; returns what it printed.
pub fn run_openai_sdk(base_url: &str, api_key: &str, mode: &str, model: &str) -> Value {
    run_python_script("openai_sdk.py", &[base_url, api_key, mode, model], &[])
}

/// Runs tests/clients/mcp_client.py (the pinned `mcp` SDK's client) against the `/mcp` at
/// `url` with `Authorization: Bearer <token>`, making `calls` in `mode` (auto, legacy).
pub fn run_mcp_client(url: &str, token: &str, calls: &Value, mode: &str) -> Value {
    run_python_script(
        "mcp_client.py",
        &[url, token, &calls.to_string(), mode],
        &[],
    )
}

/// Runs a script of tests/clients in the clients' venv, without the SDKs' environment
/// variables; returns the JSON it printed.
fn run_python_script(script: &str, args: &[&str], env: &[(&str, &Path)]) -> Value {
    let deps = setup();
    let python = deps.join("venv/bin/python");
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(script);
    let mut command = Command::new(python);
    command.arg(&script).args(args).envs(env.iter().copied());
    for variable in [
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_AUTH_TOKEN",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
    ] {
        command.env_remove(variable);
    }
    let output = run_bounded(&mut command, Duration::from_secs(120));
    assert!(
        output.status.success(),
        "{} failed with {args:?}:\n{}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{} printed no JSON ({e}): {}",
            script.display(),
            String::from_utf8_lossy(&output.stdout)
        )
    })
}
