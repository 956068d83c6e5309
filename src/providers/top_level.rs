//! Rewrites a JSON object's top level only (drop some keys, add others) by splicing the
//! original bytes of every kept value, so nested content — thinking signatures, tool inputs,
//! cache_control markers — reaches the cloud providers byte for byte.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// Why a body could not be rewritten (maps to 400 `invalid_request_error`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodyError {
    /// Not valid JSON (the parser's message).
    NotJson(String),
    /// Valid JSON but not an object.
    NotObject,
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::NotJson(msg) => write!(f, "request body is not valid JSON: {msg}"),
            BodyError::NotObject => f.write_str("request body must be a JSON object"),
        }
    }
}

/// One top-level member: the decoded key and the exact bytes of its value.
pub struct Member<'a> {
    pub key: Cow<'a, str>,
    pub value: &'a RawValue,
}

/// The top-level members of `body` in document order, values borrowed from `body`.
pub fn top_level_members(body: &[u8]) -> Result<Vec<Member<'_>>, BodyError> {
    let text = std::str::from_utf8(body).map_err(|e| BodyError::NotJson(e.to_string()))?;
    let mut de = serde_json::Deserializer::from_str(text);
    let members = de.deserialize_any(MembersVisitor).map_err(|e| {
        // A data error is the visitor refusing a valid non-object value.
        if e.is_data() {
            BodyError::NotObject
        } else {
            BodyError::NotJson(e.to_string())
        }
    })?;
    de.end().map_err(|e| BodyError::NotJson(e.to_string()))?;
    Ok(members)
}

struct MembersVisitor;

impl<'de> Visitor<'de> for MembersVisitor {
    type Value = Vec<Member<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::new();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let value: &'de RawValue = map.next_value()?;
            members.push(Member { key, value });
        }
        Ok(members)
    }
}

/// Writes `body` to `out` with the keys in `remove` and the keys of `add` dropped from the top
/// level and the `add` members (name, raw JSON value) appended, in that order. Kept members
/// keep their order and their value bytes; whitespace between members is not kept.
pub fn rewrite_top_level(
    body: &[u8],
    remove: &[&str],
    add: &[(&str, &str)],
    out: &mut Vec<u8>,
) -> Result<(), BodyError> {
    let members = top_level_members(body)?;
    out.reserve(body.len() + 64);
    out.push(b'{');
    let mut first = true;
    let mut comma = |out: &mut Vec<u8>| {
        if !first {
            out.push(b',');
        }
        first = false;
    };
    for member in &members {
        let key: &str = &member.key;
        if remove.contains(&key) || add.iter().any(|(name, _)| *name == key) {
            continue;
        }
        comma(out);
        write_json_string(key, out);
        out.push(b':');
        out.extend_from_slice(member.value.get().as_bytes());
    }
    for (name, value) in add {
        comma(out);
        write_json_string(name, out);
        out.push(b':');
        out.extend_from_slice(value.as_bytes());
    }
    out.push(b'}');
    Ok(())
}

/// Appends `text` as a JSON string literal.
pub fn write_json_string(text: &str, out: &mut Vec<u8>) {
    // Serialising a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

/// A JSON array of strings, as raw JSON text.
pub fn json_string_array<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = vec![b'['];
    for (index, item) in items.into_iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        write_json_string(item, &mut out);
    }
    out.push(b']');
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(body: &str, remove: &[&str], add: &[(&str, &str)]) -> Result<String, BodyError> {
        let mut out = Vec::new();
        rewrite_top_level(body.as_bytes(), remove, add, &mut out)?;
        Ok(String::from_utf8(out).expect("utf8"))
    }

    #[test]
    fn nested_bytes_survive_exactly() {
        let body = r#"{ "model" : "m", "messages":[{"role":"user","content":[{"type":"thinking","signature":"a\/b\u00e9","thinking":"x"}]}],
            "stream":true, "tools":[ {"input_schema":{"model":"nested stays","stream":1}} ] }"#;
        let got = rewrite(
            body,
            &["model", "stream"],
            &[("anthropic_version", r#""v""#)],
        )
        .expect("ok");
        assert_eq!(
            got,
            r#"{"messages":[{"role":"user","content":[{"type":"thinking","signature":"a\/b\u00e9","thinking":"x"}]}],"tools":[ {"input_schema":{"model":"nested stays","stream":1}} ],"anthropic_version":"v"}"#
        );
    }

    #[test]
    fn added_keys_replace_existing_ones() {
        let got = rewrite(
            r#"{"anthropic_version":"old","a":1}"#,
            &[],
            &[("anthropic_version", r#""new""#)],
        )
        .expect("ok");
        assert_eq!(got, r#"{"a":1,"anthropic_version":"new"}"#);
    }

    #[test]
    fn escaped_keys_are_matched_decoded() {
        let got = rewrite(r#"{"mod\u0065l":"m","b":2}"#, &["model"], &[]).expect("ok");
        assert_eq!(got, r#"{"b":2}"#);
    }

    #[test]
    fn empty_object_and_only_removed_keys() {
        assert_eq!(rewrite("{}", &["model"], &[]).expect("ok"), "{}");
        assert_eq!(
            rewrite(r#"{"model":"x"}"#, &["model"], &[("k", "1")]).expect("ok"),
            r#"{"k":1}"#
        );
    }

    #[test]
    fn bad_bodies_are_errors() {
        assert_eq!(rewrite("[1]", &[], &[]), Err(BodyError::NotObject));
        assert_eq!(rewrite("\"s\"", &[], &[]), Err(BodyError::NotObject));
        for bad in ["", "{", "{\"a\":}", "{\"a\":1} x", "{\"a\":1,}", "\u{0}"] {
            assert!(
                matches!(rewrite(bad, &[], &[]), Err(BodyError::NotJson(_))),
                "{bad:?}"
            );
        }
        let mut out = Vec::new();
        assert!(matches!(
            rewrite_top_level(b"{\"a\":\"\xff\"}", &[], &[], &mut out),
            Err(BodyError::NotJson(_))
        ));
    }

    #[test]
    fn string_arrays_escape() {
        assert_eq!(json_string_array(["a", "b\"c"]), r#"["a","b\"c"]"#);
        assert_eq!(json_string_array([]), "[]");
    }
}
