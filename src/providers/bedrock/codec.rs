//! The response codecs of `kind = "bedrock"`: its event stream relayed as Anthropic SSE (each
//! event read for usage by the Anthropic event-stream codec, Bedrock's invocation metrics used
//! when the events lack usage), and its error bodies replaced by Anthropic's error shape.

use super::errors::{BedrockError, error_response};
use super::stream::BedrockSse;
use crate::error::{ErrorKind, GatewayError};
use crate::governance::Usage;
use crate::http::response_head::ResponseHead;
use crate::observe::summary::ResponseSummary;
use crate::providers::anthropic::EventStreamCodec;
use crate::providers::anthropic::codec::MAX_OBSERVED_JSON_BYTES;
use crate::providers::codec::{CodecError, ResponseCodec};

/// A Bedrock event stream, relayed as the Anthropic event stream it carries.
pub struct BedrockEventsCodec {
    decoder: BedrockSse,
    events: EventStreamCodec,
    /// SSE bytes decoded and not yet passed through `events`.
    sse: Vec<u8>,
    failed: Option<BedrockError>,
    /// Usage from `amazon-bedrock-invocationMetrics`, used when the events carry none.
    metrics_usage: Option<Usage>,
}

impl BedrockEventsCodec {
    pub fn new() -> Self {
        BedrockEventsCodec {
            decoder: BedrockSse::new(),
            events: EventStreamCodec::new(),
            sse: Vec::with_capacity(1024),
            failed: None,
            metrics_usage: None,
        }
    }

    fn event_usage(&self) -> Option<&Usage> {
        self.events
            .usage()
            .filter(|u| u.input_tokens > 0 || u.output_tokens > 0)
    }
}

impl Default for BedrockEventsCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl ResponseCodec for BedrockEventsCodec {
    fn event_stream(&self) -> bool {
        true
    }

    fn feed(
        &mut self,
        data: &mut Vec<u8>,
        fed: usize,
        finished: bool,
        mut emit: impl FnMut(&[u8]),
    ) -> Result<(), CodecError> {
        // The frame decoder holds partial frames itself: every byte is consumed at once.
        let before = self.sse.len();
        let mut result = self.decoder.feed(&data[fed..], &mut self.sse);
        data.clear();
        if finished && result.is_ok() {
            result = self.decoder.finish();
        }
        if let Some(m) = self.decoder.invocation_metrics() {
            self.metrics_usage = Some(Usage {
                input_tokens: m.input_tokens,
                output_tokens: m.output_tokens,
                cache_read_input_tokens: m.cache_read_input_tokens,
                cache_creation_input_tokens: m.cache_creation_input_tokens,
            });
        }
        // Whole events only reach the SSE buffer, so the event codec forwards all of it.
        self.events
            .feed(&mut self.sse, before, finished, &mut emit)?;
        if let Err(e) = result {
            self.failed = Some(e);
            return Err(CodecError::Upstream);
        }
        Ok(())
    }

    fn terminated(&self) -> bool {
        self.events.terminated()
    }

    fn usage(&self) -> Option<&Usage> {
        self.event_usage().or(self.metrics_usage.as_ref())
    }

    fn into_summary(self) -> Option<ResponseSummary> {
        let fallback = self.metrics_usage;
        let mut summary = self.events.into_summary()?;
        let empty = summary.usage.input_tokens == 0 && summary.usage.output_tokens == 0;
        if let (true, Some(usage)) = (empty, fallback) {
            summary.usage = usage;
        }
        Some(summary)
    }

    fn write_error_event(&self, out: &mut Vec<u8>, error_type: &str, message: &str) {
        match &self.failed {
            Some(e) => e.write_sse_event(out),
            None => self.events.write_error_event(out, error_type, message),
        }
    }

    fn holds_head(&self) -> bool {
        true
    }

    fn content_type(&self) -> Option<&'static [u8]> {
        Some(b"text/event-stream; charset=utf-8")
    }

    fn upstream_error(&self) -> Option<GatewayError> {
        self.failed.as_ref().map(gateway_error)
    }
}

/// Whether `response` carries Bedrock's event stream (`application/vnd.amazon.eventstream`).
pub fn is_event_stream(response: &ResponseHead) -> bool {
    const TYPE: &[u8] = b"application/vnd.amazon.eventstream";
    response
        .header("content-type")
        .is_some_and(|v| v.len() >= TYPE.len() && v[..TYPE.len()].eq_ignore_ascii_case(TYPE))
}

/// The error to answer with when Bedrock failed before the stream started.
pub fn gateway_error(e: &BedrockError) -> GatewayError {
    let kind = match e.status() {
        429 => ErrorKind::UpstreamRateLimited,
        503 => ErrorKind::UpstreamOverloaded,
        400 => ErrorKind::UpstreamRejected,
        504 => ErrorKind::UpstreamTimeout,
        502 => ErrorKind::UpstreamProtocol,
        _ => ErrorKind::UpstreamFailed,
    };
    GatewayError::new(kind, e.to_string())
}

/// A non-2xx Bedrock response: held whole, then answered in Anthropic's error shape with the
/// status of the exception it names (`x-amzn-ErrorType`).
pub struct BedrockErrorCodec {
    status: u16,
    error_type: Option<String>,
    held: Vec<u8>,
    replaced: Option<u16>,
}

impl BedrockErrorCodec {
    pub fn new(status: u16, error_type: Option<&[u8]>) -> Self {
        BedrockErrorCodec {
            status,
            error_type: error_type.map(|t| String::from_utf8_lossy(t).into_owned()),
            held: Vec::new(),
            replaced: None,
        }
    }
}

impl ResponseCodec for BedrockErrorCodec {
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
        if self.held.len() + data.len() <= MAX_OBSERVED_JSON_BYTES {
            self.held.extend_from_slice(data);
        }
        data.clear();
        if finished {
            let error = error_response(self.status, self.error_type.as_deref(), &self.held);
            let mut body = Vec::with_capacity(128);
            error.write_error_json(&mut body);
            self.replaced = Some(error.status());
            emit(&body);
        }
        Ok(())
    }

    fn terminated(&self) -> bool {
        true
    }

    fn usage(&self) -> Option<&Usage> {
        None
    }

    fn into_summary(self) -> Option<ResponseSummary> {
        None
    }

    fn write_error_event(&self, _out: &mut Vec<u8>, _error_type: &str, _message: &str) {}

    fn replaces_body(&self) -> bool {
        true
    }

    fn replaced_status(&self) -> Option<u16> {
        self.replaced
    }
}
