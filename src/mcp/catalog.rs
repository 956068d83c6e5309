//! The aggregated tool catalog a shard serves: every upstream's tools under public names
//! `<server>__<tool>` (characters and length per the MCP spec), collisions detected, looked up
//! by name for `tools/call`, and paged with an opaque cursor for `tools/list`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use super::filter::ToolPolicy;
use super::jsonrpc::RpcError;

/// The spec's longest tool name (2025-11-25: "between 1 and 128 characters").
pub const MAX_TOOL_NAME_LEN: usize = 128;
/// Separator between the server prefix and the upstream tool name.
pub const NAME_SEPARATOR: &str = "__";
/// Tools per `tools/list` page.
pub const TOOLS_PAGE_SIZE: usize = 50;
/// Prefix of every cursor this catalog issues (the rest is the hex of the last name sent).
const CURSOR_PREFIX: &str = "after:";

/// One tool as a shard knows it.
#[derive(Clone, Debug, PartialEq)]
pub struct CatalogTool {
    /// `<server>__<tool>`.
    pub public_name: String,
    pub server: String,
    /// The name the upstream server knows it by.
    pub upstream_name: String,
    /// The upstream's tool definition, unchanged but for `name` (the public name).
    pub definition: Value,
}

/// Why an upstream tool is not offered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameProblem {
    /// Two upstream tools map to the same public name.
    Collision {
        public_name: String,
        first: (String, String),
        second: (String, String),
    },
    /// The public name would be longer than [`MAX_TOOL_NAME_LEN`].
    TooLong { server: String, tool: String },
    /// The definition has no string `name`.
    Unnamed { server: String },
}

impl fmt::Display for NameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameProblem::Collision {
                public_name,
                first,
                second,
            } => write!(
                f,
                "MCP tool name collision: `{}` on server `{}` and `{}` on server `{}` both \
                 become `{public_name}`",
                first.1, first.0, second.1, second.0
            ),
            NameProblem::TooLong { server, tool } => write!(
                f,
                "MCP tool `{tool}` on server `{server}` is skipped: `{server}{NAME_SEPARATOR}{tool}` \
                 is longer than {MAX_TOOL_NAME_LEN} characters"
            ),
            NameProblem::Unnamed { server } => {
                write!(f, "MCP server `{server}` listed a tool without a name")
            }
        }
    }
}

/// `<server>__<tool>`, with every character the spec does not allow in a tool name (anything
/// but `A-Z a-z 0-9 _ - .`) replaced by `_`; `None` when longer than the spec allows.
pub fn public_tool_name(server: &str, tool: &str) -> Option<String> {
    let mut name = String::with_capacity(server.len() + NAME_SEPARATOR.len() + tool.len());
    name.push_str(server);
    name.push_str(NAME_SEPARATOR);
    name.extend(tool.chars().map(|c| {
        if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
            c
        } else {
            '_'
        }
    }));
    (!tool.is_empty() && name.len() <= MAX_TOOL_NAME_LEN).then_some(name)
}

/// Every upstream's tools, sorted by public name.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    tools: Vec<Arc<CatalogTool>>,
    by_name: HashMap<String, usize>,
}

impl Catalog {
    /// Builds the catalog from each server's listed tools (server order, then listing order,
    /// decides which tool keeps a contested name); returns the problems found on the way.
    pub fn build(servers: &BTreeMap<String, Arc<Vec<Value>>>) -> (Catalog, Vec<NameProblem>) {
        let mut problems = Vec::new();
        let mut tools: Vec<CatalogTool> = Vec::new();
        let mut owner: HashMap<String, (String, String)> = HashMap::new();
        for (server, listed) in servers {
            for definition in listed.iter() {
                let Some(tool) = definition.get("name").and_then(Value::as_str) else {
                    problems.push(NameProblem::Unnamed {
                        server: server.clone(),
                    });
                    continue;
                };
                let Some(public_name) = public_tool_name(server, tool) else {
                    problems.push(NameProblem::TooLong {
                        server: server.clone(),
                        tool: tool.to_owned(),
                    });
                    continue;
                };
                let this = (server.clone(), tool.to_owned());
                if let Some(first) = owner.get(&public_name) {
                    problems.push(NameProblem::Collision {
                        public_name,
                        first: first.clone(),
                        second: this,
                    });
                    continue;
                }
                owner.insert(public_name.clone(), this);
                let mut definition = definition.clone();
                if let Value::Object(map) = &mut definition {
                    map.insert("name".into(), Value::String(public_name.clone()));
                }
                tools.push(CatalogTool {
                    public_name,
                    server: server.clone(),
                    upstream_name: tool.to_owned(),
                    definition,
                });
            }
        }
        tools.sort_by(|a, b| a.public_name.cmp(&b.public_name));
        let by_name = tools
            .iter()
            .enumerate()
            .map(|(i, t)| (t.public_name.clone(), i))
            .collect();
        let tools = tools.into_iter().map(Arc::new).collect();
        (Catalog { tools, by_name }, problems)
    }

    /// Builds the catalog, failing on the first collision (the start-up check).
    pub fn build_strict(
        servers: &BTreeMap<String, Arc<Vec<Value>>>,
    ) -> Result<Catalog, NameProblem> {
        let (catalog, problems) = Catalog::build(servers);
        match problems
            .into_iter()
            .find(|p| matches!(p, NameProblem::Collision { .. }))
        {
            Some(collision) => Err(collision),
            None => Ok(catalog),
        }
    }

    pub fn len(&self) -> usize {
        self.tools.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    /// The tool called `public_name`.
    pub fn get(&self, public_name: &str) -> Option<&Arc<CatalogTool>> {
        self.by_name.get(public_name).map(|&i| &self.tools[i])
    }

    /// One `tools/list` page for `policy`: the definitions after `cursor` and the next cursor
    /// when more allowed tools remain. An unreadable cursor is invalid params.
    pub fn page(
        &self,
        policy: &ToolPolicy,
        cursor: Option<&str>,
    ) -> Result<(Vec<Value>, Option<String>), RpcError> {
        let start = match cursor {
            None => 0,
            Some(cursor) => {
                let after = decode_cursor(cursor)
                    .ok_or_else(|| RpcError::invalid_params("Invalid cursor"))?;
                self.tools.partition_point(|t| t.public_name <= after)
            }
        };
        let mut allowed = self.tools[start..]
            .iter()
            .filter(|t| policy.allows(&t.public_name));
        let page: Vec<&Arc<CatalogTool>> = allowed.by_ref().take(TOOLS_PAGE_SIZE).collect();
        let next = match (allowed.next(), page.last()) {
            (Some(_), Some(last)) => Some(encode_cursor(&last.public_name)),
            _ => None,
        };
        Ok((page.iter().map(|t| t.definition.clone()).collect(), next))
    }
}

/// The cursor that resumes after `name`: opaque to clients, stable across catalog updates.
fn encode_cursor(name: &str) -> String {
    let mut cursor = String::with_capacity(CURSOR_PREFIX.len() + name.len() * 2);
    cursor.push_str(CURSOR_PREFIX);
    for byte in name.bytes() {
        cursor.push_str(&format!("{byte:02x}"));
    }
    cursor
}

fn decode_cursor(cursor: &str) -> Option<String> {
    let hex = cursor.strip_prefix(CURSOR_PREFIX)?.as_bytes();
    if hex.len() % 2 != 0 || hex.len() > MAX_TOOL_NAME_LEN * 2 {
        return None;
    }
    let bytes = hex
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn servers(list: &[(&str, Vec<Value>)]) -> BTreeMap<String, Arc<Vec<Value>>> {
        list.iter()
            .map(|(name, tools)| (name.to_string(), Arc::new(tools.clone())))
            .collect()
    }

    fn tool(name: &str) -> Value {
        json!({"name": name, "description": format!("the {name} tool"),
               "inputSchema": {"type": "object", "properties": {"x": {"type": "string"}}}})
    }

    #[test]
    fn names_are_prefixed_sanitized_and_limited() {
        assert_eq!(
            public_tool_name("gh", "create_issue").unwrap(),
            "gh__create_issue"
        );
        assert_eq!(
            public_tool_name("gh", "a/b c.d-e").unwrap(),
            "gh__a_b_c.d-e"
        );
        assert_eq!(public_tool_name("gh", ""), None);
        let at_limit = "t".repeat(MAX_TOOL_NAME_LEN - 4);
        assert_eq!(
            public_tool_name("gh", &at_limit).unwrap().len(),
            MAX_TOOL_NAME_LEN
        );
        assert_eq!(public_tool_name("gh", &format!("{at_limit}t")), None);
    }

    #[test]
    fn definitions_pass_through_with_the_public_name() {
        let (catalog, problems) = Catalog::build(&servers(&[("gh", vec![tool("get")])]));
        assert!(problems.is_empty());
        let entry = catalog.get("gh__get").unwrap();
        assert_eq!(entry.upstream_name, "get");
        assert_eq!(entry.server, "gh");
        let mut expected = tool("get");
        expected["name"] = json!("gh__get");
        assert_eq!(entry.definition, expected);
        assert!(catalog.get("get").is_none());
    }

    #[test]
    fn collisions_name_both_tools() {
        let input = servers(&[("gh", vec![tool("a/b"), tool("a_b"), tool("ok")])]);
        let error = Catalog::build_strict(&input).unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("`a/b`") && text.contains("`a_b`") && text.contains("gh__a_b"),
            "{text}"
        );
        let (catalog, problems) = Catalog::build(&input);
        assert_eq!(problems.len(), 1);
        assert_eq!(catalog.len(), 2, "the first keeps the name, the rest stay");
        let long = servers(&[(
            "gh",
            vec![tool(&"x".repeat(200)), json!({"description": "no name"})],
        )]);
        let (catalog, problems) = Catalog::build(&long);
        assert!(catalog.is_empty());
        assert!(matches!(problems[0], NameProblem::TooLong { .. }));
        assert!(matches!(problems[1], NameProblem::Unnamed { .. }));
        assert!(
            Catalog::build_strict(&long).is_ok(),
            "only collisions stop start-up"
        );
    }

    fn list_all(catalog: &Catalog, policy: &ToolPolicy) -> (Vec<String>, usize) {
        let mut names = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let (tools, next) = catalog.page(policy, cursor.as_deref()).unwrap();
            pages += 1;
            assert!(tools.len() <= TOOLS_PAGE_SIZE);
            names.extend(tools.iter().map(|t| t["name"].as_str().unwrap().to_owned()));
            match next {
                Some(next) => cursor = Some(next),
                None => return (names, pages),
            }
        }
    }

    #[test]
    fn pagination_walks_every_allowed_tool_once() {
        let many: Vec<Value> = (0..TOOLS_PAGE_SIZE * 2 + 1)
            .map(|i| tool(&format!("t{i:03}")))
            .collect();
        let (catalog, _) = Catalog::build(&servers(&[("a", many), ("b", vec![tool("x")])]));
        let everything = ToolPolicy::from_levels([Some(&["*".to_owned()][..])]);
        let (names, pages) = list_all(&catalog, &everything);
        assert_eq!(names.len(), TOOLS_PAGE_SIZE * 2 + 2);
        assert_eq!(pages, 3);
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, names);
        // Exactly one page's worth: no next cursor.
        let exact: Vec<Value> = (0..TOOLS_PAGE_SIZE)
            .map(|i| tool(&format!("t{i:03}")))
            .collect();
        let (catalog, _) = Catalog::build(&servers(&[("a", exact)]));
        let (names, pages) = list_all(&catalog, &everything);
        assert_eq!((names.len(), pages), (TOOLS_PAGE_SIZE, 1));
        let one_more: Vec<Value> = (0..=TOOLS_PAGE_SIZE)
            .map(|i| tool(&format!("t{i:03}")))
            .collect();
        let (catalog, _) = Catalog::build(&servers(&[("a", one_more)]));
        assert_eq!(
            list_all(&catalog, &everything),
            (
                (0..=TOOLS_PAGE_SIZE)
                    .map(|i| format!("a__t{i:03}"))
                    .collect(),
                2
            )
        );
    }

    #[test]
    fn pages_hold_only_allowed_tools_and_bad_cursors_are_invalid_params() {
        let many: Vec<Value> = (0..TOOLS_PAGE_SIZE * 2)
            .map(|i| tool(&format!("t{i:03}")))
            .collect();
        let (catalog, _) = Catalog::build(&servers(&[("a", many), ("b", vec![tool("x")])]));
        let only_b = ToolPolicy::from_levels([Some(&["b__*".to_owned()][..])]);
        let (names, pages) = list_all(&catalog, &only_b);
        assert_eq!((names, pages), (vec!["b__x".to_owned()], 1));
        for bad in ["", "after:zz", "after:6", "xyz", "after:ff"] {
            let error = catalog.page(&only_b, Some(bad)).unwrap_err();
            assert_eq!(error.code, super::super::jsonrpc::INVALID_PARAMS, "{bad}");
        }
    }
}
