//! The request flow (docs/ARCHITECTURE.md, "Request flow"): the handler the runtime gives each
//! client connection, the flow of one request from head to `finish`, the relay, the governance
//! phases, the request context and the proxy-owned shard state.

pub mod attempt_metrics;
pub mod attempts;
pub mod auth_throttle;
pub mod cloud;
pub mod context;
pub mod flow;
pub mod govern;
pub mod mcp;
pub mod mcp_direct;
pub mod openai_codecs;
pub mod openai_in;
pub mod outcome;
pub mod phase_clock;
pub mod relay;
pub mod state;
pub mod translate;
pub mod upstream_limits;

use std::rc::Rc;

use crate::error::GatewayError;
use crate::http::conn::{ClientConn, ConnError, Handler, HeadLimits};
use crate::http::head::RequestHead;
use crate::runtime::io::tls::ClientStream;

pub use state::{ProxyParts, ProxyState};

/// A client connection as the proxy serves it.
pub type Client = ClientConn<ClientStream>;

/// The proxy flow as the HTTP server loop's handler.
impl Handler<ClientStream> for Rc<ProxyState> {
    fn head_limits(&self) -> HeadLimits {
        let server = &self.config.server;
        HeadLimits {
            max_headers: server.max_headers,
            idle: server.idle_timeout,
            head_timeout: server.header_read_timeout,
        }
    }

    async fn serve(&self, client: &mut Client, head: RequestHead) -> bool {
        flow::serve(self, client, head).await
    }

    async fn refuse(&self, client: &mut Client, err: ConnError) -> bool {
        flow::refuse(self, client, GatewayError::from(err)).await
    }

    fn draining(&self) -> bool {
        ProxyState::draining(self)
    }
}

/// Serves one accepted client connection until it closes, counting it and its bytes.
pub async fn serve_connection(state: Rc<ProxyState>, stream: ClientStream) {
    let _open = state.metrics.connection_opened();
    let mut client = crate::http::conn::serve_connection(&state, stream).await;
    let (bytes_in, bytes_out) = client.take_byte_counts();
    state.metrics.add_bytes(bytes_in, bytes_out);
}
