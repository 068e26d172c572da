//! Broker registration records (SPEC §1.2 apiKeys 0, 1, 17).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::{BrokerEpoch, BrokerId};

/// One listener a broker advertises (Kafka `BrokerEndpoint`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Listener {
    /// Listener name, unique per broker (e.g. `PLAINTEXT`).
    pub name: String,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: u16,
    /// Security protocol name (e.g. `PLAINTEXT`, `SSL`).
    pub security_protocol: String,
}

/// A feature a broker supports, with the inclusive range of levels.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SupportedFeature {
    /// Feature name (e.g. `metadata.version`).
    pub name: String,
    /// Lowest supported level.
    pub min: i16,
    /// Highest supported level.
    pub max: i16,
}

/// Create or amend the registration of `broker_id` (Kafka `RegisterBrokerRecord`).
///
/// The broker epoch is *not* in the record: for a new incarnation, apply sets it to the Raft
/// log index of the batch (SPEC §9). For the same incarnation the record is an amendment:
/// apply keeps the epoch, `fenced` and `in_controlled_shutdown` and replaces the rest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterBrokerRecord {
    /// The broker.
    pub broker_id: BrokerId,
    /// Random id of the broker process; a new one means a restart.
    pub incarnation_id: Uuid,
    /// Advertised listeners.
    pub listeners: Vec<Listener>,
    /// Rack, if configured.
    #[serde(default)]
    pub rack: Option<String>,
    /// Supported features.
    #[serde(default)]
    pub features: Vec<SupportedFeature>,
    /// Fenced state of a new incarnation (always `true` from the handler; ignored on amend).
    pub fenced: bool,
}

/// Remove the registration of `broker_id` (Kafka `UnregisterBrokerRecord`).
///
/// Guard: `broker_epoch` must be the registration's current epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnregisterBrokerRecord {
    /// The broker.
    pub broker_id: BrokerId,
    /// The epoch the leader saw; apply rejects the batch if it is not current.
    pub broker_epoch: BrokerEpoch,
}

/// Change the fencing or controlled-shutdown state of a registration (Kafka
/// `BrokerRegistrationChangeRecord`, KIP-746). `None` fields mean "no change".
///
/// Guard: `broker_epoch` must be the registration's current epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerRegistrationChangeRecord {
    /// The broker.
    pub broker_id: BrokerId,
    /// The epoch the leader saw; apply rejects the batch if it is not current.
    pub broker_epoch: BrokerEpoch,
    /// `Some(true)` fences, `Some(false)` unfences.
    #[serde(default)]
    pub fenced: Option<bool>,
    /// `Some(true)` enters controlled shutdown (KIP-841), `Some(false)` clears it.
    #[serde(default)]
    pub in_controlled_shutdown: Option<bool>,
}
