//! Quorum operations (KIP-853 style): describe, add and remove voters, leader transfer.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use openraft::async_runtime::WatchReceiver as _;
use openraft::errors::{ClientWriteError, RaftError};
use openraft::{BasicNode, ChangeMembers, Instant as _};

use crate::Machine;
use crate::error::{LeaderHint, QuorumError};
use crate::node::Node;

/// One voter's or observer's replication state, as the leader sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaState {
    /// Node id.
    pub node_id: u64,
    /// Raft endpoint.
    pub endpoint: String,
    /// Highest log index known to be on the replica (-1 unknown).
    pub log_end_offset: i64,
    /// Wall-clock ms of the replica's last acknowledged heartbeat/append (-1 unknown; the
    /// leader reports its own as now).
    pub last_fetch_timestamp: i64,
}

/// The quorum as the leader sees it (Kafka's DescribeQuorum).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumDescription {
    /// Leader's id.
    pub leader_id: u64,
    /// Raft term (KRaft's leader epoch).
    pub leader_epoch: u64,
    /// Highest committed log index.
    pub high_watermark: i64,
    /// Voters.
    pub voters: Vec<ReplicaState>,
    /// Learners (KRaft's observers among controllers).
    pub observers: Vec<ReplicaState>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn not_leader<M: Machine>(node: &Node<M>) -> QuorumError {
    QuorumError::NotLeader {
        leader: node.leader(),
    }
}

fn map_write_err(
    e: RaftError<kraft_storage::TypeConfig, ClientWriteError<kraft_storage::TypeConfig>>,
) -> QuorumError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => QuorumError::NotLeader {
            leader: match (f.leader_id, f.leader_node) {
                (Some(node_id), Some(n)) => Some(LeaderHint {
                    node_id,
                    endpoint: n.addr,
                }),
                _ => None,
            },
        },
        RaftError::APIError(e) => QuorumError::Raft(e.to_string()),
        RaftError::Fatal(e) => QuorumError::Fatal(e.to_string()),
    }
}

/// Why a voter change was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoterChangeRefused {
    /// The node already votes (Kafka DUPLICATE_VOTER).
    DuplicateVoter(u64),
    /// The node is not a voter (Kafka VOTER_NOT_FOUND).
    VoterNotFound(u64),
    /// Removing it would leave no voter.
    LastVoter(u64),
}

impl<M: Machine> Node<M> {
    /// Kafka's DescribeQuorum: only the leader can answer.
    pub fn describe_quorum(&self) -> Result<QuorumDescription, QuorumError> {
        let m = self.raft().metrics().borrow_watched().clone();
        if m.current_leader != Some(self.id()) {
            return Err(not_leader(self));
        }
        let now = now_ms();
        let membership = m.membership_config.membership().clone();
        let voter_ids: BTreeSet<u64> = membership.voter_ids().collect();
        let matched: BTreeMap<u64, i64> = m
            .replication
            .as_ref()
            .map(|r| {
                r.iter()
                    .map(|(id, l)| (*id, l.map(|l| l.index as i64).unwrap_or(-1)))
                    .collect()
            })
            .unwrap_or_default();
        let acked: BTreeMap<u64, i64> = m
            .heartbeat
            .as_ref()
            .map(|h| {
                h.iter()
                    .map(|(id, t)| {
                        (
                            *id,
                            t.as_ref()
                                .map(|t| now - t.elapsed().as_millis() as i64)
                                .unwrap_or(-1),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let leader_leo = m.last_log_index.map(|i| i as i64).unwrap_or(-1);
        let state = |id: u64, addr: &str| ReplicaState {
            node_id: id,
            endpoint: addr.to_string(),
            log_end_offset: if id == self.id() {
                leader_leo
            } else {
                matched.get(&id).copied().unwrap_or(-1)
            },
            last_fetch_timestamp: if id == self.id() {
                now
            } else {
                acked.get(&id).copied().unwrap_or(-1)
            },
        };
        let mut voters = Vec::new();
        let mut observers = Vec::new();
        for (id, node) in membership.nodes() {
            if voter_ids.contains(id) {
                voters.push(state(*id, &node.addr));
            } else {
                observers.push(state(*id, &node.addr));
            }
        }
        Ok(QuorumDescription {
            leader_id: self.id(),
            leader_epoch: m.current_term,
            high_watermark: m.cluster_committed.map(|l| l.index as i64).unwrap_or(-1),
            voters,
            observers,
        })
    }

    /// Adds `id` at `endpoint` as a voter, online: first as a learner that catches up
    /// (blocking until its log has caught up), then promoted. One change at a time (openraft
    /// refuses a second while one is uncommitted).
    pub async fn add_voter(
        &self,
        id: u64,
        endpoint: String,
        timeout: Duration,
    ) -> Result<Result<(), VoterChangeRefused>, QuorumError> {
        if !self.is_leader() {
            return Err(not_leader(self));
        }
        let voters: BTreeSet<u64> = self.status().voters.keys().copied().collect();
        if voters.contains(&id) {
            return Ok(Err(VoterChangeRefused::DuplicateVoter(id)));
        }
        let work = async {
            self.raft()
                .add_learner(id, BasicNode { addr: endpoint }, true)
                .await
                .map_err(map_write_err)?;
            self.raft()
                .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
                .await
                .map_err(map_write_err)?;
            Ok::<(), QuorumError>(())
        };
        tokio::time::timeout(timeout, work)
            .await
            .map_err(|_| QuorumError::Timeout(timeout))??;
        tracing::info!(node_id = id, "added voter");
        Ok(Ok(()))
    }

    /// Removes voter `id`, online. A leader that removes itself steps down once the change
    /// commits.
    pub async fn remove_voter(
        &self,
        id: u64,
        timeout: Duration,
    ) -> Result<Result<(), VoterChangeRefused>, QuorumError> {
        if !self.is_leader() {
            return Err(not_leader(self));
        }
        let voters: BTreeSet<u64> = self.status().voters.keys().copied().collect();
        if !voters.contains(&id) {
            return Ok(Err(VoterChangeRefused::VoterNotFound(id)));
        }
        if voters.len() == 1 {
            return Ok(Err(VoterChangeRefused::LastVoter(id)));
        }
        let work = async {
            self.raft()
                .change_membership(ChangeMembers::RemoveVoters(BTreeSet::from([id])), false)
                .await
                .map_err(map_write_err)?;
            Ok::<(), QuorumError>(())
        };
        tokio::time::timeout(timeout, work)
            .await
            .map_err(|_| QuorumError::Timeout(timeout))??;
        tracing::info!(node_id = id, "removed voter");
        Ok(Ok(()))
    }

    /// Asks the leader (this node) to hand leadership to `to` and waits until it has.
    pub async fn transfer_leadership_to(
        &self,
        to: u64,
        timeout: Duration,
    ) -> Result<u64, QuorumError> {
        if !self.is_leader() {
            return Err(not_leader(self));
        }
        if !self.status().voters.contains_key(&to) {
            return Err(QuorumError::Config(format!("node {to} is not a voter")));
        }
        if to == self.id() {
            return Ok(to);
        }
        self.raft()
            .trigger()
            .transfer_leader(to)
            .await
            .map_err(|e| QuorumError::Fatal(e.to_string()))?;
        let mut rx = self.raft().metrics();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let current = self.raft().metrics().borrow_watched().current_leader;
            if let Some(l) = current.filter(|l| *l != self.id()) {
                return Ok(l);
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                return Err(QuorumError::Timeout(timeout));
            }
        }
    }
}
