//! The MCP gateway core: `/mcp` aggregates every configured MCP server behind one Streamable
//! HTTP endpoint, each virtual key seeing and calling only the tools its `mcp_tools` globs allow.
//!
//! - [`jsonrpc`]: the IO-free JSON-RPC 2.0 codec, SSE framing and stdio line framing.
//! - [`server`]: one shard's `/mcp` handler ([`McpGateway`]): sessions, version checks,
//!   `initialize`, `ping`, `tools/list` (paged), `tools/call`, cancellation, GET streams, DELETE.
//! - [`session`]: session ids (which name their owner shard) and the mesh message that forwards
//!   a request to that shard.
//! - [`catalog`]: the aggregated tools under `<server>__<tool>` names; [`filter`]: per-key globs.
//! - [`upstream`]: sluice as an MCP client of each server (Streamable HTTP or stdio child), run
//!   on helper threads and reached from shards only through channels.
//! - [`error`]: the HTTP-level refusals and their statuses.

pub mod catalog;
pub mod error;
pub mod filter;
pub mod jsonrpc;
pub mod server;
pub mod session;
pub mod upstream;

#[cfg(test)]
mod jsonrpc_tests;
#[cfg(test)]
mod server_tests;

pub use catalog::{Catalog, CatalogTool, MAX_TOOL_NAME_LEN, NameProblem, TOOLS_PAGE_SIZE};
pub use error::McpError;
pub use filter::ToolPolicy;
pub use server::{
    CallGate, CallObserver, CallReport, Caller, DirectCall, DirectCaller, HttpMethod, McpGateway,
    McpReply, McpRequest, McpResponse, Placement,
};
pub use session::{ForwardedRequest, SUPPORTED_PROTOCOL_VERSIONS, owner_shard};
pub use upstream::{CallOutcome, Hub, HubEvent, HubHandle, UpstreamSession};

/// Largest `/mcp` request body.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Largest answer accepted from an upstream MCP server (a tool result over it is an error).
pub const MAX_RESULT_BYTES: usize = 8 * 1024 * 1024;
