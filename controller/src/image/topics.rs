//! Topics and partitions.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use imbl::{GenericHashMap, OrdMap};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ids::{BrokerId, LeaderEpoch, PartitionEpoch, TopicId};
use crate::records::LeaderRecoveryState;
use crate::topic_name;

/// A persistent hash trie hashed with foldhash (several times faster than the default
/// SipHash on short keys), with seed `S`.
type Trie<K, V, S> = GenericHashMap<K, V, S, imbl::shared_ptr::DefaultSharedPtr>;

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
    pub partitions: Partitions,
}

/// A topic's partitions by index, in index order: a vector sorted by index, with the lookup and
/// iteration methods of a `BTreeMap<i32, PartitionRegistration>`.
///
/// Kafka numbers a topic's partitions `0..n` and only ever adds at the end, so the vector is
/// dense and grows by appending: a lookup is one bounds check (a binary search otherwise), and
/// it grows by a quarter of its length (at least one slot) instead of doubling, so a topic of
/// one partition holds one. A `BTreeMap` leaf has room for 11 (~1.3 KiB here), which was most
/// of the image's memory for small topics: a benchmark creating 1-partition topics grew every
/// controller's heap by that much per topic, and on a VM first touching fresh memory is dear.
/// Serialized as a map index → partition, exactly as the `BTreeMap` was.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Partitions(Vec<(i32, PartitionRegistration)>);

impl Partitions {
    /// No partitions.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of partitions.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn position(&self, index: i32) -> Result<usize, usize> {
        if let Ok(at) = usize::try_from(index)
            && self.0.get(at).is_some_and(|(k, _)| *k == index)
        {
            return Ok(at);
        }
        self.0.binary_search_by_key(&index, |(k, _)| *k)
    }

    /// The partition with this index.
    pub fn get(&self, index: &i32) -> Option<&PartitionRegistration> {
        self.position(*index).ok().map(|at| &self.0[at].1)
    }

    /// The partition with this index, to change it.
    pub fn get_mut(&mut self, index: &i32) -> Option<&mut PartitionRegistration> {
        self.position(*index).ok().map(|at| &mut self.0[at].1)
    }

    /// True when a partition has this index.
    pub fn contains_key(&self, index: &i32) -> bool {
        self.position(*index).is_ok()
    }

    /// Sets the partition at `index`; returns the one it replaced.
    pub fn insert(
        &mut self,
        index: i32,
        partition: PartitionRegistration,
    ) -> Option<PartitionRegistration> {
        match self.position(index) {
            Ok(at) => Some(std::mem::replace(&mut self.0[at].1, partition)),
            Err(at) => {
                if self.0.len() == self.0.capacity() {
                    self.0.reserve_exact((self.0.len() / 4).max(1));
                }
                self.0.insert(at, (index, partition));
                None
            }
        }
    }

    /// Removes the partition at `index`.
    pub fn remove(&mut self, index: &i32) -> Option<PartitionRegistration> {
        self.position(*index).ok().map(|at| self.0.remove(at).1)
    }

    /// `(index, partition)` in index order.
    pub fn iter(
        &self,
    ) -> impl DoubleEndedIterator<Item = (&i32, &PartitionRegistration)> + ExactSizeIterator + Clone
    {
        self.0.iter().map(|(k, v)| (k, v))
    }

    /// `(index, partition)` in index order, to change the partitions.
    pub fn iter_mut(
        &mut self,
    ) -> impl DoubleEndedIterator<Item = (&i32, &mut PartitionRegistration)> + ExactSizeIterator
    {
        self.0.iter_mut().map(|(k, v)| (&*k, v))
    }

    /// Indexes in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &i32> + ExactSizeIterator + Clone {
        self.0.iter().map(|(k, _)| k)
    }

    /// Partitions in index order.
    pub fn values(
        &self,
    ) -> impl DoubleEndedIterator<Item = &PartitionRegistration> + ExactSizeIterator + Clone {
        self.0.iter().map(|(_, v)| v)
    }

    /// Partitions in index order, to change them.
    pub fn values_mut(
        &mut self,
    ) -> impl DoubleEndedIterator<Item = &mut PartitionRegistration> + ExactSizeIterator {
        self.0.iter_mut().map(|(_, v)| v)
    }

    /// The partition with the highest index.
    pub fn last_key_value(&self) -> Option<(&i32, &PartitionRegistration)> {
        self.0.last().map(|(k, v)| (k, v))
    }
}

impl std::ops::Index<&i32> for Partitions {
    type Output = PartitionRegistration;
    /// The partition at `index`; panics if there is none, as `BTreeMap`'s index does.
    fn index(&self, index: &i32) -> &PartitionRegistration {
        self.get(index)
            .unwrap_or_else(|| panic!("no partition {index} in this topic"))
    }
}

impl<'a> IntoIterator for &'a Partitions {
    type Item = (&'a i32, &'a PartitionRegistration);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (i32, PartitionRegistration)>,
        fn(&'a (i32, PartitionRegistration)) -> (&'a i32, &'a PartitionRegistration),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl IntoIterator for Partitions {
    type Item = (i32, PartitionRegistration);
    type IntoIter = std::vec::IntoIter<(i32, PartitionRegistration)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl FromIterator<(i32, PartitionRegistration)> for Partitions {
    /// Like collecting into a `BTreeMap`: sorted by index, the last of equal indexes wins.
    fn from_iter<I: IntoIterator<Item = (i32, PartitionRegistration)>>(iter: I) -> Self {
        let mut v: Vec<_> = iter.into_iter().collect();
        if !v.is_sorted_by(|a, b| a.0 < b.0) {
            v.reverse(); // a stable sort after this keeps the last of equal indexes first
            v.sort_by_key(|(k, _)| *k);
            v.dedup_by_key(|(k, _)| *k);
        }
        v.shrink_to_fit();
        Self(v)
    }
}

impl Serialize for Partitions {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Partitions {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Partitions;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of partition index to partition")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Partitions, A::Error> {
                let mut v = Vec::with_capacity(map.size_hint().unwrap_or(0).min(4096));
                while let Some(entry) = map.next_entry::<i32, PartitionRegistration>()? {
                    v.push(entry);
                }
                Ok(v.into_iter().collect())
            }
        }
        deserializer.deserialize_map(Visit)
    }
}

/// All topics, stored by id, with indexes by name and by collision-normalized name.
///
/// Topics live in the map by id because records name them by id: applying a partition or
/// ISR change (most of the log) never compares topic names. The name index maps each name to
/// its id.
///
/// Both maps are hash tries (`imbl::HashMap`, a hash array mapped trie), not B-trees: every
/// topic create looks its name and id up several times (the handler's checks, then each
/// apply's checks and inserts), and every ISR change its id. In imbl's B-tree (16 keys a
/// node) a lookup among 100 k+ topics visits ~5 nodes and binary-searches each, a name
/// comparison costing a cache miss of its own behind the `String`'s pointer; the trie visits
/// ~4 nodes by hash bits and compares one key. Listings sort what they return (rare admin
/// calls); walks where order does not matter use [`TopicsImage::iter_unordered`].
///
/// Serialized as one map name → topic only, in id order (sorted at encode time); the indexes
/// are rebuilt on decode, so a snapshot cannot hold an index that disagrees with the topics.
///
/// The maps are persistent (`imbl`, trees whose nodes are shared between clones): cloning
/// the image costs a few reference counts however many topics it holds, and a change after a
/// clone copies only the nodes on its path. Snapshots encode such a clone outside the state
/// machine's lock, and the active controller's working image starts from one.
///
/// The tries hold each topic and each name behind an `Arc`: copying a shared node clones
/// every entry in it, and a topic held inline cloned its name, its partitions and their
/// replica lists (several allocations each) for every neighbour of the one topic changed.
/// With the `Arc`s a node copy is reference counts, and a change clones only the topic it
/// changes (`Arc::make_mut`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopicsImage {
    /// Fixed seed: ids are random already (the handler draws them), and a walk of the topics
    /// must come out in the same order in every run, so that handlers given the same seed
    /// write the same records (STYLE §3).
    by_id: Trie<TopicId, Arc<TopicImage>, foldhash::fast::FixedState>,
    /// Seeded per process: names come from users, who must not be able to choose names that
    /// collide. Never walked in hash order (listings sort).
    names: Trie<Arc<str>, TopicId, foldhash::fast::RandomState>,
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

    /// All topics, sorted by name (sorts them: for listings, not for hot paths).
    pub fn iter(&self) -> impl Iterator<Item = &TopicImage> + '_ {
        let mut topics: Vec<&TopicImage> = self.by_id.values().map(|t| &**t).collect();
        topics.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        topics.into_iter()
    }

    /// All topics in no particular order: cheaper than [`TopicsImage::iter`] where the order
    /// does not matter.
    pub fn iter_unordered(&self) -> impl Iterator<Item = &TopicImage> + '_ {
        self.by_id.values().map(|t| &**t)
    }

    /// All topic names, sorted (sorts them: for listings, not for hot paths).
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        let mut names: Vec<&str> = self.names.keys().map(|n| &**n).collect();
        names.sort_unstable();
        names.into_iter()
    }

    /// True if both share all their storage (one is an unchanged clone of the other).
    pub fn ptr_eq(&self, other: &Self) -> bool {
        self.by_id.ptr_eq(&other.by_id)
            && self.names.ptr_eq(&other.names)
            && self.collisions.ptr_eq(&other.collisions)
    }

    /// The topic called `name`.
    pub fn get(&self, name: &str) -> Option<&TopicImage> {
        self.names
            .get(name)
            .and_then(|id| self.by_id.get(id))
            .map(|t| &**t)
    }

    /// True if a topic is called `name` (one lookup in the name index).
    pub fn contains_name(&self, name: &str) -> bool {
        self.names.contains_key(name)
    }

    /// The topic with id `id`.
    pub fn get_by_id(&self, id: TopicId) -> Option<&TopicImage> {
        self.by_id.get(&id).map(|t| &**t)
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

    /// The topic with id `id`, to change: cloned first if another image shares it.
    pub(crate) fn get_mut_by_id(&mut self, id: TopicId) -> Option<&mut TopicImage> {
        self.by_id.get_mut(&id).map(Arc::make_mut)
    }

    /// Inserts `topic` if its name and id are free; otherwise changes nothing and says what
    /// is taken, checked in this order: the name, a name it collides with, the id.
    ///
    /// Inserts first and puts back what it displaced on a clash (a clash is rare: the handler
    /// checked), so a successful insert walks each map once instead of a lookup and then an
    /// insert: applying a topic record is on every create's path, twice on the active
    /// controller.
    pub(crate) fn try_insert(&mut self, topic: TopicImage) -> Result<(), Taken> {
        let (name, id): (Arc<str>, _) = (topic.name.as_str().into(), topic.topic_id);
        if let Some(prev) = self.names.insert(name.clone(), id) {
            self.names.insert(name, prev);
            return Err(Taken::Name);
        }
        if let Some(existing) = self.colliding_topic(&name) {
            let existing = existing.to_string();
            self.names.remove(&*name);
            return Err(Taken::CollidesWith(existing));
        }
        if let Some(prev) = self.by_id.insert(id, Arc::new(topic)) {
            let existing = prev.name.clone();
            self.by_id.insert(id, prev);
            self.names.remove(&*name);
            return Err(Taken::Id(existing));
        }
        self.index_collision(&name);
        Ok(())
    }

    /// Insert a topic whose name and id are free (the caller checked).
    pub(crate) fn insert(&mut self, topic: TopicImage) {
        self.names
            .insert(topic.name.as_str().into(), topic.topic_id);
        self.index_collision(&topic.name);
        self.by_id.insert(topic.topic_id, Arc::new(topic));
    }

    /// Adds `name` to the collision index if it has '.' or '_'.
    fn index_collision(&mut self, name: &str) {
        if topic_name::has_collision_chars(name) {
            self.collisions
                .entry(topic_name::unify_collision_chars(name))
                .or_default()
                .insert(name.to_string());
        }
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
        Some(Arc::unwrap_or_clone(topic))
    }
}

/// What kept [`TopicsImage::try_insert`] from inserting a topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Taken {
    /// A topic has this name.
    Name,
    /// The name collides ('.' ↔ '_') with this existing topic's.
    CollidesWith(String),
    /// The id belongs to this existing topic.
    Id(String),
}

impl Serialize for TopicsImage {
    /// A map name → topic, in id order: the topics are taken from one walk of the map by
    /// id, with no lookups, and sorted by id. Deterministic, so every replica encodes the same
    /// image to the same bytes whatever its hash seeds; the decoder takes the entries in any
    /// order.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut topics: Vec<&TopicImage> = self.by_id.values().map(|t| &**t).collect();
        topics.sort_unstable_by_key(|t| t.topic_id);
        s.collect_map(topics.into_iter().map(|t| (&t.name, t)))
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn partition(leader: i32) -> PartitionRegistration {
        PartitionRegistration {
            replicas: vec![BrokerId(leader), BrokerId(leader + 1)],
            isr: vec![BrokerId(leader)],
            removing_replicas: Vec::new(),
            adding_replicas: Vec::new(),
            leader: BrokerId(leader),
            leader_recovery_state: LeaderRecoveryState::Recovered,
            leader_epoch: LeaderEpoch(0),
            partition_epoch: PartitionEpoch(0),
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(i32, i32),
        Remove(i32),
        Change(i32, i32),
    }

    fn op() -> impl Strategy<Value = Op> {
        // Mostly small, dense indexes (the fast path), some far and negative ones.
        let index = prop_oneof![4 => 0..12i32, 1 => any::<i32>()];
        prop_oneof![
            4 => (index.clone(), 0..100i32).prop_map(|(i, l)| Op::Insert(i, l)),
            1 => index.clone().prop_map(Op::Remove),
            1 => (index, 0..100i32).prop_map(|(i, l)| Op::Change(i, l)),
        ]
    }

    proptest! {
        /// Any sequence of changes leaves the same partitions, in the same order, with the same
        /// answers and the same encoded bytes as the `BTreeMap` it replaces.
        #[test]
        fn behaves_and_encodes_like_a_btree_map(ops in proptest::collection::vec(op(), 0..60)) {
            let mut ours = Partitions::new();
            let mut model = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Insert(i, l) => {
                        prop_assert_eq!(ours.insert(i, partition(l)), model.insert(i, partition(l)));
                    }
                    Op::Remove(i) => prop_assert_eq!(ours.remove(&i), model.remove(&i)),
                    Op::Change(i, l) => {
                        let a = ours.get_mut(&i).map(|p| { p.leader = BrokerId(l); p.clone() });
                        let b = model.get_mut(&i).map(|p| { p.leader = BrokerId(l); p.clone() });
                        prop_assert_eq!(a, b);
                    }
                }
                prop_assert_eq!(ours.len(), model.len());
            }
            for i in -2..14 {
                prop_assert_eq!(ours.get(&i), model.get(&i));
                prop_assert_eq!(ours.contains_key(&i), model.contains_key(&i));
            }
            prop_assert!(ours.iter().eq(model.iter()));
            prop_assert!(ours.keys().rev().eq(model.keys().rev()));
            prop_assert_eq!(ours.last_key_value(), model.last_key_value());
            prop_assert_eq!(
                postcard::to_allocvec(&ours).expect("postcard"),
                postcard::to_allocvec(&model).expect("postcard")
            );
            let json = serde_json::to_string(&model).expect("json");
            prop_assert_eq!(serde_json::to_string(&ours).expect("json"), json.clone());
            let back: Partitions = serde_json::from_str(&json).expect("decode");
            prop_assert_eq!(back, ours.clone());
            let collected: Partitions = model.clone().into_iter().rev().collect();
            prop_assert_eq!(collected, ours);
        }
    }

    #[test]
    fn a_map_out_of_order_or_repeating_an_index_decodes_as_a_btree_map_would() {
        let json = r#"{"3":P3,"0":P0,"3":P3b}"#
            .replace("P3b", &serde_json::to_string(&partition(30)).expect("json"))
            .replace("P3", &serde_json::to_string(&partition(3)).expect("json"))
            .replace("P0", &serde_json::to_string(&partition(0)).expect("json"));
        let ours: Partitions = serde_json::from_str(&json).expect("ours");
        let model: BTreeMap<i32, PartitionRegistration> =
            serde_json::from_str(&json).expect("model");
        assert!(ours.iter().eq(model.iter()));
        assert_eq!(
            ours[&3].leader,
            BrokerId(30),
            "the last of a repeated index wins"
        );
    }

    #[test]
    fn a_small_topic_holds_only_its_partitions_and_appends_grow_by_a_quarter() {
        let mut p = Partitions::new();
        p.insert(0, partition(1));
        assert_eq!(p.0.capacity(), 1, "one partition, one slot");
        for i in 1..100 {
            p.insert(i, partition(1));
        }
        assert!(p.0.capacity() <= 125, "capacity {}", p.0.capacity());
        let collected: Partitions = (0..10).map(|i| (i, partition(1))).collect();
        assert_eq!(collected.0.capacity(), 10);
    }

    fn topic(i: u128) -> TopicImage {
        let mut partitions = Partitions::new();
        partitions.insert(0, partition(1));
        TopicImage {
            name: format!("t{i}"),
            topic_id: TopicId(uuid::Uuid::from_u128(i + 1)),
            partitions,
        }
    }

    #[test]
    fn changing_a_topic_in_a_clone_copies_that_topic_only() {
        let mut published = TopicsImage::default();
        for i in 0..200 {
            published.insert(topic(i));
        }
        let mut working = published.clone();
        let changed = TopicId(uuid::Uuid::from_u128(1));
        let t = working.get_mut_by_id(changed).expect("topic t0");
        t.partitions.get_mut(&0).expect("partition 0").isr = vec![BrokerId(1), BrokerId(2)];

        assert_eq!(
            published.get_by_id(changed).expect("t0").partitions[&0].isr,
            vec![BrokerId(1)],
            "the published image keeps its ISR"
        );
        assert_eq!(working.get("t0").expect("t0").partitions[&0].isr.len(), 2);
        for i in 1..200 {
            let id = TopicId(uuid::Uuid::from_u128(i + 1));
            let (a, b) = (published.get_by_id(id), working.get_by_id(id));
            assert!(
                a.zip(b).is_some_and(|(a, b)| std::ptr::eq(a, b)),
                "topic t{i} was copied, not shared, by a change to t0"
            );
        }
        assert_eq!(working.remove("t1"), Some(topic(1)));
        assert!(published.get("t1").is_some() && working.get("t1").is_none());
    }
}
