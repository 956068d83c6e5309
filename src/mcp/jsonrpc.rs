//! JSON-RPC 2.0 as MCP uses it, IO-free: parse requests, notifications and responses (single or
//! batch), typed errors with the spec's codes, encoding, SSE framing of messages, and the
//! newline framing of the stdio transport.

use serde_json::{Map, Value, json};

use crate::sse::SseParser;

/// Invalid JSON was received.
pub const PARSE_ERROR: i64 = -32700;
/// The JSON sent is not a valid request object (or a batch where the version forbids one).
pub const INVALID_REQUEST: i64 = -32600;
/// The method does not exist or is not available.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// Invalid method parameters.
pub const INVALID_PARAMS: i64 = -32602;
/// Internal JSON-RPC error.
pub const INTERNAL_ERROR: i64 = -32603;
/// An upstream did not answer in time (the code the official SDKs use for request timeouts).
pub const REQUEST_TIMEOUT: i64 = -32001;
/// sluice's own server error (JSON-RPC reserves -32000..-32099 for these): a `tools/call`
/// refused by a `tool_calls` rate limit (or the key's governance); `data` carries
/// `retry_after_secs` and the reason.
pub const RATE_LIMITED: i64 = -32029;

/// Longest newline-delimited message read from a stdio server (the result cap plus framing).
pub const MAX_LINE_BYTES: usize = super::MAX_RESULT_BYTES + 64 * 1024;

/// A request id: MCP allows a string or an integer, never null.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RequestId {
    Number(i64),
    String(String),
}

impl RequestId {
    /// The id as JSON.
    pub fn to_value(&self) -> Value {
        match self {
            RequestId::Number(n) => Value::from(*n),
            RequestId::String(s) => Value::String(s.clone()),
        }
    }

    /// Reads an id; `None` for null, floats, objects and the rest.
    pub fn from_value(value: &Value) -> Option<RequestId> {
        match value {
            Value::Number(n) => n.as_i64().map(RequestId::Number),
            Value::String(s) => Some(RequestId::String(s.clone())),
            _ => None,
        }
    }
}

/// A JSON-RPC error object.
#[derive(Clone, Debug, PartialEq)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    pub data: Option<Value>,
}

impl RpcError {
    pub fn new(code: i64, message: impl Into<String>) -> RpcError {
        RpcError {
            code,
            message: message.into(),
            data: None,
        }
    }

    pub fn parse(message: impl Into<String>) -> RpcError {
        RpcError::new(PARSE_ERROR, message)
    }

    pub fn invalid_request(message: impl Into<String>) -> RpcError {
        RpcError::new(INVALID_REQUEST, message)
    }

    pub fn method_not_found(method: &str) -> RpcError {
        RpcError::new(METHOD_NOT_FOUND, format!("Method not found: {method}"))
    }

    pub fn invalid_params(message: impl Into<String>) -> RpcError {
        RpcError::new(INVALID_PARAMS, message)
    }

    pub fn internal(message: impl Into<String>) -> RpcError {
        RpcError::new(INTERNAL_ERROR, message)
    }

    /// The error as a JSON object.
    pub fn to_value(&self) -> Value {
        let mut object = Map::new();
        object.insert("code".into(), Value::from(self.code));
        object.insert("message".into(), Value::String(self.message.clone()));
        if let Some(data) = &self.data {
            object.insert("data".into(), data.clone());
        }
        Value::Object(object)
    }

    /// Reads an error object; a malformed one becomes an internal error that says so.
    pub fn from_value(value: &Value) -> RpcError {
        let code = value.get("code").and_then(Value::as_i64);
        let message = value.get("message").and_then(Value::as_str);
        match (code, message) {
            (Some(code), Some(message)) => RpcError {
                code,
                message: message.to_owned(),
                data: value.get("data").cloned(),
            },
            _ => RpcError::internal(format!("malformed error object from upstream: {value}")),
        }
    }
}

/// A request: it expects a response with the same id.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub id: RequestId,
    pub method: String,
    pub params: Option<Value>,
}

/// A notification: no id, no response.
#[derive(Clone, Debug, PartialEq)]
pub struct Notification {
    pub method: String,
    pub params: Option<Value>,
}

/// A response: a result or an error for the request with `id`.
#[derive(Clone, Debug, PartialEq)]
pub struct Response {
    pub id: Option<RequestId>,
    pub outcome: Result<Value, RpcError>,
}

/// One JSON-RPC message.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    Request(Request),
    Notification(Notification),
    Response(Response),
}

/// A message that could not be read: the error to answer with, and the id when one was found.
#[derive(Clone, Debug, PartialEq)]
pub struct Invalid {
    pub id: Option<RequestId>,
    pub error: RpcError,
}

/// A POST body: one message, or a batch (each element read on its own).
#[derive(Clone, Debug, PartialEq)]
pub enum Incoming {
    Single(Message),
    Batch(Vec<Result<Message, Invalid>>),
}

/// Reads a whole body. Not JSON → parse error; an empty batch or a non-object → invalid request.
pub fn parse_body(bytes: &[u8]) -> Result<Incoming, Invalid> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| Invalid {
        id: None,
        error: RpcError::parse(format!("Parse error: {e}")),
    })?;
    match value {
        Value::Array(items) if items.is_empty() => Err(Invalid {
            id: None,
            error: RpcError::invalid_request("Invalid Request: empty batch"),
        }),
        Value::Array(items) => Ok(Incoming::Batch(
            items.into_iter().map(parse_message).collect(),
        )),
        other => parse_message(other).map(Incoming::Single),
    }
}

/// Reads one message from its JSON value.
pub fn parse_message(value: Value) -> Result<Message, Invalid> {
    let Value::Object(mut object) = value else {
        return Err(Invalid {
            id: None,
            error: RpcError::invalid_request("Invalid Request: not an object"),
        });
    };
    let raw_id = object.remove("id");
    let id = raw_id.as_ref().and_then(RequestId::from_value);
    let invalid = |message: &str| Invalid {
        id: id.clone(),
        error: RpcError::invalid_request(format!("Invalid Request: {message}")),
    };
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(invalid("`jsonrpc` must be \"2.0\""));
    }
    if raw_id.is_some() && id.is_none() {
        return Err(invalid("`id` must be a string or an integer"));
    }
    let params = object.remove("params");
    if params
        .as_ref()
        .is_some_and(|p| !p.is_object() && !p.is_array())
    {
        return Err(invalid("`params` must be an object or an array"));
    }
    match object.remove("method") {
        Some(Value::String(method)) => Ok(match id {
            Some(id) => Message::Request(Request { id, method, params }),
            None => Message::Notification(Notification { method, params }),
        }),
        Some(_) => Err(invalid("`method` must be a string")),
        None => match (object.remove("result"), object.remove("error")) {
            (Some(result), None) => Ok(Message::Response(Response {
                id,
                outcome: Ok(result),
            })),
            (None, Some(error)) => Ok(Message::Response(Response {
                id,
                outcome: Err(RpcError::from_value(&error)),
            })),
            _ => Err(invalid(
                "needs `method`, or exactly one of `result` and `error`",
            )),
        },
    }
}

/// `{"jsonrpc":"2.0","id":..,"result":..}`.
pub fn encode_result(id: &RequestId, result: &Value) -> Vec<u8> {
    json!({"jsonrpc": "2.0", "id": id.to_value(), "result": result})
        .to_string()
        .into_bytes()
}

/// `{"jsonrpc":"2.0","id":..|null,"error":{..}}`.
pub fn encode_error(id: Option<&RequestId>, error: &RpcError) -> Vec<u8> {
    let id = id.map_or(Value::Null, RequestId::to_value);
    json!({"jsonrpc": "2.0", "id": id, "error": error.to_value()})
        .to_string()
        .into_bytes()
}

/// A response, whichever its outcome.
pub fn encode_response(id: &RequestId, outcome: &Result<Value, RpcError>) -> Vec<u8> {
    match outcome {
        Ok(result) => encode_result(id, result),
        Err(error) => encode_error(Some(id), error),
    }
}

/// `{"jsonrpc":"2.0","id":..,"method":..,"params":..}`.
pub fn encode_request(id: &RequestId, method: &str, params: Option<&Value>) -> Vec<u8> {
    let mut object = json!({"jsonrpc": "2.0", "id": id.to_value(), "method": method});
    if let (Some(params), Value::Object(map)) = (params, &mut object) {
        map.insert("params".into(), params.clone());
    }
    object.to_string().into_bytes()
}

/// `{"jsonrpc":"2.0","method":..,"params":..}`.
pub fn encode_notification(method: &str, params: Option<&Value>) -> Vec<u8> {
    let mut object = json!({"jsonrpc": "2.0", "method": method});
    if let (Some(params), Value::Object(map)) = (params, &mut object) {
        map.insert("params".into(), params.clone());
    }
    object.to_string().into_bytes()
}

/// Joins encoded messages into one batch array.
pub fn encode_batch(messages: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(messages.iter().map(|m| m.len() + 1).sum::<usize>() + 2);
    out.push(b'[');
    for (index, message) in messages.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        out.extend_from_slice(message);
    }
    out.push(b']');
    out
}

/// Appends one SSE event carrying `json` (compact JSON has no raw newlines, so one `data:` line).
pub fn sse_frame(out: &mut Vec<u8>, json: &[u8]) {
    out.extend_from_slice(b"event: message\ndata: ");
    out.extend_from_slice(json);
    out.extend_from_slice(b"\n\n");
}

/// JSON-RPC messages out of an SSE byte stream (an upstream's `text/event-stream` answer), fed
/// in arbitrary pieces. Events with other types, empty data (priming events) and comments are
/// skipped; data that is not JSON is reported.
#[derive(Default)]
pub struct SseMessageReader {
    parser: SseParser,
}

impl SseMessageReader {
    pub fn new() -> SseMessageReader {
        SseMessageReader::default()
    }

    /// Feeds `input`, handing each complete message's JSON (or why it is not JSON) out; the
    /// caller reads it with [`parse_message`].
    pub fn feed(&mut self, input: &[u8], mut on_message: impl FnMut(Result<Value, Invalid>)) {
        self.parser.feed(input, |event| {
            let kind = event.event_type();
            if kind != b"message" || event.data.is_empty() {
                return;
            }
            let message = serde_json::from_slice::<Value>(event.data).map_err(|e| Invalid {
                id: None,
                error: RpcError::parse(format!("upstream sent an SSE event that is not JSON: {e}")),
            });
            on_message(message);
        });
    }
}

/// What a [`LineFramer`] found.
#[derive(Debug, PartialEq)]
pub enum Line<'a> {
    /// One complete line, without its `\n` (and without a `\r` before it).
    Complete(&'a [u8]),
    /// A line longer than the limit ended; its first bytes (for finding its id) are kept.
    Oversized { head: &'a [u8], len: usize },
}

/// Bytes kept from the start of an oversized line.
pub const OVERSIZED_HEAD_BYTES: usize = 256;

/// Splits a byte stream into lines for the stdio transport, holding at most `limit` bytes of a
/// partial line; a longer line is dropped whole and reported as [`Line::Oversized`].
pub struct LineFramer {
    buffer: Vec<u8>,
    limit: usize,
    /// Length of the oversized line being skipped, if any.
    skipping: Option<usize>,
}

impl LineFramer {
    pub fn new(limit: usize) -> LineFramer {
        LineFramer {
            buffer: Vec::new(),
            limit,
            skipping: None,
        }
    }

    /// Feeds `input`, calling `on_line` for every line that ends inside it.
    pub fn feed(&mut self, mut input: &[u8], mut on_line: impl FnMut(Line<'_>)) {
        while !input.is_empty() {
            let newline = memchr::memchr(b'\n', input);
            let piece = &input[..newline.unwrap_or(input.len())];
            match self.skipping.as_mut() {
                Some(len) => *len += piece.len(),
                None if self.buffer.len() + piece.len() > self.limit => {
                    let keep = OVERSIZED_HEAD_BYTES.saturating_sub(self.buffer.len());
                    let len = self.buffer.len() + piece.len();
                    self.buffer
                        .extend_from_slice(&piece[..keep.min(piece.len())]);
                    self.buffer.truncate(OVERSIZED_HEAD_BYTES);
                    self.skipping = Some(len);
                }
                None => self.buffer.extend_from_slice(piece),
            }
            let Some(at) = newline else {
                return;
            };
            match self.skipping.take() {
                Some(len) => on_line(Line::Oversized {
                    head: &self.buffer,
                    len,
                }),
                None => {
                    let line = self.buffer.strip_suffix(b"\r").unwrap_or(&self.buffer);
                    if !line.is_empty() {
                        on_line(Line::Complete(line));
                    }
                }
            }
            self.buffer.clear();
            input = &input[at + 1..];
        }
    }
}

/// The integer id near the start of an oversized message (`"id":12`), if it is there.
pub fn peek_numeric_id(head: &[u8]) -> Option<i64> {
    let at = memchr::memmem::find(head, b"\"id\"")?;
    let rest = &head[at + 4..];
    let rest = &rest[rest.iter().position(|b| !b.is_ascii_whitespace())?..];
    let rest = rest.strip_prefix(b":")?;
    let start = rest.iter().position(|b| !b.is_ascii_whitespace())?;
    let digits = &rest[start..];
    let end = digits
        .iter()
        .position(|b| !(b.is_ascii_digit() || *b == b'-'))
        .unwrap_or(digits.len());
    if end == digits.len() {
        return None;
    }
    std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
}
