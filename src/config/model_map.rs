//! `model_map`: requested model names to the provider's own names (Azure deployments, Groq
//! model ids), kept in the file's order because the first matching entry wins. Keys are exact
//! names or globs (`*`, `?`); a name no entry matches goes upstream unchanged.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};

use super::glob::glob_match;

/// Ordered `requested → upstream` entries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModelMap(Vec<(String, String)>);

impl ModelMap {
    /// The upstream name for `requested`: the first entry whose key equals or matches it as a
    /// glob, else `requested` itself.
    pub fn resolve<'a>(&'a self, requested: &'a str) -> &'a str {
        self.0
            .iter()
            .find(|(from, _)| from == requested || glob_match(from, requested))
            .map_or(requested, |(_, to)| to.as_str())
    }

    /// The entry whose key is exactly `requested`.
    pub fn get(&self, requested: &str) -> Option<&String> {
        self.0
            .iter()
            .find(|(from, _)| from == requested)
            .map(|(_, to)| to)
    }

    /// Adds an entry after the others (replacing an entry with the same key in place).
    pub fn insert(&mut self, from: String, to: String) {
        match self.0.iter_mut().find(|(f, _)| *f == from) {
            Some(entry) => entry.1 = to,
            None => self.0.push((from, to)),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter().map(|(from, to)| (from, to))
    }

    pub fn values(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(_, to)| to)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> IntoIterator for &'a ModelMap {
    type Item = (&'a String, &'a String);
    type IntoIter = Box<dyn Iterator<Item = (&'a String, &'a String)> + 'a>;

    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

impl<'de> Deserialize<'de> for ModelMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = ModelMap;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table of model names to upstream model names")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ModelMap, A::Error> {
                let mut entries = ModelMap::default();
                while let Some((from, to)) = map.next_entry::<String, String>()? {
                    entries.insert(from, to);
                }
                Ok(entries)
            }
        }
        deserializer.deserialize_map(Entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct File {
        model_map: ModelMap,
    }

    fn parse(text: &str) -> ModelMap {
        toml::from_str::<File>(text).expect("toml").model_map
    }

    #[test]
    fn the_first_matching_entry_wins_in_file_order() {
        let map = parse(
            "[model_map]\n\"gpt-5*\" = \"first\"\n\"gpt-5\" = \"exact-later\"\n\"*\" = \"any\"",
        );
        assert_eq!(map.resolve("gpt-5"), "first");
        assert_eq!(map.resolve("gpt-5-mini"), "first");
        assert_eq!(map.resolve("other"), "any");
        let map = parse("[model_map]\n\"claude-*-haiku-?\" = \"llama\"\nexact = \"e\"");
        assert_eq!(map.resolve("claude-3-haiku-4"), "llama");
        assert_eq!(map.resolve("exact"), "e");
        assert_eq!(
            map.resolve("unmapped"),
            "unmapped",
            "unmapped names pass unchanged"
        );
        assert_eq!(map.get("exact").map(String::as_str), Some("e"));
    }
}
