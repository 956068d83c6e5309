//! The Streamable HTTP transport, phase 1: each POST runs on its own short helper thread with a
//! blocking client (`ureq`), answers read as JSON or as an SSE stream, the `Mcp-Session-Id`
//! kept and sent back, and a GET stream for the server's notifications.

use std::io::Read;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::Value;

use super::transport::{EventSink, Outgoing, Transport, TransportEvent};
use crate::config::Secret;
use crate::mcp::MAX_RESULT_BYTES;
use crate::mcp::jsonrpc::SseMessageReader;

/// Connect timeout for every request to an HTTP MCP server.
pub const HTTP_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest error body quoted in an error message.
const QUOTED_BODY_BYTES: usize = 300;

/// What the request threads share about the current connection.
#[derive(Default)]
struct Shared {
    generation: u64,
    session_id: Option<String>,
    protocol_version: Option<String>,
}

/// A Streamable HTTP MCP server.
pub struct HttpTransport {
    url: String,
    headers: Arc<Vec<(String, Secret)>>,
    agent: ureq::Agent,
    stream_agent: ureq::Agent,
    shared: Arc<Mutex<Shared>>,
    sink: Option<EventSink>,
}

impl HttpTransport {
    /// `request_timeout` bounds a whole POST (the call timeout is enforced above this too).
    pub fn new(
        url: &str,
        headers: &[(String, Secret)],
        request_timeout: Duration,
    ) -> HttpTransport {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(HTTP_CONNECT_TIMEOUT))
            .timeout_global(Some(request_timeout))
            .build()
            .into();
        let stream_agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(HTTP_CONNECT_TIMEOUT))
            .build()
            .into();
        HttpTransport {
            url: url.to_owned(),
            headers: Arc::new(headers.to_vec()),
            agent,
            stream_agent,
            shared: Arc::new(Mutex::new(Shared::default())),
            sink: None,
        }
    }

    /// The current generation, session id and protocol version.
    fn snapshot(shared: &Mutex<Shared>) -> (u64, Option<String>, Option<String>) {
        let state = shared.lock().unwrap_or_else(|e| e.into_inner());
        (
            state.generation,
            state.session_id.clone(),
            state.protocol_version.clone(),
        )
    }
}

impl Transport for HttpTransport {
    fn connect(&mut self, generation: u64, sink: EventSink) -> Result<(), String> {
        self.disconnect();
        let mut state = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        *state = Shared {
            generation,
            ..Shared::default()
        };
        self.sink = Some(sink);
        Ok(())
    }

    fn send(&mut self, message: Outgoing) -> Result<(), String> {
        let sink = self.sink.clone().ok_or("not connected")?;
        let (agent, url, headers, shared) = (
            self.agent.clone(),
            self.url.clone(),
            self.headers.clone(),
            self.shared.clone(),
        );
        thread::Builder::new()
            .name("mcp-http-post".into())
            .spawn(move || post(&agent, &url, &headers, &shared, message, &sink))
            .map(|_| ())
            .map_err(|e| format!("cannot start an HTTP request thread: {e}"))
    }

    fn initialized(&mut self, protocol_version: &str) {
        self.shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .protocol_version = Some(protocol_version.to_owned());
        let Some(sink) = self.sink.clone() else {
            return;
        };
        let (agent, url, headers, shared) = (
            self.stream_agent.clone(),
            self.url.clone(),
            self.headers.clone(),
            self.shared.clone(),
        );
        let _ = thread::Builder::new()
            .name("mcp-http-stream".into())
            .spawn(move || listen(&agent, &url, &headers, &shared, &sink));
    }

    fn http_session(&self) -> Option<Option<String>> {
        Some(HttpTransport::snapshot(&self.shared).1)
    }

    fn disconnect(&mut self) {
        let (_, session_id, version) = HttpTransport::snapshot(&self.shared);
        self.sink = None;
        if let Some(session_id) = session_id {
            // Ending the session is a courtesy: its answer changes nothing.
            let (agent, url, headers) =
                (self.agent.clone(), self.url.clone(), self.headers.clone());
            let _ = thread::Builder::new()
                .name("mcp-http-delete".into())
                .spawn(move || {
                    let request = with_headers(
                        agent.delete(&url),
                        Some(&session_id),
                        version.as_deref(),
                        &headers,
                    );
                    let _ = request.call();
                });
        }
    }
}

/// Adds the session id, the negotiated version and the configured headers to `request`.
fn with_headers<B>(
    mut request: ureq::RequestBuilder<B>,
    session_id: Option<&str>,
    version: Option<&str>,
    headers: &[(String, Secret)],
) -> ureq::RequestBuilder<B> {
    if let Some(session_id) = session_id {
        request = request.header("Mcp-Session-Id", session_id);
    }
    if let Some(version) = version {
        request = request.header("MCP-Protocol-Version", version);
    }
    for (name, value) in headers {
        request = request.header(name, value.expose());
    }
    request
}

/// One POST: sends `message`, reports every message in the answer.
fn post(
    agent: &ureq::Agent,
    url: &str,
    headers: &[(String, Secret)],
    shared: &Mutex<Shared>,
    message: Outgoing,
    sink: &EventSink,
) {
    let (generation, session_id, version) = HttpTransport::snapshot(shared);
    let request = with_headers(
        agent
            .post(url)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json, text/event-stream"),
        session_id.as_deref(),
        version.as_deref(),
        headers,
    );
    let fail = |error: String| {
        if let Some(id) = message.id {
            sink(TransportEvent::RequestFailed {
                generation,
                id,
                error,
            });
        }
    };
    let response = match request.send(&message.bytes[..]) {
        Ok(response) => response,
        Err(e) => {
            fail(format!("cannot reach the MCP server: {e}"));
            sink(TransportEvent::Closed {
                generation,
                reason: format!("cannot reach the MCP server: {e}"),
            });
            return;
        }
    };
    let status = response.status().as_u16();
    if let Some(new_id) = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
    {
        let mut state = shared.lock().unwrap_or_else(|e| e.into_inner());
        if state.generation == generation && state.session_id.is_none() {
            state.session_id = Some(new_id.to_owned());
        }
    }
    let is_sse = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let body = response.into_body().into_reader();
    if status == 404 && session_id.is_some() {
        fail("the MCP server ended the session".to_owned());
        sink(TransportEvent::Closed {
            generation,
            reason: "the MCP server no longer knows the session (404)".to_owned(),
        });
        return;
    }
    if status == 202 {
        return;
    }
    let mut delivered = false;
    let result = if is_sse {
        read_sse(body, |message| {
            delivered = true;
            sink(TransportEvent::Message {
                generation,
                message,
            })
        })
    } else {
        read_capped(body).and_then(|bytes| {
            if bytes.is_empty() {
                return Ok(());
            }
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Array(messages)) => {
                    for message in messages {
                        delivered = true;
                        sink(TransportEvent::Message {
                            generation,
                            message,
                        });
                    }
                    Ok(())
                }
                Ok(message) if message.get("jsonrpc").is_some() => {
                    delivered = true;
                    sink(TransportEvent::Message {
                        generation,
                        message,
                    });
                    Ok(())
                }
                _ => Err(format!(
                    "HTTP {status}: {}",
                    String::from_utf8_lossy(&bytes[..bytes.len().min(QUOTED_BODY_BYTES)])
                )),
            }
        })
    };
    match result {
        Err(error) => fail(error),
        Ok(()) if !delivered && status >= 300 => fail(format!("HTTP {status} with no answer")),
        Ok(()) if !delivered && message.id.is_some() => fail(format!(
            "HTTP {status}: the answer held no JSON-RPC response"
        )),
        Ok(()) => {}
    }
}

/// The server-to-client stream: every message it carries, until it ends.
fn listen(
    agent: &ureq::Agent,
    url: &str,
    headers: &[(String, Secret)],
    shared: &Mutex<Shared>,
    sink: &EventSink,
) {
    let (generation, session_id, version) = HttpTransport::snapshot(shared);
    let request = with_headers(
        agent.get(url).header("Accept", "text/event-stream"),
        session_id.as_deref(),
        version.as_deref(),
        headers,
    );
    let Ok(response) = request.call() else {
        return;
    };
    if response.status().as_u16() != 200 {
        return; // 405: this server offers no stream, which the spec allows.
    }
    let _ = read_sse(response.into_body().into_reader(), |message| {
        sink(TransportEvent::Message {
            generation,
            message,
        })
    });
}

/// Reads an SSE body, handing out each JSON-RPC message; fails past [`MAX_RESULT_BYTES`].
fn read_sse(mut body: impl Read, mut on_message: impl FnMut(Value)) -> Result<(), String> {
    let mut reader = SseMessageReader::new();
    let mut buffer = vec![0u8; 16 * 1024];
    let mut total = 0usize;
    loop {
        let n = body
            .read(&mut buffer)
            .map_err(|e| format!("the MCP server's stream broke: {e}"))?;
        if n == 0 {
            return Ok(());
        }
        total += n;
        if total > MAX_RESULT_BYTES {
            return Err(too_large());
        }
        reader.feed(&buffer[..n], |message| match message {
            Ok(message) => on_message(message),
            Err(invalid) => eprintln!("sluice: mcp: {}", invalid.error.message),
        });
    }
}

/// The whole body, failing past [`MAX_RESULT_BYTES`].
fn read_capped(body: impl Read) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    body.take(MAX_RESULT_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read the MCP server's answer: {e}"))?;
    if bytes.len() > MAX_RESULT_BYTES {
        return Err(too_large());
    }
    Ok(bytes)
}

/// The error for an answer past [`MAX_RESULT_BYTES`].
pub fn too_large() -> String {
    format!("the MCP server's answer is over the {MAX_RESULT_BYTES}-byte limit")
}
