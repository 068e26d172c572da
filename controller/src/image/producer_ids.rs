//! Producer id allocation state (Kafka `ProducerIdsImage`).

use serde::{Deserialize, Serialize};

use crate::ids::BrokerId;

/// The next free producer id, and who got the last block.
///
/// Part of the replicated image (and so of snapshots): a new active controller continues
/// from here, so blocks stay disjoint across restarts and failovers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerIdsImage {
    pub(crate) next_producer_id: i64,
    pub(crate) last_broker_id: Option<BrokerId>,
}

impl ProducerIdsImage {
    /// The first producer id of the next block (0 before any allocation).
    pub fn next_producer_id(&self) -> i64 {
        self.next_producer_id
    }

    /// The broker that received the most recent block, if any.
    pub fn last_broker_id(&self) -> Option<BrokerId> {
        self.last_broker_id
    }
}
