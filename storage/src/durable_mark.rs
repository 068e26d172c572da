//! The durable mark: a small file beside sled's, holding the highest log index and the vote
//! this store has fsynced.
//!
//! sled recovers a *prefix* of its writes: when it meets a damaged message in its data file
//! (bytes flipped, the file cut short) it takes that for a torn write and silently drops
//! everything after it — entries and votes this node already acknowledged. A prefix is
//! self-consistent, so the log alone cannot tell. The mark can: it is updated after each
//! successful flush (no extra fsync: it only ever claims what is already durable in sled,
//! and a lost update only weakens the check), and lowered *durably* before a truncation. At
//! open, a log that ends before the mark, or a vote older than the mark's, is damage.
//!
//! Layout: 256 bytes rewritten in place with one positioned write: `b"KRDM"` · JSON length
//! (u32 BE) · JSON of [`Mark`] · zero padding · CRC-32 of the first 252 bytes (u32 BE).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::types::Vote;

/// File name of the mark, inside the log directory.
pub const FILE_NAME: &str = "kraftd-durable.mark";
const SIZE: usize = 256;
const MAGIC: &[u8; 4] = b"KRDM";

/// What the store has made durable.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    /// Highest log index flushed (after the last truncation).
    pub last_index: Option<u64>,
    /// Last vote flushed.
    pub vote: Option<Vote>,
}

/// The open mark file and its current content.
#[derive(Debug)]
pub struct MarkFile {
    file: File,
    path: PathBuf,
    /// The content last written.
    pub mark: Mark,
}

fn encode(mark: &Mark) -> io::Result<[u8; SIZE]> {
    let json = serde_json::to_vec(mark).map_err(io::Error::other)?;
    let mut out = [0u8; SIZE];
    if json.len() > SIZE - 12 {
        return Err(io::Error::other("durable mark larger than its slot"));
    }
    out[..4].copy_from_slice(MAGIC);
    out[4..8].copy_from_slice(&(json.len() as u32).to_be_bytes());
    out[8..8 + json.len()].copy_from_slice(&json);
    let crc = crc32fast::hash(&out[..SIZE - 4]);
    out[SIZE - 4..].copy_from_slice(&crc.to_be_bytes());
    Ok(out)
}

/// Decodes the bytes of a mark file. Never panics.
pub fn decode(bytes: &[u8]) -> Result<Mark, String> {
    if bytes.len() != SIZE {
        return Err(format!("{} bytes, expected {SIZE}", bytes.len()));
    }
    let (body, crc) = bytes.split_at(SIZE - 4);
    let crc = u32::from_be_bytes(crc.try_into().map_err(|_| "checksum field")?);
    if crc32fast::hash(body) != crc {
        return Err("checksum mismatch".into());
    }
    if &body[..4] != MAGIC {
        return Err("bad magic".into());
    }
    let len = u32::from_be_bytes(body[4..8].try_into().map_err(|_| "length field")?) as usize;
    let json = body.get(8..8 + len).ok_or("length beyond the slot")?;
    serde_json::from_slice(json).map_err(|e| format!("bad content: {e}"))
}

impl MarkFile {
    /// Opens (or creates, empty) the mark in `dir`. `Err` names the file and what is wrong.
    pub fn open(dir: &Path) -> Result<Self, String> {
        let path = dir.join(FILE_NAME);
        let mark = match std::fs::read(&path) {
            Ok(bytes) => decode(&bytes).map_err(|e| format!("{}: {e}", path.display()))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Mark::default(),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Self { file, path, mark })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Replaces the mark; with `sync`, fsyncs it before returning.
    pub fn write(&mut self, mark: Mark, sync: bool) -> io::Result<()> {
        let bytes = encode(&mark)?;
        self.file.write_all_at(&bytes, 0)?;
        if sync {
            self.file.sync_data()?;
        }
        self.mark = mark;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mark_round_trips_and_detects_damage() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut m = MarkFile::open(dir.path()).expect("open");
        assert_eq!(m.mark, Mark::default());
        let want = Mark {
            last_index: Some(42),
            vote: Some(Vote::new(3, 1)),
        };
        m.write(want.clone(), true).expect("write");
        drop(m);
        assert_eq!(MarkFile::open(dir.path()).expect("reopen").mark, want);
        let path = dir.path().join(FILE_NAME);
        let mut b = std::fs::read(&path).expect("read");
        b[9] ^= 1;
        std::fs::write(&path, &b).expect("write");
        let err = MarkFile::open(dir.path()).expect_err("damaged");
        assert!(err.contains(FILE_NAME) && err.contains("checksum"), "{err}");
        assert!(decode(&b[..10]).is_err());
    }
}
