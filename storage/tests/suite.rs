//! openraft's own storage conformance suite, and drop-and-reopen durability tests.

use std::io;
use std::sync::{Arc, RwLock};

use kraft_storage::{Command, CommandReply, LogStore, Machine, StateMachineStore, TypeConfig};
use openraft::entry::RaftEntry;
use openraft::storage::{RaftLogReader, RaftLogStorage, RaftLogStorageExt, RaftStateMachine};
use openraft::testing::log::{StoreBuilder, Suite};
use openraft::{EntryPayload, StorageError};
use tempfile::TempDir;

/// A toy machine: remembers every applied payload, in order.
#[derive(Default, Debug, Clone, PartialEq)]
struct Journal {
    applied: Vec<(u64, Vec<u8>)>,
}

impl Machine for Journal {
    fn apply(&mut self, log_index: u64, command: &Command) -> CommandReply {
        self.applied.push((log_index, command.data.clone()));
        CommandReply {
            data: log_index.to_be_bytes().to_vec(),
        }
    }
    fn apply_blank(&mut self, _log_index: u64) {}
    fn encode(&self) -> Result<Vec<u8>, io::Error> {
        serde_json::to_vec(&self.applied).map_err(io::Error::other)
    }
    fn restore(&mut self, data: &[u8]) -> Result<(), io::Error> {
        self.applied = serde_json::from_slice(data).map_err(io::Error::other)?;
        Ok(())
    }
}

struct SledBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachineStore<Journal>, TempDir> for SledBuilder {
    async fn build(
        &self,
    ) -> Result<(TempDir, LogStore, StateMachineStore<Journal>), StorageError<TypeConfig>> {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = LogStore::open(&dir.path().join("raft-log")).expect("open log");
        let sm = StateMachineStore::open(
            &dir.path().join("snapshots"),
            Arc::new(RwLock::new(Journal::default())),
        )
        .expect("open sm");
        Ok((dir, log, sm))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sled_store_passes_openraft_storage_suite() -> Result<(), StorageError<TypeConfig>> {
    Suite::test_all(SledBuilder).await
}

type Entry = openraft::alias::EntryOf<TypeConfig>;
type LogId = openraft::alias::LogIdOf<TypeConfig>;

fn log_id(term: u64, index: u64) -> LogId {
    kraft_storage::types::log_id(term, 1, index)
}

/// A log in `dir` holding entries `1..=last` of term 1, purged up to `purge`.
async fn stored_then_purged(dir: &std::path::Path, last: u64, purge: LogId) -> LogStore {
    let mut log = LogStore::open(&dir.join("raft-log")).expect("open");
    log.blocking_append((1..=last).map(|i| entry(1, i)))
        .await
        .expect("append");
    log.purge(purge).await.expect("purge");
    log
}

/// A state-machine store over an empty [`Journal`], snapshots in `snaps`.
fn open_journal(snaps: &std::path::Path) -> StateMachineStore<Journal> {
    StateMachineStore::open(snaps, Arc::new(RwLock::new(Journal::default()))).expect("open")
}

fn entry(term: u64, index: u64) -> Entry {
    Entry::new(
        log_id(term, index),
        EntryPayload::Normal(Command {
            data: vec![index as u8],
            time_ms: 7,
        }),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn everything_acknowledged_survives_drop_and_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("raft-log");
    let vote = openraft::alias::VoteOf::<TypeConfig>::new(3, 1);
    {
        let mut log = LogStore::open(&path).expect("open");
        assert!(log.is_pristine().expect("pristine"));
        log.save_vote(&vote).await.expect("vote");
        log.blocking_append((1..=20).map(|i| entry(2, i)))
            .await
            .expect("append");
        log.truncate_after(Some(log_id(2, 15)))
            .await
            .expect("truncate");
        log.purge(log_id(2, 5)).await.expect("purge");
        log.save_committed(Some(log_id(2, 12)))
            .await
            .expect("committed");
        // One more append so that the committed id rides on a flush, as in real operation.
        log.blocking_append([entry(3, 16)])
            .await
            .expect("append after truncate");
    }
    let mut log = LogStore::open(&path).expect("reopen");
    assert!(!log.is_pristine().expect("pristine"));
    assert_eq!(log.read_vote().await.expect("read vote"), Some(vote));
    let state = log.get_log_state().await.expect("state");
    assert_eq!(state.last_purged_log_id, Some(log_id(2, 5)));
    assert_eq!(state.last_log_id, Some(log_id(3, 16)));
    assert_eq!(
        log.read_committed().await.expect("committed"),
        Some(log_id(2, 12))
    );
    let entries = log.try_get_log_entries(0..100).await.expect("entries");
    let idx: Vec<u64> = entries.iter().map(|e| e.index()).collect();
    assert_eq!(idx, (6..=16).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread")]
async fn snapshot_and_machine_state_survive_reopen() {
    use openraft::storage::RaftSnapshotBuilder;
    let dir = tempfile::tempdir().expect("tempdir");
    let snaps = dir.path().join("snapshots");
    let mut sm = open_journal(&snaps);
    let entries: Vec<_> = (1..=3).map(|i| Ok((entry(1, i), None))).collect();
    sm.apply(futures::stream::iter(entries))
        .await
        .expect("apply");
    let mut builder = sm.get_snapshot_builder().await;
    let built = builder.build_snapshot().await.expect("build");
    assert_eq!(built.meta.last_log_id, Some(log_id(1, 3)));
    drop(sm);

    let machine = Arc::new(RwLock::new(Journal::default()));
    let mut sm = StateMachineStore::open(&snaps, machine.clone()).expect("reopen");
    let (applied, _) = sm.applied_state().await.expect("applied");
    assert_eq!(applied, Some(log_id(1, 3)));
    let got = machine.read().expect("lock").applied.clone();
    assert_eq!(got, vec![(1, vec![1]), (2, vec![2]), (3, vec![3])]);
    let current = sm
        .get_current_snapshot()
        .await
        .expect("current")
        .expect("some");
    assert_eq!(current.meta.last_log_id, Some(log_id(1, 3)));
}

#[tokio::test(flavor = "multi_thread")]
async fn snapshot_falls_due_at_the_byte_limit_and_a_build_or_install_resets_it() {
    use openraft::storage::RaftSnapshotBuilder;
    let dir = tempfile::tempdir().expect("tempdir");
    let snaps = dir.path().join("snapshots");
    let mut sm = open_journal(&snaps);
    let due = sm.snapshot_due();
    let sized = |index: u64, len: usize| {
        Entry::new(
            log_id(1, index),
            EntryPayload::Normal(Command {
                data: vec![0; len],
                time_ms: 7,
            }),
        )
    };
    async fn apply(sm: &mut StateMachineStore<Journal>, entries: Vec<Entry>) {
        let items: Vec<_> = entries.into_iter().map(|e| Ok((e, None))).collect();
        sm.apply(futures::stream::iter(items)).await.expect("apply");
    }

    // No limit: counted, never due.
    apply(&mut sm, vec![sized(1, 600)]).await;
    assert_eq!(due.bytes_since(), 600);
    assert!(!due.is_due(), "no limit set");
    due.set_limit(1_000);
    apply(&mut sm, vec![sized(2, 399)]).await;
    assert_eq!(due.bytes_since(), 999);
    assert!(!due.is_due(), "one byte short of the limit");
    apply(&mut sm, vec![sized(3, 1)]).await;
    assert!(due.is_due(), "at the limit");
    tokio::time::timeout(std::time::Duration::from_secs(10), due.wait())
        .await
        .expect("wait returns once due");

    // A build counts from the entries it covers: nothing pending after it.
    let mut builder = sm.get_snapshot_builder().await;
    let built = builder.build_snapshot().await.expect("build");
    assert_eq!(built.meta.last_log_id, Some(log_id(1, 3)));
    assert_eq!(due.bytes_since(), 0);
    assert!(!due.is_due());
    apply(&mut sm, vec![sized(4, 700)]).await;
    assert_eq!(due.bytes_since(), 700);

    // Installing a snapshot replaces the state: nothing pending either.
    sm.install_snapshot(&built.meta, built.snapshot.clone())
        .await
        .expect("install");
    assert_eq!(due.bytes_since(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn purge_hides_entries_at_once_and_later_appends_delete_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("raft-log");
    let indexes = |entries: Vec<Entry>| entries.iter().map(|e| e.index()).collect::<Vec<_>>();
    {
        let mut log = LogStore::open(&path).expect("open");
        log.blocking_append((1..=100).map(|i| entry(1, i)))
            .await
            .expect("append");
        log.purge(log_id(1, 60)).await.expect("purge");
        // Gone for every reader at once, still stored until appends delete them.
        let seen = log.try_get_log_entries(0..200).await.expect("entries");
        assert_eq!(indexes(seen), (61..=100).collect::<Vec<_>>());
        assert_eq!(log.read_commands(0..61).expect("commands"), Vec::new());
        assert_eq!(log.len(), 40);
        assert_eq!(log.purged_still_stored(), 60);
        let state = log.get_log_state().await.expect("state");
        assert_eq!(state.last_purged_log_id, Some(log_id(1, 60)));
        assert_eq!(state.last_log_id, Some(log_id(1, 100)));
    }
    // A restart before the deletion: the purge point holds, the stored rest stays hidden.
    let mut log = LogStore::open(&path).expect("reopen");
    assert_eq!(log.purged_still_stored(), 60);
    let seen = log.try_get_log_entries(0..200).await.expect("entries");
    assert_eq!(indexes(seen), (61..=100).collect::<Vec<_>>());
    assert_eq!(
        kraft_storage::log_store::TRIM_PER_APPEND,
        32,
        "the counts below assume 32 deletions per append"
    );
    for (i, left) in [(101, 28), (102, 0), (103, 0)] {
        log.blocking_append([entry(1, i)]).await.expect("append");
        assert_eq!(log.purged_still_stored(), left, "after appending {i}");
        let summary = log.verify().expect("contiguous after every trim");
        assert_eq!(summary.last_log_id, Some(log_id(1, i)));
    }
    assert_eq!(log.verify().expect("verify").first_index, Some(61));
    assert_eq!(log.len(), 43);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_read_below_the_purge_point_starts_where_asked_or_sends_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = stored_then_purged(dir.path(), 100, log_id(1, 60)).await;
    let indexes = |entries: Vec<Entry>| entries.iter().map(|e| e.index()).collect::<Vec<_>>();
    // Still stored: served from where the stream asked, across the purge point.
    let got = log.limited_get_log_entries(40, 80).await.expect("read");
    assert_eq!(indexes(got), (40..80).collect::<Vec<_>>());
    let got = log.limited_get_log_entries(10, 30).await.expect("read");
    assert_eq!(indexes(got), (10..30).collect::<Vec<_>>());
    // Above the purge point nothing changes; other readers still see only the live log.
    let got = log.limited_get_log_entries(70, 200).await.expect("read");
    assert_eq!(indexes(got), (70..=100).collect::<Vec<_>>());
    let seen = log.try_get_log_entries(40..80).await.expect("read");
    assert_eq!(indexes(seen), (61..80).collect::<Vec<_>>());
    // Once the appends have deleted them: nothing rather than entries after a gap.
    log.blocking_append([entry(1, 101)]).await.expect("append");
    assert_eq!(log.purged_still_stored(), 28, "1..=32 deleted");
    let got = log.limited_get_log_entries(10, 50).await.expect("read");
    assert_eq!(indexes(got), Vec::<u64>::new(), "10..=32 deleted: a gap");
    let got = log.limited_get_log_entries(40, 80).await.expect("read");
    assert_eq!(
        indexes(got),
        (40..80).collect::<Vec<_>>(),
        "40.. still stored"
    );
    log.blocking_append([entry(1, 102)]).await.expect("append");
    assert_eq!(log.purged_still_stored(), 0);
    let got = log.limited_get_log_entries(40, 80).await.expect("read");
    assert_eq!(indexes(got), Vec::<u64>::new());
    let got = log.limited_get_log_entries(61, 63).await.expect("read");
    assert_eq!(indexes(got), vec![61, 62]);
}

#[tokio::test(flavor = "multi_thread")]
async fn purged_entries_of_another_branch_are_never_sent() {
    // As after a snapshot install whose purge point this log does not hold under that log id:
    // what is stored below it may be a lost branch.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = stored_then_purged(dir.path(), 100, log_id(2, 60)).await;
    assert_eq!(log.purged_still_stored(), 60);
    let got = log.limited_get_log_entries(40, 80).await.expect("read");
    assert!(
        got.is_empty(),
        "sent {} entries of unknown branch",
        got.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn purging_the_whole_log_reports_the_purge_point_as_its_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = stored_then_purged(dir.path(), 10, log_id(1, 10)).await;
    let state = log.get_log_state().await.expect("state");
    assert_eq!(state.last_log_id, Some(log_id(1, 10)));
    assert!(log.is_empty());
    assert_eq!(log.purged_still_stored(), 10);
    // The next term's entries follow the purge point.
    log.blocking_append([entry(2, 11)]).await.expect("append");
    assert_eq!(log.purged_still_stored(), 0);
    let state = log.get_log_state().await.expect("state");
    assert_eq!(state.last_log_id, Some(log_id(2, 11)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_purge_point_far_past_the_stored_entries_is_trimmed_from_the_first_stored_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    // As after installing a snapshot that ends far beyond this log.
    let mut log = stored_then_purged(dir.path(), 40, log_id(1, 1_000_000)).await;
    assert_eq!(log.purged_still_stored(), 40);
    log.blocking_append([entry(2, 1_000_001)])
        .await
        .expect("append");
    assert_eq!(
        log.purged_still_stored(),
        8,
        "the first 32 stored entries went"
    );
    log.blocking_append([entry(2, 1_000_002)])
        .await
        .expect("append");
    assert_eq!(log.purged_still_stored(), 0);
    let state = log.get_log_state().await.expect("state");
    assert_eq!(state.last_log_id, Some(log_id(2, 1_000_002)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_before_stale_entries_below_a_far_purge_point_are_trimmed_opens() {
    // A follower that installs a snapshot ending past its log purges up to the snapshot; its
    // old entries go 32 per append, so for a while the stored log is old entries, a hole up to
    // the purge point, then the new entries. A crash then must not make the log look damaged.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("raft-log");
    {
        let mut log = LogStore::open(&path).expect("open");
        log.blocking_append((1..=40).map(|i| entry(1, i)))
            .await
            .expect("append");
        log.purge(log_id(1, 100)).await.expect("purge");
        log.blocking_append([entry(2, 101), entry(2, 102)])
            .await
            .expect("append");
        assert_eq!(log.purged_still_stored(), 8);
    }
    let mut log = LogStore::open(&path).expect("reopen with stale entries below the purge point");
    assert_eq!(log.at_open().first_index, Some(101));
    assert_eq!(log.purged_still_stored(), 8);
    let state = log.get_log_state().await.expect("state");
    assert_eq!(state.last_purged_log_id, Some(log_id(1, 100)));
    assert_eq!(state.last_log_id, Some(log_id(2, 102)));
    let idx: Vec<u64> = (log.try_get_log_entries(0..200).await.expect("entries"))
        .iter()
        .map(|e| e.index())
        .collect();
    assert_eq!(idx, vec![101, 102]);
}

/// Holds a snapshot encode until released, and says when one has started.
#[derive(Default)]
struct Gate {
    open: std::sync::Mutex<bool>,
    opened: std::sync::Condvar,
    started: std::sync::Mutex<Option<std::sync::mpsc::Sender<()>>>,
}

impl Gate {
    fn release(&self) {
        if let Ok(mut open) = self.open.lock() {
            *open = true;
        }
        self.opened.notify_all();
    }
}

/// [`Journal`] whose `encode` waits at a [`Gate`].
#[derive(Default, Clone)]
struct GatedJournal {
    journal: Journal,
    gate: Arc<Gate>,
}

impl Machine for GatedJournal {
    fn apply(&mut self, log_index: u64, command: &Command) -> CommandReply {
        self.journal.apply(log_index, command)
    }
    fn apply_blank(&mut self, log_index: u64) {
        self.journal.apply_blank(log_index)
    }
    fn encode(&self) -> Result<Vec<u8>, io::Error> {
        if let Some(tx) = self.gate.started.lock().expect("gate").take() {
            let _ = tx.send(());
        }
        let mut open = self.gate.open.lock().expect("gate");
        while !*open {
            open = self.gate.opened.wait(open).expect("gate");
        }
        self.journal.encode()
    }
    fn restore(&mut self, data: &[u8]) -> Result<(), io::Error> {
        self.journal.restore(data)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applying_goes_on_while_a_snapshot_is_encoded() {
    use openraft::storage::RaftSnapshotBuilder;
    use std::time::Duration;
    let dir = tempfile::tempdir().expect("tempdir");
    let machine = GatedJournal::default();
    let gate = machine.gate.clone();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    *gate.started.lock().expect("gate") = Some(started_tx);
    let mut sm = StateMachineStore::open(
        &dir.path().join("snapshots"),
        Arc::new(RwLock::new(machine)),
    )
    .expect("open");
    let first: Vec<_> = (1..=3).map(|i| Ok((entry(1, i), None))).collect();
    sm.apply(futures::stream::iter(first)).await.expect("apply");

    let mut builder = sm.get_snapshot_builder().await;
    let build = tokio::spawn(async move { builder.build_snapshot().await });
    let started = tokio::task::spawn_blocking(move || {
        started_rx.recv_timeout(Duration::from_secs(10)).is_ok()
    })
    .await
    .expect("join");
    if !started {
        gate.release();
        panic!("the snapshot encode did not start within 10 s");
    }

    // The encode is held at the gate: applying must not wait for it.
    let mut applier = sm.clone();
    let more: Vec<_> = (4..=5).map(|i| Ok((entry(1, i), None))).collect();
    let apply = tokio::spawn(async move { applier.apply(futures::stream::iter(more)).await });
    let applied = tokio::time::timeout(Duration::from_secs(10), apply).await;
    gate.release();
    applied
        .expect("apply waited for the snapshot encode")
        .expect("join")
        .expect("apply");

    // The snapshot is the state as of its own last applied id, without the later entries.
    let built = build.await.expect("join").expect("build");
    assert_eq!(built.meta.last_log_id, Some(log_id(1, 3)));
    let mut in_snapshot = Journal::default();
    in_snapshot.restore(&built.snapshot).expect("decode");
    assert_eq!(
        in_snapshot.applied,
        vec![(1, vec![1]), (2, vec![2]), (3, vec![3])]
    );
    let (applied_now, _) = sm.applied_state().await.expect("applied");
    assert_eq!(applied_now, Some(log_id(1, 5)));
}
