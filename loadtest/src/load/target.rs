//! Parses the target URL (`http://host:port[/prefix]`) into a socket address, the Host header
//! and a path prefix; only plain HTTP to a literal or resolvable address is supported.

use std::net::{SocketAddr, ToSocketAddrs};

use url::Url;

use crate::requests::profiles::Endpoint;

/// A parsed target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub addr: SocketAddr,
    pub endpoint: Endpoint,
}

/// Parses `http://host:port` with an optional path prefix (no trailing slash kept).
pub fn parse_target(url: &str) -> Result<Target, String> {
    let parsed = Url::parse(url).map_err(|error| format!("{url:?}: {error}"))?;
    if parsed.scheme() != "http" {
        return Err(format!("{url:?}: only http:// targets are supported"));
    }
    let host = parsed
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("{url:?}: no host"))?;
    let port = parsed.port_or_known_default().unwrap_or(80);
    let addr = (host.trim_start_matches('[').trim_end_matches(']'), port)
        .to_socket_addrs()
        .map_err(|error| format!("{url:?}: {error}"))?
        .next()
        .ok_or_else(|| format!("{url:?}: no address"))?;
    // The Host header as the URL wrote it (the port only when one was given).
    let host_header = match parsed.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    Ok(Target {
        addr,
        endpoint: Endpoint {
            host: host_header,
            path_prefix: parsed.path().trim_end_matches('/').to_string(),
        },
    })
}
