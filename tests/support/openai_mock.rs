//! A scripted mock upstream speaking the OpenAI Chat Completions wire format (OpenAI, Azure
//! OpenAI, Groq and other compatible servers): streamed chunks written at chosen split points
//! and pace, whole completions, errors with `retry-after`, malformed chunks, Azure's
//! empty-choices first chunk; built on [`MockUpstream`], so every request's head and body is
//! recorded for assertions.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use super::mock::{LAST_CHUNK, MockUpstream, Reply, chunk, response_head, split_by_sizes};
use super::wire::Recorded;

/// Which server the mock plays: it decides the path it answers and the credential header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// `POST /v1/chat/completions`, `Authorization: Bearer <key>`.
    OpenAi,
    /// Groq's `POST /openai/v1/chat/completions`, `Authorization: Bearer <key>`.
    Groq,
    /// `POST /openai/deployments/{deployment}/chat/completions?api-version=<v>`, `api-key`.
    Azure { api_version: String },
}

impl Flavor {
    /// The path prefix a client's `base_url` carries after the origin.
    pub fn base_path(&self) -> &'static str {
        match self {
            Flavor::OpenAi => "/v1",
            Flavor::Groq => "/openai/v1",
            Flavor::Azure { .. } => "",
        }
    }

    /// Whether `request` is addressed as this server expects (path, and api-version for
    /// Azure); returns the Azure deployment when there is one.
    pub fn accepts(&self, request: &Recorded) -> Option<String> {
        if request.method != "POST" {
            return None;
        }
        match self {
            Flavor::OpenAi | Flavor::Groq => (request.path()
                == format!("{}/chat/completions", self.base_path()))
            .then(String::new),
            Flavor::Azure { api_version } => {
                let query = request.target.split_once('?').map_or("", |(_, q)| q);
                let wanted = format!("api-version={api_version}");
                let deployment = request
                    .path()
                    .strip_prefix("/openai/deployments/")?
                    .strip_suffix("/chat/completions")?;
                (query.split('&').any(|p| p == wanted) && !deployment.contains('/'))
                    .then(|| deployment.to_owned())
            }
        }
    }

    /// The key the request presented in this flavor's header.
    pub fn presented_key(&self, request: &Recorded) -> Option<String> {
        match self {
            Flavor::Azure { .. } => request.header_str("api-key"),
            _ => request
                .header_str("authorization")
                .and_then(|v| v.strip_prefix("Bearer ").map(str::to_owned)),
        }
    }
}

/// One scripted answer.
#[derive(Clone, Debug)]
pub enum OpenAiReply {
    /// `text/event-stream`: `data:` payloads, each framed `data: ...\n\n`.
    Stream(StreamScript),
    /// A whole JSON body with status 200.
    Json(Value),
    /// An error status with an OpenAI error body and an optional `retry-after`.
    Error {
        status: u16,
        body: Value,
        retry_after: Option<String>,
    },
}

/// A streamed answer: which payloads, how the bytes are cut and paced.
#[derive(Clone, Debug)]
pub struct StreamScript {
    /// `data:` payloads in order (JSON chunks, [`MALFORMED_CHUNK`], or `[DONE]`).
    pub payloads: Vec<String>,
    /// The SSE bytes are written as HTTP chunks of these sizes (cycled), each its own write.
    pub write_sizes: Vec<usize>,
    /// Silence after each write.
    pub pause: Duration,
    /// End the body (last chunk); false leaves the response unfinished and closes.
    pub complete: bool,
}

impl StreamScript {
    /// `payloads` then `[DONE]`, written whole.
    pub fn new(payloads: Vec<String>) -> StreamScript {
        let mut payloads = payloads;
        payloads.push(DONE.to_owned());
        StreamScript {
            payloads,
            write_sizes: vec![usize::MAX],
            pause: Duration::ZERO,
            complete: true,
        }
    }

    /// Write the bytes in pieces of these sizes (cycled), pausing after each.
    pub fn split(mut self, sizes: &[usize], pause: Duration) -> StreamScript {
        self.write_sizes = sizes.to_vec();
        self.pause = pause;
        self
    }

    /// Azure's content-filter chunk with empty `choices` goes first.
    pub fn azure_first(mut self) -> StreamScript {
        self.payloads.insert(0, azure_filter_chunk());
        self
    }

    /// Replace the payload at `at` (and drop the rest, `[DONE]` included) with a malformed
    /// chunk; the body then ends normally.
    pub fn malformed_at(mut self, at: usize) -> StreamScript {
        self.payloads.truncate(at);
        self.payloads.push(MALFORMED_CHUNK.to_owned());
        self
    }

    /// Stop after the first `count` payloads and close the connection mid-body.
    pub fn cut_after(mut self, count: usize) -> StreamScript {
        self.payloads.truncate(count);
        self.complete = false;
        self
    }

    /// The SSE body bytes.
    pub fn body(&self) -> Vec<u8> {
        self.payloads
            .iter()
            .flat_map(|p| format!("data: {p}\n\n").into_bytes())
            .collect()
    }

    /// The mock reply writing this script.
    pub fn reply(&self) -> Reply {
        let mut reply = Reply::new().write(response_head(200, &stream_headers()));
        for piece in split_by_sizes(&self.body(), &self.write_sizes) {
            reply = reply.write(chunk(piece));
            if !self.pause.is_zero() {
                reply = reply.sleep_ms(self.pause.as_millis() as u64);
            }
        }
        if self.complete {
            reply.write(LAST_CHUNK)
        } else {
            reply.close()
        }
    }
}

pub const DONE: &str = "[DONE]";

/// A chunk that is not JSON.
pub const MALFORMED_CHUNK: &str = r#"{"id":"chatcmpl-mock","choices":[{"delta":{"content":"#;

/// The id and model every scripted chunk carries.
pub const MOCK_ID: &str = "chatcmpl-mock";
pub const MOCK_MODEL: &str = "mock-gpt";

fn delta_chunk(delta: Value, finish: Option<&str>) -> String {
    json!({
        "id": MOCK_ID, "object": "chat.completion.chunk", "created": 1_700_000_000,
        "model": MOCK_MODEL, "system_fingerprint": "fp_mock",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]
    })
    .to_string()
}

/// The first chunk: the role and empty content.
pub fn role_chunk() -> String {
    delta_chunk(json!({"role": "assistant", "content": ""}), None)
}

pub fn text_chunk(text: &str) -> String {
    delta_chunk(json!({"content": text}), None)
}

/// Reasoning text in DeepSeek/vLLM's `reasoning_content` field.
pub fn reasoning_chunk(text: &str) -> String {
    delta_chunk(json!({"reasoning_content": text}), None)
}

/// A tool call's first chunk: id, name and the first arguments fragment.
pub fn tool_start_chunk(index: u64, id: &str, name: &str, arguments: &str) -> String {
    delta_chunk(
        json!({"tool_calls": [{"index": index, "id": id, "type": "function",
            "function": {"name": name, "arguments": arguments}}]}),
        None,
    )
}

/// A later arguments fragment of tool call `index`.
pub fn tool_args_chunk(index: u64, arguments: &str) -> String {
    delta_chunk(
        json!({"tool_calls": [{"index": index, "function": {"arguments": arguments}}]}),
        None,
    )
}

/// Tool call `index` whole: its start chunk, then its arguments cut into `pieces` fragments
/// (at character boundaries).
pub fn tool_call_chunks(
    index: u64,
    id: &str,
    name: &str,
    arguments: &str,
    pieces: usize,
) -> Vec<String> {
    let chars: Vec<char> = arguments.chars().collect();
    let size = chars.len().div_ceil(pieces.max(1)).max(1);
    let mut fragments = chars.chunks(size).map(String::from_iter);
    let mut out = vec![tool_start_chunk(
        index,
        id,
        name,
        &fragments.next().unwrap_or_default(),
    )];
    out.extend(fragments.map(|f| tool_args_chunk(index, &f)));
    out
}

pub fn finish_chunk(reason: &str) -> String {
    delta_chunk(json!({}), Some(reason))
}

/// The `include_usage` chunk: empty choices and the usage.
pub fn usage_chunk(prompt: u64, cached: u64, completion: u64) -> String {
    json!({"id": MOCK_ID, "object": "chat.completion.chunk", "model": MOCK_MODEL, "choices": [],
        "usage": usage(prompt, cached, completion)})
    .to_string()
}

/// Azure's first chunk: no id, no model, empty choices, prompt filter results.
pub fn azure_filter_chunk() -> String {
    json!({"choices": [], "created": 0, "id": "", "model": "", "object": "",
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {
            "hate": {"filtered": false, "severity": "safe"},
            "self_harm": {"filtered": false, "severity": "safe"}}}]})
    .to_string()
}

/// A mid-stream error object.
pub fn stream_error_chunk(message: &str, kind: &str) -> String {
    json!({"error": {"message": message, "type": kind, "param": null, "code": null}}).to_string()
}

pub fn usage(prompt: u64, cached: u64, completion: u64) -> Value {
    json!({"prompt_tokens": prompt, "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached}})
}

/// A whole chat.completion: `content` (or null), tool calls as (id, name, arguments).
pub fn completion_json(
    content: Option<&str>,
    tool_calls: &[(&str, &str, &str)],
    finish: &str,
    usage: Value,
) -> Value {
    let mut message = json!({"role": "assistant", "content": content, "refusal": null});
    if !tool_calls.is_empty() {
        message["tool_calls"] = tool_calls
            .iter()
            .map(|(id, name, arguments)| {
                json!({"id": id, "type": "function",
                    "function": {"name": name, "arguments": arguments}})
            })
            .collect();
    }
    json!({"id": MOCK_ID, "object": "chat.completion", "created": 1_700_000_000,
        "model": MOCK_MODEL, "choices": [{"index": 0, "message": message, "logprobs": null,
        "finish_reason": finish}], "usage": usage})
}

/// An OpenAI error body.
pub fn error_json(message: &str, kind: &str, code: Option<&str>) -> Value {
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

fn stream_headers() -> Vec<(&'static str, &'static str)> {
    vec![
        ("content-type", "text/event-stream; charset=utf-8"),
        ("transfer-encoding", "chunked"),
        ("x-request-id", "req_mock"),
        ("openai-processing-ms", "12"),
    ]
}

fn json_reply(status: u16, body: &Value, retry_after: Option<&str>) -> Reply {
    let mut headers = vec![
        ("content-type", "application/json"),
        ("x-request-id", "req_mock"),
    ];
    if let Some(seconds) = retry_after {
        headers.push(("retry-after", seconds));
    }
    Reply::full(status, &headers, body.to_string().as_bytes())
}

/// The mock server: answers chat completions with its script in order (the last reply
/// repeats), 401 when a key is required and another was presented, 404 for other paths.
pub struct OpenAiMock {
    upstream: MockUpstream,
    flavor: Flavor,
}

impl OpenAiMock {
    pub fn start(flavor: Flavor, script: Vec<OpenAiReply>) -> OpenAiMock {
        OpenAiMock::start_with_key(flavor, None, script)
    }

    /// Like [`start`](Self::start), but answers 401 unless the request presents `key` in the
    /// flavor's credential header.
    pub fn start_with_key(
        flavor: Flavor,
        key: Option<&str>,
        script: Vec<OpenAiReply>,
    ) -> OpenAiMock {
        assert!(!script.is_empty(), "a mock needs at least one reply");
        let queue = Arc::new(Mutex::new(VecDeque::from(script)));
        let serving = flavor.clone();
        let key = key.map(str::to_owned);
        let upstream = MockUpstream::start(move |request| {
            if serving.accepts(request).is_none() {
                let body = error_json("Unknown request URL", "invalid_request_error", None);
                return json_reply(404, &body, None);
            }
            if let Some(key) = &key
                && serving.presented_key(request).as_deref() != Some(key.as_str())
            {
                let body = error_json(
                    "Incorrect API key provided",
                    "invalid_request_error",
                    Some("invalid_api_key"),
                );
                return json_reply(401, &body, None);
            }
            let mut queue = queue.lock().unwrap();
            let next = if queue.len() > 1 {
                queue.pop_front()
            } else {
                queue.front().cloned()
            };
            match next.expect("script is never empty") {
                OpenAiReply::Stream(script) => script.reply(),
                OpenAiReply::Json(body) => json_reply(200, &body, None),
                OpenAiReply::Error {
                    status,
                    body,
                    retry_after,
                } => json_reply(status, &body, retry_after.as_deref()),
            }
        });
        OpenAiMock { upstream, flavor }
    }

    /// The `base_url` a provider config names for this mock (OpenAI's includes `/v1`).
    pub fn base_url(&self) -> String {
        format!("{}{}", self.upstream.base_url(), self.flavor.base_path())
    }

    pub fn upstream(&self) -> &MockUpstream {
        &self.upstream
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.upstream.requests()
    }

    pub fn wait_requests(&self, count: usize, limit: Duration) -> Vec<Recorded> {
        self.upstream.wait_requests(count, limit)
    }
}
