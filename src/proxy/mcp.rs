//! `/mcp` on the data listener: authenticates the virtual key (always required here), hands the
//! request to this shard's [`McpGateway`] or, when another shard owns the session, to that
//! shard over the mesh, and writes the answer: a whole response, or a `GET` event stream kept
//! alive with SSE comments. A client that goes away mid-call drops the gateway's future, which
//! cancels its upstream calls (`notifications/cancelled`).

use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_channel::mpsc::UnboundedReceiver;
use futures_channel::oneshot;
use futures_lite::StreamExt;
use futures_lite::future::{or, pending};

use super::Client;
use super::context::{Phase, RequestContext};
use super::govern;
use super::state::ProxyState;
use crate::error::GatewayError;
use crate::governance::Rejection;
use crate::http::chunked::encode_chunk;
use crate::http::encode::{reason_phrase, write_content_length, write_header, write_status_line};
use crate::http::head::RequestHead;
use crate::mcp::CallReport;
use crate::mcp::jsonrpc::{RATE_LIMITED, RpcError};
use crate::mcp::{
    Caller, ForwardedRequest, HttpMethod, McpError, McpGateway, McpReply, McpRequest, McpResponse,
    Placement, ToolPolicy,
};
use crate::observe::access_log::McpCallLine;
use crate::observe::audit::chain::sha256_hex;
use crate::observe::audit::{McpCallRecord, UnixMillis};
use crate::runtime::io::time::deadline;

/// A `GET` stream with no event for this long gets an SSE comment, so idle proxies and the
/// client see the connection is alive (and a gone client is noticed).
pub const STREAM_KEEP_ALIVE: Duration = Duration::from_secs(15);
/// The comment sent as keep-alive.
const KEEP_ALIVE_FRAME: &[u8] = b": keep-alive\n\n";

/// Forwards a request to the shard that owns its session; false when that shard is gone.
pub type Forward = Box<dyn Fn(usize, ForwardedRequest) -> bool>;

/// This shard's MCP gateway and its way to reach the other shards' gateways.
pub struct McpShard {
    pub gateway: Rc<McpGateway>,
    pub forward: Forward,
}

/// Wires the shard's gateway to its metrics and audit log: every finished `tools/call` is
/// counted (`sluice_mcp_calls_total`, latency by server) and, with `[audit]`, recorded.
pub fn observe_calls(state: &Rc<ProxyState>) {
    let Some(mcp) = &state.mcp else { return };
    let weak = Rc::downgrade(state);
    mcp.gateway.observe(Box::new(move |report| {
        if let Some(state) = weak.upgrade() {
            record_call(&state, report);
        }
    }));
}

fn record_call(state: &ProxyState, report: &CallReport<'_>) {
    let outcome = report.outcome_label();
    state
        .metrics
        .mcp
        .record_call(report.server, report.tool, outcome, report.duration);
    state.access_log.record_mcp_call(&McpCallLine {
        key_id: report.key_id,
        server: report.server,
        tool: report.tool,
        outcome,
        duration: report.duration,
        error: report.outcome.as_ref().err().map(|e| e.message.as_str()),
    });
    let Some(audit) = &state.audit else { return };
    let (result_sha256, error) = match report.outcome {
        Ok(result) => (Some(digest(result)), None),
        Err(error) => (None, Some(error.message.clone())),
    };
    audit.record_mcp_call(McpCallRecord {
        time: UnixMillis::now(),
        key_id: report.key_id.to_owned(),
        server: report.server.to_owned(),
        tool: report.tool.to_owned(),
        arguments: report.arguments.cloned(),
        result_sha256,
        is_error: outcome == "tool_error",
        duration_ms: report.duration.as_millis() as u64,
        error,
    });
}

/// Puts every `tools/call` through the caller's `tool_calls` rate limits before it goes
/// upstream (see [`admit_tool_call`]).
pub fn gate_calls(state: &Rc<ProxyState>) {
    let Some(mcp) = &state.mcp else { return };
    let weak = Rc::downgrade(state);
    mcp.gateway.gate(Box::new(move |key_id| {
        let (weak, key_id) = (weak.clone(), key_id.to_owned());
        Box::pin(async move {
            match weak.upgrade() {
                Some(state) => admit_tool_call(&state, &key_id).await,
                None => Err(RpcError::internal("the shard is stopping")),
            }
        })
    }));
}

/// Admits one tool call by `key_id`, like a model request's admission: the inbox is drained
/// first, and a strict-mode shard short of its share waits up to [`govern::SHARE_WAIT`] for a
/// grant before refusing. A refusal is a JSON-RPC error ([`RATE_LIMITED`]) whose `data` holds
/// the reason and `retry_after_secs`.
pub async fn admit_tool_call(state: &ProxyState, key_id: &str) -> Result<(), RpcError> {
    let give_up_at = Instant::now() + govern::SHARE_WAIT;
    loop {
        let grant = state.gov_events.notified();
        state.gov_link.sync(&state.gov);
        let admitted = state.gov.admit_tool_call(key_id);
        state.gov_link.flush(&state.gov);
        let now = Instant::now();
        match admitted {
            Ok(()) => return Ok(()),
            Err(Rejection::BudgetBusy { .. }) if now < give_up_at => {
                let wait = (give_up_at - now).min(govern::SHARE_RETRY);
                deadline(wait, grant).await;
            }
            Err(rejection) => {
                let mut error = RpcError::new(RATE_LIMITED, rejection.message());
                error.data = Some(serde_json::json!({
                    "reason": rejection.reason(),
                    "retry_after_secs": rejection.retry_after_secs(),
                }));
                return Err(error);
            }
        }
    }
}

/// SHA-256 (hex) of a result as JSON.
fn digest(result: &serde_json::Value) -> String {
    sha256_hex(&serde_json::to_vec(result).unwrap_or_default())
}

/// Serves one `/mcp` request whose body is read; the answer is written here (or left in `out`
/// for `finish`). Errors are answered in the MCP (JSON-RPC) shape, never the Anthropic one.
pub async fn serve(
    state: &ProxyState,
    client: &mut Client,
    head: &RequestHead,
    body: &[u8],
    out: &mut Vec<u8>,
    ctx: &mut RequestContext,
) -> Result<(), GatewayError> {
    let reply = match caller(state, head, ctx) {
        Err(error) => Some(McpReply::Full(error.into_response())),
        Ok(caller) => dispatch(state, client, head, body, caller).await,
    };
    let Some(reply) = reply else {
        ctx.client_gone = true;
        return Ok(());
    };
    ctx.enter(Phase::Streaming);
    match reply {
        McpReply::Full(response) => {
            ctx.status = response.status;
            write_head(out, &response, Some(response.body.len()), !ctx.keep_alive);
            out.extend_from_slice(&response.body);
        }
        McpReply::Stream { response, events } => {
            ctx.status = response.status;
            ctx.keep_alive = false;
            write_head(out, &response, None, true);
            stream(client, out, events, ctx).await;
        }
    }
    Ok(())
}

/// The authenticated caller and its tools. `/mcp` needs a virtual key whatever
/// `require_virtual_key` says: sluice holds the upstream servers' credentials.
fn caller(
    state: &ProxyState,
    head: &RequestHead,
    ctx: &mut RequestContext,
) -> Result<Caller, McpError> {
    if govern::authenticate(state, head, ctx, None).is_err() || ctx.key.is_none() {
        ctx.rejection.get_or_insert("unauthenticated");
        return Err(McpError::Unauthorized);
    }
    let key_id = ctx.key_id.as_deref().unwrap_or_default();
    Ok(Caller {
        key_id: key_id.to_owned(),
        policy: policy_of(state, key_id),
    })
}

/// The tool globs of a key (configured or created through the admin API) and its team, with
/// every key change broadcast before now taken in.
fn policy_of(state: &ProxyState, key_id: &str) -> ToolPolicy {
    state.gov_link.sync(&state.gov);
    let Some((team, key_tools)) = state.gov.key_mcp_tools(key_id) else {
        return ToolPolicy::none();
    };
    let team = state.config.teams.iter().find(|t| t.id == team);
    ToolPolicy::from_levels([
        team.and_then(|t| t.mcp_tools.as_deref()),
        key_tools.as_deref(),
    ])
}

/// Runs the request where its session lives. `None`: the client went away first (the
/// gateway's future is dropped, which cancels its upstream calls).
async fn dispatch(
    state: &ProxyState,
    client: &mut Client,
    head: &RequestHead,
    body: &[u8],
    caller: Caller,
) -> Option<McpReply> {
    let Some(mcp) = &state.mcp else {
        return Some(McpReply::Full(
            McpError::Internal("no [[mcp_servers]] are configured".into()).into_response(),
        ));
    };
    let header = |name| head.header(name).and_then(|v| std::str::from_utf8(v).ok());
    let request = McpRequest {
        method: HttpMethod::parse(head.method()),
        session_id: header("mcp-session-id"),
        protocol_version: header("mcp-protocol-version"),
        accept: header("accept"),
        content_type: header("content-type"),
        body,
    };
    match mcp.gateway.placement(request.session_id) {
        Placement::Here => {
            let gateway = &mcp.gateway;
            or(
                async { Some(gateway.handle(request, &caller).await) },
                client_left(client),
            )
            .await
        }
        Placement::Shard(owner) => {
            let (reply, answer) = oneshot::channel();
            let forwarded = ForwardedRequest {
                method: request.method,
                session_id: request.session_id.unwrap_or_default().to_owned(),
                protocol_version: request.protocol_version.map(str::to_owned),
                accept: request.accept.map(str::to_owned),
                content_type: request.content_type.map(str::to_owned),
                body: body.to_vec(),
                key_id: caller.key_id,
                policy: caller.policy,
                reply,
            };
            if !(mcp.forward)(usize::from(owner), forwarded) {
                return Some(McpReply::Full(McpError::UnknownSession.into_response()));
            }
            let answered = or(async { Some(answer.await) }, client_left(client)).await?;
            // The owner shard ended before answering: the session went with it.
            Some(
                answered
                    .unwrap_or_else(|_| McpReply::Full(McpError::UnknownSession.into_response())),
            )
        }
    }
}

/// Completes with `None` once the client closes its side (pipelined bytes are kept for the
/// next request); never while the read-ahead buffer is full.
async fn client_left<T>(client: &mut Client) -> Option<T> {
    loop {
        if !client.may_read_ahead() {
            pending::<()>().await;
        }
        match client.fill().await {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// Writes the response head: status, type, session id, `Allow`, and either a length or
/// chunked framing (an event stream of unknown length).
fn write_head(out: &mut Vec<u8>, response: &McpResponse, length: Option<usize>, close: bool) {
    write_status_line(out, response.status, reason_phrase(response.status));
    if let Some(content_type) = response.content_type {
        write_header(out, "content-type", content_type.as_bytes());
    }
    if let Some(session_id) = &response.session_id {
        write_header(out, "mcp-session-id", session_id.as_bytes());
    }
    if let Some(allow) = response.allow {
        write_header(out, "allow", allow.as_bytes());
    }
    if response.status == 401 {
        write_header(out, "www-authenticate", b"Bearer realm=\"sluice\"");
    }
    match length {
        Some(n) => write_content_length(out, n as u64),
        None => {
            write_header(out, "cache-control", b"no-cache");
            write_header(out, "transfer-encoding", b"chunked");
        }
    }
    if close {
        write_header(out, "connection", b"close");
    }
    out.extend_from_slice(b"\r\n");
}

/// Relays a `GET` stream's events as chunks until the session ends (then the last chunk) or the
/// client goes away; a comment goes out after [`STREAM_KEEP_ALIVE`] without an event.
async fn stream(
    client: &mut Client,
    out: &mut Vec<u8>,
    mut events: UnboundedReceiver<Vec<u8>>,
    ctx: &mut RequestContext,
) {
    loop {
        if client.write_all(out).await.is_err() {
            ctx.client_gone = true;
            out.clear();
            break;
        }
        out.clear();
        match deadline(STREAM_KEEP_ALIVE, events.next()).await {
            Some(Some(event)) => encode_chunk(out, &event),
            Some(None) => {
                out.extend_from_slice(b"0\r\n\r\n");
                break;
            }
            None => encode_chunk(out, KEEP_ALIVE_FRAME),
        }
    }
}
