//! The seam between the MCP client logic and the bytes: a transport connects, sends encoded
//! JSON-RPC messages and reports what comes back as events. Both run on helper threads (stdio
//! child processes, a blocking HTTP client for the handshake, listings and the server's
//! stream); an HTTP transport also tells its session, so the shards can send `tools/call`
//! themselves over their own pooled connections.

use std::sync::Arc;

use serde_json::Value;

/// What a transport reports to the client logic. `generation` is the connection it belongs to,
/// so late events from a connection already replaced are ignored.
#[derive(Debug)]
pub enum TransportEvent {
    /// A JSON-RPC message (response, request or notification) from the server.
    Message { generation: u64, message: Value },
    /// The request with upstream id `id` failed at the transport (HTTP error status, result too
    /// large, unreadable answer); the connection itself may still be fine.
    RequestFailed {
        generation: u64,
        id: i64,
        error: String,
    },
    /// The connection is gone (child exited, session expired, server unreachable).
    Closed { generation: u64, reason: String },
}

/// Where a transport sends its events (called from any thread).
pub type EventSink = Arc<dyn Fn(TransportEvent) + Send + Sync>;

/// One encoded message to send.
#[derive(Debug)]
pub struct Outgoing {
    /// The upstream request id when the message is a request (for [`TransportEvent::RequestFailed`]).
    pub id: Option<i64>,
    pub bytes: Vec<u8>,
}

/// A way of reaching one MCP server.
pub trait Transport: Send {
    /// Opens connection number `generation` (starts the child, forgets any HTTP session).
    fn connect(&mut self, generation: u64, sink: EventSink) -> Result<(), String>;
    /// Sends one message on the current connection; never waits for the answer.
    fn send(&mut self, message: Outgoing) -> Result<(), String>;
    /// The handshake finished at `protocol_version` (HTTP sends it as a header from now on and
    /// opens its server-to-client stream).
    fn initialized(&mut self, protocol_version: &str);
    /// Closes the current connection (kills the child, ends the HTTP session).
    fn disconnect(&mut self);
    /// Streamable HTTP only: the current `Mcp-Session-Id` (`Some(None)`: a server that issued
    /// none). `None`: not an HTTP transport, calls stay on the helper thread.
    fn http_session(&self) -> Option<Option<String>> {
        None
    }
}
