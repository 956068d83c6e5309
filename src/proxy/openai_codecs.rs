//! The response codecs of OpenAI-format clients: an Anthropic stream or message turned into
//! Chat Completions chunks or a completion, an Anthropic error body turned into OpenAI's shape,
//! and an OpenAI-format upstream's response passed byte for byte with its usage read.

use crate::governance::Usage;
use crate::inbound::openai::error::write_error_body;
use crate::inbound::openai::{
    AnthropicUsage, ChunkStream, StreamOutcome, gateway_error, merge_anthropic_models,
    openai_models_from_anthropic, openai_type_and_code, translate_response, upstream_error,
};
use crate::observe::summary::ResponseSummary;
use crate::providers::anthropic::codec::MAX_OBSERVED_JSON_BYTES;
use crate::providers::anthropic::json_body::summarize_message_json;
use crate::providers::openai::usage::usage_of;
use crate::providers::{AnyCodec, CodecError, ResponseCodec, WithCodec};
use crate::sse::parser::SseParser;

/// Who owns the Anthropic provider's models in the OpenAI-shaped list.
const PROVIDER_OWNER: &str = "anthropic";

/// The longest body a replacing codec collects (an Anthropic message or error body).
pub const MAX_REPLACED_BODY_BYTES: usize = MAX_OBSERVED_JSON_BYTES;

/// The codec of one response, by the client's format: the provider's own for Anthropic-format
/// clients, one of these for OpenAI-format clients.
// It lives inside the relay's future for one response; boxing the large variant would cost an
// allocation per response on the hot path.
#[allow(clippy::large_enum_variant)]
pub enum ClientCodec {
    Provider(AnyCodec),
    Chunks(ChunksCodec),
    Body(ReplacedBodyCodec),
    Passthrough(PassthroughCodec),
}

impl ClientCodec {
    /// Runs `work` with the concrete codec inside.
    pub async fn run<W: WithCodec>(self, work: W) -> W::Output {
        match self {
            ClientCodec::Provider(codec) => codec.run(work).await,
            ClientCodec::Chunks(codec) => work.run(codec).await,
            ClientCodec::Body(codec) => work.run(codec).await,
            ClientCodec::Passthrough(codec) => work.run(codec).await,
        }
    }
}

/// Appends the `data: {"error":..}` line that ends an OpenAI chunk stream on a failure.
fn write_error_line(out: &mut Vec<u8>, anthropic_type: &str, message: &str) {
    let (error_type, code) = openai_type_and_code(500, anthropic_type);
    out.extend_from_slice(b"data: ");
    write_error_body(out, message, error_type, None, code);
    out.extend_from_slice(b"\n\n");
}

fn to_usage(u: &AnthropicUsage) -> Usage {
    Usage {
        input_tokens: u.input_tokens,
        output_tokens: u.output_tokens,
        cache_read_input_tokens: u.cache_read_input_tokens,
        cache_creation_input_tokens: u.cache_creation_input_tokens,
    }
}

/// What the access log records of a response whose usage alone was read.
fn summary_of(usage: Usage) -> ResponseSummary {
    ResponseSummary {
        usage,
        ..ResponseSummary::default()
    }
}

/// An Anthropic event stream translated into `chat.completion.chunk` lines.
pub struct ChunksCodec {
    stream: ChunkStream,
    out: Vec<u8>,
    usage: Usage,
}

impl ChunksCodec {
    pub fn new(created: u64, model: &str, include_usage: bool) -> Self {
        ChunksCodec {
            stream: ChunkStream::new(created, model, include_usage),
            out: Vec::with_capacity(1024),
            usage: Usage::default(),
        }
    }
}

impl ResponseCodec for ChunksCodec {
    fn event_stream(&self) -> bool {
        true
    }

    fn feed(
        &mut self,
        data: &mut Vec<u8>,
        _fed: usize,
        finished: bool,
        mut emit: impl FnMut(&[u8]),
    ) -> Result<(), CodecError> {
        self.stream.feed(data, &mut self.out);
        data.clear();
        if finished {
            self.stream.finish(&mut self.out);
        }
        self.usage = to_usage(self.stream.usage());
        if !self.out.is_empty() {
            emit(&self.out);
            self.out.clear();
        }
        Ok(())
    }

    fn terminated(&self) -> bool {
        self.stream.outcome() != StreamOutcome::Open
    }

    fn usage(&self) -> Option<&Usage> {
        Some(&self.usage)
    }

    fn into_summary(self) -> Option<ResponseSummary> {
        Some(summary_of(self.usage))
    }

    fn write_error_event(&self, out: &mut Vec<u8>, error_type: &str, message: &str) {
        if self.stream.outcome() == StreamOutcome::Open {
            write_error_line(out, error_type, message);
        }
    }
}

/// What a replaced body becomes.
#[derive(Clone, Copy)]
enum Replace {
    /// An Anthropic message → a `chat.completion`.
    Completion { created: u64 },
    /// An Anthropic (or any) error body of this status → OpenAI's error shape.
    Error(u16),
    /// The Anthropic provider's model list → the same with the configured names it lacks.
    Models,
    /// The Anthropic provider's model list → OpenAI's shape, with the configured names it
    /// lacks (`created`: their creation time, and the provider's where it names none).
    OpenAiModels { created: u64 },
}

/// A whole body collected and replaced by its OpenAI form once the upstream's ended.
pub struct ReplacedBodyCodec {
    replace: Replace,
    model: String,
    /// [`Replace::Models`]: the names to add.
    names: Vec<String>,
    body: Vec<u8>,
    status: Option<u16>,
    summary: Option<ResponseSummary>,
}

impl ReplacedBodyCodec {
    /// A non-streaming completion for `model` (the model reported if the body names none).
    pub fn completion(created: u64, model: &str) -> Self {
        Self::new(Replace::Completion { created }, model)
    }

    /// An upstream error of `status`.
    pub fn error(status: u16) -> Self {
        Self::new(Replace::Error(status), "")
    }

    /// The Anthropic provider's model list, with `names` (the configured ones) added.
    pub fn models(names: Vec<String>) -> Self {
        let mut codec = Self::new(Replace::Models, "");
        codec.names = names;
        codec
    }

    /// The Anthropic provider's model list in OpenAI's shape, with `names` (the configured
    /// ones) added.
    pub fn openai_models(names: Vec<String>, created: u64) -> Self {
        let mut codec = Self::new(Replace::OpenAiModels { created }, "");
        codec.names = names;
        codec
    }

    fn new(replace: Replace, model: &str) -> Self {
        ReplacedBodyCodec {
            replace,
            model: model.to_owned(),
            names: Vec::new(),
            body: Vec::new(),
            status: None,
            summary: None,
        }
    }

    fn replacement(&mut self) -> Vec<u8> {
        match self.replace {
            Replace::Error(status) => {
                let e = upstream_error(status, &self.body);
                self.status = Some(e.status);
                e.body
            }
            Replace::Models => {
                self.status = Some(200);
                let names = self.names.iter().map(String::as_str);
                merge_anthropic_models(&self.body, names, &super::openai_in::rfc3339_now())
                    .unwrap_or_else(|| std::mem::take(&mut self.body))
            }
            Replace::OpenAiModels { created } => {
                let names = self.names.iter().map(String::as_str);
                let (provider, sluice) = (PROVIDER_OWNER, super::openai_in::OWNED_BY);
                match openai_models_from_anthropic(&self.body, names, created, provider, sluice) {
                    Some(body) => {
                        self.status = Some(200);
                        body
                    }
                    None => {
                        let message = "the upstream's model list could not be read";
                        let e = gateway_error(502, "api_error", message, None);
                        self.status = Some(e.status);
                        e.body
                    }
                }
            }
            Replace::Completion { created } => {
                self.summary = summarize_message_json(&self.body);
                match translate_response(&self.body, created, &self.model) {
                    Ok(body) => {
                        self.status = Some(200);
                        body
                    }
                    Err(e) => {
                        let message = format!("the upstream's response could not be read: {e}");
                        let e = gateway_error(502, "api_error", &message, None);
                        self.status = Some(e.status);
                        e.body
                    }
                }
            }
        }
    }
}

impl ResponseCodec for ReplacedBodyCodec {
    fn event_stream(&self) -> bool {
        false
    }

    fn feed(
        &mut self,
        data: &mut Vec<u8>,
        _fed: usize,
        finished: bool,
        mut emit: impl FnMut(&[u8]),
    ) -> Result<(), CodecError> {
        if self.body.len() + data.len() > MAX_REPLACED_BODY_BYTES {
            return Err(CodecError::EventTooLarge);
        }
        self.body.extend_from_slice(data);
        data.clear();
        if finished {
            let body = self.replacement();
            emit(&body);
        }
        Ok(())
    }

    fn terminated(&self) -> bool {
        true
    }

    fn usage(&self) -> Option<&Usage> {
        self.summary.as_ref().map(|s| &s.usage)
    }

    fn into_summary(self) -> Option<ResponseSummary> {
        self.summary
    }

    fn write_error_event(&self, _out: &mut Vec<u8>, _error_type: &str, _message: &str) {}

    fn replaces_body(&self) -> bool {
        true
    }

    fn replaced_status(&self) -> Option<u16> {
        self.status
    }
}

/// An OpenAI-format upstream's response, forwarded byte for byte; usage read from each chunk
/// (or from the whole completion body).
pub struct PassthroughCodec {
    sse: bool,
    parser: SseParser,
    done: bool,
    body: Vec<u8>,
    usage: Option<Usage>,
}

impl PassthroughCodec {
    /// `sse`: the response is an event stream.
    pub fn new(sse: bool) -> Self {
        PassthroughCodec {
            sse,
            parser: SseParser::new(),
            done: false,
            body: Vec::new(),
            usage: None,
        }
    }
}

impl ResponseCodec for PassthroughCodec {
    fn event_stream(&self) -> bool {
        self.sse
    }

    fn feed(
        &mut self,
        data: &mut Vec<u8>,
        fed: usize,
        finished: bool,
        mut emit: impl FnMut(&[u8]),
    ) -> Result<(), CodecError> {
        if self.sse {
            let (usage, done) = (&mut self.usage, &mut self.done);
            self.parser.feed(&data[fed..], |event| {
                if event.data == b"[DONE]" {
                    *done = true;
                } else if let Some(u) = usage_of(event.data) {
                    *usage = Some(u);
                }
            });
        } else if self.body.len() + data.len() <= MAX_REPLACED_BODY_BYTES {
            self.body.extend_from_slice(data);
            if finished {
                self.usage = usage_of(&self.body);
            }
        }
        emit(data);
        data.clear();
        Ok(())
    }

    fn terminated(&self) -> bool {
        self.done || !self.sse
    }

    fn usage(&self) -> Option<&Usage> {
        self.usage.as_ref()
    }

    fn into_summary(self) -> Option<ResponseSummary> {
        self.usage.map(summary_of)
    }

    fn write_error_event(&self, out: &mut Vec<u8>, error_type: &str, message: &str) {
        write_error_line(out, error_type, message);
    }
}
