//! A provider's `base_url`, parsed once into what the upstream client needs: TLS or not, host,
//! port and a path prefix, plus the pool key and `Host` header derived from them.

use std::fmt;
use std::net::Ipv6Addr;

/// Longest accepted host name (DNS limit).
pub const MAX_HOST_LEN: usize = 253;

/// `http(s)://host[:port][/prefix]`, normalised: host lower-cased, no trailing slash.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BaseUrl {
    /// true for `https`.
    pub tls: bool,
    /// DNS name or IP address, without IPv6 brackets (what DNS, connect and SNI take).
    pub host: String,
    /// Explicit port, or 443 / 80 by scheme.
    pub port: u16,
    /// `""` or `/prefix` without a trailing slash; request paths are appended to it.
    pub base_path: String,
}

impl BaseUrl {
    /// Parses and normalises a URL; query strings, fragments and user-info are rejected.
    pub fn parse(text: &str) -> Result<BaseUrl, String> {
        let invalid = |why: &str| format!("invalid base_url `{text}`: {why}");
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| invalid("expected http://host or https://host"))?;
        let tls = match scheme.to_ascii_lowercase().as_str() {
            "https" => true,
            "http" => false,
            _ => return Err(invalid("the scheme must be http or https")),
        };
        if rest.contains(['?', '#']) {
            return Err(invalid("a query or fragment is not allowed"));
        }
        if rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("whitespace is not allowed"));
        }
        let (authority, path) = match rest.find('/') {
            Some(slash) => rest.split_at(slash),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(invalid(
                "user-info is not allowed; put credentials in `keys`",
            ));
        }
        let (host, port_text) = split_host_port(authority).map_err(|why| invalid(&why))?;
        let port = match port_text {
            None => default_port(tls),
            Some(digits) => match digits.parse::<u16>() {
                Ok(port) if port != 0 && digits.bytes().all(|b| b.is_ascii_digit()) => port,
                _ => return Err(invalid("the port must be a number from 1 to 65535")),
            },
        };
        Ok(BaseUrl {
            tls,
            host,
            port,
            base_path: path.trim_end_matches('/').to_owned(),
        })
    }

    /// `scheme://host:port`, always with the port: the key of the upstream connection pool.
    pub fn origin_key(&self) -> String {
        format!(
            "{}://{}:{}",
            self.scheme(),
            self.bracketed_host(),
            self.port
        )
    }

    /// The `Host` header value: the host, plus `:port` only when it is not the scheme default.
    pub fn host_header(&self) -> String {
        if self.port == default_port(self.tls) {
            self.bracketed_host().into_owned()
        } else {
            format!("{}:{}", self.bracketed_host(), self.port)
        }
    }

    /// `https` or `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls { "https" } else { "http" }
    }

    fn bracketed_host(&self) -> std::borrow::Cow<'_, str> {
        if self.host.contains(':') {
            std::borrow::Cow::Owned(format!("[{}]", self.host))
        } else {
            std::borrow::Cow::Borrowed(&self.host)
        }
    }
}

impl fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}{}",
            self.scheme(),
            self.host_header(),
            self.base_path
        )
    }
}

fn default_port(tls: bool) -> u16 {
    if tls { 443 } else { 80 }
}

/// Splits `host[:port]` or `[v6][:port]`; validates and lower-cases the host.
fn split_host_port(authority: &str) -> Result<(String, Option<&str>), String> {
    if let Some(bracketed) = authority.strip_prefix('[') {
        let (v6, after) = bracketed
            .split_once(']')
            .ok_or("an IPv6 host needs a closing `]`")?;
        v6.parse::<Ipv6Addr>()
            .map_err(|_| format!("`{v6}` is not an IPv6 address"))?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or("unexpected text after `]`")?),
        };
        return Ok((v6.to_ascii_lowercase(), port));
    }
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    if host.is_empty() {
        return Err("the host is missing".to_owned());
    }
    if host.len() > MAX_HOST_LEN {
        return Err("the host is too long".to_owned());
    }
    let valid_char = |b: u8| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_';
    if !host.bytes().all(valid_char) {
        return Err(format!("`{host}` is not a valid host name"));
    }
    Ok((host.to_ascii_lowercase(), port))
}
