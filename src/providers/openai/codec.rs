//! The translating response codecs of the OpenAI-format kinds: an event stream translated
//! chunk by chunk into Anthropic events as it arrives, and a complete body (a chat completion,
//! or an upstream error before any stream) replaced whole by its Anthropic form. Each is the
//! usage extractor of the OpenAI wire format for the one settlement.

use super::{ResponseError, StreamTranslator, ToolNameMap, translate_error, translate_response};
use crate::governance::Usage;
use crate::observe::summary::ResponseSummary;
use crate::providers::anthropic::codec::MAX_OBSERVED_JSON_BYTES;
use crate::providers::anthropic::error_body::{anthropic_error_body, sse_error_frame};
use crate::providers::codec::{CodecError, ResponseCodec};

/// An OpenAI chunk stream, relayed as Anthropic events.
pub struct TranslatedEventsCodec {
    translator: StreamTranslator,
    scratch: Vec<u8>,
}

impl TranslatedEventsCodec {
    pub fn new(names: ToolNameMap, model: &str) -> Self {
        TranslatedEventsCodec {
            translator: StreamTranslator::new(names, model),
            scratch: Vec::with_capacity(1024),
        }
    }
}

impl ResponseCodec for TranslatedEventsCodec {
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
        // The translator holds partial events itself: every byte is consumed at once.
        self.translator.feed(&data[fed..], &mut self.scratch);
        data.clear();
        if finished {
            self.translator.finish(&mut self.scratch);
        }
        if !self.scratch.is_empty() {
            emit(&self.scratch);
            self.scratch.clear();
        }
        Ok(())
    }

    fn terminated(&self) -> bool {
        self.translator.terminated()
    }

    fn usage(&self) -> Option<&Usage> {
        self.translator
            .usage_seen()
            .then(|| &self.translator.summary().usage)
    }

    fn into_summary(self) -> Option<ResponseSummary> {
        Some(self.translator.into_summary())
    }

    fn write_error_event(&self, out: &mut Vec<u8>, error_type: &str, message: &str) {
        // A stream the translator already ended (message_stop or its own error) gets no more.
        if !self.translator.terminated() {
            sse_error_frame(out, error_type, message);
        }
    }
}

/// What a whole upstream body is.
enum BodyKind {
    /// A chat completion (2xx): translated to an Anthropic message.
    Completion { names: ToolNameMap, model: String },
    /// An error before any stream: translated to an Anthropic error of the matching status.
    Error { status: u16 },
}

/// A complete upstream body, held until it ends and then replaced by its Anthropic form (the
/// relay sends the head then, with the new status, content type and length).
pub struct TranslatedBodyCodec {
    kind: BodyKind,
    held: Vec<u8>,
    status: Option<u16>,
    summary: Option<ResponseSummary>,
}

impl TranslatedBodyCodec {
    pub fn completion(names: ToolNameMap, model: &str) -> Self {
        Self::new(BodyKind::Completion {
            names,
            model: model.to_owned(),
        })
    }

    pub fn error(status: u16) -> Self {
        Self::new(BodyKind::Error { status })
    }

    fn new(kind: BodyKind) -> Self {
        TranslatedBodyCodec {
            kind,
            held: Vec::new(),
            status: None,
            summary: None,
        }
    }

    /// The Anthropic status and body for the held upstream body.
    fn translate(&mut self) -> (u16, Vec<u8>) {
        match &self.kind {
            BodyKind::Error { status } => {
                let translated = translate_error(*status, &self.held);
                (translated.status, translated.body)
            }
            BodyKind::Completion { names, model } => {
                match translate_response(&self.held, names, model) {
                    Ok((body, summary)) => {
                        self.summary = Some(summary);
                        (200, body)
                    }
                    Err(ResponseError::Upstream(translated)) => {
                        (translated.status, translated.body)
                    }
                    Err(ResponseError::Malformed(why)) => {
                        let mut body = Vec::with_capacity(96 + why.len());
                        let message = format!("the upstream sent an unreadable completion: {why}");
                        anthropic_error_body(&mut body, "api_error", &message);
                        (502, body)
                    }
                }
            }
        }
    }
}

impl ResponseCodec for TranslatedBodyCodec {
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
        if self.held.len() + data.len() > MAX_OBSERVED_JSON_BYTES {
            return Err(CodecError::EventTooLarge);
        }
        self.held.extend_from_slice(data);
        data.clear();
        if finished {
            let (status, body) = self.translate();
            self.status = Some(status);
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

    fn replaced_status(&self) -> Option<u16> {
        self.status
    }

    fn replaces_body(&self) -> bool {
        true
    }
}
