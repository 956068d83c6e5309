//! The audit directory's layout: numbered log files (`audit-000001.jsonl`, ...) and the head
//! file (`head.json`: the last fsynced `seq` and `hash`), written atomically by temp + rename.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The head file's name.
pub const HEAD_FILE: &str = "head.json";
/// The head file's temporary name while being replaced.
const HEAD_TEMP: &str = "head.json.tmp";
/// Log file names: `audit-` + six or more digits + `.jsonl`.
const PREFIX: &str = "audit-";
const SUFFIX: &str = ".jsonl";

/// The anchor: the last record known to be on disk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    pub seq: u64,
    pub hash: String,
    pub file: String,
}

/// The name of log file number `index`.
pub fn log_file_name(index: u64) -> String {
    format!("{PREFIX}{index:06}{SUFFIX}")
}

/// The number in a log file's name.
pub fn log_file_index(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    if digits.len() < 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The log files in `dir`, oldest first.
pub fn list_log_files(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if let Some(index) = name.to_str().and_then(log_file_index) {
            files.push((index, entry.path()));
        }
    }
    files.sort();
    Ok(files)
}

/// Reads `head.json` (`None` if absent).
pub fn read_head(dir: &Path) -> io::Result<Option<Head>> {
    match fs::read(dir.join(HEAD_FILE)) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{HEAD_FILE}: {e}"))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Replaces `head.json` atomically: write a temp file, fsync it, rename over, fsync the dir.
pub fn write_head(dir: &Path, head: &Head) -> io::Result<()> {
    let temp = dir.join(HEAD_TEMP);
    let mut file = File::create(&temp)?;
    let mut bytes = serde_json::to_vec(head).map_err(io::Error::other)?;
    bytes.push(b'\n');
    file.write_all(&bytes)?;
    file.sync_all()?;
    fs::rename(&temp, dir.join(HEAD_FILE))?;
    sync_dir(dir)
}

/// fsyncs a directory so a new or renamed entry survives a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The bytes of `file` after its last `\n` (a torn last line), and where that tail starts.
pub fn torn_tail(file: &mut File) -> io::Result<(u64, u64)> {
    let len = file.metadata()?.len();
    let mut end = len;
    let mut chunk = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(chunk.len() as u64);
        let n = usize::try_from(end - start).unwrap_or(chunk.len());
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut chunk[..n])?;
        if let Some(pos) = memchr::memrchr(b'\n', &chunk[..n]) {
            let cut = start + pos as u64 + 1;
            return Ok((cut, len - cut));
        }
        end = start;
    }
    Ok((0, len))
}

/// The last complete line of `file` (without `\n`), reading back from `end`.
pub fn last_line(file: &mut File, end: u64) -> io::Result<Option<Vec<u8>>> {
    if end == 0 {
        return Ok(None);
    }
    // `end` is just past a '\n'; find the one before it.
    let mut line = Vec::new();
    let mut pos = end - 1;
    let mut chunk = vec![0u8; 64 * 1024];
    while pos > 0 {
        let start = pos.saturating_sub(chunk.len() as u64);
        let n = usize::try_from(pos - start).unwrap_or(chunk.len());
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut chunk[..n])?;
        if let Some(nl) = memchr::memrchr(b'\n', &chunk[..n]) {
            let mut found = chunk[nl + 1..n].to_vec();
            found.extend_from_slice(&line);
            return Ok(Some(found));
        }
        let mut joined = chunk[..n].to_vec();
        joined.extend_from_slice(&line);
        line = joined;
        pos = start;
    }
    Ok(Some(line))
}

/// The first line of `path` (without `\n`), if it has a complete one.
pub fn first_line(path: &Path) -> io::Result<Option<Vec<u8>>> {
    let bytes = fs::read(path)?;
    Ok(memchr::memchr(b'\n', &bytes).map(|n| bytes[..n].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_round_trip() {
        assert_eq!(log_file_name(3), "audit-000003.jsonl");
        assert_eq!(log_file_index("audit-000003.jsonl"), Some(3));
        assert_eq!(log_file_index("audit-1234567.jsonl"), Some(1_234_567));
        assert_eq!(log_file_index("audit-03.jsonl"), None);
        assert_eq!(log_file_index("head.json"), None);
    }

    #[test]
    fn tail_and_last_line_across_chunk_edges() {
        let dir = std::env::temp_dir().join(format!("sluice-files-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t");
        let long = "x".repeat(70_000);
        fs::write(&path, format!("a\n{long}\ntorn")).unwrap();
        let mut file = File::open(&path).unwrap();
        let (cut, torn) = torn_tail(&mut file).unwrap();
        assert_eq!(torn, 4);
        assert_eq!(last_line(&mut file, cut).unwrap().unwrap(), long.as_bytes());
        fs::write(&path, "only\n").unwrap();
        let mut file = File::open(&path).unwrap();
        assert_eq!(torn_tail(&mut file).unwrap(), (5, 0));
        assert_eq!(last_line(&mut file, 5).unwrap().unwrap(), b"only");
        fs::remove_dir_all(&dir).unwrap();
    }
}
