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

mod broker_heartbeat;
mod create_topics;
mod describe_cluster;
mod describe_topics;
mod list_topics;
mod register_broker;

use crate::records::Record;

pub use broker_heartbeat::{BrokerHeartbeat, BrokerHeartbeatReply, broker_heartbeat};
pub use create_topics::{
    CreatableTopic, CreatableTopicResult, CreateTopics, CreateTopicsReply, MAX_RECORDS_PER_USER_OP,
    create_topics,
};
pub use describe_cluster::{BrokerDescription, ClusterDescription, describe_cluster};
pub use describe_topics::{PartitionDescription, TopicDescription, describe_topics};
pub use list_topics::{TopicListing, list_topics};
pub use register_broker::{RegisterBroker, RegisterBrokerReply, register_broker};

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
