//! Metadata records: the only things written to the Raft log (SPEC §1.2).
//!
//! A [`RecordBatch`] is one Raft entry. Records state *facts decided by the leader*
//! (topic ids, replica placements, broker fencing) and the *assumptions* the leader made
//! (broker epoch, "this topic name is free"); [`crate::MetadataImage::apply`] checks those
//! assumptions and rejects a stale batch whole, identically on every replica.
//!
//! Encoding: serde, externally tagged (`{"Topic":{...}}`), written with `serde_json`.
//! Optional fields use `#[serde(default)]` so later versions can add fields the way Kafka
//! adds tagged fields.

mod broker;
mod cluster;
mod config;
mod feature;
mod partition;
mod producer_ids;
mod topic;

use serde::{Deserialize, Serialize};

pub use broker::{
    BrokerRegistrationChangeRecord, Listener, RegisterBrokerRecord, SupportedFeature,
    UnregisterBrokerRecord,
};
pub use cluster::ClusterIdRecord;
pub use config::{ConfigRecord, ConfigResourceType};
pub use feature::FeatureLevelRecord;
pub use partition::{LeaderRecoveryState, PartitionChangeRecord, PartitionRecord};
pub use producer_ids::ProducerIdsRecord;
pub use topic::{RemoveTopicRecord, TopicRecord};

/// One metadata record. Variant names follow Kafka's record names without the `Record`
/// suffix (`Record::RegisterBroker(RegisterBrokerRecord)`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Record {
    /// Kafka apiKey 0: create or amend a broker registration.
    RegisterBroker(RegisterBrokerRecord),
    /// Kafka apiKey 1: remove a broker registration.
    UnregisterBroker(UnregisterBrokerRecord),
    /// Kafka apiKey 17: fence, unfence or mark a broker in controlled shutdown.
    BrokerRegistrationChange(BrokerRegistrationChangeRecord),
    /// Kafka apiKey 2: create a topic.
    Topic(TopicRecord),
    /// Kafka apiKey 3: the full state of a new partition.
    Partition(PartitionRecord),
    /// Kafka apiKey 5: a delta to an existing partition.
    PartitionChange(PartitionChangeRecord),
    /// Kafka apiKey 9: delete a topic, its partitions and its configs.
    RemoveTopic(RemoveTopicRecord),
    /// Kafka apiKey 4: set or delete one config key.
    Config(ConfigRecord),
    /// Kafka apiKey 12: set a finalized feature level.
    FeatureLevel(FeatureLevelRecord),
    /// kraftd only: the cluster id, written once by the first active controller.
    ClusterId(ClusterIdRecord),
    /// Kafka apiKey 15: the next free producer id after a block was handed out.
    ProducerIds(ProducerIdsRecord),
    /// Kafka apiKey 20: no change; advances the applied offset on an idle cluster.
    NoOp,
}

/// The kind of a [`Record`], for errors and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum RecordKind {
    /// [`Record::RegisterBroker`]
    RegisterBroker,
    /// [`Record::UnregisterBroker`]
    UnregisterBroker,
    /// [`Record::BrokerRegistrationChange`]
    BrokerRegistrationChange,
    /// [`Record::Topic`]
    Topic,
    /// [`Record::Partition`]
    Partition,
    /// [`Record::PartitionChange`]
    PartitionChange,
    /// [`Record::RemoveTopic`]
    RemoveTopic,
    /// [`Record::Config`]
    Config,
    /// [`Record::FeatureLevel`]
    FeatureLevel,
    /// [`Record::ClusterId`]
    ClusterId,
    /// [`Record::ProducerIds`]
    ProducerIds,
    /// [`Record::NoOp`]
    NoOp,
}

impl RecordKind {
    /// Kafka's record class name (kraftd's own records get the same suffix).
    pub fn name(self) -> &'static str {
        match self {
            RecordKind::RegisterBroker => "RegisterBrokerRecord",
            RecordKind::UnregisterBroker => "UnregisterBrokerRecord",
            RecordKind::BrokerRegistrationChange => "BrokerRegistrationChangeRecord",
            RecordKind::Topic => "TopicRecord",
            RecordKind::Partition => "PartitionRecord",
            RecordKind::PartitionChange => "PartitionChangeRecord",
            RecordKind::RemoveTopic => "RemoveTopicRecord",
            RecordKind::Config => "ConfigRecord",
            RecordKind::FeatureLevel => "FeatureLevelRecord",
            RecordKind::ClusterId => "ClusterIdRecord",
            RecordKind::ProducerIds => "ProducerIdsRecord",
            RecordKind::NoOp => "NoOpRecord",
        }
    }
}

impl std::fmt::Display for RecordKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Record {
    /// This record's kind.
    pub fn kind(&self) -> RecordKind {
        match self {
            Record::RegisterBroker(_) => RecordKind::RegisterBroker,
            Record::UnregisterBroker(_) => RecordKind::UnregisterBroker,
            Record::BrokerRegistrationChange(_) => RecordKind::BrokerRegistrationChange,
            Record::Topic(_) => RecordKind::Topic,
            Record::Partition(_) => RecordKind::Partition,
            Record::PartitionChange(_) => RecordKind::PartitionChange,
            Record::RemoveTopic(_) => RecordKind::RemoveTopic,
            Record::Config(_) => RecordKind::Config,
            Record::FeatureLevel(_) => RecordKind::FeatureLevel,
            Record::ClusterId(_) => RecordKind::ClusterId,
            Record::ProducerIds(_) => RecordKind::ProducerIds,
            Record::NoOp => RecordKind::NoOp,
        }
    }
}

/// One Raft log entry's payload: records applied all or nothing at one offset.
///
/// The batch's Raft log index is not stored here: `apply` receives it, and it becomes the
/// broker epoch of any new registration in the batch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordBatch {
    /// The records, applied in order.
    pub records: Vec<Record>,
}

impl RecordBatch {
    /// A batch of these records.
    pub fn new(records: Vec<Record>) -> Self {
        RecordBatch { records }
    }

    /// Encode as JSON, the Raft log format.
    pub fn encode(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    /// Decode from [`RecordBatch::encode`]'s output.
    pub fn decode(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::ids::{BrokerEpoch, BrokerId, TopicId};

    #[test]
    fn batch_round_trips_through_json() {
        let batch = RecordBatch::new(vec![
            Record::ClusterId(ClusterIdRecord {
                cluster_id: "c1".into(),
            }),
            Record::Topic(TopicRecord {
                name: "t".into(),
                topic_id: TopicId(Uuid::from_u128(1)),
            }),
            Record::BrokerRegistrationChange(BrokerRegistrationChangeRecord {
                broker_id: BrokerId(1),
                broker_epoch: BrokerEpoch(5),
                fenced: Some(false),
                in_controlled_shutdown: None,
            }),
            Record::NoOp,
        ]);
        let bytes = batch.encode().unwrap();
        assert_eq!(RecordBatch::decode(&bytes).unwrap(), batch);
    }

    #[test]
    fn records_are_externally_tagged() {
        let json = serde_json::to_string(&Record::NoOp).unwrap();
        assert_eq!(json, r#""NoOp""#);
        let json = serde_json::to_string(&Record::RemoveTopic(RemoveTopicRecord {
            topic_id: TopicId(Uuid::nil()),
        }))
        .unwrap();
        assert!(json.starts_with(r#"{"RemoveTopic":{"#), "{json}");
    }

    #[test]
    fn absent_optional_fields_decode_as_no_change() {
        let json = format!(
            r#"{{"PartitionChange":{{"topic_id":"{}","partition_id":0}}}}"#,
            Uuid::nil()
        );
        let r: Record = serde_json::from_str(&json).unwrap();
        let Record::PartitionChange(c) = r else {
            panic!("wrong variant")
        };
        assert_eq!(c.leader, None);
        assert_eq!(c.isr, None);
    }
}
