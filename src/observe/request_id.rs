//! Request ids that cost no allocation: `req_sl<start>_<shard>_<n>`, formatted into a fixed
//! inline buffer. Unique within a process (shard and counter) and across restarts (start time).

use std::fmt::Write;

/// Longest id: "req_sl" + 16 hex + "_" + 5 digits + "_" + 20 digits.
const MAX_REQUEST_ID_BYTES: usize = 64;

#[derive(Clone, Copy)]
pub struct RequestId {
    bytes: [u8; MAX_REQUEST_ID_BYTES],
    len: u8,
}

impl RequestId {
    pub fn new(process_start_secs: u64, shard: usize, n: u64) -> Self {
        let mut id = RequestId {
            bytes: [0; MAX_REQUEST_ID_BYTES],
            len: 0,
        };
        // The longest formatted value fits the buffer, so this write cannot fail.
        let _ = write!(id, "req_sl{process_start_secs:x}_{shard}_{n}");
        id
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII is ever written.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("req")
    }
}

impl Write for RequestId {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let start = usize::from(self.len);
        let end = start + s.len();
        let slot = self.bytes.get_mut(start..end).ok_or(std::fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end as u8;
        Ok(())
    }
}

impl std::fmt::Debug for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_fits_the_largest_values() {
        assert_eq!(RequestId::new(0x6b09, 1, 42).as_str(), "req_sl6b09_1_42");
        let big = RequestId::new(u64::MAX, 99_999, u64::MAX);
        assert_eq!(
            big.as_str(),
            format!("req_sl{:x}_99999_{}", u64::MAX, u64::MAX)
        );
    }
}
