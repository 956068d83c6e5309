//! The response codec: what the relay calls to turn upstream body bytes into client bytes. The
//! relay is generic over it, so the Anthropic passthrough compiles to a plain forwarding loop;
//! a translating codec turns each upstream event into Anthropic events written to the same
//! output. Either way the codec is the usage extractor of its wire format: it reports usage
//! and the response summary for the one settlement and the one access-log record.

use crate::governance::Usage;
use crate::observe::summary::ResponseSummary;

/// Why a codec cannot go on (the relay ends the response with the codec's error event).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodecError {
    /// One event grew past the codec's limit without completing.
    EventTooLarge,
    /// The upstream reported a failure in-band; [`ResponseCodec::upstream_error`] says which.
    Upstream,
}

/// Reads one upstream response body and writes the client's.
pub trait ResponseCodec {
    /// Whether the client receives an event stream: kept alive with pings, always chunked so an
    /// error event can end it cleanly.
    fn event_stream(&self) -> bool;

    /// Takes the upstream body bytes in `data`: bytes from `fed` on arrived since the last
    /// call, bytes before it were held back then. Passes what may go to the client now to
    /// `emit` and removes what it consumed from `data`. `finished`: the upstream body ended.
    fn feed(
        &mut self,
        data: &mut Vec<u8>,
        fed: usize,
        finished: bool,
        emit: impl FnMut(&[u8]),
    ) -> Result<(), CodecError>;

    /// Whether the upstream signalled the end of its response in-band (Anthropic's
    /// `message_stop`). A codec without an in-band end says true: framing alone decides.
    fn terminated(&self) -> bool;

    /// The usage reported so far (None when the format carries none or none arrived yet).
    fn usage(&self) -> Option<&Usage>;

    /// What the response said about itself (None when it was not read).
    fn into_summary(self) -> Option<ResponseSummary>;

    /// Appends the event that ends the client's stream when the upstream failed mid-way
    /// (`error_type` and `message` in the client's format). Only called on event streams.
    fn write_error_event(&self, out: &mut Vec<u8>, error_type: &str, message: &str);

    /// Whether the codec replaces the whole body (a translated error or completion): it emits
    /// the new body once, when the upstream's ended, and the relay holds the head until then.
    fn replaces_body(&self) -> bool {
        false
    }

    /// The status of the replaced body, once emitted (None: the upstream's stands).
    fn replaced_status(&self) -> Option<u16> {
        None
    }

    /// Whether the relay holds the response head until the codec first emits: a failure
    /// before that is answered as an error status (and may fail over), not in-band.
    fn holds_head(&self) -> bool {
        false
    }

    /// The client's `content-type`, when it differs from the upstream's (a re-framed stream).
    fn content_type(&self) -> Option<&'static [u8]> {
        None
    }

    /// The failure behind [`CodecError::Upstream`], as the error to answer with.
    fn upstream_error(&self) -> Option<crate::error::GatewayError> {
        None
    }
}

/// Forwards the body unread: responses whose format does not matter (errors, non-Messages
/// routes, unmetered shapes).
pub struct OpaqueCodec;

impl ResponseCodec for OpaqueCodec {
    fn event_stream(&self) -> bool {
        false
    }

    fn feed(
        &mut self,
        data: &mut Vec<u8>,
        _fed: usize,
        _finished: bool,
        mut emit: impl FnMut(&[u8]),
    ) -> Result<(), CodecError> {
        emit(data);
        data.clear();
        Ok(())
    }

    fn terminated(&self) -> bool {
        true
    }

    fn usage(&self) -> Option<&Usage> {
        None
    }

    fn into_summary(self) -> Option<ResponseSummary> {
        None
    }

    fn write_error_event(&self, _out: &mut Vec<u8>, _error_type: &str, _message: &str) {}
}
