//! Reads a log's complete lines in chain order across files, from a cursor, for
//! `sluice audit tail` and `sluice audit export` (a torn last line is never returned).

use std::io;
use std::path::Path;

use super::files::list_log_files;

/// A position in the log: a file number and a byte offset in it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cursor {
    pub file: u64,
    pub offset: u64,
}

/// Every complete line at or after `from`, in order, and the cursor just past the last one.
pub fn read_lines(dir: &Path, from: Cursor) -> io::Result<(Vec<Vec<u8>>, Cursor)> {
    let mut out = Vec::new();
    let mut cursor = from;
    for (index, path) in list_log_files(dir)? {
        if index < from.file {
            continue;
        }
        let start = if index == from.file { from.offset } else { 0 };
        let bytes = std::fs::read(&path)?;
        let rest = bytes
            .get(usize::try_from(start).unwrap_or(usize::MAX)..)
            .unwrap_or_default();
        let complete = memchr::memrchr(b'\n', rest).map_or(0, |n| n + 1);
        for line in rest[..complete].split(|&b| b == b'\n') {
            if !line.is_empty() {
                out.push(line.to_vec());
            }
        }
        cursor = Cursor {
            file: index,
            offset: start + complete as u64,
        };
    }
    Ok((out, cursor))
}
