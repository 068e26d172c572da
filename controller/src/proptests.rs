//! Property tests (STYLE §3): random request sequences through the real handlers.
//!
//! * every batch a handler produces applies to the image it was computed from;
//! * `decode(encode(image)) == image`;
//! * replaying the log on a fresh image gives an equal image (and equal bytes);
//! * restoring a snapshot taken mid-log and replaying the rest gives the same image.

use proptest::prelude::*;
use uuid::Uuid;

use crate::ctx::Ctx;
use crate::handlers::{
    BrokerHeartbeat, CreatableTopic, CreateTopics, RegisterBroker, broker_heartbeat, create_topics,
    register_broker,
};
use crate::ids::BrokerId;
use crate::image::MetadataImage;
use crate::records::{
    ClusterIdRecord, PartitionChangeRecord, Record, RecordBatch, RemoveTopicRecord,
};
use crate::testing::listener;

const NAMES: &[&str] = &["a", "b", "c.d", "c_d", "e", "f"];
const CLUSTER: &str = "prop-cluster";

#[derive(Clone, Debug)]
enum Step {
    Register {
        id: i32,
        incarnation: u8,
        rack: Option<u8>,
    },
    Heartbeat {
        id: i32,
        want_fence: bool,
        caught_up: bool,
    },
    Create {
        name: usize,
        partitions: i32,
        rf: i16,
        retention: Option<i64>,
    },
    Remove {
        name: usize,
    },
    Change {
        name: usize,
        partition: i32,
        leader: Option<i32>,
        shrink_isr: bool,
    },
    NoOp,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..4i32, 0..3u8, proptest::option::of(0..2u8))
            .prop_map(|(id, incarnation, rack)| Step::Register { id, incarnation, rack }),
        5 => (0..4i32, proptest::bool::weighted(0.15), proptest::bool::weighted(0.85)).prop_map(|(id, want_fence, caught_up)| {
            Step::Heartbeat { id, want_fence, caught_up }
        }),
        5 => (0..NAMES.len(), -1..4i32, -1..4i16, proptest::option::of(-3..100_000i64)).prop_map(
            |(name, partitions, rf, retention)| Step::Create { name, partitions, rf, retention }
        ),
        1 => (0..NAMES.len()).prop_map(|name| Step::Remove { name }),
        3 => (0..NAMES.len(), 0..3i32, proptest::option::of(-1..4i32), any::<bool>()).prop_map(
            |(name, partition, leader, shrink_isr)| Step::Change { name, partition, leader, shrink_isr }
        ),
        1 => Just(Step::NoOp),
    ]
}

/// The records a leader would propose for `step` against `image`.
fn records_for(image: &MetadataImage, step: &Step, ctx: &mut Ctx) -> Vec<Record> {
    match step {
        Step::Register {
            id,
            incarnation,
            rack,
        } => {
            let req = RegisterBroker {
                broker_id: BrokerId(*id),
                cluster_id: CLUSTER.into(),
                incarnation_id: Uuid::from_u128(u128::from(*incarnation) + 1),
                listeners: vec![listener("PLAINTEXT", 9092)],
                rack: rack.map(|r| format!("rack-{r}")),
                features: vec![],
            };
            register_broker(image, &req, ctx).records
        }
        Step::Heartbeat {
            id,
            want_fence,
            caught_up,
        } => {
            let Some(b) = image.broker(BrokerId(*id)) else {
                return vec![];
            };
            let offset = if *caught_up {
                b.registered_offset as i64
            } else {
                -1
            };
            let req = BrokerHeartbeat {
                broker_id: b.broker_id,
                broker_epoch: b.broker_epoch,
                current_metadata_offset: offset,
                want_fence: *want_fence,
                want_shutdown: false,
            };
            broker_heartbeat(image, &req, ctx).records
        }
        Step::Create {
            name,
            partitions,
            rf,
            retention,
        } => {
            let req = CreateTopics {
                topics: vec![CreatableTopic {
                    name: NAMES[*name].into(),
                    num_partitions: *partitions,
                    replication_factor: *rf,
                    configs: retention
                        .map(|r| vec![("retention.ms".to_string(), Some(r.to_string()))])
                        .unwrap_or_default(),
                }],
                validate_only: false,
            };
            create_topics(image, &req, ctx).records
        }
        Step::Remove { name } => image
            .topic(NAMES[*name])
            .map(|t| {
                vec![Record::RemoveTopic(RemoveTopicRecord {
                    topic_id: t.topic_id,
                })]
            })
            .unwrap_or_default(),
        Step::Change {
            name,
            partition,
            leader,
            shrink_isr,
        } => {
            let Some(t) = image.topic(NAMES[*name]) else {
                return vec![];
            };
            let Some(p) = t.partitions.get(partition) else {
                return vec![];
            };
            let mut c = PartitionChangeRecord::new(t.topic_id, *partition);
            c.expected_partition_epoch = Some(p.partition_epoch);
            c.leader = leader.map(BrokerId);
            if *shrink_isr && p.isr.len() > 1 {
                c.isr = Some(p.isr[..p.isr.len() - 1].to_vec());
            }
            vec![Record::PartitionChange(c)]
        }
        Step::NoOp => vec![Record::NoOp],
    }
}

/// Run `ops` through the handlers, applying each batch; returns the log and the image.
fn run(ops: &[(Step, u64)], seed: u64) -> (Vec<(RecordBatch, u64)>, MetadataImage) {
    let mut ctx = Ctx::new(seed, 0);
    let mut image = MetadataImage::new();
    let first = RecordBatch::new(vec![Record::ClusterId(ClusterIdRecord {
        cluster_id: CLUSTER.into(),
    })]);
    image.apply(&first, 1).expect("cluster id applies");
    let mut log = vec![(first, 1)];
    let mut offset = 1;
    for (step, gap) in ops {
        let records = records_for(&image, step, &mut ctx);
        if records.is_empty() {
            continue;
        }
        offset += gap;
        let batch = RecordBatch::new(records);
        if let Err(e) = image.apply(&batch, offset) {
            panic!("handler output must apply: {step:?} -> {e}");
        }
        log.push((batch, offset));
    }
    (log, image)
}

fn replay(log: &[(RecordBatch, u64)], mut image: MetadataImage) -> MetadataImage {
    for (batch, offset) in log {
        // Through the Raft log's byte form, as every replica and broker sees it.
        let decoded = RecordBatch::decode(&batch.encode().expect("encode")).expect("decode");
        assert_eq!(&decoded, batch, "record batch round trip");
        image.apply(&decoded, *offset).expect("replay applies");
    }
    image
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn snapshot_round_trips_and_replay_is_deterministic(
        ops in proptest::collection::vec((step(), 1..3u64), 10..80),
        seed in any::<u64>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let (log, image) = run(&ops, seed);

        // decode(encode(image)) == image
        let bytes = image.encode().unwrap();
        let decoded = MetadataImage::decode(&bytes).unwrap();
        prop_assert_eq!(&decoded, &image);

        // Same log, fresh image: equal image, equal bytes.
        let replayed = replay(&log, MetadataImage::new());
        prop_assert_eq!(&replayed, &image);
        prop_assert_eq!(replayed.encode().unwrap(), bytes.clone());

        // Snapshot mid-log, restore, replay the rest.
        let k = cut.index(log.len() + 1);
        let prefix = replay(&log[..k], MetadataImage::new());
        let restored = MetadataImage::decode(&prefix.encode().unwrap()).unwrap();
        prop_assert_eq!(replay(&log[k..], restored), image);
    }

    #[test]
    fn same_seed_same_requests_same_records(
        ops in proptest::collection::vec((step(), 1..3u64), 0..40),
        seed in any::<u64>(),
    ) {
        let (log_a, image_a) = run(&ops, seed);
        let (log_b, image_b) = run(&ops, seed);
        prop_assert_eq!(log_a, log_b);
        prop_assert_eq!(image_a, image_b);
    }

    #[test]
    fn created_partitions_keep_kip_841(
        ops in proptest::collection::vec((step(), 1..3u64), 10..80),
        seed in any::<u64>(),
    ) {
        // Records from create_topics never put a fenced or missing broker in an ISR, and the
        // leader is always ISR[0].
        let mut ctx = Ctx::new(seed, 0);
        let (_, image) = run(&ops, seed);
        for (i, name) in NAMES.iter().enumerate() {
            let create = Step::Create { name: i, partitions: 3, rf: 2, retention: None };
            for r in records_for(&image, &create, &mut ctx) {
                if let Record::Partition(p) = r {
                    prop_assert_eq!(p.isr.first().copied(), Some(p.leader), "{}", name);
                    for b in &p.isr {
                        prop_assert!(image.broker(*b).is_some_and(|b| b.is_active()));
                    }
                }
            }
        }
    }
}
