//! A reusable receive buffer: bytes are read into its spare room and consumed from its front,
//! so a connection allocates once and never zero-fills or shifts on the common path.

/// Receive buffer with a fixed starting size that grows (doubling) up to a ceiling.
#[derive(Debug)]
pub struct ReadBuf {
    data: Vec<u8>,
    start: usize,
    end: usize,
    max: usize,
}

impl ReadBuf {
    /// A buffer of `initial` bytes that may grow to `max`.
    pub fn new(initial: usize, max: usize) -> Self {
        let initial = initial.clamp(1, max.max(1));
        Self {
            data: vec![0; initial],
            start: 0,
            end: 0,
            max: max.max(initial),
        }
    }

    /// Bytes received and not yet consumed.
    pub fn filled(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    /// Drops `count` bytes from the front of [`Self::filled`].
    pub fn consume(&mut self, count: usize) {
        self.start = (self.start + count).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Drops everything received.
    pub fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    /// Room to read into; empty only when the buffer is full at its ceiling.
    pub fn spare(&mut self) -> &mut [u8] {
        if self.end == self.data.len() {
            if self.start > 0 {
                self.data.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else if self.data.len() < self.max {
                let grown = (self.data.len() * 2).min(self.max);
                self.data.resize(grown, 0);
            }
        }
        &mut self.data[self.end..]
    }

    /// Marks `count` bytes of [`Self::spare`] as received.
    pub fn commit(&mut self, count: usize) {
        self.end = (self.end + count).min(self.data.len());
    }
}
