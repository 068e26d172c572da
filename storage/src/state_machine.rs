//! openraft's `RaftStateMachine` shell around an application [`Machine`].
//!
//! The shell records the last applied log id and membership and delegates every committed
//! [`Command`] to the machine. The machine lives in memory; it is rebuilt on start from the
//! snapshot file plus the log up to the persisted committed id, which openraft re-applies.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use futures::{Stream, StreamExt};
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend};
use tracing::info;

use crate::error::StorageError;
use crate::snapshot::{SnapshotDir, StoredSnapshot};
use crate::types::{
    Command, CommandReply, LogId, Snapshot, SnapshotMeta, StoredMembership, TypeConfig,
};

/// The application state replicated by Raft (kraftd's metadata image).
///
/// Contract: `apply` is deterministic — it reads nothing but its arguments and its own state —
/// so every replica that applies the same log reaches the same state. `clone` should be cheap
/// (persistent collections): a snapshot encodes a clone taken under the read lock, so that
/// applying goes on while it is encoded.
pub trait Machine: Clone + Send + Sync + 'static {
    /// Applies one committed command at `log_index` and returns the encoded reply.
    fn apply(&mut self, log_index: u64, command: &Command) -> CommandReply;
    /// Notes a committed entry that carries no command (blank or membership entry).
    fn apply_blank(&mut self, log_index: u64);
    /// Encodes the whole state for a snapshot.
    fn encode(&self) -> Result<Vec<u8>, io::Error>;
    /// Replaces the whole state with a decoded snapshot.
    fn restore(&mut self, data: &[u8]) -> Result<(), io::Error>;
}

/// Log bytes applied since the latest snapshot, against a limit: Kafka's
/// `metadata.log.max.record.bytes.between.snapshots`. The store counts; a task outside it waits
/// with [`SnapshotDue::wait`] and asks Raft for a snapshot (building one resets the count).
#[derive(Debug, Default)]
pub struct SnapshotDue {
    limit: AtomicU64,
    since: AtomicU64,
    wake: tokio::sync::Notify,
}

impl SnapshotDue {
    /// Sets the limit in bytes; 0 turns the byte trigger off.
    pub fn set_limit(&self, bytes: u64) {
        self.limit.store(bytes, Ordering::Relaxed);
        if self.is_due() {
            self.wake.notify_one();
        }
    }

    /// Bytes of commands applied since the latest snapshot built, installed or loaded here.
    pub fn bytes_since(&self) -> u64 {
        self.since.load(Ordering::Relaxed)
    }

    /// Whether the bytes since the latest snapshot reached a (non-zero) limit.
    pub fn is_due(&self) -> bool {
        let limit = self.limit.load(Ordering::Relaxed);
        limit != 0 && self.bytes_since() >= limit
    }

    /// Returns once a snapshot is due.
    pub async fn wait(&self) {
        // `notify_one` leaves a permit when nobody waits, so a wake-up between the check and
        // the await is not lost.
        while !self.is_due() {
            self.wake.notified().await;
        }
    }

    fn add(&self, bytes: u64) {
        self.since.fetch_add(bytes, Ordering::Relaxed);
        if self.is_due() {
            self.wake.notify_one();
        }
    }

    fn reset(&self) {
        self.since.store(0, Ordering::Relaxed);
    }
}

#[derive(Default, Clone)]
struct Applied {
    last_applied: Option<LogId>,
    membership: StoredMembership,
}

/// The state-machine store handed to openraft. Cheap to clone: clones share state.
pub struct StateMachineStore<M: Machine> {
    machine: Arc<RwLock<M>>,
    // Updated only while `machine` is write-locked, so a reader holding the machine's read lock
    // sees an `Applied` that matches the machine exactly.
    applied: Arc<Mutex<Applied>>,
    snapshots: SnapshotDir,
    due: Arc<SnapshotDue>,
}

impl<M: Machine> Clone for StateMachineStore<M> {
    fn clone(&self) -> Self {
        Self {
            machine: self.machine.clone(),
            applied: self.applied.clone(),
            snapshots: self.snapshots.clone(),
            due: self.due.clone(),
        }
    }
}

fn poisoned() -> io::Error {
    io::Error::other("state machine lock poisoned by an earlier panic")
}

impl<M: Machine> StateMachineStore<M> {
    /// Opens the store: snapshot files live in `snapshot_dir`; the latest snapshot, if any, is
    /// loaded into `machine`.
    pub fn open(snapshot_dir: &Path, machine: Arc<RwLock<M>>) -> Result<Self, StorageError> {
        let snapshots = SnapshotDir::open(snapshot_dir)?;
        let store = Self {
            machine,
            applied: Arc::new(Mutex::new(Applied::default())),
            snapshots,
            due: Arc::default(),
        };
        if let Some(snap) = store.snapshots.load()? {
            store
                .restore(&snap.meta, &snap.data)
                .map_err(|e| StorageError::BadSnapshot {
                    path: store.snapshots.file().display().to_string(),
                    reason: format!("its image does not decode: {e}"),
                })?;
            info!(last_log_id = ?snap.meta.last_log_id, "loaded snapshot");
        }
        Ok(store)
    }

    /// Size and time of the last snapshot built, installed or loaded here.
    pub fn snapshot_stats(&self) -> Arc<crate::metrics::SnapshotStats> {
        self.snapshots.stats()
    }

    /// The last log id the machine holds: the loaded snapshot's right after [`Self::open`].
    pub fn last_applied(&self) -> Result<Option<LogId>, StorageError> {
        Ok(self
            .applied
            .lock()
            .map_err(|_| StorageError::io("read applied state")(poisoned()))?
            .last_applied)
    }

    /// Bytes applied since the latest snapshot and the trigger on them (off until a limit is
    /// set).
    pub fn snapshot_due(&self) -> Arc<SnapshotDue> {
        self.due.clone()
    }

    /// Path of the snapshot file.
    pub fn snapshot_file(&self) -> std::path::PathBuf {
        self.snapshots.file()
    }

    /// The shared machine. Readers take the read lock; only this store writes.
    pub fn machine(&self) -> Arc<RwLock<M>> {
        self.machine.clone()
    }

    fn restore(&self, meta: &SnapshotMeta, data: &[u8]) -> Result<(), io::Error> {
        let mut m = self.machine.write().map_err(|_| poisoned())?;
        m.restore(data)?;
        let mut a = self.applied.lock().map_err(|_| poisoned())?;
        a.last_applied = meta.last_log_id;
        a.membership = meta.last_membership.clone();
        self.due.reset();
        Ok(())
    }

    fn build(&self) -> Result<StoredSnapshot, io::Error> {
        // Clone under the read lock, so state and applied id match, and encode the clone after
        // the lock is released: apply does not wait for the encode (hundreds of milliseconds for
        // a large image). Machines keep their large collections in persistent maps, so the clone
        // shares them instead of copying (see [`Machine`]).
        let (frozen, a) = {
            let m = self.machine.read().map_err(|_| poisoned())?;
            let a = self.applied.lock().map_err(|_| poisoned())?.clone();
            // Exact: applying holds the write lock, so every byte counted so far is in this
            // snapshot and every byte counted from now on is not.
            self.due.reset();
            (m.clone(), a)
        };
        let data = frozen.encode()?;
        let meta = SnapshotMeta {
            last_log_id: a.last_applied,
            last_membership: a.membership,
        };
        Ok(StoredSnapshot { meta, data })
    }
}

impl<M: Machine> RaftSnapshotBuilder<TypeConfig> for StateMachineStore<M> {
    type SnapshotData = Vec<u8>;

    async fn build_snapshot(&mut self) -> Result<Snapshot, io::Error> {
        // Encoding a large image and writing + fsyncing the file take hundreds of milliseconds:
        // on a blocking thread, so they do not stall one of the runtime's workers (and with it
        // gRPC, heartbeats and replication) meanwhile.
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.build_and_save())
            .await
            .map_err(io::Error::other)?
    }
}

impl<M: Machine> StateMachineStore<M> {
    fn build_and_save(&self) -> Result<Snapshot, io::Error> {
        let started = std::time::Instant::now();
        let snap = self.build()?;
        let encoded = started.elapsed();
        let saved = self.snapshots.save(&snap)?;
        let took = started.elapsed();
        self.snapshots.stats().record_build(took);
        info!(
            last_log_id = ?snap.meta.last_log_id,
            ?saved,
            bytes = snap.data.len(),
            encode_ms = encoded.as_millis() as u64,
            total_ms = took.as_millis() as u64,
            "built snapshot"
        );
        Ok(Snapshot {
            meta: snap.meta,
            snapshot: snap.data,
        })
    }
}

impl<M: Machine> RaftStateMachine<TypeConfig> for StateMachineStore<M> {
    type SnapshotData = Vec<u8>;
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        let a = self.applied.lock().map_err(|_| poisoned())?;
        Ok((a.last_applied, a.membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + OptionalSend,
    {
        while let Some(item) = entries.next().await {
            let (entry, responder) = item?;
            let log_id = entry.log_id;
            let reply = {
                let mut m = self.machine.write().map_err(|_| poisoned())?;
                let mut a = self.applied.lock().map_err(|_| poisoned())?;
                let reply = match &entry.payload {
                    EntryPayload::Normal(cmd) => {
                        self.due.add(cmd.data.len() as u64);
                        m.apply(log_id.index, cmd)
                    }
                    EntryPayload::Blank => {
                        m.apply_blank(log_id.index);
                        CommandReply::default()
                    }
                    EntryPayload::Membership(mem) => {
                        m.apply_blank(log_id.index);
                        a.membership = StoredMembership::new(Some(log_id), mem.clone());
                        CommandReply::default()
                    }
                };
                a.last_applied = Some(log_id);
                reply
            };
            if let Some(r) = responder {
                r.send(reply);
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Vec<u8>,
    ) -> Result<(), io::Error> {
        self.restore(meta, &snapshot)?;
        self.snapshots.save(&StoredSnapshot {
            meta: meta.clone(),
            data: snapshot,
        })?;
        info!(last_log_id = ?meta.last_log_id, "installed snapshot");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, io::Error> {
        Ok(self.snapshots.load()?.map(|s| Snapshot {
            meta: s.meta,
            snapshot: s.data,
        }))
    }
}
