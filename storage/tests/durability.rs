//! What an acknowledged append leaves on disk: sled's flush alone only issues
//! `sync_file_range` and writes large values to blob files without any sync, so the store
//! syncs both itself before it acknowledges (see `kraft_storage::disk_sync`).

use kraft_storage::{Command, LogStore, TypeConfig};
use openraft::EntryPayload;
use openraft::entry::RaftEntry;
use openraft::storage::{RaftLogReader, RaftLogStorageExt};

type Entry = openraft::alias::EntryOf<TypeConfig>;

fn entry(index: u64, bytes: usize) -> Entry {
    let id = kraft_storage::types::log_id(1, 1, index);
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

/// `append` returns before the flush (openraft's core goes on, the leader replicates
/// meanwhile), its entries already readable; acknowledgements arrive in submission order, and
/// a truncation first waits for the appends before it, so the durable mark never claims a
/// truncated entry and the log reopens.
/// Appends entry `i` and returns the receiver of its acknowledgement.
async fn submit(log: &mut LogStore, i: u64) -> Ack {
    use openraft::storage::{IOFlushed, RaftLogStorage};
    use openraft::type_config::TypeConfigExt;
    let (tx, rx) = TypeConfig::oneshot();
    log.append([entry(i, 200)], IOFlushed::signal(tx))
        .await
        .expect("append");
    rx
}

type Ack = openraft::alias::OneshotReceiverOf<TypeConfig, Result<(), std::io::Error>>;

#[tokio::test(flavor = "multi_thread")]
async fn appends_are_acknowledged_in_order_and_a_truncate_waits_for_them() {
    use openraft::storage::RaftLogStorage;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("raft-log");
    let mut log = LogStore::open(&path).expect("open");
    let mut acks = Vec::new();
    for i in 1..=200 {
        let rx = submit(&mut log, i).await;
        let got = log.try_get_log_entries(i..i + 1).await.expect("read");
        assert_eq!(
            got.len(),
            1,
            "entry {i} is not readable when append returns"
        );
        acks.push(rx);
    }
    // Wait for the last acknowledgement: every earlier one must be in by then.
    let mut last = acks.pop().expect("acks");
    tokio::time::timeout(std::time::Duration::from_secs(30), &mut last)
        .await
        .expect("the last append was never acknowledged")
        .expect("callback dropped")
        .expect("append failed");
    for (i, mut rx) in acks.into_iter().enumerate() {
        match rx.try_recv() {
            Ok(res) => res.expect("append failed"),
            Err(e) => panic!("append {} acknowledged after a later one: {e}", i + 1),
        }
    }

    // Truncate right behind a burst of unacknowledged appends.
    let mut pending = Vec::new();
    for i in 201..=260 {
        pending.push(submit(&mut log, i).await);
    }
    let keep = entry(150, 0).log_id;
    log.truncate_after(Some(keep)).await.expect("truncate");
    for mut rx in pending {
        let res = rx
            .try_recv()
            .expect("an append before the truncate is still unacknowledged");
        res.expect("append failed");
    }
    drop(log);
    let log = LogStore::open(&path).expect("reopen after the truncate");
    assert_eq!(log.at_open().last_log_id.map(|l| l.index), Some(150));
}
