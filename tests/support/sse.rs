//! SSE helpers for assertions: split a byte stream into events, parse one, and match a stream
//! received through sluice against the original with injected pings allowed between events.

/// The ping event sluice injects during upstream silence (the same bytes Anthropic sends).
pub const PING_EVENT: &[u8] = b"event: ping\ndata: {\"type\": \"ping\"}\n\n";

/// Splits `body` into events, each ending with its blank line; the second value is any
/// incomplete tail.
pub fn split_events(body: &[u8]) -> (Vec<&[u8]>, &[u8]) {
    let mut events = Vec::new();
    let mut rest = body;
    while let Some(pos) = memchr::memmem::find(rest, b"\n\n") {
        events.push(&rest[..pos + 2]);
        rest = &rest[pos + 2..];
    }
    (events, rest)
}

/// One parsed event: its name and its (joined) data.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub name: String,
    pub data: String,
}

impl Event {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|e| panic!("event {} data is not JSON ({e}): {}", self.name, self.data))
    }
}

pub fn parse_event(raw: &[u8]) -> Event {
    let text = std::str::from_utf8(raw).expect("event is not UTF-8");
    let mut name = String::from("message");
    let mut data: Vec<&str> = Vec::new();
    for line in text.lines() {
        if let Some(value) = line.strip_prefix("event:") {
            name = value.trim_start().to_string();
        } else if let Some(value) = line.strip_prefix("data:") {
            data.push(value.strip_prefix(' ').unwrap_or(value));
        }
    }
    Event {
        name,
        data: data.join("\n"),
    }
}

pub fn parse_events(body: &[u8]) -> Vec<Event> {
    split_events(body).0.into_iter().map(parse_event).collect()
}

/// Matches `got` (received through sluice) against `original` (what the upstream sent): every
/// original event must appear byte for byte and in order, and the only extra events allowed are
/// whole ping events between them. Returns, for each injected ping, how many original events
/// preceded it.
pub fn match_with_injected_pings(original: &[u8], got: &[u8]) -> Result<Vec<usize>, String> {
    let (want, want_tail) = split_events(original);
    assert!(
        want_tail.is_empty(),
        "the original stream must end with a whole event"
    );
    let (have, have_tail) = split_events(got);
    if !have_tail.is_empty() {
        return Err(format!(
            "stream ends inside an event: {:?}",
            String::from_utf8_lossy(have_tail)
        ));
    }
    let mut next = 0;
    let mut injected = Vec::new();
    for (i, event) in have.iter().enumerate() {
        if next < want.len() && *event == want[next] {
            next += 1;
        } else if *event == PING_EVENT {
            injected.push(next);
        } else {
            return Err(format!(
                "event #{i} {:?} is neither original event #{next} {:?} nor a ping",
                String::from_utf8_lossy(event),
                want.get(next).map(|e| String::from_utf8_lossy(e))
            ));
        }
    }
    if next != want.len() {
        return Err(format!(
            "only {next} of {} original events arrived",
            want.len()
        ));
    }
    Ok(injected)
}
