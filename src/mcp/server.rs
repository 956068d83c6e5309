//! `/mcp` on one shard: MCP Streamable HTTP requests (POST, GET, DELETE) in, answers out, with
//! the session rules, protocol-version checks, per-key tool filtering and `tools/call` routed
//! to the owning upstream. Takes parsed request parts, gives back status, headers and body, so
//! the data listener's routing can wire it without this module touching a socket.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use futures_channel::mpsc::{UnboundedReceiver, unbounded};
use futures_lite::StreamExt;
use futures_lite::future::BoxedLocal;
use serde_json::{Value, json};

use super::catalog::Catalog;
use super::error::McpError;
use super::filter::ToolPolicy;
use super::jsonrpc::{
    Incoming, Invalid, Message, Notification, Request, RequestId, RpcError, encode_batch,
    encode_error, encode_notification, encode_response, parse_body, sse_frame,
};
use super::session::{
    ForwardedRequest, MAX_IN_FLIGHT_PER_SESSION, MAX_SESSIONS_PER_SHARD,
    SUPPORTED_PROTOCOL_VERSIONS, Session, allows_batches, negotiate_version, new_session_id,
    owner_shard,
};
use super::upstream::{CallOutcome, HubEvent, HubHandle, UpstreamSession};

pub const CONTENT_TYPE_JSON: &str = "application/json";
pub const CONTENT_TYPE_SSE: &str = "text/event-stream";

/// The HTTP method of a `/mcp` request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpMethod {
    Get,
    Post,
    Delete,
    Other,
}

impl HttpMethod {
    pub fn parse(method: &str) -> HttpMethod {
        match method {
            "GET" => HttpMethod::Get,
            "POST" => HttpMethod::Post,
            "DELETE" => HttpMethod::Delete,
            _ => HttpMethod::Other,
        }
    }
}

/// The authenticated caller: its key id (sessions belong to it) and the tools it may use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub key_id: String,
    pub policy: ToolPolicy,
}

/// The parts of a `/mcp` request the gateway reads (header values as received).
#[derive(Clone, Copy, Debug)]
pub struct McpRequest<'a> {
    pub method: HttpMethod,
    pub session_id: Option<&'a str>,
    pub protocol_version: Option<&'a str>,
    pub accept: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

/// A complete answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct McpResponse {
    pub status: u16,
    pub content_type: Option<&'static str>,
    /// `Mcp-Session-Id` to send (on the `initialize` answer).
    pub session_id: Option<String>,
    /// `Allow` to send (on 405).
    pub allow: Option<&'static str>,
    pub body: Vec<u8>,
}

impl McpResponse {
    fn empty(status: u16) -> McpResponse {
        McpResponse {
            status,
            content_type: None,
            session_id: None,
            allow: None,
            body: Vec::new(),
        }
    }
}

/// What `/mcp` answers: a whole response, or an SSE stream (`GET`) whose head is `response`
/// and whose events (already SSE-framed) arrive on `events` until the session ends.
#[derive(Debug)]
pub enum McpReply {
    Full(McpResponse),
    Stream {
        response: McpResponse,
        events: UnboundedReceiver<Vec<u8>>,
    },
}

/// Where a request must run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    Here,
    /// The session belongs to this shard: forward as a [`ForwardedRequest`].
    Shard(u16),
}

/// One `tools/call` started upstream.
struct StartedCall {
    rpc_id: RequestId,
    server: String,
    call_id: u64,
    /// `None` until the gate admitted the call and it was sent upstream.
    answer: Option<BoxedLocal<CallOutcome>>,
    /// The upstream tool's own name and the arguments it was called with (for the report).
    tool: String,
    arguments: Option<Value>,
    started: Instant,
}

/// A finished `tools/call`, handed to the shard's observer (metrics, audit, log).
#[derive(Debug)]
pub struct CallReport<'a> {
    pub key_id: &'a str,
    pub server: &'a str,
    /// The tool's name on its server.
    pub tool: &'a str,
    pub arguments: Option<&'a Value>,
    /// The result (`isError` results included) or the JSON-RPC error answered.
    pub outcome: &'a CallOutcome,
    pub duration: std::time::Duration,
}

impl CallReport<'_> {
    /// A bounded label: `ok`, `tool_error` (a result with `isError`), `timeout` or `error`.
    pub fn outcome_label(&self) -> &'static str {
        match self.outcome {
            Ok(result) if result.get("isError") == Some(&Value::Bool(true)) => "tool_error",
            Ok(_) => "ok",
            Err(error) if error.code == super::jsonrpc::REQUEST_TIMEOUT => "timeout",
            Err(error) if error.code == super::jsonrpc::RATE_LIMITED => "rate_limited",
            Err(_) => "error",
        }
    }
}

/// What a shard does with each finished call.
pub type CallObserver = Box<dyn Fn(&CallReport<'_>)>;

/// A `tools/call` the shard sends itself, over its own connections to a Streamable HTTP
/// server whose session the helper thread set up.
#[derive(Debug)]
pub struct DirectCall {
    pub call_id: u64,
    pub server: String,
    /// The tool's name on its server.
    pub tool: String,
    pub arguments: Option<Value>,
    pub session: UpstreamSession,
}

/// Runs a [`DirectCall`] to its end; dropping the future abandons the call (the server is told).
pub type DirectCaller = Box<dyn Fn(DirectCall) -> BoxedLocal<CallOutcome>>;

/// Decides whether the key (by id) may make one more `tools/call` (its `tool_calls` rate
/// limits); an `Err` is answered to the client instead of calling upstream.
pub type CallGate = Box<dyn Fn(&str) -> BoxedLocal<Result<(), RpcError>>>;

/// A POST's answers: the ones ready now and the calls still running, in request order.
enum Slot {
    Ready(Vec<u8>),
    Call(StartedCall),
}

/// The MCP gateway of one shard.
pub struct McpGateway {
    shard: u16,
    hub: HubHandle,
    sessions: RefCell<HashMap<String, Session>>,
    upstream_tools: RefCell<BTreeMap<String, Arc<Vec<Value>>>>,
    catalog: RefCell<Rc<Catalog>>,
    next_call: Cell<u64>,
    observer: RefCell<Option<CallObserver>>,
    gate: RefCell<Option<CallGate>>,
    /// Each HTTP server's ready session, as the hub last told.
    upstream_sessions: RefCell<HashMap<String, UpstreamSession>>,
    direct: RefCell<Option<DirectCaller>>,
}

impl McpGateway {
    pub fn new(shard: u16, hub: HubHandle) -> Rc<McpGateway> {
        Rc::new(McpGateway {
            shard,
            hub,
            sessions: RefCell::new(HashMap::new()),
            upstream_tools: RefCell::new(BTreeMap::new()),
            catalog: RefCell::new(Rc::new(Catalog::default())),
            next_call: Cell::new(0),
            observer: RefCell::new(None),
            gate: RefCell::new(None),
            upstream_sessions: RefCell::new(HashMap::new()),
            direct: RefCell::new(None),
        })
    }

    /// Sets what is told about every finished `tools/call` (cancelled ones are not reported).
    pub fn observe(&self, observer: CallObserver) {
        *self.observer.borrow_mut() = Some(observer);
    }

    /// Sets what admits each `tools/call` before it goes upstream (none: every call goes).
    pub fn gate(&self, gate: CallGate) {
        *self.gate.borrow_mut() = Some(gate);
    }

    /// The upstream clients this gateway calls through.
    pub fn hub(&self) -> &HubHandle {
        &self.hub
    }

    /// Sets how this shard calls tools of HTTP servers with a ready session itself (none:
    /// every call goes through the server's helper thread).
    pub fn call_directly(&self, direct: DirectCaller) {
        *self.direct.borrow_mut() = Some(direct);
    }

    /// Follows the hub's tool-list changes until it stops (spawn it on the shard).
    pub async fn follow(self: Rc<Self>, mut events: UnboundedReceiver<HubEvent>) {
        while let Some(event) = events.next().await {
            self.apply(event);
        }
    }

    /// Applies one tool-list change: rebuilds the catalog, tells initialized sessions with an
    /// open stream that the list changed.
    pub fn apply(&self, event: HubEvent) {
        match event {
            HubEvent::Tools { server, tools } => {
                self.upstream_tools.borrow_mut().insert(server, tools);
            }
            HubEvent::Session { server, session } => {
                let mut sessions = self.upstream_sessions.borrow_mut();
                match session {
                    Some(session) => sessions.insert(server, session),
                    None => sessions.remove(&server),
                };
                return;
            }
        }
        let (catalog, problems) = Catalog::build(&self.upstream_tools.borrow());
        for problem in problems {
            eprintln!("sluice: mcp: {problem}");
        }
        *self.catalog.borrow_mut() = Rc::new(catalog);
        let mut frame = Vec::new();
        sse_frame(
            &mut frame,
            &encode_notification("notifications/tools/list_changed", None),
        );
        for session in self.sessions.borrow_mut().values_mut() {
            if session.initialized
                && let Some(stream) = &session.stream
                && stream.unbounded_send(frame.clone()).is_err()
            {
                session.stream = None;
            }
        }
    }

    /// The tools this shard currently offers (before filtering).
    pub fn catalog(&self) -> Rc<Catalog> {
        self.catalog.borrow().clone()
    }

    /// Where a request with this `Mcp-Session-Id` must be handled.
    pub fn placement(&self, session_id: Option<&str>) -> Placement {
        match session_id.and_then(owner_shard) {
            Some(owner) if owner != self.shard => Placement::Shard(owner),
            _ => Placement::Here,
        }
    }

    /// Sessions held by this shard.
    pub fn session_count(&self) -> usize {
        self.sessions.borrow().len()
    }

    /// Drops the sessions idle at `now` (see [`Session::is_idle`]); returns how many. Call it
    /// now and then from a shard timer; `initialize` also calls it when the shard is full.
    pub fn expire_idle(&self, now: Instant) -> usize {
        let mut sessions = self.sessions.borrow_mut();
        let before = sessions.len();
        sessions.retain(|_, session| !session.is_idle(now));
        before - sessions.len()
    }

    /// Ends every session of `key_id` (the key was revoked or deleted), cancelling its calls.
    pub fn end_sessions_of_key(&self, key_id: &str) {
        let ended: Vec<Session> = {
            let mut sessions = self.sessions.borrow_mut();
            let ids: Vec<String> = sessions
                .iter()
                .filter(|(_, s)| s.key_id == key_id)
                .map(|(id, _)| id.clone())
                .collect();
            ids.iter().filter_map(|id| sessions.remove(id)).collect()
        };
        for session in ended {
            self.cancel_session_calls(&session, "the session ended");
        }
    }

    /// Runs a request forwarded by another shard and answers it.
    pub async fn handle_forwarded(&self, forwarded: ForwardedRequest) {
        let caller = Caller {
            key_id: forwarded.key_id,
            policy: forwarded.policy,
        };
        let request = McpRequest {
            method: forwarded.method,
            session_id: Some(&forwarded.session_id),
            protocol_version: forwarded.protocol_version.as_deref(),
            accept: forwarded.accept.as_deref(),
            content_type: forwarded.content_type.as_deref(),
            body: &forwarded.body,
        };
        let mut reply = forwarded.reply;
        // The asking shard drops the answer's receiver when its client goes away: dropping
        // `handle` then cancels the upstream calls, as on a direct request.
        let answered =
            futures_lite::future::or(async { Some(self.handle(request, &caller).await) }, async {
                reply.cancellation().await;
                None
            })
            .await;
        if let Some(answered) = answered {
            let _ = reply.send(answered);
        }
    }

    /// Handles one `/mcp` request to the end. Dropping the future (the client went away)
    /// cancels its upstream calls.
    pub async fn handle(&self, request: McpRequest<'_>, caller: &Caller) -> McpReply {
        let (session_id, sse, batch, mut slots) = match self.dispatch(request, caller) {
            Ok(Dispatched::Reply(reply)) => return reply,
            Ok(Dispatched::Calls {
                session_id,
                sse,
                batch,
                slots,
            }) => (session_id, sse, batch, slots),
            Err(error) => return McpReply::Full(error.into_response()),
        };
        let mut guard = CancelOnDrop {
            gateway: self,
            session_id: &session_id,
            calls: slots
                .iter()
                .filter_map(|s| match s {
                    Slot::Call(call) => {
                        Some((call.rpc_id.clone(), call.server.clone(), call.call_id))
                    }
                    Slot::Ready(_) => None,
                })
                .collect(),
        };
        // Admitted one by one, then all awaited: a batch's calls still run side by side.
        let mut refused = HashMap::new();
        for slot in &mut slots {
            if let Slot::Call(call) = slot
                && call.answer.is_none()
            {
                match self.admit(&caller.key_id).await {
                    Ok(()) => call.answer = Some(self.start(call)),
                    Err(error) => {
                        refused.insert(call.call_id, error);
                    }
                }
            }
        }
        let mut messages = Vec::with_capacity(slots.len());
        for slot in slots {
            match slot {
                Slot::Ready(bytes) => messages.push(bytes),
                Slot::Call(call) => {
                    let outcome = match (call.answer, refused.remove(&call.call_id)) {
                        (Some(answer), _) => answer.await,
                        (None, refused) => Err(refused.unwrap_or_else(|| {
                            RpcError::internal("the tool call was not started")
                        })),
                    };
                    self.call_finished(&session_id, &call.rpc_id);
                    guard.calls.retain(|(id, _, _)| *id != call.rpc_id);
                    if let Some(observe) = self.observer.borrow().as_ref() {
                        observe(&CallReport {
                            key_id: &caller.key_id,
                            server: &call.server,
                            tool: &call.tool,
                            arguments: call.arguments.as_ref(),
                            outcome: &outcome,
                            duration: call.started.elapsed(),
                        });
                    }
                    messages.push(encode_response(&call.rpc_id, &outcome));
                }
            }
        }
        McpReply::Full(answer(sse, batch, messages))
    }

    fn call_finished(&self, session_id: &str, rpc_id: &RequestId) {
        if let Some(session) = self.sessions.borrow_mut().get_mut(session_id) {
            session.in_flight.remove(rpc_id);
        }
    }

    fn cancel_session_calls(&self, session: &Session, reason: &str) {
        for (server, call_id) in session.in_flight.values() {
            self.hub.cancel(server, *call_id, reason);
        }
    }

    /// Everything up to the upstream calls: IO-free.
    fn dispatch(&self, request: McpRequest<'_>, caller: &Caller) -> Result<Dispatched, McpError> {
        match request.method {
            HttpMethod::Post => self.post(request, caller),
            HttpMethod::Get => self.get(request, caller).map(Dispatched::Reply),
            HttpMethod::Delete => self.delete(request, caller).map(Dispatched::Reply),
            HttpMethod::Other => Err(McpError::MethodNotAllowed),
        }
    }

    fn post(&self, request: McpRequest<'_>, caller: &Caller) -> Result<Dispatched, McpError> {
        if request.body.len() > super::MAX_BODY_BYTES {
            return Err(McpError::PayloadTooLarge);
        }
        if !request
            .content_type
            .is_some_and(|t| media_type(t).eq_ignore_ascii_case(CONTENT_TYPE_JSON))
        {
            return Err(McpError::UnsupportedMediaType);
        }
        let sse = match request.accept {
            None => false,
            Some(accept) if accepts(accept, CONTENT_TYPE_JSON) => false,
            Some(accept) if accepts(accept, CONTENT_TYPE_SSE) => true,
            Some(_) => return Err(McpError::NotAcceptable),
        };
        let incoming = parse_body(request.body).map_err(McpError::Rpc)?;
        if let Incoming::Single(Message::Request(init)) = &incoming
            && init.method == "initialize"
        {
            return self.initialize(init, caller, sse).map(Dispatched::Reply);
        }
        let session_id = request.session_id.ok_or(McpError::MissingSession)?;
        let version = self.session_version(session_id, caller, request.protocol_version)?;
        let batch = matches!(incoming, Incoming::Batch(_));
        let messages = match incoming {
            Incoming::Single(message) => vec![Ok(message)],
            Incoming::Batch(_) if !allows_batches(version) => {
                return Err(McpError::Rpc(Invalid {
                    id: None,
                    error: RpcError::invalid_request(format!(
                        "Invalid Request: JSON-RPC batches are not supported in protocol version {version}"
                    )),
                }));
            }
            Incoming::Batch(messages) => messages,
        };
        let mut slots = Vec::new();
        for message in messages {
            match message {
                Ok(Message::Request(request)) => {
                    slots.push(self.request(session_id, &request, caller));
                }
                Ok(Message::Notification(notification)) => {
                    self.notification(session_id, &notification);
                }
                Ok(Message::Response(_)) => {} // we send no requests, so nothing awaits these
                Err(invalid) => slots.push(Slot::Ready(encode_error(
                    invalid.id.as_ref(),
                    &invalid.error,
                ))),
            }
        }
        if slots.is_empty() {
            return Ok(Dispatched::Reply(McpReply::Full(McpResponse::empty(202))));
        }
        if slots.iter().all(|s| matches!(s, Slot::Ready(_))) {
            let messages = slots
                .into_iter()
                .filter_map(|s| match s {
                    Slot::Ready(bytes) => Some(bytes),
                    Slot::Call(_) => None,
                })
                .collect();
            return Ok(Dispatched::Reply(McpReply::Full(answer(
                sse, batch, messages,
            ))));
        }
        Ok(Dispatched::Calls {
            session_id: session_id.to_owned(),
            sse,
            batch,
            slots,
        })
    }

    fn initialize(
        &self,
        request: &Request,
        caller: &Caller,
        sse: bool,
    ) -> Result<McpReply, McpError> {
        let requested = request
            .params
            .as_ref()
            .and_then(|p| p.get("protocolVersion"))
            .and_then(Value::as_str);
        let Some(requested) = requested else {
            let error = RpcError::invalid_params("initialize needs params.protocolVersion");
            return Ok(McpReply::Full(answer(
                sse,
                false,
                vec![encode_error(Some(&request.id), &error)],
            )));
        };
        let now = Instant::now();
        if self.sessions.borrow().len() >= MAX_SESSIONS_PER_SHARD && self.expire_idle(now) == 0 {
            return Err(McpError::TooManySessions);
        }
        let version = negotiate_version(requested);
        let session_id = new_session_id(self.shard)
            .map_err(|e| McpError::Internal(format!("cannot draw a session id: {e}")))?;
        self.sessions.borrow_mut().insert(
            session_id.clone(),
            Session::new(caller.key_id.clone(), version, now),
        );
        let result = json!({
            "protocolVersion": version,
            "capabilities": {"tools": {"listChanged": true}},
            "serverInfo": {"name": "sluice", "version": env!("CARGO_PKG_VERSION")},
        });
        let mut response = answer(sse, false, vec![encode_response(&request.id, &Ok(result))]);
        response.session_id = Some(session_id);
        Ok(McpReply::Full(response))
    }

    /// The session's negotiated version after the session and header checks. A request without
    /// `MCP-Protocol-Version` gets the negotiated version (the spec assumes 2025-03-26 only when
    /// nothing else tells the version; the session does); a header naming an unsupported or a
    /// different version is refused with 400.
    fn session_version(
        &self,
        session_id: &str,
        caller: &Caller,
        header: Option<&str>,
    ) -> Result<&'static str, McpError> {
        let mut sessions = self.sessions.borrow_mut();
        let session = sessions
            .get_mut(session_id)
            .filter(|s| s.key_id == caller.key_id)
            .ok_or(McpError::UnknownSession)?;
        session.last_used = Instant::now();
        match header {
            None => Ok(session.protocol_version),
            Some(version) if !SUPPORTED_PROTOCOL_VERSIONS.contains(&version) => {
                Err(McpError::UnsupportedVersion(version.to_owned()))
            }
            Some(version) if version != session.protocol_version => {
                Err(McpError::VersionMismatch {
                    header: version.to_owned(),
                    negotiated: session.protocol_version.to_owned(),
                })
            }
            Some(_) => Ok(session.protocol_version),
        }
    }

    fn request(&self, session_id: &str, request: &Request, caller: &Caller) -> Slot {
        let result = match request.method.as_str() {
            "ping" => Ok(json!({})),
            "tools/list" => self.tools_list(request, caller),
            "tools/call" => return self.tools_call(session_id, request, caller),
            "initialize" => Err(RpcError::invalid_request(
                "Invalid Request: the session is already initialized",
            )),
            method => Err(RpcError::method_not_found(method)),
        };
        Slot::Ready(encode_response(&request.id, &result))
    }

    fn tools_list(&self, request: &Request, caller: &Caller) -> Result<Value, RpcError> {
        let cursor = match request.params.as_ref().and_then(|p| p.get("cursor")) {
            None | Some(Value::Null) => None,
            Some(Value::String(cursor)) => Some(cursor.as_str()),
            Some(_) => return Err(RpcError::invalid_params("cursor must be a string")),
        };
        let (tools, next) = self.catalog.borrow().page(&caller.policy, cursor)?;
        let mut result = json!({"tools": tools});
        if let Some(next) = next {
            result["nextCursor"] = Value::String(next);
        }
        Ok(result)
    }

    fn tools_call(&self, session_id: &str, request: &Request, caller: &Caller) -> Slot {
        let refuse = |error: RpcError| Slot::Ready(encode_error(Some(&request.id), &error));
        let params = request.params.as_ref();
        let Some(name) = params.and_then(|p| p.get("name")).and_then(Value::as_str) else {
            return refuse(RpcError::invalid_params("tools/call needs params.name"));
        };
        let arguments = match params.and_then(|p| p.get("arguments")) {
            None | Some(Value::Null) => None,
            Some(arguments @ Value::Object(_)) => Some(arguments.clone()),
            Some(_) => return refuse(RpcError::invalid_params("arguments must be an object")),
        };
        if !caller.policy.allows(name) {
            return refuse(RpcError::invalid_params(format!(
                "Tool {name} is not permitted for this virtual key"
            )));
        }
        let Some(tool) = self.catalog.borrow().get(name).cloned() else {
            return refuse(RpcError::invalid_params(format!("Unknown tool: {name}")));
        };
        let mut sessions = self.sessions.borrow_mut();
        let Some(session) = sessions.get_mut(session_id) else {
            return refuse(RpcError::internal("the session ended"));
        };
        if session.in_flight.len() >= MAX_IN_FLIGHT_PER_SESSION {
            return refuse(RpcError::internal(format!(
                "too many tool calls in flight in this session (limit {MAX_IN_FLIGHT_PER_SESSION})"
            )));
        }
        if session.in_flight.contains_key(&request.id) {
            return refuse(RpcError::invalid_request(
                "Invalid Request: a call with this id is already running",
            ));
        }
        let call_id = (u64::from(self.shard) << 48) | self.next_call.get();
        self.next_call
            .set(self.next_call.get().wrapping_add(1) & ((1 << 48) - 1));
        session
            .in_flight
            .insert(request.id.clone(), (tool.server.clone(), call_id));
        drop(sessions);
        let mut call = StartedCall {
            rpc_id: request.id.clone(),
            server: tool.server.clone(),
            call_id,
            answer: None,
            tool: tool.upstream_name.clone(),
            arguments,
            started: Instant::now(),
        };
        if self.gate.borrow().is_none() {
            call.answer = Some(self.start(&call));
        }
        Slot::Call(call)
    }

    /// Asks the gate (if any) whether `key_id` may make one more call.
    async fn admit(&self, key_id: &str) -> Result<(), RpcError> {
        let admission = self.gate.borrow().as_ref().map(|gate| gate(key_id));
        match admission {
            Some(admission) => admission.await,
            None => Ok(()),
        }
    }

    /// Sends an admitted call upstream: from this shard when its server has a ready HTTP
    /// session and a direct caller is set, else through the server's helper thread.
    fn start(&self, call: &StartedCall) -> BoxedLocal<CallOutcome> {
        let session = self.upstream_sessions.borrow().get(&call.server).cloned();
        if let (Some(session), Some(direct)) = (session, self.direct.borrow().as_ref()) {
            return direct(DirectCall {
                call_id: call.call_id,
                server: call.server.clone(),
                tool: call.tool.clone(),
                arguments: call.arguments.clone(),
                session,
            });
        }
        let answer = self.hub.call(
            call.call_id,
            &call.server,
            &call.tool,
            call.arguments.clone(),
        );
        Box::pin(async move {
            answer
                .await
                .unwrap_or_else(|_| Err(RpcError::internal("the tool call was cancelled")))
        })
    }

    fn notification(&self, session_id: &str, notification: &Notification) {
        let mut sessions = self.sessions.borrow_mut();
        let Some(session) = sessions.get_mut(session_id) else {
            return;
        };
        match notification.method.as_str() {
            "notifications/initialized" => session.initialized = true,
            "notifications/cancelled" => {
                let id = notification
                    .params
                    .as_ref()
                    .and_then(|p| p.get("requestId"))
                    .and_then(RequestId::from_value);
                if let Some((server, call_id)) = id.and_then(|id| session.in_flight.remove(&id)) {
                    self.hub.cancel(&server, call_id, "cancelled by the client");
                }
            }
            _ => {}
        }
    }

    fn get(&self, request: McpRequest<'_>, caller: &Caller) -> Result<McpReply, McpError> {
        if !request.accept.is_some_and(|a| accepts(a, CONTENT_TYPE_SSE)) {
            return Err(McpError::NotAcceptable);
        }
        let session_id = request.session_id.ok_or(McpError::MissingSession)?;
        self.session_version(session_id, caller, request.protocol_version)?;
        let (tx, rx) = unbounded();
        if let Some(session) = self.sessions.borrow_mut().get_mut(session_id) {
            session.stream = Some(tx); // a second stream replaces the first
        }
        let mut response = McpResponse::empty(200);
        response.content_type = Some(CONTENT_TYPE_SSE);
        Ok(McpReply::Stream {
            response,
            events: rx,
        })
    }

    fn delete(&self, request: McpRequest<'_>, caller: &Caller) -> Result<McpReply, McpError> {
        let session_id = request.session_id.ok_or(McpError::MissingSession)?;
        self.session_version(session_id, caller, request.protocol_version)?;
        let session = self.sessions.borrow_mut().remove(session_id);
        if let Some(session) = session {
            self.cancel_session_calls(&session, "the client ended the session");
        }
        Ok(McpReply::Full(McpResponse::empty(200)))
    }
}

enum Dispatched {
    Reply(McpReply),
    Calls {
        session_id: String,
        sse: bool,
        batch: bool,
        slots: Vec<Slot>,
    },
}

/// Cancels the calls still listed when the handling future is dropped.
struct CancelOnDrop<'a> {
    gateway: &'a McpGateway,
    session_id: &'a str,
    calls: Vec<(RequestId, String, u64)>,
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        for (rpc_id, server, call_id) in self.calls.drain(..) {
            self.gateway
                .hub
                .cancel(&server, call_id, "the client disconnected");
            self.gateway.call_finished(self.session_id, &rpc_id);
        }
    }
}

/// The 200 answer carrying `messages` as JSON (one, or a batch) or as SSE events.
fn answer(sse: bool, batch: bool, messages: Vec<Vec<u8>>) -> McpResponse {
    let body = if sse {
        let mut body = Vec::new();
        for message in &messages {
            sse_frame(&mut body, message);
        }
        body
    } else if batch {
        encode_batch(&messages)
    } else {
        messages.into_iter().next().unwrap_or_default()
    };
    McpResponse {
        status: 200,
        content_type: Some(if sse {
            CONTENT_TYPE_SSE
        } else {
            CONTENT_TYPE_JSON
        }),
        session_id: None,
        allow: None,
        body,
    }
}

/// The media type of a `Content-Type` value, without parameters.
fn media_type(value: &str) -> &str {
    value.split(';').next().unwrap_or("").trim()
}

/// Whether an `Accept` value allows `wanted` (directly, by `type/*` or by `*/*`).
fn accepts(accept: &str, wanted: &str) -> bool {
    let family = wanted.split('/').next().unwrap_or("");
    accept.split(',').any(|item| {
        let media = media_type(item);
        media.eq_ignore_ascii_case(wanted)
            || media == "*/*"
            || media
                .strip_suffix("/*")
                .is_some_and(|f| f.eq_ignore_ascii_case(family))
    })
}
