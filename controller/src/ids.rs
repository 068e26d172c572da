//! Typed ids and epochs (STYLE §5): a swapped broker id and epoch fails to compile.
//!
//! Every newtype is `#[serde(transparent)]`, so it encodes as its inner value and can be a
//! JSON map key (integers and UUIDs encode as strings there).

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A broker's `node.id` (Kafka `BrokerId`, int32). Valid ids are `>= 0`.
///
/// In partition state, [`BrokerId::NO_LEADER`] (-1) stands for "no leader", as in Kafka.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BrokerId(pub i32);

impl BrokerId {
    /// Kafka's `LeaderConstants.NO_LEADER`: the partition has no leader.
    pub const NO_LEADER: BrokerId = BrokerId(-1);
}

/// The epoch of one broker incarnation: the Raft log index of the batch holding its
/// `RegisterBrokerRecord` (SPEC §3.2, §9). Unchanged by amendments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BrokerEpoch(pub i64);

/// A topic's immutable id, chosen at random by the handler that creates the topic.
///
/// Ordered as the UUID's bytes are, compared as one big-endian `u128`: the map of topics by
/// id compares ids on every lookup, and a byte-slice comparison is a `memcmp` call each time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TopicId(pub Uuid);

impl Ord for TopicId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.as_u128().cmp(&other.0.as_u128())
    }
}

impl PartialOrd for TopicId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Bumped whenever a partition's leader field is set (SPEC §4.1); fences old leaders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LeaderEpoch(pub i32);

/// Bumped by every change to a partition (SPEC §4.1); the optimistic-concurrency version
/// checked by AlterPartition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PartitionEpoch(pub i32);

macro_rules! display_inner {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    )*};
}
display_inner!(BrokerId, BrokerEpoch, TopicId, LeaderEpoch, PartitionEpoch);

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn ids_are_json_map_keys() {
        let mut m = BTreeMap::new();
        m.insert(BrokerId(3), 1);
        m.insert(BrokerId(-1), 2);
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, r#"{"-1":2,"3":1}"#);
        let back: BTreeMap<BrokerId, i32> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, m);

        let mut t = BTreeMap::new();
        t.insert(TopicId(Uuid::from_u128(7)), "a".to_string());
        let json = serde_json::to_string(&t).unwrap();
        let back: BTreeMap<TopicId, String> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, t);
    }

    proptest::proptest! {
        /// Snapshots walk topics in id order: the `u128` comparison must order ids exactly as
        /// their bytes (the UUID's own order) did, or replicas of different versions would
        /// encode the same image differently.
        #[test]
        fn topic_ids_order_as_their_bytes(a in proptest::prelude::any::<[u8; 16]>(),
                                          other in proptest::prelude::any::<[u8; 16]>(),
                                          shared in 0usize..=16) {
            // `b` shares its first `shared` bytes with `a`: ids that differ late are tested too.
            let mut b = other;
            b[..shared].copy_from_slice(&a[..shared]);
            let (x, y) = (TopicId(Uuid::from_bytes(a)), TopicId(Uuid::from_bytes(b)));
            proptest::prop_assert_eq!(x.cmp(&y), a.cmp(&b));
            proptest::prop_assert_eq!(x.cmp(&y), x.0.cmp(&y.0));
            proptest::prop_assert_eq!(x.partial_cmp(&y), Some(a.cmp(&b)));
        }
    }

    #[test]
    fn display_shows_inner_value() {
        assert_eq!(BrokerId(4).to_string(), "4");
        assert_eq!(BrokerEpoch(10).to_string(), "10");
        assert_eq!(
            TopicId(Uuid::nil()).to_string(),
            "00000000-0000-0000-0000-000000000000"
        );
    }
}
