//! Answers `count_tokens` for models on providers that have no such endpoint, with an estimate
//! whose method is fixed and documented, so Claude Code gets a usable number instead of an
//! error.

use serde_json::Value;

/// Tokens counted for each image or non-text document block (Anthropic's published cost of a
/// full-size image, about 1,600 tokens).
pub const MEDIA_BLOCK_TOKENS: u64 = 1600;

/// UTF-8 bytes per estimated token.
pub const BYTES_PER_TOKEN: u64 = 4;

/// Estimates the input tokens of an Anthropic Messages (or count_tokens) request body.
///
/// Method: add up the UTF-8 bytes of every piece of text the model reads, namely the system
/// text, every text and thinking block, every tool_use block's name and compact input JSON,
/// every tool_result's text, and every tool definition's name, description and compact
/// input_schema JSON; the estimate is ceil(bytes / 4), plus 1,600 for each image or non-text
/// document block, and at least 1. Returns `None` when the body is not a JSON object.
pub fn estimate_input_tokens(body: &[u8]) -> Option<u64> {
    let request: Value = serde_json::from_slice(body).ok()?;
    let request = request.as_object()?;
    let mut tally = Tally::default();
    if let Some(system) = request.get("system") {
        tally.content(system);
    }
    for message in request
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(content) = message.get("content") {
            tally.content(content);
        }
    }
    for tool in request
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for field in ["name", "description"] {
            tally.text(tool.get(field));
        }
        if let Some(schema) = tool.get("input_schema") {
            tally.json(schema);
        }
    }
    Some((tally.bytes.div_ceil(BYTES_PER_TOKEN) + tally.media * MEDIA_BLOCK_TOKENS).max(1))
}

/// The count_tokens response body `{"input_tokens":N}` for a request body; `None` when it is
/// not a JSON object (the caller answers 400).
pub fn count_tokens_body(body: &[u8]) -> Option<Vec<u8>> {
    estimate_input_tokens(body).map(|n| format!("{{\"input_tokens\":{n}}}").into_bytes())
}

#[derive(Default)]
struct Tally {
    bytes: u64,
    media: u64,
}

impl Tally {
    fn text(&mut self, value: Option<&Value>) {
        if let Some(text) = value.and_then(Value::as_str) {
            self.bytes += text.len() as u64;
        }
    }

    fn json(&mut self, value: &Value) {
        self.bytes += serde_json::to_string(value).map_or(0, |s| s.len() as u64);
    }

    /// A string, or an array of content blocks.
    fn content(&mut self, content: &Value) {
        let blocks = match content {
            Value::String(text) => {
                self.bytes += text.len() as u64;
                return;
            }
            Value::Array(blocks) => blocks,
            _ => return,
        };
        for block in blocks {
            match block.get("type").and_then(Value::as_str) {
                Some("text") => self.text(block.get("text")),
                Some("thinking") => self.text(block.get("thinking")),
                Some("tool_use") => {
                    self.text(block.get("name"));
                    if let Some(input) = block.get("input") {
                        self.json(input);
                    }
                }
                Some("tool_result") => {
                    if let Some(inner) = block.get("content") {
                        self.content(inner);
                    }
                }
                Some("document")
                    if block.get("source").and_then(|s| s.get("type"))
                        == Some(&Value::from("text")) =>
                {
                    self.text(block.get("source").and_then(|s| s.get("data")));
                }
                Some("image" | "document") => self.media += 1,
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_over_four_rounded_up() {
        let body = br#"{"model":"m","system":"abcd","messages":[{"role":"user","content":"e"}]}"#;
        assert_eq!(estimate_input_tokens(body), Some(2));
        assert_eq!(count_tokens_body(body).unwrap(), br#"{"input_tokens":2}"#);
    }

    #[test]
    fn every_counted_piece_adds_up() {
        let body = serde_json::json!({
            "system": [{"type": "text", "text": "1234"}],
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "5678"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
                    {"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": "abcd"}]},
                    {"type": "document", "source": {"type": "text", "data": "wxyz"}},
                ]},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "hmmm", "signature": "zzzzzzzz"},
                    {"type": "tool_use", "id": "t", "name": "Bash", "input": {}},
                ]},
            ],
            "tools": [{"name": "Bash", "description": "runs", "input_schema": {}}],
        });
        let bytes = serde_json::to_vec(&body).unwrap();
        // 4+4+4+4+4 + (4+2) + (4+4+2) = 36 bytes → 9 tokens, plus one image.
        assert_eq!(estimate_input_tokens(&bytes), Some(9 + MEDIA_BLOCK_TOKENS));
    }

    #[test]
    fn empty_is_one_and_garbage_is_none() {
        assert_eq!(estimate_input_tokens(br#"{"messages":[]}"#), Some(1));
        assert_eq!(estimate_input_tokens(b"[1]"), None);
        assert_eq!(estimate_input_tokens(b"{"), None);
    }
}
