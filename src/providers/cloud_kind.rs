//! `kind = "bedrock"` and `kind = "vertex"` on the provider seam. Both speak Anthropic's
//! Messages format inside another envelope: the path and authentication come from the
//! [`CloudRequest`](super::cloud::CloudRequest) prepared for the request (the client's own
//! credential never travels). Vertex answers in Anthropic's SSE, relayed byte for byte;
//! Bedrock answers in its event stream, relayed as Anthropic SSE.

use super::anthropic::Anthropic;
use super::bedrock::codec::{BedrockErrorCodec, BedrockEventsCodec, is_event_stream};
use super::bedrock::config::BEDROCK_KIND_OPTIONS;
use super::options::KindOptions;
use super::registry::AnyCodec;
use super::vertex::config::VERTEX_KIND_OPTIONS;
use super::{Provider, Translation, UpstreamRequest};
use crate::config::ProviderKind;
use crate::http::encode::{write_content_length, write_header};
use crate::http::response_head::ResponseHead;

/// A cloud kind.
pub struct CloudKind {
    bedrock: bool,
    options: &'static KindOptions,
}

/// `kind = "bedrock"`.
pub const BEDROCK_KIND: ProviderKind = ProviderKind::named("bedrock");
/// `kind = "vertex"`.
pub const VERTEX_KIND: ProviderKind = ProviderKind::named("vertex");

/// `kind = "bedrock"`.
pub static BEDROCK: CloudKind = CloudKind {
    bedrock: true,
    options: &BEDROCK_KIND_OPTIONS,
};
/// `kind = "vertex"`.
pub static VERTEX: CloudKind = CloudKind {
    bedrock: false,
    options: &VERTEX_KIND_OPTIONS,
};

impl Provider for CloudKind {
    fn options(&self) -> &'static KindOptions {
        self.options
    }

    fn write_request_head(&self, out: &mut Vec<u8>, request: &UpstreamRequest<'_>) {
        let Some(cloud) = request.cloud else {
            return;
        };
        out.extend_from_slice(b"POST ");
        out.extend_from_slice(cloud.path.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        write_header(
            out,
            "host",
            request.provider.base_url.host_header().as_bytes(),
        );
        write_header(out, "content-type", b"application/json");
        write_content_length(out, request.body_len as u64);
        for (name, value) in &cloud.headers {
            write_header(out, name, value.as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }

    fn response_codec(
        &self,
        messages: bool,
        response: &ResponseHead,
        translation: Option<Translation>,
    ) -> AnyCodec {
        if !self.bedrock {
            return Anthropic.response_codec(messages, response, translation);
        }
        let status = response.status();
        let event_stream = is_event_stream(response);
        if !(200..300).contains(&status) {
            AnyCodec::BedrockError(BedrockErrorCodec::new(
                status,
                response.header("x-amzn-errortype"),
            ))
        } else if event_stream {
            AnyCodec::BedrockEvents(BedrockEventsCodec::new())
        } else {
            Anthropic.response_codec(messages, response, translation)
        }
    }
}
