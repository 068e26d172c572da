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

/// All topics, stored by id, with indexes by name and by collision-normalized name.
///
/// Topics live in the map by id because records name them by id: applying a partition or
/// ISR change (most of the log) never compares topic names. The name index maps each name to
/// its id and gives the listing order.
///
/// Serialized as one map name → topic only (in id order); the indexes are rebuilt on decode,
/// so a snapshot cannot hold an index that disagrees with the topics.
///
/// The maps are persistent (`imbl::OrdMap`, a B-tree whose nodes are shared between clones):
/// cloning the image costs a few reference counts however many topics it holds, and a
/// change after a clone copies only the nodes on its path. Snapshots encode such a clone
/// outside the state machine's lock, and the active controller's working image starts
/// from one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopicsImage {
    by_id: OrdMap<TopicId, TopicImage>,
    names: OrdMap<String, TopicId>,
    /// `unify_collision_chars(name)` → names with '.' or '_' (Kafka `topicsWithCollisionChars`).
    collisions: OrdMap<String, BTreeSet<String>>,
}

impl TopicsImage {
    /// Number of topics.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// True when there are no topics.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// All topics, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = &TopicImage> + '_ {
        self.names.values().filter_map(|id| self.by_id.get(id))
    }

    /// All topics in no particular order (by id): cheaper than [`TopicsImage::iter`] where
    /// the order does not matter.
    pub fn iter_unordered(&self) -> impl Iterator<Item = &TopicImage> + '_ {
        self.by_id.values()
    }

    /// All topic names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.names.keys().map(String::as_str)
    }

    /// True if both share all their storage (one is an unchanged clone of the other).
    pub fn ptr_eq(&self, other: &Self) -> bool {
        self.by_id.ptr_eq(&other.by_id)
            && self.names.ptr_eq(&other.names)
            && self.collisions.ptr_eq(&other.collisions)
    }

    /// The topic called `name`.
    pub fn get(&self, name: &str) -> Option<&TopicImage> {
        self.names.get(name).and_then(|id| self.by_id.get(id))
    }

    /// True if a topic is called `name` (one lookup in the name index).
    pub fn contains_name(&self, name: &str) -> bool {
        self.names.contains_key(name)
    }

    /// The topic with id `id`.
    pub fn get_by_id(&self, id: TopicId) -> Option<&TopicImage> {
        self.by_id.get(&id)
    }

    /// The name of the topic with id `id`.
    pub fn name_of(&self, id: TopicId) -> Option<&str> {
        self.by_id.get(&id).map(|t| t.name.as_str())
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

    pub(crate) fn get_mut_by_id(&mut self, id: TopicId) -> Option<&mut TopicImage> {
        self.by_id.get_mut(&id)
    }

    /// Insert a topic whose name and id are free (the caller checked).
    pub(crate) fn insert(&mut self, topic: TopicImage) {
        self.names.insert(topic.name.clone(), topic.topic_id);
        if topic_name::has_collision_chars(&topic.name) {
            self.collisions
                .entry(topic_name::unify_collision_chars(&topic.name))
                .or_default()
                .insert(topic.name.clone());
        }
        self.by_id.insert(topic.topic_id, topic);
    }

    /// Remove the topic called `name` with its indexes.
    pub(crate) fn remove(&mut self, name: &str) -> Option<TopicImage> {
        let id = self.names.remove(name)?;
        let topic = self.by_id.remove(&id)?;
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
    /// A map name → topic, in id order: one walk of the map by id, with no lookups (walking
    /// the name index would look each topic up by id, 100 k random lookups per snapshot at
    /// scale). Deterministic, so every replica encodes the same image to the same bytes; the
    /// decoder takes the entries in any order.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.by_id.values().map(|t| (&t.name, t)))
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
            if let Some(other) = topics.name_of(topic.topic_id) {
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
