//! Egress through an HTTP CONNECT proxy: which proxy (if any) each provider's connections go
//! through. In order: the provider's own `egress_proxy` (`"none"` or a URL), then
//! `[server] egress_proxy`, then the environment as curl reads it (`https_proxy`/`HTTPS_PROXY`
//! for an https provider, `http_proxy`/`HTTP_PROXY` for http); `NO_PROXY`/`no_proxy` exempts
//! hosts from the last two. A value may be `env:NAME`; credentials in the URL become a
//! `Proxy-Authorization: Basic` header.

use base64::Engine as _;

use super::ConfigError;
use super::base_url::BaseUrl;
use super::secret::Secret;
use super::types::ProviderConfig;
use super::validate::{EnvLookup, secret_at};

/// The port of a proxy URL without one (curl's default).
pub const DEFAULT_PROXY_PORT: u16 = 1080;

/// The value that turns the proxy off for one provider (or for all, in `[server]`).
pub const NO_EGRESS_PROXY: &str = "none";

/// An HTTP proxy that tunnels with CONNECT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EgressProxy {
    pub host: String,
    pub port: u16,
    /// `Basic <base64(user:password)>`, when the URL carried credentials.
    pub authorization: Option<Secret>,
}

impl EgressProxy {
    /// `host:port`, as errors name the proxy.
    pub fn label(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// What a setting asks for: no proxy, or this one.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Choice {
    Direct,
    Via(EgressProxy),
}

/// Parses `none`, a proxy URL or `env:NAME` holding one, reporting errors at `path`.
fn parse_choice(path: &str, spec: &str, env: EnvLookup<'_>) -> Result<Choice, ConfigError> {
    if spec == NO_EGRESS_PROXY {
        return Ok(Choice::Direct);
    }
    let value = secret_at(path, spec, env)?;
    parse_proxy_url(value.expose())
        .map(Choice::Via)
        .map_err(|why| ConfigError::new(path, why))
}

/// Parses `http://[user:password@]host[:port][/]`; without a scheme, `http://` is meant (as
/// curl reads `HTTPS_PROXY=proxy:3128`).
fn parse_proxy_url(text: &str) -> Result<EgressProxy, String> {
    let with_scheme;
    let text = if text.contains("://") {
        text
    } else {
        with_scheme = format!("http://{text}");
        &with_scheme
    };
    let url = url::Url::parse(text).map_err(|e| format!("not a proxy URL: {e}"))?;
    if url.scheme() != "http" {
        return Err(format!(
            "the proxy URL must be http:// (CONNECT is spoken in plain), not {}://",
            url.scheme()
        ));
    }
    if !matches!(url.path(), "" | "/") || url.query().is_some() {
        return Err("a proxy URL has no path or query".into());
    }
    let host = url
        .host_str()
        .ok_or("the proxy URL has no host")?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let authorization = if url.username().is_empty() {
        None
    } else {
        let decode = |s: &str| {
            percent_decode(s).ok_or_else(|| "bad percent-encoding in the credentials".to_owned())
        };
        let user = decode(url.username())?;
        let password = decode(url.password().unwrap_or(""))?;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        Some(Secret::new(format!("Basic {token}")))
    };
    Ok(EgressProxy {
        host,
        port: url.port().unwrap_or(DEFAULT_PROXY_PORT),
        authorization,
    })
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Whether `NO_PROXY` exempts `host`, as curl reads it: comma-separated names, `*` for every
/// host, a name matching itself and its subdomains (a leading dot is optional), an IP address
/// matching itself; a `:port` on an entry is ignored.
pub fn no_proxy_matches(no_proxy: &str, host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    no_proxy.split(',').map(str::trim).any(|entry| {
        if entry == "*" {
            return true;
        }
        let entry = match entry.rsplit_once(':') {
            Some((name, port)) if !name.contains(':') && port.parse::<u16>().is_ok() => name,
            _ => entry,
        };
        let entry = entry
            .trim_start_matches('.')
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        !entry.is_empty()
            && (host == entry
                || host
                    .strip_suffix(entry.as_str())
                    .is_some_and(|rest| rest.ends_with('.')))
    })
}

/// The first of `names` set (and not empty) in the environment.
fn first_env(env: EnvLookup<'_>, names: &[&str]) -> Option<(String, String)> {
    names.iter().find_map(|name| {
        env(name)
            .filter(|v| !v.trim().is_empty())
            .map(|v| ((*name).to_owned(), v))
    })
}

/// Sets each provider's `egress_proxy` from its own setting (`provider_specs`, in the same
/// order), the `[server]` one and the environment.
pub fn resolve_egress(
    providers: &mut [ProviderConfig],
    provider_specs: &[Option<String>],
    server_spec: Option<&str>,
    env: EnvLookup<'_>,
) -> Result<(), ConfigError> {
    let server = server_spec
        .map(|spec| parse_choice("server.egress_proxy", spec, env))
        .transpose()?;
    let no_proxy = first_env(env, &["no_proxy", "NO_PROXY"]).map(|(_, v)| v);
    for (index, provider) in providers.iter_mut().enumerate() {
        let own = match provider_specs.get(index).and_then(Option::as_deref) {
            Some(spec) => Some(parse_choice(
                &format!("providers[{index}].egress_proxy"),
                spec,
                env,
            )?),
            None => None,
        };
        provider.egress_proxy = match own {
            Some(choice) => into_proxy(choice),
            None => {
                let shared = match &server {
                    Some(choice) => Some(choice.clone()),
                    None => from_env(&provider.base_url, env)?,
                };
                let exempt = no_proxy
                    .as_deref()
                    .is_some_and(|list| no_proxy_matches(list, &provider.base_url.host));
                shared.filter(|_| !exempt).and_then(into_proxy)
            }
        };
    }
    Ok(())
}

fn into_proxy(choice: Choice) -> Option<EgressProxy> {
    match choice {
        Choice::Direct => None,
        Choice::Via(proxy) => Some(proxy),
    }
}

fn from_env(base_url: &BaseUrl, env: EnvLookup<'_>) -> Result<Option<Choice>, ConfigError> {
    let names: &[&str] = if base_url.tls {
        &["https_proxy", "HTTPS_PROXY"]
    } else {
        &["http_proxy", "HTTP_PROXY"]
    };
    let Some((name, value)) = first_env(env, names) else {
        return Ok(None);
    };
    parse_proxy_url(value.trim())
        .map(|proxy| Some(Choice::Via(proxy)))
        .map_err(|why| ConfigError::new(format!("environment {name}"), why))
}

#[cfg(test)]
#[path = "egress_tests.rs"]
mod tests;
