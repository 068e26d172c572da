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
