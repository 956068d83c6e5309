//! Translates an Anthropic Messages stream into an OpenAI Chat Completions stream as it arrives:
//! fed upstream body bytes in any pieces, it appends `data: {chunk}\n\n` lines to the caller's
//! buffer. IO-free; no event is held back, so the client sees every token when Anthropic sends
//! it.
//!
//! What is emitted, in order: a first chunk `delta: {role: "assistant", content: ""}` (at
//! `message_start`); `text_delta` → `delta.content`; `thinking_delta` →
//! `delta.reasoning_content` (the field DeepSeek, vLLM and most OpenAI-compatible servers use
//! for reasoning text; the official SDK keeps unknown delta fields, so it reads as
//! `delta.reasoning_content`); a `tool_use` block start → `delta.tool_calls[{index, id, type:
//! "function", function: {name, arguments: ""}}]` with `index` the tool call's ordinal in the
//! message (0, 1, ...; not Anthropic's block index); `input_json_delta` → `tool_calls[{index,
//! function: {arguments}}]` fragments as they come; the first `message_delta` with a stop
//! reason → a chunk with an empty delta and `finish_reason` (see [`finish_reason`]); at
//! `message_stop`, when the client asked `stream_options.include_usage`, a chunk with empty
//! `choices` and `usage` (then every earlier chunk carries `"usage":null`, as OpenAI's do);
//! then `data: [DONE]`. `ping`, signature and citation deltas, redacted thinking, server tool
//! blocks and unknown events send nothing.
//!
//! Failures: an Anthropic `event: error`, a malformed known event, a stream that ends before
//! its stop reason, or [`ChunkStream::fail`] emit one `data: {"error":{"message","type",
//! "param":null,"code"}}` line (types as in [`super::error`]) and nothing after it, no
//! `[DONE]`: that is what OpenAI sends, and the openai SDKs raise it as an `APIError` from the
//! stream iterator. Every chunk has the same `id` (Anthropic's message id), `created` (given)
//! and `model` (Anthropic's, else the one given).

use std::borrow::Cow;

use serde::Deserialize;

use super::SseParser;
use super::chunks::{AnthropicUsage, ChunkWriter, DONE, TextField, UsageUpdate, finish_reason};
use super::error::{openai_type_and_code, write_error_body};

/// The id used when the stream never names its message.
pub const FALLBACK_ID: &str = "chatcmpl-sluice";

/// Where the translated stream stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamOutcome {
    /// Still translating.
    Open,
    /// `data: [DONE]` was written.
    Completed,
    /// An error chunk was written; later input is ignored.
    Failed,
}

/// One streaming response's translator: [`feed`](Self::feed) upstream bytes, send what it
/// appends, call [`finish`](Self::finish) when the upstream body ends.
pub struct ChunkStream {
    parser: SseParser,
    state: State,
}

/// What an Anthropic content block becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Block {
    Text,
    Thinking,
    /// A tool call, with its ordinal in the message.
    Tool(u32),
    /// Blocks the client is not shown (redacted thinking, server tools, unknown types).
    Hidden,
}

struct State {
    created: u64,
    fallback_model: String,
    include_usage: bool,
    writer: Option<ChunkWriter>,
    outcome: StreamOutcome,
    /// Anthropic block index → what it is; a handful per message.
    blocks: Vec<(u64, Block)>,
    tools: u32,
    usage: AnthropicUsage,
    finish_sent: bool,
}

impl ChunkStream {
    /// `created`: the Unix time every chunk carries; `model`: the model reported if the
    /// stream names none (the one the client asked for); `include_usage`: the client's
    /// `stream_options.include_usage`.
    pub fn new(created: u64, model: &str, include_usage: bool) -> Self {
        ChunkStream {
            parser: SseParser::new(),
            state: State {
                created,
                fallback_model: model.to_owned(),
                include_usage,
                writer: None,
                outcome: StreamOutcome::Open,
                blocks: Vec::new(),
                tools: 0,
                usage: AnthropicUsage::default(),
                finish_sent: false,
            },
        }
    }

    /// Feeds the next upstream body bytes; appends the client's bytes to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        let ChunkStream { parser, state } = self;
        if state.outcome != StreamOutcome::Open {
            return;
        }
        parser.feed(bytes, |event| {
            if state.outcome == StreamOutcome::Open {
                state.on_event(event.event, event.data, out);
            }
        });
    }

    /// The upstream body ended. A stream past its stop reason is completed (usage and
    /// `[DONE]` written if `message_stop` was missing); otherwise an error chunk is written.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        let state = &mut self.state;
        if state.outcome != StreamOutcome::Open {
            return;
        }
        if state.finish_sent {
            state.complete(out);
        } else {
            state.fail(
                out,
                "api_error",
                "upstream stream ended before the response finished",
            );
        }
    }

    /// The upstream failed mid-stream (reset, timeout): writes an error chunk of the Anthropic
    /// `error_type` unless the stream already ended.
    pub fn fail(&mut self, error_type: &str, message: &str, out: &mut Vec<u8>) {
        if self.state.outcome == StreamOutcome::Open {
            self.state.fail(out, error_type, message);
        }
    }

    pub fn outcome(&self) -> StreamOutcome {
        self.state.outcome
    }

    /// Usage as Anthropic reported it so far.
    pub fn usage(&self) -> &AnthropicUsage {
        &self.state.usage
    }
}

#[derive(Deserialize)]
struct TypeOnly<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
}

#[derive(Deserialize)]
struct MessageStart<'a> {
    #[serde(borrow)]
    message: StartMessage<'a>,
}

#[derive(Deserialize)]
struct StartMessage<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    usage: Option<UsageUpdate>,
}

#[derive(Deserialize)]
struct BlockStart<'a> {
    index: u64,
    #[serde(borrow)]
    content_block: StartBlock<'a>,
}

#[derive(Deserialize)]
struct StartBlock<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    thinking: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct BlockDelta<'a> {
    index: u64,
    #[serde(borrow)]
    delta: Delta<'a>,
}

#[derive(Deserialize)]
struct Delta<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    thinking: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    partial_json: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct MessageDelta<'a> {
    #[serde(borrow, default)]
    delta: Option<StopDelta<'a>>,
    #[serde(default)]
    usage: Option<UsageUpdate>,
}

#[derive(Deserialize)]
struct StopDelta<'a> {
    #[serde(borrow, default)]
    stop_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ErrorEvent<'a> {
    #[serde(borrow, default)]
    error: Option<ErrorObject<'a>>,
}

#[derive(Deserialize)]
struct ErrorObject<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    message: Option<Cow<'a, str>>,
}

fn parse<'a, T: Deserialize<'a>>(data: &'a [u8]) -> Option<T> {
    serde_json::from_slice(data).ok()
}

impl State {
    fn on_event(&mut self, name: &[u8], data: &[u8], out: &mut Vec<u8>) {
        let named;
        let name = if name.is_empty() {
            // A data-only event: its JSON `type` names it.
            named = parse::<TypeOnly<'_>>(data);
            match &named {
                Some(t) => t.kind.as_bytes(),
                None => return,
            }
        } else {
            name
        };
        let handled = match name {
            b"message_start" => parse(data).map(|e| self.message_start(e, out)),
            b"content_block_start" => parse(data).map(|e| self.block_start(e, out)),
            b"content_block_delta" => parse(data).map(|e| self.block_delta(e, out)),
            b"message_delta" => parse(data).map(|e| self.message_delta(e, out)),
            b"message_stop" => {
                self.complete(out);
                Some(())
            }
            b"error" => {
                let error = parse::<ErrorEvent<'_>>(data).and_then(|e| e.error);
                let kind = error
                    .as_ref()
                    .and_then(|e| e.kind.as_deref())
                    .unwrap_or("api_error");
                let message = error.as_ref().and_then(|e| e.message.as_deref());
                self.fail(out, kind, message.unwrap_or("upstream stream error"));
                Some(())
            }
            // ping, content_block_stop and event types added later carry nothing to translate.
            _ => Some(()),
        };
        if handled.is_none() {
            let name = String::from_utf8_lossy(name);
            self.fail(
                out,
                "api_error",
                &format!("malformed upstream {name} event"),
            );
        }
    }

    /// The chunk writer, created (with the first chunk) on first use.
    fn writer(&mut self, out: &mut Vec<u8>, id: Option<&str>, model: Option<&str>) -> &ChunkWriter {
        let State {
            writer,
            fallback_model,
            created,
            include_usage,
            ..
        } = self;
        writer.get_or_insert_with(|| {
            let id = id.filter(|id| !id.is_empty()).unwrap_or(FALLBACK_ID);
            let model = model.filter(|m| !m.is_empty()).unwrap_or(fallback_model);
            let writer = ChunkWriter::new(id, *created, model, *include_usage);
            writer.role(out);
            writer
        })
    }

    fn message_start(&mut self, event: MessageStart<'_>, out: &mut Vec<u8>) {
        let StartMessage { id, model, usage } = event.message;
        if let Some(usage) = usage {
            self.usage.update(&usage);
        }
        self.writer(out, id.as_deref(), model.as_deref());
    }

    fn block_start(&mut self, event: BlockStart<'_>, out: &mut Vec<u8>) {
        let block = match event.content_block.kind.as_ref() {
            "text" => Block::Text,
            "thinking" => Block::Thinking,
            "tool_use" => {
                let ordinal = self.tools;
                self.tools = self.tools.saturating_add(1);
                Block::Tool(ordinal)
            }
            _ => Block::Hidden,
        };
        match self
            .blocks
            .iter_mut()
            .find(|(index, _)| *index == event.index)
        {
            Some(slot) => slot.1 = block,
            None => self.blocks.push((event.index, block)),
        }
        let start = event.content_block;
        let writer = self.writer(out, None, None);
        match block {
            Block::Text => {
                if let Some(text) = start.text.as_deref().filter(|t| !t.is_empty()) {
                    writer.text(out, TextField::Content, text);
                }
            }
            Block::Thinking => {
                if let Some(text) = start.thinking.as_deref().filter(|t| !t.is_empty()) {
                    writer.text(out, TextField::Reasoning, text);
                }
            }
            Block::Tool(ordinal) => writer.tool_start(
                out,
                ordinal,
                start.id.as_deref().unwrap_or_default(),
                start.name.as_deref().unwrap_or_default(),
            ),
            Block::Hidden => {}
        }
    }

    fn block_delta(&mut self, event: BlockDelta<'_>, out: &mut Vec<u8>) {
        let block = self
            .blocks
            .iter()
            .find(|(index, _)| *index == event.index)
            .map(|&(_, block)| block);
        let delta = event.delta;
        let writer = self.writer(out, None, None);
        match (delta.kind.as_ref(), block) {
            ("text_delta", _) => {
                if let Some(text) = delta.text.as_deref().filter(|t| !t.is_empty()) {
                    writer.text(out, TextField::Content, text);
                }
            }
            ("thinking_delta", _) => {
                if let Some(text) = delta.thinking.as_deref().filter(|t| !t.is_empty()) {
                    writer.text(out, TextField::Reasoning, text);
                }
            }
            ("input_json_delta", Some(Block::Tool(ordinal))) => {
                if let Some(fragment) = delta.partial_json.as_deref().filter(|f| !f.is_empty()) {
                    writer.tool_arguments(out, ordinal, fragment);
                }
            }
            _ => {}
        }
    }

    fn message_delta(&mut self, event: MessageDelta<'_>, out: &mut Vec<u8>) {
        if let Some(usage) = &event.usage {
            self.usage.update(usage);
        }
        if let Some(reason) = event.delta.and_then(|d| d.stop_reason) {
            self.send_finish(out, finish_reason(&reason));
        }
    }

    fn send_finish(&mut self, out: &mut Vec<u8>, reason: &str) {
        if self.finish_sent {
            return;
        }
        self.finish_sent = true;
        self.writer(out, None, None).finish(out, reason);
    }

    /// `message_stop` (or the end after a stop reason): finish reason if none came, usage
    /// chunk if asked, `[DONE]`.
    fn complete(&mut self, out: &mut Vec<u8>) {
        self.send_finish(out, "stop");
        let include_usage = self.include_usage;
        let usage = self.usage;
        if include_usage {
            self.writer(out, None, None).usage(out, &usage);
        }
        out.extend_from_slice(DONE);
        self.outcome = StreamOutcome::Completed;
    }

    fn fail(&mut self, out: &mut Vec<u8>, anthropic_type: &str, message: &str) {
        let (error_type, code) = openai_type_and_code(500, anthropic_type);
        out.extend_from_slice(b"data: ");
        write_error_body(out, message, error_type, None, code);
        out.extend_from_slice(b"\n\n");
        self.outcome = StreamOutcome::Failed;
    }
}
