//! One controller's Raft node: storage, openraft, bootstrap, propose, leader lookups.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use kraft_proto::raft_service_server::RaftServiceServer;
use kraft_storage::metrics::{LogStats, SnapshotStats};
use kraft_storage::{Command, CommandReply, LogStore, StateMachineStore, TypeConfig};
use openraft::async_runtime::WatchReceiver as _;
use openraft::errors::LinearizableReadError;
use openraft::errors::{ClientWriteError, RaftError};
use openraft::impls::ProgressResponder;
use openraft::raft::ClientWriteResult;
use openraft::{BasicNode, Raft, ReadPolicy, ServerState, SnapshotPolicy};
use tracing::info;

use crate::Machine;
use crate::config::QuorumConfig;
use crate::error::{LeaderHint, QuorumError};
use crate::network::client::NetworkFactory;
use crate::network::server::RaftServiceImpl;

/// The openraft handle type kraftd runs.
pub type KraftRaft<M> = Raft<TypeConfig, StateMachineStore<M>>;

/// A point-in-time view of this node's Raft state.
#[derive(Debug, Clone)]
pub struct QuorumStatus {
    /// This node's id.
    pub node_id: u64,
    /// Current leader, if known.
    pub leader: Option<LeaderHint>,
    /// Current term (KRaft's leader epoch).
    pub term: u64,
    /// Index of the last entry in the local log.
    pub last_log_index: Option<u64>,
    /// Index of the last applied entry.
    pub last_applied: Option<u64>,
    /// Index of the last committed entry known here.
    pub committed: Option<u64>,
    /// Last log index covered by the local snapshot.
    pub snapshot: Option<u64>,
    /// Voters: node id → endpoint, from the effective membership.
    pub voters: BTreeMap<u64, String>,
    /// `leader`, `follower`, `candidate` or `learner`.
    pub state: &'static str,
    /// On the leader: per-voter matched log index.
    pub replication: BTreeMap<u64, Option<u64>>,
}

/// A running Raft node. Cheap to clone.
pub struct Node<M: Machine> {
    id: u64,
    raft: KraftRaft<M>,
    machine: Arc<RwLock<M>>,
    network: NetworkFactory,
    /// A reader of the Raft log (shares sled's `Db` with the store openraft writes).
    log: LogStore,
    /// Size and time of the last snapshot (shared with the state-machine store).
    snapshot_stats: Arc<SnapshotStats>,
    /// Set by [`Node::shutdown`]: long-lived replication streams served here end on it.
    stopping: Arc<tokio::sync::watch::Sender<bool>>,
}

impl<M: Machine> Clone for Node<M> {
    fn clone(&self) -> Self {
        Self {
            id: self.id,
            raft: self.raft.clone(),
            machine: self.machine.clone(),
            network: self.network.clone(),
            log: self.log.clone(),
            snapshot_stats: self.snapshot_stats.clone(),
            stopping: self.stopping.clone(),
        }
    }
}

impl<M: Machine> Node<M> {
    /// Opens storage under `config.data_dir`, starts openraft and, if this node's storage is
    /// pristine, takes part in the one-time bootstrap with the static voter set.
    ///
    /// Every node may bootstrap with the identical voter set (openraft allows this: the vote
    /// decides one leader); a node that has ever written anything never bootstraps again.
    pub async fn start(config: QuorumConfig, machine: Arc<RwLock<M>>) -> Result<Self, QuorumError> {
        config.validate()?;
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            QuorumError::Config(format!(
                "cannot create --data-dir {}: {e}",
                config.data_dir.display()
            ))
        })?;
        let log = LogStore::open(&config.data_dir.join("raft-log"))?;
        if let Some(delay) = config.fault_flush_delay {
            log.hold_flushes(delay);
        }
        let pristine = log.is_pristine()?;
        let sm = StateMachineStore::open(&config.data_dir.join("snapshots"), machine.clone())?;
        let snapshot_stats = sm.snapshot_stats();
        let snapshot_due = sm.snapshot_due();
        snapshot_due.set_limit(config.snapshot_bytes);
        // Each store checked itself while opening; together they must leave no gap, or this
        // node would serve a state missing entries. Refuse to start instead.
        kraft_storage::check_log_against_snapshot(
            log.at_open(),
            log.path(),
            sm.last_applied()?,
            &sm.snapshot_file(),
        )?;

        let raft_config = openraft::Config {
            cluster_name: "kraftd".into(),
            heartbeat_interval: config.heartbeat_ms,
            election_timeout_min: config.election_timeout_ms.0,
            election_timeout_max: config.election_timeout_ms.1,
            snapshot_policy: if config.snapshot_every == 0 {
                SnapshotPolicy::Never
            } else {
                SnapshotPolicy::LogsSinceLast(config.snapshot_every)
            },
            max_in_snapshot_log_to_keep: config.keep_after_snapshot,
            enable_pre_vote: Some(true),
            // The log store acknowledges appends from its flusher thread, so a leader sends
            // entries before its own copy is durable. After a crash it may have lost entries its
            // followers hold; coming back as leader of the same term it would write different
            // entries under the same (term, index) and the followers, whose log ids match,
            // would keep theirs: replicas diverge. A restarted leader therefore starts as a
            // follower and a new term is elected (openraft's leader restore off).
            enable_leader_restore: Some(false),
            install_snapshot_timeout: 10_000,
            ..Default::default()
        };
        let raft_config = Arc::new(
            raft_config
                .validate()
                .map_err(|e| QuorumError::Config(e.to_string()))?,
        );
        let network = NetworkFactory::new(config.peer_tls.clone(), config.dial_override.clone());
        let log_reader = log.clone();
        let raft = Raft::new(config.node_id, raft_config, network.clone(), log, sm)
            .await
            .map_err(|e| QuorumError::Fatal(e.to_string()))?;

        if pristine && !config.voters.is_empty() {
            let members: BTreeMap<u64, BasicNode> = config
                .voters
                .iter()
                .map(|(id, addr)| (*id, BasicNode { addr: addr.clone() }))
                .collect();
            match raft.initialize(members).await {
                Ok(()) => {
                    info!(node_id = config.node_id, voters = ?config.voters, "bootstrapped quorum")
                }
                // Another voter's bootstrap reached us first: the cluster exists already.
                Err(RaftError::APIError(e)) => {
                    info!(node_id = config.node_id, error = %e, "bootstrap not needed")
                }
                Err(RaftError::Fatal(e)) => return Err(QuorumError::Fatal(e.to_string())),
            }
        } else {
            info!(
                node_id = config.node_id,
                "restarting with existing raft state"
            );
        }
        tokio::spawn(snapshot_timer(raft.clone(), config.snapshot_interval));
        let stopping = Arc::new(tokio::sync::watch::channel(false).0);
        if config.snapshot_bytes != 0 {
            tokio::spawn(snapshot_on_bytes(
                raft.clone(),
                snapshot_due,
                stopping.subscribe(),
            ));
        }
        Ok(Self {
            id: config.node_id,
            raft,
            machine,
            network,
            log: log_reader,
            snapshot_stats,
            stopping,
        })
    }

    /// Append and fsync latency histograms of the Raft log.
    pub fn log_stats(&self) -> Arc<LogStats> {
        self.log.stats()
    }

    /// Size and time of the last snapshot built, installed or loaded here.
    pub fn snapshot_stats(&self) -> Arc<SnapshotStats> {
        self.snapshot_stats.clone()
    }

    /// This node's id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The openraft handle (for metrics and waits in tests and tools).
    pub fn raft(&self) -> &KraftRaft<M> {
        &self.raft
    }

    /// The replicated application state.
    pub fn machine(&self) -> Arc<RwLock<M>> {
        self.machine.clone()
    }

    /// Index of the last entry applied to the machine here (committed, so never rewritten).
    pub fn last_applied(&self) -> Option<u64> {
        self.raft
            .metrics()
            .borrow_watched()
            .last_applied
            .map(|l| l.index)
    }

    /// On the leader, waits until every entry in the local log is applied here: entries it
    /// proposed whose proposer stopped waiting commit while it leads. Fails with `NotLeader`
    /// as soon as this node stops leading (such entries may then be truncated, never applied).
    pub async fn wait_log_applied(&self, timeout: Duration) -> Result<(), QuorumError> {
        let Some(last) = self.raft.metrics().borrow_watched().last_log_index else {
            return Ok(());
        };
        let m = self
            .raft
            .wait(Some(timeout))
            .metrics(
                |m| {
                    m.state != ServerState::Leader
                        || m.last_applied.is_some_and(|l| l.index >= last)
                },
                "local log applied",
            )
            .await
            .map_err(|_| QuorumError::Timeout(timeout))?;
        if m.state == ServerState::Leader {
            Ok(())
        } else {
            Err(QuorumError::NotLeader {
                leader: self.leader(),
            })
        }
    }

    /// The log entries with an index in `range` still in the local log, in index order, as
    /// `(index, command)`; `None` for entries without a command (blank, membership).
    ///
    /// Purged entries are absent, so check the indexes for gaps. Read only up to
    /// [`Node::last_applied`]: later entries may be uncommitted and truncated.
    pub fn read_log(&self, range: Range<u64>) -> Result<Vec<(u64, Option<Command>)>, QuorumError> {
        Ok(self.log.read_commands(range)?)
    }

    /// A tonic channel to `addr`, shared with Raft traffic (for forwarding requests).
    pub fn channel(
        &self,
        addr: &str,
    ) -> Result<tonic::transport::Channel, tonic::transport::Error> {
        self.network.channel(addr)
    }

    /// Replaces the TLS material of peer links (certificate rotation). Cached channels are
    /// dropped, so the next RPC to each peer dials with the new certificate.
    pub fn set_peer_tls(&self, tls: Option<crate::tls::PeerTls>) {
        self.network.set_tls(tls);
    }

    /// The `RaftService` to mount on this node's gRPC server.
    pub fn raft_service(&self) -> RaftServiceServer<RaftServiceImpl<M>> {
        RaftServiceServer::new(RaftServiceImpl::new(
            self.raft.clone(),
            self.stopping.subscribe(),
        ))
        .max_decoding_message_size(64 * 1024 * 1024)
    }

    /// Proposes `data` and waits until it is committed and applied here. Returns the entry's
    /// log index and the machine's reply. Fails with `NotLeader` on a follower.
    pub async fn propose(
        &self,
        data: Vec<u8>,
        time_ms: u64,
    ) -> Result<(u64, CommandReply), QuorumError> {
        match self.raft.client_write(Command { data, time_ms }).await {
            Ok(resp) => Ok((resp.log_id.index, resp.data)),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(QuorumError::NotLeader {
                    leader: match (f.leader_id, f.leader_node) {
                        (Some(node_id), Some(node)) => Some(LeaderHint {
                            node_id,
                            endpoint: node.addr,
                        }),
                        _ => None,
                    },
                })
            }
            Err(RaftError::APIError(e)) => Err(QuorumError::Raft(e.to_string())),
            Err(RaftError::Fatal(e)) => Err(QuorumError::Fatal(e.to_string())),
        }
    }

    /// Hands `data` to Raft as the next entry of this leader's log and returns at once: the
    /// [`Proposal`] resolves when the entry is committed and applied here (or fails).
    ///
    /// Successive calls are appended in call order, so a caller that serialises its calls
    /// knows their relative log order. The write is conditional on this node still leading in
    /// the term it leads now: an entry queued in one term is never appended in a later one.
    pub async fn submit(&self, data: Vec<u8>, time_ms: u64) -> Result<Proposal, QuorumError> {
        let leader = self.raft.as_leader().map_err(|f| QuorumError::NotLeader {
            leader: hint(f.leader_id, f.leader_node),
        })?;
        let (responder, rx) = ProgressResponder::complete_only();
        self.raft
            .write(Command { data, time_ms })
            .with_leader(leader.to_committed_leader_id())
            .responder(responder)
            .await
            .map_err(|e| QuorumError::Fatal(e.to_string()))?;
        Ok(Proposal { rx })
    }

    /// Waits until this node, as leader, has confirmed with a quorum that it still leads and
    /// has applied everything committed before the call: reads after it are linearizable.
    pub async fn ensure_linearizable(&self) -> Result<(), QuorumError> {
        match self.raft.ensure_linearizable(ReadPolicy::ReadIndex).await {
            Ok(_) => Ok(()),
            Err(RaftError::APIError(LinearizableReadError::ForwardToLeader(f))) => {
                Err(QuorumError::NotLeader {
                    leader: match (f.leader_id, f.leader_node) {
                        (Some(node_id), Some(node)) => Some(LeaderHint {
                            node_id,
                            endpoint: node.addr,
                        }),
                        _ => None,
                    },
                })
            }
            Err(RaftError::APIError(e)) => Err(QuorumError::Raft(e.to_string())),
            Err(RaftError::Fatal(e)) => Err(QuorumError::Fatal(e.to_string())),
        }
    }

    /// A linearizable read barrier usable on any node: the leader confirms its leadership
    /// with a quorum (ReadIndex); a follower asks the leader for that read index and waits
    /// until it has applied up to it. Reads of the local state after this returns are
    /// linearizable.
    pub async fn read_barrier(&self, timeout: Duration) -> Result<(), QuorumError> {
        if self.is_leader() {
            return self.ensure_linearizable().await;
        }
        let leader = self
            .leader()
            .ok_or(QuorumError::NotLeader { leader: None })?;
        let channel = self
            .channel(&leader.endpoint)
            .map_err(|e| QuorumError::Raft(e.to_string()))?;
        let mut client = kraft_proto::raft_service_client::RaftServiceClient::new(channel);
        let mut req = tonic::Request::new(kraft_proto::ReadIndexRequest {});
        req.set_timeout(timeout);
        let index = client
            .read_index(req)
            .await
            .map_err(|_| QuorumError::NotLeader {
                leader: Some(leader.clone()),
            })?
            .into_inner()
            .read_index;
        // A follower that cannot catch up in time (partitioned, or removed from the quorum)
        // sends the caller to the leader rather than failing the read.
        let in_quorum = self
            .raft
            .metrics()
            .borrow_watched()
            .membership_config
            .membership()
            .get_node(&self.id)
            .is_some();
        if !in_quorum {
            return Err(QuorumError::NotLeader {
                leader: Some(leader.clone()),
            });
        }
        self.raft
            .wait(Some(timeout))
            .applied_index_at_least(Some(index), "read barrier")
            .await
            .map_err(|_| QuorumError::NotLeader {
                leader: Some(leader),
            })?;
        Ok(())
    }

    /// The current Raft term (KRaft's leader epoch), without copying the whole status.
    pub fn term(&self) -> u64 {
        self.raft.metrics().borrow_watched().current_term
    }

    /// True when this node currently believes it leads.
    pub fn is_leader(&self) -> bool {
        self.raft.metrics().borrow_watched().state == ServerState::Leader
    }

    /// The leader this node currently knows of.
    pub fn leader(&self) -> Option<LeaderHint> {
        let m = self.raft.metrics().borrow_watched().clone();
        let id = m.current_leader?;
        let node = m.membership_config.membership().get_node(&id)?;
        Some(LeaderHint {
            node_id: id,
            endpoint: node.addr.clone(),
        })
    }

    /// Waits up to `timeout` for some leader to be known.
    pub async fn wait_for_leader(&self, timeout: Duration) -> Option<LeaderHint> {
        let mut rx = self.raft.metrics();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(l) = self.leader() {
                return Some(l);
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                return None;
            }
        }
    }

    /// A snapshot of this node's Raft state.
    pub fn status(&self) -> QuorumStatus {
        let m = self.raft.metrics().borrow_watched().clone();
        let voters = m
            .membership_config
            .membership()
            .nodes()
            .filter(|(id, _)| {
                m.membership_config
                    .membership()
                    .voter_ids()
                    .any(|v| v == **id)
            })
            .map(|(id, n)| (*id, n.addr.clone()))
            .collect();
        let leader = m.current_leader.and_then(|id| {
            let node = m.membership_config.membership().get_node(&id)?;
            Some(LeaderHint {
                node_id: id,
                endpoint: node.addr.clone(),
            })
        });
        let replication = m
            .replication
            .as_ref()
            .map(|r| {
                r.iter()
                    .map(|(id, lid)| (*id, lid.as_ref().map(|l| l.index)))
                    .collect()
            })
            .unwrap_or_default();
        QuorumStatus {
            node_id: self.id,
            leader,
            term: m.current_term,
            last_log_index: m.last_log_index,
            last_applied: m.last_applied.map(|l| l.index),
            committed: m.cluster_committed.map(|l| l.index),
            snapshot: m.snapshot.map(|l| l.index),
            voters,
            state: match m.state {
                ServerState::Leader => "leader",
                ServerState::Follower => "follower",
                ServerState::Candidate => "candidate",
                ServerState::Learner => "learner",
                ServerState::Shutdown => "shutdown",
            },
            replication,
        }
    }

    /// When this node leads, hands leadership to the most caught-up voter and waits (up to
    /// `timeout`) until another node leads, so a planned restart never waits for an election
    /// timeout. Returns the new leader's id, or `None` when this node did not lead or no
    /// successor took over in time.
    pub async fn transfer_leadership(&self, timeout: Duration) -> Option<u64> {
        let status = self.status();
        if status.state != "leader" {
            return None;
        }
        let to = status
            .replication
            .iter()
            .filter(|(id, _)| **id != self.id && status.voters.contains_key(id))
            .max_by_key(|(id, matched)| (matched.unwrap_or(0), std::cmp::Reverse(**id)))
            .map(|(id, _)| *id)?;
        info!(node_id = self.id, to, "transferring leadership");
        if let Err(e) = self.raft.trigger().transfer_leader(to).await {
            tracing::warn!(error = %e, "leader transfer failed");
            return None;
        }
        let mut rx = self.raft.metrics();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let current = self.raft.metrics().borrow_watched().current_leader;
            if let Some(l) = current.filter(|l| *l != self.id) {
                return Some(l);
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                return None;
            }
        }
    }

    /// Stops Raft. Safe to call once the gRPC server no longer needs it.
    pub async fn shutdown(&self) {
        self.stopping.send_replace(true);
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(error = %e, "raft shutdown");
        }
    }
}

fn hint(leader_id: Option<u64>, node: Option<BasicNode>) -> Option<LeaderHint> {
    match (leader_id, node) {
        (Some(node_id), Some(node)) => Some(LeaderHint {
            node_id,
            endpoint: node.addr,
        }),
        _ => None,
    }
}

/// An entry handed to Raft by [`Node::submit`] whose outcome is not known yet.
pub struct Proposal {
    rx: tokio::sync::oneshot::Receiver<ClientWriteResult<TypeConfig>>,
}

impl Proposal {
    /// Waits until the entry is committed and applied here: its log index and the machine's
    /// reply; `NotLeader` when leadership was lost before it committed.
    pub async fn outcome(self) -> Result<(u64, CommandReply), QuorumError> {
        match self.rx.await {
            Ok(Ok(resp)) => Ok((resp.log_id.index, resp.data)),
            // Discarded on a leader change: it may still commit through the new leader, like
            // any write whose answer is lost; Kafka's controller also answers NOT_CONTROLLER,
            // and clients retry there.
            Ok(Err(
                ClientWriteError::ForwardToLeader(f) | ClientWriteError::LogEntryDiscarded(f),
            )) => Err(QuorumError::NotLeader {
                leader: hint(f.leader_id, f.leader_node),
            }),
            Ok(Err(e)) => Err(QuorumError::Raft(e.to_string())),
            // openraft dropped the responder: it stopped.
            Err(_) => Err(QuorumError::Fatal(
                "raft stopped before the entry resolved".into(),
            )),
        }
    }
}

/// Asks for a snapshot whenever the commands applied since the latest one pass the byte limit
/// (Kafka's `metadata.log.max.record.bytes.between.snapshots`).
/// Ends when the node shuts down.
async fn snapshot_on_bytes<M: Machine>(
    raft: KraftRaft<M>,
    due: Arc<kraft_storage::SnapshotDue>,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            () = due.wait() => {}
            _ = stopping.wait_for(|s| *s) => return,
        }
        if raft.trigger().snapshot().await.is_err() {
            return; // Raft stopped.
        }
        // A build resets the count as it starts. One already running (started before the limit
        // was reached) makes openraft ignore this request, and the count stays over the limit:
        // ask again, but not for every entry applied meanwhile.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Takes a snapshot when `interval` has passed since the last one and entries were applied
/// since (the byte limit covers busy clusters; this bounds replay on quiet ones).
async fn snapshot_timer<M: Machine>(raft: KraftRaft<M>, interval: Duration) {
    if interval.is_zero() {
        return;
    }
    let check = (interval / 4).clamp(Duration::from_millis(50), Duration::from_secs(10));
    let mut last = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(check);
    loop {
        tick.tick().await;
        let (applied, snapshot, running) = {
            let m = raft.metrics().borrow_watched().clone();
            (
                m.last_applied.map(|l| l.index),
                m.snapshot.map(|l| l.index),
                m.running_state.is_ok(),
            )
        };
        if !running {
            return;
        }
        if applied <= snapshot {
            last = tokio::time::Instant::now();
        } else if last.elapsed() >= interval {
            if raft.trigger().snapshot().await.is_err() {
                return;
            }
            last = tokio::time::Instant::now();
        }
    }
}
