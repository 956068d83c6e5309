//! The `/v1/models` answer in both shapes, from a list of model names (the provider's models,
//! `model_map` keys, literal route names), each kept once, in first-seen order.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::error::write_optional;
use super::{write_json_string, write_u64};

fn unique<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = HashSet::new();
    names
        .into_iter()
        .filter(|name| seen.insert(*name))
        .collect()
}

/// Writes one entry per name, comma-separated.
fn write_entries(out: &mut Vec<u8>, names: &[&str], entry: impl Fn(&mut Vec<u8>, &str)) {
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        entry(out, name);
    }
}

/// Anthropic's shape: `{"data":[{"type":"model","id","display_name","created_at"}],
/// "has_more":false,"first_id","last_id"}`; `display_name` is the id, `created_at` (RFC 3339)
/// the same for every entry.
pub fn anthropic_models_body<'a>(
    names: impl IntoIterator<Item = &'a str>,
    created_at: &str,
) -> Vec<u8> {
    let names = unique(names);
    let mut out = Vec::with_capacity(64 + names.len() * 96);
    out.extend_from_slice(b"{\"data\":[");
    write_entries(&mut out, &names, |out, name| {
        out.extend_from_slice(b"{\"type\":\"model\",\"id\":");
        write_json_string(out, name);
        out.extend_from_slice(b",\"display_name\":");
        write_json_string(out, name);
        out.extend_from_slice(b",\"created_at\":");
        write_json_string(out, created_at);
        out.push(b'}');
    });
    out.extend_from_slice(b"],\"has_more\":false,\"first_id\":");
    write_optional(&mut out, names.first().copied());
    out.extend_from_slice(b",\"last_id\":");
    write_optional(&mut out, names.last().copied());
    out.push(b'}');
    out
}

/// The Anthropic provider's own model list (`body`, Anthropic's shape) with an entry added for
/// each of `names` it lacks (as [`anthropic_models_body`] writes them), and `last_id` moved to
/// the last entry; None when `body` is not such a list (it is then relayed as it came).
pub fn merge_anthropic_models<'a>(
    body: &[u8],
    names: impl IntoIterator<Item = &'a str>,
    created_at: &str,
) -> Option<Vec<u8>> {
    let mut list: Value = serde_json::from_slice(body).ok()?;
    let data = list.get_mut("data")?.as_array_mut()?;
    let mut seen: HashSet<String> = data
        .iter()
        .filter_map(|m| Some(m.get("id")?.as_str()?.to_owned()))
        .collect();
    for name in names {
        if seen.insert(name.to_owned()) {
            data.push(json!({"type": "model", "id": name, "display_name": name,
                "created_at": created_at}));
        }
    }
    let last = data.last().and_then(|m| m.get("id")).cloned();
    if let (Some(object), Some(last)) = (list.as_object_mut(), last) {
        object.insert("last_id".into(), last);
    }
    serde_json::to_vec(&list).ok()
}

/// OpenAI's shape: `{"object":"list","data":[{"id","object":"model","created","owned_by"}]}`.
pub fn openai_models_body<'a>(
    names: impl IntoIterator<Item = &'a str>,
    created: u64,
    owned_by: &str,
) -> Vec<u8> {
    let names = unique(names);
    let entries: Vec<(&str, u64, &str)> = names.iter().map(|n| (*n, created, owned_by)).collect();
    write_openai_list(&entries)
}

/// The Anthropic provider's own model list (`body`, Anthropic's shape) in OpenAI's shape: its
/// models first (`owned_by` = `provider_owner`, `created` read from `created_at`, else
/// `created`), then each of `names` it lacks (`owned_by` = `owner`). None when `body` is not
/// such a list.
pub fn openai_models_from_anthropic<'a>(
    body: &[u8],
    names: impl IntoIterator<Item = &'a str>,
    created: u64,
    provider_owner: &str,
    owner: &str,
) -> Option<Vec<u8>> {
    let list: Value = serde_json::from_slice(body).ok()?;
    let listed: Vec<(&str, u64)> = list
        .get("data")?
        .as_array()?
        .iter()
        .filter_map(|m| {
            let id = m.get("id")?.as_str()?;
            let at = m.get("created_at").and_then(Value::as_str);
            Some((id, at.and_then(unix_seconds).unwrap_or(created)))
        })
        .collect();
    let mut seen = HashSet::new();
    let provider = listed.into_iter().map(|(id, at)| (id, at, provider_owner));
    let configured = names.into_iter().map(|id| (id, created, owner));
    let entries: Vec<(&str, u64, &str)> = provider
        .chain(configured)
        .filter(|(id, _, _)| seen.insert(*id))
        .collect();
    Some(write_openai_list(&entries))
}

/// Seconds since the epoch of an RFC 3339 time (`2025-09-29T00:00:00Z`); None before 1970.
fn unix_seconds(rfc3339: &str) -> Option<u64> {
    let at = time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339);
    u64::try_from(at.ok()?.unix_timestamp()).ok()
}

/// Writes the list from `(id, created, owned_by)` entries.
fn write_openai_list(entries: &[(&str, u64, &str)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + entries.len() * 80);
    out.extend_from_slice(b"{\"object\":\"list\",\"data\":[");
    for (i, (id, created, owned_by)) in entries.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"id\":");
        write_json_string(&mut out, id);
        out.extend_from_slice(b",\"object\":\"model\",\"created\":");
        write_u64(&mut out, *created);
        out.extend_from_slice(b",\"owned_by\":");
        write_json_string(&mut out, owned_by);
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(body: Vec<u8>) -> Value {
        serde_json::from_slice(&body).unwrap()
    }

    #[test]
    fn anthropic_shape_deduplicates_in_order() {
        let names = [
            "claude-sonnet-4-5",
            "fast",
            "claude-sonnet-4-5",
            "team/\"odd\" é",
            "fast",
        ];
        let v = parsed(anthropic_models_body(names, "2025-01-01T00:00:00Z"));
        let ids: Vec<&str> = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["claude-sonnet-4-5", "fast", "team/\"odd\" é"]);
        assert_eq!(
            v["data"][1],
            json!({"type": "model", "id": "fast", "display_name": "fast", "created_at": "2025-01-01T00:00:00Z"})
        );
        assert_eq!(v["has_more"], false);
        assert_eq!(v["first_id"], "claude-sonnet-4-5");
        assert_eq!(v["last_id"], "team/\"odd\" é");
    }

    #[test]
    fn openai_shape_deduplicates_in_order() {
        let v = parsed(openai_models_body(["b", "a", "b"], 1_700_000_000, "sluice"));
        assert_eq!(
            v,
            json!({"object": "list", "data": [
                {"id": "b", "object": "model", "created": 1_700_000_000u64, "owned_by": "sluice"},
                {"id": "a", "object": "model", "created": 1_700_000_000u64, "owned_by": "sluice"},
            ]})
        );
    }

    #[test]
    fn empty_lists_are_valid() {
        let v = parsed(anthropic_models_body([], "t"));
        assert_eq!(
            v,
            json!({"data": [], "has_more": false, "first_id": null, "last_id": null})
        );
        let v = parsed(openai_models_body([], 0, "x"));
        assert_eq!(v, json!({"object": "list", "data": []}));
    }

    #[test]
    fn a_provider_list_gains_the_configured_names_it_lacks_once() {
        let provider = br#"{"data":[{"type":"model","id":"claude-a","display_name":"A","created_at":"2025-01-01T00:00:00Z"}],"has_more":false,"first_id":"claude-a","last_id":"claude-a"}"#;
        let merged =
            merge_anthropic_models(provider, ["fast", "claude-a", "sonnet", "fast"], "T").unwrap();
        let merged: Value = serde_json::from_slice(&merged).unwrap();
        let ids: Vec<&str> = merged["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["claude-a", "fast", "sonnet"]);
        assert_eq!(
            merged["data"][0]["display_name"], "A",
            "the provider's entry kept"
        );
        assert_eq!(
            merged["data"][1],
            json!({"type": "model", "id": "fast", "display_name": "fast", "created_at": "T"})
        );
        assert_eq!(merged["first_id"], "claude-a");
        assert_eq!(merged["last_id"], "sonnet");
        assert_eq!(merged["has_more"], false);
        assert!(merge_anthropic_models(b"not json", ["x"], "T").is_none());
        assert!(merge_anthropic_models(br#"{"error":{}}"#, ["x"], "T").is_none());
    }

    #[test]
    fn anthropic_list_in_openai_shape_keeps_the_provider_models_first() {
        let body = br#"{"data":[{"type":"model","id":"claude-a","display_name":"A","created_at":"2025-09-29T00:00:00Z"},{"type":"model","id":"claude-b","display_name":"B","created_at":"not a date"}],"has_more":false,"first_id":"claude-a","last_id":"claude-b"}"#;
        let names = ["fast", "claude-a", "fast"];
        let out = openai_models_from_anthropic(body, names, 7, "anthropic", "sluice");
        let v = parsed(out.expect("a list"));
        assert_eq!(
            v,
            json!({"object": "list", "data": [
                {"id": "claude-a", "object": "model", "created": 1_759_104_000u64, "owned_by": "anthropic"},
                {"id": "claude-b", "object": "model", "created": 7, "owned_by": "anthropic"},
                {"id": "fast", "object": "model", "created": 7, "owned_by": "sluice"},
            ]})
        );
    }

    #[test]
    fn a_body_that_is_not_a_list_is_none() {
        for body in [&b"not json"[..], b"{}", b"{\"data\":{}}", b"[]"] {
            assert!(openai_models_from_anthropic(body, ["x"], 0, "a", "s").is_none());
        }
    }
}
