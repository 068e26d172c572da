//! Metadata records: the only things written to the Raft log (SPEC §1.2).
//!
//! A [`RecordBatch`] is one Raft entry. Records state *facts decided by the leader*
//! (topic ids, replica placements, broker fencing) and the *assumptions* the leader made
//! (broker epoch, "this topic name is free"); [`crate::MetadataImage::apply`] checks those
//! assumptions and rejects a stale batch whole, identically on every replica.
//!
//! Encoding ([`RecordBatch::encode`]): a format byte, then the batch's serde form.
//! [`BATCH_FORMAT_BINARY`] (`0x01`) is [postcard] (compact, no field names); batches written
//! as serde_json by older versions (first byte `{`, externally tagged `{"Topic":{...}}`)
//! still decode, so existing Raft logs replay. Brokers decode the same bytes (the
//! `FetchMetadata` stream carries them unchanged). Binary serde formats have no field names:
//! a record gains a field only with a new format byte (or a new record variant), and record
//! fields must not use `skip_serializing_if`, `flatten` or `untagged`. Optional fields keep
//! `#[serde(default)]`, which the JSON form uses.

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

    /// Encodes for the Raft log: [`BATCH_FORMAT_BINARY`], then postcard.
    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        encode_binary(self)
    }

    /// Decodes [`RecordBatch::encode`]'s output, or a legacy JSON batch. Never panics.
    pub fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        decode_binary(bytes)
    }
}

/// Format byte of binary (postcard) record batches and apply outcomes.
pub const BATCH_FORMAT_BINARY: u8 = 0x01;

/// Format byte of a *group*: several requests' batches in one Raft entry (the active
/// controller's group commit), then postcard of the batches (or of their apply outcomes).
/// Each batch is still applied all or nothing, on its own, in order, at the entry's offset.
pub const BATCH_FORMAT_GROUP: u8 = 0x02;

/// Encodes several batches as one Raft entry: one batch keeps the plain
/// [`BATCH_FORMAT_BINARY`] encoding, more become a [`BATCH_FORMAT_GROUP`].
pub fn encode_entry(batches: &[RecordBatch]) -> Result<Vec<u8>, CodecError> {
    match batches {
        [one] => one.encode(),
        many => encode_group(&many),
    }
}

/// Decodes a Raft entry's batches: a group, a binary batch or a legacy JSON batch.
pub fn decode_entry(bytes: &[u8]) -> Result<Vec<RecordBatch>, CodecError> {
    match bytes.first() {
        Some(&BATCH_FORMAT_GROUP) => decode_body(bytes),
        _ => Ok(vec![RecordBatch::decode(bytes)?]),
    }
}

/// [`BATCH_FORMAT_GROUP`] then postcard of `v`.
pub(crate) fn encode_group<T: Serialize>(v: &T) -> Result<Vec<u8>, CodecError> {
    Ok(postcard::to_extend(v, vec![BATCH_FORMAT_GROUP])?)
}

/// Decodes [`encode_group`]'s output (format byte included).
pub(crate) fn decode_body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (v, rest) = postcard::take_from_bytes(&bytes[1..])?;
    if rest.is_empty() {
        Ok(v)
    } else {
        Err(CodecError::Trailing(rest.len()))
    }
}

/// Why encoded records did not encode or decode.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// No bytes at all.
    #[error("empty record batch")]
    Empty,
    /// The first byte names no known format.
    #[error(
        "unknown record batch format byte {0:#04x} (expected 0x01 binary, 0x02 group or legacy JSON)"
    )]
    UnknownFormat(u8),
    /// postcard could not encode or decode the value.
    #[error("binary record batch: {0}")]
    Binary(#[from] postcard::Error),
    /// The value is followed by bytes that belong to nothing.
    #[error("{0} trailing bytes after the record batch")]
    Trailing(usize),
    /// Legacy JSON that does not decode.
    #[error("legacy JSON record batch: {0}")]
    Json(#[from] serde_json::Error),
}

/// [`BATCH_FORMAT_BINARY`] then the postcard bytes of `v`.
pub(crate) fn encode_binary<T: Serialize>(v: &T) -> Result<Vec<u8>, CodecError> {
    Ok(postcard::to_extend(v, vec![BATCH_FORMAT_BINARY])?)
}

/// Decodes [`encode_binary`]'s output, or legacy JSON (first byte `{` or `"`).
pub(crate) fn decode_binary<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    match bytes.first() {
        None => Err(CodecError::Empty),
        Some(&BATCH_FORMAT_BINARY) => decode_body(bytes),
        Some(b'{' | b'"') => Ok(serde_json::from_slice(bytes)?),
        Some(&b) => Err(CodecError::UnknownFormat(b)),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use uuid::Uuid;

    use super::*;
    use crate::ids::{BrokerEpoch, BrokerId, PartitionEpoch, TopicId};

    fn brokers() -> impl Strategy<Value = Option<Vec<BrokerId>>> {
        proptest::option::of(proptest::collection::vec(
            any::<i32>().prop_map(BrokerId),
            0..5,
        ))
    }

    fn delta_records() -> impl Strategy<Value = Vec<Record>> {
        let change = (
            any::<u128>(),
            any::<i32>(),
            proptest::option::of(any::<i32>()),
            (brokers(), brokers(), brokers(), brokers()),
            proptest::option::of(any::<i32>()),
            proptest::option::of(any::<bool>()),
        )
            .prop_map(
                |(t, p, expected, (isr, replicas, removing, adding), leader, rec)| {
                    Record::PartitionChange(PartitionChangeRecord {
                        topic_id: TopicId(Uuid::from_u128(t)),
                        partition_id: p,
                        expected_partition_epoch: expected.map(PartitionEpoch),
                        isr,
                        leader: leader.map(BrokerId),
                        replicas,
                        removing_replicas: removing,
                        adding_replicas: adding,
                        leader_recovery_state: rec.map(|r| {
                            if r {
                                LeaderRecoveryState::Recovering
                            } else {
                                LeaderRecoveryState::Recovered
                            }
                        }),
                    })
                },
            );
        let fence = (
            any::<i32>(),
            any::<i64>(),
            proptest::option::of(any::<bool>()),
            proptest::option::of(any::<bool>()),
        )
            .prop_map(|(b, e, fenced, shutdown)| {
                Record::BrokerRegistrationChange(BrokerRegistrationChangeRecord {
                    broker_id: BrokerId(b),
                    broker_epoch: BrokerEpoch(e),
                    fenced,
                    in_controlled_shutdown: shutdown,
                })
            });
        proptest::collection::vec(prop_oneof![change, fence, Just(Record::NoOp)], 0..6)
    }

    proptest! {
        /// Every combination of present and absent optional fields survives the binary
        /// format and the legacy JSON one (binary formats break on skipped fields).
        #[test]
        fn delta_records_round_trip_with_any_optional_fields(records in delta_records()) {
            let batch = RecordBatch::new(records);
            let bytes = batch.encode().expect("encode");
            prop_assert_eq!(&RecordBatch::decode(&bytes).expect("decode"), &batch);
            let json = serde_json::to_vec(&batch).expect("json");
            prop_assert_eq!(RecordBatch::decode(&json).expect("legacy json"), batch);
        }
    }

    #[test]
    fn batch_round_trips_binary_and_legacy_json_still_decodes() {
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
        assert_eq!(bytes[0], BATCH_FORMAT_BINARY);
        assert_eq!(RecordBatch::decode(&bytes).unwrap(), batch);
        let json = serde_json::to_vec(&batch).unwrap();
        assert!(
            json.len() > 2 * bytes.len(),
            "{} vs {}",
            json.len(),
            bytes.len()
        );
        assert_eq!(RecordBatch::decode(&json).unwrap(), batch);
    }

    #[test]
    fn undecodable_batches_are_errors_not_panics() {
        let good = RecordBatch::new(vec![Record::NoOp, Record::NoOp])
            .encode()
            .unwrap();
        assert!(matches!(RecordBatch::decode(&[]), Err(CodecError::Empty)));
        assert!(matches!(
            RecordBatch::decode(&[7, 1]),
            Err(CodecError::UnknownFormat(7))
        ));
        let mut long = good.clone();
        long.push(0);
        assert!(matches!(
            RecordBatch::decode(&long),
            Err(CodecError::Trailing(1))
        ));
        for cut in 1..good.len() {
            assert!(RecordBatch::decode(&good[..cut]).is_err(), "cut at {cut}");
        }
        // An unknown record variant (a newer writer) is an error, not a different record.
        let mut unknown = good.clone();
        unknown[2] = 200;
        assert!(RecordBatch::decode(&unknown).is_err());
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
