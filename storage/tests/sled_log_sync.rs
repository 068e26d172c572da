//! The vendored sled (`vendor/sled`, `KRAFTD-PATCH.md` item 5) `fdatasync`s its log file after
//! writing a buffer, so a flush that returns has made its writes durable: the log store adds
//! no `fdatasync` of its own (`storage/src/disk_sync.rs`). sled 0.34.7 from crates.io used
//! `sync_file_range`, which neither flushes the device's cache nor commits the file's size.
//! Own test binary: the count is process-wide.

mod common;

#[test]
fn every_flush_of_new_writes_is_an_fdatasync_and_an_idle_flush_is_none() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = common::open_sled(dir.path());
    for i in 0..50u32 {
        let before = sled::log_syncs();
        db.insert(i.to_be_bytes(), vec![7u8; 200]).expect("insert");
        db.flush().expect("flush");
        let synced = sled::log_syncs() - before;
        assert!(synced >= 1, "flush {i} returned without an fdatasync");
        let before = sled::log_syncs();
        db.flush().expect("idle flush");
        assert_eq!(
            sled::log_syncs() - before,
            0,
            "a flush with nothing new wrote and synced anyway"
        );
    }
}
