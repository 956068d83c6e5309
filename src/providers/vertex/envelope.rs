//! How a Messages request is addressed and re-bodied for Claude on Vertex AI, as pure functions:
//! the base URL for a location (`global` has no region prefix), the `rawPredict` /
//! `streamRawPredict` / `count-tokens:rawPredict` URLs, and the top-level body rewrite.

use std::fmt::Write as _;

use crate::providers::top_level::{BodyError, rewrite_top_level, write_json_string};

/// The `anthropic_version` Vertex requires in the body.
pub const VERTEX_ANTHROPIC_VERSION: &str = "vertex-2023-10-16";
/// The longest Google Cloud project id.
pub const MAX_PROJECT_LEN: usize = 30;
/// The longest location name accepted.
pub const MAX_LOCATION_LEN: usize = 63;

/// Where one Vertex provider sends requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VertexTarget {
    pub project: String,
    pub location: String,
    /// Includes `/v1`, no trailing slash.
    pub base_url: String,
}

/// `https://{location}-aiplatform.googleapis.com/v1`, or `https://aiplatform.googleapis.com/v1`
/// for `global` (the form the Anthropic SDK's Vertex client uses).
pub fn default_base_url(location: &str) -> String {
    if location == "global" {
        "https://aiplatform.googleapis.com/v1".to_owned()
    } else {
        format!("https://{location}-aiplatform.googleapis.com/v1")
    }
}

impl VertexTarget {
    /// Validates `project` and `location`; `base_url` defaults per [`default_base_url`].
    pub fn new(
        project: &str,
        location: &str,
        base_url: Option<&str>,
    ) -> Result<VertexTarget, String> {
        let valid = |text: &str, max: usize| {
            !text.is_empty()
                && text.len() <= max
                && text
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        };
        if !valid(project, MAX_PROJECT_LEN) {
            return Err(format!(
                "`project` must be 1 to {MAX_PROJECT_LEN} lower-case letters, digits or `-` (got `{project}`)"
            ));
        }
        if !valid(location, MAX_LOCATION_LEN) {
            return Err(format!(
                "`location` must be a region such as `us-east5` or `global`, at most {MAX_LOCATION_LEN} bytes (got `{location}`)"
            ));
        }
        let base_url = base_url
            .map(str::to_owned)
            .unwrap_or_else(|| default_base_url(location));
        Ok(VertexTarget {
            project: project.to_owned(),
            location: location.to_owned(),
            base_url: base_url.trim_end_matches('/').to_owned(),
        })
    }

    fn models_prefix(&self) -> String {
        format!(
            "{}/projects/{}/locations/{}/publishers/anthropic/models/",
            self.base_url, self.project, self.location
        )
    }

    /// `{base}/projects/{p}/locations/{l}/publishers/anthropic/models/{model}:rawPredict`, or
    /// `:streamRawPredict` when the client asked to stream.
    pub fn messages_url(&self, model: &str, stream: bool) -> String {
        let mut url = self.models_prefix();
        encode_model(model, &mut url);
        url.push_str(if stream {
            ":streamRawPredict"
        } else {
            ":rawPredict"
        });
        url
    }

    /// `{base}/projects/{p}/locations/{l}/publishers/anthropic/models/count-tokens:rawPredict`.
    pub fn count_tokens_url(&self) -> String {
        self.models_prefix() + "count-tokens:rawPredict"
    }
}

/// Model names (`claude-sonnet-4-5@20250929`) go into one path segment: `@` and RFC 3986
/// unreserved bytes as they are, anything else percent-encoded.
fn encode_model(model: &str, out: &mut String) {
    for &byte in model.as_bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'@') {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
}

/// The rawPredict body: the client's with `model` removed and `anthropic_version` added at the
/// top level (`stream` stays: it selects SSE).
pub fn messages_body(client_body: &[u8], out: &mut Vec<u8>) -> Result<(), BodyError> {
    let version = format!("\"{VERTEX_ANTHROPIC_VERSION}\"");
    rewrite_top_level(
        client_body,
        &["model"],
        &[("anthropic_version", &version)],
        out,
    )
}

/// The count-tokens body: `model` set to the Vertex model name (the endpoint reads it from the
/// body) and `anthropic_version` added.
pub fn count_tokens_body(
    client_body: &[u8],
    model: &str,
    out: &mut Vec<u8>,
) -> Result<(), BodyError> {
    let mut model_json = Vec::new();
    write_json_string(model, &mut model_json);
    let model_json = String::from_utf8_lossy(&model_json).into_owned();
    let version = format!("\"{VERTEX_ANTHROPIC_VERSION}\"");
    rewrite_top_level(
        client_body,
        &[],
        &[("model", &model_json), ("anthropic_version", &version)],
        out,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_for_regions_and_global() {
        let regional = VertexTarget::new("my-proj", "us-east5", None).expect("ok");
        assert_eq!(
            regional.messages_url("claude-sonnet-4-5@20250929", true),
            "https://us-east5-aiplatform.googleapis.com/v1/projects/my-proj/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict"
        );
        let global = VertexTarget::new("p", "global", None).expect("ok");
        assert_eq!(
            global.messages_url("claude-opus-4-1", false),
            "https://aiplatform.googleapis.com/v1/projects/p/locations/global/publishers/anthropic/models/claude-opus-4-1:rawPredict"
        );
        assert_eq!(
            global.count_tokens_url(),
            "https://aiplatform.googleapis.com/v1/projects/p/locations/global/publishers/anthropic/models/count-tokens:rawPredict"
        );
        let custom =
            VertexTarget::new("p", "europe-west1", Some("http://127.0.0.1:9/v1/")).expect("ok");
        assert_eq!(
            custom.messages_url("a/b c", false),
            "http://127.0.0.1:9/v1/projects/p/locations/europe-west1/publishers/anthropic/models/a%2Fb%20c:rawPredict"
        );
    }

    #[test]
    fn project_and_location_limits() {
        assert!(VertexTarget::new(&"a".repeat(MAX_PROJECT_LEN), "global", None).is_ok());
        assert!(VertexTarget::new(&"a".repeat(MAX_PROJECT_LEN + 1), "global", None).is_err());
        assert!(VertexTarget::new("p", &"a".repeat(MAX_LOCATION_LEN), None).is_ok());
        assert!(VertexTarget::new("p", &"a".repeat(MAX_LOCATION_LEN + 1), None).is_err());
        for (project, location) in [
            ("", "global"),
            ("P", "global"),
            ("p", ""),
            ("p", "us/east"),
            ("p/../x", "global"),
        ] {
            assert!(
                VertexTarget::new(project, location, None).is_err(),
                "{project} {location}"
            );
        }
    }

    #[test]
    fn bodies_rewrite_the_top_level_only() {
        let client = br#"{"model":"claude-sonnet-4-5","stream":true,"messages":[{"role":"user","content":[{"type":"text","text":"hi","model":"x"}]}]}"#;
        let mut out = Vec::new();
        messages_body(client, &mut out).expect("ok");
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            r#"{"stream":true,"messages":[{"role":"user","content":[{"type":"text","text":"hi","model":"x"}]}],"anthropic_version":"vertex-2023-10-16"}"#
        );
        let mut out = Vec::new();
        count_tokens_body(
            br#"{"model":"claude-sonnet-4-5","messages":[]}"#,
            "claude-sonnet-4-5@20250929",
            &mut out,
        )
        .expect("ok");
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            r#"{"messages":[],"model":"claude-sonnet-4-5@20250929","anthropic_version":"vertex-2023-10-16"}"#
        );
        assert_eq!(
            messages_body(b"[]", &mut Vec::new()),
            Err(BodyError::NotObject)
        );
    }
}
