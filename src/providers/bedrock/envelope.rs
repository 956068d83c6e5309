//! How a Messages request is addressed, re-bodied and authenticated for Bedrock's InvokeModel,
//! as pure functions: the path for a model id, the top-level body rewrite, and the headers
//! (SigV4 or a Bedrock API key) for one request at one instant.

use std::time::SystemTime;

use super::credentials::AwsCredentials;
use super::sigv4::{
    BEDROCK_SERVICE, SignableRequest, SigningKeys, SigningSettings, sign, uri_encode,
};
use crate::config::Secret;
use crate::providers::top_level::{BodyError, json_string_array, rewrite_top_level};

/// The `anthropic_version` Bedrock requires in the body.
pub const BEDROCK_ANTHROPIC_VERSION: &str = "bedrock-2023-05-31";

/// `https://bedrock-runtime.{region}.amazonaws.com`.
pub fn default_base_url(region: &str) -> String {
    format!("https://bedrock-runtime.{region}.amazonaws.com")
}

/// `/model/{modelId}/invoke` or `/invoke-with-response-stream`. The model id is one path
/// segment, so every byte outside RFC 3986's unreserved set is percent-encoded: `:` in
/// `...-v1:0` goes as `%3A` (as the AWS SDKs send it), `/` in an inference-profile ARN as
/// `%2F`. SigV4 then encodes the path once more for the canonical URI (`%253A`).
pub fn invoke_path(model_id: &str, stream: bool) -> String {
    let action = if stream {
        "invoke-with-response-stream"
    } else {
        "invoke"
    };
    format!("/model/{}/{action}", uri_encode(model_id, false))
}

/// The InvokeModel body: the client's body with `model` and `stream` removed and
/// `anthropic_version` plus (when any beta survived filtering) `anthropic_beta` added, all at
/// the top level; every other byte as the client sent it.
pub fn invoke_body(client_body: &[u8], betas: &[&str], out: &mut Vec<u8>) -> Result<(), BodyError> {
    let version = format!("\"{BEDROCK_ANTHROPIC_VERSION}\"");
    let beta_array;
    let mut add: Vec<(&str, &str)> = vec![("anthropic_version", &version)];
    if !betas.is_empty() {
        beta_array = json_string_array(betas.iter().copied());
        add.push(("anthropic_beta", &beta_array));
    }
    rewrite_top_level(
        client_body,
        &["model", "stream", "anthropic_beta"],
        &add,
        out,
    )
}

/// How requests to one Bedrock provider are authenticated.
#[derive(Clone, Copy, Debug)]
pub enum BedrockAuth<'a> {
    /// SigV4 with these credentials (static, or the chain's current snapshot).
    SigV4(&'a AwsCredentials),
    /// A Bedrock API key: `Authorization: Bearer`.
    ApiKey(&'a Secret),
}

/// The headers to add to one InvokeModel request. `host` is the `Host` header's value as
/// sent; `path` comes from [`invoke_path`]; `body` is the rewritten body; `time` is the clock
/// read once for this request. Content-Type is signed, so it must be sent as
/// `application/json`.
pub fn auth_headers(
    auth: BedrockAuth<'_>,
    region: &str,
    host: &str,
    path: &str,
    body: &[u8],
    time: SystemTime,
) -> Vec<(&'static str, String)> {
    match auth {
        BedrockAuth::ApiKey(key) => vec![("authorization", format!("Bearer {}", key.expose()))],
        BedrockAuth::SigV4(creds) => {
            let signed = sign(
                &SignableRequest {
                    method: "POST",
                    path,
                    query: "",
                    headers: &[("host", host), ("content-type", "application/json")],
                    body,
                },
                &SigningKeys {
                    access_key_id: &creds.access_key_id,
                    secret_access_key: creds.secret_access_key.expose(),
                    session_token: creds.session_token.as_ref().map(Secret::expose),
                },
                &SigningSettings {
                    region,
                    service: BEDROCK_SERVICE,
                    time,
                    normalize_path: true,
                    content_sha256_header: false,
                },
            );
            signed.headers
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn body(client: &str, betas: &[&str]) -> String {
        let mut out = Vec::new();
        invoke_body(client.as_bytes(), betas, &mut out).expect("ok");
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn paths() {
        assert_eq!(
            invoke_path("us.anthropic.claude-sonnet-4-5-20250929-v1:0", false),
            "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke"
        );
        assert_eq!(
            invoke_path("arn:aws:bedrock:us-east-1:123:inference-profile/x", true),
            "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123%3Ainference-profile%2Fx/invoke-with-response-stream"
        );
        assert_eq!(
            default_base_url("eu-west-1"),
            "https://bedrock-runtime.eu-west-1.amazonaws.com"
        );
    }

    #[test]
    fn body_rewrite_is_top_level_only() {
        let client = r#"{"model":"claude-sonnet-4-5","max_tokens":32000,"stream":true,"messages":[{"role":"user","content":"hi","model":"keep"}],"thinking":{"type":"adaptive"}}"#;
        assert_eq!(
            body(
                client,
                &["interleaved-thinking-2025-05-14", "effort-2025-11-24"]
            ),
            r#"{"max_tokens":32000,"messages":[{"role":"user","content":"hi","model":"keep"}],"thinking":{"type":"adaptive"},"anthropic_version":"bedrock-2023-05-31","anthropic_beta":["interleaved-thinking-2025-05-14","effort-2025-11-24"]}"#
        );
        assert_eq!(
            body(r#"{"model":"m","anthropic_beta":["x"],"messages":[]}"#, &[]),
            r#"{"messages":[],"anthropic_version":"bedrock-2023-05-31"}"#
        );
    }

    #[test]
    fn api_key_is_a_bearer_and_sigv4_signs() {
        let key = Secret::new("ABSK-key");
        let headers = auth_headers(
            BedrockAuth::ApiKey(&key),
            "us-east-1",
            "h",
            "/",
            b"",
            UNIX_EPOCH,
        );
        assert_eq!(
            headers,
            vec![("authorization", "Bearer ABSK-key".to_owned())]
        );
        let creds = AwsCredentials::new("AKID", Secret::new("secret"), None, None);
        let time = UNIX_EPOCH + Duration::from_secs(1_764_561_600);
        let headers = auth_headers(
            BedrockAuth::SigV4(&creds),
            "us-west-2",
            "h",
            "/model/m/invoke",
            b"{}",
            time,
        );
        assert_eq!(headers[0], ("x-amz-date", "20251201T040000Z".to_owned()));
        assert!(headers[1].1.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKID/20251201/us-west-2/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date, "
        ));
    }
}
