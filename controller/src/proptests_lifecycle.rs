//! Property tests for broker lifecycle and partition state (STYLE §3): random sequences of
//! register / heartbeat (fence, unfence, controlled shutdown) / session expiry / unregister
//! / AlterPartition / ElectLeaders / controller failover through the real handlers and the
//! leader's soft state, with time as an argument.
//!
//! Invariants after every step: every handler batch applies; ISR non-empty, duplicate-free
//! and ⊆ replicas; leader is -1 or an ISR member on a registered, active broker; leader
//! and partition epochs never decrease. At the end: replaying the log from any snapshot
//! point gives an identical image.

use std::collections::BTreeMap;

use proptest::prelude::*;
use uuid::Uuid;

use crate::ctx::Ctx;
use crate::handlers::{
    AlterPartition, AlterPartitionPartition, AlterPartitionTopic, BrokerHeartbeat, BrokerState,
    ElectLeaders, ElectionType, RegisterBroker, TopicPartitions, UnregisterBroker, alter_partition,
    broker_heartbeat_with_sessions, elect_leaders, fence_stale_brokers,
    register_broker_with_sessions, unregister_broker,
};
use crate::heartbeats::BrokerHeartbeatManager;
use crate::ids::{BrokerEpoch, BrokerId, LeaderEpoch, PartitionEpoch, TopicId};
use crate::image::MetadataImage;
use crate::records::{
    ClusterIdRecord, ConfigRecord, ConfigResourceType, LeaderRecoveryState, PartitionRecord,
    Record, RecordBatch, TopicRecord,
};
use crate::testing::listener;

const CLUSTER: &str = "lifecycle-prop";
const TOPICS: &[&str] = &["a", "b"];

#[derive(Clone, Debug)]
enum Step {
    Register {
        id: i32,
        incarnation: u8,
    },
    Heartbeat {
        id: i32,
        want_fence: bool,
        want_shutdown: bool,
        caught_up: bool,
    },
    Advance {
        ms: i64,
    },
    FenceStale,
    Unregister {
        id: i32,
    },
    Alter {
        topic: usize,
        partition: i32,
        isr_mask: u8,
        stale_epoch: bool,
    },
    Elect {
        unclean: bool,
        target: Option<(usize, i32)>,
    },
    Failover,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => (1..=5i32, 0..2u8).prop_map(|(id, incarnation)| Step::Register { id, incarnation }),
        8 => (1..=5i32, proptest::bool::weighted(0.1), proptest::bool::weighted(0.1), proptest::bool::weighted(0.9))
            .prop_map(|(id, want_fence, want_shutdown, caught_up)| Step::Heartbeat { id, want_fence, want_shutdown, caught_up }),
        3 => (0..12_000i64).prop_map(|ms| Step::Advance { ms }),
        2 => Just(Step::FenceStale),
        1 => (1..=5i32).prop_map(|id| Step::Unregister { id }),
        4 => (0..TOPICS.len(), 0..3i32, any::<u8>(), proptest::bool::weighted(0.1))
            .prop_map(|(topic, partition, isr_mask, stale_epoch)| Step::Alter { topic, partition, isr_mask, stale_epoch }),
        2 => (any::<bool>(), proptest::option::of((0..TOPICS.len(), 0..3i32)))
            .prop_map(|(unclean, target)| Step::Elect { unclean, target }),
        1 => Just(Step::Failover),
    ]
}

struct Sim {
    image: MetadataImage,
    hb: BrokerHeartbeatManager,
    ctx: Ctx,
    now_ms: i64,
    offset: u64,
    log: Vec<(RecordBatch, u64)>,
}

impl Sim {
    /// Brokers 1..=4 registered and unfenced; "a": 3 partitions over [1,2,3],[2,3,4],[3,4,1];
    /// "b" (unclean election enabled): [4,1],[1,2].
    fn new() -> Self {
        let mut s = Sim {
            image: MetadataImage::new(),
            hb: BrokerHeartbeatManager::default(),
            ctx: Ctx::new(1, 0),
            now_ms: 0,
            offset: 0,
            log: Vec::new(),
        };
        s.write(vec![Record::ClusterId(ClusterIdRecord {
            cluster_id: CLUSTER.into(),
        })]);
        for id in 1..=4 {
            s.run(&Step::Register { id, incarnation: 0 });
            s.run(&Step::Heartbeat {
                id,
                want_fence: false,
                want_shutdown: false,
                caught_up: true,
            });
        }
        let layouts: [&[&[i32]]; 2] = [&[&[1, 2, 3], &[2, 3, 4], &[3, 4, 1]], &[&[4, 1], &[1, 2]]];
        for (t, layout) in layouts.iter().enumerate() {
            let topic_id = TopicId(Uuid::from_u128(0xa0 + t as u128));
            let mut records = vec![Record::Topic(TopicRecord {
                name: TOPICS[t].into(),
                topic_id,
            })];
            for (i, replicas) in layout.iter().enumerate() {
                let replicas: Vec<BrokerId> = replicas.iter().copied().map(BrokerId).collect();
                records.push(Record::Partition(PartitionRecord {
                    topic_id,
                    partition_id: i as i32,
                    replicas: replicas.clone(),
                    isr: replicas.clone(),
                    leader: replicas[0],
                    leader_epoch: LeaderEpoch(0),
                    partition_epoch: PartitionEpoch(0),
                    leader_recovery_state: LeaderRecoveryState::Recovered,
                    adding_replicas: Vec::new(),
                    removing_replicas: Vec::new(),
                }));
            }
            s.write(records);
        }
        s.write(vec![Record::Config(ConfigRecord {
            resource_type: ConfigResourceType::Topic,
            resource_name: "b".into(),
            name: "unclean.leader.election.enable".into(),
            value: Some("true".into()),
        })]);
        s
    }

    /// Apply a handler's records as the next batch (if any); panics if a guard fails.
    fn write(&mut self, records: Vec<Record>) -> Option<u64> {
        if records.is_empty() {
            return None;
        }
        self.offset += 1;
        let batch = RecordBatch::new(records);
        if let Err(e) = self.image.apply(&batch, self.offset) {
            panic!("handler output must apply: {batch:?} -> {e}");
        }
        self.log.push((batch, self.offset));
        Some(self.offset)
    }

    fn run(&mut self, step: &Step) {
        self.ctx.set_now_ms(self.now_ms);
        match *step {
            Step::Register { id, incarnation } => {
                let req = RegisterBroker {
                    broker_id: BrokerId(id),
                    cluster_id: CLUSTER.into(),
                    incarnation_id: Uuid::from_u128(u128::from(incarnation) + 1),
                    listeners: vec![listener("PLAINTEXT", 9092)],
                    rack: None,
                    features: Vec::new(),
                };
                let r =
                    register_broker_with_sessions(&self.image, &req, &mut self.hb, &mut self.ctx);
                self.write(r.records);
            }
            Step::Heartbeat {
                id,
                want_fence,
                want_shutdown,
                caught_up,
            } => {
                let Some(b) = self.image.broker(BrokerId(id)) else {
                    return;
                };
                let req = BrokerHeartbeat {
                    broker_id: b.broker_id,
                    broker_epoch: b.broker_epoch,
                    current_metadata_offset: if caught_up {
                        self.image.last_applied_offset() as i64
                    } else {
                        -1
                    },
                    want_fence,
                    want_shutdown,
                };
                let r =
                    broker_heartbeat_with_sessions(&self.image, &req, &mut self.hb, &mut self.ctx);
                if let Some(offset) = self.write(r.records) {
                    self.hb.set_controlled_shutdown_offset(BrokerId(id), offset);
                }
            }
            Step::Advance { ms } => self.now_ms += ms,
            Step::FenceStale => loop {
                let r = fence_stale_brokers(&self.image, &self.hb, &mut self.ctx);
                if r.reply.is_none() {
                    break;
                }
                assert!(!r.records.is_empty());
                self.write(r.records);
            },
            Step::Unregister { id } => {
                let req = UnregisterBroker {
                    broker_id: BrokerId(id),
                };
                let r = unregister_broker(&self.image, &req, &mut self.hb, &mut self.ctx);
                self.write(r.records);
            }
            Step::Alter {
                topic,
                partition,
                isr_mask,
                stale_epoch,
            } => {
                let Some(t) = self.image.topic(TOPICS[topic]) else {
                    return;
                };
                let Some(p) = t.partitions.get(&partition) else {
                    return;
                };
                let Some(leader) = self.image.broker(p.leader) else {
                    return;
                };
                let isr = p
                    .replicas
                    .iter()
                    .enumerate()
                    .filter(|&(i, &r)| r == p.leader || isr_mask & (1 << i) != 0)
                    .map(|(_, &r)| BrokerState {
                        broker_id: r,
                        broker_epoch: self
                            .image
                            .broker(r)
                            .map_or(BrokerEpoch(-1), |b| b.broker_epoch),
                    })
                    .collect();
                let req = AlterPartition {
                    broker_id: leader.broker_id,
                    broker_epoch: leader.broker_epoch,
                    topics: vec![AlterPartitionTopic {
                        topic_id: t.topic_id,
                        partitions: vec![AlterPartitionPartition {
                            partition_index: partition,
                            leader_epoch: p.leader_epoch,
                            new_isr_with_epochs: isr,
                            leader_recovery_state: if isr_mask & 0x80 != 0 {
                                LeaderRecoveryState::Recovered
                            } else {
                                p.leader_recovery_state
                            },
                            partition_epoch: PartitionEpoch(
                                p.partition_epoch.0 - i32::from(stale_epoch),
                            ),
                        }],
                    }],
                };
                let r = alter_partition(&self.image, &req, &mut self.ctx);
                self.write(r.records);
            }
            Step::Elect { unclean, target } => {
                let req = ElectLeaders {
                    election_type: if unclean {
                        ElectionType::Unclean
                    } else {
                        ElectionType::Preferred
                    },
                    topic_partitions: target.map(|(t, p)| {
                        vec![TopicPartitions {
                            topic: TOPICS[t].into(),
                            partitions: vec![p],
                        }]
                    }),
                };
                let r = elect_leaders(&self.image, &req, &mut self.ctx);
                self.write(r.records);
            }
            Step::Failover => {
                self.hb = BrokerHeartbeatManager::default();
                self.hb.activate(&self.image, self.now_ms);
            }
        }
    }
}

type Epochs = BTreeMap<(String, i32), (LeaderEpoch, PartitionEpoch)>;

fn check_invariants(image: &MetadataImage, prev: &Epochs) -> Epochs {
    let mut epochs = Epochs::new();
    for t in image.topics().iter() {
        for (&i, p) in &t.partitions {
            let name = format!("{}-{i}", t.name);
            assert!(!p.isr.is_empty(), "{name}: empty ISR");
            assert!(
                p.isr.iter().all(|r| p.replicas.contains(r)),
                "{name}: ISR ⊄ replicas {p:?}"
            );
            let mut sorted = p.isr.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), p.isr.len(), "{name}: duplicate ISR member");
            if p.leader != BrokerId::NO_LEADER {
                assert!(p.isr.contains(&p.leader), "{name}: leader not in ISR {p:?}");
                let b = image.broker(p.leader);
                assert!(
                    b.is_some_and(|b| b.is_active()),
                    "{name}: leader {} is not an active registered broker",
                    p.leader
                );
            }
            let now = (p.leader_epoch, p.partition_epoch);
            if let Some(&(le, pe)) = prev.get(&(t.name.clone(), i)) {
                assert!(now.0 >= le && now.1 >= pe, "{name}: epochs went back");
            }
            epochs.insert((t.name.clone(), i), now);
        }
    }
    epochs
}

fn replay(log: &[(RecordBatch, u64)], mut image: MetadataImage) -> MetadataImage {
    for (batch, offset) in log {
        image.apply(batch, *offset).expect("replay applies");
    }
    image
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn lifecycle_sequences_keep_partition_invariants(
        steps in proptest::collection::vec(step(), 1..60),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut sim = Sim::new();
        let mut epochs = check_invariants(&sim.image, &Epochs::new());
        for s in &steps {
            sim.run(s);
            epochs = check_invariants(&sim.image, &epochs);
        }

        // Replay from scratch and from a snapshot taken at any batch boundary.
        let full = replay(&sim.log, MetadataImage::new());
        prop_assert_eq!(&full, &sim.image);
        let k = cut.index(sim.log.len() + 1);
        let head = replay(&sim.log[..k], MetadataImage::new());
        let restored = MetadataImage::decode(&head.encode().unwrap()).unwrap();
        prop_assert_eq!(&restored, &head);
        let tail = replay(&sim.log[k..], restored);
        prop_assert_eq!(tail.encode().unwrap(), sim.image.encode().unwrap());
    }

    #[test]
    fn brokers_that_keep_heartbeating_are_never_fenced_by_expiry(
        gaps in proptest::collection::vec(0..9_000i64, 1..30),
        failover_at in proptest::option::of(0..30usize),
    ) {
        let mut sim = Sim::new();
        sim.hb.activate(&sim.image, 0);
        for (i, gap) in gaps.iter().enumerate() {
            sim.now_ms += gap;
            if failover_at == Some(i) {
                sim.run(&Step::Failover);
            }
            for id in 1..=4 {
                sim.run(&Step::Heartbeat { id, want_fence: false, want_shutdown: false, caught_up: true });
            }
            sim.run(&Step::FenceStale);
            prop_assert_eq!(sim.image.unfenced_brokers().count(), 4);
        }
    }
}
