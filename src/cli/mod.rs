//! The command line: `serve` runs the gateway, `check-config` validates a file, `keys` manages
//! virtual keys of a running gateway through its admin API, `audit` checks and reads an audit log.

pub mod admin_client;
pub mod audit;
pub mod keys;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;
use admin_client::AdminTarget;

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "A thread-per-core AI gateway for Claude Code"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (with no --config: the embedded default, 127.0.0.1:8080 → api.anthropic.com).
    Serve {
        /// A TOML configuration file (see examples/sluice.example.toml).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Validate a configuration file and print what it configures.
    CheckConfig {
        /// The TOML configuration file.
        file: PathBuf,
    },
    /// Create, list or revoke virtual keys on a running gateway (through its admin API).
    Keys {
        #[command(flatten)]
        admin: AdminArgs,
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Verify, tail or export an audit log directory.
    Audit {
        #[command(subcommand)]
        action: audit::AuditAction,
    },
}

#[derive(clap::Args)]
struct AdminArgs {
    /// The gateway's admin listener.
    #[arg(long, global = true, default_value = "http://127.0.0.1:9090")]
    admin_url: String,
    /// The admin token (default: the SLUICE_ADMIN_TOKEN environment variable).
    #[arg(
        long,
        global = true,
        env = "SLUICE_ADMIN_TOKEN",
        hide_env_values = true
    )]
    admin_token: Option<String>,
}

#[derive(Subcommand)]
enum KeysAction {
    /// Create a key; its secret is printed once and never stored.
    Create {
        #[arg(long)]
        id: String,
        #[arg(long)]
        team: String,
        #[arg(long)]
        customer: Option<String>,
        /// A budget as USD:RESET (reset 1m 5m 1h 1d 1w 1M 1Q 1Y); repeatable.
        #[arg(long = "budget")]
        budgets: Vec<String>,
        /// A rate limit as REQUESTS:TOKENS:WINDOW[:TOOL_CALLS] (any count may be empty; MCP
        /// tool calls are counted apart from requests); repeatable.
        #[arg(long = "rate-limit")]
        rate_limits: Vec<String>,
        /// Allowed models as provider/model globs, comma-separated.
        #[arg(long, value_delimiter = ',')]
        models: Vec<String>,
        /// MCP tools the key may list and call, as server__tool globs, comma-separated
        /// (without it the key has no list of its own: its team's decides).
        #[arg(long = "mcp-tools", value_delimiter = ',')]
        mcp_tools: Option<Vec<String>>,
        /// Expiry as an RFC 3339 UTC time, e.g. 2027-01-01T00:00:00Z.
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// List keys (never their secrets).
    List,
    /// Revoke a key: every shard refuses it from the next request on.
    Revoke { id: String },
}

impl Cli {
    /// Runs the command and returns the process exit code.
    pub fn run(self) -> ExitCode {
        match self.command {
            Command::CheckConfig { file } => check_config(&file),
            Command::Serve { config } => serve(config.as_deref()),
            Command::Audit { action } => audit::run(action),
            Command::Keys { admin, action } => match keys_command(&admin, action) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("sluice keys: {e}");
                    ExitCode::FAILURE
                }
            },
        }
    }
}

fn check_config(file: &std::path::Path) -> ExitCode {
    match Config::load(file) {
        Ok(config) => {
            println!("{}: ok", file.display());
            println!("{}", config.summary());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}: {e}", file.display());
            ExitCode::from(2)
        }
    }
}

fn serve(path: Option<&std::path::Path>) -> ExitCode {
    let config = match path {
        Some(path) => match Config::load(path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("sluice: {}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
        None => Config::embedded_default(),
    };
    let served = crate::runtime::serve(config, path.map(PathBuf::from), |ready| {
        let admin = ready
            .admin
            .map_or_else(|| "off".to_owned(), |a| a.to_string());
        // Tests and scripts read this first line to learn the bound ports.
        println!(
            "listening {} admin {} shards {}",
            ready.listen, admin, ready.shards
        );
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sluice: {e}");
            ExitCode::FAILURE
        }
    }
}

fn keys_command(admin: &AdminArgs, action: KeysAction) -> Result<(), String> {
    let target = AdminTarget::new(&admin.admin_url, admin.admin_token.clone())?;
    match action {
        KeysAction::Create {
            id,
            team,
            customer,
            budgets,
            rate_limits,
            models,
            mcp_tools,
            expires_at,
        } => {
            let body = keys::create_body(&keys::CreateKey {
                id,
                team,
                customer,
                budgets,
                rate_limits,
                models,
                mcp_tools,
                expires_at,
            })?;
            keys::call_and_print(&target, "POST", "/admin/keys", Some(&body))
        }
        KeysAction::List => keys::call_and_print(&target, "GET", "/admin/keys", None),
        KeysAction::Revoke { id } => {
            keys::call_and_print(&target, "DELETE", &format!("/admin/keys/{id}"), None)
        }
    }
}
