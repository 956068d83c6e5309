//! Maps a request (method, path, body peek) to what the mock answers, without IO.

use memchr::memmem;

use crate::wire::framing::Method;

/// The endpoints the mock serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /v1/messages`.
    Messages,
    /// `POST /v1/messages/count_tokens`.
    CountTokens,
    /// `GET /v1/models`.
    Models,
    /// `POST /v1/chat/completions`.
    ChatCompletions,
    /// `GET /health`.
    Health,
    /// `GET /mock/stats`: how many Messages and Chat Completions requests were answered.
    Stats,
    /// `HEAD` on any path (Claude Code's connectivity check).
    HeadCheck,
    /// Anything else.
    NotFound,
}

/// Routes by method and path (query already removed); `/anthropic` and `/openai` prefixes are
/// accepted the way sluice accepts them.
pub fn route(method: Method, path: &[u8]) -> Endpoint {
    if method == Method::Head {
        return Endpoint::HeadCheck;
    }
    let path = path
        .strip_prefix(b"/anthropic")
        .or_else(|| path.strip_prefix(b"/openai"))
        .unwrap_or(path);
    match (method, path) {
        (Method::Post, b"/v1/messages") => Endpoint::Messages,
        (Method::Post, b"/v1/messages/count_tokens") => Endpoint::CountTokens,
        (Method::Get, b"/v1/models") => Endpoint::Models,
        (Method::Post, b"/v1/chat/completions") => Endpoint::ChatCompletions,
        (Method::Get, b"/health") => Endpoint::Health,
        (Method::Get, b"/mock/stats") => Endpoint::Stats,
        _ => Endpoint::NotFound,
    }
}

/// Whether a JSON body asks for a stream (`"stream": true`, with or without a space).
pub fn wants_stream(body: &[u8]) -> bool {
    memmem::find(body, b"\"stream\":true").is_some()
        || memmem::find(body, b"\"stream\": true").is_some()
}

/// Whether an OpenAI body asks for the final usage chunk (`stream_options.include_usage`).
pub fn wants_usage(body: &[u8]) -> bool {
    memmem::find(body, b"\"include_usage\":true").is_some()
        || memmem::find(body, b"\"include_usage\": true").is_some()
}
