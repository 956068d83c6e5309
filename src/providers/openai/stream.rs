//! Translates an OpenAI Chat Completions stream into an Anthropic Messages stream as it
//! arrives: fed upstream body bytes in any pieces, it appends Anthropic SSE events to the
//! caller's buffer, keeping blocks strictly one after another, and reports the same summary
//! (usage, stop reason, tool calls) the Anthropic observer reports for a native stream.

use crate::sse::parser::SseParser;

use super::chunk::{Chunk, stop_reason};
use super::error::{message_of, stream_error_type};
use super::frames::{self, BlockKind};
use super::tool_names::ToolNameMap;
use super::usage::OpenAiUsage;
use super::{MAX_TOOL_CALLS, MAX_TOOL_INPUT_BYTES, ResponseSummary, ToolCall, Usage};

/// Where the translated stream stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamOutcome {
    /// Still translating.
    Open,
    /// `message_stop` was written: the stream ended properly.
    Completed,
    /// An `error` event was written (malformed chunk, upstream error, early end); later input
    /// is ignored.
    Failed,
}

/// One streaming response's translator. IO-free: [`feed`](Self::feed) upstream bytes, write
/// what it appends to the client, call [`finish`](Self::finish) at the upstream's end.
pub struct StreamTranslator {
    parser: SseParser,
    state: State,
}

/// Tracks when a tool call's arguments form one complete JSON value, so the block can close
/// before the next call's block opens.
#[derive(Clone, Copy, Debug, Default)]
struct JsonEnd {
    depth: u32,
    in_string: bool,
    escaped: bool,
    complete: bool,
}

impl JsonEnd {
    fn feed(&mut self, fragment: &str) {
        for byte in fragment.bytes() {
            if self.complete {
                return;
            }
            if self.in_string {
                match (self.escaped, byte) {
                    (true, _) => self.escaped = false,
                    (false, b'\\') => self.escaped = true,
                    (false, b'"') => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match byte {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    self.complete = self.depth == 0;
                }
                _ => {}
            }
        }
    }
}

/// One upstream tool call (`tool_calls[].index`), in order of first appearance.
struct ToolSlot {
    index: u64,
    id: String,
    /// The name as sent upstream (shortened names are restored when the block opens).
    name: String,
    /// Arguments received but not yet written (the block is not open yet).
    pending: String,
    /// Bytes of arguments received in all.
    received: usize,
    end: JsonEnd,
    /// Anthropic block index once opened.
    block: Option<u32>,
    closed: bool,
    /// Its position in the summary's tool calls, when recorded.
    call: Option<usize>,
}

struct State {
    names: ToolNameMap,
    fallback_model: String,
    outcome: StreamOutcome,
    started: bool,
    id: String,
    model: String,
    /// The open thinking or text block (a tool block is tracked by its slot).
    open_block: Option<(BlockKind, u32)>,
    next_block: u32,
    tools: Vec<ToolSlot>,
    /// Index into `tools` of the open tool block.
    open_tool: Option<usize>,
    finish: Option<&'static str>,
    usage: Option<OpenAiUsage>,
    delta_sent: bool,
    summary: ResponseSummary,
}

impl StreamTranslator {
    /// `names`: the request's shortened tool names; `fallback_model`: the model reported when
    /// the upstream names none.
    pub fn new(names: ToolNameMap, fallback_model: &str) -> Self {
        Self {
            parser: SseParser::new(),
            state: State {
                names,
                fallback_model: fallback_model.to_owned(),
                outcome: StreamOutcome::Open,
                started: false,
                id: String::new(),
                model: String::new(),
                open_block: None,
                next_block: 0,
                tools: Vec::new(),
                open_tool: None,
                finish: None,
                usage: None,
                delta_sent: false,
                summary: ResponseSummary::default(),
            },
        }
    }

    /// Feeds the next upstream body bytes; appends the client's bytes to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        let Self { parser, state } = self;
        if state.outcome != StreamOutcome::Open {
            return;
        }
        parser.feed(bytes, |event| {
            if state.outcome == StreamOutcome::Open {
                state.on_data(event.data, out);
            }
        });
    }

    /// The upstream body ended. A stream that saw its `finish_reason` is completed
    /// (`message_delta` and `message_stop` written if `[DONE]` was missing); otherwise an
    /// `error` event is written.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        let state = &mut self.state;
        if state.outcome != StreamOutcome::Open {
            return;
        }
        if state.finish.is_some() {
            state.complete(out);
        } else {
            state.fail(
                out,
                "api_error",
                "upstream stream ended before the response finished",
            );
        }
    }

    /// The upstream failed mid-stream (connection reset, timeout): writes an `error` event of
    /// `error_type` unless the stream already ended.
    pub fn fail(&mut self, error_type: &str, message: &str, out: &mut Vec<u8>) {
        if self.state.outcome == StreamOutcome::Open {
            self.state.fail(out, error_type, message);
        }
    }

    /// True once the client stream is closed: `message_stop` or an `error` event was written,
    /// and nothing more will be.
    pub fn terminated(&self) -> bool {
        self.state.outcome != StreamOutcome::Open
    }

    /// Whether the upstream reported usage (a usage chunk arrived).
    pub fn usage_seen(&self) -> bool {
        self.state.usage.is_some()
    }

    pub fn outcome(&self) -> StreamOutcome {
        self.state.outcome
    }

    /// Usage, stop reason (Anthropic's names), tool calls (client names, arguments as
    /// streamed), ids: what the Anthropic observer reports for a native stream.
    pub fn summary(&self) -> &ResponseSummary {
        &self.state.summary
    }

    pub fn into_summary(self) -> ResponseSummary {
        self.state.summary
    }
}

impl State {
    fn on_data(&mut self, data: &[u8], out: &mut Vec<u8>) {
        if data.trim_ascii() == b"[DONE]" {
            self.complete(out);
            return;
        }
        let chunk: Chunk<'_> = match serde_json::from_slice(data) {
            Ok(chunk) => chunk,
            Err(e) => {
                let message = format!("malformed upstream stream chunk: {e}");
                self.fail(out, "api_error", &message);
                return;
            }
        };
        if let Some(error) = &chunk.error {
            let message = message_of(error).unwrap_or_else(|| "upstream stream error".into());
            self.fail(out, stream_error_type(error), &message);
            return;
        }
        if self.id.is_empty()
            && let Some(id) = chunk.id.as_deref().filter(|id| !id.is_empty())
        {
            self.id = if id.starts_with("msg_") {
                id.to_owned()
            } else {
                format!("msg_{id}")
            };
        }
        if self.model.is_empty()
            && let Some(model) = chunk.model.as_deref()
        {
            model.clone_into(&mut self.model);
        }
        if let Some(usage) = chunk.usage() {
            self.usage = Some(usage);
            self.summary.usage = usage.to_anthropic();
        }
        for choice in chunk.choices.iter().flatten().filter(|c| c.index == 0) {
            self.start(out);
            if self.finish.is_some() {
                // Content after the finish would follow message_delta: not a valid stream.
                continue;
            }
            if let Some(delta) = &choice.delta {
                let reasoning = delta.reasoning_content.as_deref();
                if let Some(text) = reasoning.or(delta.reasoning.as_deref()) {
                    self.write_block(out, BlockKind::Thinking, text);
                }
                for text in [&delta.content, &delta.refusal].into_iter().flatten() {
                    self.write_block(out, BlockKind::Text, text);
                }
                for call in delta.tool_calls.iter().flatten() {
                    let function = call.function.as_ref();
                    let fragment = function.and_then(|f| f.arguments.as_deref());
                    if !self.tool_fragment(
                        out,
                        call.index,
                        call.id.as_deref(),
                        function.and_then(|f| f.name.as_deref()),
                        fragment.unwrap_or(""),
                    ) {
                        return;
                    }
                }
            }
            if let Some(reason) = choice.finish_reason.as_deref() {
                self.flush_tools(out);
                self.close_block(out);
                self.finish = Some(stop_reason(reason));
                self.summary.stop_reason = Some(stop_reason(reason).to_owned());
            }
        }
        if self.finish.is_some() && self.usage.is_some() {
            self.send_delta(out);
        }
    }

    /// Writes `message_start` before the first content.
    fn start(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        if self.id.is_empty() {
            self.id = "msg_openai".to_owned();
        }
        if self.model.is_empty() {
            self.model.clone_from(&self.fallback_model);
        }
        self.summary.message_id = Some(self.id.clone());
        self.summary.model = Some(self.model.clone());
        let initial = self.usage.map(OpenAiUsage::to_anthropic).map(|u| Usage {
            output_tokens: 0,
            ..u
        });
        frames::message_start(out, &self.id, &self.model, &initial.unwrap_or_default());
    }

    /// Appends text or thinking, opening its block (and closing whatever was open) first.
    fn write_block(&mut self, out: &mut Vec<u8>, kind: BlockKind, text: &str) {
        if text.is_empty() {
            return;
        }
        self.summary.first_token_seen = true;
        let index = match self.open_block {
            Some((open, index)) if open == kind => index,
            _ => {
                self.flush_tools(out);
                self.close_block(out);
                let index = self.next_block;
                self.next_block += 1;
                frames::block_start(out, index, kind, "", "");
                self.open_block = Some((kind, index));
                index
            }
        };
        frames::block_delta(out, index, kind, text);
    }

    fn close_block(&mut self, out: &mut Vec<u8>) {
        if let Some((_, index)) = self.open_block.take() {
            frames::block_stop(out, index);
        }
    }

    /// One `tool_calls[]` delta. Returns false when it failed the stream.
    fn tool_fragment(
        &mut self,
        out: &mut Vec<u8>,
        index: u64,
        id: Option<&str>,
        name: Option<&str>,
        arguments: &str,
    ) -> bool {
        let slot = match self.tools.iter().position(|s| s.index == index) {
            Some(slot) => slot,
            None if self.tools.len() >= MAX_TOOL_CALLS => {
                self.fail(out, "api_error", "upstream sent too many tool calls");
                return false;
            }
            None => {
                self.tools.push(ToolSlot {
                    index,
                    id: String::new(),
                    name: String::new(),
                    pending: String::new(),
                    received: 0,
                    end: JsonEnd::default(),
                    block: None,
                    closed: false,
                    call: None,
                });
                self.tools.len() - 1
            }
        };
        let Some(tool) = self.tools.get_mut(slot) else {
            return true;
        };
        if let Some(id) = id.filter(|id| !id.is_empty() && tool.id.is_empty()) {
            id.clone_into(&mut tool.id);
        }
        if let Some(name) = name.filter(|n| !n.is_empty() && tool.name.is_empty()) {
            name.clone_into(&mut tool.name);
        }
        if tool.closed {
            if arguments.trim().is_empty() {
                return true;
            }
            self.fail(
                out,
                "api_error",
                "upstream sent arguments for a finished tool call",
            );
            return false;
        }
        tool.received += arguments.len();
        if tool.received > MAX_TOOL_INPUT_BYTES {
            self.fail(
                out,
                "api_error",
                "upstream tool call arguments are too large",
            );
            return false;
        }
        tool.end.feed(arguments);
        tool.pending.push_str(arguments);
        self.pump_tools(out, false);
        true
    }

    /// Writes what the tool blocks can take now, in order: the open block's pending
    /// arguments; it closes once its arguments are complete JSON and a later call has begun
    /// (or when `all`, at the end of the tool calls); the next call then opens (once named).
    fn pump_tools(&mut self, out: &mut Vec<u8>, all: bool) {
        loop {
            if let Some(open) = self.open_tool {
                let later_started = open + 1 < self.tools.len();
                let Some(tool) = self.tools.get_mut(open) else {
                    return;
                };
                let block = tool.block.unwrap_or_default();
                if !tool.pending.is_empty() {
                    self.summary.first_token_seen = true;
                    frames::block_delta(out, block, BlockKind::ToolUse, &tool.pending);
                    if let Some(call) = tool.call.and_then(|c| self.summary.tool_calls.get_mut(c)) {
                        call.input_json.push_str(&tool.pending);
                    }
                    tool.pending.clear();
                }
                if !(all || (later_started && tool.end.complete)) {
                    return;
                }
                tool.closed = true;
                if let Some(call) = tool.call.and_then(|c| self.summary.tool_calls.get_mut(c))
                    && call.input_json.is_empty()
                {
                    call.input_json.push_str("{}");
                }
                frames::block_stop(out, block);
                self.open_tool = None;
            }
            let Some(next) = self.tools.iter().position(|t| !t.closed) else {
                return;
            };
            let Some(tool) = self.tools.get_mut(next) else {
                return;
            };
            if tool.name.is_empty() && !all {
                return;
            }
            if let Some((_, index)) = self.open_block.take() {
                frames::block_stop(out, index);
            }
            if tool.id.is_empty() {
                tool.id = format!("call_{}_{}", self.id, tool.index);
            }
            let name = self.names.inbound(&tool.name);
            let block = self.next_block;
            self.next_block += 1;
            frames::block_start(out, block, BlockKind::ToolUse, &tool.id, name);
            tool.block = Some(block);
            if self.summary.tool_calls.len() < MAX_TOOL_CALLS {
                tool.call = Some(self.summary.tool_calls.len());
                self.summary.tool_calls.push(ToolCall {
                    id: tool.id.clone(),
                    name: name.to_owned(),
                    input_json: String::new(),
                });
            }
            self.open_tool = Some(next);
        }
    }

    /// Ends the tool calls: every call not yet written is opened, written and closed in order.
    fn flush_tools(&mut self, out: &mut Vec<u8>) {
        if self.tools.iter().any(|t| !t.closed) {
            self.pump_tools(out, true);
        }
    }

    fn send_delta(&mut self, out: &mut Vec<u8>) {
        if self.delta_sent {
            return;
        }
        self.delta_sent = true;
        let usage = self
            .usage
            .map(OpenAiUsage::to_anthropic)
            .unwrap_or_default();
        frames::message_delta(out, self.finish.unwrap_or("end_turn"), &usage);
        if self.summary.stop_reason.is_none() {
            self.summary.stop_reason = Some("end_turn".to_owned());
        }
    }

    /// `[DONE]` (or the end after a finish): close what is open and end the message.
    fn complete(&mut self, out: &mut Vec<u8>) {
        self.start(out);
        self.flush_tools(out);
        self.close_block(out);
        self.send_delta(out);
        frames::message_stop(out);
        self.summary.saw_message_stop = true;
        self.outcome = StreamOutcome::Completed;
    }

    fn fail(&mut self, out: &mut Vec<u8>, error_type: &str, message: &str) {
        frames::error(out, error_type, message);
        self.summary.error_type = Some(error_type.to_owned());
        self.outcome = StreamOutcome::Failed;
    }
}
