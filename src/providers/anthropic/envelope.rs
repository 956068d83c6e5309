//! Anthropic's envelope, a passthrough: the client's request goes upstream as sent (end-to-end headers
//! verbatim, body byte for byte), re-addressed to the provider and re-framed with
//! Content-Length.

use crate::http::encode::{write_content_length, write_header};
use crate::http::hop::{is_hop_by_hop, listed_in_connection};
use crate::providers::{Credentials, ResponseEncoding, UpstreamRequest, UpstreamTrace};

/// Appends the upstream request head for `head` to `out`. `path` is the upstream path (prefix
/// removed); the query is kept as the client sent it.
pub fn write_request_head(out: &mut Vec<u8>, request: &UpstreamRequest<'_>) {
    let UpstreamRequest {
        provider,
        head,
        path,
        body_len,
        credentials,
        encoding,
        trace,
        ..
    } = *request;
    out.extend_from_slice(head.method().as_bytes());
    out.push(b' ');
    out.extend_from_slice(provider.base_url.base_path.as_bytes());
    out.extend_from_slice(path.as_bytes());
    if let Some(query) = head.query() {
        out.push(b'?');
        out.extend_from_slice(query.as_bytes());
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");
    write_header(out, "host", provider.base_url.host_header().as_bytes());

    let connection = head.header("connection");
    let strip_client_credentials = matches!(credentials, Credentials::Provider(_));
    let mut has_credentials = false;
    for (name, value) in head.headers() {
        if name.eq_ignore_ascii_case("host")
            || name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("expect")
            || is_hop_by_hop(name)
            || listed_in_connection(connection, name)
            || (encoding == ResponseEncoding::Identity
                && name.eq_ignore_ascii_case("accept-encoding"))
            || (trace.is_some() && UpstreamTrace::replaces(name))
        {
            continue;
        }
        if name.eq_ignore_ascii_case("x-api-key") || name.eq_ignore_ascii_case("authorization") {
            if strip_client_credentials {
                continue;
            }
            has_credentials = true;
        }
        write_header(out, name, value);
    }
    let provider_key = match credentials {
        Credentials::ClientOwn { fallback } if !has_credentials => fallback,
        Credentials::ClientOwn { .. } => None,
        Credentials::Provider(key) => key,
    };
    if let Some(key) = provider_key {
        write_header(out, "x-api-key", key.expose().as_bytes());
    }
    if let Some(trace) = trace {
        trace.write(out);
    }
    if body_len > 0 || head.method() == "POST" {
        write_content_length(out, body_len as u64);
    }
    out.extend_from_slice(b"\r\n");
}
