//! The OpenAI-format provider kinds behind the [`Provider`] seam: one shape, told apart by
//! data (their [`Quirks`] and [`Addressing`]). A Messages body is translated per request for
//! the model after `model_map`; the response is read by a translating codec.

use super::codec::{TranslatedBodyCodec, TranslatedEventsCodec};
use super::envelope::{Addressing, write_request_head};
use super::{Quirks, translate_request};
use crate::config::ProviderConfig;
use crate::error::{ErrorKind, GatewayError};
use crate::http::response_head::ResponseHead;
use crate::providers::codec::OpaqueCodec;
use crate::providers::options::KindOptions;
use crate::providers::registry::AnyCodec;
use crate::providers::{Provider, Translation, UpstreamRequest};

/// One OpenAI-format kind.
pub struct OpenAiFormat {
    pub quirks: Quirks,
    pub addressing: Addressing,
    /// The kind's own options (declared by its module).
    pub options: &'static KindOptions,
}

impl Provider for OpenAiFormat {
    fn options(&self) -> &'static KindOptions {
        self.options
    }

    fn write_request_head(&self, out: &mut Vec<u8>, request: &UpstreamRequest<'_>) {
        write_request_head(out, self.addressing, request);
    }

    fn response_codec(
        &self,
        _messages: bool,
        response: &ResponseHead,
        translation: Option<Translation>,
    ) -> AnyCodec {
        let status = response.status();
        let Some(Translation { tool_names, model }) = translation else {
            return AnyCodec::Opaque(OpaqueCodec);
        };
        if !(200..300).contains(&status) {
            AnyCodec::OpenAiBody(TranslatedBodyCodec::error(status))
        } else if is_event_stream(response) {
            AnyCodec::OpenAiEvents(TranslatedEventsCodec::new(tool_names, &model))
        } else {
            AnyCodec::OpenAiBody(TranslatedBodyCodec::completion(tool_names, &model))
        }
    }

    fn translates(&self) -> bool {
        true
    }

    fn translate_request(
        &self,
        _provider: &ProviderConfig,
        model: &str,
        body: &mut Vec<u8>,
    ) -> Result<Option<Translation>, GatewayError> {
        let translated = translate_request(body, model, &self.quirks)
            .map_err(|e| GatewayError::new(ErrorKind::BadRequest, e.to_string()))?;
        *body = translated.body;
        Ok(Some(Translation {
            tool_names: translated.tool_names,
            model: model.to_owned(),
        }))
    }
}

fn is_event_stream(head: &ResponseHead) -> bool {
    head.header("content-type")
        .is_some_and(|v| v.len() >= 17 && v[..17].eq_ignore_ascii_case(b"text/event-stream"))
}
