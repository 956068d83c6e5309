//! Anthropic as a provider: its envelope and dialect behind the [`Provider`] seam, and its two
//! response codecs. Both pass the bytes through unchanged and read usage on the side: the
//! event-stream codec forwards each complete SSE event as it completes (a partial event is held
//! until it does), the message codec forwards the body and summarises it once complete.

use super::envelope::write_request_head;
use super::error_body::sse_error_frame;
use super::json_body::summarize_message_json;
use super::observer::AnthropicObserver;
use crate::config::ProviderKind;
use crate::governance::Usage;
use crate::http::response_head::ResponseHead;
use crate::observe::summary::ResponseSummary;
use crate::providers::codec::{CodecError, OpaqueCodec, ResponseCodec};
use crate::providers::options::{KindOptions, no_options};
use crate::providers::registry::AnyCodec;
use crate::providers::{Provider, UpstreamRequest};
use crate::sse::parser::{MAX_EVENT_BYTES, SseParser};

/// Bytes of one unfinished SSE event held back before the stream is failed. Twice the parser's
/// data limit leaves room for the `data: ` prefixes and line ends of an event at that limit.
pub const MAX_PENDING_EVENT_BYTES: usize = 2 * MAX_EVENT_BYTES;

/// Non-streaming bodies larger than this are relayed but not parsed for usage.
pub const MAX_OBSERVED_JSON_BYTES: usize = 8 * 1024 * 1024;

/// The Anthropic provider kind.
pub struct Anthropic;

/// `kind = "anthropic"`.
pub const KIND: ProviderKind = ProviderKind::named("anthropic");

/// `kind = "anthropic"` takes no options of its own; `base_url` defaults to Anthropic's API.
pub static ANTHROPIC_OPTIONS: KindOptions = KindOptions {
    keys: &[],
    needs_keys: false,
    check: |_, given| no_options(given, Some("https://api.anthropic.com")),
};

impl Provider for Anthropic {
    fn options(&self) -> &'static KindOptions {
        &ANTHROPIC_OPTIONS
    }

    fn write_request_head(&self, out: &mut Vec<u8>, request: &UpstreamRequest<'_>) {
        write_request_head(out, request);
    }

    fn response_codec(
        &self,
        messages: bool,
        response: &ResponseHead,
        _translation: Option<crate::providers::Translation>,
    ) -> AnyCodec {
        let ok = (200..300).contains(&response.status());
        if ok && is_event_stream(response) {
            AnyCodec::AnthropicEvents(EventStreamCodec::new())
        } else if messages && response.status() == 200 {
            AnyCodec::AnthropicMessage(MessageCodec::new())
        } else {
            AnyCodec::Opaque(OpaqueCodec)
        }
    }
}

fn is_event_stream(head: &ResponseHead) -> bool {
    head.header("content-type")
        .is_some_and(|v| v.len() >= 17 && v[..17].eq_ignore_ascii_case(b"text/event-stream"))
}

/// An Anthropic event stream, forwarded event by event, watched by the observer.
pub struct EventStreamCodec {
    parser: SseParser,
    observer: AnthropicObserver,
}

impl EventStreamCodec {
    pub fn new() -> Self {
        EventStreamCodec {
            parser: SseParser::new(),
            observer: AnthropicObserver::new(),
        }
    }
}

impl Default for EventStreamCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl ResponseCodec for EventStreamCodec {
    fn event_stream(&self) -> bool {
        true
    }

    #[inline]
    fn feed(
        &mut self,
        data: &mut Vec<u8>,
        fed: usize,
        finished: bool,
        mut emit: impl FnMut(&[u8]),
    ) -> Result<(), CodecError> {
        let observer = &mut self.observer;
        let boundary = self
            .parser
            .feed(&data[fed..], |event| observer.on_event(event));
        if let Some(end) = boundary {
            emit(&data[..fed + end]);
            data.drain(..fed + end);
        } else if data.len() > MAX_PENDING_EVENT_BYTES {
            return Err(CodecError::EventTooLarge);
        }
        if finished && !data.is_empty() {
            // The body ended inside an event: forward the tail as it is.
            emit(data);
            data.clear();
        }
        Ok(())
    }

    fn terminated(&self) -> bool {
        self.observer.summary().saw_message_stop
    }

    fn usage(&self) -> Option<&Usage> {
        Some(&self.observer.summary().usage)
    }

    fn into_summary(self) -> Option<ResponseSummary> {
        Some(self.observer.into_summary())
    }

    fn write_error_event(&self, out: &mut Vec<u8>, error_type: &str, message: &str) {
        sse_error_frame(out, error_type, message);
    }
}

/// A complete (non-streaming) Messages response, forwarded as it arrives and summarised once
/// it ended.
#[derive(Default)]
pub struct MessageCodec {
    observed: Vec<u8>,
    summary: Option<ResponseSummary>,
}

impl MessageCodec {
    pub fn new() -> Self {
        Self::default()
    }
}

impl ResponseCodec for MessageCodec {
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
        if finished && self.observed.is_empty() {
            self.summary = summarize_message_json(data);
        } else if self.observed.len() + data.len() <= MAX_OBSERVED_JSON_BYTES {
            self.observed.extend_from_slice(data);
        }
        emit(data);
        data.clear();
        if finished && !self.observed.is_empty() {
            self.summary = summarize_message_json(&self.observed);
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
}
