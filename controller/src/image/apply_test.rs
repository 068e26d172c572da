use uuid::Uuid;

use crate::error::ApplyError;
use crate::handlers::create_topics;
use crate::ids::{BrokerEpoch, BrokerId, PartitionEpoch, TopicId};
use crate::image::MetadataImage;
use crate::records::*;
use crate::testing::{TestImage, create_req};

fn with_topic(name: &str) -> (TestImage, TopicId) {
    let mut t = TestImage::new().brokers(1..=3).unfenced(1..=3);
    let r = create_topics(&t.image, &create_req(name, 2, 3), &mut t.ctx);
    t.apply_all(&r.records);
    let id = t.image.topic(name).unwrap().topic_id;
    (t, id)
}

fn change(id: TopicId, partition: i32) -> PartitionChangeRecord {
    PartitionChangeRecord::new(id, partition)
}

#[test]
fn apply_guard_rejects_stale_batch_whole_and_leaves_image_unchanged() {
    let (mut t, x_id) = with_topic("x");
    let before = t.image.clone();
    let y_id = TopicId(Uuid::from_u128(77));
    let b1 = t.image.broker(BrokerId(1)).unwrap().clone();
    let stale = [
        // Would succeed on their own...
        Record::Topic(TopicRecord {
            name: "y".into(),
            topic_id: y_id,
        }),
        Record::Config(ConfigRecord {
            resource_type: ConfigResourceType::Topic,
            resource_name: "y".into(),
            name: "retention.ms".into(),
            value: Some("5".into()),
        }),
        Record::PartitionChange(PartitionChangeRecord {
            leader: Some(BrokerId(2)),
            ..change(x_id, 0)
        }),
        Record::BrokerRegistrationChange(BrokerRegistrationChangeRecord {
            broker_id: b1.broker_id,
            broker_epoch: b1.broker_epoch,
            fenced: Some(true),
            in_controlled_shutdown: None,
        }),
        Record::FeatureLevel(FeatureLevelRecord {
            name: "metadata.version".into(),
            level: 21,
        }),
        Record::RemoveTopic(RemoveTopicRecord { topic_id: x_id }),
        // ...but this one reuses the name "y" taken earlier in the same batch.
        Record::Topic(TopicRecord {
            name: "y".into(),
            topic_id: TopicId(Uuid::from_u128(78)),
        }),
    ];
    let err = t.try_apply(&stale).unwrap_err();
    assert_eq!(err, ApplyError::TopicExists { name: "y".into() });
    assert!(err.to_string().contains("TopicRecord"), "{err}");
    assert_eq!(t.image, before);
    assert_eq!(t.image.encode().unwrap(), before.encode().unwrap());
}

#[test]
fn apply_rejects_topic_record_for_existing_name_or_colliding_name() {
    let (mut t, _) = with_topic("a.b");
    let err = t
        .try_apply(&[Record::Topic(TopicRecord {
            name: "a_b".into(),
            topic_id: TopicId(Uuid::from_u128(5)),
        })])
        .unwrap_err();
    assert!(
        matches!(err, ApplyError::TopicNameCollision { .. }),
        "{err}"
    );
}

#[test]
fn apply_rejects_partition_record_for_unknown_topic() {
    let mut t = TestImage::new();
    let id = TopicId(Uuid::from_u128(9));
    let err = t
        .try_apply(&[Record::Partition(PartitionRecord {
            topic_id: id,
            partition_id: 0,
            replicas: vec![BrokerId(1)],
            isr: vec![BrokerId(1)],
            leader: BrokerId(1),
            leader_epoch: crate::ids::LeaderEpoch(0),
            partition_epoch: PartitionEpoch(0),
            leader_recovery_state: LeaderRecoveryState::Recovered,
            adding_replicas: vec![],
            removing_replicas: vec![],
        })])
        .unwrap_err();
    assert_eq!(
        err,
        ApplyError::UnknownTopicId {
            record: RecordKind::Partition,
            topic_id: id
        }
    );
}

#[test]
fn apply_rejects_config_for_unknown_topic() {
    let mut t = TestImage::new();
    let err = t
        .try_apply(&[Record::Config(ConfigRecord {
            resource_type: ConfigResourceType::Topic,
            resource_name: "nope".into(),
            name: "retention.ms".into(),
            value: Some("1".into()),
        })])
        .unwrap_err();
    assert!(matches!(err, ApplyError::UnknownTopicName { .. }), "{err}");
}

#[test]
fn apply_rejects_stale_broker_epoch() {
    let mut t = TestImage::new().brokers(1..=1);
    let b = t.image.broker(BrokerId(1)).unwrap().clone();
    let stale = BrokerEpoch(b.broker_epoch.0 - 1);
    let err = t
        .try_apply(&[Record::BrokerRegistrationChange(
            BrokerRegistrationChangeRecord {
                broker_id: b.broker_id,
                broker_epoch: stale,
                fenced: Some(false),
                in_controlled_shutdown: None,
            },
        )])
        .unwrap_err();
    assert!(matches!(err, ApplyError::StaleBrokerEpoch { .. }), "{err}");
    let err = t
        .try_apply(&[Record::UnregisterBroker(UnregisterBrokerRecord {
            broker_id: b.broker_id,
            broker_epoch: stale,
        })])
        .unwrap_err();
    assert!(matches!(err, ApplyError::StaleBrokerEpoch { .. }), "{err}");
    let err = t
        .try_apply(&[Record::UnregisterBroker(UnregisterBrokerRecord {
            broker_id: BrokerId(9),
            broker_epoch: b.broker_epoch,
        })])
        .unwrap_err();
    assert!(matches!(err, ApplyError::UnknownBroker { .. }), "{err}");

    t.apply_all(&[Record::UnregisterBroker(UnregisterBrokerRecord {
        broker_id: b.broker_id,
        broker_epoch: b.broker_epoch,
    })]);
    assert!(t.image.broker(BrokerId(1)).is_none());
}

#[test]
fn apply_register_broker_epoch_is_offset() {
    let mut t = TestImage::new();
    let rec = RegisterBrokerRecord {
        broker_id: BrokerId(4),
        incarnation_id: Uuid::from_u128(1),
        listeners: vec![],
        rack: None,
        features: vec![],
        fenced: true,
    };
    let offset = t.apply_all(&[Record::RegisterBroker(rec.clone())]);
    let b = t.image.broker(BrokerId(4)).unwrap();
    assert_eq!(b.broker_epoch, BrokerEpoch(offset as i64));
    assert_eq!(b.registered_offset, offset);

    // Same incarnation: amend keeps the epoch, moves the registered offset.
    let offset2 = t.apply_all(&[Record::RegisterBroker(RegisterBrokerRecord {
        rack: Some("r".into()),
        ..rec.clone()
    })]);
    let b = t.image.broker(BrokerId(4)).unwrap();
    assert_eq!(b.broker_epoch, BrokerEpoch(offset as i64));
    assert_eq!(b.registered_offset, offset2);
    assert_eq!(b.rack.as_deref(), Some("r"));

    // New incarnation: new epoch.
    let offset3 = t.apply_all(&[Record::RegisterBroker(RegisterBrokerRecord {
        incarnation_id: Uuid::from_u128(2),
        ..rec
    })]);
    assert_eq!(
        t.image.broker(BrokerId(4)).unwrap().broker_epoch,
        BrokerEpoch(offset3 as i64)
    );
}

#[test]
fn partition_change_epoch_bumps() {
    let (mut t, id) = with_topic("x");
    let p0 = t.image.partition("x", 0).unwrap().clone();

    // ISR change only: partition epoch +1, leader epoch unchanged.
    t.apply_all(&[Record::PartitionChange(PartitionChangeRecord {
        isr: Some(p0.replicas[..2].to_vec()),
        ..change(id, 0)
    })]);
    let p1 = t.image.partition("x", 0).unwrap().clone();
    assert_eq!(p1.partition_epoch.0, p0.partition_epoch.0 + 1);
    assert_eq!(p1.leader_epoch, p0.leader_epoch);
    assert_eq!(p1.isr, p0.replicas[..2].to_vec());

    // Leader set: both bump.
    t.apply_all(&[Record::PartitionChange(PartitionChangeRecord {
        leader: Some(p0.replicas[1]),
        ..change(id, 0)
    })]);
    let p2 = t.image.partition("x", 0).unwrap().clone();
    assert_eq!(p2.partition_epoch.0, p1.partition_epoch.0 + 1);
    assert_eq!(p2.leader_epoch.0, p1.leader_epoch.0 + 1);
    assert_eq!(p2.leader, p0.replicas[1]);

    // An empty change still bumps the partition epoch.
    t.apply_all(&[Record::PartitionChange(change(id, 0))]);
    let p3 = t.image.partition("x", 0).unwrap();
    assert_eq!(p3.partition_epoch.0, p2.partition_epoch.0 + 1);
    assert_eq!(p3.leader_epoch, p2.leader_epoch);
    // The other partition is untouched.
    assert_eq!(t.image.partition("x", 1).unwrap().partition_epoch.0, 0);
}

#[test]
fn partition_change_with_stale_expected_epoch_is_rejected() {
    let (mut t, id) = with_topic("x");
    let guarded = |epoch| {
        Record::PartitionChange(PartitionChangeRecord {
            expected_partition_epoch: Some(PartitionEpoch(epoch)),
            leader: Some(BrokerId::NO_LEADER),
            ..change(id, 0)
        })
    };
    // Two changes computed from epoch 0 in one batch: the second is stale.
    let err = t.try_apply(&[guarded(0), guarded(0)]).unwrap_err();
    assert!(
        matches!(err, ApplyError::StalePartitionEpoch { .. }),
        "{err}"
    );
    assert_eq!(t.image.partition("x", 0).unwrap().partition_epoch.0, 0);
    // Chained correctly they apply.
    t.apply_all(&[guarded(0), guarded(1)]);
    let p = t.image.partition("x", 0).unwrap();
    assert_eq!((p.partition_epoch.0, p.leader_epoch.0), (2, 2));
    assert_eq!(p.leader, BrokerId::NO_LEADER);

    let err = t
        .try_apply(&[Record::PartitionChange(change(id, 5))])
        .unwrap_err();
    assert!(matches!(err, ApplyError::UnknownPartition { .. }), "{err}");
}

#[test]
fn remove_topic_drops_partitions_and_configs_and_frees_the_name() {
    let mut t = TestImage::new().brokers(1..=1).unfenced(1..=1);
    let mut req = create_req("a.b", 2, 1);
    req.topics[0].configs = vec![("retention.ms".into(), Some("1".into()))];
    let r = create_topics(&t.image, &req, &mut t.ctx);
    t.apply_all(&r.records);
    let id = t.image.topic("a.b").unwrap().topic_id;
    assert!(
        t.image
            .configs()
            .get(ConfigResourceType::Topic, "a.b")
            .is_some()
    );

    t.apply_all(&[Record::RemoveTopic(RemoveTopicRecord { topic_id: id })]);
    assert!(t.image.topic("a.b").is_none());
    assert!(t.image.topic_by_id(id).is_none());
    assert!(
        t.image
            .configs()
            .get(ConfigResourceType::Topic, "a.b")
            .is_none()
    );
    assert!(t.image.topics().colliding_topic("a_b").is_none());

    let r = create_topics(&t.image, &create_req("a_b", 1, 1), &mut t.ctx);
    assert_eq!(r.reply.topics[0].error_code, crate::ErrorCode::None);
    t.apply_all(&r.records);
}

#[test]
fn config_record_with_null_value_deletes_key_and_drops_empty_resource() {
    let (mut t, _) = with_topic("x");
    let set = |v: Option<&str>| {
        Record::Config(ConfigRecord {
            resource_type: ConfigResourceType::Topic,
            resource_name: "x".into(),
            name: "retention.ms".into(),
            value: v.map(str::to_string),
        })
    };
    t.apply_all(&[set(Some("10"))]);
    assert_eq!(t.image.topic_configs("x")["retention.ms"], "10");
    t.apply_all(&[set(None)]);
    assert!(
        t.image
            .configs()
            .get(ConfigResourceType::Topic, "x")
            .is_none()
    );
}

#[test]
fn cluster_id_is_written_once() {
    let mut t = TestImage::new();
    let err = t
        .try_apply(&[Record::ClusterId(ClusterIdRecord {
            cluster_id: "again".into(),
        })])
        .unwrap_err();
    assert!(
        matches!(err, ApplyError::ClusterIdAlreadySet { .. }),
        "{err}"
    );
}

#[test]
fn noop_advances_last_applied_offset_and_offsets_must_increase() {
    let mut image = MetadataImage::new();
    let noop = RecordBatch::new(vec![Record::NoOp]);
    image.apply(&noop, 5).unwrap();
    assert_eq!(image.last_applied_offset(), 5);
    image.apply(&RecordBatch::default(), 6).unwrap();
    assert_eq!(image.last_applied_offset(), 6);
    assert_eq!(
        image.apply(&noop, 6),
        Err(ApplyError::OffsetNotIncreasing {
            offset: 6,
            last_applied: 6
        })
    );
}

#[test]
fn feature_level_zero_removes_and_negative_is_rejected() {
    let mut t = TestImage::new();
    let level = |l| {
        Record::FeatureLevel(FeatureLevelRecord {
            name: "metadata.version".into(),
            level: l,
        })
    };
    t.apply_all(&[level(20)]);
    assert_eq!(t.image.features().level("metadata.version"), Some(20));
    t.apply_all(&[level(0)]);
    assert_eq!(t.image.features().level("metadata.version"), None);
    assert!(t.try_apply(&[level(-1)]).is_err());
}

#[test]
fn snapshot_round_trips() {
    let (mut t, _) = with_topic("x");
    t.apply_all(&[
        Record::Config(ConfigRecord {
            resource_type: ConfigResourceType::Broker,
            resource_name: "".into(),
            name: "log.retention.ms".into(),
            value: Some("1".into()),
        }),
        Record::FeatureLevel(FeatureLevelRecord {
            name: "metadata.version".into(),
            level: 20,
        }),
    ]);
    let bytes = t.image.encode().unwrap();
    let back = MetadataImage::decode(&bytes).unwrap();
    assert_eq!(back, t.image);
    assert_eq!(
        back.topic_by_id(t.image.topic("x").unwrap().topic_id)
            .unwrap()
            .name,
        "x"
    );
}

#[test]
fn a_clone_shares_the_maps_and_keeps_its_state_while_the_original_changes() {
    let (mut t, x_id) = with_topic("x");
    let frozen = t.image.clone();
    // Cheap clone: the large maps are shared, not copied (snapshots encode such a clone).
    assert!(frozen.topics().ptr_eq(t.image.topics()));
    assert!(
        frozen
            .cluster()
            .brokers()
            .ptr_eq(t.image.cluster().brokers())
    );
    let frozen_bytes = frozen.encode().unwrap();

    let r = create_topics(&t.image, &create_req("y", 1, 3), &mut t.ctx);
    t.apply_all(&r.records);
    let p0 = t.image.partition("x", 0).unwrap().clone();
    let other = *p0.isr.iter().find(|b| **b != p0.leader).unwrap();
    t.apply_all(&[Record::PartitionChange(PartitionChangeRecord {
        leader: Some(other),
        ..change(x_id, 0)
    })]);

    assert!(t.image.topic("y").is_some());
    assert!(frozen.topic("y").is_none());
    assert_ne!(
        frozen.partition("x", 0).unwrap().leader,
        t.image.partition("x", 0).unwrap().leader
    );
    assert_eq!(frozen.encode().unwrap(), frozen_bytes);
    assert_ne!(t.image.encode().unwrap(), frozen_bytes);
}

/// A topic record whose name, colliding name or id is taken fails with its own error and
/// leaves the image as it was: the apply inserts first and puts back what it displaced.
#[test]
fn a_clashing_topic_record_names_the_clash_and_changes_nothing() {
    let (mut t, id) = with_topic("a.b");
    let before = t.image.clone();
    let bytes = before.encode().unwrap();
    let clashes = [
        ("a.b", TopicId(Uuid::from_u128(5)), "TopicExists"),
        ("a_b", TopicId(Uuid::from_u128(6)), "TopicNameCollision"),
        ("z", id, "TopicIdExists"),
    ];
    for (name, topic_id, want) in clashes {
        let err = t
            .try_apply(&[Record::Topic(TopicRecord {
                name: name.into(),
                topic_id,
            })])
            .unwrap_err();
        let got = match &err {
            ApplyError::TopicExists { name: n } if n == name => "TopicExists",
            ApplyError::TopicNameCollision { name: n, existing }
                if n == name && existing == "a.b" =>
            {
                "TopicNameCollision"
            }
            ApplyError::TopicIdExists {
                topic_id: i,
                existing,
            } if *i == topic_id && existing == "a.b" => "TopicIdExists",
            other => panic!("{name}: unexpected {other}"),
        };
        assert_eq!(got, want);
        assert_eq!(t.image, before, "{name}: image changed");
        assert_eq!(t.image.encode().unwrap(), bytes, "{name}: encoding changed");
        assert_eq!(t.image.topic("a.b").map(|t| t.topic_id), Some(id));
        assert!(t.image.topic(name).is_none() || name == "a.b");
        assert_eq!(t.image.topics().colliding_topic("a_b"), Some("a.b"));
    }
    // A free name and id still go in, and collide from then on.
    t.apply_all(&[Record::Topic(TopicRecord {
        name: "c_d".into(),
        topic_id: TopicId(Uuid::from_u128(7)),
    })]);
    assert_eq!(t.image.topics().colliding_topic("c.d"), Some("c_d"));
    assert_eq!(t.image.topics().len(), 2);
}
