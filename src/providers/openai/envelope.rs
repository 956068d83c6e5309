//! The OpenAI-format envelope: where a translated Messages request goes and how it
//! authenticates. OpenAI and compatible servers take `POST {base_url}/chat/completions` with
//! `Authorization: Bearer`; Azure OpenAI addresses a deployment
//! (`{base_url}/openai/deployments/{deployment}/chat/completions?api-version=...`) with an
//! `api-key` header. The client's own headers never travel: the request is sluice's own.

use crate::config::{ProviderConfig, Secret};
use crate::http::encode::{write_content_length, write_header};
use crate::providers::{Credentials, UpstreamRequest};

/// How a kind addresses the chat completions endpoint and carries its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Addressing {
    /// `{base_url}/chat/completions`, `Authorization: Bearer <key>`.
    ChatCompletions,
    /// `{base_url}/openai/deployments/{model}/chat/completions?api-version=..`, `api-key`.
    AzureDeployment,
}

/// The provider's own key, whatever the client presented: a non-Anthropic provider never
/// receives the client's credential (configuration guarantees it has keys).
pub fn provider_key<'a>(credentials: Credentials<'a>) -> Option<&'a Secret> {
    match credentials {
        Credentials::ClientOwn { fallback } => fallback,
        Credentials::Provider(key) => key,
    }
}

/// Appends the upstream head of a translated request (a JSON body of `request.body_len`
/// bytes, for `request.model`, the model after `model_map`).
pub fn write_request_head(
    out: &mut Vec<u8>,
    addressing: Addressing,
    request: &UpstreamRequest<'_>,
) {
    let provider = request.provider;
    out.extend_from_slice(b"POST ");
    out.extend_from_slice(provider.base_url.base_path.as_bytes());
    match addressing {
        Addressing::ChatCompletions => out.extend_from_slice(b"/chat/completions"),
        Addressing::AzureDeployment => write_azure_path(out, provider, request.model),
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");
    write_header(out, "host", provider.base_url.host_header().as_bytes());
    write_header(out, "content-type", b"application/json");
    write_header(out, "accept", b"application/json, text/event-stream");
    write_content_length(out, request.body_len as u64);
    if let Some(key) = provider_key(request.credentials) {
        match addressing {
            Addressing::ChatCompletions => {
                out.extend_from_slice(b"authorization: Bearer ");
                out.extend_from_slice(key.expose().as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Addressing::AzureDeployment => write_header(out, "api-key", key.expose().as_bytes()),
        }
    }
    out.extend_from_slice(b"\r\n");
}

fn write_azure_path(out: &mut Vec<u8>, provider: &ProviderConfig, deployment: &str) {
    out.extend_from_slice(b"/openai/deployments/");
    percent_encode_segment(out, deployment);
    out.extend_from_slice(b"/chat/completions?api-version=");
    // Validated at start-up to letters, digits, `-`, `_`, `.`.
    out.extend_from_slice(crate::providers::azure_openai::api_version(provider).as_bytes());
}

/// A path segment: unreserved bytes as they are, everything else percent-encoded.
fn percent_encode_segment(out: &mut Vec<u8>, segment: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in segment.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deployment_name_is_one_escaped_path_segment() {
        let mut out = Vec::new();
        percent_encode_segment(&mut out, "gpt-5/x y?é");
        assert_eq!(out, b"gpt-5%2Fx%20y%3F%C3%A9");
    }
}
