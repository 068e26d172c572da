//! DescribeTopics (read-only; Kafka Metadata / DescribeTopicPartitions on the controller).

use std::collections::BTreeMap;

use crate::error_code::ErrorCode;
use crate::ids::{BrokerId, LeaderEpoch, PartitionEpoch, TopicId};
use crate::image::MetadataImage;

/// One partition as described.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionDescription {
    /// Partition index.
    pub partition_index: i32,
    /// Leader, or [`BrokerId::NO_LEADER`].
    pub leader: BrokerId,
    /// Replicas in preference order.
    pub replicas: Vec<BrokerId>,
    /// In-sync replicas.
    pub isr: Vec<BrokerId>,
    /// Leader epoch.
    pub leader_epoch: LeaderEpoch,
    /// Partition epoch.
    pub partition_epoch: PartitionEpoch,
}

/// One topic as described.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicDescription {
    /// Topic name, as requested.
    pub name: String,
    /// `ErrorCode::None`, or `UNKNOWN_TOPIC_OR_PARTITION`.
    pub error_code: ErrorCode,
    /// Set on failure.
    pub error_message: Option<String>,
    /// Topic id; `None` on failure.
    pub topic_id: Option<TopicId>,
    /// Partitions by index; empty on failure.
    pub partitions: Vec<PartitionDescription>,
    /// Only the explicitly set configs (defaults omitted).
    pub configs: BTreeMap<String, String>,
}

/// Describe `names` in request order; a missing name gets `UNKNOWN_TOPIC_OR_PARTITION`.
pub fn describe_topics(image: &MetadataImage, names: &[String]) -> Vec<TopicDescription> {
    names
        .iter()
        .map(|name| match image.topic(name) {
            None => TopicDescription {
                name: name.clone(),
                error_code: ErrorCode::UnknownTopicOrPartition,
                error_message: Some(format!("The topic '{name}' does not exist.")),
                topic_id: None,
                partitions: Vec::new(),
                configs: BTreeMap::new(),
            },
            Some(t) => TopicDescription {
                name: name.clone(),
                error_code: ErrorCode::None,
                error_message: None,
                topic_id: Some(t.topic_id),
                partitions: t
                    .partitions
                    .iter()
                    .map(|(&index, p)| PartitionDescription {
                        partition_index: index,
                        leader: p.leader,
                        replicas: p.replicas.clone(),
                        isr: p.isr.clone(),
                        leader_epoch: p.leader_epoch,
                        partition_epoch: p.partition_epoch,
                    })
                    .collect(),
                configs: image.topic_configs(name),
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::create_topics;
    use crate::testing::{TestImage, create_req};

    #[test]
    fn describe_topics_reports_partitions_and_explicit_configs() {
        let mut t = TestImage::new().brokers(1..=3).unfenced(1..=3);
        let mut req = create_req("orders", 2, 3);
        req.topics[0].configs = vec![("retention.ms".into(), Some("1000".into()))];
        let r = create_topics(&t.image, &req, &mut t.ctx);
        t.apply_all(&r.records);

        let d = describe_topics(&t.image, &["orders".into(), "missing".into()]);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].error_code, ErrorCode::None);
        assert_eq!(d[0].topic_id, r.reply.topics[0].topic_id);
        assert_eq!(d[0].partitions.len(), 2);
        assert_eq!(d[0].partitions[1].partition_index, 1);
        assert_eq!(d[0].partitions[0].replicas.len(), 3);
        assert_eq!(d[0].partitions[0].leader, d[0].partitions[0].replicas[0]);
        assert_eq!(d[0].configs.len(), 1);
        assert_eq!(d[0].configs["retention.ms"], "1000");
        assert_eq!(d[1].error_code, ErrorCode::UnknownTopicOrPartition);
        assert!(d[1].partitions.is_empty());
    }
}
