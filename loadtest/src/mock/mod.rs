//! The mock upstream: a script (timing, shape, faults), responses rendered from it once, and a
//! thread-per-core server that writes them; plus a mock MCP server for tools/call benchmarks.

pub mod mcp;
pub mod responses;
pub mod route;
pub mod script;
pub mod server;
