//! A tiny raw HTTP/1.1 client over std TCP (or TLS) so tests control every byte sent and see
//! every byte received: chunked decoding, keep-alive reuse, streaming reads, close detection.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::mock::Wire;
use super::tls::TestPki;

/// Longest a single read may block before the test fails instead of hanging.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How the body of a response is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
    NoBody,
}

/// A response head, and the state of reading its body.
#[derive(Debug)]
pub struct Head {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, Vec<u8>)>,
    pub framing: Framing,
    remaining: usize,
    done: bool,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<String> {
        header_in(&self.headers, name)
    }
}

/// A whole response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
    pub framing: Framing,
    /// The body ended as its framing says (length reached, last chunk seen, or close).
    pub complete: bool,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<String> {
        header_in(&self.headers, name)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }

    /// `(error.type)` of an Anthropic error body.
    pub fn error_type(&self) -> String {
        self.json()["error"]["type"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

fn header_in(headers: &[(String, Vec<u8>)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
}

/// One client connection.
pub struct RawClient {
    wire: Box<dyn Wire>,
    buf: Vec<u8>,
}

impl RawClient {
    pub fn connect(addr: SocketAddr) -> RawClient {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        RawClient {
            wire: Box::new(stream),
            buf: Vec::new(),
        }
    }

    pub fn connect_tls(addr: SocketAddr, pki: &TestPki) -> RawClient {
        RawClient::connect_tls_with(addr, pki.client_config())
    }

    /// A TLS connection made with `config` (a client certificate, another trust store).
    pub fn connect_tls_with(
        addr: SocketAddr,
        config: std::sync::Arc<rustls::ClientConfig>,
    ) -> RawClient {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        let conn = rustls::ClientConnection::new(config, TestPki::server_name()).unwrap();
        RawClient {
            wire: Box::new(rustls::StreamOwned::new(conn, stream)),
            buf: Vec::new(),
        }
    }

    pub fn tcp(&self) -> &TcpStream {
        self.wire.tcp()
    }

    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.wire.write_all(bytes)?;
        self.wire.flush()
    }

    /// Sends a request built by [`request_bytes`] and reads the whole response.
    pub fn request(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        self.send(&request_bytes(method, target, headers, body))
            .unwrap();
        let response = if method == "HEAD" {
            self.read_response_to_head()
        } else {
            self.read_response()
        };
        response.unwrap_or_else(|e| panic!("{method} {target}: reading the response failed: {e}"))
    }

    pub fn get(&mut self, target: &str) -> Response {
        self.request("GET", target, &[], b"")
    }

    /// Reads more bytes into the buffer; 0 means EOF.
    fn fill(&mut self) -> io::Result<usize> {
        let mut scratch = [0u8; 16384];
        loop {
            match self.wire.read(&mut scratch) {
                Ok(n) => {
                    self.buf.extend_from_slice(&scratch[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads a response head (a 1xx interim head included) and decides the body framing.
    pub fn read_head(&mut self) -> io::Result<Head> {
        self.read_head_inner(false)
    }

    fn read_head_inner(&mut self, head_request: bool) -> io::Result<Head> {
        let head_len = loop {
            if let Some(pos) = memchr::memmem::find(&self.buf, b"\r\n\r\n") {
                break pos + 4;
            }
            if self.fill()? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "closed before a full head; got {:?}",
                        String::from_utf8_lossy(&self.buf)
                    ),
                ));
            }
        };
        let raw: Vec<u8> = self.buf.drain(..head_len).collect();
        let mut slots = [httparse::EMPTY_HEADER; 128];
        let mut parsed = httparse::Response::new(&mut slots);
        parsed
            .parse(&raw)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("bad head: {e}")))?;
        let status = parsed.code.unwrap_or(0);
        let reason = parsed.reason.unwrap_or("").to_string();
        let headers: Vec<(String, Vec<u8>)> = parsed
            .headers
            .iter()
            .map(|h| (h.name.to_string(), h.value.to_vec()))
            .collect();
        let te = header_in(&headers, "transfer-encoding").map(|v| v.to_ascii_lowercase());
        let length = header_in(&headers, "content-length");
        let framing =
            if head_request || (100..200).contains(&status) || status == 204 || status == 304 {
                Framing::NoBody
            } else if te.is_some_and(|te| te.trim().ends_with("chunked")) {
                Framing::Chunked
            } else if let Some(length) = length {
                Framing::Length(length.trim().parse().map_err(|_| {
                    io::Error::new(io::ErrorKind::InvalidData, "bad content-length")
                })?)
            } else {
                Framing::UntilClose
            };
        let remaining = match framing {
            Framing::Length(n) => n,
            _ => 0,
        };
        Ok(Head {
            status,
            reason,
            headers,
            framing,
            remaining,
            done: matches!(framing, Framing::NoBody | Framing::Length(0)),
        })
    }

    /// The next piece of body (a decoded chunk, or whatever bytes arrived); `None` at the end.
    pub fn read_body_piece(&mut self, head: &mut Head) -> io::Result<Option<Vec<u8>>> {
        if head.done {
            return Ok(None);
        }
        match head.framing {
            Framing::NoBody => Ok(None),
            Framing::Length(_) => {
                if self.buf.is_empty() && self.fill()? == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                let take = head.remaining.min(self.buf.len());
                head.remaining -= take;
                head.done = head.remaining == 0;
                Ok(Some(self.buf.drain(..take).collect()))
            }
            Framing::UntilClose => {
                if self.buf.is_empty() && self.fill()? == 0 {
                    head.done = true;
                    return Ok(None);
                }
                Ok(Some(std::mem::take(&mut self.buf)))
            }
            Framing::Chunked => {
                let line = self.read_line()?;
                let text = String::from_utf8_lossy(&line).into_owned();
                let size_text = text.split(';').next().unwrap_or("").trim().to_string();
                let size = usize::from_str_radix(&size_text, 16).map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("bad chunk size line {text:?}"),
                    )
                })?;
                if size == 0 {
                    while !self.read_line()?.is_empty() {}
                    head.done = true;
                    return Ok(None);
                }
                while self.buf.len() < size + 2 {
                    if self.fill()? == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                }
                let data: Vec<u8> = self.buf.drain(..size).collect();
                let crlf: Vec<u8> = self.buf.drain(..2).collect();
                if crlf != b"\r\n" {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "chunk not followed by CRLF",
                    ));
                }
                Ok(Some(data))
            }
        }
    }

    fn read_line(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some(pos) = memchr::memmem::find(&self.buf, b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..pos + 2).collect();
                return Ok(line[..pos].to_vec());
            }
            if self.fill()? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// Reads the rest of the body after `head`; a body cut short gives `complete: false`.
    pub fn finish(&mut self, mut head: Head) -> Response {
        let mut body = Vec::new();
        let complete = loop {
            match self.read_body_piece(&mut head) {
                Ok(Some(piece)) => body.extend_from_slice(&piece),
                Ok(None) => break true,
                Err(_) => break false,
            }
        };
        Response {
            status: head.status,
            reason: head.reason,
            headers: head.headers,
            body,
            framing: head.framing,
            complete,
        }
    }

    /// Reads one whole response (skipping nothing: a 1xx is returned as is).
    pub fn read_response(&mut self) -> io::Result<Response> {
        let head = self.read_head()?;
        Ok(self.finish(head))
    }

    /// Reads the response to a HEAD request (no body whatever the headers say).
    pub fn read_response_to_head(&mut self) -> io::Result<Response> {
        let head = self.read_head_inner(true)?;
        Ok(self.finish(head))
    }

    /// True when bytes (or EOF) are ready to read within `limit`, without consuming them.
    pub fn readable_within(&mut self, limit: Duration) -> bool {
        if !self.buf.is_empty() {
            return true;
        }
        let _ = self
            .wire
            .tcp()
            .set_read_timeout(Some(limit.max(Duration::from_millis(1))));
        let mut probe = [0u8; 1];
        let ready = match self.wire.tcp().peek(&mut probe) {
            Ok(_) => true,
            Err(e) => !matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
        };
        let _ = self.wire.tcp().set_read_timeout(Some(READ_TIMEOUT));
        ready
    }

    /// True when the peer closes (EOF or reset) within `limit` and sends nothing more first.
    pub fn closed_within(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        if !self.buf.is_empty() {
            return false;
        }
        loop {
            let now = Instant::now();
            if now >= deadline {
                let _ = self.wire.tcp().set_read_timeout(Some(READ_TIMEOUT));
                return false;
            }
            let _ = self.wire.tcp().set_read_timeout(Some(deadline - now));
            match self.fill() {
                Ok(0) => return true,
                Ok(_) => {
                    let _ = self.wire.tcp().set_read_timeout(Some(READ_TIMEOUT));
                    return false;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return true,
            }
        }
    }
}

/// A request with `Host`, and `Content-Length` whenever there is a body or the method is POST.
pub fn request_bytes(method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {target} HTTP/1.1\r\n").into_bytes();
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        out.extend_from_slice(b"Host: sluice.test\r\n");
    }
    for (name, value) in headers {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    let chunked = headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding"));
    if !chunked && (!body.is_empty() || method == "POST") {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}
