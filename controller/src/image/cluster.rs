//! Brokers and the cluster id.

use imbl::OrdMap;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::{BrokerEpoch, BrokerId};
use crate::records::{Listener, SupportedFeature};

/// The registration of one broker incarnation (Kafka `BrokerRegistration`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerRegistration {
    /// The broker.
    pub broker_id: BrokerId,
    /// The registered incarnation.
    pub incarnation_id: Uuid,
    /// Raft log index of the batch that registered this incarnation.
    pub broker_epoch: BrokerEpoch,
    /// Advertised listeners.
    pub listeners: Vec<Listener>,
    /// Rack, if any.
    pub rack: Option<String>,
    /// Supported features.
    pub features: Vec<SupportedFeature>,
    /// Fenced brokers are neither leaders nor ISR members (KIP-841).
    pub fenced: bool,
    /// In controlled shutdown (KIP-841).
    pub in_controlled_shutdown: bool,
    /// Raft log index of the latest `RegisterBrokerRecord` for this broker (new or amend):
    /// the broker is caught up once its metadata offset reaches it (SPEC §3.4).
    pub registered_offset: u64,
}

impl BrokerRegistration {
    /// Unfenced and not in controlled shutdown: may lead, join an ISR, or be a first replica.
    pub fn is_active(&self) -> bool {
        !self.fenced && !self.in_controlled_shutdown
    }
}

/// Cluster-wide identity and broker registrations.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterImage {
    pub(crate) cluster_id: Option<String>,
    /// Persistent map (cheap clones), like the topics: see [`super::TopicsImage`].
    pub(crate) brokers: OrdMap<BrokerId, BrokerRegistration>,
}

impl ClusterImage {
    /// The cluster id, once a `ClusterIdRecord` has been applied.
    pub fn cluster_id(&self) -> Option<&str> {
        self.cluster_id.as_deref()
    }

    /// All registrations, by broker id.
    pub fn brokers(&self) -> &OrdMap<BrokerId, BrokerRegistration> {
        &self.brokers
    }
}
