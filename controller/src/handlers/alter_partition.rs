//! AlterPartition (Kafka apiKey 56, SPEC §2.4): a partition leader proposes a new ISR.
//!
//! This is the only way a replica joins an ISR (fenced brokers come back this way once
//! unfenced and caught up). The controller validates against the image, then builds the
//! change with [`crate::partition_change`].

use std::collections::BTreeMap;

use super::ControllerResult;
use crate::ctx::Ctx;
use crate::error_code::ErrorCode;
use crate::handlers::complete_reassignment;
use crate::ids::{BrokerEpoch, BrokerId, LeaderEpoch, PartitionEpoch, TopicId};
use crate::image::{MetadataImage, PartitionRegistration};
use crate::partition_change::{PartitionChange, build_partition_change, merged};
use crate::records::{LeaderRecoveryState, Record};

/// An ISR member and the broker epoch the leader knows for it (KIP-903); `BrokerEpoch(-1)`
/// means unknown (skips the epoch check).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BrokerState {
    /// The replica.
    pub broker_id: BrokerId,
    /// Its broker epoch as the leader saw it, or -1.
    pub broker_epoch: BrokerEpoch,
}

/// One partition's proposed state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlterPartitionPartition {
    /// Partition index.
    pub partition_index: i32,
    /// The leader epoch the leader holds.
    pub leader_epoch: LeaderEpoch,
    /// The proposed ISR with broker epochs.
    pub new_isr_with_epochs: Vec<BrokerState>,
    /// The proposed leader recovery state.
    pub leader_recovery_state: LeaderRecoveryState,
    /// The partition epoch the proposal was computed against.
    pub partition_epoch: PartitionEpoch,
}

/// The partitions of one topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlterPartitionTopic {
    /// The topic (v2+ requests carry ids).
    pub topic_id: TopicId,
    /// Its partitions.
    pub partitions: Vec<AlterPartitionPartition>,
}

/// A partition leader asks to change ISRs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlterPartition {
    /// The requesting broker (the leader).
    pub broker_id: BrokerId,
    /// Its broker epoch.
    pub broker_epoch: BrokerEpoch,
    /// Proposed changes.
    pub topics: Vec<AlterPartitionTopic>,
}

/// The outcome for one partition: on success (or no-op) the state once this result is
/// applied; on error the state fields are -1 / empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlterPartitionPartitionResult {
    /// Partition index.
    pub partition_index: i32,
    /// `ErrorCode::None` on success.
    pub error_code: ErrorCode,
    /// Names the rule on failure.
    pub error_message: Option<String>,
    /// The leader.
    pub leader_id: BrokerId,
    /// The leader epoch.
    pub leader_epoch: LeaderEpoch,
    /// The ISR.
    pub isr: Vec<BrokerId>,
    /// The leader recovery state.
    pub leader_recovery_state: LeaderRecoveryState,
    /// The partition epoch.
    pub partition_epoch: PartitionEpoch,
}

/// The outcomes for one topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlterPartitionTopicResult {
    /// The topic.
    pub topic_id: TopicId,
    /// Per partition, in request order.
    pub partitions: Vec<AlterPartitionPartitionResult>,
}

/// The answer to [`AlterPartition`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlterPartitionReply {
    /// Request-level error (`STALE_BROKER_EPOCH`); then `topics` is empty.
    pub error_code: ErrorCode,
    /// Names the rule on failure.
    pub error_message: Option<String>,
    /// Per topic, in request order.
    pub topics: Vec<AlterPartitionTopicResult>,
}

/// Handle AlterPartition (SPEC §2.4), validating in Kafka's order:
///
/// 0. requester not registered or epoch mismatch → request-level `STALE_BROKER_EPOCH`;
/// 1. unknown topic → `UNKNOWN_TOPIC_ID`; unknown partition → `UNKNOWN_TOPIC_OR_PARTITION`;
/// 2. request leader or partition epoch newer than ours → `NOT_CONTROLLER`;
/// 3. older leader epoch → `FENCED_LEADER_EPOCH`;
/// 4. requester is not the leader → `INVALID_REQUEST`;
/// 5. older partition epoch → `INVALID_UPDATE_VERSION`;
/// 6. ISR not ⊆ replicas, duplicated, negative, or without the leader → `INVALID_REQUEST`;
/// 7. RECOVERING with ISR size > 1, or RECOVERED → RECOVERING → `INVALID_REQUEST`;
/// 8. a member not registered, fenced, in controlled shutdown, or with a broker epoch that
///    is neither -1 nor its current one → `INELIGIBLE_REPLICA` (KIP-841, KIP-903).
///
/// Success writes one `PartitionChangeRecord` per changed partition and replies with the
/// state after apply (epochs computed as apply will); a no-op writes nothing and replies
/// with the current state. A partition listed twice is validated against the state the
/// first entry leads to.
pub fn alter_partition(
    image: &MetadataImage,
    req: &AlterPartition,
    _ctx: &mut Ctx,
) -> ControllerResult<AlterPartitionReply> {
    let stale = |message: String| {
        ControllerResult::reply_only(AlterPartitionReply {
            error_code: ErrorCode::StaleBrokerEpoch,
            error_message: Some(message),
            topics: Vec::new(),
        })
    };
    match image.broker(req.broker_id) {
        None => {
            return stale(format!(
                "No broker registration found for broker {}",
                req.broker_id
            ));
        }
        Some(b) if b.broker_epoch != req.broker_epoch => {
            return stale(format!(
                "Expected broker epoch {}, but got broker epoch {}",
                b.broker_epoch, req.broker_epoch
            ));
        }
        Some(_) => {}
    }

    let mut records = Vec::new();
    let mut working: BTreeMap<(TopicId, i32), PartitionRegistration> = BTreeMap::new();
    let mut topics = Vec::new();
    for t in &req.topics {
        let topic = image.topic_by_id(t.topic_id);
        let mut results = Vec::new();
        for data in &t.partitions {
            let key = (t.topic_id, data.partition_index);
            let current = working
                .get(&key)
                .or_else(|| topic.and_then(|tp| tp.partitions.get(&data.partition_index)));
            let result = match (topic, current) {
                (None, _) => Err((
                    ErrorCode::UnknownTopicId,
                    format!("Topic {} not found", t.topic_id),
                )),
                (Some(tp), None) => Err((
                    ErrorCode::UnknownTopicOrPartition,
                    format!("Partition {}-{} not found", tp.name, data.partition_index),
                )),
                (Some(_), Some(p)) => validate(image, req.broker_id, p, data).map(|()| p.clone()),
            };
            results.push(match result {
                Err((code, message)) => error_result(data.partition_index, code, message),
                Ok(p) => {
                    let change = PartitionChange {
                        target_isr: Some(
                            data.new_isr_with_epochs
                                .iter()
                                .map(|s| s.broker_id)
                                .collect(),
                        ),
                        target_leader_recovery_state: Some(data.leader_recovery_state),
                        ..PartitionChange::default()
                    };
                    let after = match build_partition_change(
                        image,
                        t.topic_id,
                        data.partition_index,
                        &p,
                        &change,
                    ) {
                        Some(rec) => {
                            let mut after = merged(&p, &rec);
                            records.push(Record::PartitionChange(rec));
                            // SPEC §2.9 stage 3: an ISR that now holds every target replica
                            // completes an ongoing reassignment in the same batch.
                            let name = topic.map(|tp| tp.name.as_str()).unwrap_or_default();
                            if let Some(done) = complete_reassignment(
                                image,
                                name,
                                t.topic_id,
                                data.partition_index,
                                &after,
                            ) {
                                after = merged(&after, &done);
                                records.push(Record::PartitionChange(done));
                            }
                            working.insert(key, after.clone());
                            after
                        }
                        None => p,
                    };
                    // The requester lost leadership to the completed reassignment.
                    let moved = after.leader != req.broker_id;
                    AlterPartitionPartitionResult {
                        partition_index: data.partition_index,
                        error_code: if moved {
                            ErrorCode::NewLeaderElected
                        } else {
                            ErrorCode::None
                        },
                        error_message: moved.then(|| {
                            format!(
                                "The reassignment completed and {} now leads the partition",
                                after.leader
                            )
                        }),
                        leader_id: after.leader,
                        leader_epoch: after.leader_epoch,
                        isr: after.isr,
                        leader_recovery_state: after.leader_recovery_state,
                        partition_epoch: after.partition_epoch,
                    }
                }
            });
        }
        topics.push(AlterPartitionTopicResult {
            topic_id: t.topic_id,
            partitions: results,
        });
    }
    ControllerResult {
        records,
        reply: AlterPartitionReply {
            error_code: ErrorCode::None,
            error_message: None,
            topics,
        },
    }
}

fn error_result(
    partition_index: i32,
    error_code: ErrorCode,
    message: String,
) -> AlterPartitionPartitionResult {
    AlterPartitionPartitionResult {
        partition_index,
        error_code,
        error_message: Some(message),
        leader_id: BrokerId::NO_LEADER,
        leader_epoch: LeaderEpoch(-1),
        isr: Vec::new(),
        leader_recovery_state: LeaderRecoveryState::Recovered,
        partition_epoch: PartitionEpoch(-1),
    }
}

/// Rules 2–8 for one partition.
fn validate(
    image: &MetadataImage,
    requester: BrokerId,
    p: &PartitionRegistration,
    data: &AlterPartitionPartition,
) -> Result<(), (ErrorCode, String)> {
    let invalid = |m: String| Err((ErrorCode::InvalidRequest, m));
    if data.leader_epoch > p.leader_epoch || data.partition_epoch > p.partition_epoch {
        return Err((
            ErrorCode::NotController,
            format!(
                "The request has leader epoch {} and partition epoch {}, newer than the \
                 controller's {} and {}",
                data.leader_epoch, data.partition_epoch, p.leader_epoch, p.partition_epoch
            ),
        ));
    }
    if data.leader_epoch < p.leader_epoch {
        return Err((
            ErrorCode::FencedLeaderEpoch,
            format!(
                "The request leader epoch {} is older than the current leader epoch {}",
                data.leader_epoch, p.leader_epoch
            ),
        ));
    }
    if requester != p.leader {
        return invalid(format!(
            "Broker {requester} is not the leader; the current leader is {}",
            p.leader
        ));
    }
    if data.partition_epoch < p.partition_epoch {
        return Err((
            ErrorCode::InvalidUpdateVersion,
            format!(
                "The request partition epoch {} is older than the current partition epoch {}",
                data.partition_epoch, p.partition_epoch
            ),
        ));
    }
    let isr: Vec<BrokerId> = data
        .new_isr_with_epochs
        .iter()
        .map(|s| s.broker_id)
        .collect();
    for (i, r) in isr.iter().enumerate() {
        if r.0 < 0 {
            return invalid(format!("Invalid ISR: replica id {r} is negative"));
        }
        if isr[..i].contains(r) {
            return invalid(format!("Invalid ISR: replica {r} appears twice"));
        }
        if !p.replicas.contains(r) {
            return invalid(format!(
                "Invalid ISR: replica {r} is not in the replica set"
            ));
        }
    }
    if !isr.contains(&p.leader) {
        return invalid(format!(
            "Invalid ISR: it does not include the leader {}",
            p.leader
        ));
    }
    if data.leader_recovery_state == LeaderRecoveryState::Recovering && isr.len() > 1 {
        return invalid(format!(
            "A partition in RECOVERING state must have an ISR of size 1, not {}",
            isr.len()
        ));
    }
    if p.leader_recovery_state == LeaderRecoveryState::Recovered
        && data.leader_recovery_state == LeaderRecoveryState::Recovering
    {
        return invalid("The leader recovery state cannot go from RECOVERED to RECOVERING".into());
    }
    for s in &data.new_isr_with_epochs {
        let why = match image.broker(s.broker_id) {
            None => Some("is not registered".to_string()),
            Some(b) if b.fenced => Some("is fenced".to_string()),
            Some(b) if b.in_controlled_shutdown => Some("is in controlled shutdown".to_string()),
            Some(b) if s.broker_epoch.0 != -1 && s.broker_epoch != b.broker_epoch => Some(format!(
                "has broker epoch {} in the request but {} in the controller",
                s.broker_epoch, b.broker_epoch
            )),
            Some(_) => None,
        };
        if let Some(why) = why {
            return Err((
                ErrorCode::IneligibleReplica,
                format!("Invalid ISR: replica {} {why}", s.broker_id),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle_testing::{LifecycleTest, ids};

    fn states(v: &[i32]) -> Vec<BrokerState> {
        v.iter()
            .map(|&b| BrokerState {
                broker_id: BrokerId(b),
                broker_epoch: BrokerEpoch(-1),
            })
            .collect()
    }

    /// Brokers 1..=4; 1..=3 unfenced; t-0 replicas [1,2,3], ISR [1,2], leader 1.
    fn setup() -> LifecycleTest {
        let mut t = LifecycleTest::new(1..=4, &[1, 2, 3]);
        t.partition("t", 0, &[1, 2, 3], &[1, 2], 1);
        t
    }

    /// A request from the current leader of t-0 proposing `isr`, at the current epochs.
    fn req(t: &LifecycleTest, isr: &[i32]) -> AlterPartition {
        let topic = t.image().topic("t").unwrap();
        let p = &topic.partitions[&0];
        let leader = t.broker(p.leader.0);
        AlterPartition {
            broker_id: leader.broker_id,
            broker_epoch: leader.broker_epoch,
            topics: vec![AlterPartitionTopic {
                topic_id: topic.topic_id,
                partitions: vec![AlterPartitionPartition {
                    partition_index: 0,
                    leader_epoch: p.leader_epoch,
                    new_isr_with_epochs: states(isr),
                    leader_recovery_state: p.leader_recovery_state,
                    partition_epoch: p.partition_epoch,
                }],
            }],
        }
    }

    fn run(t: &mut LifecycleTest, r: &AlterPartition) -> ControllerResult<AlterPartitionReply> {
        alter_partition(&t.t.image, r, &mut t.t.ctx)
    }

    fn one(r: &ControllerResult<AlterPartitionReply>) -> &AlterPartitionPartitionResult {
        &r.reply.topics[0].partitions[0]
    }

    #[test]
    fn alter_partition_expands_isr_and_replies_with_the_new_state() {
        let mut t = setup();
        let r = {
            let r = req(&t, &[1, 2, 3]);
            run(&mut t, &r)
        };
        let res = one(&r).clone();
        assert_eq!(res.error_code, ErrorCode::None);
        assert_eq!(r.records.len(), 1);
        t.apply(r.records);
        let p = t.image().partition("t", 0).unwrap();
        assert_eq!(
            (
                res.leader_id,
                res.leader_epoch,
                res.isr.clone(),
                res.partition_epoch
            ),
            (p.leader, p.leader_epoch, p.isr.clone(), p.partition_epoch)
        );
        assert_eq!(p.isr, ids(&[1, 2, 3]));
        assert_eq!(p.partition_epoch, PartitionEpoch(1));
        assert_eq!(
            p.leader_epoch,
            LeaderEpoch(0),
            "ISR change alone keeps the leader epoch"
        );
    }

    #[test]
    fn alter_partition_no_op_writes_nothing_and_returns_the_current_state() {
        let mut t = setup();
        let r = {
            let r = req(&t, &[1, 2]);
            run(&mut t, &r)
        };
        assert!(r.records.is_empty());
        assert_eq!(one(&r).error_code, ErrorCode::None);
        assert_eq!(one(&r).isr, ids(&[1, 2]));
        assert_eq!(one(&r).partition_epoch, PartitionEpoch(0));
    }

    #[test]
    fn alter_partition_with_stale_broker_epoch_fails_the_whole_request() {
        let mut t = setup();
        let mut r = req(&t, &[1, 2, 3]);
        r.broker_epoch = BrokerEpoch(0);
        let out = run(&mut t, &r);
        assert_eq!(out.reply.error_code, ErrorCode::StaleBrokerEpoch);
        assert!(out.reply.topics.is_empty() && out.records.is_empty());
    }

    #[test]
    fn alter_partition_validation_order_and_codes() {
        let t = setup();
        let base = req(&t, &[1, 2, 3]);
        type Edit = Box<dyn Fn(&mut AlterPartition)>;
        let cases: Vec<(&str, Edit, ErrorCode)> = vec![
            (
                "unknown topic",
                Box::new(|r| r.topics[0].topic_id = TopicId(uuid::Uuid::from_u128(1))),
                ErrorCode::UnknownTopicId,
            ),
            (
                "unknown partition",
                Box::new(|r| r.topics[0].partitions[0].partition_index = 7),
                ErrorCode::UnknownTopicOrPartition,
            ),
            (
                "newer leader epoch",
                Box::new(|r| r.topics[0].partitions[0].leader_epoch = LeaderEpoch(5)),
                ErrorCode::NotController,
            ),
            (
                "newer partition epoch",
                Box::new(|r| r.topics[0].partitions[0].partition_epoch = PartitionEpoch(5)),
                ErrorCode::NotController,
            ),
            (
                "older leader epoch",
                Box::new(|r| r.topics[0].partitions[0].leader_epoch = LeaderEpoch(-1)),
                ErrorCode::FencedLeaderEpoch,
            ),
            (
                "ISR outside replicas",
                Box::new(|r| r.topics[0].partitions[0].new_isr_with_epochs = states(&[1, 4])),
                ErrorCode::InvalidRequest,
            ),
            (
                "duplicate ISR member",
                Box::new(|r| r.topics[0].partitions[0].new_isr_with_epochs = states(&[1, 2, 2])),
                ErrorCode::InvalidRequest,
            ),
            (
                "ISR without leader",
                Box::new(|r| r.topics[0].partitions[0].new_isr_with_epochs = states(&[2, 3])),
                ErrorCode::InvalidRequest,
            ),
            (
                "RECOVERED to RECOVERING",
                Box::new(|r| {
                    r.topics[0].partitions[0].new_isr_with_epochs = states(&[1]);
                    r.topics[0].partitions[0].leader_recovery_state =
                        LeaderRecoveryState::Recovering;
                }),
                ErrorCode::InvalidRequest,
            ),
            (
                "stale member epoch",
                Box::new(|r| {
                    r.topics[0].partitions[0].new_isr_with_epochs[2].broker_epoch = BrokerEpoch(1)
                }),
                ErrorCode::IneligibleReplica,
            ),
        ];
        for (name, edit, want) in cases {
            let mut r = base.clone();
            edit(&mut r);
            let mut t2 = setup();
            let out = run(&mut t2, &r);
            assert_eq!(
                one(&out).error_code,
                want,
                "{name}: {:?}",
                one(&out).error_message
            );
            assert!(out.records.is_empty(), "{name}");
        }
    }

    #[test]
    fn alter_partition_from_a_non_leader_is_invalid_request() {
        let mut t = setup();
        let mut r = req(&t, &[1, 2]);
        let b2 = t.broker(2);
        r.broker_id = b2.broker_id;
        r.broker_epoch = b2.broker_epoch;
        let out = run(&mut t, &r);
        assert_eq!(one(&out).error_code, ErrorCode::InvalidRequest);
    }

    #[test]
    fn alter_partition_with_stale_partition_epoch_is_invalid_update_version() {
        let mut t = setup();
        let first = req(&t, &[1, 2, 3]);
        let out = run(&mut t, &first);
        t.apply(out.records);
        // Same leader epoch, older partition epoch.
        let out = run(&mut t, &first);
        assert_eq!(one(&out).error_code, ErrorCode::InvalidUpdateVersion);
    }

    #[test]
    fn alter_partition_rejects_fenced_and_shutting_down_members_as_ineligible() {
        let mut t = setup();
        let r = req(&t, &[1, 2, 3]);
        let out = run(&mut t, &r);
        assert_eq!(one(&out).error_code, ErrorCode::None);

        let mut t = LifecycleTest::new(1..=4, &[1, 2]);
        t.partition("t", 0, &[1, 2, 3], &[1, 2], 1);
        let out = {
            let r = req(&t, &[1, 2, 3]);
            run(&mut t, &r)
        };
        assert_eq!(one(&out).error_code, ErrorCode::IneligibleReplica);
        assert!(
            one(&out)
                .error_message
                .as_deref()
                .unwrap()
                .contains("fenced")
        );

        let b2 = t.broker(2);
        t.apply(vec![Record::BrokerRegistrationChange(
            crate::records::BrokerRegistrationChangeRecord {
                broker_id: b2.broker_id,
                broker_epoch: b2.broker_epoch,
                fenced: None,
                in_controlled_shutdown: Some(true),
            },
        )]);
        let out = {
            let r = req(&t, &[1, 2]);
            run(&mut t, &r)
        };
        assert_eq!(one(&out).error_code, ErrorCode::IneligibleReplica);
        assert!(
            one(&out)
                .error_message
                .as_deref()
                .unwrap()
                .contains("controlled shutdown")
        );
    }

    #[test]
    fn alter_partition_recovering_leader_reports_recovered() {
        let mut t = setup();
        let topic_id = t.image().topic("t").unwrap().topic_id;
        let mut rec = crate::records::PartitionChangeRecord::new(topic_id, 0);
        rec.isr = Some(ids(&[1]));
        rec.leader_recovery_state = Some(LeaderRecoveryState::Recovering);
        t.apply(vec![Record::PartitionChange(rec)]);
        // Growing the ISR while RECOVERING is refused.
        let mut r = req(&t, &[1, 2]);
        r.topics[0].partitions[0].leader_recovery_state = LeaderRecoveryState::Recovering;
        assert_eq!(one(&run(&mut t, &r)).error_code, ErrorCode::InvalidRequest);
        // Reporting RECOVERED with ISR [1] is accepted.
        let mut r = req(&t, &[1]);
        r.topics[0].partitions[0].leader_recovery_state = LeaderRecoveryState::Recovered;
        let out = run(&mut t, &r);
        assert_eq!(
            one(&out).leader_recovery_state,
            LeaderRecoveryState::Recovered
        );
        t.apply(out.records);
        assert_eq!(
            t.image().partition("t", 0).unwrap().leader_recovery_state,
            LeaderRecoveryState::Recovered
        );
    }
}
