//! Bedrock's streamed response turned into the Anthropic SSE stream the client expects: each
//! `chunk` frame's base64 event becomes `event: <type>\ndata: <json>\n\n` (the JSON bytes as
//! Bedrock sent them), exception frames become a typed [`BedrockError`], and the
//! `amazon-bedrock-invocationMetrics` Bedrock appends to the last event are kept for usage.
//! IO-free: bytes in, SSE bytes out.

use std::borrow::Cow;

use base64::Engine as _;

use super::errors::{BedrockError, ExceptionKind};
use super::eventstream::{FrameDecoder, Message};

/// What Bedrock counted for the invocation, from the last event's
/// `amazon-bedrock-invocationMetrics` (used when the events carry no usage).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InvocationMetrics {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_input_tokens: u64,
    pub cache_creation_input_tokens: u64,
}

/// The translator for one response stream.
#[derive(Debug, Default)]
pub struct BedrockSse {
    decoder: FrameDecoder,
    /// The current event's decoded JSON (reused: no allocation per event).
    decoded: Vec<u8>,
    events: u64,
    metrics: Option<InvocationMetrics>,
}

#[derive(serde::Deserialize)]
struct ChunkPayload<'a> {
    #[serde(borrow)]
    bytes: Cow<'a, str>,
}

#[derive(serde::Deserialize)]
struct EventPeek<'a> {
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
    #[serde(rename = "amazon-bedrock-invocationMetrics")]
    metrics: Option<MetricsJson>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetricsJson {
    #[serde(default)]
    input_token_count: u64,
    #[serde(default)]
    output_token_count: u64,
    #[serde(default)]
    cache_read_input_token_count: u64,
    #[serde(default)]
    cache_write_input_token_count: u64,
}

#[derive(serde::Deserialize)]
struct ExceptionPayload {
    #[serde(alias = "Message")]
    message: Option<String>,
}

impl BedrockSse {
    pub fn new() -> BedrockSse {
        BedrockSse::default()
    }

    /// Decodes `bytes` and appends the SSE events now complete to `out`. An error ends the
    /// stream: before any event it is an HTTP status to answer with (and maybe fail over on),
    /// after one it goes to the client as [`BedrockError::write_sse_event`].
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), BedrockError> {
        self.decoder.push(bytes);
        while let Some(message) = self.decoder.next_message()? {
            let before = out.len();
            // `translate` writes only once the event is known good, so an error leaves `out`
            // holding whole events only.
            if let Some(metrics) = translate(message, &mut self.decoded, out)? {
                self.metrics = Some(metrics);
            }
            if out.len() > before {
                self.events += 1;
            }
        }
        Ok(())
    }

    /// End of the upstream body: an error if it stopped inside a frame.
    pub fn finish(&self) -> Result<(), BedrockError> {
        self.decoder.finish().map_err(BedrockError::from)
    }

    /// Events written so far (0 means nothing reached the client: a status may still be sent).
    pub fn events_written(&self) -> u64 {
        self.events
    }

    /// Bedrock's own usage count, once the last event has arrived.
    pub fn invocation_metrics(&self) -> Option<InvocationMetrics> {
        self.metrics
    }
}

/// One frame to SSE bytes appended to `sse` (nothing for frames that carry no event). Returns the
/// invocation metrics when the event has them.
fn translate(
    message: Message<'_>,
    decoded: &mut Vec<u8>,
    sse: &mut Vec<u8>,
) -> Result<Option<InvocationMetrics>, BedrockError> {
    let headers = message.headers;
    match headers.message_type {
        Some("exception") => {
            let name = headers.exception_type.unwrap_or("unknownException");
            let message = serde_json::from_slice::<ExceptionPayload>(message.payload)
                .ok()
                .and_then(|p| p.message)
                .unwrap_or_else(|| String::from_utf8_lossy(message.payload).into_owned());
            return Err(BedrockError::Exception {
                kind: ExceptionKind::from_name(name),
                name: name.to_owned(),
                message,
            });
        }
        Some("error") => {
            let name = headers.error_code.unwrap_or("unknownError");
            return Err(BedrockError::Exception {
                kind: ExceptionKind::from_name(name),
                name: name.to_owned(),
                message: headers.error_message.unwrap_or_default().to_owned(),
            });
        }
        _ => {}
    }
    if headers.event_type != Some("chunk") {
        return Ok(None);
    }
    let payload: ChunkPayload<'_> = serde_json::from_slice(message.payload)
        .map_err(|_| BedrockError::BadChunk("payload is not {\"bytes\": ...}"))?;
    decoded.clear();
    base64::engine::general_purpose::STANDARD
        .decode_vec(payload.bytes.as_bytes(), decoded)
        .map_err(|_| BedrockError::BadChunk("bytes is not base64"))?;
    // Valid JSON holds raw line breaks only as whitespace between tokens; SSE data may not.
    for byte in decoded.iter_mut() {
        if *byte == b'\n' || *byte == b'\r' {
            *byte = b' ';
        }
    }
    let peek: EventPeek<'_> = serde_json::from_slice(decoded)
        .map_err(|_| BedrockError::BadChunk("event is not a JSON object with a type"))?;
    if peek.kind.is_empty() || peek.kind.bytes().any(|b| b == b'\n' || b == b'\r') {
        return Err(BedrockError::BadChunk(
            "event type is empty or holds a line break",
        ));
    }
    sse.extend_from_slice(b"event: ");
    sse.extend_from_slice(peek.kind.as_bytes());
    sse.extend_from_slice(b"\ndata: ");
    sse.extend_from_slice(decoded);
    sse.extend_from_slice(b"\n\n");
    let metrics = peek.metrics.map(|m| InvocationMetrics {
        input_tokens: m.input_token_count,
        output_tokens: m.output_token_count,
        cache_read_input_tokens: m.cache_read_input_token_count,
        cache_creation_input_tokens: m.cache_write_input_token_count,
    });
    Ok(metrics)
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
