//! The Raft log in sled: openraft's `RaftLogStorage` and `RaftLogReader`.
//!
//! Durability rule: every append, vote, truncate and purge is flushed (sled `flush_async`, an
//! fsync of the whole log `Db`) before it is acknowledged to openraft. The `Db` is opened with
//! sled's background flusher off, so nothing becomes durable behind our back either.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, Range, RangeBounds};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{EntryPayload, OptionalSend};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::StorageError;
use crate::keyspace::{self, KEY_COMMITTED, KEY_LAST_PURGED, KEY_VOTE, LOG_TREE, META_TREE};
use crate::metrics::LogStats;
use crate::types::{Command, Entry, LogId, TypeConfig, Vote};

/// sled-backed Raft log. Cheap to clone: clones share one `Db`.
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: sled::Db,
    log: sled::Tree,
    meta: sled::Tree,
    stats: Arc<LogStats>,
}

impl LogStore {
    /// Opens (or creates) the log `Db` in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StorageError> {
        let db = sled::Config::new()
            .path(dir)
            .flush_every_ms(None)
            .open()
            .map_err(StorageError::sled("open raft log"))?;
        let log = db
            .open_tree(LOG_TREE)
            .map_err(StorageError::sled("open log tree"))?;
        let meta = db
            .open_tree(META_TREE)
            .map_err(StorageError::sled("open meta tree"))?;
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                log,
                meta,
                stats: Arc::default(),
            }),
        })
    }

    /// True when nothing was ever written: no vote, no entry, nothing purged.
    /// A node whose store is pristine may take part in the one-time cluster bootstrap.
    pub fn is_pristine(&self) -> Result<bool, StorageError> {
        let no_meta = self.inner.meta.is_empty();
        let no_log = self.inner.log.is_empty();
        Ok(no_meta && no_log)
    }

    /// Append and fsync latency histograms of this log (shared by every clone).
    pub fn stats(&self) -> Arc<LogStats> {
        self.inner.stats.clone()
    }

    /// Number of entries currently in the log (after purges).
    pub fn len(&self) -> usize {
        self.inner.log.len()
    }

    /// True when the log holds no entries.
    pub fn is_empty(&self) -> bool {
        self.inner.log.is_empty()
    }

    /// The entries with an index in `range` that are in the log now, in index order, as
    /// `(index, command)`; `None` for entries that carry no command (blank, membership).
    ///
    /// Entries purged or not (yet) written are absent, so callers check the indexes for gaps.
    /// Only committed entries are stable: an uncommitted tail may still be truncated.
    pub fn read_commands(
        &self,
        range: Range<u64>,
    ) -> Result<Vec<(u64, Option<Command>)>, StorageError> {
        Ok(self
            .read_range(range.start, Some(range.end))?
            .into_iter()
            .map(|e| {
                let index = e.index();
                match e.payload {
                    EntryPayload::Normal(cmd) => (index, Some(cmd)),
                    EntryPayload::Blank | EntryPayload::Membership(_) => (index, None),
                }
            })
            .collect())
    }

    fn get_meta<T: DeserializeOwned>(&self, key: &'static [u8]) -> Result<Option<T>, StorageError> {
        let Some(bytes) = self
            .inner
            .meta
            .get(key)
            .map_err(StorageError::sled("read meta"))?
        else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StorageError::Corrupt {
                tree: META_TREE,
                key: String::from_utf8_lossy(key).into_owned(),
                reason: e.to_string(),
            })
    }

    fn put_meta<T: Serialize>(&self, key: &'static [u8], value: &T) -> Result<(), StorageError> {
        let bytes = serde_json::to_vec(value).map_err(|e| StorageError::Corrupt {
            tree: META_TREE,
            key: String::from_utf8_lossy(key).into_owned(),
            reason: e.to_string(),
        })?;
        self.inner
            .meta
            .insert(key, bytes)
            .map_err(StorageError::sled("write meta"))?;
        Ok(())
    }

    async fn flush(&self) -> Result<(), StorageError> {
        let started = Instant::now();
        self.inner
            .db
            .flush_async()
            .await
            .map_err(StorageError::sled("flush raft log"))?;
        self.inner.stats.fsync.observe(started.elapsed());
        Ok(())
    }

    fn decode_entry(key: &[u8], value: &[u8]) -> Result<Entry, StorageError> {
        serde_json::from_slice(value).map_err(|e| StorageError::Corrupt {
            tree: LOG_TREE,
            key: format!("{:?}", keyspace::parse_log_key(key)),
            reason: e.to_string(),
        })
    }

    fn last_entry_log_id(&self) -> Result<Option<LogId>, StorageError> {
        let Some((k, v)) = self
            .inner
            .log
            .last()
            .map_err(StorageError::sled("read last entry"))?
        else {
            return Ok(None);
        };
        Ok(Some(Self::decode_entry(&k, &v)?.log_id()))
    }

    fn read_range(
        &self,
        start: u64,
        end_exclusive: Option<u64>,
    ) -> Result<Vec<Entry>, StorageError> {
        let lo = keyspace::log_key(start);
        let iter = match end_exclusive {
            Some(end) if end <= start => return Ok(Vec::new()),
            Some(end) => self.inner.log.range(lo..keyspace::log_key(end)),
            None => self.inner.log.range(lo..),
        };
        let mut out = Vec::new();
        for kv in iter {
            let (k, v) = kv.map_err(StorageError::sled("read entries"))?;
            out.push(Self::decode_entry(&k, &v)?);
        }
        Ok(out)
    }
}

fn range_to_bounds<RB: RangeBounds<u64>>(range: &RB) -> (u64, Option<u64>) {
    let start = match range.start_bound() {
        Bound::Included(i) => *i,
        Bound::Excluded(i) => i.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(i) => Some(i.saturating_add(1)),
        Bound::Excluded(i) => Some(*i),
        Bound::Unbounded => None,
    };
    (start, end)
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let (start, end) = range_to_bounds(&range);
        Ok(self.read_range(start, end)?)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        Ok(self.get_meta(KEY_VOTE)?)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let last_purged_log_id: Option<LogId> = self.get_meta(KEY_LAST_PURGED)?;
        let last_log_id = self.last_entry_log_id()?.or(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        // The vote must be durable before we answer any vote request with it.
        self.put_meta(KEY_VOTE, vote)?;
        self.flush().await?;
        Ok(())
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        // Rides on the next flush: losing it only means re-applying less on restart.
        self.put_meta(KEY_COMMITTED, &committed)?;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        Ok(self.get_meta::<Option<LogId>>(KEY_COMMITTED)?.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<TypeConfig>,
    ) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let started = Instant::now();
        let mut batch = sled::Batch::default();
        for entry in entries {
            let bytes = serde_json::to_vec(&entry).map_err(io::Error::other)?;
            batch.insert(&keyspace::log_key(entry.index()), bytes);
        }
        self.inner
            .log
            .apply_batch(batch)
            .map_err(StorageError::sled("append entries"))?;
        // Acknowledge only once the entries are on disk.
        let res = self.flush().await.map_err(io::Error::from);
        if res.is_ok() {
            self.inner.stats.append.observe(started.elapsed());
        }
        let ack = match &res {
            Ok(()) => Ok(()),
            Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
        };
        callback.io_completed(ack);
        res
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let from = last_log_id.map(|l| l.index() + 1).unwrap_or(0);
        let mut batch = sled::Batch::default();
        for kv in self.inner.log.range(keyspace::log_key(from)..) {
            let (k, _) = kv.map_err(StorageError::sled("scan for truncate"))?;
            batch.remove(k);
        }
        self.inner
            .log
            .apply_batch(batch)
            .map_err(StorageError::sled("truncate"))?;
        self.flush().await?;
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        // Persist the purge point first: a crash between the two steps then leaves extra entries
        // (harmless) rather than a hole before the recorded start.
        self.put_meta(KEY_LAST_PURGED, &log_id)?;
        self.flush().await?;
        let mut batch = sled::Batch::default();
        for kv in self.inner.log.range(..=keyspace::log_key(log_id.index())) {
            let (k, _) = kv.map_err(StorageError::sled("scan for purge"))?;
            batch.remove(k);
        }
        self.inner
            .log
            .apply_batch(batch)
            .map_err(StorageError::sled("purge"))?;
        self.flush().await?;
        Ok(())
    }
}
