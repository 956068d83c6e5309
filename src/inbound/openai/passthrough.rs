//! The one rewrite an OpenAI client's request gets on its way to an OpenAI-format upstream:
//! when the request is metered and streamed, `stream_options.include_usage` is turned on so the
//! stream ends with its usage (the client then receives that usage chunk, which OpenAI's spec
//! allows: `choices` empty, `usage` set). Bytes are spliced at the top level (or inside the
//! small `stream_options` object); nested content is never re-serialised. The model is swapped
//! in place with `crate::sse::substitute_model`, which reads only the top-level `model`.

use std::ops::Range;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::request::RequestError;

/// A JSON object's members in order, values unparsed.
struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de> serde::Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, &'de RawValue>()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(MembersVisitor)
    }
}

impl<'a> Members<'a> {
    fn parse(json: &'a [u8]) -> Result<Self, RequestError> {
        serde_json::from_slice(json).map_err(|e| RequestError::NotJson(e.to_string()))
    }

    /// The one member named `key`; a key given twice is refused (readers disagree on which
    /// wins).
    fn get(&self, key: &'static str) -> Result<Option<&'a RawValue>, RequestError> {
        let mut found = self.0.iter().filter(|(k, _)| k == key).map(|&(_, v)| v);
        let first = found.next();
        if found.next().is_some() {
            return Err(RequestError::invalid(key, "appears more than once"));
        }
        Ok(first)
    }
}

/// Where `raw` (borrowed from `body`) sits in `body`.
fn span_in(body: &[u8], raw: &RawValue) -> Range<usize> {
    let start = (raw.get().as_ptr() as usize).saturating_sub(body.as_ptr() as usize);
    start..start + raw.get().len()
}

fn splice(body: &[u8], at: Range<usize>, with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + with.len());
    out.extend_from_slice(body.get(..at.start).unwrap_or_default());
    out.extend_from_slice(with);
    out.extend_from_slice(body.get(at.end..).unwrap_or_default());
    out
}

/// Just past the `{` that opens the object at `at` in `body`.
fn after_open_brace(body: &[u8], at: usize) -> usize {
    at + body
        .get(at..)
        .and_then(|rest| rest.iter().position(|&b| b == b'{'))
        .unwrap_or(0)
        + 1
}

/// `body` with `stream_options.include_usage` set to `true`, or `None` when nothing needs to
/// change (the request does not stream, or already asks for usage). An explicit `false` is
/// overridden (metering needs the usage); `stream_options: null` becomes the object.
pub fn ensure_include_usage(body: &[u8]) -> Result<Option<Vec<u8>>, RequestError> {
    let top = Members::parse(body)?;
    if top.get("stream")?.map(RawValue::get) != Some("true") {
        return Ok(None);
    }
    let Some(options) = top.get("stream_options")? else {
        let at = after_open_brace(body, 0);
        return Ok(Some(splice(
            body,
            at..at,
            br#""stream_options":{"include_usage":true},"#,
        )));
    };
    let span = span_in(body, options);
    match options.get().as_bytes().first() {
        Some(b'n') => return Ok(Some(splice(body, span, br#"{"include_usage":true}"#))),
        Some(b'{') => {}
        _ => return Err(RequestError::wrong_type("stream_options", "an object")),
    }
    let members = Members::parse(options.get().as_bytes())?;
    let include = members.get("include_usage").map_err(|_| {
        RequestError::invalid("stream_options.include_usage", "appears more than once")
    })?;
    match include {
        Some(value) if value.get() == "true" => Ok(None),
        Some(value) => Ok(Some(splice(body, span_in(body, value), b"true"))),
        None => {
            let at = after_open_brace(body, span.start);
            let insert: &[u8] = if members.0.is_empty() {
                br#""include_usage":true"#
            } else {
                br#""include_usage":true,"#
            };
            Ok(Some(splice(body, at..at, insert)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn rewritten(body: &str) -> Option<Value> {
        ensure_include_usage(body.as_bytes())
            .unwrap()
            .map(|b| serde_json::from_slice(&b).unwrap())
    }

    #[test]
    fn adds_stream_options_when_absent_and_keeps_every_other_byte() {
        let body = r#"  {"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"h\u00e9 \"x\"  "}]}"#;
        let out = ensure_include_usage(body.as_bytes()).unwrap().unwrap();
        let out = String::from_utf8(out).unwrap();
        assert_eq!(
            out,
            r#"  {"stream_options":{"include_usage":true},"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"h\u00e9 \"x\"  "}]}"#
        );
    }

    #[test]
    fn completes_or_overrides_an_existing_stream_options() {
        let v = rewritten(r#"{"stream":true,"stream_options":{}}"#).unwrap();
        assert_eq!(v["stream_options"], json!({"include_usage": true}));
        let v = rewritten(r#"{"stream":true,"stream_options": { "x" : 1 }}"#).unwrap();
        assert_eq!(v["stream_options"], json!({"include_usage": true, "x": 1}));
        let v = rewritten(r#"{"stream":true,"stream_options":{"include_usage":false}}"#).unwrap();
        assert_eq!(v["stream_options"], json!({"include_usage": true}));
        let v = rewritten(r#"{"stream":true,"stream_options":null}"#).unwrap();
        assert_eq!(v["stream_options"], json!({"include_usage": true}));
        let body = r#"{"stream":true,"stream_options":{"include_usage":null,"a":[{"b":"}"}]}}"#;
        let out =
            String::from_utf8(ensure_include_usage(body.as_bytes()).unwrap().unwrap()).unwrap();
        assert_eq!(
            out,
            r#"{"stream":true,"stream_options":{"include_usage":true,"a":[{"b":"}"}]}}"#
        );
    }

    #[test]
    fn nothing_changes_when_not_streaming_or_already_asked() {
        for body in [
            r#"{"stream":false,"messages":[]}"#,
            r#"{"messages":[]}"#,
            r#"{"stream":true,"stream_options":{"include_usage":true}}"#,
            r#"{"stream":"true"}"#,
        ] {
            assert_eq!(
                ensure_include_usage(body.as_bytes()).unwrap(),
                None,
                "{body}"
            );
        }
    }

    #[test]
    fn bad_bodies_are_400s() {
        for (body, param) in [
            (r#"{"stream":true"#, None),
            (r#"[1]"#, None),
            (
                r#"{"stream":true,"stream_options":3}"#,
                Some("stream_options"),
            ),
            (
                r#"{"stream":true,"stream_options":{},"stream_options":{}}"#,
                Some("stream_options"),
            ),
            (r#"{"stream":true,"stream":true}"#, Some("stream")),
            (
                r#"{"stream":true,"stream_options":{"include_usage":true,"include_usage":false}}"#,
                Some("stream_options.include_usage"),
            ),
        ] {
            let e = ensure_include_usage(body.as_bytes()).unwrap_err();
            assert_eq!(e.param(), param, "{body}");
            assert_eq!(e.to_openai().status, 400);
        }
    }

    #[test]
    fn substitute_model_serves_openai_bodies() {
        use crate::providers::anthropic::{peek_request, substitute_model};
        let body = br#"{"model":"fast","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
        let peek = peek_request(body).unwrap();
        assert!(peek.stream);
        let out = substitute_model(body, peek.model_span.unwrap(), "gpt-4o-mini");
        assert_eq!(
            out,
            br#"{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}"#
        );
    }
}
