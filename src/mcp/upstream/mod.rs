//! sluice as an MCP client of every `[[mcp_servers]]` entry: one helper thread per server runs
//! the client ([`worker`]) over its transport ([`stdio`] or [`http`]); shards call tools through
//! a [`HubHandle`], which only sends on channels and hands back oneshot futures, so nothing
//! blocks a shard.

pub mod http;
pub mod stdio;
pub mod transport;
pub mod worker;

use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use futures_channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use futures_channel::oneshot;
use serde_json::Value;

use super::jsonrpc::RpcError;
use crate::config::{McpServerConfig, McpTransportConfig};
use transport::Transport;
use worker::{Worker, WorkerInput};

/// A tools/call (or ping) answer: the upstream's `result` object, or a JSON-RPC error.
pub type CallOutcome = Result<Value, RpcError>;

/// A change the shards follow.
#[derive(Clone, Debug, PartialEq)]
pub enum HubEvent {
    /// `server` now lists exactly `tools` (its definitions, as listed).
    Tools {
        server: String,
        tools: Arc<Vec<Value>>,
    },
    /// A Streamable HTTP `server`'s session is ready for the shards' own `tools/call`s
    /// (`None`: it is down or reconnecting; calls go through its helper thread meanwhile).
    Session {
        server: String,
        session: Option<UpstreamSession>,
    },
}

/// An HTTP server's current session, as the shards need it to call tools themselves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamSession {
    /// `Mcp-Session-Id` to send (`None`: the server issued none).
    pub session_id: Option<String>,
    /// The negotiated `MCP-Protocol-Version`.
    pub protocol_version: &'static str,
    /// The helper's connection number, named back in [`HubHandle::session_lost`].
    pub generation: u64,
}

/// What the helper threads and the handles share. Its locks are taken by helper threads and
/// at subscription, never on a shard's request path.
pub struct HubShared {
    workers: HashMap<String, Sender<WorkerInput>>,
    tools: Mutex<BTreeMap<String, Arc<Vec<Value>>>>,
    sessions: Mutex<BTreeMap<String, UpstreamSession>>,
    listed: Condvar,
    subscribers: Mutex<Vec<UnboundedSender<HubEvent>>>,
}

impl HubShared {
    /// An HTTP server's session is ready (or gone): remember it and tell every subscriber.
    fn publish_session(&self, server: &str, session: Option<UpstreamSession>) {
        let known = self.tools.lock().unwrap_or_else(|e| e.into_inner());
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if sessions.get(server) == session.as_ref() {
            return;
        }
        match &session {
            Some(session) => sessions.insert(server.to_owned(), session.clone()),
            None => sessions.remove(server),
        };
        drop(sessions);
        let event = HubEvent::Session {
            server: server.to_owned(),
            session,
        };
        // Sent while `tools` is held, as `subscribe` snapshots under it.
        self.subscribers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|s| s.unbounded_send(event.clone()).is_ok());
        drop(known);
    }

    /// A server listed its tools: remember them and tell every subscriber.
    fn publish(&self, server: &str, tools: Vec<Value>) {
        let tools = Arc::new(tools);
        let mut known = self.tools.lock().unwrap_or_else(|e| e.into_inner());
        if known.get(server) == Some(&tools) {
            return;
        }
        known.insert(server.to_owned(), tools.clone());
        self.listed.notify_all();
        drop(known);
        let event = HubEvent::Tools {
            server: server.to_owned(),
            tools,
        };
        self.subscribers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|s| s.unbounded_send(event.clone()).is_ok());
    }
}

/// The running upstream clients. Dropping it (or [`Hub::shutdown`]) stops them.
pub struct Hub {
    handle: HubHandle,
    threads: Vec<JoinHandle<()>>,
}

impl Hub {
    /// Starts one client per configured server.
    pub fn start(servers: &[McpServerConfig]) -> Result<Hub, String> {
        let transports = servers
            .iter()
            .map(|server| {
                let transport: Box<dyn Transport> = match &server.transport {
                    McpTransportConfig::Http { url, headers } => {
                        Box::new(http::HttpTransport::new(
                            url,
                            headers,
                            server.call_timeout + http::HTTP_CONNECT_TIMEOUT,
                        ))
                    }
                    McpTransportConfig::Stdio { command, args, env } => {
                        Box::new(stdio::StdioTransport::new(&server.name, command, args, env))
                    }
                };
                (server.name.clone(), transport, server.call_timeout)
            })
            .collect();
        Hub::start_with(transports)
    }

    /// Starts one client per `(name, transport, call timeout)`; the seam for other transports.
    pub fn start_with(servers: Vec<(String, Box<dyn Transport>, Duration)>) -> Result<Hub, String> {
        let mut workers = HashMap::new();
        let mut inboxes = Vec::new();
        for (name, transport, timeout) in servers {
            let (tx, rx) = mpsc::channel();
            workers.insert(name.clone(), tx.clone());
            inboxes.push((name, transport, timeout, rx, tx));
        }
        let shared = Arc::new(HubShared {
            workers,
            tools: Mutex::new(BTreeMap::new()),
            sessions: Mutex::new(BTreeMap::new()),
            listed: Condvar::new(),
            subscribers: Mutex::new(Vec::new()),
        });
        let mut threads = Vec::new();
        for (name, transport, timeout, rx, tx) in inboxes {
            let worker = Worker::new(name.clone(), transport, timeout, shared.clone(), rx, tx);
            let thread = thread::Builder::new()
                .name(format!("mcp-{name}"))
                .spawn(move || worker.run())
                .map_err(|e| format!("cannot start the MCP client thread for `{name}`: {e}"))?;
            threads.push(thread);
        }
        Ok(Hub {
            handle: HubHandle { shared },
            threads,
        })
    }

    pub fn handle(&self) -> HubHandle {
        self.handle.clone()
    }

    /// Blocks (start-up thread only, never a shard) until every server has listed its tools
    /// once, or `timeout` passes; returns whether all did.
    pub fn wait_for_tools(&self, timeout: Duration) -> bool {
        let shared = &self.handle.shared;
        let deadline = Instant::now() + timeout;
        let mut known = shared.tools.lock().unwrap_or_else(|e| e.into_inner());
        while known.len() < shared.workers.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            known = shared
                .listed
                .wait_timeout(known, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    /// Every server's last listed tools.
    pub fn tools(&self) -> BTreeMap<String, Arc<Vec<Value>>> {
        self.handle.tools()
    }

    /// Stops every client (children are killed) and waits for their threads.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        for worker in self.handle.shared.workers.values() {
            let _ = worker.send(WorkerInput::Shutdown);
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What a shard holds to reach the upstream clients: sending only, never waiting.
#[derive(Clone)]
pub struct HubHandle {
    shared: Arc<HubShared>,
}

impl HubHandle {
    /// Calls `tool` (its upstream name) on `server`; `call_id` is the caller's unique id for
    /// [`HubHandle::cancel`]. The answer arrives on the returned oneshot.
    pub fn call(
        &self,
        call_id: u64,
        server: &str,
        tool: &str,
        arguments: Option<Value>,
    ) -> oneshot::Receiver<CallOutcome> {
        let (reply, answer) = oneshot::channel();
        match self.shared.workers.get(server) {
            Some(worker) => {
                let input = WorkerInput::Call {
                    call_id,
                    tool: tool.to_owned(),
                    arguments,
                    reply,
                };
                if let Err(mpsc::SendError(WorkerInput::Call { reply, .. })) = worker.send(input) {
                    let _ = reply.send(Err(stopped(server)));
                }
            }
            None => {
                let _ = reply.send(Err(RpcError::internal(format!(
                    "no MCP server named `{server}`"
                ))));
            }
        }
        answer
    }

    /// Abandons call `call_id` on `server`: the upstream gets `notifications/cancelled`.
    pub fn cancel(&self, server: &str, call_id: u64, reason: &str) {
        if let Some(worker) = self.shared.workers.get(server) {
            let _ = worker.send(WorkerInput::Cancel {
                call_id,
                reason: reason.to_owned(),
            });
        }
    }

    /// A shard's own call found `server`'s session `generation` gone (404) or the server
    /// unreachable: its helper reconnects (a newer session is left alone).
    pub fn session_lost(&self, server: &str, generation: u64, reason: &str) {
        if let Some(worker) = self.shared.workers.get(server) {
            let _ = worker.send(WorkerInput::SessionLost {
                generation,
                reason: reason.to_owned(),
            });
        }
    }

    /// A shard abandons its own call `request_id` on `server`: the helper sends the
    /// server `notifications/cancelled` on the session.
    pub fn cancel_remote(&self, server: &str, request_id: Value, reason: &str) {
        if let Some(worker) = self.shared.workers.get(server) {
            let _ = worker.send(WorkerInput::CancelRemote {
                request_id,
                reason: reason.to_owned(),
            });
        }
    }

    /// Pings `server` (a health probe).
    pub fn ping(&self, server: &str) -> oneshot::Receiver<CallOutcome> {
        let (reply, answer) = oneshot::channel();
        match self.shared.workers.get(server) {
            Some(worker) => {
                if let Err(mpsc::SendError(WorkerInput::Ping { reply })) =
                    worker.send(WorkerInput::Ping { reply })
                {
                    let _ = reply.send(Err(stopped(server)));
                }
            }
            None => {
                let _ = reply.send(Err(RpcError::internal(format!(
                    "no MCP server named `{server}`"
                ))));
            }
        }
        answer
    }

    /// Tool-list changes from now on, starting with every server's current list.
    pub fn subscribe(&self) -> UnboundedReceiver<HubEvent> {
        let (tx, rx) = unbounded();
        let known = self.shared.tools.lock().unwrap_or_else(|e| e.into_inner());
        for (server, tools) in known.iter() {
            let _ = tx.unbounded_send(HubEvent::Tools {
                server: server.clone(),
                tools: tools.clone(),
            });
        }
        for (server, session) in self
            .shared
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = tx.unbounded_send(HubEvent::Session {
                server: server.clone(),
                session: Some(session.clone()),
            });
        }
        // Registered while `tools` is held, so no publish falls between snapshot and list.
        self.shared
            .subscribers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(tx);
        drop(known);
        rx
    }

    /// Every server's last listed tools.
    pub fn tools(&self) -> BTreeMap<String, Arc<Vec<Value>>> {
        self.shared
            .tools
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The configured server names.
    pub fn servers(&self) -> Vec<String> {
        let mut names: Vec<String> = self.shared.workers.keys().cloned().collect();
        names.sort();
        names
    }
}

fn stopped(server: &str) -> RpcError {
    RpcError::internal(format!("the MCP client for `{server}` has stopped"))
}
