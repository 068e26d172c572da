//! kraft-storage: everything kraftd keeps on disk for Raft.
//!
//! * [`LogStore`]: openraft's `RaftLogStorage` over its own sled `Db` (directory `raft-log/`):
//!   entries, vote, committed and last-purged log ids. Every append, vote, truncate and purge
//!   is flushed before it is acknowledged: sled's flush, then an `fdatasync` of its file (sled
//!   alone only issues `sync_file_range`, see [`disk_sync`]).
//! * [`metrics`]: append / fsync latency histograms and the last snapshot's size and time,
//!   updated with relaxed atomics on the write path and read by the controller's `/metrics`.
//! * [`StateMachineStore`]: openraft's `RaftStateMachine` shell. It tracks the last applied log
//!   id and membership and hands each committed [`Command`] to an application [`Machine`]
//!   (kraftd's metadata image). Snapshots are written durably as files (see [`snapshot`]).
//! * [`TypeConfig`]: the openraft type configuration shared by storage and quorum. Commands are
//!   opaque bytes to this crate; the controller decides what they mean.
//!
//! ```text
//!  propose ─► openraft ─► LogStore::append (sled insert + flush + fdatasync) ─► commit
//!                                  └─► StateMachineStore::apply ─► Machine::apply
//!  every N entries: StateMachineStore builds a snapshot file ─► LogStore::purge
//! ```

pub mod codec;
pub mod disk_sync;
pub mod durable_mark;
pub mod error;
pub mod keyspace;
pub mod log_store;
pub mod metrics;
pub mod snapshot;
pub mod startup;
pub mod state_machine;
pub mod types;

pub use error::StorageError;
pub use log_store::{LogStore, LogSummary};
pub use startup::check_log_against_snapshot;
pub use state_machine::{Machine, SnapshotDue, StateMachineStore};
pub use types::{Command, CommandReply, TypeConfig};
