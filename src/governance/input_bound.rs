//! An upper bound on what one Messages request can be charged for, read from its body in one
//! pass: strict mode reserves it, so a budget or token limit is not crossed whatever the body.
//!
//! Input tokens are bounded by the body's bytes. Every tokenized text (system, message text,
//! tool definitions, `tool_use` inputs, tool results) is a JSON string in the body, and a JSON
//! string is never shorter than the UTF-8 text it encodes (escapes only lengthen it); a
//! byte-level BPE token covers at least one byte. The JSON around the text (keys, quotes,
//! brackets) outweighs the few tokens that frame each message, and [`REQUEST_OVERHEAD_TOKENS`]
//! covers the system prompt the provider adds when tools are present. What is not text:
//! - An image (`"type":"image"` block, base64, URL or file source): its base64 data is not
//!   counted; it costs at most [`IMAGE_TOKENS`].
//! - A PDF document: its base64 data stays counted as bytes (it bounds the text of uncompressed
//!   pages), plus [`PDF_PAGE_IMAGE_TOKENS`] for each page it can hold (see [`pdf_pages`]); a
//!   document by URL or file id is charged [`UNSEEN_DOCUMENT_TOKENS`].
//! - A tool with no `input_schema` (a provider-defined tool: bash, text editor, computer use)
//!   adds a hidden definition, at most [`TYPED_TOOL_TOKENS`].
//!
//! Where no bound can hold (a PDF whose text is compressed past these figures, server tools
//! such as web search or fetch whose results the provider adds to the prompt, MCP servers the
//! provider calls), the cost beyond the reservation is counted as overshoot.
//!
//! Input is priced at the dearest rate that may apply: a body that asks for a 1-hour cache
//! write (`"ttl"` other than `"5m"`) is priced at that rate ([`RequestBound::one_hour_cache_write`]).
//! The body was already checked as JSON by the request peek; this scan never fails, and what it
//! cannot read (escaped key names, duplicate keys) it counts as text.

use memchr::memchr_iter;

/// Added to every request: the system prompt a provider adds for tool use (Anthropic lists
/// 313–346 tokens for Claude 4 models, up to 530 for older ones; computer use adds about 500).
pub const REQUEST_OVERHEAD_TOKENS: u64 = 1_024;
/// Most tokens one image costs. Anthropic downscales an image so its long edge is at most
/// 1,568 px and it holds at most about 1.15 megapixels, then charges `width × height / 750`
/// tokens: at most about 1,534, rounded up.
pub const IMAGE_TOKENS: u64 = 1_600;
/// Most tokens a PDF page's image costs (each page is also sent as an image).
pub const PDF_PAGE_IMAGE_TOKENS: u64 = IMAGE_TOKENS;
/// Fewest bytes a PDF page takes in the file, for bounding the page count from the data size.
pub const PDF_MIN_PAGE_BYTES: u64 = 1_024;
/// Most pages a PDF in one request can have (Anthropic's documented limit).
pub const MAX_PDF_PAGES: u64 = 100;
/// Tokens of text assumed per page for a document whose bytes are not in the body.
pub const UNSEEN_PAGE_TEXT_TOKENS: u64 = 3_000;
/// A document by URL or file id: the most pages, each at its image plus its text.
pub const UNSEEN_DOCUMENT_TOKENS: u64 =
    MAX_PDF_PAGES * (PDF_PAGE_IMAGE_TOKENS + UNSEEN_PAGE_TEXT_TOKENS);
/// A provider-defined tool's hidden definition (Anthropic: computer use 735, text editor 700,
/// bash 245 tokens).
pub const TYPED_TOOL_TOKENS: u64 = 1_024;

/// What admission reserves for one request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestBound {
    /// Upper bound on the prompt: input + cache reads + cache writes.
    pub input_tokens: u64,
    /// The request's `max_tokens`; without it, the model's largest output is reserved.
    pub max_tokens: Option<u64>,
    /// The body may ask for a 1-hour cache write: input is priced at that rate.
    pub one_hour_cache_write: bool,
}

/// Pages a PDF of `base64_len` bytes of base64 data can hold (at least 1).
pub fn pdf_pages(base64_len: u64) -> u64 {
    let decoded = base64_len / 4 * 3;
    decoded.div_ceil(PDF_MIN_PAGE_BYTES).clamp(1, MAX_PDF_PAGES)
}

/// The bound for a Messages request `body` with `max_tokens` (from the peek).
pub fn request_bound(body: &[u8], max_tokens: Option<u64>) -> RequestBound {
    let mut scan = Scan::default();
    scan.run(body);
    let input_tokens = (body.len() as u64)
        .saturating_sub(scan.not_text)
        .saturating_add(scan.extra)
        .saturating_add(REQUEST_OVERHEAD_TOKENS);
    RequestBound {
        input_tokens,
        max_tokens,
        one_hour_cache_write: scan.one_hour,
    }
}

/// Containers followed by role; deeper ones are all [`Place::Other`].
const TRACKED: usize = 8;

/// Where a container sits in a Messages body.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Place {
    Root,
    Messages,
    Message,
    Content,
    Block,
    BlockContent,
    Source,
    Tools,
    Tool,
    #[default]
    Other,
}

/// The keys that matter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Key {
    Messages,
    Tools,
    Content,
    Source,
    Type,
    MediaType,
    Data,
    InputSchema,
    Ttl,
    #[default]
    Other,
}

impl Key {
    fn of(raw: &[u8]) -> Key {
        match raw {
            b"messages" => Key::Messages,
            b"tools" => Key::Tools,
            b"content" => Key::Content,
            b"source" => Key::Source,
            b"type" => Key::Type,
            b"media_type" => Key::MediaType,
            b"data" => Key::Data,
            b"input_schema" => Key::InputSchema,
            b"ttl" => Key::Ttl,
            _ => Key::Other,
        }
    }

    /// The bit recording that a frame has this key (duplicates make a frame unreadable).
    fn bit(self) -> u8 {
        match self {
            Key::Source => 1,
            Key::Type => 2,
            Key::MediaType => 4,
            Key::Data => 8,
            _ => 0,
        }
    }
}

/// A `type` or `media_type` value that matters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Value {
    Image,
    Document,
    Base64,
    Url,
    File,
    ImageMedia,
    Pdf,
    #[default]
    Other,
}

impl Value {
    fn of(raw: &[u8]) -> Value {
        match raw {
            b"image" => Value::Image,
            b"document" => Value::Document,
            b"base64" => Value::Base64,
            b"url" => Value::Url,
            b"file" => Value::File,
            b"application/pdf" => Value::Pdf,
            _ if raw.starts_with(b"image/") => Value::ImageMedia,
            _ => Value::Other,
        }
    }
}

/// A source object as its block needs it.
#[derive(Clone, Copy, Debug, Default)]
struct Source {
    kind: Value,
    media: Value,
    data_len: u64,
}

/// One open container.
#[derive(Clone, Copy, Debug, Default)]
struct Frame {
    object: bool,
    place: Place,
    /// Objects: the key whose value comes next.
    key: Key,
    seen: u8,
    /// A key that matters appeared twice, or a key could not be read.
    unreadable: bool,
    kind: Value,
    media: Value,
    data_len: u64,
    has_schema: bool,
    source: Option<Source>,
}

#[derive(Default)]
struct Scan {
    /// Bytes of the body that are not tokenized text (image data).
    not_text: u64,
    /// Tokens added for what the bytes do not show.
    extra: u64,
    one_hour: bool,
    frames: [Frame; TRACKED],
    depth: usize,
}

impl Scan {
    fn run(&mut self, body: &[u8]) {
        let mut pos = 0;
        let mut expect_key = false;
        while let Some(&byte) = body.get(pos) {
            match byte {
                b'"' => {
                    let start = pos + 1;
                    let end = string_end(body, start);
                    let raw = body.get(start..end).unwrap_or_default();
                    if expect_key {
                        self.on_key(raw);
                        expect_key = false;
                    } else {
                        self.on_string(raw);
                    }
                    pos = end + 1;
                    continue;
                }
                b'{' => {
                    self.open(true);
                    expect_key = true;
                }
                b'[' => self.open(false),
                b'}' | b']' => {
                    self.close();
                    expect_key = false;
                }
                b',' => expect_key = self.current().is_some_and(|f| f.object),
                _ => {}
            }
            pos += 1;
        }
    }

    fn current(&mut self) -> Option<&mut Frame> {
        match self.depth {
            0 => None,
            d if d <= TRACKED => self.frames.get_mut(d - 1),
            _ => None,
        }
    }

    fn on_key(&mut self, raw: &[u8]) {
        let key = Key::of(raw);
        let escaped = raw.contains(&b'\\');
        if escaped {
            // Unreadable without decoding: it might name `ttl`.
            self.one_hour = true;
        }
        if let Some(frame) = self.current() {
            frame.key = key;
            if escaped || frame.seen & key.bit() != 0 {
                frame.unreadable = true;
            }
            frame.seen |= key.bit();
            if key == Key::InputSchema {
                frame.has_schema = true;
            }
        }
    }

    fn on_string(&mut self, raw: &[u8]) {
        let Some(frame) = self.current() else {
            return;
        };
        if !frame.object {
            return;
        }
        match frame.key {
            Key::Type => frame.kind = Value::of(raw),
            Key::MediaType => frame.media = Value::of(raw),
            Key::Data => frame.data_len = raw.len() as u64,
            Key::Ttl if raw != b"5m" => self.one_hour = true,
            _ => {}
        }
    }

    fn open(&mut self, object: bool) {
        let parent = if self.depth == 0 {
            None
        } else {
            self.current().map(|f| (f.place, f.object, f.key))
        };
        let place = match parent {
            None if self.depth == 0 && object => Place::Root,
            Some((Place::Root, true, Key::Messages)) if !object => Place::Messages,
            Some((Place::Root, true, Key::Tools)) if !object => Place::Tools,
            Some((Place::Messages, false, _)) if object => Place::Message,
            Some((Place::Tools, false, _)) if object => Place::Tool,
            Some((Place::Message, true, Key::Content)) if !object => Place::Content,
            Some((Place::Content | Place::BlockContent, false, _)) if object => Place::Block,
            Some((Place::Block, true, Key::Source)) if object => Place::Source,
            Some((Place::Block, true, Key::Content)) if !object => Place::BlockContent,
            _ => Place::Other,
        };
        self.depth += 1;
        if let Some(frame) = self.current() {
            *frame = Frame {
                object,
                place,
                ..Frame::default()
            };
        }
    }

    fn close(&mut self) {
        if self.depth == 0 {
            return;
        }
        let closed = if self.depth <= TRACKED {
            self.frames.get(self.depth - 1).copied()
        } else {
            None
        };
        self.depth -= 1;
        let Some(closed) = closed else {
            return;
        };
        match closed.place {
            Place::Source => {
                if let Some(block) = self.current() {
                    block.source = (!closed.unreadable).then_some(Source {
                        kind: closed.kind,
                        media: closed.media,
                        data_len: closed.data_len,
                    });
                }
            }
            Place::Block if !closed.unreadable => self.close_block(&closed),
            Place::Tool if !closed.has_schema => {
                self.extra = self.extra.saturating_add(TYPED_TOOL_TOKENS);
            }
            _ => {}
        }
    }

    /// A content block ends: charge its image or document.
    fn close_block(&mut self, block: &Frame) {
        let Some(source) = block.source else {
            return;
        };
        let extra = match (block.kind, source.kind) {
            (Value::Image, Value::Base64) => {
                self.not_text = self.not_text.saturating_add(source.data_len);
                IMAGE_TOKENS
            }
            (Value::Image, Value::Url | Value::File) => IMAGE_TOKENS,
            (Value::Document, Value::Base64) if source.media == Value::Pdf => {
                pdf_pages(source.data_len).saturating_mul(PDF_PAGE_IMAGE_TOKENS)
            }
            (Value::Document, Value::Url | Value::File) => UNSEEN_DOCUMENT_TOKENS,
            _ => 0,
        };
        self.extra = self.extra.saturating_add(extra);
    }
}

/// Where the string whose contents start at `start` ends (its closing quote), or the body's
/// end if it does not.
fn string_end(body: &[u8], start: usize) -> usize {
    let contents = body.get(start..).unwrap_or_default();
    for found in memchr_iter(b'"', contents) {
        // The quote is escaped when an odd run of backslashes precedes it.
        let before = contents.get(..found).unwrap_or_default();
        let backslashes = before.iter().rev().take_while(|&&b| b == b'\\').count();
        if backslashes % 2 == 0 {
            return start + found;
        }
    }
    body.len()
}
