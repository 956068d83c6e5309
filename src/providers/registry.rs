//! The registry: the one place that lists provider kinds and response codecs. Adding a kind is
//! a module under `src/providers/` plus its line in [`provider_for`] (and, if it brings a new
//! response codec, its line in [`AnyCodec`] and in [`AnyCodec::run`]).

use std::future::Future;

use super::Provider;
use super::anthropic::{Anthropic, EventStreamCodec, MessageCodec};
use super::bedrock::codec::{BedrockErrorCodec, BedrockEventsCodec};
use super::codec::{OpaqueCodec, ResponseCodec};
use super::openai::codec::{TranslatedBodyCodec, TranslatedEventsCodec};
use super::{azure_openai, cloud_kind, openai_compatible, openai_kind};
use crate::config::ProviderKind;

/// The provider that serves `kind` in this build (None: configured but not served yet).
pub fn provider_for(kind: ProviderKind) -> Option<&'static dyn Provider> {
    match kind {
        ProviderKind::Anthropic => Some(&Anthropic),
        ProviderKind::OpenAi => Some(&openai_kind::OPENAI),
        ProviderKind::OpenAiCompatible => Some(&openai_compatible::OPENAI_COMPATIBLE),
        ProviderKind::AzureOpenAi => Some(&azure_openai::AZURE_OPENAI),
        ProviderKind::Bedrock => Some(&cloud_kind::BEDROCK),
        ProviderKind::Vertex => Some(&cloud_kind::VERTEX),
    }
}

/// Every response codec, chosen once per response by the provider's dialect.
// It lives inside the relay's future for one response; boxing the large variant would cost an
// allocation per response on the hot path.
#[allow(clippy::large_enum_variant)]
pub enum AnyCodec {
    AnthropicEvents(EventStreamCodec),
    AnthropicMessage(MessageCodec),
    Opaque(OpaqueCodec),
    /// An OpenAI chunk stream translated to Anthropic events.
    OpenAiEvents(TranslatedEventsCodec),
    /// An OpenAI completion or error body replaced by its Anthropic form.
    OpenAiBody(TranslatedBodyCodec),
    /// A Bedrock event stream relayed as Anthropic events.
    BedrockEvents(BedrockEventsCodec),
    /// A Bedrock error body replaced by its Anthropic form.
    BedrockError(BedrockErrorCodec),
}

/// Work generic over the codec (the relay): run with the concrete codec, statically dispatched.
pub trait WithCodec {
    type Output;
    fn run<C: ResponseCodec>(self, codec: C) -> impl Future<Output = Self::Output>;
}

impl AnyCodec {
    /// Runs `work` with the concrete codec inside.
    pub async fn run<W: WithCodec>(self, work: W) -> W::Output {
        match self {
            AnyCodec::AnthropicEvents(codec) => work.run(codec).await,
            AnyCodec::AnthropicMessage(codec) => work.run(codec).await,
            AnyCodec::Opaque(codec) => work.run(codec).await,
            AnyCodec::OpenAiEvents(codec) => work.run(codec).await,
            AnyCodec::OpenAiBody(codec) => work.run(codec).await,
            AnyCodec::BedrockEvents(codec) => work.run(codec).await,
            AnyCodec::BedrockError(codec) => work.run(codec).await,
        }
    }
}
