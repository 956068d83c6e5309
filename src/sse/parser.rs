//! Incremental Server-Sent Events parser: turns `text/event-stream` bytes, in whatever pieces the
//! network delivers them, into events and the byte offsets where events end, so the proxy can
//! observe a stream and forward it event by event without ever holding more than one event.
//!
//! It follows the WHATWG "event stream interpretation" rules: lines end in CRLF, LF or a lone CR
//! (a CR at the end of one input and an LF at the start of the next are one line end); a leading
//! UTF-8 BOM is skipped; `:` lines are comments; `field: value` loses one leading space; a line
//! without a colon is a field with an empty value; `data` lines are joined with `\n`; `event`
//! names the event; `id` (unless it contains NUL) sets the last event ID, which persists across
//! events; `retry` and unknown fields are ignored; a blank line dispatches the event, unless it
//! carried no `data` line. An unfinished event at the end of the stream is never dispatched.

use memchr::{memchr, memchr2};

/// The largest `data` one event may carry (its data lines joined by `\n`, as delivered in
/// [`SseEvent::data`]). An event past it is dropped whole: it is not dispatched, its remaining
/// lines are scanned but not stored, its end still counts as a boundary for [`SseParser::feed`],
/// and the stream parses on normally after it; [`SseParser::oversized_events`] counts such events.
pub const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// The longest line the parser holds: the longest data line that can still fit
/// [`MAX_EVENT_BYTES`] (`data: ` plus that many value bytes). A longer line drops its event like
/// an oversized one (a longer comment line is simply ignored); so the parser's memory is bounded
/// by a few times [`MAX_EVENT_BYTES`] whatever the peer sends.
pub const MAX_LINE_BYTES: usize = MAX_EVENT_BYTES + b"data: ".len();

/// Capacity a buffer may keep between events; a larger one (left by a large event) is shrunk
/// back, so one big event does not pin megabytes to a long-lived connection.
const RETAINED_BUFFER_BYTES: usize = 64 * 1024;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// One dispatched event. Borrows the parser's buffers: valid only inside the callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SseEvent<'a> {
    /// The `event` field; empty when the event had none (which means `message`).
    pub event: &'a [u8],
    /// The event's data lines joined by `\n` (no trailing `\n`).
    pub data: &'a [u8],
    /// The last event ID at dispatch (it persists across events until an `id` line changes it);
    /// `None` when it is empty.
    pub id: Option<&'a [u8]>,
}

impl SseEvent<'_> {
    /// The event type as a client sees it: the `event` field, or `message` when there was none.
    pub fn event_type(&self) -> &[u8] {
        if self.event.is_empty() {
            b"message"
        } else {
            self.event
        }
    }
}

/// Reusable incremental parser; holds only the current partial line and event.
#[derive(Debug, Default)]
pub struct SseParser {
    /// An unfinished line carried over from the previous input (at most [`MAX_LINE_BYTES`]).
    line: Vec<u8>,
    /// The carried line went past [`MAX_LINE_BYTES`]; only its first byte was kept.
    line_overlong: bool,
    event: Vec<u8>,
    data: Vec<u8>,
    last_id: Vec<u8>,
    /// The current event has at least one `data` line.
    has_data: bool,
    /// A line (of any kind) was seen since the last blank line.
    in_block: bool,
    /// The current event went past a limit and will be dropped.
    oversized: bool,
    /// The previous input ended on a CR: an LF opening the next input belongs to that line end.
    after_cr: bool,
    /// ... and that CR ended a blank line closing a block: its boundary is reported once the
    /// next byte shows whether an LF follows.
    boundary_after_cr: bool,
    /// The first line of the stream was seen (the BOM check is done).
    past_first_line: bool,
    oversized_events: u64,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed the next bytes of the stream. Calls `on_event` for every event completed inside
    /// `input`. Returns `Some(n)`: the offset in `input` just past the line end of the blank line
    /// that closed the last non-empty block (an event, dispatched or not, or comments only) whose
    /// end became certain in this call; `None` if there was none.
    ///
    /// A CRLF's LF is part of its line end, so when a closing blank line ends with a CR that is
    /// the last byte of `input`, the event is dispatched at once but its boundary is reported by
    /// the next call: `Some(1)` if that input starts with the LF, else `Some(0)`. The boundaries
    /// are therefore the same however the stream is split.
    pub fn feed(&mut self, input: &[u8], mut on_event: impl FnMut(&SseEvent<'_>)) -> Option<usize> {
        if input.is_empty() {
            return None;
        }
        let mut boundary = None;
        let mut pos = 0;
        if self.after_cr {
            self.after_cr = false;
            if input.first() == Some(&b'\n') {
                pos = 1;
            }
            if std::mem::take(&mut self.boundary_after_cr) {
                boundary = Some(pos);
            }
        }
        while let Some(rest) = input.get(pos..).filter(|rest| !rest.is_empty()) {
            let Some(found) = memchr2(b'\n', b'\r', rest) else {
                self.hold(rest);
                break;
            };
            let line_end = pos + found;
            let mut next = line_end + 1;
            let mut cr_ends_input = false;
            if input.get(line_end) == Some(&b'\r') {
                match input.get(next) {
                    Some(b'\n') => next += 1,
                    Some(_) => {}
                    None => cr_ends_input = true,
                }
            }
            let line = rest.get(..found).unwrap_or_default();
            let closed_block = if self.line.is_empty() && !self.line_overlong {
                self.process_line(line, false, &mut on_event)
            } else {
                self.hold(line);
                let held = std::mem::take(&mut self.line);
                let overlong = std::mem::take(&mut self.line_overlong);
                let closed = self.process_line(&held, overlong, &mut on_event);
                self.line = held;
                clear_and_trim(&mut self.line);
                closed
            };
            if cr_ends_input {
                self.after_cr = true;
                self.boundary_after_cr = closed_block;
            } else if closed_block {
                boundary = Some(next);
            }
            pos = next;
        }
        boundary
    }

    /// True while bytes past the last boundary are held or still undecided: an unfinished line or
    /// event, or a trailing CR whose LF may yet arrive. Injecting a frame is safe only when false.
    pub fn in_partial_event(&self) -> bool {
        self.in_block || !self.line.is_empty() || self.line_overlong || self.after_cr
    }

    /// How many events were dropped for going past [`MAX_EVENT_BYTES`] / [`MAX_LINE_BYTES`].
    pub fn oversized_events(&self) -> u64 {
        self.oversized_events
    }

    /// Forget everything (a new stream starts), keeping the buffers' capacity.
    pub fn reset(&mut self) {
        let Self {
            line,
            line_overlong,
            event,
            data,
            last_id,
            has_data,
            in_block,
            oversized,
            after_cr,
            boundary_after_cr,
            past_first_line,
            oversized_events,
        } = self;
        for buffer in [line, event, data, last_id] {
            clear_and_trim(buffer);
        }
        for flag in [
            line_overlong,
            has_data,
            in_block,
            oversized,
            after_cr,
            boundary_after_cr,
            past_first_line,
        ] {
            *flag = false;
        }
        *oversized_events = 0;
    }

    /// Keep the bytes of an unfinished line, up to [`MAX_LINE_BYTES`]; past that keep only its
    /// first byte (enough to tell a comment) and remember it was too long.
    fn hold(&mut self, bytes: &[u8]) {
        if self.line_overlong || bytes.is_empty() {
            return;
        }
        if self.line.len() + bytes.len() <= MAX_LINE_BYTES {
            self.line.extend_from_slice(bytes);
            return;
        }
        let first = self.line.first().or(bytes.first()).copied();
        self.line.clear();
        self.line.extend(first);
        self.line_overlong = true;
    }

    /// Interpret one complete line (without its line end). Returns true when it is a blank line
    /// closing a non-empty block.
    fn process_line(
        &mut self,
        line: &[u8],
        overlong: bool,
        on_event: &mut impl FnMut(&SseEvent<'_>),
    ) -> bool {
        let line = if self.past_first_line {
            line
        } else {
            self.past_first_line = true;
            line.strip_prefix(UTF8_BOM).unwrap_or(line)
        };
        if line.is_empty() {
            return self.close_block(on_event);
        }
        self.in_block = true;
        if line.first() == Some(&b':') {
            return false;
        }
        if overlong || line.len() > MAX_LINE_BYTES {
            self.mark_oversized();
            return false;
        }
        let (field, value) = match memchr(b':', line) {
            Some(colon) => {
                let value = line.get(colon + 1..).unwrap_or_default();
                let field = line.get(..colon).unwrap_or_default();
                (field, value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        match field {
            b"data" => self.push_data(value),
            b"event" if !self.oversized => {
                self.event.clear();
                self.event.extend_from_slice(value);
            }
            b"id" if memchr(0, value).is_none() => {
                self.last_id.clear();
                self.last_id.extend_from_slice(value);
            }
            _ => {}
        }
        false
    }

    fn push_data(&mut self, value: &[u8]) {
        if self.oversized {
            return;
        }
        let separator = usize::from(self.has_data);
        if self.data.len() + separator + value.len() > MAX_EVENT_BYTES {
            self.mark_oversized();
            return;
        }
        if self.has_data {
            self.data.push(b'\n');
        }
        self.data.extend_from_slice(value);
        self.has_data = true;
    }

    fn mark_oversized(&mut self) {
        self.oversized = true;
        self.data.clear();
    }

    /// A blank line: dispatch the current event (if it has data and stayed within the limits)
    /// and start a new one. Returns whether a non-empty block was closed.
    fn close_block(&mut self, on_event: &mut impl FnMut(&SseEvent<'_>)) -> bool {
        if !self.in_block {
            return false;
        }
        if self.oversized {
            self.oversized_events += 1;
        } else if self.has_data {
            on_event(&SseEvent {
                event: &self.event,
                data: &self.data,
                id: (!self.last_id.is_empty()).then_some(self.last_id.as_slice()),
            });
        }
        self.in_block = false;
        self.has_data = false;
        self.oversized = false;
        clear_and_trim(&mut self.event);
        clear_and_trim(&mut self.data);
        true
    }
}

fn clear_and_trim(buffer: &mut Vec<u8>) {
    buffer.clear();
    if buffer.capacity() > RETAINED_BUFFER_BYTES {
        buffer.shrink_to(RETAINED_BUFFER_BYTES);
    }
}
