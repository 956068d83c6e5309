//! Bedrock's wire contract checked by an independent party: sluice's SigV4 signer, InvokeModel
//! envelope and event-stream translator against tests/clients/bedrock_mock.py, which recomputes
//! every signature with botocore's signer (403 on a mismatch), checks the body contract, and
//! streams real event-stream frames. (The gateway-level tests come with the provider wiring.)

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use sluice::config::Secret;
use sluice::providers::bedrock::credentials::AwsCredentials;
use sluice::providers::bedrock::envelope::{BedrockAuth, auth_headers, invoke_body, invoke_path};
use sluice::providers::bedrock::errors::{BedrockError, error_response};
use sluice::providers::bedrock::stream::BedrockSse;
use sluice::providers::betas::BetaPolicy;
use support::clients::{deps_dir, run_bounded};

const MODEL_ID: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
const CLAUDE_CODE_BETAS: &str = "claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27,prompt-caching-scope-2026-01-05";

fn python() -> &'static Path {
    static DONE: OnceLock<std::path::PathBuf> = OnceLock::new();
    DONE.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/setup_bedrock.sh");
        let output = run_bounded(
            Command::new("bash").arg(&script).arg(deps_dir()),
            Duration::from_secs(600),
        );
        assert!(
            output.status.success(),
            "setup_bedrock.sh failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        deps_dir().join("bedrock-venv/bin/python")
    })
}

/// The mock process; killed (by its own handle) when dropped.
struct Mock {
    child: Child,
    port: u16,
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_mock(extra: &[&str]) -> Mock {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/bedrock_mock.py");
    let mut child = Command::new(python())
        .arg(script)
        .args([
            "--access-key",
            "AKIDSLUICE",
            "--secret-key",
            "sluice/secret+key",
            "--region",
            "us-east-1",
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start bedrock_mock.py");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while stdout.read(&mut byte).unwrap_or(0) == 1 && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&line).into_owned();
    let port = text
        .strip_prefix("listening ")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("mock said {text:?}"));
    Mock { child, port }
}

struct Answer {
    status: u16,
    headers: String,
    body: Vec<u8>,
}

/// Sends one InvokeModel request the way the provider builds it; `tamper` alters the body after
/// signing.
fn invoke(mock: &Mock, auth: BedrockAuth<'_>, stream: bool, tamper: bool) -> Answer {
    let client_body = br#"{"model":"claude-sonnet-4-5","max_tokens":32000,"stream":true,"thinking":{"type":"enabled","budget_tokens":4000},"messages":[{"role":"user","content":"List \u201csrc dir\u201d"}]}"#;
    let betas = BetaPolicy::bedrock(&[], &[]).expect("policy");
    let split = betas.filter([CLAUDE_CODE_BETAS]);
    let mut body = Vec::new();
    invoke_body(client_body, &split.kept, &mut body).expect("body");
    let path = invoke_path(MODEL_ID, stream);
    let host = format!("127.0.0.1:{}", mock.port);
    let headers = auth_headers(auth, "us-east-1", &host, &path, &body, SystemTime::now());
    if tamper {
        body.extend_from_slice(b" ");
    }
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (name, value) in &headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut socket = TcpStream::connect(("127.0.0.1", mock.port)).expect("connect");
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    socket.write_all(request.as_bytes()).expect("write head");
    socket.write_all(&body).expect("write body");
    let mut raw = Vec::new();
    socket.read_to_end(&mut raw).expect("read");
    let split_at = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("head end");
    let headers = String::from_utf8_lossy(&raw[..split_at]).into_owned();
    let status = headers[9..12].parse().expect("status");
    let mut body = raw[split_at + 4..].to_vec();
    if headers
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Answer {
        status,
        headers,
        body,
    }
}

fn dechunk(mut bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = bytes
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size = usize::from_str_radix(
            std::str::from_utf8(&bytes[..line_end])
                .expect("ascii")
                .trim(),
            16,
        )
        .expect("hex");
        bytes = &bytes[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&bytes[..size]);
        bytes = &bytes[size + 2..];
    }
}

fn header<'a>(answer: &'a Answer, name: &str) -> Option<&'a str> {
    answer.headers.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn creds(token: Option<&str>) -> AwsCredentials {
    AwsCredentials::new(
        "AKIDSLUICE",
        Secret::new("sluice/secret+key"),
        token.map(Secret::new),
        None,
    )
}

/// The SSE events (type, data JSON) of a translated stream, and how it ended.
fn translate(
    bytes: &[u8],
) -> (
    Vec<(String, serde_json::Value)>,
    Result<(), BedrockError>,
    BedrockSse,
) {
    let mut sse = BedrockSse::new();
    let mut out = Vec::new();
    let mut end = Ok(());
    for piece in bytes.chunks(7) {
        if let Err(err) = sse.feed(piece, &mut out) {
            end = Err(err);
            break;
        }
    }
    if end.is_ok() {
        end = sse.finish();
    }
    let text = String::from_utf8(out).expect("utf8 sse");
    let events = text
        .split_terminator("\n\n")
        .map(|event| {
            let (name, data) = event
                .strip_prefix("event: ")
                .and_then(|e| e.split_once("\ndata: "))
                .expect("event framing");
            (
                name.to_owned(),
                serde_json::from_str(data).expect("data json"),
            )
        })
        .collect();
    (events, end, sse)
}

#[test]
fn signed_stream_is_accepted_and_translates_to_anthropic_events() {
    let mock = start_mock(&[]);
    let creds = creds(None);
    let answer = invoke(&mock, BedrockAuth::SigV4(&creds), true, false);
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(
        header(&answer, "content-type"),
        Some("application/vnd.amazon.eventstream")
    );
    let (events, end, sse) = translate(&answer.body);
    assert_eq!(end.map_err(|e| e.to_string()), Ok(()));
    for (name, data) in &events {
        assert_eq!(
            data["type"],
            name.as_str(),
            "event name equals the JSON type"
        );
    }
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"message_start"));
    assert_eq!(names.last(), Some(&"message_stop"));
    let tool_inputs: Vec<String> = events
        .iter()
        .filter(|(_, d)| d["delta"]["type"] == "input_json_delta")
        .map(|(_, d)| {
            d["delta"]["partial_json"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(
        tool_inputs.concat(),
        r#"{"command": "ls src"}{"path": "héllo.txt", "content": "hi"}"#
    );
    let metrics = sse.invocation_metrics().expect("metrics");
    assert_eq!((metrics.input_tokens, metrics.output_tokens), (25, 87));
}

#[test]
fn session_token_and_non_streaming_invoke_are_accepted() {
    let mock = start_mock(&["--session-token", "FQoGZXIvYXdzEJr//token=="]);
    let creds = creds(Some("FQoGZXIvYXdzEJr//token=="));
    let answer = invoke(&mock, BedrockAuth::SigV4(&creds), false, false);
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let message: serde_json::Value = serde_json::from_slice(&answer.body).expect("json");
    assert_eq!(message["type"], "message");
}

#[test]
fn a_wrong_signature_is_refused() {
    let mock = start_mock(&[]);
    let good = creds(None);
    let tampered = invoke(&mock, BedrockAuth::SigV4(&good), true, true);
    assert_eq!(tampered.status, 403);
    let wrong_secret = AwsCredentials::new("AKIDSLUICE", Secret::new("not-the-secret"), None, None);
    let refused = invoke(&mock, BedrockAuth::SigV4(&wrong_secret), true, false);
    assert_eq!(refused.status, 403);
    let err = error_response(403, header(&refused, "x-amzn-ErrorType"), &refused.body);
    assert!(err.to_string().contains("signature mismatch"), "{err}");
}

#[test]
fn api_keys_go_as_bearer() {
    let mock = start_mock(&["--api-key", "ABSKbedrock-api-key"]);
    let key = Secret::new("ABSKbedrock-api-key");
    assert_eq!(
        invoke(&mock, BedrockAuth::ApiKey(&key), true, false).status,
        200
    );
    let wrong = Secret::new("ABSKwrong");
    assert_eq!(
        invoke(&mock, BedrockAuth::ApiKey(&wrong), true, false).status,
        403
    );
}

#[test]
fn throttling_before_and_after_the_stream_starts() {
    let before = start_mock(&["--scenario", "throttle_http"]);
    let creds = creds(None);
    let answer = invoke(&before, BedrockAuth::SigV4(&creds), true, false);
    let err = error_response(
        answer.status,
        header(&answer, "x-amzn-ErrorType"),
        &answer.body,
    );
    assert_eq!(
        (err.status(), err.error_type(), err.retryable()),
        (429, "rate_limit_error", true)
    );

    let first_frame = start_mock(&["--scenario", "throttle_first_frame"]);
    let answer = invoke(&first_frame, BedrockAuth::SigV4(&creds), true, false);
    assert_eq!(answer.status, 200);
    let (events, end, sse) = translate(&answer.body);
    assert!(events.is_empty());
    assert_eq!(
        sse.events_written(),
        0,
        "nothing sent: a status (and failover) is still possible"
    );
    assert_eq!(end.expect_err("throttled").status(), 429);

    let after = start_mock(&["--scenario", "throttle_after_start"]);
    let answer = invoke(&after, BedrockAuth::SigV4(&creds), true, false);
    let (events, end, sse) = translate(&answer.body);
    assert_eq!(events.len(), 1);
    assert_eq!(
        sse.events_written(),
        1,
        "started: the failure goes out as event: error"
    );
    let mut event = Vec::new();
    end.expect_err("throttled").write_sse_event(&mut event);
    assert!(event.starts_with(
        b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\""
    ));
}
