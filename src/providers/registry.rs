//! The registry: the one place that lists provider kinds and response codecs. Adding a kind is
//! a module under `src/providers/` plus its entry in [`KINDS`] (and, if it brings a new
//! response codec, its line in [`AnyCodec`] and in [`AnyCodec::run`]).

use std::future::Future;

use super::Provider;
use super::anthropic::{Anthropic, EventStreamCodec, MessageCodec};
use super::bedrock::codec::{BedrockErrorCodec, BedrockEventsCodec};
use super::codec::{OpaqueCodec, ResponseCodec};
use super::openai::codec::{TranslatedBodyCodec, TranslatedEventsCodec};
use super::{anthropic, azure_openai, cloud_kind, openai_compatible, openai_kind};
use crate::config::ProviderKind;

/// One provider kind as the registry lists it.
pub struct KindEntry {
    /// Its name in config files (`kind = "..."`), the module's own `KIND`.
    pub kind: ProviderKind,
    pub provider: &'static dyn Provider,
    /// Its `gen_ai.provider.name` in traces (OpenTelemetry's GenAI conventions).
    pub genai_name: &'static str,
}

impl KindEntry {
    const fn new(
        kind: ProviderKind,
        provider: &'static dyn Provider,
        genai_name: &'static str,
    ) -> Self {
        KindEntry {
            kind,
            provider,
            genai_name,
        }
    }
}

/// Every kind this build serves, in the order the docs list them: the one list to extend, a
/// line per kind (`kind = "..."`, its provider, its `gen_ai.provider.name`).
pub static KINDS: [KindEntry; 6] = [
    KindEntry::new(anthropic::KIND, &Anthropic, "anthropic"),
    KindEntry::new(openai_kind::KIND, &openai_kind::OPENAI, "openai"),
    KindEntry::new(
        azure_openai::KIND,
        &azure_openai::AZURE_OPENAI,
        "azure.ai.openai",
    ),
    KindEntry::new(
        openai_compatible::KIND,
        &openai_compatible::OPENAI_COMPATIBLE,
        "openai",
    ),
    KindEntry::new(
        cloud_kind::BEDROCK_KIND,
        &cloud_kind::BEDROCK,
        "aws.bedrock",
    ),
    KindEntry::new(
        cloud_kind::VERTEX_KIND,
        &cloud_kind::VERTEX,
        "gcp.vertex_ai",
    ),
];

/// The registry's entry for `kind` (None: configured but not served by this build).
pub fn kind_entry(kind: ProviderKind) -> Option<&'static KindEntry> {
    KINDS.iter().find(|entry| entry.kind == kind)
}

/// The provider that serves `kind` in this build (None: configured but not served yet).
pub fn provider_for(kind: ProviderKind) -> Option<&'static dyn Provider> {
    kind_entry(kind).map(|entry| entry.provider)
}

/// The `gen_ai.provider.name` of `kind` (its config name when the registry lacks it).
pub fn genai_name(kind: ProviderKind) -> &'static str {
    kind_entry(kind).map_or(kind.as_str(), |entry| entry.genai_name)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_listed_once_and_found_by_its_name() {
        let mut names: Vec<&str> = KINDS.iter().map(|e| e.kind.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), KINDS.len(), "a kind name is listed twice");
        for entry in &KINDS {
            let found = provider_for(ProviderKind::named(entry.kind.as_str()));
            assert!(found.is_some(), "{} not served", entry.kind);
        }
        assert!(provider_for(ProviderKind::named("no-such-kind")).is_none());
    }

    #[test]
    fn genai_names_follow_the_semantic_conventions() {
        let expected = [
            (anthropic::KIND, "anthropic"),
            (openai_kind::KIND, "openai"),
            (azure_openai::KIND, "azure.ai.openai"),
            (openai_compatible::KIND, "openai"),
            (cloud_kind::BEDROCK_KIND, "aws.bedrock"),
            (cloud_kind::VERTEX_KIND, "gcp.vertex_ai"),
        ];
        for (kind, name) in expected {
            assert_eq!(genai_name(kind), name, "{kind}");
        }
        assert_eq!(genai_name(ProviderKind::named("other")), "other");
    }
}
