//! The vendored sled (`vendor/sled`, `KRAFTD-PATCH.md` item 8) keeps its log file written with
//! zeros ahead of the segment it writes, so a flush overwrites blocks the file already has and
//! its `fdatasync` has no new file size to commit. These tests check that the file gets ahead
//! of the data (the fill runs on sled's pool: a bounded wait), that flushes inside the filled
//! region leave the file's size alone, and that a database whose file ends in zeros reopens
//! with every flushed value and keeps taking writes.

use std::path::Path;
use std::time::{Duration, Instant};

mod common;

/// Ahead of the tip, as `PREFILL_AHEAD` in `vendor/sled/src/pagecache/segment.rs`.
const AHEAD: u64 = 8 * 1024 * 1024;

fn file_len(dir: &Path) -> u64 {
    std::fs::metadata(dir.join("db"))
        .expect("sled's db file")
        .len()
}

fn value(i: u32) -> Vec<u8> {
    let mut v = vec![(i % 251) as u8; 1024];
    v[..4].copy_from_slice(&i.to_be_bytes());
    v
}

fn write_flushed(db: &sled::Db, range: std::ops::Range<u32>) {
    for i in range {
        db.insert(i.to_be_bytes(), value(i)).expect("insert");
        db.flush().expect("flush");
    }
}

/// Waits until the file is at least `len` bytes long, up to a deadline.
fn wait_for_len(dir: &Path, len: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = file_len(dir);
        if now >= len {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "the log file stayed at {now} bytes; expected a zero fill to {len} or more"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn the_log_file_is_filled_ahead_and_reopens_with_every_flushed_value() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = 0..1_000u32; // ~1 MiB of values: past the first 512 KiB segment
    let second = 1_000..1_200u32;
    let third = 1_200..1_400u32;
    {
        let db = common::open_sled(dir.path());
        write_flushed(&db, first.clone());
        let filled = wait_for_len(dir.path(), AHEAD);
        write_flushed(&db, second.clone());
        assert_eq!(
            file_len(dir.path()),
            filled,
            "flushes inside the zero-filled region changed the file's size"
        );
    }
    let db = common::open_sled(dir.path());
    for i in first.clone().chain(second.clone()) {
        let got = db.get(i.to_be_bytes()).expect("get");
        assert_eq!(
            got.as_deref(),
            Some(&value(i)[..]),
            "value {i} after reopening"
        );
    }
    write_flushed(&db, third.clone());
    drop(db);
    let db = common::open_sled(dir.path());
    assert_eq!(db.len(), third.end as usize, "values after a second reopen");
    for i in third {
        let got = db.get(i.to_be_bytes()).expect("get");
        assert_eq!(got.as_deref(), Some(&value(i)[..]), "value {i}");
    }
}
