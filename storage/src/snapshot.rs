//! Snapshot files.
//!
//! Layout of `snapshot.bin`:
//! `b"KRSN"` · format version (u32 BE) · header length (u32 BE) · header (serde_json of the
//! openraft snapshot meta) · body length (u64 BE) · body (the application's encoded image) ·
//! CRC-32 of everything before it (u32 BE).
//!
//! A snapshot is written to `snapshot.bin.tmp`, fsynced, renamed over `snapshot.bin`, and the
//! directory is fsynced, so a crash leaves either the old or the new snapshot, never a torn one.
//!
//! Saves are serialised and never go backwards: a node builds a snapshot on a blocking thread
//! while openraft's state-machine worker may install one received from the leader. Both used to
//! write `snapshot.bin.tmp` at once (one rename then found no file: `ENOENT`, a fatal storage
//! error that stopped the node's Raft, seen in a 5-node nemesis run in s24), and a slow build
//! could rename an older snapshot over a newer installed one, leaving a purged log behind its
//! snapshot. Now one save runs at a time, and a snapshot older than the one on disk is dropped.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::error::StorageError;
use crate::metrics::SnapshotStats;
use crate::types::{LogId, SnapshotMeta};

const MAGIC: &[u8; 4] = b"KRSN";
/// Current on-disk snapshot format version.
pub const FORMAT_VERSION: u32 = 1;
const FILE_NAME: &str = "snapshot.bin";

/// A snapshot as stored: its meta and the encoded application image.
#[derive(Debug, Clone)]
pub struct StoredSnapshot {
    /// Last log id and membership the snapshot covers.
    pub meta: SnapshotMeta,
    /// The application's encoded image.
    pub data: Vec<u8>,
}

/// Directory holding the current snapshot file.
#[derive(Debug, Clone)]
pub struct SnapshotDir {
    dir: PathBuf,
    stats: Arc<SnapshotStats>,
    /// Held for the whole of a save; the last log id of the snapshot on disk (shared by every
    /// clone).
    on_disk: Arc<Mutex<Option<LogId>>>,
}

/// What [`SnapshotDir::save`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    /// The snapshot replaced the one on disk.
    Written,
    /// The snapshot on disk is newer (an install overtook a build): left as it is.
    KeptNewer,
}

impl SnapshotDir {
    /// Uses (and creates) `dir`.
    pub fn open(dir: &Path) -> Result<Self, StorageError> {
        fs::create_dir_all(dir).map_err(StorageError::io("create snapshot dir"))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            stats: Arc::default(),
            on_disk: Arc::default(),
        })
    }

    /// Size and time of the last snapshot saved or loaded here (shared by every clone).
    pub fn stats(&self) -> Arc<SnapshotStats> {
        self.stats.clone()
    }

    /// Path of the snapshot file (`snapshot.bin`).
    pub fn file(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    /// Writes `snap` durably, replacing the previous snapshot atomically, unless the snapshot
    /// on disk is newer (see the module docs). One save at a time.
    pub fn save(&self, snap: &StoredSnapshot) -> Result<Saved, StorageError> {
        let mut on_disk = self.on_disk.lock().map_err(|_| StorageError::Io {
            what: "lock the snapshot directory",
            source: std::io::Error::other("poisoned by an earlier panic"),
        })?;
        if snap.meta.last_log_id < *on_disk {
            tracing::info!(
                snapshot = ?snap.meta.last_log_id,
                on_disk = ?*on_disk,
                "not saving a snapshot older than the one on disk"
            );
            return Ok(Saved::KeptNewer);
        }
        let bytes = encode(snap)?;
        let tmp = self.dir.join(format!("{FILE_NAME}.tmp"));
        {
            let mut f = fs::File::create(&tmp).map_err(StorageError::io("create snapshot tmp"))?;
            f.write_all(&bytes)
                .map_err(StorageError::io("write snapshot"))?;
            f.sync_all().map_err(StorageError::io("fsync snapshot"))?;
        }
        fs::rename(&tmp, self.file()).map_err(StorageError::io("rename snapshot"))?;
        fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(StorageError::io("fsync snapshot dir"))?;
        self.stats.record(bytes.len() as u64, SystemTime::now());
        *on_disk = snap.meta.last_log_id;
        Ok(Saved::Written)
    }

    /// Loads the current snapshot, if any. A file that fails its checks is an error, never
    /// silently ignored.
    pub fn load(&self) -> Result<Option<StoredSnapshot>, StorageError> {
        let path = self.file();
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(StorageError::Io {
                    what: "read snapshot",
                    source: e,
                });
            }
        };
        let snap = decode(&bytes).map_err(|reason| StorageError::BadSnapshot {
            path: path.display().to_string(),
            reason,
        })?;
        if let Ok(mut on_disk) = self.on_disk.lock() {
            *on_disk = (*on_disk).max(snap.meta.last_log_id);
        }
        // After a restart the snapshot is as old as its file.
        if let Ok(taken) = fs::metadata(&path).and_then(|m| m.modified()) {
            self.stats.record(bytes.len() as u64, taken);
        }
        Ok(Some(snap))
    }
}

/// Encodes a snapshot file's bytes (see the module docs for the layout).
pub fn encode(snap: &StoredSnapshot) -> Result<Vec<u8>, StorageError> {
    let header = serde_json::to_vec(&snap.meta).map_err(|e| StorageError::BadSnapshot {
        path: "<encode>".into(),
        reason: e.to_string(),
    })?;
    let header_len = u32::try_from(header.len()).map_err(|_| StorageError::BadSnapshot {
        path: "<encode>".into(),
        reason: "snapshot header larger than 4 GiB".into(),
    })?;
    let mut out = Vec::with_capacity(24 + header.len() + snap.data.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
    out.extend_from_slice(&header_len.to_be_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(&(snap.data.len() as u64).to_be_bytes());
    out.extend_from_slice(&snap.data);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    Ok(out)
}

fn take<'a>(buf: &mut &'a [u8], n: usize, what: &str) -> Result<&'a [u8], String> {
    if buf.len() < n {
        return Err(format!("truncated while reading {what}"));
    }
    let (head, rest) = buf.split_at(n);
    *buf = rest;
    Ok(head)
}

/// Decodes the bytes of a snapshot file, checking its checksum, magic, version and lengths.
/// Never panics and never allocates more than `bytes.len()`, whatever the input.
pub fn decode(bytes: &[u8]) -> Result<StoredSnapshot, String> {
    if bytes.len() < 4 {
        return Err("file shorter than its checksum".into());
    }
    let (body, crc_bytes) = bytes.split_at(bytes.len() - 4);
    let want = u32::from_be_bytes(crc_bytes.try_into().map_err(|_| "bad checksum field")?);
    if crc32fast::hash(body) != want {
        return Err("checksum mismatch".into());
    }
    let mut buf = body;
    if take(&mut buf, 4, "magic")? != MAGIC {
        return Err("not a kraftd snapshot (bad magic)".into());
    }
    let version = u32::from_be_bytes(
        take(&mut buf, 4, "version")?
            .try_into()
            .map_err(|_| "version")?,
    );
    if version != FORMAT_VERSION {
        return Err(format!(
            "unsupported snapshot format version {version}, expected {FORMAT_VERSION}"
        ));
    }
    let hlen = u32::from_be_bytes(
        take(&mut buf, 4, "header length")?
            .try_into()
            .map_err(|_| "hlen")?,
    );
    let header = take(&mut buf, hlen as usize, "header")?;
    let meta: SnapshotMeta =
        serde_json::from_slice(header).map_err(|e| format!("bad header: {e}"))?;
    let blen = u64::from_be_bytes(
        take(&mut buf, 8, "body length")?
            .try_into()
            .map_err(|_| "blen")?,
    );
    let blen = usize::try_from(blen).map_err(|_| "body too large".to_string())?;
    let data = take(&mut buf, blen, "body")?.to_vec();
    if !buf.is_empty() {
        return Err("trailing bytes after body".into());
    }
    Ok(StoredSnapshot { meta, data })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_file_round_trips_and_detects_corruption() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sd = SnapshotDir::open(dir.path()).expect("open");
        assert!(sd.load().expect("load empty").is_none());
        assert_eq!(sd.stats().last(), None);
        let snap = StoredSnapshot {
            meta: SnapshotMeta::default(),
            data: b"image".to_vec(),
        };
        sd.save(&snap).expect("save");
        let size = fs::metadata(dir.path().join(FILE_NAME))
            .expect("stat")
            .len();
        assert_eq!(sd.stats().last().map(|l| l.bytes), Some(size));
        let back = sd.load().expect("load").expect("present");
        assert_eq!(back.data, b"image");
        assert_eq!(back.meta, snap.meta);

        let path = dir.path().join(FILE_NAME);
        let mut bytes = fs::read(&path).expect("read");
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        fs::write(&path, bytes).expect("write");
        let err = sd.load().expect_err("corrupt file must not load");
        assert!(err.to_string().contains("checksum"), "{err}");
    }

    fn at(index: u64) -> StoredSnapshot {
        StoredSnapshot {
            meta: SnapshotMeta {
                last_log_id: Some(crate::types::log_id(1, 1, index)),
                ..SnapshotMeta::default()
            },
            data: index.to_be_bytes().to_vec(),
        }
    }

    #[test]
    fn concurrent_saves_all_succeed_and_the_newest_stays() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sd = SnapshotDir::open(dir.path()).expect("open");
        let threads: Vec<_> = (0..8u64)
            .map(|t| {
                let sd = sd.clone();
                std::thread::spawn(move || {
                    for i in 0..25u64 {
                        sd.save(&at(1 + t + 8 * i))
                            .expect("a concurrent save failed");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("saver thread");
        }
        let back = sd.load().expect("load").expect("present");
        assert_eq!(back.meta.last_log_id.map(|l| l.index), Some(200));
        assert_eq!(back.data, 200u64.to_be_bytes());
    }

    #[test]
    fn an_older_snapshot_never_replaces_a_newer_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sd = SnapshotDir::open(dir.path()).expect("open");
        assert_eq!(sd.save(&at(10)).expect("save"), Saved::Written);
        assert_eq!(sd.save(&at(7)).expect("save"), Saved::KeptNewer);
        assert_eq!(sd.save(&at(12)).expect("save"), Saved::Written);
        // Also across a restart: what is on disk is known once it is loaded.
        let reopened = SnapshotDir::open(dir.path()).expect("reopen");
        reopened.load().expect("load").expect("present");
        assert_eq!(reopened.save(&at(11)).expect("save"), Saved::KeptNewer);
        let back = reopened.load().expect("load").expect("present");
        assert_eq!(back.meta.last_log_id.map(|l| l.index), Some(12));
    }
}
