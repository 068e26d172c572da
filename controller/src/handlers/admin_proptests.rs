//! Property tests for the admin handlers (topics, partitions, configs, producer ids):
//! random request sequences through the real handlers, every batch applied as the leader
//! would, then
//! * replaying the log on a fresh image, or from a snapshot taken at any point, gives the
//!   same image (reassignment starts, completions and cancels included);
//! * producer id blocks handed out are pairwise disjoint and the image's next id is past
//!   all of them.

use proptest::prelude::*;
use uuid::Uuid;

use super::{
    AllocateProducerIds, AlterConfigsResource, AlterPartitionReassignments, AlterableConfig,
    BrokerHeartbeat, CreatableTopic, CreatePartitions, CreatePartitionsTopic, CreateTopics,
    DeleteTopicState, DeleteTopics, IncrementalAlterConfigs, ReassignablePartition,
    ReassignableTopic, RegisterBroker, allocate_producer_ids, alter_partition_reassignments,
    broker_heartbeat, create_partitions, create_topics, delete_topics, incremental_alter_configs,
    register_broker,
};
use crate::ctx::Ctx;
use crate::error_code::ErrorCode;
use crate::ids::BrokerId;
use crate::image::MetadataImage;
use crate::records::{ClusterIdRecord, Record, RecordBatch};
use crate::testing::listener;

const NAMES: &[&str] = &["a", "b", "c.d", "c_d"];
const CLUSTER: &str = "prop-admin";

#[derive(Clone, Debug)]
enum Step {
    Register {
        id: i32,
        incarnation: u8,
    },
    Unfence {
        id: i32,
    },
    Create {
        name: usize,
        partitions: i32,
        rf: i16,
    },
    Grow {
        name: usize,
        count: i32,
    },
    Delete {
        name: usize,
        by_id: bool,
    },
    AlterTopic {
        name: usize,
        op: i8,
        key: usize,
        value: i64,
    },
    AlterCluster {
        key: usize,
        value: i64,
    },
    Allocate {
        id: i32,
        stale: bool,
    },
    Reassign {
        name: usize,
        partition: i32,
        target: Option<Vec<i32>>,
    },
}

const TOPIC_KEYS: &[&str] = &["retention.ms", "cleanup.policy", "min.insync.replicas"];
const CLUSTER_KEYS: &[&str] = &[
    "num.partitions",
    "default.replication.factor",
    "log.retention.ms",
];

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => (0..4i32, 0..2u8).prop_map(|(id, incarnation)| Step::Register { id, incarnation }),
        3 => (0..4i32).prop_map(|id| Step::Unfence { id }),
        4 => (0..NAMES.len(), -1..4i32, -1..3i16)
            .prop_map(|(name, partitions, rf)| Step::Create { name, partitions, rf }),
        2 => (0..NAMES.len(), 0..6i32).prop_map(|(name, count)| Step::Grow { name, count }),
        1 => (0..NAMES.len(), any::<bool>()).prop_map(|(name, by_id)| Step::Delete { name, by_id }),
        3 => (0..NAMES.len(), 0..4i8, 0..TOPIC_KEYS.len(), -2..5i64)
            .prop_map(|(name, op, key, value)| Step::AlterTopic { name, op, key, value }),
        1 => (0..CLUSTER_KEYS.len(), -1..4i64).prop_map(|(key, value)| Step::AlterCluster { key, value }),
        3 => (0..4i32, proptest::bool::weighted(0.1)).prop_map(|(id, stale)| Step::Allocate { id, stale }),
        2 => (0..NAMES.len(), 0..3i32, proptest::option::weighted(0.8, proptest::collection::vec(0..4i32, 1..4)))
            .prop_map(|(name, partition, target)| Step::Reassign { name, partition, target }),
    ]
}

/// The records for `step`, and the producer id block it hands out, if any.
fn records_for(
    image: &MetadataImage,
    step: &Step,
    ctx: &mut Ctx,
) -> (Vec<Record>, Option<(i64, i64)>) {
    let none = |r: Vec<Record>| (r, None);
    match step {
        Step::Register { id, incarnation } => none(
            register_broker(
                image,
                &RegisterBroker {
                    broker_id: BrokerId(*id),
                    cluster_id: CLUSTER.into(),
                    incarnation_id: Uuid::from_u128(u128::from(*incarnation) + 1),
                    listeners: vec![listener("PLAINTEXT", 9092)],
                    rack: None,
                    features: vec![],
                },
                ctx,
            )
            .records,
        ),
        Step::Unfence { id } => {
            let Some(b) = image.broker(BrokerId(*id)) else {
                return none(vec![]);
            };
            let req = BrokerHeartbeat {
                broker_id: b.broker_id,
                broker_epoch: b.broker_epoch,
                current_metadata_offset: b.registered_offset as i64,
                want_fence: false,
                want_shutdown: false,
            };
            none(broker_heartbeat(image, &req, ctx).records)
        }
        Step::Create {
            name,
            partitions,
            rf,
        } => {
            let req = CreateTopics {
                topics: vec![CreatableTopic {
                    name: NAMES[*name].into(),
                    num_partitions: *partitions,
                    replication_factor: *rf,
                    configs: vec![],
                }],
                validate_only: false,
            };
            none(create_topics(image, &req, ctx).records)
        }
        Step::Grow { name, count } => {
            let req = CreatePartitions {
                topics: vec![CreatePartitionsTopic {
                    name: NAMES[*name].into(),
                    count: *count,
                    assignments: None,
                }],
                validate_only: false,
            };
            none(create_partitions(image, &req, ctx).records)
        }
        Step::Delete { name, by_id } => {
            let state = match (by_id, image.topic(NAMES[*name])) {
                (true, Some(t)) => DeleteTopicState {
                    name: None,
                    topic_id: Some(t.topic_id),
                },
                _ => DeleteTopicState {
                    name: Some(NAMES[*name].into()),
                    topic_id: None,
                },
            };
            none(
                delete_topics(
                    image,
                    &DeleteTopics {
                        topics: vec![state],
                    },
                )
                .records,
            )
        }
        Step::AlterTopic {
            name,
            op,
            key,
            value,
        } => {
            let key = TOPIC_KEYS[*key];
            let value = if key == "cleanup.policy" {
                if *value % 2 == 0 { "compact" } else { "delete" }.to_string()
            } else {
                value.to_string()
            };
            let req = IncrementalAlterConfigs {
                resources: vec![AlterConfigsResource {
                    resource_type: 2,
                    resource_name: NAMES[*name].into(),
                    configs: vec![AlterableConfig {
                        name: key.into(),
                        config_operation: *op,
                        value: Some(value),
                    }],
                }],
                validate_only: false,
            };
            none(incremental_alter_configs(image, &req).records)
        }
        Step::AlterCluster { key, value } => {
            let (op, value) = if *value < 0 {
                (1, None)
            } else {
                (0, Some(value.to_string()))
            };
            let req = IncrementalAlterConfigs {
                resources: vec![AlterConfigsResource {
                    resource_type: 4,
                    resource_name: String::new(),
                    configs: vec![AlterableConfig {
                        name: CLUSTER_KEYS[*key].into(),
                        config_operation: op,
                        value,
                    }],
                }],
                validate_only: false,
            };
            none(incremental_alter_configs(image, &req).records)
        }
        Step::Reassign {
            name,
            partition,
            target,
        } => {
            let req = AlterPartitionReassignments {
                topics: vec![ReassignableTopic {
                    name: NAMES[*name].into(),
                    partitions: vec![ReassignablePartition {
                        partition_index: *partition,
                        replicas: target
                            .as_ref()
                            .map(|t| t.iter().copied().map(BrokerId).collect()),
                    }],
                }],
            };
            none(alter_partition_reassignments(image, &req).records)
        }
        Step::Allocate { id, stale } => {
            let Some(b) = image.broker(BrokerId(*id)) else {
                return none(vec![]);
            };
            let mut epoch = b.broker_epoch;
            if *stale {
                epoch.0 -= 1;
            }
            let r = allocate_producer_ids(
                image,
                &AllocateProducerIds {
                    broker_id: b.broker_id,
                    broker_epoch: epoch,
                },
            );
            let block = (r.reply.error_code == ErrorCode::None).then(|| {
                (
                    r.reply.producer_id_start,
                    r.reply.producer_id_start + i64::from(r.reply.producer_id_len),
                )
            });
            (r.records, block)
        }
    }
}

type Log = Vec<(RecordBatch, u64)>;

fn run(ops: &[Step], seed: u64) -> (Log, MetadataImage, Vec<(i64, i64)>) {
    let mut ctx = Ctx::new(seed, 0);
    let mut image = MetadataImage::new();
    let first = RecordBatch::new(vec![Record::ClusterId(ClusterIdRecord {
        cluster_id: CLUSTER.into(),
    })]);
    image.apply(&first, 1).expect("cluster id applies");
    let mut log = vec![(first, 1)];
    let mut blocks = Vec::new();
    for (offset, step) in (2..).zip(ops) {
        let (records, block) = records_for(&image, step, &mut ctx);
        if records.is_empty() {
            continue;
        }
        let batch = RecordBatch::new(records);
        if let Err(e) = image.apply(&batch, offset) {
            panic!("handler output must apply: {step:?} -> {e}");
        }
        blocks.extend(block);
        log.push((batch, offset));
    }
    (log, image, blocks)
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
    fn admin_requests_replay_identically_from_any_snapshot_point(
        ops in proptest::collection::vec(step(), 10..80),
        seed in any::<u64>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let (log, image, _) = run(&ops, seed);
        prop_assert_eq!(&replay(&log, MetadataImage::new()), &image);
        let k = cut.index(log.len() + 1);
        let prefix = replay(&log[..k], MetadataImage::new());
        let restored = MetadataImage::decode(&prefix.encode().unwrap()).unwrap();
        let resumed = replay(&log[k..], restored);
        prop_assert_eq!(resumed.encode().unwrap(), image.encode().unwrap());
        prop_assert_eq!(resumed, image);
    }

    #[test]
    fn producer_id_blocks_are_disjoint(
        ops in proptest::collection::vec(step(), 10..80),
        seed in any::<u64>(),
    ) {
        let (_, image, mut blocks) = run(&ops, seed);
        blocks.sort();
        for w in blocks.windows(2) {
            prop_assert!(w[0].1 <= w[1].0, "{:?} overlaps {:?}", w[0], w[1]);
        }
        if let Some(last) = blocks.last() {
            prop_assert!(image.producer_ids().next_producer_id() >= last.1);
        }
        prop_assert_eq!(image.producer_ids().next_producer_id(), 1000 * blocks.len() as i64);
    }
}
