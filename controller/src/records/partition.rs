//! Partition records (SPEC §1.2 apiKeys 3, 5; §4.1).

use serde::{Deserialize, Serialize};

use crate::ids::{BrokerId, LeaderEpoch, PartitionEpoch, TopicId};

/// Whether the leader's log may be missing committed data (KIP-704).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum LeaderRecoveryState {
    /// Normal: the leader has all committed data (Kafka 0).
    #[default]
    Recovered,
    /// Elected uncleanly; the leader must report `Recovered` before the ISR can grow (Kafka 1).
    Recovering,
}

impl LeaderRecoveryState {
    /// Kafka's int8 code.
    pub fn code(self) -> i8 {
        match self {
            LeaderRecoveryState::Recovered => 0,
            LeaderRecoveryState::Recovering => 1,
        }
    }
}

/// The full state of a new partition (Kafka `PartitionRecord`).
///
/// Guards: the topic exists and the partition does not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionRecord {
    /// The topic.
    pub topic_id: TopicId,
    /// Partition index, 0-based.
    pub partition_id: i32,
    /// Replicas in preference order; `replicas[0]` is the preferred leader.
    pub replicas: Vec<BrokerId>,
    /// In-sync replicas.
    pub isr: Vec<BrokerId>,
    /// Leader, or [`BrokerId::NO_LEADER`].
    pub leader: BrokerId,
    /// Leader epoch (0 at creation).
    pub leader_epoch: LeaderEpoch,
    /// Partition epoch (0 at creation).
    pub partition_epoch: PartitionEpoch,
    /// Leader recovery state.
    #[serde(default)]
    pub leader_recovery_state: LeaderRecoveryState,
    /// Replicas being added by a reassignment.
    #[serde(default)]
    pub adding_replicas: Vec<BrokerId>,
    /// Replicas being removed by a reassignment.
    #[serde(default)]
    pub removing_replicas: Vec<BrokerId>,
}

/// A delta to one partition (Kafka `PartitionChangeRecord`). `None` means "no change".
///
/// Apply: every present field replaces the current value; `partition_epoch += 1` always;
/// `leader_epoch += 1` iff `leader` is `Some` (SPEC §1.2 apiKey 5, §4.1).
/// `Some(BrokerId::NO_LEADER)` removes the leader.
///
/// Guards: the partition exists, and if `expected_partition_epoch` is set it equals the
/// current partition epoch (the state the leader computed the change from).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionChangeRecord {
    /// The topic.
    pub topic_id: TopicId,
    /// Partition index.
    pub partition_id: i32,
    /// The partition epoch this change was computed against (kraftd's guard; Kafka relies on
    /// its single-writer timeline instead).
    #[serde(default)]
    pub expected_partition_epoch: Option<PartitionEpoch>,
    /// New ISR.
    #[serde(default)]
    pub isr: Option<Vec<BrokerId>>,
    /// New leader (Kafka's -2 "no change" is `None`).
    #[serde(default)]
    pub leader: Option<BrokerId>,
    /// New replica list.
    #[serde(default)]
    pub replicas: Option<Vec<BrokerId>>,
    /// New removing-replicas list.
    #[serde(default)]
    pub removing_replicas: Option<Vec<BrokerId>>,
    /// New adding-replicas list.
    #[serde(default)]
    pub adding_replicas: Option<Vec<BrokerId>>,
    /// New leader recovery state.
    #[serde(default)]
    pub leader_recovery_state: Option<LeaderRecoveryState>,
}

impl PartitionChangeRecord {
    /// A change to `topic_id`/`partition_id` that changes nothing yet; set fields on it.
    pub fn new(topic_id: TopicId, partition_id: i32) -> Self {
        PartitionChangeRecord {
            topic_id,
            partition_id,
            expected_partition_epoch: None,
            isr: None,
            leader: None,
            replicas: None,
            removing_replicas: None,
            adding_replicas: None,
            leader_recovery_state: None,
        }
    }
}
