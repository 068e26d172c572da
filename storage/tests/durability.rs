//! What an acknowledged append leaves on disk: sled's flush alone only issues
//! `sync_file_range` and writes large values to blob files without any sync, so the store
//! syncs both itself before it acknowledges (see `kraft_storage::disk_sync`).

use kraft_storage::{Command, LogStore, TypeConfig};
use openraft::EntryPayload;
use openraft::entry::RaftEntry;
use openraft::storage::{RaftLogReader, RaftLogStorageExt};

type Entry = openraft::alias::EntryOf<TypeConfig>;
type LogId = openraft::alias::LogIdOf<TypeConfig>;

fn entry(index: u64, bytes: usize) -> Entry {
    use openraft::vote::RaftLeaderId;
    let id = LogId::new(
        openraft::impls::leader_id_adv::LeaderId {
            term: 1,
            node_id: 1,
        }
        .to_committed(),
        index,
    );
    let data = (0..bytes).map(|i| (i % 251) as u8).collect();
    Entry::new(id, EntryPayload::Normal(Command { data, time_ms: 1 }))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_large_entry_is_in_a_synced_blob_file_when_its_append_is_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("raft-log");
    let mut log = LogStore::open(&path).expect("open");
    log.blocking_append([entry(1, 200)]).await.expect("append");
    assert_eq!(log.blob_files_synced(), 0, "a 200-byte entry needs no blob");

    // 1 MiB: far over a quarter of sled's 512 KiB segment, so sled puts it in a blob file.
    log.blocking_append([entry(2, 1 << 20)])
        .await
        .expect("append");
    assert!(
        log.blob_files_synced() >= 1,
        "the append was acknowledged before its blob file was synced"
    );

    drop(log);
    let mut log = LogStore::open(&path).expect("reopen");
    let got = log.try_get_log_entries(2..3).await.expect("read");
    assert_eq!(
        got,
        vec![entry(2, 1 << 20)],
        "the large entry reads back whole"
    );
}
