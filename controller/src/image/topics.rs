//! Topics and partitions.

use std::collections::{BTreeMap, BTreeSet};

use imbl::OrdMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ids::{BrokerId, LeaderEpoch, PartitionEpoch, TopicId};
use crate::records::LeaderRecoveryState;
use crate::topic_name;

/// The state of one partition (Kafka `PartitionRegistration`, SPEC §4.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionRegistration {
    /// Replicas in preference order; `replicas[0]` is the preferred leader.
    pub replicas: Vec<BrokerId>,
    /// In-sync replicas.
    pub isr: Vec<BrokerId>,
    /// Replicas being removed by a reassignment.
    pub removing_replicas: Vec<BrokerId>,
    /// Replicas being added by a reassignment.
    pub adding_replicas: Vec<BrokerId>,
    /// Leader, or [`BrokerId::NO_LEADER`].
    pub leader: BrokerId,
    /// Leader recovery state (KIP-704).
    pub leader_recovery_state: LeaderRecoveryState,
    /// Bumped when the leader field is set.
    pub leader_epoch: LeaderEpoch,
    /// Bumped on every change.
    pub partition_epoch: PartitionEpoch,
}

/// One topic and its partitions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicImage {
    /// Topic name.
    pub name: String,
    /// Topic id.
    pub topic_id: TopicId,
    /// Partitions by index.
    pub partitions: BTreeMap<i32, PartitionRegistration>,
}

/// All topics, by name, with derived indexes by id and by collision-normalized name.
///
/// Serialized as the map by name only; the indexes are rebuilt on decode, so a snapshot
/// cannot hold an index that disagrees with the topics.
///
/// The maps are persistent (`imbl::OrdMap`, a B-tree whose nodes are shared between clones):
/// cloning the image costs a few reference counts however many topics it holds, and a
/// change after a clone copies only the nodes on its path. Snapshots encode such a clone
/// outside the state machine's lock, and the active controller's working image starts
/// from one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopicsImage {
    by_name: OrdMap<String, TopicImage>,
    by_id: OrdMap<TopicId, String>,
    /// `unify_collision_chars(name)` → names with '.' or '_' (Kafka `topicsWithCollisionChars`).
    collisions: OrdMap<String, BTreeSet<String>>,
}

impl TopicsImage {
    /// All topics, sorted by name.
    pub fn by_name(&self) -> &OrdMap<String, TopicImage> {
        &self.by_name
    }

    /// The topic called `name`.
    pub fn get(&self, name: &str) -> Option<&TopicImage> {
        self.by_name.get(name)
    }

    /// The topic with id `id`.
    pub fn get_by_id(&self, id: TopicId) -> Option<&TopicImage> {
        self.by_id.get(&id).and_then(|n| self.by_name.get(n))
    }

    /// The name of the topic with id `id`: one lookup in the id index, none by name.
    pub fn name_of(&self, id: TopicId) -> Option<&str> {
        self.by_id.get(&id).map(String::as_str)
    }

    /// An existing topic that `name` collides with after '.'↔'_' unification, if any
    /// (the smallest such name). An existing topic with exactly `name` is also returned.
    pub fn colliding_topic(&self, name: &str) -> Option<&str> {
        if !topic_name::has_collision_chars(name) {
            return None;
        }
        self.collisions
            .get(&topic_name::unify_collision_chars(name))
            .and_then(|s| s.first())
            .map(String::as_str)
    }

    pub(crate) fn get_mut(&mut self, name: &str) -> Option<&mut TopicImage> {
        self.by_name.get_mut(name)
    }

    /// Insert a topic whose name and id are free (the caller checked).
    pub(crate) fn insert(&mut self, topic: TopicImage) {
        self.by_id.insert(topic.topic_id, topic.name.clone());
        if topic_name::has_collision_chars(&topic.name) {
            self.collisions
                .entry(topic_name::unify_collision_chars(&topic.name))
                .or_default()
                .insert(topic.name.clone());
        }
        self.by_name.insert(topic.name.clone(), topic);
    }

    /// Remove the topic called `name` with its indexes.
    pub(crate) fn remove(&mut self, name: &str) -> Option<TopicImage> {
        let topic = self.by_name.remove(name)?;
        self.by_id.remove(&topic.topic_id);
        let key = topic_name::unify_collision_chars(name);
        if let Some(set) = self.collisions.get_mut(&key) {
            set.remove(name);
            if set.is_empty() {
                self.collisions.remove(&key);
            }
        }
        Some(topic)
    }
}

impl Serialize for TopicsImage {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.by_name.serialize(s)
    }
}

impl<'de> Deserialize<'de> for TopicsImage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let by_name = BTreeMap::<String, TopicImage>::deserialize(d)?;
        let mut topics = TopicsImage::default();
        for (name, topic) in by_name {
            if name != topic.name {
                return Err(D::Error::custom(format!(
                    "topic stored under '{name}' is named '{}'",
                    topic.name
                )));
            }
            if let Some(other) = topics.by_id.get(&topic.topic_id) {
                return Err(D::Error::custom(format!(
                    "topics '{other}' and '{name}' share id {}",
                    topic.topic_id
                )));
            }
            topics.insert(topic);
        }
        Ok(topics)
    }
}
