//! Typed errors of this crate (STYLE §4). Domain outcomes of RPCs are not here: they are
//! [`crate::ErrorCode`] values inside replies.

use serde::{Deserialize, Serialize};

use crate::ids::{BrokerEpoch, BrokerId, PartitionEpoch, TopicId};
use crate::records::RecordKind;

/// Why [`crate::MetadataImage::apply`] rejected a batch. The image is unchanged.
///
/// Every replica rejects the same batch with the same error, because guards read only the
/// image and the batch. Each message names the record and the guard that failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum ApplyError {
    /// The batch's offset is not after the last applied one.
    #[error("batch at offset {offset} is not after the last applied offset {last_applied}")]
    OffsetNotIncreasing {
        /// The batch's offset.
        offset: u64,
        /// The image's last applied offset.
        last_applied: u64,
    },
    /// The offset does not fit a broker epoch (i64).
    #[error("{record}: offset {offset} does not fit a broker epoch")]
    OffsetOutOfRange {
        /// The record.
        record: RecordKind,
        /// The batch's offset.
        offset: u64,
    },
    /// The record names a broker that is not registered.
    #[error("{record}: broker {broker_id} is not registered")]
    UnknownBroker {
        /// The record.
        record: RecordKind,
        /// The broker.
        broker_id: BrokerId,
    },
    /// The record's broker epoch is not the registration's current epoch.
    #[error(
        "{record}: broker {broker_id} has epoch {current_epoch}, the record assumed {record_epoch}"
    )]
    StaleBrokerEpoch {
        /// The record.
        record: RecordKind,
        /// The broker.
        broker_id: BrokerId,
        /// The epoch in the record.
        record_epoch: BrokerEpoch,
        /// The registration's epoch.
        current_epoch: BrokerEpoch,
    },
    /// A topic with this name exists.
    #[error("TopicRecord: topic '{name}' already exists")]
    TopicExists {
        /// The topic name.
        name: String,
    },
    /// The name collides with an existing one after '.'↔'_' unification.
    #[error("TopicRecord: topic '{name}' collides with existing topic '{existing}'")]
    TopicNameCollision {
        /// The new name.
        name: String,
        /// The existing name.
        existing: String,
    },
    /// A topic with this id exists.
    #[error("TopicRecord: topic id {topic_id} is already used by topic '{existing}'")]
    TopicIdExists {
        /// The id.
        topic_id: TopicId,
        /// The topic that has it.
        existing: String,
    },
    /// No topic has this id.
    #[error("{record}: no topic has id {topic_id}")]
    UnknownTopicId {
        /// The record.
        record: RecordKind,
        /// The id.
        topic_id: TopicId,
    },
    /// No topic has this name.
    #[error("{record}: topic '{name}' does not exist")]
    UnknownTopicName {
        /// The record.
        record: RecordKind,
        /// The name.
        name: String,
    },
    /// A `PartitionRecord` for a partition that exists.
    #[error("PartitionRecord: partition {partition_id} of topic {topic_id} already exists")]
    PartitionExists {
        /// The topic.
        topic_id: TopicId,
        /// The partition.
        partition_id: i32,
    },
    /// The partition does not exist.
    #[error("{record}: partition {partition_id} of topic {topic_id} does not exist")]
    UnknownPartition {
        /// The record.
        record: RecordKind,
        /// The topic.
        topic_id: TopicId,
        /// The partition.
        partition_id: i32,
    },
    /// The change was computed against another partition epoch.
    #[error(
        "PartitionChangeRecord: partition {partition_id} of topic {topic_id} has epoch \
         {current_epoch}, the record assumed {record_epoch}"
    )]
    StalePartitionEpoch {
        /// The topic.
        topic_id: TopicId,
        /// The partition.
        partition_id: i32,
        /// The epoch in the record.
        record_epoch: PartitionEpoch,
        /// The partition's epoch.
        current_epoch: PartitionEpoch,
    },
    /// The cluster id is already set.
    #[error("ClusterIdRecord: cluster id is already '{current}', cannot set '{proposed}'")]
    ClusterIdAlreadySet {
        /// The current id.
        current: String,
        /// The id in the record.
        proposed: String,
    },
    /// A `ProducerIdsRecord` that does not move the next producer id forward.
    #[error(
        "ProducerIdsRecord: next producer id {next_producer_id} is not above the current {current}"
    )]
    ProducerIdsNotIncreasing {
        /// The record's next producer id.
        next_producer_id: i64,
        /// The image's next producer id.
        current: i64,
    },
    /// A feature level below 0.
    #[error("FeatureLevelRecord: level {level} of feature '{name}' is negative")]
    NegativeFeatureLevel {
        /// The feature.
        name: String,
        /// The level.
        level: i16,
    },
}
