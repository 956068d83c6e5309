//! The provider seam: one module per provider kind, each with the same two halves. Its
//! *envelope* is how a request reaches it (addressing, authentication, framing of the upstream
//! request head); its *dialect* is the body and stream format it speaks, read by a
//! [`ResponseCodec`] chosen once per response. [`registry`] is the one list of kinds and codecs;
//! docs/ARCHITECTURE.md says how to add one.

pub mod anthropic;
pub mod azure_openai;
pub mod bedrock;
pub mod betas;
pub mod blocking_http;
pub mod cloud;
pub mod cloud_kind;
pub mod codec;
pub mod load;
#[cfg(test)]
pub mod mock_http;
pub mod openai;
pub mod openai_compatible;
pub mod openai_kind;
pub mod options;
#[cfg(test)]
mod options_tests;
pub mod raw_config;
pub mod refresh;
pub mod registry;
pub mod top_level;
pub mod vertex;

pub use codec::{CodecError, OpaqueCodec, ResponseCodec};
pub use registry::{AnyCodec, KINDS, WithCodec, genai_name, provider_for};

use crate::config::{ProviderConfig, Secret};
use crate::error::GatewayError;
use crate::http::head::RequestHead;
use crate::http::response_head::ResponseHead;

/// Whose credentials go upstream.
#[derive(Clone, Copy)]
pub enum Credentials<'a> {
    /// The client's own credential headers travel as sent; the provider's key is added only
    /// when the client sent none.
    ClientOwn { fallback: Option<&'a Secret> },
    /// The client presented a virtual key: its credential headers never go upstream, the
    /// provider's key does.
    Provider(Option<&'a Secret>),
}

/// How the response body may be encoded.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ResponseEncoding {
    /// `Accept-Encoding` travels as the client sent it.
    AsClientAsked,
    /// The request is metered (a virtual key or a provider budget) or its response is observed
    /// (Messages): `Accept-Encoding` is dropped so the usage and tool calls in the response
    /// can be read, charged and logged.
    Identity,
}

/// What one upstream request is: the client's head and the upstream path it maps to.
pub struct UpstreamRequest<'a> {
    pub provider: &'a ProviderConfig,
    pub head: &'a RequestHead,
    /// The upstream path (the client path without sluice's prefix); the query is kept.
    pub path: &'a str,
    /// The model the provider is asked for (after the `provider/` prefix and `model_map`).
    pub model: &'a str,
    pub body_len: usize,
    pub credentials: Credentials<'a>,
    pub encoding: ResponseEncoding,
    /// The W3C trace context of this attempt's span, when tracing is on: every envelope writes
    /// it with [`UpstreamTrace::write`] in place of the client's own.
    pub trace: Option<UpstreamTrace<'a>>,
    /// A cloud kind's path and headers for this request (built by [`cloud::Cloud::prepare`]).
    pub cloud: Option<&'a cloud::CloudRequest>,
}

/// The `traceparent` (and `tracestate`) an upstream attempt carries.
#[derive(Clone, Copy, Debug)]
pub struct UpstreamTrace<'a> {
    pub traceparent: &'a str,
    pub tracestate: Option<&'a str>,
}

impl UpstreamTrace<'_> {
    /// Whether `name` is a trace-context header, replaced (not forwarded) when a trace is set.
    pub fn replaces(name: &str) -> bool {
        name.eq_ignore_ascii_case("traceparent") || name.eq_ignore_ascii_case("tracestate")
    }

    /// Appends the trace-context headers.
    pub fn write(&self, out: &mut Vec<u8>) {
        crate::http::encode::write_header(out, "traceparent", self.traceparent.as_bytes());
        if let Some(state) = self.tracestate {
            crate::http::encode::write_header(out, "tracestate", state.as_bytes());
        }
    }
}

/// What a translating dialect learned from one request that reading its response needs.
pub struct Translation {
    /// Tool names shortened for the provider, restored in the response.
    pub tool_names: openai::ToolNameMap,
    /// The model reported when the response names none.
    pub model: String,
}

/// One provider kind: its envelope and its dialect. (`Sync`: the kinds are statics, listed in
/// the registry's table.)
pub trait Provider: Sync {
    /// The kind's own `[[providers]]` options: which keys it takes and how they are checked.
    fn options(&self) -> &'static options::KindOptions;

    /// Appends the upstream request head for `request` to `out` (the envelope).
    fn write_request_head(&self, out: &mut Vec<u8>, request: &UpstreamRequest<'_>);

    /// Chooses how to read and relay one response (the dialect). `messages`: the request was a
    /// Messages call, whose response carries usage. `translation`: what
    /// [`translate_request`](Self::translate_request) returned for it.
    fn response_codec(
        &self,
        messages: bool,
        response: &ResponseHead,
        translation: Option<Translation>,
    ) -> AnyCodec;

    /// Whether the dialect is not Anthropic's: Messages bodies are rewritten, count_tokens is
    /// answered by sluice, other routes are not served.
    fn translates(&self) -> bool {
        false
    }

    /// Rewrites an Anthropic Messages body in place into the provider's dialect for `model`.
    /// None: the body goes as the client sent it.
    fn translate_request(
        &self,
        _provider: &ProviderConfig,
        _model: &str,
        _body: &mut Vec<u8>,
    ) -> Result<Option<Translation>, GatewayError> {
        Ok(None)
    }
}
