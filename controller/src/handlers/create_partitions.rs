//! CreatePartitions (Kafka apiKey 37, SPEC §2.6): add partitions to existing topics.

use std::collections::BTreeMap;

use super::ControllerResult;
use super::create_topics::{
    MAX_RECORDS_PER_USER_OP, TopicError, active_replicas, new_partition, place_partitions,
    usable_brokers, validate_manual_replicas,
};
use crate::ctx::Ctx;
use crate::error_code::ErrorCode;
use crate::ids::BrokerId;
use crate::image::{MetadataImage, TopicImage};
use crate::records::Record;

/// One topic to grow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatePartitionsTopic {
    /// Topic name.
    pub name: String,
    /// The new total partition count.
    pub count: i32,
    /// Replicas of each added partition, in index order; `None` = place automatically.
    pub assignments: Option<Vec<Vec<BrokerId>>>,
}

/// A CreatePartitions request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatePartitions {
    /// Topics, answered in this order.
    pub topics: Vec<CreatePartitionsTopic>,
    /// Check everything, write nothing.
    pub validate_only: bool,
}

/// The outcome for one topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatePartitionsTopicResult {
    /// Topic name, as requested.
    pub name: String,
    /// `ErrorCode::None` on success.
    pub error_code: ErrorCode,
    /// Names the field and the rule on failure.
    pub error_message: Option<String>,
}

/// The answer to [`CreatePartitions`]: one result per requested topic, in request order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatePartitionsReply {
    /// Per-topic results.
    pub results: Vec<CreatePartitionsTopicResult>,
}

/// Handle CreatePartitions (Kafka `ReplicationControlManager.createPartitions`).
///
/// Per topic, in order (a failure adds no records for that topic):
/// 1. name repeated in the request → `INVALID_REQUEST` "Duplicate topic name." (each copy);
/// 2. unknown topic → `UNKNOWN_TOPIC_OR_PARTITION`;
/// 3. `count == current` → `INVALID_PARTITIONS` "Topic already has N partition(s).";
///    `count < current` → `INVALID_PARTITIONS` "The topic X currently has N partition(s); M
///    would not be an increase.";
/// 4. assignments given: their number ≠ added partitions, or one breaks the manual rules of
///    CreateTopics with the topic's replication factor → `INVALID_REPLICA_ASSIGNMENT`;
/// 5. otherwise striped placement (§4.8) with the topic's replication factor (the target
///    replica count of partition 0) → `INVALID_REPLICATION_FACTOR` if it fails.
///
/// Records: one `Partition` per added index (ISR = active replicas, leader = `isr[0]`, epochs
/// 0). More than [`MAX_RECORDS_PER_USER_OP`] records fails the whole request with
/// `POLICY_VIOLATION`. `validate_only` runs every check and writes nothing.
pub fn create_partitions(
    image: &MetadataImage,
    req: &CreatePartitions,
    ctx: &mut Ctx,
) -> ControllerResult<CreatePartitionsReply> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for t in &req.topics {
        *counts.entry(t.name.as_str()).or_default() += 1;
    }
    let usable = usable_brokers(image);
    let mut records = Vec::new();
    let mut results = Vec::with_capacity(req.topics.len());
    // Partitions added by the topics before this one (max_partitions_per_request).
    let mut new_partitions: u64 = 0;
    for t in &req.topics {
        let outcome = if counts.get(t.name.as_str()).copied().unwrap_or(0) > 1 {
            Err((
                ErrorCode::InvalidRequest,
                "Duplicate topic name.".to_string(),
            ))
        } else {
            plan(image, t, &usable, new_partitions, ctx)
        };
        match outcome {
            Ok(new_records) => {
                if records.len() + new_records.len() > MAX_RECORDS_PER_USER_OP {
                    let results = req
                        .topics
                        .iter()
                        .map(|t| {
                            result(
                                t,
                                Err((
                                    ErrorCode::PolicyViolation,
                                    "Unable to perform excessively large batch operation."
                                        .to_string(),
                                )),
                            )
                        })
                        .collect();
                    return ControllerResult::reply_only(CreatePartitionsReply { results });
                }
                new_partitions += u64::try_from(new_records.len()).unwrap_or(u64::MAX);
                if !req.validate_only {
                    records.extend(new_records);
                }
                results.push(result(t, Ok(())));
            }
            Err(e) => results.push(result(t, Err(e))),
        }
    }
    ControllerResult {
        records,
        reply: CreatePartitionsReply { results },
    }
}

fn result(
    t: &CreatePartitionsTopic,
    outcome: Result<(), TopicError>,
) -> CreatePartitionsTopicResult {
    let (error_code, error_message) = match outcome {
        Ok(()) => (ErrorCode::None, None),
        Err((code, msg)) => (code, Some(msg)),
    };
    CreatePartitionsTopicResult {
        name: t.name.clone(),
        error_code,
        error_message,
    }
}

/// The topic's replication factor: partition 0's target replicas (a reassignment's
/// removing replicas do not count).
fn replication_factor(topic: &TopicImage) -> usize {
    topic
        .partitions
        .values()
        .next()
        .map(|p| p.replicas.len().saturating_sub(p.removing_replicas.len()))
        .unwrap_or(1)
        .max(1)
}

fn plan(
    image: &MetadataImage,
    t: &CreatePartitionsTopic,
    usable: &[crate::placement::UsableBroker],
    partitions_so_far: u64,
    ctx: &mut Ctx,
) -> Result<Vec<Record>, TopicError> {
    let name = &t.name;
    let Some(topic) = image.topic(name) else {
        return Err((
            ErrorCode::UnknownTopicOrPartition,
            format!("The topic '{name}' does not exist."),
        ));
    };
    let current = topic.partitions.len();
    let current_i32 = i32::try_from(current).unwrap_or(i32::MAX);
    if t.count == current_i32 {
        return Err((
            ErrorCode::InvalidPartitions,
            format!("Topic already has {current} partition(s)."),
        ));
    }
    if t.count < current_i32 {
        return Err((
            ErrorCode::InvalidPartitions,
            format!(
                "The topic {name} currently has {current} partition(s); {} would not be an \
                 increase.",
                t.count
            ),
        ));
    }
    let added = usize::try_from(t.count).unwrap_or(usize::MAX) - current;
    if u64::try_from(t.count).unwrap_or(u64::MAX) > u64::from(ctx.limits().max_partitions_per_topic)
    {
        return Err((
            ErrorCode::InvalidPartitions,
            format!(
                "Number of partitions {} exceeds the limit of {} per topic \
                 (max_partitions_per_topic).",
                t.count,
                ctx.limits().max_partitions_per_topic
            ),
        ));
    }
    super::create_topics::check_partition_limits(
        ctx.limits(),
        u64::try_from(added).unwrap_or(u64::MAX),
        partitions_so_far,
    )?;
    if added > MAX_RECORDS_PER_USER_OP {
        return Err((
            ErrorCode::PolicyViolation,
            "Unable to perform excessively large batch operation.".to_string(),
        ));
    }
    let rf = replication_factor(topic);
    let assignments = match &t.assignments {
        Some(manual) => {
            if manual.len() != added {
                return Err((
                    ErrorCode::InvalidReplicaAssignment,
                    format!(
                        "Attempted to add {added} additional partition(s), but only {} \
                         assignment(s) were specified.",
                        manual.len()
                    ),
                ));
            }
            for (offset, replicas) in manual.iter().enumerate() {
                validate_manual_replicas(image, replicas, Some(rf))
                    .map_err(|m| (ErrorCode::InvalidReplicaAssignment, m))?;
                if active_replicas(image, replicas).is_empty() {
                    return Err((
                        ErrorCode::InvalidReplicaAssignment,
                        format!(
                            "All brokers specified in the manual partition assignment for \
                             partition {} are fenced or in controlled shutdown.",
                            current + offset
                        ),
                    ));
                }
            }
            manual.clone()
        }
        None => place_partitions(image, usable, name, current, added, rf, ctx)?,
    };
    Ok((current_i32..)
        .zip(&assignments)
        .map(|(index, replicas)| {
            Record::Partition(new_partition(image, topic.topic_id, index, replicas))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::create_topics;
    use crate::records::BrokerRegistrationChangeRecord;
    use crate::testing::{TestImage, create_req};

    fn grow(name: &str, count: i32, assignments: Option<Vec<Vec<i32>>>) -> CreatePartitions {
        CreatePartitions {
            topics: vec![CreatePartitionsTopic {
                name: name.into(),
                count,
                assignments: assignments.map(|a| {
                    a.into_iter()
                        .map(|r| r.into_iter().map(BrokerId).collect())
                        .collect()
                }),
            }],
            validate_only: false,
        }
    }

    /// Three unfenced brokers and topic "t" with `partitions` partitions of RF `rf`.
    fn with_topic(partitions: i32, rf: i16) -> TestImage {
        let mut t = TestImage::new().brokers(1..=3).unfenced(1..=3);
        let r = create_topics(&t.image, &create_req("t", partitions, rf), &mut t.ctx);
        t.apply_all(&r.records);
        t
    }

    fn assert_rejected(
        r: &ControllerResult<CreatePartitionsReply>,
        code: ErrorCode,
        fragment: &str,
    ) {
        let res = &r.reply.results[0];
        assert_eq!(res.error_code, code, "{res:?}");
        let msg = res.error_message.as_deref().unwrap_or_default();
        assert!(msg.contains(fragment), "message {msg:?} lacks {fragment:?}");
        assert!(r.records.is_empty(), "{:?}", r.records);
    }

    #[test]
    fn create_partitions_adds_partitions_with_the_topics_replication_factor() {
        let mut t = with_topic(2, 2);
        let r = create_partitions(&t.image, &grow("t", 5, None), &mut t.ctx);
        assert_eq!(r.reply.results[0].error_code, ErrorCode::None);
        assert_eq!(r.records.len(), 3);
        assert!(r.records.iter().all(|r| matches!(r, Record::Partition(_))));
        t.apply_all(&r.records);
        for i in 0..5 {
            let p = t.image.partition("t", i).unwrap();
            assert_eq!(p.replicas.len(), 2);
            assert_eq!(p.isr, p.replicas);
            assert_eq!(p.leader, p.replicas[0]);
            assert_eq!((p.leader_epoch.0, p.partition_epoch.0), (0, 0));
        }
    }

    #[test]
    fn create_partitions_rejects_same_count() {
        let mut t = with_topic(2, 1);
        let r = create_partitions(&t.image, &grow("t", 2, None), &mut t.ctx);
        assert_rejected(
            &r,
            ErrorCode::InvalidPartitions,
            "Topic already has 2 partition(s).",
        );
    }

    #[test]
    fn create_partitions_rejects_decrease() {
        let mut t = with_topic(3, 1);
        let r = create_partitions(&t.image, &grow("t", 1, None), &mut t.ctx);
        assert_rejected(
            &r,
            ErrorCode::InvalidPartitions,
            "The topic t currently has 3 partition(s); 1 would not be an increase.",
        );
    }

    #[test]
    fn create_partitions_rejects_unknown_topic() {
        let mut t = with_topic(1, 1);
        let r = create_partitions(&t.image, &grow("nope", 2, None), &mut t.ctx);
        assert_rejected(&r, ErrorCode::UnknownTopicOrPartition, "nope");
    }

    #[test]
    fn create_partitions_rejects_duplicate_topic_names() {
        let mut t = with_topic(1, 1);
        let mut req = grow("t", 2, None);
        req.topics.push(req.topics[0].clone());
        let r = create_partitions(&t.image, &req, &mut t.ctx);
        assert!(r.records.is_empty());
        for res in &r.reply.results {
            assert_eq!(res.error_code, ErrorCode::InvalidRequest);
            assert_eq!(res.error_message.as_deref(), Some("Duplicate topic name."));
        }
    }

    #[test]
    fn create_partitions_uses_manual_assignments() {
        let mut t = with_topic(1, 2);
        let r = create_partitions(
            &t.image,
            &grow("t", 3, Some(vec![vec![3, 1], vec![2, 3]])),
            &mut t.ctx,
        );
        assert_eq!(r.reply.results[0].error_code, ErrorCode::None);
        t.apply_all(&r.records);
        assert_eq!(
            t.image.partition("t", 1).unwrap().replicas,
            vec![BrokerId(3), BrokerId(1)]
        );
        assert_eq!(t.image.partition("t", 2).unwrap().leader, BrokerId(2));
    }

    #[test]
    fn create_partitions_rejects_bad_manual_assignments() {
        let cases: [(Vec<Vec<i32>>, &str); 5] = [
            (
                vec![vec![1]],
                "Attempted to add 2 additional partition(s), but only 1",
            ),
            (vec![vec![1, 2], vec![]], "empty replica list"),
            (vec![vec![1, 1], vec![1, 2]], "the broker 1 more than once"),
            (
                vec![vec![1, 9], vec![1, 2]],
                "broker 9, but no such broker is registered",
            ),
            (vec![vec![1, 2, 3], vec![1, 2]], "with 3 replica(s)"),
        ];
        for (assignments, fragment) in cases {
            let mut t = with_topic(1, 2);
            let r = create_partitions(&t.image, &grow("t", 3, Some(assignments)), &mut t.ctx);
            assert_rejected(&r, ErrorCode::InvalidReplicaAssignment, fragment);
        }
    }

    #[test]
    fn create_partitions_rejects_assignment_with_only_fenced_replicas() {
        let mut t = with_topic(1, 1);
        let b = t.image.broker(BrokerId(3)).unwrap().clone();
        t.apply_all(&[Record::BrokerRegistrationChange(
            BrokerRegistrationChangeRecord {
                broker_id: b.broker_id,
                broker_epoch: b.broker_epoch,
                fenced: Some(true),
                in_controlled_shutdown: None,
            },
        )]);
        let r = create_partitions(&t.image, &grow("t", 2, Some(vec![vec![3]])), &mut t.ctx);
        assert_rejected(
            &r,
            ErrorCode::InvalidReplicaAssignment,
            "partition 1 are fenced",
        );
    }

    #[test]
    fn create_partitions_validate_only_writes_nothing() {
        let mut t = with_topic(1, 1);
        let mut req = grow("t", 4, None);
        req.validate_only = true;
        let r = create_partitions(&t.image, &req, &mut t.ctx);
        assert_eq!(r.reply.results[0].error_code, ErrorCode::None);
        assert!(r.records.is_empty());
    }

    #[test]
    fn create_partitions_failing_topic_does_not_block_others() {
        let mut t = with_topic(1, 1);
        let mut req = grow("t", 2, None);
        req.topics
            .insert(0, grow("nope", 2, None).topics[0].clone());
        let r = create_partitions(&t.image, &req, &mut t.ctx);
        assert_eq!(
            r.reply.results[0].error_code,
            ErrorCode::UnknownTopicOrPartition
        );
        assert_eq!(r.reply.results[1].error_code, ErrorCode::None);
        assert_eq!(r.records.len(), 1);
        t.apply_all(&r.records);
    }

    #[test]
    fn create_partitions_rejects_counts_over_the_limits() {
        let mut t = with_topic(1, 1);
        let r = create_partitions(&t.image, &grow("t", 20_000, None), &mut t.ctx);
        assert_rejected(&r, ErrorCode::InvalidPartitions, "max_partitions_per_topic");
        // Within the per-topic limit but over the per-request one.
        t.ctx = t.ctx.clone().with_limits(crate::Limits {
            max_partitions_per_request: 10,
            ..crate::Limits::default()
        });
        let r = create_partitions(&t.image, &grow("t", 12, None), &mut t.ctx);
        assert_rejected(&r, ErrorCode::PolicyViolation, "max_partitions_per_request");
        let r = create_partitions(&t.image, &grow("t", 11, None), &mut t.ctx);
        assert_eq!(r.reply.results[0].error_code, ErrorCode::None);
    }
}
