//! A small blocking HTTP/1.1 client for the admin API, used by the CLI (`sluice keys ...`):
//! one request per connection, JSON in and out. Never used on a shard.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use url::Url;

use crate::http::head::ParseStatus;
use crate::http::limits::MAX_HEADERS;
use crate::http::response_head::parse_response_head;

/// How long the CLI waits for the gateway's admin listener.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest admin response the CLI reads.
const MAX_ADMIN_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// Where the admin API is and how to authenticate to it.
pub struct AdminTarget {
    /// `host:port` of the admin listener.
    pub addr: String,
    pub token: Option<String>,
}

impl AdminTarget {
    /// From a URL like `http://127.0.0.1:9090` (the scheme is optional; only http is spoken).
    pub fn new(url: &str, token: Option<String>) -> Result<Self, String> {
        let not_admin = || format!("admin URL {url} is not http://host:port");
        let full = if url.contains("://") {
            url.to_owned()
        } else {
            format!("http://{url}")
        };
        let parsed = Url::parse(&full).map_err(|_| not_admin())?;
        if parsed.scheme() == "https" {
            return Err("the admin API is plain HTTP on a private port; use http://".into());
        }
        let plain = parsed.scheme() == "http"
            && parsed.path() == "/"
            && parsed.query().is_none()
            && parsed.fragment().is_none()
            && parsed.username().is_empty()
            && parsed.password().is_none();
        let (Some(host), Some(port)) = (parsed.host_str(), parsed.port_or_known_default()) else {
            return Err(not_admin());
        };
        if !plain {
            return Err(not_admin());
        }
        Ok(AdminTarget {
            addr: format!("{host}:{port}"),
            token,
        })
    }

    /// Sends one request and returns (status, body).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<(u16, Vec<u8>), String> {
        let mut stream = TcpStream::connect(&self.addr)
            .map_err(|e| format!("cannot reach the admin API at {}: {e}", self.addr))?;
        stream.set_read_timeout(Some(ADMIN_TIMEOUT)).ok();
        stream.set_write_timeout(Some(ADMIN_TIMEOUT)).ok();
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\naccept: application/json\r\n",
            self.addr
        );
        if let Some(token) = &self.token {
            request.push_str(&format!("authorization: Bearer {token}\r\n"));
        }
        let body = body.unwrap_or_default();
        if !body.is_empty() || method != "GET" {
            request.push_str(&format!(
                "content-type: application/json\r\ncontent-length: {}\r\n",
                body.len()
            ));
        }
        request.push_str("\r\n");
        let mut bytes = request.into_bytes();
        bytes.extend_from_slice(body);
        stream
            .write_all(&bytes)
            .map_err(|e| format!("sending to the admin API failed: {e}"))?;
        let mut response = Vec::new();
        stream
            .take(MAX_ADMIN_RESPONSE_BYTES as u64)
            .read_to_end(&mut response)
            .map_err(|e| format!("reading the admin API's answer failed: {e}"))?;
        let head = match parse_response_head(&response, MAX_HEADERS) {
            Ok(ParseStatus::Complete(head)) => head,
            Ok(ParseStatus::Partial) => return Err("the admin API's answer was cut short".into()),
            Err(e) => return Err(format!("the admin API answered with invalid HTTP: {e:?}")),
        };
        let body = response.get(head.head_len()..).unwrap_or_default().to_vec();
        Ok((head.status(), body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_urls() {
        assert_eq!(
            AdminTarget::new("http://127.0.0.1:9090/", None)
                .unwrap()
                .addr,
            "127.0.0.1:9090"
        );
        assert_eq!(
            AdminTarget::new("localhost:9", None).unwrap().addr,
            "localhost:9"
        );
        assert!(AdminTarget::new("https://x:1", None).is_err());
        assert!(AdminTarget::new("http://x:1/admin", None).is_err());
    }
}
