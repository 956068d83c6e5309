//! sluice: a thread-per-core AI gateway that Claude Code points `ANTHROPIC_BASE_URL` at.
//!
//! The crate is laid out in layers whose imports point one way, downwards (the map and the
//! request flow are in docs/ARCHITECTURE.md):
//!
//! - [`config`]: TOML → validated, immutable [`config::Config`] (unknown keys are errors).
//! - [`http`]: our own HTTP/1.1: IO-free head and body parsers, encoding, and the server
//!   connection loop, generic over its transport and its handler. [`sse`]: the SSE parser.
//!   [`json`]: small JSON writers. [`date`]: civil dates.
//! - [`governance`]: virtual keys, budgets and rate limits on per-shard counters, pricing, the
//!   ledger. [`error`]: the one client-facing error type.
//! - [`observe`]: per-shard metrics, the Prometheus text, the access log, fed plain records.
//! - [`inbound`]: client API formats other than Anthropic's (OpenAI Chat Completions), translated
//!   to and from the Anthropic dialect.
//! - [`mcp`]: the MCP gateway: JSON-RPC codec, client sessions, tool filtering, upstream MCP
//!   clients (Streamable HTTP and stdio) run from helper threads.
//! - [`providers`]: one module per provider kind behind one seam (envelope and dialect, the
//!   response codec), and their registry. [`routing`]: route, target and key choice.
//!   [`upstream`]: the HTTP client to providers (pools, TLS, DNS).
//! - [`proxy`]: the request flow as one function, the relay, the request context, its state.
//! - [`runtime`]: shards (one executor pinned per core), listeners, admin, mesh, shutdown;
//!   [`runtime::io`] is the only door to the async runtime. [`cli`]: the command line.
//!
//! A request enters in [`http::conn`], is handled top to bottom by [`proxy::flow`], travels
//! upstream through [`upstream`], and its response is relayed by [`proxy::relay`] through the
//! provider's response codec, which reads usage and tool calls on the side.

pub mod cli;
pub mod config;
pub mod date;
pub mod error;
pub mod governance;
pub mod http;
pub mod inbound;
pub mod json;
pub mod mcp;
pub mod observe;
pub mod providers;
pub mod proxy;
pub mod routing;
pub mod runtime;
pub mod sse;
pub mod upstream;
