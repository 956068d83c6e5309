//! sluice: a thread-per-core AI gateway that Claude Code points `ANTHROPIC_BASE_URL` at.
//!
//! The crate is laid out along the request's path (see `DESIGN.md` §8 in the shared folder):
//!
//! - [`cli`]: the command line (`serve`, `check-config`, `keys`).
//! - [`config`]: TOML → validated, immutable [`config::Config`] (unknown keys are errors).
//! - [`governance`]: virtual keys, budgets and rate limits on per-shard counters, pricing, the ledger.
//! - [`runtime`]: shards (one glommio executor per core), start-up, mesh messages, shutdown, DNS.
//! - [`http`]: our own HTTP/1.1: IO-free head and body parsers, encoding, the server connection
//!   loop, and the upstream client (pools, TLS).
//! - [`sse`]: the incremental SSE parser, the Anthropic stream observer, and JSON peeks.
//! - [`proxy`]: the request flow of §2 as one function, the request context, the error type.
//! - [`providers`]: one file per provider kind (how to address, authenticate, build the request).
//! - [`mcp`]: the MCP gateway core: JSON-RPC codec, client sessions, tool filtering, upstream
//!   MCP clients (Streamable HTTP and stdio) run from helper threads.
//! - [`observe`]: per-shard metrics merged at scrape, the admin listener, the access log.
//!
//! A request enters in [`http::conn`], is handled top to bottom by [`proxy::flow`], travels
//! upstream through [`http::client`], and its response is relayed by [`proxy::relay`] while
//! [`sse::observer`] watches usage and tool calls on the side.

pub mod cli;
pub mod config;
pub mod governance;
pub mod http;
pub mod mcp;
pub mod observe;
pub mod providers;
pub mod proxy;
pub mod runtime;
pub mod sse;
