//! DescribeCluster (read-only; Kafka apiKey 60, fenced brokers included as in KIP-1073).

use crate::ids::{BrokerEpoch, BrokerId};
use crate::image::MetadataImage;
use crate::records::Listener;

/// One registered broker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerDescription {
    /// The broker.
    pub broker_id: BrokerId,
    /// Its current epoch.
    pub broker_epoch: BrokerEpoch,
    /// Advertised listeners.
    pub listeners: Vec<Listener>,
    /// Rack, if any.
    pub rack: Option<String>,
    /// Fenced?
    pub fenced: bool,
    /// In controlled shutdown?
    pub in_controlled_shutdown: bool,
}

/// The cluster as described.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterDescription {
    /// The cluster id, once written.
    pub cluster_id: Option<String>,
    /// Every registered broker, fenced or not, by id.
    pub brokers: Vec<BrokerDescription>,
}

/// Describe the cluster id and every registered broker, sorted by id.
pub fn describe_cluster(image: &MetadataImage) -> ClusterDescription {
    ClusterDescription {
        cluster_id: image.cluster_id().map(str::to_string),
        brokers: image
            .cluster()
            .brokers()
            .values()
            .map(|b| BrokerDescription {
                broker_id: b.broker_id,
                broker_epoch: b.broker_epoch,
                listeners: b.listeners.clone(),
                rack: b.rack.clone(),
                fenced: b.fenced,
                in_controlled_shutdown: b.in_controlled_shutdown,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{CLUSTER_ID, TestImage};

    #[test]
    fn describe_cluster_lists_fenced_and_unfenced_brokers() {
        let t = TestImage::new().brokers(1..=3).unfenced(2..=2);
        let d = describe_cluster(&t.image);
        assert_eq!(d.cluster_id.as_deref(), Some(CLUSTER_ID));
        let ids: Vec<_> = d
            .brokers
            .iter()
            .map(|b| (b.broker_id.0, b.fenced))
            .collect();
        assert_eq!(ids, [(1, true), (2, false), (3, true)]);
        assert!(d.brokers.iter().all(|b| b.broker_epoch.0 > 0));
    }
}
