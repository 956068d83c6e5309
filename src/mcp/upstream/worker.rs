//! The MCP client for one upstream server, run on its own helper thread: the handshake,
//! every page of `tools/list`, `tools/call` with a deadline, cancellation, answering the
//! server's pings, following `list_changed`, and reconnecting with backoff when the connection
//! (or the child process) dies. Shards reach it only through its channel.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use futures_channel::oneshot;
use serde_json::{Value, json};

use super::transport::{EventSink, Outgoing, Transport, TransportEvent};
use super::{CallOutcome, HubShared, UpstreamSession};
use crate::mcp::jsonrpc::{
    self, Message, REQUEST_TIMEOUT, RequestId, RpcError, encode_error, encode_notification,
    encode_request, encode_result,
};
use crate::mcp::session::SUPPORTED_PROTOCOL_VERSIONS;

/// First wait before reconnecting; doubles after each failure.
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
/// Longest wait between reconnection attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Shortest wait for `initialize` and `tools/list` answers: a child process may take seconds to
/// start, even when tool calls have a tighter `call_timeout_ms`.
pub const MIN_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// Most tool calls in flight (sent or waiting to be sent) to one server; past it a call is
/// refused at once (each HTTP call holds a helper thread in this transport).
pub const MAX_CALLS_PER_SERVER: usize = 256;
/// Most `tools/list` pages read from one server (a server paging forever is cut off).
pub const MAX_TOOL_PAGES: usize = 100;

/// What a worker is asked to do, or told by its transport.
pub enum WorkerInput {
    Call {
        call_id: u64,
        tool: String,
        arguments: Option<Value>,
        reply: oneshot::Sender<CallOutcome>,
    },
    Cancel {
        call_id: u64,
        reason: String,
    },
    Ping {
        reply: oneshot::Sender<CallOutcome>,
    },
    /// A shard's own call found session `generation` gone or the server unreachable.
    SessionLost {
        generation: u64,
        reason: String,
    },
    /// A shard abandoned its own call `request_id`.
    CancelRemote {
        request_id: Value,
        reason: String,
    },
    Transport(TransportEvent),
    Shutdown,
}

/// A shard's tool call: its id, where its answer goes, and by when.
struct Ticket {
    call_id: u64,
    reply: oneshot::Sender<CallOutcome>,
    deadline: Instant,
}

/// A request sent upstream and not yet answered.
enum Pending {
    Call(Ticket),
    Ping {
        reply: oneshot::Sender<CallOutcome>,
        deadline: Instant,
    },
    Initialize {
        deadline: Instant,
    },
    List {
        deadline: Instant,
    },
}

impl Pending {
    fn deadline(&self) -> Instant {
        match self {
            Pending::Call(Ticket { deadline, .. })
            | Pending::Ping { deadline, .. }
            | Pending::Initialize { deadline }
            | Pending::List { deadline } => *deadline,
        }
    }
}

/// A call waiting for the connection to be ready.
struct Queued {
    ticket: Ticket,
    tool: String,
    arguments: Option<Value>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Down,
    Initializing,
    Ready,
}

pub struct Worker {
    server: String,
    transport: Box<dyn Transport>,
    call_timeout: Duration,
    hub: Arc<HubShared>,
    inbox: Receiver<WorkerInput>,
    outbox: Sender<WorkerInput>,
    generation: u64,
    state: State,
    next_id: i64,
    pending: HashMap<i64, Pending>,
    by_call: HashMap<u64, i64>,
    queued: VecDeque<Queued>,
    /// Tools gathered by the `tools/list` in progress, and its page count.
    listing: Option<(Vec<Value>, usize)>,
    relist: bool,
    backoff: Duration,
    retry_at: Option<Instant>,
}

impl Worker {
    pub fn new(
        server: String,
        transport: Box<dyn Transport>,
        call_timeout: Duration,
        hub: Arc<HubShared>,
        inbox: Receiver<WorkerInput>,
        outbox: Sender<WorkerInput>,
    ) -> Worker {
        Worker {
            server,
            transport,
            call_timeout,
            hub,
            inbox,
            outbox,
            generation: 0,
            state: State::Down,
            next_id: 0,
            pending: HashMap::new(),
            by_call: HashMap::new(),
            queued: VecDeque::new(),
            listing: None,
            relist: false,
            backoff: INITIAL_BACKOFF,
            retry_at: Some(Instant::now()),
        }
    }

    /// Runs until shut down (or every handle to the hub is gone).
    pub fn run(mut self) {
        loop {
            let now = Instant::now();
            if self.state == State::Down && self.retry_at.is_some_and(|at| at <= now) {
                self.connect();
            }
            let wait = self.next_deadline().map_or(Duration::from_secs(1), |d| {
                d.saturating_duration_since(Instant::now())
            });
            match self.inbox.recv_timeout(wait) {
                Ok(WorkerInput::Shutdown) | Err(RecvTimeoutError::Disconnected) => break,
                Ok(input) => self.handle(input),
                Err(RecvTimeoutError::Timeout) => {}
            }
            self.expire(Instant::now());
        }
        self.transport.disconnect();
        self.fail_all("sluice is shutting down");
    }

    fn next_deadline(&self) -> Option<Instant> {
        let pending = self.pending.values().map(Pending::deadline);
        let queued = self.queued.iter().map(|q| q.ticket.deadline);
        let retry = match self.state {
            State::Down => self.retry_at,
            _ => None,
        };
        pending.chain(queued).chain(retry).min()
    }

    fn handle(&mut self, input: WorkerInput) {
        match input {
            WorkerInput::Call {
                call_id,
                tool,
                arguments,
                reply,
            } => {
                let in_flight = self.by_call.len() + self.queued.len();
                if in_flight >= MAX_CALLS_PER_SERVER {
                    let _ = reply.send(Err(self.down_error(&format!(
                        "has {in_flight} calls in flight, the most sluice sends it"
                    ))));
                    return;
                }
                let queued = Queued {
                    ticket: Ticket {
                        call_id,
                        reply,
                        deadline: Instant::now() + self.call_timeout,
                    },
                    tool,
                    arguments,
                };
                if self.state == State::Ready {
                    self.send_call(queued);
                } else {
                    self.queued.push_back(queued);
                }
            }
            WorkerInput::Cancel { call_id, reason } => self.cancel(call_id, &reason),
            WorkerInput::Ping { reply } => {
                if self.state != State::Ready {
                    let _ = reply.send(Err(self.down_error("is not connected")));
                    return;
                }
                let deadline = Instant::now() + self.call_timeout;
                self.request("ping", None, Pending::Ping { reply, deadline });
            }
            WorkerInput::SessionLost { generation, reason } => {
                if generation == self.generation && self.state == State::Ready {
                    self.go_down(&reason);
                }
            }
            WorkerInput::CancelRemote { request_id, reason } => {
                if self.state == State::Ready {
                    self.notify(
                        "notifications/cancelled",
                        Some(json!({"requestId": request_id, "reason": reason})),
                    );
                }
            }
            WorkerInput::Transport(event) => self.on_transport(event),
            WorkerInput::Shutdown => {}
        }
    }

    fn connect(&mut self) {
        self.generation += 1;
        self.listing = None;
        let outbox = self.outbox.clone();
        let sink: EventSink = Arc::new(move |event| {
            let _ = outbox.send(WorkerInput::Transport(event));
        });
        if let Err(reason) = self.transport.connect(self.generation, sink) {
            self.go_down(&reason);
            return;
        }
        self.state = State::Initializing;
        let params = json!({
            "protocolVersion": SUPPORTED_PROTOCOL_VERSIONS[0],
            "capabilities": {},
            "clientInfo": {"name": "sluice", "version": env!("CARGO_PKG_VERSION")},
        });
        let deadline = Instant::now() + self.call_timeout.max(MIN_HANDSHAKE_TIMEOUT);
        self.request("initialize", Some(params), Pending::Initialize { deadline });
    }

    /// Sends a request upstream, remembering what its answer completes.
    fn request(&mut self, method: &str, params: Option<Value>, pending: Pending) {
        self.next_id += 1;
        let id = self.next_id;
        if let Pending::Call(ticket) = &pending {
            self.by_call.insert(ticket.call_id, id);
        }
        self.pending.insert(id, pending);
        let bytes = encode_request(&RequestId::Number(id), method, params.as_ref());
        if let Err(reason) = self.transport.send(Outgoing {
            id: Some(id),
            bytes,
        }) {
            self.go_down(&reason);
        }
    }

    fn notify(&mut self, method: &str, params: Option<Value>) {
        let bytes = encode_notification(method, params.as_ref());
        if let Err(reason) = self.transport.send(Outgoing { id: None, bytes }) {
            self.go_down(&reason);
        }
    }

    fn send_call(&mut self, call: Queued) {
        let mut params = json!({"name": call.tool});
        if let Some(arguments) = call.arguments {
            params["arguments"] = arguments;
        }
        self.request("tools/call", Some(params), Pending::Call(call.ticket));
    }

    fn cancel(&mut self, call_id: u64, reason: &str) {
        if let Some(position) = self.queued.iter().position(|q| q.ticket.call_id == call_id) {
            self.queued.remove(position);
            return;
        }
        let Some(id) = self.by_call.remove(&call_id) else {
            return;
        };
        if self.pending.contains_key(&id) {
            // Upstream first: once the caller's answer resolves, the cancellation is on its way.
            self.notify(
                "notifications/cancelled",
                Some(json!({"requestId": id, "reason": reason})),
            );
            self.pending.remove(&id);
        }
    }

    fn on_transport(&mut self, event: TransportEvent) {
        match event {
            TransportEvent::Message {
                generation,
                message,
            } if generation == self.generation => match jsonrpc::parse_message(message) {
                Ok(message) => self.on_message(message),
                Err(invalid) => eprintln!(
                    "sluice: mcp server {}: unreadable message: {}",
                    self.server, invalid.error.message
                ),
            },
            TransportEvent::RequestFailed {
                generation,
                id,
                error,
            } if generation == self.generation => {
                self.complete(
                    id,
                    Err(RpcError::internal(format!(
                        "MCP server `{}`: {error}",
                        self.server
                    ))),
                );
            }
            TransportEvent::Closed { generation, reason } if generation == self.generation => {
                self.go_down(&reason);
            }
            _ => {} // from a connection already replaced
        }
    }

    fn on_message(&mut self, message: Message) {
        match message {
            Message::Response(response) => {
                if let Some(RequestId::Number(id)) = response.id {
                    self.complete(id, response.outcome);
                }
            }
            Message::Notification(notification) => {
                if notification.method == "notifications/tools/list_changed" {
                    if self.listing.is_some() {
                        self.relist = true;
                    } else if self.state == State::Ready {
                        self.list(None);
                    }
                }
            }
            Message::Request(request) => {
                let answer = match request.method.as_str() {
                    "ping" => encode_result(&request.id, &json!({})),
                    method => encode_error(Some(&request.id), &RpcError::method_not_found(method)),
                };
                if let Err(reason) = self.transport.send(Outgoing {
                    id: None,
                    bytes: answer,
                }) {
                    self.go_down(&reason);
                }
            }
        }
    }

    /// The answer to upstream request `id` arrived (or its transport failed).
    fn complete(&mut self, id: i64, outcome: Result<Value, RpcError>) {
        let Some(pending) = self.pending.remove(&id) else {
            return; // timed out or cancelled already
        };
        match pending {
            Pending::Call(Ticket { call_id, reply, .. }) => {
                self.by_call.remove(&call_id);
                let _ = reply.send(outcome);
            }
            Pending::Ping { reply, .. } => {
                let _ = reply.send(outcome);
            }
            Pending::Initialize { .. } => match outcome {
                Ok(result) => self.on_initialized(&result),
                Err(error) => self.go_down(&format!("initialize failed: {}", error.message)),
            },
            Pending::List { .. } => match outcome {
                Ok(result) => self.on_tools_page(result),
                Err(error) => self.go_down(&format!("tools/list failed: {}", error.message)),
            },
        }
    }

    fn on_initialized(&mut self, result: &Value) {
        let offered = result.get("protocolVersion").and_then(Value::as_str);
        let Some(version) =
            offered.and_then(|v| SUPPORTED_PROTOCOL_VERSIONS.iter().find(|s| **s == v))
        else {
            self.go_down(&format!(
                "the server answered initialize with protocol version {offered:?}, which sluice does not speak"
            ));
            return;
        };
        self.notify("notifications/initialized", None);
        if self.state != State::Initializing {
            return; // sending failed and the connection is down again
        }
        self.transport.initialized(version);
        self.state = State::Ready;
        if let Some(session_id) = self.transport.http_session() {
            let session = UpstreamSession {
                session_id,
                protocol_version: version,
                generation: self.generation,
            };
            self.hub.publish_session(&self.server, Some(session));
        }
        self.backoff = INITIAL_BACKOFF;
        self.list(None);
        while self.state == State::Ready
            && let Some(call) = self.queued.pop_front()
        {
            self.send_call(call);
        }
    }

    fn list(&mut self, cursor: Option<String>) {
        if cursor.is_none() {
            self.listing = Some((Vec::new(), 0));
            self.relist = false;
        }
        let params = cursor.map(|c| json!({"cursor": c}));
        let deadline = Instant::now() + self.call_timeout.max(MIN_HANDSHAKE_TIMEOUT);
        self.request("tools/list", params, Pending::List { deadline });
    }

    fn on_tools_page(&mut self, result: Value) {
        let Some((mut tools, pages)) = self.listing.take() else {
            return;
        };
        if let Some(Value::Array(page)) = result.get("tools") {
            tools.extend(page.iter().cloned());
        }
        let next = result.get("nextCursor").and_then(Value::as_str);
        match next {
            Some(cursor) if pages + 1 < MAX_TOOL_PAGES => {
                let cursor = cursor.to_owned();
                self.listing = Some((tools, pages + 1));
                self.list(Some(cursor));
            }
            _ => {
                if next.is_some() {
                    eprintln!(
                        "sluice: mcp server {}: tools/list still paging after {MAX_TOOL_PAGES} pages; keeping what was read",
                        self.server
                    );
                }
                self.hub.publish(&self.server, tools);
                if self.relist {
                    self.list(None);
                }
            }
        }
    }

    /// Times out what has waited too long.
    fn expire(&mut self, now: Instant) {
        let late: Vec<i64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline() <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in late {
            let Some(pending) = self.pending.remove(&id) else {
                continue;
            };
            let error = RpcError::new(
                REQUEST_TIMEOUT,
                format!(
                    "MCP server `{}` did not answer within {} ms",
                    self.server,
                    self.call_timeout.as_millis()
                ),
            );
            match pending {
                Pending::Call(Ticket { call_id, reply, .. }) => {
                    self.by_call.remove(&call_id);
                    self.notify(
                        "notifications/cancelled",
                        Some(json!({"requestId": id, "reason": "timed out in sluice"})),
                    );
                    let _ = reply.send(Err(error));
                }
                Pending::Ping { reply, .. } => {
                    let _ = reply.send(Err(error));
                }
                Pending::Initialize { .. } | Pending::List { .. } => {
                    self.go_down("the handshake or tools/list timed out");
                }
            }
        }
        while let Some(position) = self.queued.iter().position(|q| q.ticket.deadline <= now) {
            if let Some(call) = self.queued.remove(position) {
                let _ = call
                    .ticket
                    .reply
                    .send(Err(self.down_error("could not be reached in time")));
            }
        }
    }

    fn down_error(&self, what: &str) -> RpcError {
        RpcError::internal(format!("MCP server `{}` {what}", self.server))
    }

    /// The connection is gone: fail what was in flight, retry after the backoff.
    fn go_down(&mut self, reason: &str) {
        eprintln!(
            "sluice: mcp server {}: {reason}; reconnecting in {:?}",
            self.server, self.backoff
        );
        self.transport.disconnect();
        self.hub.publish_session(&self.server, None);
        self.state = State::Down;
        self.listing = None;
        self.generation += 1;
        self.fail_all(&format!(
            "failed mid-call ({reason}); sluice is reconnecting"
        ));
        self.retry_at = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }

    fn fail_all(&mut self, why: &str) {
        self.by_call.clear();
        for (_, pending) in self.pending.drain() {
            let error = RpcError::internal(format!("MCP server `{}` {why}", self.server));
            match pending {
                Pending::Call(Ticket { reply, .. }) | Pending::Ping { reply, .. } => {
                    let _ = reply.send(Err(error));
                }
                Pending::Initialize { .. } | Pending::List { .. } => {}
            }
        }
    }
}
