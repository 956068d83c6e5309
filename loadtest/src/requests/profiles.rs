//! The request profiles the generator sends (small, claude-code, openai, mix), each rendered once
//! to the exact bytes written on the wire, so sending costs one write and no formatting.

use serde_json::json;

use crate::requests::claude_code::claude_code_body;
use crate::wire::first_token::{ANTHROPIC_NEEDLES, OPENAI_NEEDLES};

/// What a run sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Small non-streaming Anthropic `/v1/messages` request.
    Small,
    /// Claude-Code-shaped streaming `/v1/messages?beta=true` request of 50–90 KB.
    ClaudeCode,
    /// OpenAI `/v1/chat/completions`, streaming with tools and the usage chunk.
    OpenAi,
    /// Per ten requests: six claude-code, three small, one openai.
    Mix,
}

impl Profile {
    /// Parses a profile name as given on the command line.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "small" => Some(Self::Small),
            "claude-code" => Some(Self::ClaudeCode),
            "openai" => Some(Self::OpenAi),
            "mix" => Some(Self::Mix),
            _ => None,
        }
    }

    /// The name used on the command line and in results.
    pub fn name(self) -> &'static str {
        match self {
            Self::Small => "small",
            Self::ClaudeCode => "claude-code",
            Self::OpenAi => "openai",
            Self::Mix => "mix",
        }
    }
}

/// One request, rendered.
#[derive(Debug, Clone)]
pub struct RequestTemplate {
    /// Head and body exactly as written.
    pub bytes: Vec<u8>,
    /// Whether the response is a stream (time to first token is measured).
    pub streaming: bool,
    /// Needles marking the first token in the response body.
    pub first_token: &'static [&'static [u8]],
}

/// Every template a profile uses; `pick(index)` says which one request `index` sends.
#[derive(Debug, Clone)]
pub struct RequestSet {
    templates: Vec<RequestTemplate>,
    pattern: Vec<usize>,
}

impl RequestSet {
    /// Renders the templates of `profile` for `target` with `extra_headers` (`name: value`),
    /// claude-code bodies of about `claude_code_bytes`.
    pub fn build(
        profile: Profile,
        target: &Endpoint,
        extra_headers: &[String],
        claude_code_bytes: usize,
    ) -> Self {
        let small = || small_request(target, extra_headers);
        let claude = || claude_code_request(target, extra_headers, claude_code_bytes);
        let openai = || openai_request(target, extra_headers);
        match profile {
            Profile::Small => Self {
                templates: vec![small()],
                pattern: vec![0],
            },
            Profile::ClaudeCode => Self {
                templates: vec![claude()],
                pattern: vec![0],
            },
            Profile::OpenAi => Self {
                templates: vec![openai()],
                pattern: vec![0],
            },
            Profile::Mix => Self {
                templates: vec![claude(), small(), openai()],
                pattern: vec![0, 1, 0, 0, 1, 0, 2, 0, 1, 0],
            },
        }
    }

    /// The template request `index` sends.
    pub fn pick(&self, index: u64) -> &RequestTemplate {
        let slot = self.pattern[(index % self.pattern.len() as u64) as usize];
        &self.templates[slot]
    }

    /// All distinct templates.
    pub fn templates(&self) -> &[RequestTemplate] {
        &self.templates
    }
}

/// Where requests go: the `Host` header value and a path prefix (such as `/anthropic`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub path_prefix: String,
}

fn render(
    path: &str,
    target: &Endpoint,
    headers: &[&str],
    extra: &[String],
    body: &[u8],
) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(body.len() + 1024);
    let (prefix, host) = (&target.path_prefix, &target.host);
    bytes.extend_from_slice(format!("POST {prefix}{path} HTTP/1.1\r\nhost: {host}\r\n").as_bytes());
    for header in headers
        .iter()
        .map(|h| h.to_string())
        .chain(extra.iter().cloned())
    {
        bytes.extend_from_slice(header.trim().as_bytes());
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
    bytes.extend_from_slice(body);
    bytes
}

/// A small non-streaming Anthropic request.
pub fn small_request(target: &Endpoint, extra: &[String]) -> RequestTemplate {
    let body = json!({
        "model": "claude-haiku-4-5",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "Reply with one short sentence about load tests."}]
    });
    let body = serde_json::to_vec(&body).unwrap_or_default();
    let headers = [
        "content-type: application/json",
        "anthropic-version: 2023-06-01",
    ];
    RequestTemplate {
        bytes: render("/v1/messages", target, &headers, extra, &body),
        streaming: false,
        first_token: ANTHROPIC_NEEDLES,
    }
}

/// A Claude-Code-shaped streaming Anthropic request with Claude Code's headers.
pub fn claude_code_request(
    target: &Endpoint,
    extra: &[String],
    body_bytes: usize,
) -> RequestTemplate {
    let body = claude_code_body(body_bytes, 7);
    let headers = [
        "content-type: application/json",
        "accept: application/json",
        "anthropic-version: 2023-06-01",
        "anthropic-beta: claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27,effort-2025-11-24",
        "anthropic-dangerous-direct-browser-access: true",
        "x-app: cli",
        "user-agent: claude-cli/2.1.0 (external, sdk-cli)",
        "x-stainless-retry-count: 0",
        "x-stainless-timeout: 600",
        "x-claude-code-session-id: 00000000-0000-4000-8000-000000000000",
    ];
    RequestTemplate {
        bytes: render("/v1/messages?beta=true", target, &headers, extra, &body),
        streaming: true,
        first_token: ANTHROPIC_NEEDLES,
    }
}

/// An OpenAI chat-completions streaming request with two tools and usage reporting.
pub fn openai_request(target: &Endpoint, extra: &[String]) -> RequestTemplate {
    let tool = |name: &str| {
        json!({"type": "function", "function": {"name": name, "description": "Reads a file",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}},
            "required": ["path"]}}})
    };
    let body = json!({
        "model": "gpt-4o-mini",
        "max_completion_tokens": 256,
        "stream": true,
        "stream_options": {"include_usage": true},
        "tools": [tool("read_file"), tool("list_dir")],
        "messages": [
            {"role": "system", "content": "You are a coding assistant."},
            {"role": "user", "content": "Open src/main.rs and summarise it."}
        ]
    });
    let body = serde_json::to_vec(&body).unwrap_or_default();
    let headers = ["content-type: application/json"];
    RequestTemplate {
        bytes: render("/v1/chat/completions", target, &headers, extra, &body),
        streaming: true,
        first_token: OPENAI_NEEDLES,
    }
}
