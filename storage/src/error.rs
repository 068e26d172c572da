//! Storage errors. They reach openraft as `io::Error` through one `From`.

use std::io;

/// Errors raised by kraftd's storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// sled failed (I/O or corruption).
    #[error("sled error in {what}: {source}")]
    Sled {
        /// What the store was doing.
        what: &'static str,
        /// The underlying error.
        source: sled::Error,
    },
    /// A stored value could not be decoded.
    #[error("corrupt value in tree {tree} at key {key}: {reason}")]
    Corrupt {
        /// Tree name.
        tree: &'static str,
        /// Key, rendered for humans.
        key: String,
        /// Why decoding failed.
        reason: String,
    },
    /// sled could not open the Raft log database.
    #[error("cannot open raft log {path}: {source}")]
    OpenLog {
        /// The sled database directory.
        path: String,
        /// The underlying error.
        source: sled::Error,
    },
    /// Another handle holds the Raft log's lock past the wait: most likely a second kraftd on
    /// the same data directory.
    #[error(
        "raft log {path} is locked by another process (is another kraftd using this data \
         directory?); waited {waited_ms} ms for it"
    )]
    LogLocked {
        /// The sled database directory.
        path: String,
        /// How long the open waited for the lock.
        waited_ms: u64,
    },
    /// The Raft log on disk fails its start-up checks: the node must not serve from it.
    #[error(
        "corrupt raft log {path}: {reason}; refusing to start: rebuild this node from its \
         peers (wipe its data dir, then remove and re-add it as a voter)"
    )]
    CorruptLog {
        /// The sled database directory (its data file is `db` inside).
        path: String,
        /// The check that failed.
        reason: String,
    },
    /// A snapshot file is unreadable or fails its checksum.
    #[error(
        "bad snapshot file {path}: {reason}; refusing to use it: rebuild this node from its \
         peers (wipe its data dir, then remove and re-add it as a voter)"
    )]
    BadSnapshot {
        /// File path.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// File-system error.
    #[error("i/o error while {what}: {source}")]
    Io {
        /// What the store was doing.
        what: &'static str,
        /// The underlying error.
        source: io::Error,
    },
}

impl StorageError {
    pub(crate) fn sled(what: &'static str) -> impl FnOnce(sled::Error) -> Self {
        move |source| StorageError::Sled { what, source }
    }
    pub(crate) fn io(what: &'static str) -> impl FnOnce(io::Error) -> Self {
        move |source| StorageError::Io { what, source }
    }
}

impl From<StorageError> for io::Error {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Io { source, .. } => source,
            other => io::Error::other(other.to_string()),
        }
    }
}
