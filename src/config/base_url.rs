//! A provider's `base_url`, parsed once into what the upstream client needs: TLS or not, host,
//! port and a path prefix, plus the pool key and `Host` header derived from them.

use std::fmt;

use url::{Host, Url};

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
    /// Parses and normalises a URL with the `url` crate; query strings, fragments and
    /// user-info are rejected, and so is what the URL standard would silently repair (spaces,
    /// an empty port, a missing host, non-ASCII host names).
    pub fn parse(text: &str) -> Result<BaseUrl, String> {
        let invalid = |why: &str| format!("invalid base_url `{text}`: {why}");
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("whitespace is not allowed"));
        }
        let authority = text
            .split_once("://")
            .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or(""))
            .ok_or_else(|| invalid("expected http://host or https://host"))?;
        if authority.is_empty() {
            return Err(invalid("the host is missing"));
        }
        if authority.ends_with(':') {
            return Err(invalid("the port must be a number from 1 to 65535"));
        }
        if !authority.is_ascii() {
            return Err(invalid("the host must be ASCII"));
        }
        let url = Url::parse(text).map_err(|e| invalid(&e.to_string()))?;
        let tls = match url.scheme() {
            "https" => true,
            "http" => false,
            _ => return Err(invalid("the scheme must be http or https")),
        };
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("a query or fragment is not allowed"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid(
                "user-info is not allowed; put credentials in `keys`",
            ));
        }
        let host = match url.host() {
            Some(Host::Domain(name)) => name.to_owned(),
            Some(Host::Ipv4(ip)) => ip.to_string(),
            Some(Host::Ipv6(ip)) => ip.to_string(),
            None => return Err(invalid("the host is missing")),
        };
        if host.len() > MAX_HOST_LEN {
            return Err(invalid("the host is too long"));
        }
        let valid_char = |b: u8| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_';
        if !host.contains(':') && !host.bytes().all(valid_char) {
            return Err(invalid(&format!("`{host}` is not a valid host name")));
        }
        let port = match url.port_or_known_default() {
            Some(0) | None => return Err(invalid("the port must be a number from 1 to 65535")),
            Some(port) => port,
        };
        Ok(BaseUrl {
            tls,
            host,
            port,
            base_path: url.path().trim_end_matches('/').to_owned(),
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
