//! W3C Trace Context (`traceparent` / `tracestate`): parsing an incoming header, making the
//! header an upstream request carries, and span/trace ids from a per-shard generator.
//! IO-free; the parser never panics on peer bytes.

use std::cell::Cell;

/// Longest `tracestate` kept (W3C: 32 members of up to 256 bytes; vendors keep 512).
pub const MAX_TRACESTATE_LEN: usize = 512;
/// Length of a version-00 `traceparent`: `00-` 32 hex `-` 16 hex `-` 2 hex.
pub const TRACEPARENT_LEN: usize = 55;

/// A 16-byte trace id (never all zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TraceId(pub [u8; 16]);

/// An 8-byte span id (never all zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SpanId(pub [u8; 8]);

/// What a valid incoming `traceparent` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemoteParent {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub sampled: bool,
}

/// Parses a `traceparent` value; `None` for anything invalid (then a new trace starts).
///
/// Version 00 must be exactly 55 bytes; a higher version may be longer if byte 55 is `-`
/// (forward compatibility); version `ff` is invalid. Hex must be lowercase.
pub fn parse_traceparent(value: &[u8]) -> Option<RemoteParent> {
    let value = value.trim_ascii();
    if value.len() < TRACEPARENT_LEN {
        return None;
    }
    let version = hex_byte(&value[0..2])?;
    let exact = value.len() == TRACEPARENT_LEN;
    let valid_length = match version {
        0xff => false,
        0x00 => exact,
        _ => exact || value[TRACEPARENT_LEN] == b'-',
    };
    if !valid_length || value[2] != b'-' || value[35] != b'-' || value[52] != b'-' {
        return None;
    }
    let mut trace_id = [0u8; 16];
    for (i, byte) in trace_id.iter_mut().enumerate() {
        *byte = hex_byte(&value[3 + 2 * i..5 + 2 * i])?;
    }
    let mut span_id = [0u8; 8];
    for (i, byte) in span_id.iter_mut().enumerate() {
        *byte = hex_byte(&value[36 + 2 * i..38 + 2 * i])?;
    }
    let flags = hex_byte(&value[53..55])?;
    if trace_id == [0; 16] || span_id == [0; 8] {
        return None;
    }
    Some(RemoteParent {
        trace_id: TraceId(trace_id),
        span_id: SpanId(span_id),
        sampled: flags & 0x01 == 0x01,
    })
}

/// A `tracestate` kept for forwarding: printable ASCII, at most [`MAX_TRACESTATE_LEN`].
pub fn parse_tracestate(value: &[u8]) -> Option<String> {
    let value = value.trim_ascii();
    let ok = !value.is_empty()
        && value.len() <= MAX_TRACESTATE_LEN
        && value.iter().all(|&b| (0x20..0x7f).contains(&b));
    ok.then(|| String::from_utf8_lossy(value).into_owned())
}

/// `00-{trace}-{span}-{flags}`.
pub fn format_traceparent(trace_id: TraceId, span_id: SpanId, sampled: bool) -> String {
    let mut out = String::with_capacity(TRACEPARENT_LEN);
    out.push_str("00-");
    push_hex(&mut out, &trace_id.0);
    out.push('-');
    push_hex(&mut out, &span_id.0);
    out.push_str(if sampled { "-01" } else { "-00" });
    out
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
}

fn hex_byte(pair: &[u8]) -> Option<u8> {
    let digit = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    };
    match pair {
        [hi, lo] => Some(digit(*hi)? << 4 | digit(*lo)?),
        _ => None,
    }
}

/// Random ids for one shard: SplitMix64 seeded from the OS, in a `Cell` (no locks).
pub struct IdGenerator {
    state: Cell<u64>,
}

impl Default for IdGenerator {
    fn default() -> Self {
        IdGenerator::new()
    }
}

impl IdGenerator {
    /// A generator seeded from the OS random source.
    pub fn new() -> IdGenerator {
        let mut seed = [0u8; 8];
        if getrandom::getrandom(&mut seed).is_err() {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos();
            seed = (nanos as u64 ^ u64::from(std::process::id())).to_le_bytes();
        }
        IdGenerator::with_seed(u64::from_le_bytes(seed))
    }

    /// A generator with a fixed seed (tests).
    pub fn with_seed(seed: u64) -> IdGenerator {
        IdGenerator {
            state: Cell::new(seed),
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&self) -> u64 {
        let s = self.state.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        self.state.set(s);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A new non-zero span id.
    pub fn span_id(&self) -> SpanId {
        loop {
            let v = self.next_u64();
            if v != 0 {
                return SpanId(v.to_be_bytes());
            }
        }
    }

    /// A new non-zero trace id.
    pub fn trace_id(&self) -> TraceId {
        let mut id = [0u8; 16];
        loop {
            id[..8].copy_from_slice(&self.next_u64().to_be_bytes());
            id[8..].copy_from_slice(&self.next_u64().to_be_bytes());
            if id != [0; 16] {
                return TraceId(id);
            }
        }
    }

    /// True with probability `ratio` (0.0 never, 1.0 always).
    pub fn sample(&self, ratio: f64) -> bool {
        if ratio >= 1.0 {
            return true;
        }
        if ratio <= 0.0 {
            return false;
        }
        // 53 random bits as a uniform value in [0, 1).
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < ratio
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn valid_traceparent_round_trips() {
        let parent = parse_traceparent(VALID.as_bytes()).unwrap();
        assert!(parent.sampled);
        assert_eq!(
            parent.span_id.0,
            [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]
        );
        assert_eq!(
            format_traceparent(parent.trace_id, parent.span_id, true),
            VALID
        );
        let unsampled = parse_traceparent(&VALID.replace("-01", "-00").into_bytes()).unwrap();
        assert!(!unsampled.sampled);
        // Future versions may append fields after a dash.
        assert!(parse_traceparent(format!("01{}-extra", &VALID[2..]).as_bytes()).is_some());
    }

    #[test]
    fn invalid_traceparents_are_rejected() {
        let upper = VALID.to_uppercase();
        let cases = [
            "",
            &VALID[..54],
            &upper,
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
        ];
        for case in cases {
            assert_eq!(parse_traceparent(case.as_bytes()), None, "{case}");
        }
        // Every prefix of a valid header is invalid, and no byte sequence panics.
        for cut in 0..VALID.len() {
            assert_eq!(parse_traceparent(&VALID.as_bytes()[..cut]), None);
        }
    }

    #[test]
    fn tracestate_is_kept_up_to_its_limit() {
        let at_limit = "a".repeat(MAX_TRACESTATE_LEN);
        assert_eq!(
            parse_tracestate(at_limit.as_bytes()),
            Some(at_limit.clone())
        );
        assert_eq!(parse_tracestate(format!("{at_limit}a").as_bytes()), None);
        assert_eq!(parse_tracestate(b"k=v\n"), Some("k=v".into()));
        assert_eq!(parse_tracestate(b"k=\x01"), None);
    }

    #[test]
    fn ids_are_non_zero_and_sampling_follows_the_ratio() {
        let ids = IdGenerator::with_seed(7);
        assert_ne!(ids.span_id(), ids.span_id());
        assert_ne!(ids.trace_id().0, [0; 16]);
        assert!((0..100).all(|_| ids.sample(1.0)));
        assert!((0..100).all(|_| !ids.sample(0.0)));
        let kept = (0..10_000).filter(|_| ids.sample(0.25)).count();
        assert!((2_000..3_000).contains(&kept), "{kept}");
    }
}
