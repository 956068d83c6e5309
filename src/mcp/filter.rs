//! Which MCP tools a caller may see and call: the `mcp_tools` glob lists of its virtual key and
//! team. A tool must match at every level that has a list; with no list anywhere, no tool.

use crate::config::glob_match;

/// The glob lists that apply to one caller (only the levels that have a list).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ToolPolicy {
    levels: Vec<Vec<String>>,
}

impl ToolPolicy {
    /// The policy from each level's list, `None` where a level has none.
    pub fn from_levels<'a>(levels: impl IntoIterator<Item = Option<&'a [String]>>) -> ToolPolicy {
        ToolPolicy {
            levels: levels
                .into_iter()
                .flatten()
                .map(<[String]>::to_vec)
                .collect(),
        }
    }

    /// A policy that allows nothing.
    pub fn none() -> ToolPolicy {
        ToolPolicy::default()
    }

    /// Whether `public_name` is allowed at every level that has a list (and some level has one).
    pub fn allows(&self, public_name: &str) -> bool {
        !self.levels.is_empty()
            && self
                .levels
                .iter()
                .all(|globs| globs.iter().any(|g| glob_match(g, public_name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(globs: &[&str]) -> Vec<String> {
        globs.iter().map(|g| g.to_string()).collect()
    }

    #[test]
    fn no_list_anywhere_allows_nothing() {
        assert!(!ToolPolicy::none().allows("github__get"));
        assert!(!ToolPolicy::from_levels([None, None]).allows("github__get"));
    }

    #[test]
    fn one_level_with_a_list_decides() {
        let key = list(&["github__*", "jira__get_*"]);
        let policy = ToolPolicy::from_levels([None, Some(&key[..])]);
        assert!(policy.allows("github__create_issue"));
        assert!(policy.allows("jira__get_issue"));
        assert!(!policy.allows("jira__delete_issue"));
        assert!(!policy.allows("files__read"));
    }

    #[test]
    fn every_level_with_a_list_must_allow() {
        let team = list(&["github__*", "jira__*"]);
        let key = list(&["github__get_*", "jira__*"]);
        let policy = ToolPolicy::from_levels([Some(&team[..]), Some(&key[..])]);
        assert!(policy.allows("github__get_repo"));
        assert!(
            !policy.allows("github__create_issue"),
            "the key narrows the team"
        );
        assert!(policy.allows("jira__search"));
        let narrow_team = list(&["jira__search"]);
        let policy = ToolPolicy::from_levels([Some(&narrow_team[..]), Some(&key[..])]);
        assert!(
            !policy.allows("github__get_repo"),
            "the team narrows the key"
        );
        assert!(policy.allows("jira__search"));
    }

    #[test]
    fn an_empty_list_allows_nothing_at_its_level() {
        let empty: Vec<String> = Vec::new();
        let all = list(&["*"]);
        let policy = ToolPolicy::from_levels([Some(&all[..]), Some(&empty[..])]);
        assert!(!policy.allows("github__get"));
    }
}
