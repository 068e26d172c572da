//! RPC handlers: pure functions `(image, request, ctx) -> ControllerResult<Reply>`.
//!
//! A handler runs on the active controller's single writer task. It validates against the
//! image it is given, decides, and returns the records to propose plus the reply to send
//! once they are applied. No `async`, no I/O; time, randomness and ids come from
//! [`crate::Ctx`]. Per-item failures are [`crate::ErrorCode`] values in the reply and add
//! no records; when every item fails, `records` is empty and nothing should be proposed.
//!
//! Read-only RPCs (`describe_topics`, `list_topics`, `describe_cluster`) return their reply
//! directly.

#[cfg(test)]
mod admin_proptests;
mod allocate_producer_ids;
mod alter_partition;
mod broker_heartbeat;
mod broker_lifecycle;
mod create_partitions;
mod create_topics;
mod delete_topics;
mod describe_cluster;
mod describe_configs;
mod describe_topics;
mod elect_leaders;
mod incremental_alter_configs;
mod list_topics;
mod reassignments;
mod register_broker;
mod update_features;

use crate::records::Record;

pub use allocate_producer_ids::{
    AllocateProducerIds, AllocateProducerIdsReply, PRODUCER_ID_BLOCK_SIZE, allocate_producer_ids,
};
pub use alter_partition::{
    AlterPartition, AlterPartitionPartition, AlterPartitionPartitionResult, AlterPartitionReply,
    AlterPartitionTopic, AlterPartitionTopicResult, BrokerState, alter_partition,
};
pub use broker_heartbeat::{
    BrokerControlState, BrokerHeartbeat, BrokerHeartbeatReply, broker_heartbeat,
    broker_heartbeat_with_sessions,
};
pub use broker_lifecycle::{
    UnregisterBroker, UnregisterBrokerReply, fence_stale_brokers, unregister_broker,
};
pub use create_partitions::{
    CreatePartitions, CreatePartitionsReply, CreatePartitionsTopic, CreatePartitionsTopicResult,
    create_partitions,
};
pub use create_topics::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicResult, CreateTopics,
    CreateTopicsReply, MAX_RECORDS_PER_USER_OP, create_topics, create_topics_with_assignments,
};
pub use delete_topics::{
    DeletableTopicResult, DeleteTopicState, DeleteTopics, DeleteTopicsReply, delete_topics,
};
pub use describe_cluster::{BrokerDescription, ClusterDescription, describe_cluster};
pub use describe_configs::{
    DescribeConfigsEntry, DescribeConfigsResource, DescribeConfigsResult, describe_configs,
};
pub use describe_topics::{PartitionDescription, TopicDescription, describe_topics};
pub use elect_leaders::{
    ElectLeaders, ElectLeadersReply, ElectionType, PartitionElectionResult, ReplicaElectionResult,
    TopicPartitions, elect_leaders,
};
pub use incremental_alter_configs::{
    AlterConfigOp, AlterConfigsResource, AlterConfigsResourceResponse, AlterableConfig,
    IncrementalAlterConfigs, IncrementalAlterConfigsReply, incremental_alter_configs,
    incremental_alter_configs_with_limits,
};
pub use list_topics::{TopicListing, list_topics};
pub use reassignments::{
    AlterPartitionReassignments, AlterPartitionReassignmentsReply, OngoingPartitionReassignment,
    OngoingTopicReassignment, ReassignablePartition, ReassignablePartitionResponse,
    ReassignableTopic, ReassignableTopicResponse, alter_partition_reassignments,
    complete_reassignment, list_partition_reassignments,
};
pub use register_broker::{
    RegisterBroker, RegisterBrokerReply, register_broker, register_broker_with_sessions,
};
pub use update_features::{
    FeatureUpdate, FeatureUpgradeType, FeaturesDescription, SUPPORTED_FEATURES,
    UpdatableFeatureResult, UpdateFeatures, UpdateFeaturesReply, describe_features,
    update_features,
};

/// What a write handler decided: records to propose as one batch, and the reply.
///
/// The batch is applied all or nothing (`MetadataImage::apply`), so every result is
/// atomic in Kafka's sense. The reply is valid once the batch is applied; some replies
/// hold values fixed only at apply time (see [`RegisterBrokerReply::broker_epoch`]).
#[derive(Clone, Debug, PartialEq)]
pub struct ControllerResult<R> {
    /// Records to propose, in order; empty means propose nothing.
    pub records: Vec<Record>,
    /// The reply.
    pub reply: R,
}

impl<R> ControllerResult<R> {
    /// A result that writes nothing.
    pub fn reply_only(reply: R) -> Self {
        ControllerResult {
            records: Vec::new(),
            reply,
        }
    }
}
