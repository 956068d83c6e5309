//! `tools/call` sent by the shard itself to Streamable HTTP MCP servers, over the shard's own
//! upstream client (keep-alive pool, DNS cache, TLS): no helper thread and no channel hop per
//! call. The server's helper thread still does the handshake, the listings and the server's
//! stream, and publishes the session these calls use; a call that finds the session gone (404)
//! or the server unreachable tells it to reconnect. A call abandoned (client gone, timeout)
//! has the helper send `notifications/cancelled`.

use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use serde_json::{Value, json};

use super::state::ProxyState;
use crate::config::{McpTransportConfig, ProviderConfig, Secret};
use crate::http::encode::write_header;
use crate::mcp::jsonrpc::{REQUEST_TIMEOUT, RequestId, RpcError, SseMessageReader, encode_request};
use crate::mcp::upstream::http::too_large;
use crate::mcp::{CallOutcome, DirectCall, HubHandle, MAX_RESULT_BYTES};
use crate::runtime::io::time::deadline;
use crate::upstream::Upstreams;
use crate::upstream::body::BodyReader;
use crate::upstream::dns::{DnsCache, Resolver};

/// Longest error body quoted in an error message.
const QUOTED_BODY_BYTES: usize = 300;
/// How much longer than the call timeout the upstream client waits for a response head, so
/// the call timeout (a JSON-RPC timeout error and a cancellation) is what fires.
const HEAD_TIMEOUT_MARGIN: Duration = Duration::from_secs(1);

/// One HTTP server as this shard reaches it.
struct DirectServer {
    /// Its slot in [`DirectCalls::upstreams`].
    index: usize,
    /// Its URL as the upstream client takes it.
    target: ProviderConfig,
    /// The request line and the headers every call sends (configured ones included).
    head_start: Vec<u8>,
    call_timeout: Duration,
}

/// This shard's direct calls to every Streamable HTTP server.
pub struct DirectCalls {
    upstreams: Upstreams,
    servers: HashMap<String, DirectServer>,
    hub: HubHandle,
}

/// Lets the shard's MCP gateway call HTTP servers' tools itself (see the module doc).
pub fn call_directly(state: &Rc<ProxyState>, resolver: Resolver) -> Result<(), String> {
    let Some(mcp) = &state.mcp else {
        return Ok(());
    };
    let direct = Rc::new(DirectCalls::new(
        state,
        resolver,
        mcp.gateway.hub().clone(),
    )?);
    if direct.servers.is_empty() {
        return Ok(());
    }
    mcp.gateway.call_directly(Box::new(move |call| {
        let direct = Rc::clone(&direct);
        Box::pin(async move { direct.call(call).await })
    }));
    Ok(())
}

impl DirectCalls {
    fn new(state: &ProxyState, resolver: Resolver, hub: HubHandle) -> Result<DirectCalls, String> {
        let mut servers = HashMap::new();
        let mut targets = Vec::new();
        for server in &state.config.mcp_servers {
            let McpTransportConfig::Http { url, headers } = &server.transport else {
                continue;
            };
            let target = target(&server.name, url)?;
            let head_start = head_start(&target, headers);
            targets.push(target.clone());
            servers.insert(
                server.name.clone(),
                DirectServer {
                    index: targets.len() - 1,
                    target,
                    head_start,
                    call_timeout: server.call_timeout,
                },
            );
        }
        let mut config = (*state.config).clone();
        config.providers = targets;
        let upstreams = Upstreams::new(&config, DnsCache::new(resolver))?;
        Ok(DirectCalls {
            upstreams,
            servers,
            hub,
        })
    }

    /// Runs one call within the server's call timeout.
    async fn call(&self, call: DirectCall) -> CallOutcome {
        let Some(server) = self.servers.get(&call.server) else {
            return Err(RpcError::internal(format!(
                "no MCP server named `{}`",
                call.server
            )));
        };
        let request_id = format!("sluice-{}", call.call_id);
        let mut params = json!({"name": call.tool});
        if let Some(arguments) = &call.arguments {
            params["arguments"] = arguments.clone();
        }
        let body = encode_request(
            &RequestId::String(request_id.clone()),
            "tools/call",
            Some(&params),
        );
        let mut head = server.head_start.clone();
        if let Some(session_id) = &call.session.session_id {
            write_header(&mut head, "mcp-session-id", session_id.as_bytes());
        }
        write_header(
            &mut head,
            "mcp-protocol-version",
            call.session.protocol_version.as_bytes(),
        );
        crate::http::encode::write_content_length(&mut head, body.len() as u64);
        head.extend_from_slice(b"\r\n");
        let mut abandon = Abandon {
            hub: &self.hub,
            server: &call.server,
            request_id: Some(&request_id),
            reason: "the client disconnected",
        };
        let exchange = self.exchange(server, &call, &head, &body, &request_id);
        match deadline(server.call_timeout, exchange).await {
            Some(outcome) => {
                abandon.request_id = None;
                outcome
            }
            None => {
                abandon.reason = "timed out in sluice";
                Err(RpcError::new(
                    REQUEST_TIMEOUT,
                    format!(
                        "MCP server `{}` did not answer within {} ms",
                        call.server,
                        server.call_timeout.as_millis()
                    ),
                ))
            }
        }
    }

    /// Sends the call and reads its whole answer (JSON, or an SSE stream that ends after it).
    async fn exchange(
        &self,
        server: &DirectServer,
        call: &DirectCall,
        head: &[u8],
        body: &[u8],
        request_id: &str,
    ) -> CallOutcome {
        let lost = |why: String| {
            self.hub
                .session_lost(&call.server, call.session.generation, &why);
            RpcError::internal(format!(
                "MCP server `{}` failed mid-call ({why}); sluice is reconnecting",
                call.server
            ))
        };
        let exchange = self
            .upstreams
            .exchange_within(
                server.index,
                &server.target,
                head,
                body,
                server.call_timeout + HEAD_TIMEOUT_MARGIN,
            )
            .await
            .map_err(|e| lost(e.message.to_string()))?;
        let (mut conn, response) = (exchange.conn, exchange.head);
        let status = response.status();
        if status == 404 && call.session.session_id.is_some() {
            return Err(lost(
                "the MCP server no longer knows the session (404)".into(),
            ));
        }
        let sse = response
            .header("content-type")
            .is_some_and(|v| v.starts_with(b"text/event-stream"));
        let mut reader = BodyReader::new(response.framing(false));
        let mut bytes = Vec::new();
        loop {
            let finished = reader
                .decode_buffered(&mut conn, &mut bytes)
                .map_err(|e| lost(format!("unreadable answer: {e:?}")))?;
            if bytes.len() > MAX_RESULT_BYTES {
                return Err(server_error(&call.server, too_large()));
            }
            if finished {
                break;
            }
            match conn.fill().await {
                Ok(0) => {
                    reader
                        .on_end_of_stream()
                        .map_err(|e| lost(format!("the answer ended early: {e:?}")))?;
                    break;
                }
                Ok(_) => {}
                Err(e) => return Err(lost(format!("the connection failed: {e}"))),
            }
        }
        if reader.leaves_connection_reusable() && response.keep_alive() {
            self.upstreams.checkin(server.index, conn);
        }
        match find_response(&bytes, sse, request_id) {
            Some(Ok(message)) => outcome_of(message),
            Some(Err(why)) => Err(server_error(&call.server, why)),
            None if status >= 300 => {
                let quoted = &bytes[..bytes.len().min(QUOTED_BODY_BYTES)];
                Err(server_error(
                    &call.server,
                    format!("HTTP {status}: {}", String::from_utf8_lossy(quoted)),
                ))
            }
            None => Err(server_error(
                &call.server,
                format!("HTTP {status}: the answer held no JSON-RPC response"),
            )),
        }
    }
}

/// Tells the server (through its helper) that a call was abandoned, unless it completed.
struct Abandon<'a> {
    hub: &'a HubHandle,
    server: &'a str,
    request_id: Option<&'a str>,
    reason: &'static str,
}

impl Drop for Abandon<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.request_id {
            self.hub
                .cancel_remote(self.server, Value::String(id.to_owned()), self.reason);
        }
    }
}

/// The response to `request_id` among the messages of an answer (one JSON message, a JSON
/// batch, or SSE events); `Err` when the answer is not JSON at all.
fn find_response(bytes: &[u8], sse: bool, request_id: &str) -> Option<Result<Value, String>> {
    let ours = |message: &Value| message.get("id").and_then(Value::as_str) == Some(request_id);
    if sse {
        let mut found = None;
        let mut reader = SseMessageReader::new();
        reader.feed(bytes, |message| {
            if let Ok(message) = message
                && found.is_none()
                && ours(&message)
            {
                found = Some(message);
            }
        });
        return found.map(Ok);
    }
    if bytes.is_empty() {
        return None;
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Array(messages)) => messages.into_iter().find(ours).map(Ok),
        Ok(message) if ours(&message) => Some(Ok(message)),
        Ok(_) => None,
        Err(e) => Some(Err(format!("the answer is not JSON: {e}"))),
    }
}

/// A JSON-RPC response's result, or its error.
fn outcome_of(mut message: Value) -> CallOutcome {
    if let Some(error) = message.get("error") {
        return Err(RpcError::from_value(error));
    }
    match message.get_mut("result") {
        Some(result) => Ok(result.take()),
        None => Err(RpcError::internal(
            "the MCP server answered with neither result nor error",
        )),
    }
}

fn server_error(server: &str, why: String) -> RpcError {
    RpcError::internal(format!("MCP server `{server}`: {why}"))
}

/// An MCP server's URL as an upstream-client target.
fn target(name: &str, url: &str) -> Result<ProviderConfig, String> {
    let base_url = crate::config::BaseUrl::parse(url)
        .map_err(|e| format!("mcp_servers `{name}`: url {url}: {e}"))?;
    Ok(ProviderConfig {
        name: format!("mcp:{name}"),
        kind: crate::providers::anthropic::KIND,
        base_url,
        keys: Vec::new(),
        ca_file: None,
        egress_proxy: None,
        budgets: Vec::new(),
        model_map: Default::default(),
        options: Default::default(),
    })
}

/// `POST <path> HTTP/1.1`, `host`, the content negotiation and the configured headers.
fn head_start(target: &ProviderConfig, headers: &[(String, Secret)]) -> Vec<u8> {
    let url = &target.base_url;
    let path = if url.base_path.is_empty() {
        "/"
    } else {
        url.base_path.as_str()
    };
    let mut head = format!("POST {path} HTTP/1.1\r\n").into_bytes();
    let default_port = if url.tls { 443 } else { 80 };
    let host = if url.host.contains(':') {
        format!("[{}]", url.host)
    } else {
        url.host.clone()
    };
    let host = if url.port == default_port {
        host
    } else {
        format!("{host}:{}", url.port)
    };
    write_header(&mut head, "host", host.as_bytes());
    write_header(&mut head, "content-type", b"application/json");
    write_header(&mut head, "accept", b"application/json, text/event-stream");
    for (name, value) in headers {
        write_header(&mut head, name, value.expose().as_bytes());
    }
    head
}
