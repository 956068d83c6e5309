//! `[[mcp_servers]]` and `mcp_tools`: the upstream MCP servers sluice aggregates behind `/mcp`,
//! read from TOML and validated (names usable as tool prefixes, exactly one transport, secrets
//! resolved), plus the tool-glob lists on teams and virtual keys.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use super::secret::{Secret, resolve_secret};

/// Longest `[[mcp_servers]] name`: short enough that `<server>__<tool>` keeps most of the
/// spec's 128 characters for the tool's own name.
pub const MAX_MCP_SERVER_NAME_LEN: usize = 32;
/// `call_timeout_ms` when not given: one minute.
pub const DEFAULT_MCP_CALL_TIMEOUT_MS: u64 = 60_000;
/// Largest accepted `call_timeout_ms`: one hour.
pub const MAX_MCP_CALL_TIMEOUT_MS: u64 = 3_600_000;
/// Most `mcp_tools` globs on one team or key.
pub const MAX_MCP_TOOL_GLOBS: usize = 256;

/// One `[[mcp_servers]]` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMcpServer {
    pub name: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub command: Option<String>,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub call_timeout_ms: Option<u64>,
}

/// How sluice reaches an upstream MCP server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum McpTransportConfig {
    /// Streamable HTTP at `url`, with these extra request headers (values may be secrets).
    Http {
        url: String,
        headers: Vec<(String, Secret)>,
    },
    /// A child process speaking newline-delimited JSON-RPC on stdin/stdout.
    Stdio {
        command: String,
        args: Vec<String>,
        env: Vec<(String, Secret)>,
    },
}

/// One validated `[[mcp_servers]]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct McpServerConfig {
    /// The prefix of its tools' public names: `<name>__<tool>`.
    pub name: String,
    pub transport: McpTransportConfig,
    pub call_timeout: Duration,
}

/// Whether `name` may prefix tool names: 1..=`MAX_MCP_SERVER_NAME_LEN` of `A-Z a-z 0-9 - _`,
/// no `__` inside and no `_` at either end, so `<server>__<tool>` splits at its first `__`
/// and two servers can never produce the same public name.
pub fn valid_mcp_server_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_MCP_SERVER_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && !name.contains("__")
        && !name.starts_with('_')
        && !name.ends_with('_')
}

/// Validates every `[[mcp_servers]]` entry.
pub fn validate_mcp_servers(
    raw: Vec<RawMcpServer>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<McpServerConfig>, ConfigError> {
    let mut seen = HashSet::new();
    raw.into_iter()
        .enumerate()
        .map(|(index, server)| {
            let path = format!("mcp_servers[{index}]");
            if !valid_mcp_server_name(&server.name) {
                return Err(ConfigError::new(
                    format!("{path}.name"),
                    format!(
                        "`{}` is not a valid MCP server name: 1 to {MAX_MCP_SERVER_NAME_LEN} of \
                         A-Z a-z 0-9 - _, without `__` and not starting or ending with `_`",
                        server.name
                    ),
                ));
            }
            if !seen.insert(server.name.clone()) {
                return Err(ConfigError::new(
                    format!("{path}.name"),
                    format!("duplicate MCP server name `{}`", server.name),
                ));
            }
            let call_timeout_ms = server
                .call_timeout_ms
                .unwrap_or(DEFAULT_MCP_CALL_TIMEOUT_MS);
            if call_timeout_ms == 0 || call_timeout_ms > MAX_MCP_CALL_TIMEOUT_MS {
                return Err(ConfigError::new(
                    format!("{path}.call_timeout_ms"),
                    format!("must be between 1 and {MAX_MCP_CALL_TIMEOUT_MS}"),
                ));
            }
            let (name, transport) = validate_transport(&path, server, env)?;
            Ok(McpServerConfig {
                name,
                transport,
                call_timeout: Duration::from_millis(call_timeout_ms),
            })
        })
        .collect()
}

fn validate_transport(
    path: &str,
    server: RawMcpServer,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, McpTransportConfig), ConfigError> {
    let resolve = |field: &str, map: BTreeMap<String, String>| {
        map.into_iter()
            .map(|(name, spec)| {
                if name.is_empty() {
                    return Err(ConfigError::new(format!("{path}.{field}"), "empty name"));
                }
                resolve_secret(&spec, env)
                    .map(|secret| (name.clone(), secret))
                    .map_err(|e| ConfigError::new(format!("{path}.{field}.{name}"), e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()
    };
    let transport = match (server.url, server.command) {
        (Some(url), None) => {
            if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 8 {
                return Err(ConfigError::new(
                    format!("{path}.url"),
                    format!("`{url}` is not an http:// or https:// URL"),
                ));
            }
            if !server.args.is_empty() || !server.env.is_empty() {
                return Err(ConfigError::new(
                    format!("{path}.args"),
                    "`args` and `env` belong to a `command` server, not a `url` one",
                ));
            }
            McpTransportConfig::Http {
                url,
                headers: resolve("headers", server.headers)?,
            }
        }
        (None, Some(command)) => {
            if command.is_empty() {
                return Err(ConfigError::new(
                    format!("{path}.command"),
                    "command is empty",
                ));
            }
            if !server.headers.is_empty() {
                return Err(ConfigError::new(
                    format!("{path}.headers"),
                    "`headers` belong to a `url` server, not a `command` one",
                ));
            }
            McpTransportConfig::Stdio {
                command,
                args: server.args,
                env: resolve("env", server.env)?,
            }
        }
        (Some(_), Some(_)) => {
            return Err(ConfigError::new(
                path,
                "give either `url` (Streamable HTTP) or `command` (stdio), not both",
            ));
        }
        (None, None) => {
            return Err(ConfigError::new(
                path,
                "needs `url` (Streamable HTTP) or `command` (stdio)",
            ));
        }
    };
    Ok((server.name, transport))
}

/// Validates an `mcp_tools` glob list at `path`: `None` (no list) stays `None`.
pub fn validate_mcp_tools(
    path: &str,
    globs: Option<Vec<String>>,
) -> Result<Option<Vec<String>>, ConfigError> {
    let Some(globs) = globs else {
        return Ok(None);
    };
    if globs.len() > MAX_MCP_TOOL_GLOBS {
        return Err(ConfigError::new(
            path,
            format!("at most {MAX_MCP_TOOL_GLOBS} globs"),
        ));
    }
    if let Some(index) = globs.iter().position(|g| g.is_empty()) {
        return Err(ConfigError::new(format!("{path}[{index}]"), "empty glob"));
    }
    Ok(Some(globs))
}
