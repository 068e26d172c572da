//! Fuzz targets on the stable toolchain (proptest as the engine): what a peer or a user can
//! send must never panic a controller or a broker, and a rejected input changes nothing.
//!
//! * `record_batch_*`: bytes of a committed log entry → [`crate::committed::apply_entry`] on a
//!   populated image (controllers and brokers run exactly this on every delta);
//! * `metadata_image_*`: snapshot / FetchMetadata image bytes → [`MetadataImage::decode`];
//! * `request_*`: protobuf bytes → prost decode → `convert::*_from_pb` → handler on a
//!   populated image; the handler's records must then apply cleanly (its own guards).
//!
//! Inputs are both raw bytes and structure-aware: valid encodings mutated (JSON values
//! replaced by extremes, bytes flipped, cut), and protobuf requests built from pools of bad
//! names and numbers. Cases per target: `KRAFT_FUZZ_CASES` (default 256, about a second
//! each); a long run is `KRAFT_FUZZ_CASES=100000 cargo test -p kraft-controller --lib fuzz`.
//! A failure is shrunk and saved by proptest under `proptest-regressions/`; copy it into a
//! named regression test below and fix the cause.

use std::collections::BTreeMap;

use kraft_proto as pb;
use proptest::prelude::*;
use prost::Message;

use super::convert;
use crate::committed::{ApplyOutcome, apply_entry};
use crate::ctx::Ctx;
use crate::handlers::{self, ControllerResult};
use crate::heartbeats::BrokerHeartbeatManager;
use crate::image::MetadataImage;
use crate::records::RecordBatch;
use crate::testing::{TestImage, create_req};

fn cases() -> u32 {
    std::env::var("KRAFT_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        // Failures are kept as regression seeds next to this file.
        ..ProptestConfig::default()
    }
}

/// Three unfenced brokers and two topics (one with 3 partitions, RF 3), a topic config.
fn populated() -> TestImage {
    let mut t = TestImage::new().brokers(1..=3).unfenced(1..=3);
    for (name, parts) in [("t1", 3), ("t.2", 1)] {
        let r = handlers::create_topics(&t.image, &create_req(name, parts, 3), &mut t.ctx);
        t.apply_all(&r.records);
    }
    t
}

/// Encoded batches a real controller wrote while building [`populated`], to mutate.
fn valid_batches() -> Vec<Vec<u8>> {
    let mut t = TestImage::new().brokers(1..=3).unfenced(1..=3);
    let mut out = Vec::new();
    for (name, parts) in [("x1", 2), ("x.2", 1)] {
        let r = handlers::create_topics(&t.image, &create_req(name, parts, 3), &mut t.ctx);
        out.push(
            RecordBatch::new(r.records.clone())
                .encode()
                .expect("encode"),
        );
        t.apply_all(&r.records);
    }
    let req = handlers::AllocateProducerIds {
        broker_id: crate::ids::BrokerId(1),
        broker_epoch: t
            .image
            .broker(crate::ids::BrokerId(1))
            .expect("b1")
            .broker_epoch,
    };
    let r = handlers::allocate_producer_ids(&t.image, &req);
    out.push(RecordBatch::new(r.records).encode().expect("encode"));
    out
}

const EXTREMES: &[i64] = &[
    0,
    -1,
    1,
    -2,
    i8::MAX as i64,
    i16::MAX as i64,
    i16::MIN as i64,
    i32::MAX as i64,
    i32::MIN as i64,
    i64::MAX,
    i64::MIN,
];

/// Replaces the `nth` scalar (in document order) of `v` with `with`, picked from extremes.
fn mutate_json(v: &mut serde_json::Value, nth: &mut usize, with: &serde_json::Value) -> bool {
    use serde_json::Value;
    match v {
        Value::Array(a) => a.iter_mut().any(|x| mutate_json(x, nth, with)),
        Value::Object(o) => o.values_mut().any(|x| mutate_json(x, nth, with)),
        scalar => {
            if *nth == 0 {
                *scalar = with.clone();
                true
            } else {
                *nth -= 1;
                false
            }
        }
    }
}

fn replacement() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        proptest::sample::select(EXTREMES).prop_map(serde_json::Value::from),
        Just(serde_json::Value::from(u64::MAX)),
        Just(serde_json::Value::Null),
        Just(serde_json::Value::from("")),
        Just(serde_json::Value::from("..")),
        Just(serde_json::Value::from(
            "00000000-0000-0000-0000-000000000000"
        )),
        Just(serde_json::Value::Array(vec![])),
        Just(serde_json::Value::Bool(true)),
    ]
}

/// Applies `bytes` as the entry after the image's offset and checks the contract of
/// `apply_entry`: no panic; a rejected entry changes nothing but the offset.
fn check_apply(bytes: &[u8]) -> Result<(), TestCaseError> {
    let t = populated();
    let offset = t.image.last_applied_offset() + 1;
    let mut image = t.image.clone();
    let outcome = apply_entry(&mut image, offset, Some(bytes));
    prop_assert_eq!(image.last_applied_offset(), offset);
    if let ApplyOutcome::Rejected { .. } = outcome {
        let mut unchanged = t.image.clone();
        apply_entry(&mut unchanged, offset, None);
        prop_assert_eq!(
            image.encode().expect("encode"),
            unchanged.encode().expect("encode")
        );
    }
    // The resulting image must still encode and decode (it may be snapshotted next).
    let bytes = image.encode().expect("encode");
    prop_assert_eq!(MetadataImage::decode(&bytes).expect("decode"), image);
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn fuzz_record_batch_raw_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        check_apply(&bytes)?;
    }

    #[test]
    fn fuzz_record_batch_mutated_json(
        which in any::<proptest::sample::Index>(),
        edits in proptest::collection::vec((any::<usize>(), replacement()), 1..4),
    ) {
        let batches = valid_batches();
        // The legacy JSON form (still decoded, for logs written before the binary format).
        let bytes: &Vec<u8> = which.get(&batches);
        let batch = RecordBatch::decode(bytes).expect("valid batch");
        let mut v = serde_json::to_value(&batch).expect("json");
        for (nth, with) in &edits {
            let mut n = nth % 64;
            mutate_json(&mut v, &mut n, with);
        }
        check_apply(&serde_json::to_vec(&v).expect("json"))?;
    }

    #[test]
    fn fuzz_record_batch_flipped_and_cut_bytes(
        which in any::<proptest::sample::Index>(),
        flips in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 0..4),
        cut in any::<proptest::sample::Index>(),
    ) {
        let batches = valid_batches();
        let mut bytes = which.get(&batches).clone();
        for (at, x) in &flips {
            let i = at.index(bytes.len());
            bytes[i] ^= x;
        }
        bytes.truncate(cut.index(bytes.len() + 1));
        check_apply(&bytes)?;
    }

    #[test]
    fn fuzz_metadata_image_bytes(
        raw in proptest::collection::vec(any::<u8>(), 0..512),
        edits in proptest::collection::vec((any::<usize>(), replacement()), 0..4),
    ) {
        let _ = MetadataImage::decode(&raw);
        // The legacy JSON body (still read), mutated structurally.
        let mut v = serde_json::to_value(&populated().image).expect("json");
        for (nth, with) in &edits {
            let mut n = nth % 128;
            mutate_json(&mut v, &mut n, with);
        }
        if let Ok(image) = MetadataImage::decode(&serde_json::to_vec(&v).expect("json")) {
            let again = MetadataImage::decode(&image.encode().expect("encode")).expect("decode");
            prop_assert_eq!(again, image);
        }
    }

    #[test]
    fn fuzz_metadata_image_binary_flipped_and_cut(
        flips in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 0..4),
        cut in any::<proptest::sample::Index>(),
    ) {
        let mut bytes = populated().image.encode().expect("encode");
        for (at, x) in &flips {
            let i = at.index(bytes.len());
            bytes[i] ^= x;
        }
        bytes.truncate(cut.index(bytes.len() + 1));
        // No panic; whatever decodes is an image that round-trips.
        if let Ok(image) = MetadataImage::decode(&bytes) {
            let again = MetadataImage::decode(&image.encode().expect("encode")).expect("decode");
            prop_assert_eq!(again, image);
        }
    }
}

// ---- requests ----------------------------------------------------------------------------

/// Runs one write handler result through the contract every handler keeps: its records
/// apply cleanly to the image it saw.
fn check_records<R: std::fmt::Debug>(
    t: &TestImage,
    r: &ControllerResult<R>,
) -> Result<(), TestCaseError> {
    let mut image = t.image.clone();
    let res = image.apply(
        &RecordBatch::new(r.records.clone()),
        t.image.last_applied_offset() + 1,
    );
    prop_assert!(
        res.is_ok(),
        "handler records fail their own guards: {res:?} for {r:?}"
    );
    Ok(())
}

/// Decodes `bytes` as every request type, converts and runs the handler. Nothing may panic;
/// handler output must apply.
fn run_all(bytes: &[u8]) -> Result<(), TestCaseError> {
    let mut t = populated();
    let mut hb = BrokerHeartbeatManager::default();
    hb.activate(&t.image, 0);
    if let Ok(m) = pb::CreateTopicsRequest::decode(bytes) {
        run_create_topics(&mut t, &m)?;
    }
    if let Ok(m) = pb::CreatePartitionsRequest::decode(bytes) {
        let d = convert::create_partitions_from_pb(&m);
        let r = handlers::create_partitions(&t.image, &d, &mut t.ctx);
        check_records(&t, &r)?;
    }
    if let Ok(m) = pb::DeleteTopicsRequest::decode(bytes)
        && let Ok(d) = convert::delete_topics_from_pb(&m)
    {
        check_records(&t, &handlers::delete_topics(&t.image, &d))?;
    }
    if let Ok(m) = pb::ElectLeadersRequest::decode(bytes) {
        let d = convert::elect_leaders_from_pb(&m);
        let r = handlers::elect_leaders(&t.image, &d, &mut t.ctx);
        check_records(&t, &r)?;
    }
    if let Ok(m) = pb::DescribeConfigsRequest::decode(bytes)
        && let Ok(d) = convert::describe_configs_from_pb(&m)
    {
        let _ = handlers::describe_configs(&t.image, &d);
    }
    if let Ok(m) = pb::IncrementalAlterConfigsRequest::decode(bytes)
        && let Ok(d) = convert::incremental_alter_configs_from_pb(&m)
    {
        let r = handlers::incremental_alter_configs_with_limits(&t.image, &d, t.ctx.limits());
        check_records(&t, &r)?;
    }
    if let Ok(m) = pb::AlterPartitionReassignmentsRequest::decode(bytes) {
        let d = convert::alter_reassignments_from_pb(&m);
        check_records(&t, &handlers::alter_partition_reassignments(&t.image, &d))?;
    }
    if let Ok(m) = pb::UpdateFeaturesRequest::decode(bytes)
        && let Ok(d) = convert::update_features_from_pb(&m)
    {
        check_records(&t, &handlers::update_features(&t.image, &d))?;
    }
    if let Ok(m) = pb::RegisterBrokerRequest::decode(bytes)
        && let Ok(d) = convert::register_broker_from_pb(&m)
    {
        let r = handlers::register_broker_with_sessions(&t.image, &d, &mut hb, &mut t.ctx);
        check_records(&t, &r)?;
    }
    if let Ok(m) = pb::AlterPartitionRequest::decode(bytes)
        && let Ok(d) = convert::alter_partition_from_pb(&m)
    {
        let r = handlers::alter_partition(&t.image, &d, &mut t.ctx);
        check_records(&t, &r)?;
    }
    if let Ok(m) = pb::BrokerHeartbeatRequest::decode(bytes) {
        let d = handlers::BrokerHeartbeat {
            broker_id: crate::ids::BrokerId(m.broker_id),
            broker_epoch: crate::ids::BrokerEpoch(m.broker_epoch),
            current_metadata_offset: m.current_metadata_offset,
            want_fence: m.want_fence,
            want_shutdown: m.want_shut_down,
        };
        let r = handlers::broker_heartbeat_with_sessions(&t.image, &d, &mut hb, &mut t.ctx);
        check_records(&t, &r)?;
    }
    if let Ok(m) = pb::AllocateProducerIdsRequest::decode(bytes) {
        let d = handlers::AllocateProducerIds {
            broker_id: crate::ids::BrokerId(m.broker_id),
            broker_epoch: crate::ids::BrokerEpoch(m.broker_epoch),
        };
        check_records(&t, &handlers::allocate_producer_ids(&t.image, &d))?;
    }
    if let Ok(m) = pb::DescribeTopicsRequest::decode(bytes) {
        let _ = handlers::describe_topics(&t.image, &m.names);
    }
    Ok(())
}

fn run_create_topics(t: &mut TestImage, m: &pb::CreateTopicsRequest) -> Result<(), TestCaseError> {
    let Ok(d) = convert::create_topics_from_pb(m) else {
        return Ok(());
    };
    let a = convert::create_topics_assignments_from_pb(m);
    let r = handlers::create_topics_with_assignments(&t.image, &d, &a, &mut t.ctx);
    prop_assert_eq!(r.reply.topics.len(), m.topics.len());
    let all_failed = r
        .reply
        .topics
        .iter()
        .all(|x| x.error_code != crate::ErrorCode::None);
    prop_assert!(
        !all_failed || r.records.is_empty(),
        "failed request wrote records"
    );
    check_records(t, &r)
}

const NAMES: &[&str] = &[
    "", ".", "..", "t1", "t.2", "t_2", "new", "new", "bad/name", "é", "a b",
];

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(NAMES).prop_map(str::to_string),
        Just("x".repeat(250)),
        "[a-z._-]{1,6}",
    ]
}

fn int32() -> impl Strategy<Value = i32> {
    prop_oneof![
        proptest::sample::select(vec![0, -1, -2, 1, 2, 3, 4, 100_000, i32::MAX, i32::MIN]),
        any::<i32>(),
    ]
}

fn config_entry() -> impl Strategy<Value = pb::ConfigEntry> {
    (
        proptest::sample::select(vec![
            "retention.ms",
            "cleanup.policy",
            "min.insync.replicas",
            "no.such",
            "",
        ]),
        proptest::option::of(proptest::sample::select(vec![
            "1",
            "-1",
            "x",
            "",
            "compact",
            "delete,compact",
            "99999999999999999999",
        ])),
    )
        .prop_map(|(n, v)| pb::ConfigEntry {
            name: n.into(),
            value: v.map(str::to_string),
        })
}

fn creatable_topic() -> impl Strategy<Value = pb::CreatableTopic> {
    (
        name(),
        int32(),
        int32(),
        proptest::collection::vec(config_entry(), 0..3),
        proptest::collection::vec((int32(), proptest::collection::vec(int32(), 0..4)), 0..3),
    )
        .prop_map(|(name, np, rf, configs, a)| pb::CreatableTopic {
            name,
            num_partitions: np,
            replication_factor: rf,
            configs,
            assignments: a
                .into_iter()
                .map(|(i, b)| pb::CreatableReplicaAssignment {
                    partition_index: i,
                    broker_ids: b,
                })
                .collect(),
        })
}

fn alter_partition() -> impl Strategy<Value = pb::AlterPartitionRequest> {
    (
        int32(),
        any::<i64>(),
        proptest::collection::vec((int32(), int32(), int32(), int32(), int32()), 0..3),
        any::<bool>(),
    )
        .prop_map(|(broker_id, broker_epoch, parts, real_topic)| {
            let t = populated();
            let topic_id = if real_topic {
                t.image
                    .topic("t1")
                    .map(|x| x.topic_id.0.to_string())
                    .unwrap_or_default()
            } else {
                uuid::Uuid::nil().to_string()
            };
            pb::AlterPartitionRequest {
                broker_id,
                broker_epoch,
                topics: vec![pb::AlterPartitionRequestTopic {
                    topic_id,
                    partitions: parts
                        .into_iter()
                        .map(|(p, le, isr, lrs, pe)| pb::AlterPartitionRequestPartition {
                            partition_index: p % 4,
                            leader_epoch: le,
                            new_isr_with_epochs: vec![pb::BrokerIdAndEpoch {
                                broker_id: isr,
                                broker_epoch: i64::from(isr),
                            }],
                            leader_recovery_state: lrs % 3,
                            partition_epoch: pe,
                        })
                        .collect(),
                }],
            }
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn fuzz_request_raw_protobuf_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        run_all(&bytes)?;
    }

    #[test]
    fn fuzz_request_create_topics(
        topics in proptest::collection::vec(creatable_topic(), 0..4),
        validate_only in any::<bool>(),
    ) {
        let m = pb::CreateTopicsRequest { topics, validate_only };
        run_all(&m.encode_to_vec())?;
    }

    #[test]
    fn fuzz_request_partitions_configs_and_reassignments(
        topics in proptest::collection::vec((name(), int32(), proptest::collection::vec(int32(), 0..3)), 0..3),
        configs in proptest::collection::vec((0i32..6, name(), proptest::collection::vec((config_entry(), -1i32..5), 0..3)), 0..3),
    ) {
        let grow = pb::CreatePartitionsRequest {
            topics: topics.iter().map(|(n, c, a)| pb::CreatePartitionsTopic {
                name: n.clone(),
                count: *c,
                assignments: if a.is_empty() { vec![] } else {
                    vec![pb::ReplicaList { broker_ids: a.clone() }]
                },
            }).collect(),
            validate_only: false,
        };
        run_all(&grow.encode_to_vec())?;
        let alter = pb::IncrementalAlterConfigsRequest {
            resources: configs.iter().map(|(ty, n, cs)| pb::AlterConfigsResource {
                resource_type: *ty,
                resource_name: n.clone(),
                configs: cs.iter().map(|(c, op)| pb::AlterableConfig {
                    name: c.name.clone(),
                    config_operation: *op,
                    value: c.value.clone(),
                }).collect(),
            }).collect(),
            validate_only: false,
        };
        run_all(&alter.encode_to_vec())?;
        let reassign = pb::AlterPartitionReassignmentsRequest {
            topics: topics.iter().map(|(n, c, a)| pb::ReassignableTopic {
                name: n.clone(),
                partitions: vec![pb::ReassignablePartition {
                    partition_index: *c,
                    replicas: (!a.is_empty()).then(|| pb::ReplicaList { broker_ids: a.clone() }),
                }],
            }).collect(),
        };
        run_all(&reassign.encode_to_vec())?;
    }

    #[test]
    fn fuzz_request_alter_partition(m in alter_partition()) {
        run_all(&m.encode_to_vec())?;
    }
}

#[test]
fn fuzz_inputs_include_valid_requests_that_succeed() {
    // The structure-aware generators can produce requests that pass validation: a target
    // that only ever hits the first check would test nothing.
    let mut t = populated();
    let m = pb::CreateTopicsRequest {
        topics: vec![pb::CreatableTopic {
            name: "new".into(),
            num_partitions: 2,
            replication_factor: 3,
            ..Default::default()
        }],
        validate_only: false,
    };
    let d = convert::create_topics_from_pb(&m).expect("valid");
    let r = handlers::create_topics_with_assignments(&t.image, &d, &BTreeMap::new(), &mut t.ctx);
    assert_eq!(r.reply.topics[0].error_code, crate::ErrorCode::None);
    assert_eq!(r.records.len(), 3);
    let _ = Ctx::new(1, 0);
}
