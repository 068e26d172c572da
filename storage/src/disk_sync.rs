//! Makes durable what sled's flush leaves to chance.
//!
//! sled 0.34 "flushed" its log file on Linux with `sync_file_range(WAIT_BEFORE | WRITE |
//! WAIT_AFTER)`, not `fsync`: the bytes were handed to the device, but the device's volatile
//! write cache was not flushed and the file's new size (the file grows with the log) was not
//! written. A process crash loses nothing (the page cache survives it), a power loss may lose
//! the tail that was acknowledged. Values and pages over a quarter of sled's 512 KiB segment
//! go to files under `blobs/`, which sled writes with no sync at all.
//!
//! kraftd's patched sled (`vendor/sled/KRAFTD-PATCH.md`) `fdatasync`s its file after writing
//! each log buffer instead, so a returned flush is durable, and lists each blob file it has
//! written ([`sled::take_written_blobs`]). After each sled flush the log store calls
//! [`DiskSync::sync`], which `fsync`s those blob files and the `blobs` directory. Only then is
//! a write acknowledged. etcd, which the benchmarks compare against, `fdatasync`s its WAL the
//! same way. Until `s21` sled's range sync was followed here by an `fdatasync` of the file: two
//! waits on the device per flush where one does.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// The files of one sled database that the store syncs itself.
#[derive(Debug)]
pub struct DiskSync {
    /// sled's single data file, opened read-only: `fdatasync` needs no write access.
    /// Synced once at open (sled's recovery may rewrite parts of it without a sync).
    db: File,
    blobs: PathBuf,
    /// Held from taking sled's list of written blobs until they are synced, so a concurrent
    /// `sync` that finds the list empty cannot return while blobs its flush reached are still
    /// being synced by another.
    blob_lock: Mutex<()>,
    blob_syncs: AtomicU64,
}

impl DiskSync {
    /// Opens the files of the sled database in `dir` (after sled has opened it) and syncs the
    /// directory once, so the files themselves are durable entries of it.
    pub fn open(dir: &Path) -> io::Result<Self> {
        let db = File::open(dir.join("db"))?;
        let sync = Self {
            db,
            blobs: dir.join("blobs"),
            blob_lock: Mutex::new(()),
            blob_syncs: AtomicU64::new(0),
        };
        File::open(dir)?.sync_all()?;
        sync.sync_all_blobs()?;
        sync.db.sync_data()?;
        Ok(sync)
    }

    /// Makes everything sled has flushed durable: sled's file is (patched sled `fdatasync`s it
    /// before a flush returns); this `fsync`s the blob files written since the last call, if
    /// any (rare). Call from a blocking context.
    pub fn sync(&self) -> io::Result<()> {
        self.sync_blobs()
    }

    /// Blob files synced so far (they are rare: one per value or page over ~128 KiB).
    pub fn blob_syncs(&self) -> u64 {
        self.blob_syncs.load(Ordering::Relaxed)
    }

    /// `fsync`s the blob files sled finished writing since the last call (it announces each,
    /// see `vendor/sled/KRAFTD-PATCH.md`), then the `blobs` directory. Most flushes have none
    /// and cost nothing here. Listing the directory instead (until `s21`) cost an `openat` and
    /// two `getdents64` per flush, and could find a blob still being written, sync half of it
    /// and never sync the rest.
    fn sync_blobs(&self) -> io::Result<()> {
        let _guard = self
            .blob_lock
            .lock()
            .map_err(|_| io::Error::other("blob sync lock poisoned by an earlier panic"))?;
        let written = sled::take_written_blobs(&self.blobs);
        if written.is_empty() {
            return Ok(());
        }
        let mut fresh = 0u64;
        for path in &written {
            match File::open(path) {
                Ok(f) => f.sync_all()?,
                // sled removed it (garbage collection) before we got to it: nothing to keep.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
            fresh += 1;
        }
        if fresh > 0 {
            File::open(&self.blobs)?.sync_all()?;
            self.blob_syncs.fetch_add(fresh, Ordering::Relaxed);
        }
        Ok(())
    }

    /// At open: `fsync`s every blob file present (written by an earlier process, which may
    /// have died before syncing them) and the directory.
    fn sync_all_blobs(&self) -> io::Result<()> {
        let entries = match std::fs::read_dir(&self.blobs) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        for entry in entries {
            match File::open(entry?.path()) {
                Ok(f) => f.sync_all()?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
        }
        File::open(&self.blobs)?.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_files_are_synced_once_each() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = sled::Config::new()
            .path(dir.path())
            .flush_every_ms(None)
            .open()
            .expect("open sled");
        let sync = DiskSync::open(dir.path()).expect("open sync");
        let tree = db.open_tree("t").expect("tree");
        tree.insert(b"small", vec![1u8; 100]).expect("insert");
        db.flush().expect("flush");
        sync.sync().expect("sync");
        assert_eq!(sync.blob_syncs(), 0, "a small value is no blob");
        // Over a quarter of the 512 KiB segment: sled writes it to a file under blobs/.
        tree.insert(b"big", vec![7u8; 300 * 1024]).expect("insert");
        db.flush().expect("flush");
        sync.sync().expect("sync");
        let blobs = std::fs::read_dir(dir.path().join("blobs"))
            .expect("blobs dir")
            .count();
        assert!(blobs >= 1, "sled wrote no blob file");
        assert_eq!(sync.blob_syncs(), blobs as u64);
        sync.sync().expect("sync again");
        assert_eq!(sync.blob_syncs(), blobs as u64, "each blob is synced once");
    }

    #[test]
    fn each_database_syncs_the_blobs_written_under_its_own_directory() {
        let open = |dir: &Path| {
            let db = sled::Config::new()
                .path(dir)
                .flush_every_ms(None)
                .open()
                .expect("open sled");
            let sync = DiskSync::open(dir).expect("open sync");
            (db, sync)
        };
        let (a_dir, b_dir) = (
            tempfile::tempdir().expect("a"),
            tempfile::tempdir().expect("b"),
        );
        let (a, a_sync) = open(a_dir.path());
        let (b, b_sync) = open(b_dir.path());
        a.insert(b"big", vec![7u8; 300 * 1024]).expect("insert");
        a.flush().expect("flush");
        b.insert(b"small", vec![1u8; 10]).expect("insert");
        b.flush().expect("flush");
        b_sync.sync().expect("sync b");
        assert_eq!(b_sync.blob_syncs(), 0, "a's blob is not b's to sync");
        a_sync.sync().expect("sync a");
        assert!(a_sync.blob_syncs() >= 1, "a's blob was left for a");
        assert!(
            sled::take_written_blobs(&a_dir.path().join("blobs")).is_empty(),
            "nothing of a's left announced after its sync"
        );
    }
}
