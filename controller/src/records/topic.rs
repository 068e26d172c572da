//! Topic records (SPEC §1.2 apiKeys 2, 9).

use serde::{Deserialize, Serialize};

use crate::ids::TopicId;

/// Create a topic with no partitions (Kafka `TopicRecord`); `Partition` records follow.
///
/// Guards: the name is free, it does not collide with an existing name after '.'↔'_'
/// unification (SPEC §4.9), and the id is unused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicRecord {
    /// Topic name.
    pub name: String,
    /// New topic id.
    pub topic_id: TopicId,
}

/// Delete a topic, all its partitions and its topic configs (Kafka `RemoveTopicRecord`).
///
/// Guard: the topic exists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoveTopicRecord {
    /// The topic.
    pub topic_id: TopicId,
}
