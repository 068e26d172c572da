//! Quorum errors.

/// Where the current leader can be reached, as far as this node knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderHint {
    /// Leader's node id.
    pub node_id: u64,
    /// Leader's `host:port` endpoint.
    pub endpoint: String,
}

/// Errors of the quorum layer.
#[derive(Debug, thiserror::Error)]
pub enum QuorumError {
    /// This node is not the leader; `leader` is a hint where to go, if known.
    #[error("not the leader (leader: {leader:?})")]
    NotLeader {
        /// The leader this node knows of.
        leader: Option<LeaderHint>,
    },
    /// The voter string or another setting is invalid.
    #[error("invalid quorum config: {0}")]
    Config(String),
    /// Storage failed to open or recover.
    #[error(transparent)]
    Storage(#[from] kraft_storage::StorageError),
    /// Raft stopped (shutdown or a fatal storage error).
    #[error("raft stopped: {0}")]
    Fatal(String),
    /// The write or read could not complete for another reason.
    #[error("raft request failed: {0}")]
    Raft(String),
    /// The write did not complete before its deadline.
    #[error("timed out after {0:?}")]
    Timeout(std::time::Duration),
}
