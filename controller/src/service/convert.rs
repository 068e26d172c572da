//! protobuf ⇄ domain conversions. Decoding checks field formats and names the field on error.

use kraft_proto as pb;
use uuid::Uuid;

use super::ControllerError;
use crate::error_code::ErrorCode;
use crate::handlers;
use crate::ids::BrokerId;
use crate::records::{Listener, SupportedFeature};

pub fn item_error(code: ErrorCode, message: Option<String>) -> Option<pb::ItemError> {
    Some(pb::ItemError {
        error_code: i32::from(code.code()),
        error_name: code.name().to_string(),
        error_message: message.unwrap_or_default(),
    })
}

pub fn listener_from_pb(l: &pb::Listener, field: &str) -> Result<Listener, ControllerError> {
    let port = u16::try_from(l.port)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| {
            ControllerError::invalid(
                format!("{field}.port"),
                format!("{} is not a port in 1-65535", l.port),
            )
        })?;
    if l.host.is_empty() {
        return Err(ControllerError::invalid(
            format!("{field}.host"),
            "must not be empty",
        ));
    }
    Ok(Listener {
        name: l.name.clone(),
        host: l.host.clone(),
        port,
        security_protocol: if l.security_protocol.is_empty() {
            "PLAINTEXT".into()
        } else {
            l.security_protocol.clone()
        },
    })
}

pub fn listener_to_pb(l: &Listener) -> pb::Listener {
    pb::Listener {
        name: l.name.clone(),
        host: l.host.clone(),
        port: u32::from(l.port),
        security_protocol: l.security_protocol.clone(),
    }
}

pub fn register_broker_from_pb(
    r: &pb::RegisterBrokerRequest,
) -> Result<handlers::RegisterBroker, ControllerError> {
    let incarnation_id = Uuid::parse_str(&r.incarnation_id)
        .map_err(|e| ControllerError::invalid("incarnation_id", format!("must be a UUID: {e}")))?;
    let listeners = r
        .listeners
        .iter()
        .enumerate()
        .map(|(i, l)| listener_from_pb(l, &format!("listeners[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    let features = r
        .features
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let field = |x: &str| format!("features[{i}].{x}");
            let min = i16::try_from(f.min_supported_version).map_err(|_| {
                ControllerError::invalid(field("min_supported_version"), "must fit in 16 bits")
            })?;
            let max = i16::try_from(f.max_supported_version).map_err(|_| {
                ControllerError::invalid(field("max_supported_version"), "must fit in 16 bits")
            })?;
            Ok(SupportedFeature {
                name: f.name.clone(),
                min,
                max,
            })
        })
        .collect::<Result<Vec<_>, ControllerError>>()?;
    Ok(handlers::RegisterBroker {
        broker_id: BrokerId(r.broker_id),
        cluster_id: r.cluster_id.clone(),
        incarnation_id,
        listeners,
        rack: r.rack.clone(),
        features,
    })
}

/// Explicit replica assignments of a CreateTopics request, by topic name.
pub type Assignments =
    std::collections::BTreeMap<String, Vec<handlers::CreatableReplicaAssignment>>;

pub fn create_topics_assignments_from_pb(r: &pb::CreateTopicsRequest) -> Assignments {
    r.topics
        .iter()
        .filter(|t| !t.assignments.is_empty())
        .map(|t| {
            let a = t
                .assignments
                .iter()
                .map(|a| handlers::CreatableReplicaAssignment {
                    partition_index: a.partition_index,
                    broker_ids: broker_ids(&a.broker_ids),
                })
                .collect();
            (t.name.clone(), a)
        })
        .collect()
}

pub fn create_topics_from_pb(
    r: &pb::CreateTopicsRequest,
) -> Result<handlers::CreateTopics, ControllerError> {
    let topics = r
        .topics
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let replication_factor = i16::try_from(t.replication_factor).map_err(|_| {
                ControllerError::invalid(
                    format!("topics[{i}].replication_factor"),
                    "must fit in a 16-bit integer",
                )
            })?;
            Ok(handlers::CreatableTopic {
                name: t.name.clone(),
                num_partitions: t.num_partitions,
                replication_factor,
                configs: t
                    .configs
                    .iter()
                    .map(|c| (c.name.clone(), c.value.clone()))
                    .collect(),
            })
        })
        .collect::<Result<Vec<_>, ControllerError>>()?;
    Ok(handlers::CreateTopics {
        topics,
        validate_only: r.validate_only,
    })
}

pub fn create_topics_to_pb(reply: handlers::CreateTopicsReply) -> pb::CreateTopicsResponse {
    pb::CreateTopicsResponse {
        topics: reply
            .topics
            .into_iter()
            .map(|t| pb::CreatableTopicResult {
                name: t.name,
                topic_id: t.topic_id.map(|id| id.0.to_string()).unwrap_or_default(),
                error: item_error(t.error_code, t.error_message),
                num_partitions: t.num_partitions,
                replication_factor: i32::from(t.replication_factor),
            })
            .collect(),
    }
}

pub fn describe_topics_to_pb(
    topics: Vec<handlers::TopicDescription>,
) -> pb::DescribeTopicsResponse {
    pb::DescribeTopicsResponse {
        topics: topics
            .into_iter()
            .map(|t| pb::TopicDescription {
                name: t.name,
                topic_id: t.topic_id.map(|id| id.0.to_string()).unwrap_or_default(),
                error: item_error(t.error_code, t.error_message),
                partitions: t
                    .partitions
                    .into_iter()
                    .map(|p| pb::PartitionDescription {
                        partition_index: p.partition_index,
                        leader: p.leader.0,
                        replicas: p.replicas.iter().map(|b| b.0).collect(),
                        isr: p.isr.iter().map(|b| b.0).collect(),
                        leader_epoch: p.leader_epoch.0,
                        partition_epoch: p.partition_epoch.0,
                    })
                    .collect(),
                configs: t
                    .configs
                    .into_iter()
                    .map(|(name, value)| pb::ConfigEntry {
                        name,
                        value: Some(value),
                    })
                    .collect(),
            })
            .collect(),
    }
}

pub fn list_topics_to_pb(topics: Vec<handlers::TopicListing>) -> pb::ListTopicsResponse {
    pb::ListTopicsResponse {
        topics: topics
            .into_iter()
            .map(|t| pb::TopicListing {
                name: t.name,
                topic_id: t.topic_id.0.to_string(),
                partition_count: i32::try_from(t.num_partitions).unwrap_or(i32::MAX),
            })
            .collect(),
    }
}

pub fn brokers_to_pb(
    d: &handlers::ClusterDescription,
    image: &crate::image::MetadataImage,
) -> Vec<pb::BrokerDescription> {
    d.brokers
        .iter()
        .map(|b| pb::BrokerDescription {
            broker_id: b.broker_id.0,
            broker_epoch: b.broker_epoch.0,
            incarnation_id: image
                .broker(b.broker_id)
                .map(|r| r.incarnation_id.to_string())
                .unwrap_or_default(),
            listeners: b.listeners.iter().map(listener_to_pb).collect(),
            rack: b.rack.clone(),
            fenced: b.fenced,
            in_controlled_shutdown: b.in_controlled_shutdown,
        })
        .collect()
}

// ---- issue 3 RPCs -------------------------------------------------------------------------

use crate::ids::{BrokerEpoch, LeaderEpoch, PartitionEpoch, TopicId};
use crate::records::LeaderRecoveryState;

fn topic_id_from_pb(s: &str, field: &str) -> Result<TopicId, ControllerError> {
    Uuid::parse_str(s)
        .map(TopicId)
        .map_err(|e| ControllerError::invalid(field, format!("must be a UUID: {e}")))
}

fn i8_field(v: i32, field: &str) -> Result<i8, ControllerError> {
    i8::try_from(v)
        .map_err(|_| ControllerError::invalid(field, format!("{v} does not fit in 8 bits")))
}

fn broker_ids(v: &[i32]) -> Vec<BrokerId> {
    v.iter().copied().map(BrokerId).collect()
}

pub fn create_partitions_from_pb(r: &pb::CreatePartitionsRequest) -> handlers::CreatePartitions {
    handlers::CreatePartitions {
        topics: r
            .topics
            .iter()
            .map(|t| handlers::CreatePartitionsTopic {
                name: t.name.clone(),
                count: t.count,
                assignments: (!t.assignments.is_empty()).then(|| {
                    t.assignments
                        .iter()
                        .map(|a| broker_ids(&a.broker_ids))
                        .collect()
                }),
            })
            .collect(),
        validate_only: r.validate_only,
    }
}

pub fn create_partitions_to_pb(
    reply: handlers::CreatePartitionsReply,
) -> pb::CreatePartitionsResponse {
    pb::CreatePartitionsResponse {
        results: reply
            .results
            .into_iter()
            .map(|t| pb::CreatePartitionsTopicResult {
                name: t.name,
                error: item_error(t.error_code, t.error_message),
            })
            .collect(),
    }
}

pub fn delete_topics_from_pb(
    r: &pb::DeleteTopicsRequest,
) -> Result<handlers::DeleteTopics, ControllerError> {
    let topics = r
        .topics
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let topic_id = if t.topic_id.is_empty() {
                None
            } else {
                Some(topic_id_from_pb(
                    &t.topic_id,
                    &format!("topics[{i}].topic_id"),
                )?)
            };
            let name = (!t.name.is_empty()).then(|| t.name.clone());
            if name.is_none() && topic_id.is_none() {
                return Err(ControllerError::invalid(
                    format!("topics[{i}]"),
                    "set name or topic_id",
                ));
            }
            Ok(handlers::DeleteTopicState { name, topic_id })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(handlers::DeleteTopics { topics })
}

pub fn delete_topics_to_pb(reply: handlers::DeleteTopicsReply) -> pb::DeleteTopicsResponse {
    pb::DeleteTopicsResponse {
        responses: reply
            .responses
            .into_iter()
            .map(|t| pb::DeletableTopicResult {
                name: t.name.unwrap_or_default(),
                topic_id: t.topic_id.map(|id| id.0.to_string()).unwrap_or_default(),
                error: item_error(t.error_code, t.error_message),
            })
            .collect(),
    }
}

pub fn elect_leaders_from_pb(r: &pb::ElectLeadersRequest) -> handlers::ElectLeaders {
    let election_type = match pb::ElectionType::try_from(r.election_type) {
        Ok(pb::ElectionType::Unclean) => handlers::ElectionType::Unclean,
        _ => handlers::ElectionType::Preferred,
    };
    let topic_partitions = (!r.topic_partitions.is_empty()).then(|| {
        r.topic_partitions
            .iter()
            .map(|t| handlers::TopicPartitions {
                topic: t.topic.clone(),
                partitions: t.partitions.clone(),
            })
            .collect()
    });
    handlers::ElectLeaders {
        election_type,
        topic_partitions,
    }
}

pub fn elect_leaders_to_pb(reply: handlers::ElectLeadersReply) -> pb::ElectLeadersResponse {
    pb::ElectLeadersResponse {
        replica_election_results: reply
            .replica_election_results
            .into_iter()
            .map(|t| pb::ReplicaElectionResult {
                topic: t.topic,
                partition_results: t
                    .partition_results
                    .into_iter()
                    .map(|p| pb::PartitionResult {
                        partition_id: p.partition_id,
                        error: item_error(p.error_code, p.error_message),
                    })
                    .collect(),
            })
            .collect(),
    }
}

pub fn describe_configs_from_pb(
    r: &pb::DescribeConfigsRequest,
) -> Result<Vec<handlers::DescribeConfigsResource>, ControllerError> {
    r.resources
        .iter()
        .enumerate()
        .map(|(i, res)| {
            Ok(handlers::DescribeConfigsResource {
                resource_type: i8_field(
                    res.resource_type,
                    &format!("resources[{i}].resource_type"),
                )?,
                resource_name: res.resource_name.clone(),
                configuration_keys: (!res.configuration_keys.is_empty())
                    .then(|| res.configuration_keys.clone()),
            })
        })
        .collect()
}

fn config_source_to_pb(s: crate::topic_config::ConfigSource) -> i32 {
    use crate::topic_config::ConfigSource as S;
    (match s {
        S::DynamicTopicConfig => pb::ConfigSource::DynamicTopicConfig,
        S::DynamicBrokerConfig => pb::ConfigSource::DynamicBrokerConfig,
        S::DynamicDefaultBrokerConfig => pb::ConfigSource::DynamicDefaultBrokerConfig,
        S::DefaultConfig => pb::ConfigSource::DefaultConfig,
    }) as i32
}

pub fn describe_configs_to_pb(
    results: Vec<handlers::DescribeConfigsResult>,
) -> pb::DescribeConfigsResponse {
    pb::DescribeConfigsResponse {
        results: results
            .into_iter()
            .map(|r| pb::DescribeConfigsResult {
                resource_type: i32::from(r.resource_type),
                resource_name: r.resource_name,
                error: item_error(r.error_code, r.error_message),
                configs: r
                    .configs
                    .into_iter()
                    .map(|c| pb::DescribeConfigsResourceResult {
                        name: c.name,
                        value: c.value,
                        source: config_source_to_pb(c.source),
                        is_default: c.is_default,
                        is_sensitive: c.is_sensitive,
                        read_only: c.read_only,
                    })
                    .collect(),
            })
            .collect(),
    }
}

pub fn incremental_alter_configs_from_pb(
    r: &pb::IncrementalAlterConfigsRequest,
) -> Result<handlers::IncrementalAlterConfigs, ControllerError> {
    let resources = r
        .resources
        .iter()
        .enumerate()
        .map(|(i, res)| {
            Ok(handlers::AlterConfigsResource {
                resource_type: i8_field(
                    res.resource_type,
                    &format!("resources[{i}].resource_type"),
                )?,
                resource_name: res.resource_name.clone(),
                configs: res
                    .configs
                    .iter()
                    .enumerate()
                    .map(|(j, c)| {
                        Ok(handlers::AlterableConfig {
                            name: c.name.clone(),
                            config_operation: i8_field(
                                c.config_operation,
                                &format!("resources[{i}].configs[{j}].config_operation"),
                            )?,
                            value: c.value.clone(),
                        })
                    })
                    .collect::<Result<Vec<_>, ControllerError>>()?,
            })
        })
        .collect::<Result<Vec<_>, ControllerError>>()?;
    Ok(handlers::IncrementalAlterConfigs {
        resources,
        validate_only: r.validate_only,
    })
}

pub fn incremental_alter_configs_to_pb(
    reply: handlers::IncrementalAlterConfigsReply,
) -> pb::IncrementalAlterConfigsResponse {
    pb::IncrementalAlterConfigsResponse {
        responses: reply
            .responses
            .into_iter()
            .map(|r| pb::AlterConfigsResourceResponse {
                resource_type: i32::from(r.resource_type),
                resource_name: r.resource_name,
                error: item_error(r.error_code, r.error_message),
            })
            .collect(),
    }
}

pub fn describe_features_to_pb(d: handlers::FeaturesDescription) -> pb::DescribeFeaturesResponse {
    pb::DescribeFeaturesResponse {
        finalized: d
            .finalized
            .into_iter()
            .map(|(name, level)| pb::FinalizedFeature {
                name,
                level: i32::from(level),
            })
            .collect(),
        supported: d
            .supported
            .into_iter()
            .map(|(name, (min, max))| pb::SupportedFeatureRange {
                name,
                min_version: i32::from(min),
                max_version: i32::from(max),
            })
            .collect(),
    }
}

pub fn update_features_from_pb(
    r: &pb::UpdateFeaturesRequest,
) -> Result<handlers::UpdateFeatures, ControllerError> {
    let feature_updates = r
        .feature_updates
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let upgrade_type = match pb::FeatureUpgradeType::try_from(f.upgrade_type) {
                Ok(pb::FeatureUpgradeType::Upgrade) => handlers::FeatureUpgradeType::Upgrade,
                Ok(pb::FeatureUpgradeType::SafeDowngrade) => {
                    handlers::FeatureUpgradeType::SafeDowngrade
                }
                Ok(pb::FeatureUpgradeType::UnsafeDowngrade) => {
                    handlers::FeatureUpgradeType::UnsafeDowngrade
                }
                _ => {
                    return Err(ControllerError::invalid(
                        format!("feature_updates[{i}].upgrade_type"),
                        "must be UPGRADE, SAFE_DOWNGRADE or UNSAFE_DOWNGRADE",
                    ));
                }
            };
            let max_version_level = i16::try_from(f.max_version_level).map_err(|_| {
                ControllerError::invalid(
                    format!("feature_updates[{i}].max_version_level"),
                    "must fit in 16 bits",
                )
            })?;
            Ok(handlers::FeatureUpdate {
                feature: f.feature.clone(),
                max_version_level,
                upgrade_type,
            })
        })
        .collect::<Result<Vec<_>, ControllerError>>()?;
    Ok(handlers::UpdateFeatures {
        feature_updates,
        validate_only: r.validate_only,
    })
}

pub fn update_features_to_pb(reply: handlers::UpdateFeaturesReply) -> pb::UpdateFeaturesResponse {
    let mut results: Vec<pb::UpdatableFeatureResult> = reply
        .results
        .into_iter()
        .map(|r| pb::UpdatableFeatureResult {
            feature: r.feature,
            error: item_error(r.error_code, r.error_message),
        })
        .collect();
    if reply.error_code != ErrorCode::None && results.is_empty() {
        results.push(pb::UpdatableFeatureResult {
            feature: String::new(),
            error: item_error(reply.error_code, reply.error_message),
        });
    }
    pb::UpdateFeaturesResponse { results }
}

pub fn alter_partition_from_pb(
    r: &pb::AlterPartitionRequest,
) -> Result<handlers::AlterPartition, ControllerError> {
    let topics = r
        .topics
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let topic_id = topic_id_from_pb(&t.topic_id, &format!("topics[{i}].topic_id"))?;
            let partitions = t
                .partitions
                .iter()
                .enumerate()
                .map(|(j, p)| {
                    let leader_recovery_state = match p.leader_recovery_state {
                        0 => LeaderRecoveryState::Recovered,
                        1 => LeaderRecoveryState::Recovering,
                        v => {
                            return Err(ControllerError::invalid(
                                format!("topics[{i}].partitions[{j}].leader_recovery_state"),
                                format!("{v} is not 0 (RECOVERED) or 1 (RECOVERING)"),
                            ));
                        }
                    };
                    Ok(handlers::AlterPartitionPartition {
                        partition_index: p.partition_index,
                        leader_epoch: LeaderEpoch(p.leader_epoch),
                        new_isr_with_epochs: p
                            .new_isr_with_epochs
                            .iter()
                            .map(|b| handlers::BrokerState {
                                broker_id: BrokerId(b.broker_id),
                                broker_epoch: BrokerEpoch(b.broker_epoch),
                            })
                            .collect(),
                        leader_recovery_state,
                        partition_epoch: PartitionEpoch(p.partition_epoch),
                    })
                })
                .collect::<Result<Vec<_>, ControllerError>>()?;
            Ok(handlers::AlterPartitionTopic {
                topic_id,
                partitions,
            })
        })
        .collect::<Result<Vec<_>, ControllerError>>()?;
    Ok(handlers::AlterPartition {
        broker_id: BrokerId(r.broker_id),
        broker_epoch: BrokerEpoch(r.broker_epoch),
        topics,
    })
}

pub fn alter_partition_to_pb(reply: handlers::AlterPartitionReply) -> pb::AlterPartitionResponse {
    pb::AlterPartitionResponse {
        error: item_error(reply.error_code, reply.error_message),
        topics: reply
            .topics
            .into_iter()
            .map(|t| pb::AlterPartitionResponseTopic {
                topic_id: t.topic_id.0.to_string(),
                partitions: t
                    .partitions
                    .into_iter()
                    .map(|p| pb::AlterPartitionResponsePartition {
                        partition_index: p.partition_index,
                        error: item_error(p.error_code, p.error_message),
                        leader_id: p.leader_id.0,
                        leader_epoch: p.leader_epoch.0,
                        isr: p.isr.iter().map(|b| b.0).collect(),
                        leader_recovery_state: i32::from(p.leader_recovery_state.code()),
                        partition_epoch: p.partition_epoch.0,
                    })
                    .collect(),
            })
            .collect(),
    }
}

pub fn alter_reassignments_from_pb(
    r: &pb::AlterPartitionReassignmentsRequest,
) -> handlers::AlterPartitionReassignments {
    handlers::AlterPartitionReassignments {
        topics: r
            .topics
            .iter()
            .map(|t| handlers::ReassignableTopic {
                name: t.name.clone(),
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| handlers::ReassignablePartition {
                        partition_index: p.partition_index,
                        replicas: p.replicas.as_ref().map(|l| broker_ids(&l.broker_ids)),
                    })
                    .collect(),
            })
            .collect(),
    }
}

pub fn alter_reassignments_to_pb(
    reply: handlers::AlterPartitionReassignmentsReply,
) -> pb::AlterPartitionReassignmentsResponse {
    pb::AlterPartitionReassignmentsResponse {
        responses: reply
            .responses
            .into_iter()
            .map(|t| pb::ReassignableTopicResponse {
                name: t.name,
                partitions: t
                    .partitions
                    .into_iter()
                    .map(|p| pb::ReassignablePartitionResponse {
                        partition_index: p.partition_index,
                        error: item_error(p.error_code, p.error_message),
                    })
                    .collect(),
            })
            .collect(),
    }
}

pub fn list_reassignments_to_pb(
    topics: Vec<handlers::OngoingTopicReassignment>,
) -> pb::ListPartitionReassignmentsResponse {
    let ids = |v: &[BrokerId]| v.iter().map(|b| b.0).collect::<Vec<_>>();
    pb::ListPartitionReassignmentsResponse {
        topics: topics
            .into_iter()
            .map(|t| pb::OngoingTopicReassignment {
                name: t.name,
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| pb::OngoingPartitionReassignment {
                        partition_index: p.partition_index,
                        replicas: ids(&p.replicas),
                        adding_replicas: ids(&p.adding_replicas),
                        removing_replicas: ids(&p.removing_replicas),
                    })
                    .collect(),
            })
            .collect(),
    }
}
