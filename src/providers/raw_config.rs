//! Typed reads of a provider's kind-specific options from its raw TOML table, with errors that
//! name the key, shared by the cloud provider kinds that validate their own options.

use std::collections::BTreeMap;

/// The longest model name or cloud model id in `model_map`.
pub const MAX_MODEL_ID_LEN: usize = 512;
/// The most `model_map` entries.
pub const MAX_MODEL_MAP_ENTRIES: usize = 1024;

/// Rejects keys outside `known`.
pub fn reject_unknown(table: &toml::Table, known: &[&str], kind: &str) -> Result<(), String> {
    match table.keys().find(|key| !known.contains(&key.as_str())) {
        Some(key) => Err(format!(
            "`{key}` is not an option of kind = \"{kind}\" (options: {})",
            known.join(", ")
        )),
        None => Ok(()),
    }
}

/// An optional non-empty string.
pub fn opt_str<'a>(table: &'a toml::Table, key: &str) -> Result<Option<&'a str>, String> {
    match table.get(key) {
        None => Ok(None),
        Some(toml::Value::String(text)) if text.is_empty() => Err(format!("`{key}` is empty")),
        Some(toml::Value::String(text)) => Ok(Some(text)),
        Some(other) => Err(format!(
            "`{key}` must be a string, not {}",
            other.type_str()
        )),
    }
}

/// A required non-empty string.
pub fn req_str<'a>(table: &'a toml::Table, key: &str) -> Result<&'a str, String> {
    opt_str(table, key)?.ok_or_else(|| format!("`{key}` is required"))
}

/// An optional array of strings (empty when absent).
pub fn str_array(table: &toml::Table, key: &str) -> Result<Vec<String>, String> {
    match table.get(key) {
        None => Ok(Vec::new()),
        Some(toml::Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                toml::Value::String(text) => Ok(text.clone()),
                other => Err(format!(
                    "`{key}` entries must be strings, not {}",
                    other.type_str()
                )),
            })
            .collect(),
        Some(other) => Err(format!(
            "`{key}` must be an array of strings, not {}",
            other.type_str()
        )),
    }
}

/// Requested model names → the cloud's model ids (`model_map`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModelMap(pub BTreeMap<String, String>);

impl ModelMap {
    /// The cloud id for a requested name; unmapped names pass as they are.
    pub fn resolve<'a>(&'a self, requested: &'a str) -> &'a str {
        self.0
            .get(requested)
            .map(String::as_str)
            .unwrap_or(requested)
    }
}

/// `model_map = { "claude-sonnet-4-5" = "us.anthropic...-v1:0", ... }`.
pub fn model_map(table: &toml::Table) -> Result<ModelMap, String> {
    let Some(value) = table.get("model_map") else {
        return Ok(ModelMap::default());
    };
    let toml::Value::Table(entries) = value else {
        return Err(format!(
            "`model_map` must be a table of names to model ids, not {}",
            value.type_str()
        ));
    };
    if entries.len() > MAX_MODEL_MAP_ENTRIES {
        return Err(format!(
            "`model_map` has {} entries (at most {MAX_MODEL_MAP_ENTRIES})",
            entries.len()
        ));
    }
    let mut map = BTreeMap::new();
    for (name, id) in entries {
        let toml::Value::String(id) = id else {
            return Err(format!("`model_map.{name}` must be a string"));
        };
        for text in [name, id] {
            if text.is_empty()
                || text.len() > MAX_MODEL_ID_LEN
                || text.chars().any(char::is_control)
            {
                return Err(format!(
                    "`model_map` entry `{name}` = `{id}`: names and ids must be 1 to {MAX_MODEL_ID_LEN} bytes without control characters"
                ));
            }
        }
        map.insert(name.clone(), id.clone());
    }
    Ok(ModelMap(map))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        text.parse().expect("toml")
    }

    #[test]
    fn typed_reads_name_the_key() {
        let t = table("a = \"x\"\nb = 1\nc = \"\"\nd = [\"p\", 2]\ne = [\"q\"]");
        assert_eq!(opt_str(&t, "a"), Ok(Some("x")));
        assert_eq!(opt_str(&t, "zz"), Ok(None));
        assert!(
            opt_str(&t, "b")
                .expect_err("int")
                .contains("`b` must be a string")
        );
        assert!(
            req_str(&t, "c")
                .expect_err("empty")
                .contains("`c` is empty")
        );
        assert!(
            req_str(&t, "zz")
                .expect_err("missing")
                .contains("`zz` is required")
        );
        assert!(str_array(&t, "d").is_err());
        assert_eq!(str_array(&t, "e"), Ok(vec!["q".to_owned()]));
        assert!(
            reject_unknown(&t, &["a"], "bedrock")
                .expect_err("unknown")
                .contains("kind = \"bedrock\"")
        );
    }

    #[test]
    fn model_map_limits() {
        let id = "a".repeat(MAX_MODEL_ID_LEN);
        assert!(model_map(&table(&format!("model_map = {{ m = \"{id}\" }}"))).is_ok());
        assert!(model_map(&table(&format!("model_map = {{ m = \"{id}a\" }}"))).is_err());
        let mut entries: Vec<String> = (0..MAX_MODEL_MAP_ENTRIES)
            .map(|i| format!("m{i} = \"x\""))
            .collect();
        assert!(model_map(&table(&format!("[model_map]\n{}", entries.join("\n")))).is_ok());
        entries.push("over = \"x\"".into());
        assert!(model_map(&table(&format!("[model_map]\n{}", entries.join("\n")))).is_err());
        assert!(model_map(&table("model_map = { m = 1 }")).is_err());
        assert!(model_map(&table("model_map = 3")).is_err());
    }
}
