//! Egress through an HTTP CONNECT proxy: asks the proxy for a tunnel to the provider on a
//! freshly connected socket; TLS to the provider then runs inside the tunnel unchanged (same
//! SNI, same certificate checks), and a pooled connection keeps its tunnel.

use futures_lite::AsyncWriteExt;

use crate::config::EgressProxy;
use crate::http::head::ParseStatus;
use crate::http::limits::MAX_HEADERS;
use crate::http::read_buffer::ReadBuffer;
use crate::http::response_head::parse_response_head;
use crate::runtime::io::net::TcpStream;

/// Writes the CONNECT request for `host:port` through `proxy` into `out`.
pub fn write_connect(out: &mut Vec<u8>, proxy: &EgressProxy, host: &str, port: u16) {
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    out.extend_from_slice(b"CONNECT ");
    out.extend_from_slice(authority.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(authority.as_bytes());
    out.extend_from_slice(b"\r\n");
    if let Some(auth) = &proxy.authorization {
        out.extend_from_slice(b"proxy-authorization: ");
        out.extend_from_slice(auth.expose().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Opens the tunnel on `tcp` (connected to the proxy). `Err` says why the proxy did not
/// open it (its status line, a malformed answer, a close); the caller bounds the wait.
pub async fn open(
    tcp: &mut TcpStream,
    proxy: &EgressProxy,
    host: &str,
    port: u16,
) -> Result<(), String> {
    let mut request = Vec::with_capacity(128);
    write_connect(&mut request, proxy, host, port);
    tcp.write_all(&request)
        .await
        .map_err(|e| format!("writing CONNECT failed: {e}"))?;
    tcp.flush()
        .await
        .map_err(|e| format!("writing CONNECT failed: {e}"))?;
    let mut input = ReadBuffer::new();
    loop {
        match parse_response_head(input.data(), MAX_HEADERS) {
            Ok(ParseStatus::Complete(head)) => {
                let status = head.status();
                if !(200..300).contains(&status) {
                    return Err(format!("it answered {status} {}", head.reason()));
                }
                if input.data().len() > head.head_len() {
                    return Err("it sent bytes after its 2xx answer to CONNECT".into());
                }
                return Ok(());
            }
            Ok(ParseStatus::Partial) => {}
            Err(e) => return Err(format!("its answer to CONNECT is malformed: {e:?}")),
        }
        match input.fill_from(&mut *tcp).await {
            Ok(0) => return Err("it closed the connection without answering CONNECT".into()),
            Ok(_) => {}
            Err(e) => return Err(format!("reading its answer failed: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    #[test]
    fn connect_names_the_authority_and_carries_credentials() {
        let mut proxy = EgressProxy {
            host: "proxy".into(),
            port: 3128,
            authorization: None,
        };
        let mut out = Vec::new();
        write_connect(&mut out, &proxy, "api.anthropic.com", 443);
        assert_eq!(
            out,
            b"CONNECT api.anthropic.com:443 HTTP/1.1\r\nhost: api.anthropic.com:443\r\n\r\n"
        );
        proxy.authorization = Some(Secret::new("Basic dTpw"));
        out.clear();
        write_connect(&mut out, &proxy, "::1", 8443);
        assert_eq!(
            out,
            b"CONNECT [::1]:8443 HTTP/1.1\r\nhost: [::1]:8443\r\nproxy-authorization: Basic dTpw\r\n\r\n"
        );
    }
}
