//! The byte streams the mock and the raw client talk over (TCP or TLS), and the mock's
//! reading of one request off such a stream into a [`Recorded`].

use std::io::{self, Read, Write};
use std::net::TcpStream;

/// A byte stream the mock (or the raw client) talks over: plain TCP or TLS on TCP.
pub trait Wire: Read + Write + Send {
    fn tcp(&self) -> &TcpStream;
    /// Sends a TLS close_notify where there is TLS; nothing on plain TCP.
    fn close_notify(&mut self) {}
}

impl Wire for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl Wire for rustls::StreamOwned<rustls::ServerConnection, TcpStream> {
    fn tcp(&self) -> &TcpStream {
        &self.sock
    }
    fn close_notify(&mut self) {
        self.conn.send_close_notify();
        let _ = self.flush();
    }
}

impl Wire for rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    fn tcp(&self) -> &TcpStream {
        &self.sock
    }
    fn close_notify(&mut self) {
        self.conn.send_close_notify();
        let _ = self.flush();
    }
}

/// One request as the mock received it.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// Which accepted connection (1-based, in accept order) carried it.
    pub conn: u64,
    pub method: String,
    pub target: String,
    /// Header names and values in arrival order, names as sent.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The raw head bytes, request line through the blank line.
    pub head: Vec<u8>,
    /// The decoded body.
    pub body: Vec<u8>,
    pub body_was_chunked: bool,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    pub fn header_str(&self, name: &str) -> Option<String> {
        self.header(name)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    pub fn headers_named(&self, name: &str) -> Vec<&[u8]> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
            .collect()
    }

    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// Reads more bytes into `buf`; 0 means EOF.
fn fill(wire: &mut dyn Wire, buf: &mut Vec<u8>) -> io::Result<usize> {
    let mut scratch = [0u8; 16384];
    loop {
        match wire.read(&mut scratch) {
            Ok(n) => {
                buf.extend_from_slice(&scratch[..n]);
                return Ok(n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Reads one request (head and body) from `wire`; `Ok(None)` on a clean close between requests.
pub fn read_request(
    wire: &mut dyn Wire,
    buf: &mut Vec<u8>,
    conn: u64,
) -> io::Result<Option<Recorded>> {
    let head_len = loop {
        if let Some(pos) = memchr::memmem::find(buf, b"\r\n\r\n") {
            break pos + 4;
        }
        if fill(wire, buf)? == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
    };
    let head: Vec<u8> = buf.drain(..head_len).collect();
    let mut header_slots = [httparse::EMPTY_HEADER; 256];
    let mut parsed = httparse::Request::new(&mut header_slots);
    parsed
        .parse(&head)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
    let method = parsed.method.unwrap_or("").to_string();
    let target = parsed.path.unwrap_or("").to_string();
    let headers: Vec<(String, Vec<u8>)> = parsed
        .headers
        .iter()
        .map(|h| (h.name.to_string(), h.value.to_vec()))
        .collect();
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v).trim().to_ascii_lowercase())
    };
    let chunked = find("transfer-encoding").is_some_and(|te| te.ends_with("chunked"));
    let body = if chunked {
        read_chunked(wire, buf)?
    } else {
        let length: usize = find("content-length")
            .map(|v| v.parse().unwrap_or(0))
            .unwrap_or(0);
        while buf.len() < length {
            if fill(wire, buf)? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        buf.drain(..length).collect()
    };
    Ok(Some(Recorded {
        conn,
        method,
        target,
        headers,
        head,
        body,
        body_was_chunked: chunked,
    }))
}

fn read_line(wire: &mut dyn Wire, buf: &mut Vec<u8>) -> io::Result<Vec<u8>> {
    loop {
        if let Some(pos) = memchr::memmem::find(buf, b"\r\n") {
            let line: Vec<u8> = buf.drain(..pos + 2).collect();
            return Ok(line[..pos].to_vec());
        }
        if fill(wire, buf)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
}

fn read_chunked(wire: &mut dyn Wire, buf: &mut Vec<u8>) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = read_line(wire, buf)?;
        let size_text = String::from_utf8_lossy(&line);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
        if size == 0 {
            while !read_line(wire, buf)?.is_empty() {}
            return Ok(body);
        }
        while buf.len() < size + 2 {
            if fill(wire, buf)? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        body.extend(buf.drain(..size));
        buf.drain(..2);
    }
}
