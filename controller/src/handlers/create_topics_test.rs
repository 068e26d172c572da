use super::*;
use crate::ids::BrokerId;
use crate::testing::{TestImage, create_req, topic};

fn req(topics: Vec<CreatableTopic>) -> CreateTopics {
    CreateTopics {
        topics,
        validate_only: false,
    }
}

fn with_configs(mut t: CreatableTopic, configs: &[(&str, Option<&str>)]) -> CreatableTopic {
    t.configs = configs
        .iter()
        .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
        .collect();
    t
}

/// Assert one failing topic: its code, a message fragment, and no records at all.
fn assert_rejected(r: &ControllerResult<CreateTopicsReply>, code: ErrorCode, fragment: &str) {
    assert_eq!(r.reply.topics.len(), 1);
    let t = &r.reply.topics[0];
    assert_eq!(t.error_code, code, "{t:?}");
    let msg = t.error_message.as_deref().unwrap_or_default();
    assert!(msg.contains(fragment), "message {msg:?} lacks {fragment:?}");
    assert_eq!(t.topic_id, None);
    assert!(r.records.is_empty(), "failing topic wrote {:?}", r.records);
}

#[test]
fn create_topics_creates_topic_with_full_isr() {
    let mut t = TestImage::new().brokers(1..=3).unfenced(1..=3).seed(7);
    let r = create_topics(&t.image, &create_req("mytopic1", 3, 3), &mut t.ctx);
    let res = &r.reply.topics[0];
    assert_eq!(res.error_code, ErrorCode::None);
    assert_eq!((res.num_partitions, res.replication_factor), (3, 3));
    assert_eq!(res.configs, BTreeMap::new(), "nothing set");
    assert_eq!(res.effective_configs(&t.image)["retention.ms"], "604800000");
    // Topic, then partitions.
    assert!(matches!(r.records[0], Record::Topic(_)));
    assert_eq!(r.records.len(), 4);
    t.apply_all(&r.records);

    let topic = t.image.topic("mytopic1").unwrap();
    assert_eq!(Some(topic.topic_id), res.topic_id);
    for i in 0..3 {
        let p = t.image.partition("mytopic1", i).unwrap();
        assert_eq!(
            (p.isr.clone(), p.leader),
            (p.replicas.clone(), p.replicas[0])
        );
        assert_eq!(p.leader_epoch.0, 0);
        assert_eq!(p.partition_epoch.0, 0);
    }
    // Leaders are striped over the brokers.
    let leaders: BTreeSet<BrokerId> = (0..3)
        .map(|i| t.image.partition("mytopic1", i).unwrap().leader)
        .collect();
    assert_eq!(leaders.len(), 3);
}

#[test]
fn create_topics_defaults_minus_one_to_one() {
    let mut t = TestImage::new().brokers(1..=3).unfenced(1..=3);
    let r = create_topics(&t.image, &create_req("t", -1, -1), &mut t.ctx);
    let res = &r.reply.topics[0];
    assert_eq!(res.error_code, ErrorCode::None);
    assert_eq!((res.num_partitions, res.replication_factor), (1, 1));
}

#[test]
fn create_topics_is_deterministic_given_the_seed() {
    let run = || {
        let mut t = TestImage::new().brokers(1..=5).unfenced(1..=5).seed(11);
        create_topics(&t.image, &create_req("t", 10, 3), &mut t.ctx).records
    };
    assert_eq!(run(), run());
}

#[test]
fn create_topics_never_places_replicas_on_fenced_brokers() {
    // Broker 3 is registered but fenced: unlike Kafka, it gets no replica at all (a fenced
    // registration is often a broker that is gone, SPEC §7 pain point 4); RF 2 fits on the
    // two unfenced brokers and every replica is in the ISR.
    let mut t = TestImage::new().brokers(1..=3).unfenced(1..=2);
    let r = create_topics(&t.image, &create_req("t", 4, 2), &mut t.ctx);
    assert_eq!(r.reply.topics[0].error_code, ErrorCode::None);
    t.apply_all(&r.records);
    for i in 0..4 {
        let p = t.image.partition("t", i).unwrap();
        assert!(!p.replicas.contains(&BrokerId(3)), "{p:?}");
        assert_eq!(p.isr, p.replicas);
        assert_eq!(p.leader, p.isr[0]);
    }
}

#[test]
fn create_topics_rejects_rf_above_registered_brokers() {
    let mut t = TestImage::new().brokers(1..=3).unfenced(1..=3);
    let r = create_topics(&t.image, &create_req("t", 1, 4), &mut t.ctx);
    assert_rejected(
        &r,
        ErrorCode::InvalidReplicationFactor,
        "The target replication factor of 4 cannot be reached because only 3 unfenced broker(s) \
         are registered.",
    );
}

#[test]
fn create_topics_rejects_when_all_brokers_fenced() {
    let mut t = TestImage::new().brokers(1..=3);
    let r = create_topics(&t.image, &create_req("t", 1, 1), &mut t.ctx);
    assert_rejected(
        &r,
        ErrorCode::InvalidReplicationFactor,
        "All brokers are currently fenced.",
    );
}

#[test]
fn create_topics_rejects_with_no_brokers() {
    let mut t = TestImage::new();
    let r = create_topics(&t.image, &create_req("t", 1, 1), &mut t.ctx);
    assert_rejected(&r, ErrorCode::InvalidReplicationFactor, "");
}

#[test]
fn create_topics_rejects_zero_or_negative_replication_factor() {
    let mut t = TestImage::new().brokers(1..=1).unfenced(1..=1);
    for rf in [0, -2] {
        let r = create_topics(&t.image, &create_req("t", 1, rf), &mut t.ctx);
        assert_rejected(
            &r,
            ErrorCode::InvalidReplicationFactor,
            "Replication factor must be larger than 0, or -1 to use the default value.",
        );
    }
}

#[test]
fn create_topics_rejects_zero_partitions() {
    let mut t = TestImage::new().brokers(1..=1).unfenced(1..=1);
    for n in [0, -5] {
        let r = create_topics(&t.image, &create_req("t", n, 1), &mut t.ctx);
        assert_rejected(
            &r,
            ErrorCode::InvalidPartitions,
            "Number of partitions was set to an invalid non-positive value.",
        );
    }
}

#[test]
fn create_topics_rejects_bad_name() {
    let mut t = TestImage::new().brokers(1..=1).unfenced(1..=1);
    let long = "x".repeat(250);
    for (name, fragment) in [
        ("", "can't be empty"),
        (".", "cannot be \".\" or \"..\""),
        ("..", "cannot be \".\" or \"..\""),
        (long.as_str(), "longer than 249"),
        (
            "bad name!",
            "contains a character other than ASCII alphanumerics",
        ),
    ] {
        let r = create_topics(&t.image, &create_req(name, 1, 1), &mut t.ctx);
        assert_rejected(&r, ErrorCode::InvalidTopicException, fragment);
    }
}

#[test]
fn create_topics_rejects_existing_name() {
    let mut t = TestImage::new().brokers(1..=1).unfenced(1..=1);
    let r = create_topics(&t.image, &create_req("x", 1, 1), &mut t.ctx);
    t.apply_all(&r.records);
    let r = create_topics(&t.image, &create_req("x", 1, 1), &mut t.ctx);
    assert_rejected(
        &r,
        ErrorCode::TopicAlreadyExists,
        "Topic 'x' already exists.",
    );
}

#[test]
fn create_topics_rejects_name_colliding_with_existing_topic() {
    let mut t = TestImage::new().brokers(1..=1).unfenced(1..=1);
    let r = create_topics(&t.image, &create_req("a_b", 1, 1), &mut t.ctx);
    t.apply_all(&r.records);
    let r = create_topics(&t.image, &create_req("a.b", 1, 1), &mut t.ctx);
    assert_rejected(
        &r,
        ErrorCode::InvalidTopicException,
        "Topic 'a.b' collides with existing topic: a_b",
    );
}

#[test]
fn create_topics_rejects_name_colliding_earlier_in_same_request() {
    let mut t = TestImage::new().brokers(1..=1).unfenced(1..=1);
    let r = create_topics(
        &t.image,
        &req(vec![topic("a.b", 1, 1), topic("a_b", 1, 1)]),
        &mut t.ctx,
    );
    assert_eq!(r.reply.topics[0].error_code, ErrorCode::None);
    assert_eq!(
        r.reply.topics[1].error_code,
        ErrorCode::InvalidTopicException
    );
    // Only the first topic's records (Topic + Partition).
    assert_eq!(r.records.len(), 2);
    t.apply_all(&r.records);
}

#[test]
fn create_topics_rejects_duplicate_in_request() {
    let mut t = TestImage::new().brokers(1..=1).unfenced(1..=1);
    let r = create_topics(
        &t.image,
        &req(vec![topic("d", 1, 1), topic("ok", 1, 1), topic("d", 1, 1)]),
        &mut t.ctx,
    );
    let codes: Vec<_> = r.reply.topics.iter().map(|t| t.error_code).collect();
    assert_eq!(
        codes,
        [
            ErrorCode::InvalidRequest,
            ErrorCode::None,
            ErrorCode::InvalidRequest
        ]
    );
    assert_eq!(
        r.reply.topics[0].error_message.as_deref(),
        Some("Duplicate topic name.")
    );
    // Only "ok" wrote records.
    assert!(r.records.iter().all(|rec| match rec {
        Record::Topic(tr) => tr.name == "ok",
        _ => true,
    }));
    assert_eq!(r.records.len(), 2);
}

#[test]
fn create_topics_rejects_unknown_config_key() {
    let mut t = TestImage::new().brokers(1..=1).unfenced(1..=1);
    let topic = with_configs(topic("t", 1, 1), &[("foo", Some("1"))]);
    let r = create_topics(&t.image, &req(vec![topic]), &mut t.ctx);
    assert_rejected(
        &r,
        ErrorCode::InvalidConfig,
        "Unknown topic config name: foo",
    );
}

#[test]
fn create_topics_rejects_null_config_value() {
    let mut t = TestImage::new().brokers(1..=1).unfenced(1..=1);
    let topic = with_configs(
        topic("t", 1, 1),
        &[("retention.ms", None), ("segment.ms", None)],
    );
    let r = create_topics(&t.image, &req(vec![topic]), &mut t.ctx);
    assert_rejected(
        &r,
        ErrorCode::InvalidConfig,
        "Null value not supported for topic configs: retention.ms,segment.ms",
    );
}

#[test]
fn create_topics_rejects_bad_config_values() {
    let mut t = TestImage::new().brokers(1..=1).unfenced(1..=1);
    for (key, value) in [
        ("retention.ms", "-2"),
        ("retention.ms", "soon"),
        ("min.insync.replicas", "0"),
        ("cleanup.policy", "archive"),
        ("unclean.leader.election.enable", "maybe"),
    ] {
        let topic = with_configs(topic("t", 1, 1), &[(key, Some(value))]);
        let r = create_topics(&t.image, &req(vec![topic]), &mut t.ctx);
        assert_rejected(&r, ErrorCode::InvalidConfig, key);
    }
}

#[test]
fn create_topics_config_error_wins_over_rf_error() {
    // Kafka validates configs before replication factor and partitions.
    let mut t = TestImage::new().brokers(1..=1).unfenced(1..=1);
    let topic = with_configs(topic("t", 0, 0), &[("foo", Some("1"))]);
    let r = create_topics(&t.image, &req(vec![topic]), &mut t.ctx);
    assert_rejected(&r, ErrorCode::InvalidConfig, "foo");
}

#[test]
fn create_topics_writes_config_records_and_allows_min_isr_above_rf() {
    let mut t = TestImage::new().brokers(1..=1).unfenced(1..=1);
    let topic = with_configs(
        topic("t", 1, 1),
        &[
            ("retention.ms", Some("1000")),
            ("min.insync.replicas", Some("3")),
            ("retention.ms", Some("2000")),
        ],
    );
    let r = create_topics(&t.image, &req(vec![topic]), &mut t.ctx);
    assert_eq!(r.reply.topics[0].error_code, ErrorCode::None);
    assert_eq!(r.reply.topics[0].configs["retention.ms"], "2000");
    assert_eq!(
        r.reply.topics[0].effective_configs(&t.image)["retention.ms"],
        "2000"
    );
    let kinds: Vec<_> = r.records.iter().map(Record::kind).collect();
    use crate::records::RecordKind as K;
    assert_eq!(kinds, [K::Topic, K::Config, K::Config, K::Partition]);
    t.apply_all(&r.records);
    let effective = t.image.effective_topic_configs("t").unwrap();
    assert_eq!(effective["retention.ms"], "2000");
    assert_eq!(effective["min.insync.replicas"], "3");
    assert_eq!(effective["segment.bytes"], "1073741824");
}

#[test]
fn create_topics_failing_topic_does_not_block_others() {
    let mut t = TestImage::new().brokers(1..=3).unfenced(1..=3);
    let r = create_topics(
        &t.image,
        &req(vec![
            topic("good", 2, 3),
            topic("bad", 1, 9),
            topic("also-good", 1, 1),
        ]),
        &mut t.ctx,
    );
    let codes: Vec<_> = r.reply.topics.iter().map(|t| t.error_code).collect();
    assert_eq!(
        codes,
        [
            ErrorCode::None,
            ErrorCode::InvalidReplicationFactor,
            ErrorCode::None
        ]
    );
    t.apply_all(&r.records);
    assert!(t.image.topic("good").is_some());
    assert!(t.image.topic("bad").is_none());
    assert!(t.image.topic("also-good").is_some());
}

#[test]
fn create_topics_validate_only_writes_nothing() {
    let mut t = TestImage::new().brokers(1..=3).unfenced(1..=3);
    let mut r = create_req("t", 3, 3);
    r.validate_only = true;
    let r = create_topics(&t.image, &r, &mut t.ctx);
    assert_eq!(r.reply.topics[0].error_code, ErrorCode::None);
    assert_eq!(r.reply.topics[0].topic_id, None);
    assert!(r.records.is_empty());

    let mut bad = create_req("t", 1, 4);
    bad.validate_only = true;
    let r = create_topics(&t.image, &bad, &mut t.ctx);
    assert_eq!(
        r.reply.topics[0].error_code,
        ErrorCode::InvalidReplicationFactor
    );
}

#[test]
fn create_topics_rejects_excessively_large_request() {
    let mut t = TestImage::new().brokers(1..=1).unfenced(1..=1);
    // 1 + 5000 + 1 + 5000 records: each topic is within the partition limits, together
    // they exceed Kafka's MAX_RECORDS_PER_USER_OP.
    let r = create_topics(
        &t.image,
        &req(vec![topic("half1", 5_000, 1), topic("half2", 5_000, 1)]),
        &mut t.ctx,
    );
    assert!(r.records.is_empty());
    for res in &r.reply.topics {
        assert_eq!(res.error_code, ErrorCode::PolicyViolation);
        assert_eq!(
            res.error_message.as_deref(),
            Some("Unable to perform excessively large batch operation.")
        );
    }

    // Exactly at the limit is fine: 1 Topic + 9999 Partitions.
    let r = create_topics(&t.image, &create_req("edge", 9_999, 1), &mut t.ctx);
    assert_eq!(r.reply.topics[0].error_code, ErrorCode::None);
    assert_eq!(r.records.len(), MAX_RECORDS_PER_USER_OP);
}

#[test]
fn create_topics_excludes_brokers_in_controlled_shutdown() {
    let mut t = TestImage::new().brokers(1..=3).unfenced(1..=3);
    let b = t.image.broker(BrokerId(3)).unwrap().clone();
    t.apply_all(&[Record::BrokerRegistrationChange(
        crate::records::BrokerRegistrationChangeRecord {
            broker_id: b.broker_id,
            broker_epoch: b.broker_epoch,
            fenced: None,
            in_controlled_shutdown: Some(true),
        },
    )]);
    let r = create_topics(&t.image, &create_req("t", 1, 3), &mut t.ctx);
    assert_rejected(
        &r,
        ErrorCode::InvalidReplicationFactor,
        "only 2 unfenced broker(s) are registered",
    );
}

#[test]
fn create_topics_spreads_replicas_across_racks() {
    let mut t = TestImage::new()
        .broker_on_rack(1, "a")
        .broker_on_rack(2, "a")
        .broker_on_rack(3, "b")
        .broker_on_rack(4, "b")
        .unfenced(1..=4);
    let r = create_topics(&t.image, &create_req("t", 8, 2), &mut t.ctx);
    t.apply_all(&r.records);
    let rack = |id: BrokerId| t.image.broker(id).unwrap().rack.clone();
    for i in 0..8 {
        let p = t.image.partition("t", i).unwrap();
        assert_ne!(rack(p.replicas[0]), rack(p.replicas[1]), "{p:?}");
    }
}

fn assign(partitions: Assignments) -> BTreeMap<String, Vec<CreatableReplicaAssignment>> {
    let list = partitions
        .iter()
        .map(|(i, b)| CreatableReplicaAssignment {
            partition_index: *i,
            broker_ids: b.iter().copied().map(BrokerId).collect(),
        })
        .collect();
    BTreeMap::from([("t".to_string(), list)])
}

#[test]
fn create_topics_uses_manual_assignments() {
    let mut t = TestImage::new().brokers(1..=3).unfenced(1..=3);
    let r = create_topics_with_assignments(
        &t.image,
        &create_req("t", -1, -1),
        &assign(&[(1, &[3, 1]), (0, &[2, 3])]),
        &mut t.ctx,
    );
    let res = &r.reply.topics[0];
    assert_eq!(res.error_code, ErrorCode::None, "{res:?}");
    assert_eq!((res.num_partitions, res.replication_factor), (2, 2));
    t.apply_all(&r.records);
    let p0 = t.image.partition("t", 0).unwrap();
    assert_eq!(p0.replicas, vec![BrokerId(2), BrokerId(3)]);
    assert_eq!(p0.leader, BrokerId(2));
    assert_eq!(
        t.image.partition("t", 1).unwrap().replicas,
        vec![BrokerId(3), BrokerId(1)]
    );
}

#[test]
fn create_topics_manual_assignment_requires_minus_one_rf_and_partitions() {
    let mut t = TestImage::new().brokers(1..=3).unfenced(1..=3);
    let a = assign(&[(0, &[1])]);
    let r = create_topics_with_assignments(&t.image, &create_req("t", -1, 1), &a, &mut t.ctx);
    assert_rejected(
        &r,
        ErrorCode::InvalidRequest,
        "replication factor was not set to -1",
    );
    let r = create_topics_with_assignments(&t.image, &create_req("t", 1, -1), &a, &mut t.ctx);
    assert_rejected(
        &r,
        ErrorCode::InvalidRequest,
        "numPartitions was not set to -1",
    );
}

/// Partition index → replica broker ids.
type Assignments<'a> = &'a [(i32, &'a [i32])];

#[test]
fn create_topics_rejects_bad_manual_assignments() {
    let cases: [(Assignments, &str); 6] = [
        (
            &[(0, &[1]), (0, &[2])],
            "multiple manual partition assignments for partition 0",
        ),
        (&[(0, &[])], "empty replica list"),
        (&[(0, &[1, 1])], "the broker 1 more than once"),
        (
            &[(0, &[1, 7])],
            "broker 7, but no such broker is registered",
        ),
        (&[(0, &[1, 2]), (1, &[1])], "a partition with 1 replica(s)"),
        (
            &[(0, &[1]), (2, &[2])],
            "consecutive 0-based integer sequence",
        ),
    ];
    for (partitions, fragment) in cases {
        let mut t = TestImage::new().brokers(1..=3).unfenced(1..=3);
        let r = create_topics_with_assignments(
            &t.image,
            &create_req("t", -1, -1),
            &assign(partitions),
            &mut t.ctx,
        );
        assert_rejected(&r, ErrorCode::InvalidReplicaAssignment, fragment);
    }
}

#[test]
fn create_topics_rejects_manual_assignment_with_only_fenced_replicas() {
    let mut t = TestImage::new().brokers(1..=3).unfenced(1..=2);
    let r = create_topics_with_assignments(
        &t.image,
        &create_req("t", -1, -1),
        &assign(&[(0, &[3])]),
        &mut t.ctx,
    );
    assert_rejected(
        &r,
        ErrorCode::InvalidReplicaAssignment,
        "for partition 0 are fenced or in controlled shutdown",
    );
}

#[test]
fn create_topics_defaults_come_from_cluster_broker_config() {
    use crate::records::{ConfigRecord, ConfigResourceType};
    let mut t = TestImage::new().brokers(1..=3).unfenced(1..=3);
    let set = |k: &str, v: &str| {
        Record::Config(ConfigRecord {
            resource_type: ConfigResourceType::Broker,
            resource_name: "".into(),
            name: k.into(),
            value: Some(v.into()),
        })
    };
    t.apply_all(&[
        set("num.partitions", "5"),
        set("default.replication.factor", "3"),
    ]);
    let r = create_topics(&t.image, &create_req("t", -1, -1), &mut t.ctx);
    let res = &r.reply.topics[0];
    assert_eq!((res.num_partitions, res.replication_factor), (5, 3));
    // Explicit values still win.
    let r = create_topics(&t.image, &create_req("u", 2, 1), &mut t.ctx);
    let res = &r.reply.topics[0];
    assert_eq!((res.num_partitions, res.replication_factor), (2, 1));
    // A cluster default RF above the registered brokers fails like an explicit one.
    t.apply_all(&[set("default.replication.factor", "4")]);
    let r = create_topics(&t.image, &create_req("v", -1, -1), &mut t.ctx);
    assert_rejected(
        &r,
        ErrorCode::InvalidReplicationFactor,
        "target replication factor of 4",
    );
}

#[test]
fn create_topics_rejects_rf_above_unfenced_brokers() {
    // The rule (stricter than Kafka's registered count): RF 3 with 2 unfenced + 1
    // fenced broker fails naming the unfenced count; RF 2 succeeds.
    let mut t = TestImage::new().brokers(1..=3).unfenced(1..=2);
    let r = create_topics(&t.image, &create_req("t", 1, 3), &mut t.ctx);
    assert_rejected(
        &r,
        ErrorCode::InvalidReplicationFactor,
        "only 2 unfenced broker(s) are registered.",
    );
    let r = create_topics(&t.image, &create_req("t", 1, 2), &mut t.ctx);
    assert_eq!(r.reply.topics[0].error_code, ErrorCode::None);
}

fn limits(f: impl FnOnce(&mut crate::Limits)) -> crate::Limits {
    let mut l = crate::Limits::default();
    f(&mut l);
    l
}

#[test]
fn create_topics_rejects_partitions_above_the_per_topic_limit_alone() {
    let mut t = TestImage::new().brokers(1..=1).unfenced(1..=1);
    let r = create_topics(
        &t.image,
        &req(vec![topic("ok", 2, 1), topic("huge", i32::MAX, 1)]),
        &mut t.ctx,
    );
    assert_eq!(r.reply.topics[0].error_code, ErrorCode::None);
    let huge = &r.reply.topics[1];
    assert_eq!(huge.error_code, ErrorCode::InvalidPartitions);
    let msg = huge.error_message.as_deref().unwrap_or_default();
    assert!(msg.contains("max_partitions_per_topic"), "{msg}");
    assert!(msg.contains("2147483647"), "{msg}");
    // Only "ok" wrote records: Topic + 2 Partitions.
    assert_eq!(r.records.len(), 3);
}

fn codes(r: &ControllerResult<CreateTopicsReply>) -> Vec<(ErrorCode, String)> {
    r.reply
        .topics
        .iter()
        .map(|x| (x.error_code, x.error_message.clone().unwrap_or_default()))
        .collect()
}

#[test]
fn create_topics_fails_only_the_topic_crossing_max_partitions_per_request() {
    let mut t = TestImage::new().brokers(1..=1).unfenced(1..=1);
    t.ctx = t
        .ctx
        .clone()
        .with_limits(limits(|l| l.max_partitions_per_request = 5));
    let r = create_topics(
        &t.image,
        &req(vec![topic("a", 3, 1), topic("b", 3, 1), topic("c", 2, 1)]),
        &mut t.ctx,
    );
    let got = codes(&r);
    assert_eq!(got[0].0, ErrorCode::None);
    assert_eq!(got[1].0, ErrorCode::PolicyViolation, "{got:?}");
    assert!(got[1].1.contains("max_partitions_per_request"), "{got:?}");
    assert_eq!(got[2].0, ErrorCode::None, "3 + 2 is at the limit: {got:?}");
    assert_eq!(r.records.len(), 2 + 5);
}

#[test]
fn create_topics_enforces_max_topics_and_max_config_entries() {
    let mut t = TestImage::new().brokers(1..=1).unfenced(1..=1);
    t.ctx = t.ctx.clone().with_limits(limits(|l| {
        l.max_topics = 2;
        l.max_config_entries = 1;
    }));
    let r = create_topics(
        &t.image,
        &req(vec![
            with_configs(
                topic("d", 1, 1),
                &[
                    ("retention.ms", Some("1")),
                    ("cleanup.policy", Some("compact")),
                ],
            ),
            with_configs(topic("a", 1, 1), &[("retention.ms", Some("1"))]),
            topic("b", 1, 1),
            topic("c", 1, 1),
        ]),
        &mut t.ctx,
    );
    let got = codes(&r);
    assert_eq!(got[0].0, ErrorCode::InvalidRequest, "{got:?}");
    assert!(got[0].1.contains("max_config_entries"), "{got:?}");
    assert_eq!((got[1].0, got[2].0), (ErrorCode::None, ErrorCode::None));
    assert_eq!(got[3].0, ErrorCode::PolicyViolation, "{got:?}");
    assert!(got[3].1.contains("max_topics"), "{got:?}");
    t.apply_all(&r.records);
    assert_eq!(t.image.topics().len(), 2);
    let r = create_topics(&t.image, &create_req("e", 1, 1), &mut t.ctx);
    assert_rejected(&r, ErrorCode::PolicyViolation, "max_topics");
}
