//! The metadata image: the replicated state every controller holds (Kafka `MetadataImage`).
//!
//! [`MetadataImage::apply`] is the only way to change it (STYLE §2 step 5). Everything
//! else reads.
//!
//! Snapshot body (also the image a new broker fetches), [`MetadataImage::encode`]:
//!
//! ```text
//!  0x01 · postcard(image)     current: binary, varint integers, no field names
//!  '{'  ...                   legacy (before format 1): serde_json of the image, still read
//! ```
//!
//! postcard is not self-describing: a field added to the image needs a new format byte
//! (and a decoder for the old one), not just `#[serde(default)]`.

mod apply;
mod cluster;
mod configs;
mod features;
mod producer_ids;
mod topics;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use cluster::{BrokerRegistration, ClusterImage};
pub use configs::ConfigsImage;
pub use features::FeaturesImage;
pub use producer_ids::ProducerIdsImage;
pub use topics::{PartitionRegistration, Partitions, TopicImage, TopicsImage};

use crate::ids::{BrokerId, TopicId};
use crate::records::ConfigResourceType;
use crate::topic_config::{self, ConfigSource};

/// First byte of an image encoded by [`MetadataImage::encode`]: postcard follows.
pub const IMAGE_FORMAT_POSTCARD: u8 = 0x01;

/// Why an image could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageCodecError {
    /// No bytes at all.
    #[error("empty metadata image")]
    Empty,
    /// The first byte names no format this version reads.
    #[error("unknown metadata image format byte 0x{0:02x} (expected 0x01 or '{{')")]
    UnknownFormat(u8),
    /// The body does not decode to an image.
    #[error("metadata image does not decode: {0}")]
    Decode(String),
    /// Serialization failed (cannot happen for the plain image types).
    #[error("metadata image does not encode: {0}")]
    Encode(String),
}

/// Cluster, topics, configs and features, as of `last_applied_offset`.
///
/// Deterministic: built only from applied batches, ordered maps only, so two replicas that
/// applied the same batches at the same offsets are equal (`PartialEq`) and encode to the
/// same bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataImage {
    cluster: ClusterImage,
    topics: TopicsImage,
    configs: ConfigsImage,
    features: FeaturesImage,
    /// Absent in snapshots written before producer ids existed.
    #[serde(default)]
    producer_ids: ProducerIdsImage,
    last_applied_offset: u64,
}

impl MetadataImage {
    /// An empty image (nothing applied).
    pub fn new() -> Self {
        Self::default()
    }

    /// Encode as a snapshot body: [`IMAGE_FORMAT_POSTCARD`] then the postcard encoding.
    /// Deterministic: equal images encode to equal bytes (ordered maps only).
    pub fn encode(&self) -> Result<Vec<u8>, ImageCodecError> {
        let mut out = vec![IMAGE_FORMAT_POSTCARD];
        postcard::to_io(self, &mut out).map_err(|e| ImageCodecError::Encode(e.to_string()))?;
        Ok(out)
    }

    /// Decode a snapshot body written by [`MetadataImage::encode`], or by an older kraftd
    /// (serde_json, first byte `{`). Never panics, whatever the input.
    pub fn decode(bytes: &[u8]) -> Result<Self, ImageCodecError> {
        match bytes.split_first() {
            None => Err(ImageCodecError::Empty),
            Some((&IMAGE_FORMAT_POSTCARD, body)) => {
                let (image, rest) = postcard::take_from_bytes::<Self>(body)
                    .map_err(|e| ImageCodecError::Decode(e.to_string()))?;
                if !rest.is_empty() {
                    return Err(ImageCodecError::Decode(format!(
                        "{} trailing bytes after the image",
                        rest.len()
                    )));
                }
                Ok(image)
            }
            Some((b'{', _)) => {
                serde_json::from_slice(bytes).map_err(|e| ImageCodecError::Decode(e.to_string()))
            }
            Some((&other, _)) => Err(ImageCodecError::UnknownFormat(other)),
        }
    }

    /// Offset of the last batch applied (0 when none).
    pub fn last_applied_offset(&self) -> u64 {
        self.last_applied_offset
    }

    /// Cluster id and brokers.
    pub fn cluster(&self) -> &ClusterImage {
        &self.cluster
    }

    /// Topics and partitions.
    pub fn topics(&self) -> &TopicsImage {
        &self.topics
    }

    /// Explicitly set configs.
    pub fn configs(&self) -> &ConfigsImage {
        &self.configs
    }

    /// Finalized feature levels.
    pub fn features(&self) -> &FeaturesImage {
        &self.features
    }

    /// Producer id allocation state.
    pub fn producer_ids(&self) -> &ProducerIdsImage {
        &self.producer_ids
    }

    /// The cluster id, once written.
    pub fn cluster_id(&self) -> Option<&str> {
        self.cluster.cluster_id()
    }

    /// The registration of broker `id`.
    pub fn broker(&self, id: BrokerId) -> Option<&BrokerRegistration> {
        self.cluster.brokers.get(&id)
    }

    /// Unfenced brokers, by id.
    pub fn unfenced_brokers(&self) -> impl Iterator<Item = &BrokerRegistration> {
        self.cluster.brokers.values().filter(|b| !b.fenced)
    }

    /// The topic called `name`.
    pub fn topic(&self, name: &str) -> Option<&TopicImage> {
        self.topics.get(name)
    }

    /// The topic with id `id`.
    pub fn topic_by_id(&self, id: TopicId) -> Option<&TopicImage> {
        self.topics.get_by_id(id)
    }

    /// Partition `index` of topic `name`.
    pub fn partition(&self, name: &str, index: i32) -> Option<&PartitionRegistration> {
        self.topics.get(name).and_then(|t| t.partitions.get(&index))
    }

    /// The configs set explicitly on topic `name` (empty if none).
    pub fn topic_configs(&self, name: &str) -> BTreeMap<String, String> {
        self.configs
            .get(ConfigResourceType::Topic, name)
            .cloned()
            .unwrap_or_default()
    }

    /// Effective configs of topic `name`, or `None` if the topic does not exist.
    ///
    /// Lookup order per key (SPEC §2.10, KAFKA-12670): the topic's own key → the cluster
    /// default broker config (BROKER `""`) of the key's broker synonym (`log.retention.ms`
    /// for `retention.ms`, [`topic_config::broker_synonym`]) → Kafka's topic default.
    /// Per-node broker configs are skipped: they differ between brokers.
    pub fn effective_topic_configs(&self, name: &str) -> Option<BTreeMap<String, String>> {
        Some(
            self.effective_topic_config_entries(name)?
                .into_iter()
                .map(|(k, (v, _))| (k, v))
                .collect(),
        )
    }

    /// [`MetadataImage::effective_topic_configs`] with the source of each value.
    pub fn effective_topic_config_entries(
        &self,
        name: &str,
    ) -> Option<BTreeMap<String, (String, ConfigSource)>> {
        self.topics.get(name)?;
        let own = self.configs.get(ConfigResourceType::Topic, name);
        Some(
            topic_config::TOPIC_CONFIGS
                .iter()
                .map(|d| {
                    let key = d.name.to_string();
                    let entry = self.topic_config_value(own, d.name, d.default);
                    (key, entry)
                })
                .collect(),
        )
    }

    /// Topic defaults with cluster-default broker overrides: the configs a topic created
    /// now with no configs of its own would have.
    pub fn default_topic_configs(&self) -> BTreeMap<String, String> {
        topic_config::TOPIC_CONFIGS
            .iter()
            .map(|d| {
                (
                    d.name.to_string(),
                    self.topic_config_value(None, d.name, d.default).0,
                )
            })
            .collect()
    }

    fn topic_config_value(
        &self,
        own: Option<&BTreeMap<String, String>>,
        key: &str,
        default: &str,
    ) -> (String, ConfigSource) {
        if let Some(v) = own.and_then(|m| m.get(key)) {
            return (v.clone(), ConfigSource::DynamicTopicConfig);
        }
        if let Some(v) =
            topic_config::broker_synonym(key).and_then(|b| self.cluster_default_config(b))
        {
            return (v.to_string(), ConfigSource::DynamicDefaultBrokerConfig);
        }
        (default.to_string(), ConfigSource::DefaultConfig)
    }

    /// Effective `min.insync.replicas` of topic `name` (own config → cluster default →
    /// Kafka's default 1); an unparsable value counts as 1.
    pub fn min_insync_replicas(&self, name: &str) -> usize {
        let own = self.configs.get(ConfigResourceType::Topic, name);
        self.topic_config_value(own, "min.insync.replicas", "1")
            .0
            .parse()
            .unwrap_or(1)
    }

    /// The cluster default (BROKER `""`) value of broker config `key`, if set.
    pub fn cluster_default_config(&self, key: &str) -> Option<&str> {
        self.configs
            .get(ConfigResourceType::Broker, "")
            .and_then(|m| m.get(key))
            .map(String::as_str)
    }
}

#[cfg(test)]
#[path = "codec_test.rs"]
mod codec_test;
