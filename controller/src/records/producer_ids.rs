//! Producer id block records (SPEC §1.2 apiKey 15, §2.12).

use serde::{Deserialize, Serialize};

use crate::ids::{BrokerEpoch, BrokerId};

/// Hand the block `[previous next_producer_id, next_producer_id)` to `broker_id` (Kafka
/// `ProducerIdsRecord`, `ProducerIdControlManager.replay`).
///
/// Guards: `next_producer_id` is strictly greater than the image's next free producer id
/// (so blocks never overlap), and `broker_epoch` is the broker's current epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerIdsRecord {
    /// The broker the block was allocated to.
    pub broker_id: BrokerId,
    /// The broker's epoch when it asked.
    pub broker_epoch: BrokerEpoch,
    /// The first producer id of the next block (the end, exclusive, of this one).
    pub next_producer_id: i64,
}
