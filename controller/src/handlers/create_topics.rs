//! CreateTopics (Kafka apiKey 19, SPEC §2.5).

use std::collections::{BTreeMap, BTreeSet};

use super::ControllerResult;
use crate::ctx::Ctx;
use crate::error_code::ErrorCode;
use crate::ids::{BrokerId, LeaderEpoch, PartitionEpoch, TopicId};
use crate::image::MetadataImage;
use crate::placement::{self, UsableBroker};
use crate::records::{
    ConfigRecord, ConfigResourceType, LeaderRecoveryState, PartitionRecord, Record, TopicRecord,
};
use crate::{topic_config, topic_name};

/// Kafka's `MAX_RECORDS_PER_USER_OP` (QuorumController.java): a request that would write
/// more records fails whole with `POLICY_VIOLATION`.
pub const MAX_RECORDS_PER_USER_OP: usize = 10_000;

/// `num.partitions` default, used when a topic asks for -1 and the cluster default broker
/// config does not set it.
const DEFAULT_NUM_PARTITIONS: i32 = 1;
/// `default.replication.factor` default, used when a topic asks for -1 and the cluster
/// default broker config does not set it.
const DEFAULT_REPLICATION_FACTOR: i16 = 1;

/// A manual replica assignment for one partition of a new topic (Kafka
/// `CreatableReplicaAssignment`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatableReplicaAssignment {
    /// Partition index; the indices of a topic must be 0, 1, ... without gaps.
    pub partition_index: i32,
    /// Replicas in preference order.
    pub broker_ids: Vec<BrokerId>,
}

/// One topic to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatableTopic {
    /// Topic name (SPEC §4.9 rules).
    pub name: String,
    /// Partition count; -1 = the cluster default `num.partitions` (else 1).
    pub num_partitions: i32,
    /// Replication factor; -1 = the cluster default `default.replication.factor` (else 1).
    pub replication_factor: i16,
    /// Topic configs, in request order; a repeated key keeps the last value, as in Kafka.
    pub configs: Vec<(String, Option<String>)>,
}

/// A CreateTopics request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateTopics {
    /// Topics, answered in this order.
    pub topics: Vec<CreatableTopic>,
    /// Check everything, write nothing.
    pub validate_only: bool,
}

/// The outcome for one topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatableTopicResult {
    /// Topic name, as requested.
    pub name: String,
    /// `ErrorCode::None` on success.
    pub error_code: ErrorCode,
    /// Names the field and the rule on failure.
    pub error_message: Option<String>,
    /// The new topic's id; `None` on failure or with `validate_only`.
    pub topic_id: Option<TopicId>,
    /// Resolved partition count; -1 on failure.
    pub num_partitions: i32,
    /// Resolved replication factor; -1 on failure.
    pub replication_factor: i16,
    /// The configs the request set for the topic (validated); empty on failure. The topic's
    /// effective configs are [`CreatableTopicResult::effective_configs`]: building them for
    /// every create would cost a map of every topic config per topic, which the gRPC answer
    /// does not carry.
    pub configs: BTreeMap<String, String>,
}

impl CreatableTopicResult {
    /// The topic's effective configs in `image` (the image the request was planned on):
    /// cluster defaults overlaid with the request's [`configs`](Self::configs); empty on
    /// failure.
    pub fn effective_configs(&self, image: &MetadataImage) -> BTreeMap<String, String> {
        if self.error_code != ErrorCode::None {
            return BTreeMap::new();
        }
        let mut configs = image.default_topic_configs();
        configs.extend(self.configs.iter().map(|(k, v)| (k.clone(), v.clone())));
        configs
    }
}

/// The answer to [`CreateTopics`]: one result per requested topic, in request order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateTopicsReply {
    /// Per-topic results.
    pub topics: Vec<CreatableTopicResult>,
}

pub(crate) type TopicError = (ErrorCode, String);

/// Handle CreateTopics.
///
/// Per topic, in order (SPEC §2.5; each failure adds no records for that topic):
/// 1. name repeated in the request → `INVALID_REQUEST` "Duplicate topic name." (each copy);
/// 2. name breaks §4.9 → `INVALID_TOPIC_EXCEPTION` (Kafka's message);
/// 3. name exists → `TOPIC_ALREADY_EXISTS`;
/// 4. name collides after '.'↔'_' with an existing topic or one created earlier in this
///    request → `INVALID_TOPIC_EXCEPTION`;
/// 5. null config value, unknown key or bad value → `INVALID_CONFIG`;
/// 6. replication factor 0 or < -1 → `INVALID_REPLICATION_FACTOR`;
/// 7. partitions 0 or < -1 → `INVALID_PARTITIONS`;
/// 8. placement (§4.8) fails → `INVALID_REPLICATION_FACTOR`.
///
/// If the records would exceed [`MAX_RECORDS_PER_USER_OP`], the whole request fails with
/// `POLICY_VIOLATION` and writes nothing. Records per created topic: `Topic`, then one
/// `Config` per key (sorted), then one `Partition` per index, with ISR = active replicas,
/// leader = `isr[0]`, epochs 0. `validate_only` runs every check and writes nothing.
pub fn create_topics(
    image: &MetadataImage,
    req: &CreateTopics,
    ctx: &mut Ctx,
) -> ControllerResult<CreateTopicsReply> {
    create_topics_with_assignments(image, req, &BTreeMap::new(), ctx)
}

/// Handle CreateTopics where some topics carry manual replica assignments, keyed by topic
/// name (Kafka `CreatableTopic.Assignments`; a topic absent from the map, or with an empty
/// list, is placed automatically). Rules as [`create_topics`], with rule 6/7 replaced for a
/// topic with assignments by (SPEC §2.5 rule 5, Kafka `ReplicationControlManager.createTopic`):
/// * replication factor or partition count not -1 → `INVALID_REQUEST`;
/// * a partition index twice, an empty replica list, a broker twice in one list, an
///   unregistered broker, a list length different from the first one, all replicas of a
///   partition fenced or in controlled shutdown, indices not 0..n → `INVALID_REPLICA_ASSIGNMENT`.
pub fn create_topics_with_assignments(
    image: &MetadataImage,
    req: &CreateTopics,
    assignments: &BTreeMap<String, Vec<CreatableReplicaAssignment>>,
    ctx: &mut Ctx,
) -> ControllerResult<CreateTopicsReply> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for t in &req.topics {
        *counts.entry(t.name.as_str()).or_default() += 1;
    }
    let usable = usable_brokers(image);

    let mut records = Vec::new();
    let mut results = Vec::with_capacity(req.topics.len());
    // Names and ids created earlier in this request, so later topics see them.
    let mut batch_names: BTreeMap<String, String> = BTreeMap::new(); // unified → name
    let mut batch_ids: BTreeSet<TopicId> = BTreeSet::new();
    let mut too_large = false;
    // New partitions planned so far in this request (max_partitions_per_request).
    let mut new_partitions: u64 = 0;

    for topic in &req.topics {
        if counts.get(topic.name.as_str()).copied().unwrap_or(0) > 1 {
            results.push(failed(
                topic,
                (ErrorCode::InvalidRequest, "Duplicate topic name.".into()),
            ));
            continue;
        }
        let manual = assignments
            .get(&topic.name)
            .map(Vec::as_slice)
            .filter(|a| !a.is_empty());
        let so_far = BatchSoFar {
            names: &batch_names,
            records: records.len(),
            partitions: new_partitions,
        };
        let planned = match plan_topic(image, topic, manual, &so_far, &usable, ctx) {
            Ok(p) => p,
            Err(Failure::TooLarge) => {
                too_large = true;
                break;
            }
            Err(Failure::Topic(e)) => {
                results.push(failed(topic, e));
                continue;
            }
        };
        batch_names.insert(
            topic_name::unify_collision_chars(&topic.name),
            topic.name.clone(),
        );
        new_partitions += u64::try_from(planned.assignments.len()).unwrap_or(u64::MAX);

        let topic_id = if req.validate_only {
            None
        } else {
            let id = loop {
                let id = ctx.new_topic_id();
                if image.topic_by_id(id).is_none() && !batch_ids.contains(&id) {
                    break id;
                }
            };
            batch_ids.insert(id);
            records.extend(planned.records(image, &topic.name, id));
            Some(id)
        };
        let configs = planned.configs.clone();
        results.push(CreatableTopicResult {
            name: topic.name.clone(),
            error_code: ErrorCode::None,
            error_message: None,
            topic_id,
            num_partitions: planned.num_partitions,
            replication_factor: planned.replication_factor,
            configs,
        });
    }

    if too_large {
        let error = || {
            (
                ErrorCode::PolicyViolation,
                "Unable to perform excessively large batch operation.".to_string(),
            )
        };
        let topics = req
            .topics
            .iter()
            .map(|t| {
                if counts.get(t.name.as_str()).copied().unwrap_or(0) > 1 {
                    failed(
                        t,
                        (ErrorCode::InvalidRequest, "Duplicate topic name.".into()),
                    )
                } else {
                    failed(t, error())
                }
            })
            .collect();
        return ControllerResult::reply_only(CreateTopicsReply { topics });
    }

    ControllerResult {
        records,
        reply: CreateTopicsReply { topics: results },
    }
}

enum Failure {
    Topic(TopicError),
    TooLarge,
}

impl From<TopicError> for Failure {
    fn from(e: TopicError) -> Self {
        Failure::Topic(e)
    }
}

/// A topic that passed every check.
struct Planned {
    num_partitions: i32,
    replication_factor: i16,
    configs: BTreeMap<String, String>,
    assignments: Vec<Vec<BrokerId>>,
}

impl Planned {
    fn records(&self, image: &MetadataImage, name: &str, topic_id: TopicId) -> Vec<Record> {
        let mut out = Vec::with_capacity(1 + self.configs.len() + self.assignments.len());
        out.push(Record::Topic(TopicRecord {
            name: name.to_string(),
            topic_id,
        }));
        for (key, value) in &self.configs {
            out.push(Record::Config(ConfigRecord {
                resource_type: ConfigResourceType::Topic,
                resource_name: name.to_string(),
                name: key.clone(),
                value: Some(value.clone()),
            }));
        }
        for (index, replicas) in (0..).zip(&self.assignments) {
            out.push(Record::Partition(new_partition(
                image, topic_id, index, replicas,
            )));
        }
        out
    }
}

/// A new partition (SPEC §2.5): ISR = active replicas, leader = `isr[0]`, epochs 0.
pub(crate) fn new_partition(
    image: &MetadataImage,
    topic_id: TopicId,
    partition_id: i32,
    replicas: &[BrokerId],
) -> PartitionRecord {
    let isr = active_replicas(image, replicas);
    PartitionRecord {
        topic_id,
        partition_id,
        replicas: replicas.to_vec(),
        leader: isr.first().copied().unwrap_or(BrokerId::NO_LEADER),
        isr,
        leader_epoch: LeaderEpoch(0),
        partition_epoch: PartitionEpoch(0),
        leader_recovery_state: LeaderRecoveryState::Recovered,
        adding_replicas: Vec::new(),
        removing_replicas: Vec::new(),
    }
}

/// KIP-841: only unfenced, not-shutting-down replicas may join the ISR.
pub(crate) fn active_replicas(image: &MetadataImage, replicas: &[BrokerId]) -> Vec<BrokerId> {
    replicas
        .iter()
        .copied()
        .filter(|&id| image.broker(id).is_some_and(|b| b.is_active()))
        .collect()
}

/// What the topics planned earlier in the same request take up.
struct BatchSoFar<'a> {
    /// Unified name → name of each topic planned so far.
    names: &'a BTreeMap<String, String>,
    /// Records so far.
    records: usize,
    /// New partitions so far.
    partitions: u64,
}

/// The partition-count limits (see [`crate::limits`]) for a topic of `count` partitions.
pub(crate) fn check_partition_limits(
    limits: &crate::Limits,
    count: u64,
    partitions_so_far: u64,
) -> Result<(), TopicError> {
    if count > u64::from(limits.max_partitions_per_topic) {
        return Err((
            ErrorCode::InvalidPartitions,
            format!(
                "Number of partitions {count} exceeds the limit of {} per topic \
                 (max_partitions_per_topic).",
                limits.max_partitions_per_topic
            ),
        ));
    }
    let total = partitions_so_far.saturating_add(count);
    if total > u64::from(limits.max_partitions_per_request) {
        return Err((
            ErrorCode::PolicyViolation,
            format!(
                "This request would add {total} partitions, more than the limit of {} per \
                 request (max_partitions_per_request).",
                limits.max_partitions_per_request
            ),
        ));
    }
    Ok(())
}

fn plan_topic(
    image: &MetadataImage,
    topic: &CreatableTopic,
    manual: Option<&[CreatableReplicaAssignment]>,
    so_far: &BatchSoFar<'_>,
    usable: &[UsableBroker],
    ctx: &mut Ctx,
) -> Result<Planned, Failure> {
    let batch_names = so_far.names;
    let records_so_far = so_far.records;
    let limits = *ctx.limits();
    let name = &topic.name;
    topic_name::validate(name).map_err(|m| (ErrorCode::InvalidTopicException, m))?;
    if image.topics().contains_name(name) {
        return Err((
            ErrorCode::TopicAlreadyExists,
            format!("Topic '{name}' already exists."),
        )
            .into());
    }
    if topic_name::has_collision_chars(name) {
        let colliding = image.topics().colliding_topic(name).or_else(|| {
            batch_names
                .get(&topic_name::unify_collision_chars(name))
                .map(String::as_str)
        });
        if let Some(existing) = colliding {
            return Err((
                ErrorCode::InvalidTopicException,
                format!("Topic '{name}' collides with existing topic: {existing}"),
            )
                .into());
        }
    }

    let topics = image.topics().len().saturating_add(batch_names.len());
    if topics >= limits.max_topics as usize {
        return Err((
            ErrorCode::PolicyViolation,
            format!(
                "The cluster already has {topics} topics, the limit (max_topics = {}).",
                limits.max_topics
            ),
        )
            .into());
    }
    limits
        .check_config_entries(topic.configs.len())
        .map_err(|m| (ErrorCode::InvalidRequest, m))?;
    let configs = check_configs(&topic.configs)?;

    if let Some(manual) = manual {
        check_partition_limits(
            &limits,
            u64::try_from(manual.len()).unwrap_or(u64::MAX),
            so_far.partitions,
        )?;
        let assignments = check_manual_assignments(image, topic, manual)?;
        let needed = records_so_far
            .saturating_add(1)
            .saturating_add(configs.len())
            .saturating_add(assignments.len());
        if needed > MAX_RECORDS_PER_USER_OP {
            return Err(Failure::TooLarge);
        }
        return Ok(Planned {
            num_partitions: i32::try_from(assignments.len()).unwrap_or(i32::MAX),
            replication_factor: assignments
                .first()
                .and_then(|r| i16::try_from(r.len()).ok())
                .unwrap_or(-1),
            configs,
            assignments,
        });
    }

    let replication_factor = match topic.replication_factor {
        -1 => cluster_default(image, "default.replication.factor")
            .unwrap_or(DEFAULT_REPLICATION_FACTOR),
        rf if rf <= 0 => {
            return Err((
                ErrorCode::InvalidReplicationFactor,
                "Replication factor must be larger than 0, or -1 to use the default value."
                    .to_string(),
            )
                .into());
        }
        rf => rf,
    };
    let num_partitions = match topic.num_partitions {
        -1 => cluster_default(image, "num.partitions").unwrap_or(DEFAULT_NUM_PARTITIONS),
        n if n <= 0 => {
            return Err((
                ErrorCode::InvalidPartitions,
                "Number of partitions was set to an invalid non-positive value.".to_string(),
            )
                .into());
        }
        n => n,
    };

    // Check the limits before placing, so a huge partition count never allocates.
    check_partition_limits(
        &limits,
        u64::try_from(num_partitions).unwrap_or(u64::MAX),
        so_far.partitions,
    )?;
    let partitions = usize::try_from(num_partitions).unwrap_or(usize::MAX);
    let needed = records_so_far
        .saturating_add(1)
        .saturating_add(configs.len())
        .saturating_add(partitions);
    if needed > MAX_RECORDS_PER_USER_OP {
        return Err(Failure::TooLarge);
    }

    let rf = usize::try_from(replication_factor).unwrap_or(0);
    let assignments = place_partitions(image, usable, name, 0, partitions, rf, ctx)?;
    Ok(Planned {
        num_partitions,
        replication_factor,
        configs,
        assignments,
    })
}

/// A positive cluster-default broker config (BROKER `""`) parsed as a number.
fn cluster_default<T: std::str::FromStr + PartialOrd + Default>(
    image: &MetadataImage,
    key: &str,
) -> Option<T> {
    image
        .cluster_default_config(key)
        .and_then(|v| v.trim().parse::<T>().ok())
        .filter(|v| *v > T::default())
}

/// Place `count` new partitions (indices from `first_index`) of `rf` replicas each with
/// the striped placer (SPEC §4.8), and check every partition has an active replica.
pub(crate) fn place_partitions(
    image: &MetadataImage,
    usable: &[UsableBroker],
    name: &str,
    first_index: usize,
    count: usize,
    rf: usize,
    ctx: &mut Ctx,
) -> Result<Vec<Vec<BrokerId>>, TopicError> {
    let assignments = placement::place(ctx.rng(), usable, count, rf)
        .map_err(|e| (ErrorCode::InvalidReplicationFactor, e.0))?;
    for (offset, replicas) in assignments.iter().enumerate() {
        if active_replicas(image, replicas).is_empty() {
            return Err((
                ErrorCode::InvalidReplicationFactor,
                format!(
                    "Unable to replicate the partition {} of topic '{name}': all of its \
                     replicas {replicas:?} are fenced or in controlled shutdown.",
                    first_index + offset
                ),
            ));
        }
    }
    Ok(assignments)
}

/// Registered brokers not in controlled shutdown (fenced included): where placement may put
/// a replica (SPEC §4.8).
/// Brokers new replicas may go to: registered, unfenced and not shutting down. Stricter than
/// Kafka, which also places replicas on fenced brokers: a fenced registration is often a
/// broker that is gone for good (SPEC §7 pain point 4: "RF 6 accepted with 3 live brokers").
pub(crate) fn usable_brokers(image: &MetadataImage) -> Vec<UsableBroker> {
    image
        .cluster()
        .brokers()
        .values()
        .filter(|b| !b.in_controlled_shutdown && !b.fenced)
        .map(|b| UsableBroker {
            id: b.broker_id,
            rack: b.rack.clone(),
            fenced: b.fenced,
        })
        .collect()
}

/// SPEC §2.5 rule 5: the checks on manual assignments; returns replicas by partition index.
fn check_manual_assignments(
    image: &MetadataImage,
    topic: &CreatableTopic,
    manual: &[CreatableReplicaAssignment],
) -> Result<Vec<Vec<BrokerId>>, TopicError> {
    if topic.replication_factor != -1 {
        return Err((
            ErrorCode::InvalidRequest,
            "A manual partition assignment was specified, but replication factor was not set \
             to -1."
                .to_string(),
        ));
    }
    if topic.num_partitions != -1 {
        return Err((
            ErrorCode::InvalidRequest,
            "A manual partition assignment was specified, but numPartitions was not set to -1."
                .to_string(),
        ));
    }
    let mut by_index: BTreeMap<i32, Vec<BrokerId>> = BTreeMap::new();
    let mut expected_rf = None;
    for a in manual {
        if by_index.contains_key(&a.partition_index) {
            return Err((
                ErrorCode::InvalidReplicaAssignment,
                format!(
                    "Found multiple manual partition assignments for partition {}",
                    a.partition_index
                ),
            ));
        }
        validate_manual_replicas(image, &a.broker_ids, expected_rf)
            .map_err(|m| (ErrorCode::InvalidReplicaAssignment, m))?;
        expected_rf.get_or_insert(a.broker_ids.len());
        if active_replicas(image, &a.broker_ids).is_empty() {
            return Err((
                ErrorCode::InvalidReplicaAssignment,
                format!(
                    "All brokers specified in the manual partition assignment for partition {} \
                     are fenced or in controlled shutdown.",
                    a.partition_index
                ),
            ));
        }
        by_index.insert(a.partition_index, a.broker_ids.clone());
    }
    if by_index
        .keys()
        .copied()
        .ne(0..i32::try_from(by_index.len()).unwrap_or(i32::MAX))
    {
        return Err((
            ErrorCode::InvalidReplicaAssignment,
            "partitions should be a consecutive 0-based integer sequence".to_string(),
        ));
    }
    Ok(by_index.into_values().collect())
}

/// One manual replica list (Kafka `validateManualPartitionAssignment`): non-empty, no
/// broker twice, every broker registered, and `expected_rf` replicas if given. The error
/// is the `INVALID_REPLICA_ASSIGNMENT` message.
pub(crate) fn validate_manual_replicas(
    image: &MetadataImage,
    replicas: &[BrokerId],
    expected_rf: Option<usize>,
) -> Result<(), String> {
    if replicas.is_empty() {
        return Err("The manual partition assignment includes an empty replica list.".into());
    }
    let mut seen = BTreeSet::new();
    for id in replicas {
        if !seen.insert(*id) {
            return Err(format!(
                "The manual partition assignment includes the broker {id} more than once."
            ));
        }
        if image.broker(*id).is_none() {
            return Err(format!(
                "The manual partition assignment includes broker {id}, but no such broker is \
                 registered."
            ));
        }
    }
    if let Some(rf) = expected_rf
        && rf != replicas.len()
    {
        return Err(format!(
            "The manual partition assignment includes a partition with {} replica(s), but \
             this is not consistent with previous partitions, which have {rf} replica(s).",
            replicas.len()
        ));
    }
    Ok(())
}

/// Null values first (all named at once, as Kafka does), then key and value rules.
fn check_configs(
    configs: &[(String, Option<String>)],
) -> Result<BTreeMap<String, String>, TopicError> {
    let nulls: Vec<&str> = configs
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(k, _)| k.as_str())
        .collect();
    if !nulls.is_empty() {
        return Err((
            ErrorCode::InvalidConfig,
            format!(
                "Null value not supported for topic configs: {}",
                nulls.join(",")
            ),
        ));
    }
    let mut out = BTreeMap::new();
    for (key, value) in configs {
        if let Some(value) = value {
            topic_config::validate(key, value).map_err(|m| (ErrorCode::InvalidConfig, m))?;
            out.insert(key.clone(), value.clone());
        }
    }
    Ok(out)
}

fn failed(topic: &CreatableTopic, (code, message): TopicError) -> CreatableTopicResult {
    CreatableTopicResult {
        name: topic.name.clone(),
        error_code: code,
        error_message: Some(message),
        topic_id: None,
        num_partitions: -1,
        replication_factor: -1,
        configs: BTreeMap::new(),
    }
}

#[cfg(test)]
#[path = "create_topics_test.rs"]
mod tests;
