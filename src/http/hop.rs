//! Which headers belong to one hop (RFC 9110 §7.6.1) and are therefore never forwarded, in
//! either direction. Everything else is end-to-end and travels verbatim (an open list).

/// Headers that describe one connection, not the message.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
];

/// Whether `name` is a hop-by-hop header (case-insensitive), including any `proxy-*` header.
pub fn is_hop_by_hop(name: &str) -> bool {
    HOP_BY_HOP.iter().any(|h| h.eq_ignore_ascii_case(name))
        || name
            .get(..6)
            .is_some_and(|p| p.eq_ignore_ascii_case("proxy-"))
}

/// Whether `name` is listed as a token in a `Connection` header value (such headers are
/// hop-by-hop for this message too).
pub fn listed_in_connection(connection_value: Option<&[u8]>, name: &str) -> bool {
    let Some(value) = connection_value else {
        return false;
    };
    value
        .split(|&b| b == b',')
        .any(|token| token.trim_ascii().eq_ignore_ascii_case(name.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_names_in_any_case() {
        for n in [
            "Connection",
            "KEEP-ALIVE",
            "te",
            "Trailer",
            "Transfer-Encoding",
            "Upgrade",
        ] {
            assert!(is_hop_by_hop(n), "{n}");
        }
        for n in ["Proxy-Authorization", "proxy-foo"] {
            assert!(is_hop_by_hop(n), "{n}");
        }
        for n in [
            "x-api-key",
            "anthropic-beta",
            "content-type",
            "user-agent",
            "tea",
            "prox",
        ] {
            assert!(!is_hop_by_hop(n), "{n}");
        }
    }

    #[test]
    fn connection_listed_tokens() {
        let v = Some(&b"keep-alive, X-Secret-Hop"[..]);
        assert!(listed_in_connection(v, "x-secret-hop"));
        assert!(!listed_in_connection(v, "x-other"));
        assert!(!listed_in_connection(None, "x-secret-hop"));
    }
}
