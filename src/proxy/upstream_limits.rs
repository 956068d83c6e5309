//! What the relay holds of a hostile upstream, bounded: one unfinished event of an event stream
//! (`server.max_upstream_event_bytes`, counted as the upstream bytes read since the codec last
//! passed anything on, wherever the codec keeps them) and a non-streamed body
//! (`server.max_upstream_body_bytes`, declared or counted). Past either the response fails and
//! what was held is dropped with the codec.

use crate::config::PeerLimits;
use crate::error::{ErrorKind, GatewayError};
use crate::http::response_head::ResponseFraming;

/// The relay's running counts against the limits.
pub struct UpstreamHold {
    event_cap: usize,
    body_cap: u64,
    event_stream: bool,
    since_emit: usize,
    body: u64,
}

impl UpstreamHold {
    pub fn new(limits: &PeerLimits, event_stream: bool) -> UpstreamHold {
        UpstreamHold {
            event_cap: limits.max_upstream_event_bytes,
            body_cap: limits.max_upstream_body_bytes,
            event_stream,
            since_emit: 0,
            body: 0,
        }
    }

    /// A body whose declared length is over the cap fails before anything is sent.
    pub fn check_framing(&self, framing: ResponseFraming) -> Result<(), GatewayError> {
        match framing {
            ResponseFraming::Length(n) if !self.event_stream && n > self.body_cap => {
                Err(self.body_too_large())
            }
            _ => Ok(()),
        }
    }

    /// Counts `read` new upstream body bytes; `emitted`: the codec passed something on, and
    /// left `left` bytes in the relay's buffer (the start of the next event).
    pub fn after_feed(
        &mut self,
        read: usize,
        emitted: bool,
        left: usize,
    ) -> Result<(), GatewayError> {
        if self.event_stream {
            self.since_emit = if emitted {
                left
            } else {
                self.since_emit.saturating_add(read)
            };
            if self.since_emit > self.event_cap {
                return Err(GatewayError::new(
                    ErrorKind::UpstreamProtocol,
                    format!(
                        "an upstream event grew past max_upstream_event_bytes ({})",
                        self.event_cap
                    ),
                ));
            }
        } else {
            self.body = self.body.saturating_add(read as u64);
            if self.body > self.body_cap {
                return Err(self.body_too_large());
            }
        }
        Ok(())
    }

    fn body_too_large(&self) -> GatewayError {
        GatewayError::new(
            ErrorKind::UpstreamProtocol,
            format!(
                "the upstream response body is larger than max_upstream_body_bytes ({})",
                self.body_cap
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(event: usize, body: u64) -> PeerLimits {
        PeerLimits {
            max_upstream_event_bytes: event,
            max_upstream_body_bytes: body,
            ..PeerLimits::default()
        }
    }

    #[test]
    fn the_defaults_are_the_parser_and_codec_ceilings() {
        let d = PeerLimits::default();
        assert_eq!(d.max_upstream_event_bytes, crate::sse::MAX_EVENT_BYTES);
        assert_eq!(
            d.max_upstream_body_bytes,
            crate::providers::anthropic::codec::MAX_OBSERVED_JSON_BYTES as u64
        );
    }

    #[test]
    fn an_unfinished_event_at_the_cap_is_held_one_past_fails() {
        let mut hold = UpstreamHold::new(&limits(100, 1), true);
        assert!(hold.after_feed(60, false, 60).is_ok());
        assert!(
            hold.after_feed(40, false, 100).is_ok(),
            "100 bytes held: at the cap"
        );
        assert!(
            hold.after_feed(1, false, 101).is_err(),
            "101 bytes held: one past"
        );
        let mut hold = UpstreamHold::new(&limits(100, 1), true);
        assert!(hold.after_feed(100, false, 100).is_ok());
        assert!(
            hold.after_feed(5, true, 3).is_ok(),
            "an emit counts only what it left"
        );
        assert!(hold.after_feed(97, false, 100).is_ok());
        assert!(hold.after_feed(1, false, 101).is_err());
        assert!(
            hold.check_framing(ResponseFraming::Length(u64::MAX))
                .is_ok()
        );
    }

    #[test]
    fn a_body_at_the_cap_passes_one_past_fails() {
        let hold = UpstreamHold::new(&limits(1, 100), false);
        assert!(hold.check_framing(ResponseFraming::Length(100)).is_ok());
        assert!(hold.check_framing(ResponseFraming::Length(101)).is_err());
        let mut hold = UpstreamHold::new(&limits(1, 100), false);
        assert!(hold.after_feed(100, true, 0).is_ok());
        assert!(hold.after_feed(1, true, 0).is_err());
    }
}
