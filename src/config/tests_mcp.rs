//! Tests for `[[mcp_servers]]` and `mcp_tools`: accepted shapes, every rejection with its path,
//! and the limits at and one past their values.

use std::time::Duration;

use super::*;

fn env(name: &str) -> Option<String> {
    match name {
        "GITHUB_MCP_TOKEN" => Some("Bearer ghp_secret".to_owned()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml_str_with_env(text, &env)
}

fn error_of(text: &str) -> ConfigError {
    parse(text).expect_err("config should be rejected")
}

#[test]
fn http_and_stdio_servers_parse_with_defaults_and_secrets() {
    let config = parse(
        r#"
[[mcp_servers]]
name = "github"
url = "https://mcp.example.com/mcp"
headers = { Authorization = "env:GITHUB_MCP_TOKEN", X-Team = "platform" }

[[mcp_servers]]
name = "files"
command = "python3"
args = ["server.py", "--root", "/srv"]
env = { ROOT = "/srv" }
call_timeout_ms = 1500
"#,
    )
    .unwrap();
    assert_eq!(config.mcp_servers.len(), 2);
    let github = &config.mcp_servers[0];
    assert_eq!(github.name, "github");
    assert_eq!(
        github.call_timeout,
        Duration::from_millis(DEFAULT_MCP_CALL_TIMEOUT_MS)
    );
    let McpTransportConfig::Http { url, headers } = &github.transport else {
        panic!("http transport expected");
    };
    assert_eq!(url, "https://mcp.example.com/mcp");
    assert_eq!(headers[0].0, "Authorization");
    assert_eq!(headers[0].1.expose(), "Bearer ghp_secret");
    assert_eq!(headers[1].1.expose(), "platform");
    let files = &config.mcp_servers[1];
    assert_eq!(files.call_timeout, Duration::from_millis(1500));
    let McpTransportConfig::Stdio { command, args, env } = &files.transport else {
        panic!("stdio transport expected");
    };
    assert_eq!(command, "python3");
    assert_eq!(args, &["server.py", "--root", "/srv"]);
    assert_eq!(env[0].0, "ROOT");
    assert!(
        !format!("{config:?}").contains("ghp_secret"),
        "secrets never print"
    );
}

#[test]
fn no_mcp_servers_is_the_default() {
    assert!(parse("").unwrap().mcp_servers.is_empty());
    assert_eq!(parse("").unwrap(), Config::embedded_default());
}

#[test]
fn unknown_keys_name_their_path() {
    let error = error_of("[[mcp_servers]]\nname = \"a\"\nurl = \"http://x/mcp\"\nurll = 1\n");
    assert_eq!(error.path, "mcp_servers[0].urll");
}

#[test]
fn transport_must_be_exactly_one() {
    let both = error_of("[[mcp_servers]]\nname = \"a\"\nurl = \"http://x/mcp\"\ncommand = \"c\"\n");
    assert_eq!(both.path, "mcp_servers[0]");
    assert!(both.message.contains("not both"));
    let neither = error_of("[[mcp_servers]]\nname = \"a\"\n");
    assert_eq!(neither.path, "mcp_servers[0]");
    let bad_url = error_of("[[mcp_servers]]\nname = \"a\"\nurl = \"ftp://x\"\n");
    assert_eq!(bad_url.path, "mcp_servers[0].url");
    let empty_command = error_of("[[mcp_servers]]\nname = \"a\"\ncommand = \"\"\n");
    assert_eq!(empty_command.path, "mcp_servers[0].command");
    let headers_on_stdio =
        error_of("[[mcp_servers]]\nname = \"a\"\ncommand = \"c\"\nheaders = { A = \"b\" }\n");
    assert_eq!(headers_on_stdio.path, "mcp_servers[0].headers");
    let args_on_http =
        error_of("[[mcp_servers]]\nname = \"a\"\nurl = \"http://x/mcp\"\nargs = [\"x\"]\n");
    assert_eq!(args_on_http.path, "mcp_servers[0].args");
}

#[test]
fn missing_secrets_name_the_header() {
    let error = error_of(
        "[[mcp_servers]]\nname = \"a\"\nurl = \"http://x/mcp\"\nheaders = { Authorization = \"env:NOPE\" }\n",
    );
    assert_eq!(error.path, "mcp_servers[0].headers.Authorization");
    assert!(error.message.contains("NOPE"));
    let error =
        error_of("[[mcp_servers]]\nname = \"a\"\ncommand = \"c\"\nenv = { T = \"env:EMPTY\" }\n");
    assert_eq!(error.path, "mcp_servers[0].env.T");
}

#[test]
fn server_names_must_prefix_tools_unambiguously() {
    for bad in ["", "a__b", "_a", "a_", "a.b", "a b", "ä"] {
        let error = error_of(&format!(
            "[[mcp_servers]]\nname = \"{bad}\"\nurl = \"http://x/mcp\"\n"
        ));
        assert_eq!(error.path, "mcp_servers[0].name", "{bad:?}");
    }
    for good in ["github", "a_b", "jira-cloud", "A1"] {
        assert!(valid_mcp_server_name(good), "{good}");
    }
    let at_limit = "a".repeat(MAX_MCP_SERVER_NAME_LEN);
    assert!(valid_mcp_server_name(&at_limit));
    assert!(!valid_mcp_server_name(&format!("{at_limit}a")));
    let duplicate = error_of(
        "[[mcp_servers]]\nname = \"a\"\nurl = \"http://x/mcp\"\n[[mcp_servers]]\nname = \"a\"\ncommand = \"c\"\n",
    );
    assert_eq!(duplicate.path, "mcp_servers[1].name");
}

#[test]
fn call_timeout_limits() {
    let with = |ms: u64| {
        parse(&format!(
            "[[mcp_servers]]\nname = \"a\"\ncommand = \"c\"\ncall_timeout_ms = {ms}\n"
        ))
    };
    assert_eq!(
        with(MAX_MCP_CALL_TIMEOUT_MS).unwrap().mcp_servers[0].call_timeout,
        Duration::from_millis(MAX_MCP_CALL_TIMEOUT_MS)
    );
    assert_eq!(
        with(MAX_MCP_CALL_TIMEOUT_MS + 1).unwrap_err().path,
        "mcp_servers[0].call_timeout_ms"
    );
    assert_eq!(with(0).unwrap_err().path, "mcp_servers[0].call_timeout_ms");
    assert!(with(1).is_ok());
}

const GOVERNED: &str = "[governance]\nrequire_virtual_key = false\n[[teams]]\nid = \"t\"\n";

#[test]
fn mcp_tools_on_teams_and_keys() {
    let config = parse(&format!(
        "{GOVERNED}mcp_tools = [\"github__*\"]\n[[virtual_keys]]\nid = \"k\"\nsecret = \"s\"\nteam = \"t\"\nmcp_tools = [\"github__get_*\", \"jira__*\"]\n[[virtual_keys]]\nid = \"n\"\nsecret = \"s2\"\nteam = \"t\"\n"
    ))
    .unwrap();
    assert_eq!(
        config.teams[0].mcp_tools,
        Some(vec!["github__*".to_owned()])
    );
    assert_eq!(
        config.virtual_keys[0].mcp_tools,
        Some(vec!["github__get_*".to_owned(), "jira__*".to_owned()])
    );
    assert_eq!(config.virtual_keys[1].mcp_tools, None);
    let empty_glob = error_of(&format!(
        "{GOVERNED}[[virtual_keys]]\nid = \"k\"\nsecret = \"s\"\nteam = \"t\"\nmcp_tools = [\"a\", \"\"]\n"
    ));
    assert_eq!(empty_glob.path, "virtual_keys[0].mcp_tools[1]");
    let globs = |n: usize| {
        let list = vec!["\"a__*\""; n].join(",");
        parse(&format!("{GOVERNED}mcp_tools = [{list}]\n"))
    };
    assert!(globs(MAX_MCP_TOOL_GLOBS).is_ok());
    assert_eq!(
        globs(MAX_MCP_TOOL_GLOBS + 1).unwrap_err().path,
        "teams[0].mcp_tools"
    );
    let typo = error_of(&format!("{GOVERNED}mcp_tool = [\"a\"]\n"));
    assert_eq!(typo.path, "teams[0].mcp_tool");
}

#[test]
fn shipped_example_has_mcp_servers_and_tool_globs() {
    let text = include_str!("../../examples/sluice.example.toml");
    let config =
        Config::from_toml_str_with_env(text, &|name| Some(format!("value-of-{name}"))).unwrap();
    let names: Vec<&str> = config.mcp_servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["github", "files"]);
    assert!(matches!(
        config.mcp_servers[0].transport,
        McpTransportConfig::Http { .. }
    ));
    assert!(matches!(
        config.mcp_servers[1].transport,
        McpTransportConfig::Stdio { .. }
    ));
    assert!(config.teams.iter().any(|t| t.mcp_tools.is_some()));
    assert!(config.virtual_keys.iter().any(|k| k.mcp_tools.is_some()));
}
