//! Parses the target URL (`http://host:port[/prefix]`) into a socket address, the Host header
//! and a path prefix; only plain HTTP to a literal or resolvable address is supported.

use std::net::{SocketAddr, ToSocketAddrs};

use crate::requests::profiles::Endpoint;

/// A parsed target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub addr: SocketAddr,
    pub endpoint: Endpoint,
}

/// Parses `http://host:port` with an optional path prefix (no trailing slash kept).
pub fn parse_target(url: &str) -> Result<Target, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url:?}: only http:// targets are supported"))?;
    let (authority, prefix) = match rest.find('/') {
        Some(slash) => (&rest[..slash], rest[slash..].trim_end_matches('/')),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return Err(format!("{url:?}: no host"));
    }
    let with_port = if authority
        .rsplit_once(':')
        .is_some_and(|(_, port)| port.parse::<u16>().is_ok())
    {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let addr = with_port
        .to_socket_addrs()
        .map_err(|error| format!("{url:?}: {error}"))?
        .next()
        .ok_or_else(|| format!("{url:?}: no address"))?;
    Ok(Target {
        addr,
        endpoint: Endpoint {
            host: authority.to_string(),
            path_prefix: prefix.to_string(),
        },
    })
}
