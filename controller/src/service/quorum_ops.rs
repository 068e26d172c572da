//! Quorum operations on the AdminService: DescribeQuorum, Add/RemoveRaftVoter,
//! TransferLeadership, DumpMetadata. These act on Raft membership, not on metadata records.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kraft_proto as pb;
use kraft_quorum::{QuorumError, VoterChangeRefused};

use super::convert::item_error;
use super::{Controller, ControllerError};
use crate::error_code::ErrorCode;

/// Leader-side soft state: when each replica was last seen caught up to the leader's log end.
#[derive(Default)]
pub struct CaughtUpTracker {
    last_caught_up_ms: Mutex<BTreeMap<u64, i64>>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Samples replication every 100 ms on the leader to keep [`CaughtUpTracker`] current.
pub(super) async fn caught_up_loop(ctl: Weak<Controller>) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tick.tick().await;
        let Some(c) = ctl.upgrade() else { return };
        let Ok(d) = c.node().describe_quorum() else {
            continue;
        };
        let leader_leo = d
            .voters
            .iter()
            .find(|r| r.node_id == d.leader_id)
            .map(|r| r.log_end_offset)
            .unwrap_or(-1);
        let now = now_ms();
        let mut map = c
            .caught_up
            .last_caught_up_ms
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for r in d.voters.iter().chain(d.observers.iter()) {
            if r.log_end_offset >= leader_leo {
                map.insert(r.node_id, now);
            }
        }
    }
}

fn timed_out(e: &QuorumError) -> bool {
    matches!(e, QuorumError::Timeout(_))
}

fn refused(r: VoterChangeRefused) -> Option<pb::ItemError> {
    match r {
        VoterChangeRefused::DuplicateVoter(id) => item_error(
            ErrorCode::DuplicateVoter,
            Some(format!("Node {id} is already a voter")),
        ),
        VoterChangeRefused::VoterNotFound(id) => item_error(
            ErrorCode::VoterNotFound,
            Some(format!("Node {id} is not a voter")),
        ),
        VoterChangeRefused::LastVoter(id) => item_error(
            ErrorCode::InvalidRequest,
            Some(format!("Node {id} is the last voter and cannot be removed")),
        ),
    }
}

impl Controller {
    /// DescribeQuorum on the leader.
    pub fn describe_quorum_pb(&self) -> Result<pb::DescribeQuorumResponse, ControllerError> {
        let d = self.node().describe_quorum()?;
        let caught = self
            .caught_up
            .last_caught_up_ms
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let now = now_ms();
        let conv = |r: &kraft_quorum::ReplicaState| pb::QuorumReplicaState {
            replica_id: r.node_id,
            endpoint: r.endpoint.clone(),
            log_end_offset: r.log_end_offset,
            last_fetch_timestamp: r.last_fetch_timestamp,
            last_caught_up_timestamp: if r.node_id == d.leader_id {
                now
            } else {
                caught.get(&r.node_id).copied().unwrap_or(-1)
            },
        };
        Ok(pb::DescribeQuorumResponse {
            error: item_error(ErrorCode::None, None),
            leader_id: d.leader_id,
            leader_epoch: d.leader_epoch,
            high_watermark: d.high_watermark,
            current_voters: d.voters.iter().map(conv).collect(),
            observers: d.observers.iter().map(conv).collect(),
        })
    }

    /// AddRaftVoter on the leader.
    pub async fn add_voter_pb(
        &self,
        req: &pb::AddRaftVoterRequest,
    ) -> Result<pb::AddRaftVoterResponse, ControllerError> {
        if req.voter_id == 0 {
            return Err(ControllerError::invalid(
                "voter_id",
                "must be a positive node id",
            ));
        }
        if req
            .endpoint
            .rsplit_once(':')
            .is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
        {
            return Err(ControllerError::invalid("endpoint", "must be host:port"));
        }
        let timeout = Duration::from_millis(if req.timeout_ms == 0 {
            60_000
        } else {
            u64::from(req.timeout_ms)
        });
        let error = match self
            .node()
            .add_voter(req.voter_id, req.endpoint.clone(), timeout)
            .await
        {
            Ok(Ok(())) => item_error(ErrorCode::None, None),
            Ok(Err(r)) => refused(r),
            Err(e) if timed_out(&e) => item_error(
                ErrorCode::RequestTimedOut,
                Some(format!(
                    "node {} did not catch up and join within {timeout:?}",
                    req.voter_id
                )),
            ),
            Err(e) => return Err(e.into()),
        };
        Ok(pb::AddRaftVoterResponse { error })
    }

    /// RemoveRaftVoter on the leader.
    pub async fn remove_voter_pb(
        &self,
        req: &pb::RemoveRaftVoterRequest,
    ) -> Result<pb::RemoveRaftVoterResponse, ControllerError> {
        let timeout = Duration::from_secs(30);
        let error = match self.node().remove_voter(req.voter_id, timeout).await {
            Ok(Ok(())) => item_error(ErrorCode::None, None),
            Ok(Err(r)) => refused(r),
            Err(e) if timed_out(&e) => item_error(
                ErrorCode::RequestTimedOut,
                Some(format!("removal not committed within {timeout:?}")),
            ),
            Err(e) => return Err(e.into()),
        };
        Ok(pb::RemoveRaftVoterResponse { error })
    }

    /// TransferLeadership on the leader.
    pub async fn transfer_leadership_pb(
        &self,
        req: &pb::TransferLeadershipRequest,
    ) -> Result<pb::TransferLeadershipResponse, ControllerError> {
        match self
            .node()
            .transfer_leadership_to(req.to, Duration::from_secs(10))
            .await
        {
            Ok(new_leader_id) => Ok(pb::TransferLeadershipResponse {
                error: item_error(ErrorCode::None, None),
                new_leader_id,
            }),
            Err(QuorumError::Config(msg)) => Ok(pb::TransferLeadershipResponse {
                error: item_error(ErrorCode::VoterNotFound, Some(msg)),
                new_leader_id: 0,
            }),
            Err(e) if timed_out(&e) => Ok(pb::TransferLeadershipResponse {
                error: item_error(
                    ErrorCode::RequestTimedOut,
                    Some(format!("node {} did not take over", req.to)),
                ),
                new_leader_id: 0,
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// This controller's image as JSON, once it has applied `min_offset`.
    pub async fn dump_metadata_pb(
        self: &Arc<Self>,
        req: &pb::DumpMetadataRequest,
    ) -> Result<pb::DumpMetadataResponse, ControllerError> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let (offset, json) = self.read_local(|i| {
                let v = serde_json::to_value(i).unwrap_or(serde_json::Value::Null);
                (
                    i.last_applied_offset(),
                    serde_json::to_string_pretty(&v).unwrap_or_default(),
                )
            });
            if offset >= req.min_offset {
                return Ok(pb::DumpMetadataResponse {
                    offset,
                    image_json: json,
                });
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ControllerError::Timeout(Duration::from_secs(10)));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
