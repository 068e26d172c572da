//! Rack-aware replica placement with an injected RNG (SPEC §4.8), after Kafka's
//! `StripedReplicaPlacer`.
//!
//! Racks are sorted; each rack keeps its unfenced and fenced brokers in separate lists with
//! random start offsets. For each partition the leader is the next *unfenced* broker
//! starting from rack `offset`; followers go round-robin over the racks from `offset`,
//! skipping the leader's rack on the first pass, preferring unfenced brokers within a rack.
//! `offset` moves one rack per partition, so leaders and replica sets stripe across the
//! cluster (p0 A0,B0,C0; p1 B1,C1,A1; ...). After as many partitions as there are unfenced
//! brokers, racks and brokers are reshuffled to avoid repeating the same sets.
//!
//! Deterministic given the RNG state. Unlike Kafka, iteration rounds are numbered with a
//! counter that never resets, so a list untouched since an earlier round with the same
//! number cannot look exhausted.

use std::collections::BTreeMap;

use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::ids::BrokerId;

/// A broker that may hold a new replica: registered and not in controlled shutdown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsableBroker {
    /// The broker.
    pub id: BrokerId,
    /// Its rack, if any.
    pub rack: Option<String>,
    /// Fenced brokers are placed only when unfenced ones run out, and never first.
    pub fenced: bool,
}

/// Why placement failed; the message is Kafka's `InvalidReplicationFactorException` text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PlacementError(pub String);

/// Place `num_partitions` partitions of `replication_factor` replicas each on `brokers`.
///
/// Each result has `replication_factor` distinct brokers, the first unfenced. Errors (in
/// Kafka's order): RF not positive; no unfenced broker ("All brokers are currently
/// fenced."); RF above the number of usable brokers ("The target replication factor of N
/// cannot be reached because only M unfenced broker(s) are registered.").
pub fn place(
    rng: &mut StdRng,
    brokers: &[UsableBroker],
    num_partitions: usize,
    replication_factor: usize,
) -> Result<Vec<Vec<BrokerId>>, PlacementError> {
    if replication_factor == 0 {
        return Err(PlacementError(
            "Invalid replication factor 0: the replication factor must be positive.".into(),
        ));
    }
    let mut racks = RackList::new(rng, brokers);
    if racks.num_unfenced == 0 {
        return Err(PlacementError("All brokers are currently fenced.".into()));
    }
    if replication_factor > racks.num_total {
        return Err(PlacementError(format!(
            "The target replication factor of {replication_factor} cannot be reached because \
             only {} unfenced broker(s) are registered.",
            racks.num_total
        )));
    }
    (0..num_partitions)
        .map(|_| racks.place(rng, replication_factor))
        .collect()
}

#[derive(Debug, Default)]
struct BrokerList {
    brokers: Vec<BrokerId>,
    offset: usize,
    index: usize,
    round: Option<u64>,
}

impl BrokerList {
    fn init(&mut self, rng: &mut StdRng) {
        self.brokers.sort();
        if !self.brokers.is_empty() {
            self.offset = rng.random_range(0..self.brokers.len());
        }
    }

    fn shuffle(&mut self, rng: &mut StdRng) {
        self.brokers.shuffle(rng);
    }

    /// The next broker of this round, or `None` when the round has used them all.
    fn next(&mut self, round: u64) -> Option<BrokerId> {
        let len = self.brokers.len();
        if len == 0 {
            return None;
        }
        if self.round != Some(round) {
            if self.round.is_some() {
                self.offset = (self.offset + 1) % len;
            }
            self.round = Some(round);
            self.index = 0;
        }
        if self.index >= len {
            return None;
        }
        let b = self.brokers.get((self.index + self.offset) % len).copied();
        self.index += 1;
        b
    }
}

#[derive(Debug, Default)]
struct Rack {
    unfenced: BrokerList,
    fenced: BrokerList,
}

impl Rack {
    fn next(&mut self, round: u64) -> Option<BrokerId> {
        self.unfenced
            .next(round)
            .or_else(|| self.fenced.next(round))
    }
}

struct RackList {
    racks: BTreeMap<Option<String>, Rack>,
    /// Order in which racks are visited; sorted at first, shuffled on each reset.
    names: Vec<Option<String>>,
    num_total: usize,
    num_unfenced: usize,
    /// Partitions placed since the last shuffle.
    placed_since_shuffle: usize,
    /// Strictly increasing round number, one per partition.
    round: u64,
    offset: usize,
}

impl RackList {
    fn new(rng: &mut StdRng, brokers: &[UsableBroker]) -> Self {
        let mut racks: BTreeMap<Option<String>, Rack> = BTreeMap::new();
        let mut num_unfenced = 0;
        for b in brokers {
            let rack = racks.entry(b.rack.clone()).or_default();
            if b.fenced {
                rack.fenced.brokers.push(b.id);
            } else {
                num_unfenced += 1;
                rack.unfenced.brokers.push(b.id);
            }
        }
        for rack in racks.values_mut() {
            rack.unfenced.init(rng);
            rack.fenced.init(rng);
        }
        let names: Vec<Option<String>> = racks.keys().cloned().collect();
        let offset = if names.is_empty() {
            0
        } else {
            rng.random_range(0..names.len())
        };
        RackList {
            racks,
            names,
            num_total: brokers.len(),
            num_unfenced,
            placed_since_shuffle: 0,
            round: 0,
            offset,
        }
    }

    fn rack_at(&mut self, i: usize) -> Option<&mut Rack> {
        let name = self.names.get(i)?;
        self.racks.get_mut(name)
    }

    fn place(&mut self, rng: &mut StdRng, rf: usize) -> Result<Vec<BrokerId>, PlacementError> {
        // With a single unfenced broker a reshuffle cannot help, and resetting would loop.
        if self.placed_since_shuffle == self.num_unfenced && self.num_unfenced > 1 {
            self.names.shuffle(rng);
            for rack in self.racks.values_mut() {
                rack.unfenced.shuffle(rng);
                rack.fenced.shuffle(rng);
            }
            self.placed_since_shuffle = 0;
        }
        let n = self.names.len();
        if self.offset >= n {
            self.offset = 0;
        }
        let round = self.round;
        let mut chosen = Vec::with_capacity(rf);

        // Leader: the first unfenced broker from rack `offset` on. Every unfenced list is
        // fresh this round, so one pass over the racks finds one.
        let mut leader_rack = None;
        for step in 0..n {
            let i = (self.offset + step) % n;
            if let Some(b) = self.rack_at(i).and_then(|r| r.unfenced.next(round)) {
                chosen.push(b);
                leader_rack = Some(i);
                break;
            }
        }
        if chosen.is_empty() {
            return Err(PlacementError("All brokers are currently fenced.".into()));
        }

        // Followers: round-robin from `offset`, skipping the leader's rack once. Each full
        // pass yields at least one broker while any remain unused this round, so
        // (rf + 1) passes bound the loop.
        let mut i = self.offset;
        let mut steps = 0;
        while chosen.len() < rf {
            if steps > (rf + 1) * n {
                return Err(PlacementError(format!(
                    "The target replication factor of {rf} cannot be reached because only \
                     {} unfenced broker(s) are registered.",
                    self.num_total
                )));
            }
            steps += 1;
            if Some(i) == leader_rack {
                leader_rack = None;
            } else if let Some(b) = self.rack_at(i).and_then(|r| r.next(round)) {
                chosen.push(b);
            }
            i = (i + 1) % n;
        }
        self.round += 1;
        self.placed_since_shuffle += 1;
        self.offset += 1;
        Ok(chosen)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use rand::SeedableRng;

    use super::*;

    fn brokers(spec: &[(i32, Option<&str>, bool)]) -> Vec<UsableBroker> {
        spec.iter()
            .map(|&(id, rack, fenced)| UsableBroker {
                id: BrokerId(id),
                rack: rack.map(str::to_string),
                fenced,
            })
            .collect()
    }

    fn rng(seed: u64) -> StdRng {
        StdRng::seed_from_u64(seed)
    }

    #[test]
    fn placement_is_deterministic_given_the_seed() {
        let b = brokers(&[(1, None, false), (2, None, false), (3, None, false)]);
        let a = place(&mut rng(9), &b, 20, 2).unwrap();
        assert_eq!(a, place(&mut rng(9), &b, 20, 2).unwrap());
    }

    #[test]
    fn replicas_are_distinct_and_leader_is_unfenced() {
        let b = brokers(&[
            (1, Some("a"), false),
            (2, Some("a"), true),
            (3, Some("b"), false),
            (4, Some("b"), true),
            (5, None, true),
        ]);
        for seed in 0..50 {
            for p in place(&mut rng(seed), &b, 13, 5).unwrap() {
                let set: BTreeSet<_> = p.iter().collect();
                assert_eq!(set.len(), 5, "{p:?}");
                assert!([BrokerId(1), BrokerId(3)].contains(&p[0]), "{p:?}");
            }
        }
    }

    #[test]
    fn prefers_unfenced_followers() {
        let b = brokers(&[(1, None, false), (2, None, false), (3, None, true)]);
        for p in place(&mut rng(1), &b, 10, 2).unwrap() {
            assert!(!p.contains(&BrokerId(3)), "{p:?}");
        }
    }

    #[test]
    fn spreads_leaders_and_racks() {
        let b = brokers(&[
            (1, Some("a"), false),
            (2, Some("a"), false),
            (3, Some("b"), false),
            (4, Some("b"), false),
            (5, Some("c"), false),
            (6, Some("c"), false),
        ]);
        let rack = |id: BrokerId| ((id.0 + 1) / 2) as u8;
        let parts = place(&mut rng(3), &b, 60, 3).unwrap();
        let mut leaders: BTreeMap<BrokerId, usize> = BTreeMap::new();
        for p in &parts {
            let racks: BTreeSet<u8> = p.iter().map(|&id| rack(id)).collect();
            assert_eq!(racks.len(), 3, "one replica per rack: {p:?}");
            *leaders.entry(p[0]).or_default() += 1;
        }
        assert_eq!(
            leaders.len(),
            6,
            "every broker leads something: {leaders:?}"
        );
        assert!(leaders.values().all(|&n| n == 10), "{leaders:?}");
    }

    #[test]
    fn single_unfenced_broker_with_fenced_followers() {
        let b = brokers(&[(1, None, false), (2, None, true), (3, None, true)]);
        for p in place(&mut rng(5), &b, 7, 3).unwrap() {
            assert_eq!(p[0], BrokerId(1));
            assert_eq!(p.iter().collect::<BTreeSet<_>>().len(), 3);
        }
    }

    #[test]
    fn errors_use_kafka_messages() {
        let b = brokers(&[(1, None, true)]);
        assert_eq!(
            place(&mut rng(0), &b, 1, 1).unwrap_err().0,
            "All brokers are currently fenced."
        );
        let b = brokers(&[(1, None, false), (2, None, false), (3, None, false)]);
        assert_eq!(
            place(&mut rng(0), &b, 1, 4).unwrap_err().0,
            "The target replication factor of 4 cannot be reached because only 3 unfenced \
             broker(s) are registered."
        );
        assert!(
            place(&mut rng(0), &b, 1, 0)
                .unwrap_err()
                .0
                .contains("must be positive")
        );
    }
}
