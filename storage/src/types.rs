//! The openraft type configuration kraftd runs with.

use std::fmt;

use serde::{Deserialize, Serialize};

openraft::declare_raft_types!(
    /// kraftd's Raft types: u64 node ids, `BasicNode { addr }` nodes, [`Command`] entries.
    pub TypeConfig:
        D = Command,
        R = CommandReply,
);

/// One proposed write: an encoded application batch plus the leader's wall clock when it was
/// proposed. Apply must read time only from here, so that every replica sees the same time.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// Encoded application payload (the controller's record batch). Raw bytes in binary
    /// encodings (still an array of numbers in JSON).
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
    /// Milliseconds since the Unix epoch on the proposing leader.
    pub time_ms: u64,
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Command({} bytes @ {})", self.data.len(), self.time_ms)
    }
}

/// What applying a [`Command`] returned, encoded by the application.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandReply {
    /// Encoded application reply.
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
}

/// Log id of this type config.
pub type LogId = openraft::alias::LogIdOf<TypeConfig>;

/// The log id of entry `index` written by `node_id`'s leadership in `term`.
pub fn log_id(term: u64, node_id: u64, index: u64) -> LogId {
    use openraft::vote::RaftLeaderId;
    LogId::new(
        openraft::impls::leader_id_adv::LeaderId { term, node_id }.to_committed(),
        index,
    )
}
/// Vote of this type config.
pub type Vote = openraft::alias::VoteOf<TypeConfig>;
/// Log entry of this type config.
pub type Entry = openraft::alias::EntryOf<TypeConfig>;
/// Stored membership of this type config.
pub type StoredMembership = openraft::alias::StoredMembershipOf<TypeConfig>;
/// Snapshot meta of this type config.
pub type SnapshotMeta = openraft::alias::SnapshotMetaOf<TypeConfig>;
/// Snapshot (meta + bytes) of this type config.
pub type Snapshot = openraft::alias::SnapshotOf<TypeConfig, Vec<u8>>;
