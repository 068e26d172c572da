//! The snapshot/image encoding: random images round-trip through `encode`/`decode`, the
//! legacy JSON body is still read, and bad bodies are refused with a typed error.

use std::collections::BTreeMap;

use proptest::prelude::*;
use uuid::Uuid;

use super::*;
use crate::ids::{BrokerEpoch, LeaderEpoch, PartitionEpoch};
use crate::records::{LeaderRecoveryState, Listener, SupportedFeature};

fn broker_ids() -> impl Strategy<Value = Vec<BrokerId>> {
    proptest::collection::vec((-1..2000i32).prop_map(BrokerId), 0..5)
}

fn partition() -> impl Strategy<Value = PartitionRegistration> {
    (
        (broker_ids(), broker_ids(), broker_ids(), broker_ids()),
        -1..2000i32,
        any::<bool>(),
        any::<i32>(),
        any::<i32>(),
    )
        .prop_map(
            |((replicas, isr, removing_replicas, adding_replicas), leader, rec, le, pe)| {
                PartitionRegistration {
                    replicas,
                    isr,
                    removing_replicas,
                    adding_replicas,
                    leader: BrokerId(leader),
                    leader_recovery_state: if rec {
                        LeaderRecoveryState::Recovering
                    } else {
                        LeaderRecoveryState::Recovered
                    },
                    leader_epoch: LeaderEpoch(le),
                    partition_epoch: PartitionEpoch(pe),
                }
            },
        )
}

fn topic() -> impl Strategy<Value = TopicImage> {
    (
        "[a-zA-Z0-9._-]{1,40}",
        any::<u128>(),
        proptest::collection::btree_map(any::<i32>(), partition(), 0..12),
    )
        .prop_map(|(name, id, partitions)| TopicImage {
            name,
            topic_id: TopicId(Uuid::from_u128(id)),
            partitions: partitions.into_iter().collect(),
        })
}

fn broker() -> impl Strategy<Value = BrokerRegistration> {
    (
        (0..5000i32, any::<u128>(), any::<i64>()),
        proptest::collection::vec(
            (
                "[A-Z_]{1,12}",
                "[a-z0-9.]{1,20}",
                any::<u16>(),
                "[A-Z_]{1,12}",
            ),
            0..3,
        ),
        proptest::option::of("[a-z0-9-]{0,10}"),
        proptest::collection::vec(("[a-z.]{1,20}", any::<i16>(), any::<i16>()), 0..3),
        (any::<bool>(), any::<bool>(), any::<u64>()),
    )
        .prop_map(
            |((id, inc, epoch), listeners, rack, features, (fenced, shutdown, offset))| {
                BrokerRegistration {
                    broker_id: BrokerId(id),
                    incarnation_id: Uuid::from_u128(inc),
                    broker_epoch: BrokerEpoch(epoch),
                    listeners: listeners
                        .into_iter()
                        .map(|(name, host, port, security_protocol)| Listener {
                            name,
                            host,
                            port,
                            security_protocol,
                        })
                        .collect(),
                    rack,
                    features: features
                        .into_iter()
                        .map(|(name, min, max)| SupportedFeature { name, min, max })
                        .collect(),
                    fenced,
                    in_controlled_shutdown: shutdown,
                    registered_offset: offset,
                }
            },
        )
}

type ConfigMap = BTreeMap<String, BTreeMap<String, String>>;

fn configs() -> impl Strategy<Value = ConfigMap> {
    proptest::collection::btree_map(
        "[a-z0-9._-]{0,20}",
        proptest::collection::btree_map("[a-z.]{1,30}", "\\PC{0,20}", 1..4),
        0..4,
    )
}

fn image() -> impl Strategy<Value = MetadataImage> {
    (
        proptest::option::of("[A-Za-z0-9_-]{0,22}"),
        proptest::collection::vec(broker(), 0..6),
        proptest::collection::vec(topic(), 0..8),
        (configs(), configs()),
        proptest::collection::btree_map("[a-z.]{1,20}", any::<i16>(), 0..3),
        (
            any::<i64>(),
            proptest::option::of(any::<i32>()),
            any::<u64>(),
        ),
    )
        .prop_map(
            |(cluster_id, brokers, topics, (topic_cfg, broker_cfg), levels, (pid, last, off))| {
                let mut topics_image = TopicsImage::default();
                for t in topics {
                    // Names and ids are unique in a real image (the handlers check).
                    if topics_image.get(&t.name).is_none()
                        && topics_image.get_by_id(t.topic_id).is_none()
                    {
                        topics_image.insert(t);
                    }
                }
                let mut resources = BTreeMap::new();
                if !topic_cfg.is_empty() {
                    resources.insert(ConfigResourceType::Topic, topic_cfg.into_iter().collect());
                }
                if !broker_cfg.is_empty() {
                    resources.insert(ConfigResourceType::Broker, broker_cfg.into_iter().collect());
                }
                MetadataImage {
                    cluster: ClusterImage {
                        cluster_id,
                        brokers: brokers.into_iter().map(|b| (b.broker_id, b)).collect(),
                    },
                    topics: topics_image,
                    configs: ConfigsImage { resources },
                    features: FeaturesImage { levels },
                    producer_ids: ProducerIdsImage {
                        next_producer_id: pid,
                        last_broker_id: last.map(BrokerId),
                    },
                    last_applied_offset: off,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_images_round_trip_binary_and_legacy_json(image in image()) {
        let bytes = image.encode().expect("encode");
        prop_assert_eq!(bytes.first().copied(), Some(IMAGE_FORMAT_POSTCARD));
        let back = MetadataImage::decode(&bytes).expect("decode");
        prop_assert_eq!(&back, &image);
        // Deterministic: the decoded image encodes to the same bytes.
        prop_assert_eq!(back.encode().expect("encode"), bytes.clone());
        // Topic indexes are rebuilt on decode.
        for t in image.topics().iter() {
            prop_assert_eq!(back.topic_by_id(t.topic_id).map(|b| &b.name), Some(&t.name));
        }
        // A snapshot written by an older kraftd (serde_json) still loads.
        let json = serde_json::to_vec(&image).expect("json");
        prop_assert_eq!(&MetadataImage::decode(&json).expect("legacy json"), &image);
    }

    #[test]
    fn truncated_binary_images_are_refused_not_panicking(
        image in image(),
        cut in any::<prop::sample::Index>(),
    ) {
        let bytes = image.encode().expect("encode");
        let at = cut.index(bytes.len());
        prop_assert!(MetadataImage::decode(&bytes[..at]).is_err(), "cut at {}", at);
    }
}

#[test]
fn bad_bodies_get_typed_errors() {
    assert_eq!(MetadataImage::decode(&[]), Err(ImageCodecError::Empty));
    assert_eq!(
        MetadataImage::decode(&[0x7f, 1, 2]),
        Err(ImageCodecError::UnknownFormat(0x7f))
    );
    let mut bytes = MetadataImage::new().encode().expect("encode");
    bytes.push(0);
    let err = MetadataImage::decode(&bytes).expect_err("trailing byte");
    assert!(err.to_string().contains("trailing"), "{err}");
    assert!(matches!(
        MetadataImage::decode(b"{not json"),
        Err(ImageCodecError::Decode(_))
    ));
}

#[test]
fn binary_is_several_times_smaller_than_json_for_many_partitions() {
    let mut topics = TopicsImage::default();
    for t in 0..200u32 {
        let partitions = (0..10)
            .map(|p| {
                let r = |k: i32| BrokerId((t as i32 + p + k) % 100);
                (
                    p,
                    PartitionRegistration {
                        replicas: vec![r(0), r(1), r(2)],
                        isr: vec![r(0), r(1), r(2)],
                        removing_replicas: Vec::new(),
                        adding_replicas: Vec::new(),
                        leader: r(0),
                        leader_recovery_state: LeaderRecoveryState::Recovered,
                        leader_epoch: LeaderEpoch(0),
                        partition_epoch: PartitionEpoch(0),
                    },
                )
            })
            .collect();
        topics.insert(TopicImage {
            name: format!("scale-{t:06}"),
            topic_id: TopicId(Uuid::from_u128(u128::from(t) * 7919 + 1)),
            partitions,
        });
    }
    let image = MetadataImage {
        topics,
        ..MetadataImage::default()
    };
    let binary = image.encode().expect("encode").len();
    let json = serde_json::to_vec(&image).expect("json").len();
    // ~16 bytes per partition against ~150 in JSON.
    assert!(
        binary * 5 < json,
        "binary {binary} bytes, json {json} bytes"
    );
    assert!(binary < 200 * 10 * 20 + 200 * 40, "binary {binary} bytes");
}
