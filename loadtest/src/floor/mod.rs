//! Floor proxies: the least a proxy does per request, to tell the CPU that a runtime's socket
//! path costs apart from what sluice's own work costs (issue 15).
//!
//! Both read a request, send its bytes unchanged upstream on a kept-alive connection of their
//! own, and relay the response bytes as they arrive (one write per read). No routing, header
//! rewriting, JSON, governance, metrics or timers. [`uring`] runs on one glommio executor set up
//! as a sluice shard; [`epoll`] on a plain level-triggered epoll loop, as nginx does. The
//! framing below is IO-free and shared by both.

pub mod epoll;
pub mod uring;

use std::net::SocketAddr;

use crate::wire::body::BodyDecoder;
use crate::wire::framing::{FramingError, Method, parse_request_head, parse_response_head};

/// Bytes read per receive (as sluice-mock).
pub const READ_CHUNK_BYTES: usize = 64 * 1024;
/// Largest request buffered before it is sent upstream (claude-code bodies fit many times).
pub const MAX_REQUEST_BYTES: usize = 8 * 1024 * 1024;
/// Largest response piece buffered (a head, or one read of body).
pub const MAX_RESPONSE_BYTES: usize = crate::wire::framing::MAX_HEAD_BYTES + READ_CHUNK_BYTES;

/// Where a floor proxy listens and the one upstream it forwards to.
#[derive(Debug, Clone, Copy)]
pub struct FloorConfig {
    pub listen: SocketAddr,
    pub upstream: SocketAddr,
}

impl FloorConfig {
    /// Reads `listen` and the first `base_url` (`http://IP:PORT`) of a sluice config file, the
    /// one `loadtest/compare.sh` writes.
    pub fn from_sluice_toml(text: &str) -> Result<FloorConfig, String> {
        let listen = quoted_value(text, "listen").ok_or("the config has no `listen`")?;
        let base = quoted_value(text, "base_url").ok_or("the config has no `base_url`")?;
        Ok(FloorConfig {
            listen: listen
                .parse()
                .map_err(|e| format!("listen {listen}: {e}"))?,
            upstream: base
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .parse()
                .map_err(|e| format!("base_url {base}: only http://IP:PORT ({e})"))?,
        })
    }
}

/// The value of the first `key = "value"` line of a TOML text.
fn quoted_value(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (name, value) = line.split_once('=')?;
        (name.trim() == key).then(|| value.trim().trim_matches('"').to_owned())
    })
}

/// A whole request found at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompleteRequest {
    /// Bytes of head and body.
    pub len: usize,
    /// A HEAD request (its response has no body).
    pub is_head: bool,
}

/// The request at the start of `buf` once all of it (head and body) is buffered.
pub fn complete_request(buf: &[u8]) -> Result<Option<CompleteRequest>, FramingError> {
    let Some(head) = parse_request_head(buf)? else {
        return Ok(None);
    };
    let mut body = BodyDecoder::new(head.framing)?;
    let used = body.decode(&buf[head.head_len..], |_| {})?;
    Ok(body.is_done().then_some(CompleteRequest {
        len: head.head_len + used,
        is_head: head.method == Method::Head,
    }))
}

/// Tracks one response while its bytes are relayed: how much of what is buffered may go to the
/// client now, and when the response ends.
#[derive(Debug)]
pub struct ResponseRelay {
    is_head: bool,
    body: Option<BodyDecoder>,
    keep_alive: bool,
}

impl ResponseRelay {
    /// A relay for the response to a request (`is_head`: the request was HEAD).
    pub fn new(is_head: bool) -> ResponseRelay {
        ResponseRelay {
            is_head,
            body: None,
            keep_alive: false,
        }
    }

    /// How many bytes at the start of `buffered` (response bytes not yet relayed) belong to this
    /// response and may be relayed now; 0 while the head is incomplete.
    pub fn advance(&mut self, buffered: &[u8]) -> Result<usize, FramingError> {
        match &mut self.body {
            Some(body) => body.decode(buffered, |_| {}),
            None => {
                let Some(head) = parse_response_head(buffered, self.is_head)? else {
                    return Ok(0);
                };
                let mut body = BodyDecoder::new(head.framing)?;
                let used = body.decode(&buffered[head.head_len..], |_| {})?;
                self.keep_alive = head.keep_alive;
                self.body = Some(body);
                Ok(head.head_len + used)
            }
        }
    }

    /// True once the whole response has been relayed.
    pub fn is_done(&self) -> bool {
        self.body.as_ref().is_some_and(BodyDecoder::is_done)
    }

    /// Whether the upstream connection may carry the next request.
    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUEST: &[u8] =
        b"POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello";
    const RESPONSE: &[u8] =
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";

    #[test]
    fn a_request_is_complete_only_with_its_whole_body_at_every_split() {
        for cut in 0..REQUEST.len() {
            assert_eq!(complete_request(&REQUEST[..cut]), Ok(None), "cut {cut}");
        }
        let mut two = REQUEST.to_vec();
        two.extend_from_slice(REQUEST);
        let whole = Some(CompleteRequest {
            len: REQUEST.len(),
            is_head: false,
        });
        assert_eq!(complete_request(&two), Ok(whole));
    }

    #[test]
    fn a_response_relays_every_byte_once_at_every_split() {
        for cut in 0..=RESPONSE.len() {
            let mut relay = ResponseRelay::new(false);
            let mut buffered = RESPONSE[..cut].to_vec();
            let mut relayed = Vec::new();
            let first = relay.advance(&buffered).unwrap();
            relayed.extend(buffered.drain(..first));
            buffered.extend_from_slice(&RESPONSE[cut..]);
            let second = relay.advance(&buffered).unwrap();
            relayed.extend(buffered.drain(..second));
            assert_eq!(relayed, RESPONSE, "cut {cut}");
            assert!(relay.is_done() && relay.keep_alive(), "cut {cut}");
        }
    }

    #[test]
    fn the_config_compare_sh_writes_is_read() {
        let toml = "[server]\nlisten = \"127.0.0.1:0\"\n[[providers]]\nbase_url = \"http://127.0.0.1:9/\"\n";
        let config = FloorConfig::from_sluice_toml(toml).unwrap();
        assert_eq!(config.listen.port(), 0);
        assert_eq!(config.upstream.port(), 9);
        assert!(FloorConfig::from_sluice_toml("listen = \"x\"").is_err());
    }
}
