//! AlterPartitionReassignments / ListPartitionReassignments (Kafka apiKeys 45 / 46,
//! SPEC §2.9).
//!
//! Kraftd writes the same three-stage records as Kafka's
//! `ReplicationControlManager.changePartitionReassignment`: stage 1 sets
//! `replicas = target ++ removing`, `adding = target − current`, `removing = current −
//! target`; stage 3 ([`complete_reassignment`]) sets `replicas = target`, drops the removing
//! replicas from the ISR and clears both lists once the ISR holds every target replica.
//! A pure reordering, or a target already in the ISR, completes at once.

use std::collections::BTreeSet;

use super::ControllerResult;
use super::create_topics::validate_manual_replicas;
use crate::error_code::ErrorCode;
use crate::ids::{BrokerId, TopicId};
use crate::image::{MetadataImage, PartitionRegistration};
use crate::partition_change::{Election, PartitionChange, build_partition_change, topic_election};
use crate::records::{PartitionChangeRecord, Record};

/// One partition to reassign or (with `replicas: None`) whose reassignment to cancel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReassignablePartition {
    /// Partition index.
    pub partition_index: i32,
    /// Target replicas; `None` cancels the ongoing reassignment.
    pub replicas: Option<Vec<BrokerId>>,
}

/// The partitions of one topic to reassign.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReassignableTopic {
    /// Topic name.
    pub name: String,
    /// Partitions.
    pub partitions: Vec<ReassignablePartition>,
}

/// An AlterPartitionReassignments request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlterPartitionReassignments {
    /// Topics, answered in this order.
    pub topics: Vec<ReassignableTopic>,
}

/// The outcome for one partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReassignablePartitionResponse {
    /// Partition index.
    pub partition_index: i32,
    /// `ErrorCode::None` on success.
    pub error_code: ErrorCode,
    /// Names the field and the rule on failure.
    pub error_message: Option<String>,
}

/// The outcomes for one topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReassignableTopicResponse {
    /// Topic name.
    pub name: String,
    /// Per partition, in request order.
    pub partitions: Vec<ReassignablePartitionResponse>,
}

/// The answer to [`AlterPartitionReassignments`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlterPartitionReassignmentsReply {
    /// Per topic, in request order.
    pub responses: Vec<ReassignableTopicResponse>,
}

/// One reassignment in progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OngoingPartitionReassignment {
    /// Partition index.
    pub partition_index: i32,
    /// Current replicas (target ∪ removing).
    pub replicas: Vec<BrokerId>,
    /// Replicas being added.
    pub adding_replicas: Vec<BrokerId>,
    /// Replicas being removed.
    pub removing_replicas: Vec<BrokerId>,
}

/// The reassignments in progress of one topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OngoingTopicReassignment {
    /// Topic name.
    pub name: String,
    /// Partitions with a reassignment in progress, by index.
    pub partitions: Vec<OngoingPartitionReassignment>,
}

type PartitionError = (ErrorCode, String);

/// Handle AlterPartitionReassignments. Per partition (a failure adds no record):
/// * unknown topic or partition, or the partition twice in the request →
///   `UNKNOWN_TOPIC_OR_PARTITION` / `INVALID_REQUEST`;
/// * target: empty, a broker twice or an unregistered broker → `INVALID_REPLICA_ASSIGNMENT`;
/// * cancel with none in progress → `NO_REASSIGNMENT_IN_PROGRESS`; a cancel that leaves no
///   ISR member while unclean election is disabled → `INVALID_REPLICA_ASSIGNMENT`.
///
/// Records: at most one `PartitionChange` per partition, guarded by its partition epoch;
/// a new leader is elected (topic's election rule) when the current one leaves the ISR.
pub fn alter_partition_reassignments(
    image: &MetadataImage,
    req: &AlterPartitionReassignments,
) -> ControllerResult<AlterPartitionReassignmentsReply> {
    let mut seen: BTreeSet<(&str, i32)> = BTreeSet::new();
    let mut records = Vec::new();
    let mut responses = Vec::with_capacity(req.topics.len());
    for t in &req.topics {
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for rp in &t.partitions {
            let outcome = if seen.insert((t.name.as_str(), rp.partition_index)) {
                reassign(image, &t.name, rp)
            } else {
                Err((
                    ErrorCode::InvalidRequest,
                    format!(
                        "Partition {}-{} appears more than once in the request.",
                        t.name, rp.partition_index
                    ),
                ))
            };
            let (error_code, error_message) = match outcome {
                Ok(rec) => {
                    records.extend(rec.map(Record::PartitionChange));
                    (ErrorCode::None, None)
                }
                Err((code, msg)) => (code, Some(msg)),
            };
            partitions.push(ReassignablePartitionResponse {
                partition_index: rp.partition_index,
                error_code,
                error_message,
            });
        }
        responses.push(ReassignableTopicResponse {
            name: t.name.clone(),
            partitions,
        });
    }
    ControllerResult {
        records,
        reply: AlterPartitionReassignmentsReply { responses },
    }
}

/// Handle ListPartitionReassignments: the partitions with a reassignment in progress, of
/// the named topics and partitions (`None` = all topics). Unknown names are left out.
pub fn list_partition_reassignments(
    image: &MetadataImage,
    topics: Option<&[(String, Vec<i32>)]>,
) -> Vec<OngoingTopicReassignment> {
    let ongoing = |index: i32, p: &PartitionRegistration| {
        (!p.adding_replicas.is_empty() || !p.removing_replicas.is_empty()).then(|| {
            OngoingPartitionReassignment {
                partition_index: index,
                replicas: p.replicas.clone(),
                adding_replicas: p.adding_replicas.clone(),
                removing_replicas: p.removing_replicas.clone(),
            }
        })
    };
    let wanted: Vec<(String, Option<Vec<i32>>)> = match topics {
        Some(ts) => ts
            .iter()
            .map(|(n, ps)| (n.clone(), Some(ps.clone())))
            .collect(),
        None => image
            .topics()
            .names()
            .map(|n| (n.to_string(), None))
            .collect(),
    };
    wanted
        .into_iter()
        .filter_map(|(name, indices)| {
            let topic = image.topic(&name)?;
            let partitions: Vec<_> = match indices {
                Some(ix) => ix
                    .iter()
                    .filter_map(|i| topic.partitions.get(i).and_then(|p| ongoing(*i, p)))
                    .collect(),
                None => topic
                    .partitions
                    .iter()
                    .filter_map(|(i, p)| ongoing(*i, p))
                    .collect(),
            };
            (!partitions.is_empty()).then_some(OngoingTopicReassignment { name, partitions })
        })
        .collect()
}

/// Stage 3: if a reassignment of `p` is in progress and the ISR holds every target replica,
/// the record that completes it (replicas = target, ISR − removing, lists cleared, leader
/// re-elected if removed). For AlterPartition: call with the partition state *after* the
/// ISR change (its `partition_epoch` is what the record's guard expects).
pub fn complete_reassignment(
    image: &MetadataImage,
    topic_name: &str,
    topic_id: TopicId,
    partition_id: i32,
    p: &PartitionRegistration,
) -> Option<PartitionChangeRecord> {
    if p.adding_replicas.is_empty() && p.removing_replicas.is_empty() {
        return None;
    }
    let target: Vec<BrokerId> = p
        .replicas
        .iter()
        .copied()
        .filter(|r| !p.removing_replicas.contains(r))
        .collect();
    if !target.iter().all(|r| p.isr.contains(r)) {
        return None;
    }
    let isr: Vec<BrokerId> = p
        .isr
        .iter()
        .copied()
        .filter(|r| target.contains(r))
        .collect();
    Some(change_with_replicas(
        image,
        topic_name,
        topic_id,
        partition_id,
        p,
        target,
        isr,
        Vec::new(),
        Vec::new(),
    ))
}

fn reassign(
    image: &MetadataImage,
    name: &str,
    rp: &ReassignablePartition,
) -> Result<Option<PartitionChangeRecord>, PartitionError> {
    let unknown = || {
        (
            ErrorCode::UnknownTopicOrPartition,
            format!("Partition {name}-{} does not exist.", rp.partition_index),
        )
    };
    let topic = image.topic(name).ok_or_else(unknown)?;
    let p = topic
        .partitions
        .get(&rp.partition_index)
        .ok_or_else(unknown)?;
    let in_progress = !p.adding_replicas.is_empty() || !p.removing_replicas.is_empty();
    let original: Vec<BrokerId> = p
        .replicas
        .iter()
        .copied()
        .filter(|r| !p.adding_replicas.contains(r))
        .collect();
    let tid = topic.topic_id;
    let index = rp.partition_index;
    let Some(target) = &rp.replicas else {
        if !in_progress {
            return Err((
                ErrorCode::NoReassignmentInProgress,
                format!("No reassignment is in progress for partition {name}-{index}."),
            ));
        }
        let isr: Vec<BrokerId> = p
            .isr
            .iter()
            .copied()
            .filter(|r| original.contains(r))
            .collect();
        if isr.is_empty() && topic_election(image, name) != Election::Unclean {
            return Err((
                ErrorCode::InvalidReplicaAssignment,
                format!(
                    "Unable to revert partition assignment for {name}:{index} because it would \
                     require an unclean leader election."
                ),
            ));
        }
        return Ok(Some(change_with_replicas(
            image,
            name,
            tid,
            index,
            p,
            original,
            isr,
            Vec::new(),
            Vec::new(),
        )));
    };
    validate_manual_replicas(image, target, None)
        .map_err(|m| (ErrorCode::InvalidReplicaAssignment, m))?;
    let removing: Vec<BrokerId> = original
        .iter()
        .copied()
        .filter(|r| !target.contains(r))
        .collect();
    let adding: Vec<BrokerId> = target
        .iter()
        .copied()
        .filter(|r| !original.contains(r))
        .collect();
    if !in_progress && adding.is_empty() && removing.is_empty() && *target == p.replicas {
        return Ok(None);
    }
    let mut replicas = target.clone();
    replicas.extend(removing.iter().copied());
    let isr: Vec<BrokerId> = p
        .isr
        .iter()
        .copied()
        .filter(|r| replicas.contains(r))
        .collect();
    if adding.is_empty() && removing.is_empty() || target.iter().all(|r| isr.contains(r)) {
        // Reordering, or the target is already in sync: complete at once.
        let isr = isr.into_iter().filter(|r| target.contains(r)).collect();
        return Ok(Some(change_with_replicas(
            image,
            name,
            tid,
            index,
            p,
            target.clone(),
            isr,
            Vec::new(),
            Vec::new(),
        )));
    }
    Ok(Some(change_with_replicas(
        image, name, tid, index, p, replicas, isr, adding, removing,
    )))
}

/// A change of `p` to these replicas, ISR and reassignment lists, with a leader elected
/// over the new replica order by the topic's rule.
#[allow(clippy::too_many_arguments)]
fn change_with_replicas(
    image: &MetadataImage,
    topic_name: &str,
    topic_id: TopicId,
    partition_id: i32,
    p: &PartitionRegistration,
    replicas: Vec<BrokerId>,
    isr: Vec<BrokerId>,
    adding: Vec<BrokerId>,
    removing: Vec<BrokerId>,
) -> PartitionChangeRecord {
    let virtual_state = PartitionRegistration {
        replicas: replicas.clone(),
        ..p.clone()
    };
    let change = PartitionChange {
        target_isr: Some(isr),
        election: topic_election(image, topic_name),
        ..PartitionChange::default()
    };
    let mut rec = build_partition_change(image, topic_id, partition_id, &virtual_state, &change)
        .unwrap_or_else(|| PartitionChangeRecord::new(topic_id, partition_id));
    rec.expected_partition_epoch = Some(p.partition_epoch);
    if replicas != p.replicas {
        rec.replicas = Some(replicas);
    }
    if adding != p.adding_replicas {
        rec.adding_replicas = Some(adding);
    }
    if removing != p.removing_replicas {
        rec.removing_replicas = Some(removing);
    }
    rec
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::create_topics_with_assignments;
    use crate::handlers::{CreatableReplicaAssignment, create_topics};
    use crate::testing::{TestImage, create_req};
    use std::collections::BTreeMap;

    fn ids(v: &[i32]) -> Vec<BrokerId> {
        v.iter().copied().map(BrokerId).collect()
    }

    /// Brokers 1..=4 unfenced, topic "t" with one partition on `replicas`.
    fn with_partition(replicas: &[i32]) -> TestImage {
        let mut t = TestImage::new().brokers(1..=4).unfenced(1..=4);
        let a = BTreeMap::from([(
            "t".to_string(),
            vec![CreatableReplicaAssignment {
                partition_index: 0,
                broker_ids: ids(replicas),
            }],
        )]);
        let r = create_topics_with_assignments(&t.image, &create_req("t", -1, -1), &a, &mut t.ctx);
        assert_eq!(r.reply.topics[0].error_code, ErrorCode::None);
        t.apply_all(&r.records);
        t
    }

    fn req(target: Option<&[i32]>) -> AlterPartitionReassignments {
        AlterPartitionReassignments {
            topics: vec![ReassignableTopic {
                name: "t".into(),
                partitions: vec![ReassignablePartition {
                    partition_index: 0,
                    replicas: target.map(ids),
                }],
            }],
        }
    }

    fn code(r: &ControllerResult<AlterPartitionReassignmentsReply>) -> ErrorCode {
        r.reply.responses[0].partitions[0].error_code
    }

    #[test]
    fn reassignment_starts_with_adding_and_removing_replicas() {
        let mut t = with_partition(&[1, 2]);
        let r = alter_partition_reassignments(&t.image, &req(Some(&[2, 3])));
        assert_eq!(code(&r), ErrorCode::None);
        t.apply_all(&r.records);
        let p = t.image.partition("t", 0).unwrap();
        assert_eq!(p.replicas, ids(&[2, 3, 1]));
        assert_eq!(p.adding_replicas, ids(&[3]));
        assert_eq!(p.removing_replicas, ids(&[1]));
        assert_eq!(p.isr, ids(&[1, 2]));
        let listed = list_partition_reassignments(&t.image, None);
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].partitions[0].adding_replicas, ids(&[3]));
    }

    #[test]
    fn reassignment_completes_once_the_isr_holds_the_target() {
        let mut t = with_partition(&[1, 2]);
        let r = alter_partition_reassignments(&t.image, &req(Some(&[2, 3])));
        t.apply_all(&r.records);
        // The ISR grows to include 3 (AlterPartition would write this).
        let (tid, epoch) = {
            let topic = t.image.topic("t").unwrap();
            (topic.topic_id, topic.partitions[&0].partition_epoch)
        };
        let mut grow = PartitionChangeRecord::new(tid, 0);
        grow.expected_partition_epoch = Some(epoch);
        grow.isr = Some(ids(&[1, 2, 3]));
        t.apply_all(&[Record::PartitionChange(grow)]);
        let p = t.image.partition("t", 0).unwrap().clone();
        let rec = complete_reassignment(&t.image, "t", tid, 0, &p).expect("completes");
        t.apply_all(&[Record::PartitionChange(rec)]);
        let p = t.image.partition("t", 0).unwrap();
        assert_eq!(p.replicas, ids(&[2, 3]));
        assert_eq!(p.isr, ids(&[2, 3]));
        assert!(p.adding_replicas.is_empty() && p.removing_replicas.is_empty());
        assert!(p.replicas.contains(&p.leader), "{p:?}");
        assert!(list_partition_reassignments(&t.image, None).is_empty());
    }

    #[test]
    fn reassignment_pure_reorder_completes_immediately() {
        let mut t = with_partition(&[1, 2, 3]);
        let r = alter_partition_reassignments(&t.image, &req(Some(&[3, 2, 1])));
        assert_eq!(code(&r), ErrorCode::None);
        t.apply_all(&r.records);
        let p = t.image.partition("t", 0).unwrap();
        assert_eq!(p.replicas, ids(&[3, 2, 1]));
        assert!(p.adding_replicas.is_empty());
    }

    #[test]
    fn alter_partition_that_fills_the_target_completes_the_reassignment() {
        use crate::handlers::{
            AlterPartition, AlterPartitionPartition, AlterPartitionTopic, BrokerState,
            alter_partition,
        };
        let mut t = with_partition(&[1, 2]);
        // Move the partition off its leader (1) onto 2 and 3.
        let r = alter_partition_reassignments(&t.image, &req(Some(&[2, 3])));
        t.apply_all(&r.records);
        let topic = t.image.topic("t").unwrap();
        let (tid, p) = (topic.topic_id, topic.partitions[&0].clone());
        assert_eq!(p.leader, BrokerId(1));
        let epoch = |b: i32| t.image.broker(BrokerId(b)).unwrap().broker_epoch;
        // The leader reports that 3 caught up: ISR {1,2,3} holds the target {2,3}.
        let ap = AlterPartition {
            broker_id: BrokerId(1),
            broker_epoch: epoch(1),
            topics: vec![AlterPartitionTopic {
                topic_id: tid,
                partitions: vec![AlterPartitionPartition {
                    partition_index: 0,
                    leader_epoch: p.leader_epoch,
                    new_isr_with_epochs: [1, 2, 3]
                        .iter()
                        .map(|b| BrokerState {
                            broker_id: BrokerId(*b),
                            broker_epoch: epoch(*b),
                        })
                        .collect(),
                    leader_recovery_state: p.leader_recovery_state,
                    partition_epoch: p.partition_epoch,
                }],
            }],
        };
        let r = alter_partition(&t.image, &ap, &mut t.ctx);
        let res = &r.reply.topics[0].partitions[0];
        assert_eq!(
            r.records.len(),
            2,
            "ISR change, then completion: {:?}",
            r.records
        );
        assert_eq!(res.error_code, ErrorCode::NewLeaderElected, "{res:?}");
        t.apply_all(&r.records);
        let after = t.image.partition("t", 0).unwrap();
        assert_eq!(
            (after.replicas.clone(), after.isr.clone()),
            (ids(&[2, 3]), ids(&[2, 3]))
        );
        assert_eq!(after.leader, res.leader_id);
        assert!(after.adding_replicas.is_empty() && after.removing_replicas.is_empty());
        assert!(list_partition_reassignments(&t.image, None).is_empty());
    }

    #[test]
    fn reassignment_removing_the_leader_elects_a_new_one() {
        let mut t = with_partition(&[1, 2]);
        let r = alter_partition_reassignments(&t.image, &req(Some(&[2])));
        t.apply_all(&r.records);
        let p = t.image.partition("t", 0).unwrap();
        assert_eq!(
            (p.replicas.clone(), p.isr.clone(), p.leader),
            (ids(&[2]), ids(&[2]), BrokerId(2))
        );
        assert_eq!(p.leader_epoch.0, 1);
    }

    #[test]
    fn reassignment_cancel_reverts_to_the_original_replicas() {
        let mut t = with_partition(&[1, 2]);
        let r = alter_partition_reassignments(&t.image, &req(Some(&[3, 4])));
        t.apply_all(&r.records);
        let r = alter_partition_reassignments(&t.image, &req(None));
        assert_eq!(code(&r), ErrorCode::None);
        t.apply_all(&r.records);
        let p = t.image.partition("t", 0).unwrap();
        assert_eq!(p.replicas, ids(&[1, 2]));
        assert!(p.adding_replicas.is_empty() && p.removing_replicas.is_empty());
    }

    #[test]
    fn reassignment_cancel_without_one_in_progress_is_rejected() {
        let t = with_partition(&[1, 2]);
        let r = alter_partition_reassignments(&t.image, &req(None));
        assert_eq!(code(&r), ErrorCode::NoReassignmentInProgress);
        assert!(r.records.is_empty());
    }

    #[test]
    fn reassignment_rejects_invalid_targets_and_unknown_partitions() {
        let t = with_partition(&[1, 2]);
        for target in [&[][..], &[1, 1][..], &[1, 9][..]] {
            let r = alter_partition_reassignments(&t.image, &req(Some(target)));
            assert_eq!(code(&r), ErrorCode::InvalidReplicaAssignment, "{target:?}");
            assert!(r.records.is_empty());
        }
        let mut unknown = req(Some(&[1]));
        unknown.topics[0].name = "nope".into();
        let r = alter_partition_reassignments(&t.image, &unknown);
        assert_eq!(code(&r), ErrorCode::UnknownTopicOrPartition);
    }

    #[test]
    fn reassignment_same_replicas_writes_nothing() {
        let mut t = TestImage::new().brokers(1..=2).unfenced(1..=2);
        let r = create_topics(&t.image, &create_req("t", 1, 2), &mut t.ctx);
        t.apply_all(&r.records);
        let current: Vec<i32> = t
            .image
            .partition("t", 0)
            .unwrap()
            .replicas
            .iter()
            .map(|b| b.0)
            .collect();
        let r = alter_partition_reassignments(&t.image, &req(Some(&current)));
        assert_eq!(code(&r), ErrorCode::None);
        assert!(r.records.is_empty());
    }
}
