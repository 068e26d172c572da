//! Bad input, per RPC, against a real 3-node quorum: one table row per kind of bad request
//! (illegal, empty and oversized names; zero, negative and absurd counts and replication
//! factors; duplicates; unknown and ill-typed configs; stale and future epochs; unknown
//! broker ids; missing required fields; garbage bytes, wrong wire types and messages over
//! the size limit). Every row asserts
//! * the specific error (Kafka error name per item, or the gRPC code) and a message naming
//!   the field or the rule;
//! * the image did not change: the leader's metadata offset and image are identical before
//!   and after;
//! * the server still serves (the next row's reads go to the same leader).
//!
//! Multi-item requests are validated per item: good items succeed, bad ones fail alone.
//! The quorum runs with lowered limits (`--max-request-bytes`, `--max-topics`, ...), which
//! also proves the limit flags reach the servers.

use std::time::Duration;

use bytes::{Buf, BufMut};
use kraft_proto as pb;
use kraft_proto::admin_service_client::AdminServiceClient;
use kraft_proto::broker_service_client::BrokerServiceClient;
use kraft_tests::brokers::Brokers;
use kraft_tests::{Cluster, wait_for_leader};
use prost::Message;
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;

const MAX_REQUEST_BYTES: usize = 64 * 1024;
const MAX_TOPICS: usize = 8;

/// What a request got back: a gRPC error, or the per-item errors in response order
/// (`NONE` for success).
#[derive(Debug)]
enum Outcome {
    Status(Code, String),
    Items(Vec<(String, String)>),
}

/// What a row expects.
enum Expect {
    /// gRPC code and a message fragment.
    Status(Code, &'static str),
    /// Every item fails with this error name and a message containing the fragment.
    Items(&'static str, &'static str),
}

fn items(errors: impl IntoIterator<Item = Option<pb::ItemError>>) -> Outcome {
    Outcome::Items(
        errors
            .into_iter()
            .map(|e| match e {
                Some(e) if e.error_code != 0 => (e.error_name, e.error_message),
                _ => ("NONE".to_string(), String::new()),
            })
            .collect(),
    )
}

fn status(s: tonic::Status) -> Outcome {
    Outcome::Status(s.code(), s.message().to_string())
}

/// Raw bytes in, raw bytes out: for garbage and wrong-wire-type requests.
#[derive(Clone, Copy, Default)]
struct RawCodec;
struct RawEncoder;
struct RawDecoder;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        let mut v = vec![0; src.remaining()];
        src.copy_to_slice(&mut v);
        Ok(Some(v))
    }
}

/// One request of the table.
#[derive(Clone)]
enum Req {
    CreateTopics(pb::CreateTopicsRequest),
    CreatePartitions(pb::CreatePartitionsRequest),
    DeleteTopics(pb::DeleteTopicsRequest),
    ElectLeaders(pb::ElectLeadersRequest),
    DescribeConfigs(pb::DescribeConfigsRequest),
    AlterConfigs(pb::IncrementalAlterConfigsRequest),
    Reassign(pb::AlterPartitionReassignmentsRequest),
    UpdateFeatures(pb::UpdateFeaturesRequest),
    AddVoter(pb::AddRaftVoterRequest),
    RemoveVoter(pb::RemoveRaftVoterRequest),
    Transfer(pb::TransferLeadershipRequest),
    Register(pb::RegisterBrokerRequest),
    Heartbeat(pb::BrokerHeartbeatRequest),
    Unregister(pb::UnregisterBrokerRequest),
    AlterPartition(pb::AlterPartitionRequest),
    ProducerIds(pb::AllocateProducerIdsRequest),
    FetchMetadata(pb::FetchMetadataRequest),
    Raw(&'static str, Vec<u8>),
}

struct Conn {
    admin: AdminServiceClient<Channel>,
    broker: BrokerServiceClient<Channel>,
    channel: Channel,
}

impl Conn {
    async fn new(addr: &str) -> Self {
        let channel = Channel::from_shared(format!("http://{addr}"))
            .expect("uri")
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .connect()
            .await
            .expect("connect to the leader");
        Conn {
            admin: AdminServiceClient::new(channel.clone()),
            broker: BrokerServiceClient::new(channel.clone()),
            channel,
        }
    }

    async fn send(&mut self, req: Req) -> Outcome {
        let a = &mut self.admin;
        let b = &mut self.broker;
        let r = match req {
            Req::CreateTopics(m) => a
                .create_topics(m)
                .await
                .map(|r| items(r.into_inner().topics.into_iter().map(|t| t.error))),
            Req::CreatePartitions(m) => a
                .create_partitions(m)
                .await
                .map(|r| items(r.into_inner().results.into_iter().map(|t| t.error))),
            Req::DeleteTopics(m) => a
                .delete_topics(m)
                .await
                .map(|r| items(r.into_inner().responses.into_iter().map(|t| t.error))),
            Req::ElectLeaders(m) => a.elect_leaders(m).await.map(|r| {
                items(
                    r.into_inner()
                        .replica_election_results
                        .into_iter()
                        .flat_map(|t| t.partition_results.into_iter().map(|p| p.error)),
                )
            }),
            Req::DescribeConfigs(m) => a
                .describe_configs(m)
                .await
                .map(|r| items(r.into_inner().results.into_iter().map(|t| t.error))),
            Req::AlterConfigs(m) => a
                .incremental_alter_configs(m)
                .await
                .map(|r| items(r.into_inner().responses.into_iter().map(|t| t.error))),
            Req::Reassign(m) => a.alter_partition_reassignments(m).await.map(|r| {
                items(
                    r.into_inner()
                        .responses
                        .into_iter()
                        .flat_map(|t| t.partitions.into_iter().map(|p| p.error)),
                )
            }),
            Req::UpdateFeatures(m) => a
                .update_features(m)
                .await
                .map(|r| items(r.into_inner().results.into_iter().map(|t| t.error))),
            Req::AddVoter(m) => a
                .add_raft_voter(m)
                .await
                .map(|r| items([r.into_inner().error])),
            Req::RemoveVoter(m) => a
                .remove_raft_voter(m)
                .await
                .map(|r| items([r.into_inner().error])),
            Req::Transfer(m) => a
                .transfer_leadership(m)
                .await
                .map(|r| items([r.into_inner().error])),
            Req::Register(m) => b
                .register_broker(m)
                .await
                .map(|r| items([r.into_inner().error])),
            Req::Heartbeat(m) => b
                .broker_heartbeat(m)
                .await
                .map(|r| items([r.into_inner().error])),
            Req::Unregister(m) => b
                .unregister_broker(m)
                .await
                .map(|r| items([r.into_inner().error])),
            Req::AlterPartition(m) => b.alter_partition(m).await.map(|r| {
                let r = r.into_inner();
                if r.error.as_ref().is_some_and(|e| e.error_code != 0) {
                    items([r.error])
                } else {
                    items(
                        r.topics
                            .into_iter()
                            .flat_map(|t| t.partitions.into_iter().map(|p| p.error)),
                    )
                }
            }),
            Req::ProducerIds(m) => b
                .allocate_producer_ids(m)
                .await
                .map(|r| items([r.into_inner().error])),
            Req::FetchMetadata(m) => match b.fetch_metadata(m).await {
                // The stream's first message (or its error) is the answer.
                Ok(r) => {
                    let mut s = r.into_inner();
                    match tokio::time::timeout(Duration::from_secs(10), s.message()).await {
                        Ok(Ok(_)) => Ok(items([None])),
                        Ok(Err(e)) => Err(e),
                        Err(_) => Ok(Outcome::Items(vec![("TIMEOUT".into(), String::new())])),
                    }
                }
                Err(e) => Err(e),
            },
            Req::Raw(path, bytes) => {
                let mut grpc = tonic::client::Grpc::new(self.channel.clone());
                grpc.ready().await.expect("ready");
                let path = tonic::codegen::http::uri::PathAndQuery::from_static(path);
                grpc.unary(tonic::Request::new(bytes), path, RawCodec)
                    .await
                    .map(|_| items([None]))
            }
        };
        r.unwrap_or_else(status)
    }

    /// The leader's applied offset and image.
    async fn image(&mut self) -> (u64, String) {
        let r = self
            .admin
            .dump_metadata(pb::DumpMetadataRequest { min_offset: 0 })
            .await
            .expect("the leader still serves DumpMetadata")
            .into_inner();
        (r.offset, r.image_json)
    }
}

fn topic(name: &str, partitions: i32, rf: i32) -> pb::CreatableTopic {
    pb::CreatableTopic {
        name: name.into(),
        num_partitions: partitions,
        replication_factor: rf,
        ..Default::default()
    }
}

fn create(topics: Vec<pb::CreatableTopic>) -> Req {
    Req::CreateTopics(pb::CreateTopicsRequest {
        topics,
        validate_only: false,
    })
}

fn with_config(mut t: pb::CreatableTopic, name: &str, value: Option<&str>) -> pb::CreatableTopic {
    t.configs.push(pb::ConfigEntry {
        name: name.into(),
        value: value.map(str::to_string),
    });
    t
}

fn grow(name: &str, count: i32, assignments: Vec<Vec<i32>>) -> Req {
    Req::CreatePartitions(pb::CreatePartitionsRequest {
        topics: vec![pb::CreatePartitionsTopic {
            name: name.into(),
            count,
            assignments: assignments
                .into_iter()
                .map(|broker_ids| pb::ReplicaList { broker_ids })
                .collect(),
        }],
        validate_only: false,
    })
}

fn alter_configs(resource_type: i32, name: &str, configs: Vec<(&str, i32, Option<&str>)>) -> Req {
    Req::AlterConfigs(pb::IncrementalAlterConfigsRequest {
        resources: vec![pb::AlterConfigsResource {
            resource_type,
            resource_name: name.into(),
            configs: configs
                .into_iter()
                .map(|(n, op, v)| pb::AlterableConfig {
                    name: n.into(),
                    config_operation: op,
                    value: v.map(str::to_string),
                })
                .collect(),
        }],
        validate_only: false,
    })
}

fn describe_configs(resource_type: i32, name: &str) -> Req {
    Req::DescribeConfigs(pb::DescribeConfigsRequest {
        resources: vec![pb::DescribeConfigsResource {
            resource_type,
            resource_name: name.into(),
            configuration_keys: vec![],
        }],
    })
}

const TOPIC: i32 = 2;
const BROKER: i32 = 4;

/// Facts about the live cluster the rows refer to.
struct Live {
    topic_id: String,
    /// Broker 1: its epoch, and a partition of `base` it leads with its epochs.
    epoch: i64,
    led: pb::PartitionDescription,
    cluster_id: String,
}

fn alter_partition(
    live: &Live,
    topic_id: &str,
    broker_epoch: i64,
    f: impl FnOnce(&mut pb::AlterPartitionRequestPartition),
) -> Req {
    let mut p = pb::AlterPartitionRequestPartition {
        partition_index: live.led.partition_index,
        leader_epoch: live.led.leader_epoch,
        new_isr_with_epochs: live
            .led
            .isr
            .iter()
            .map(|b| pb::BrokerIdAndEpoch {
                broker_id: *b,
                broker_epoch: -1,
            })
            .collect(),
        leader_recovery_state: 0,
        partition_epoch: live.led.partition_epoch,
    };
    f(&mut p);
    Req::AlterPartition(pb::AlterPartitionRequest {
        broker_id: live.led.leader,
        broker_epoch,
        topics: vec![pb::AlterPartitionRequestTopic {
            topic_id: topic_id.into(),
            partitions: vec![p],
        }],
    })
}

/// Field 1 of CreateTopicsRequest (`repeated CreatableTopic topics`, wire type LEN) sent as a
/// varint: a valid protobuf frame with the wrong wire type.
fn wrong_wire_type() -> Vec<u8> {
    vec![0x08, 0x96, 0x01]
}

fn rows(live: &Live) -> Vec<(&'static str, Req, Expect)> {
    use Expect::{Items, Status};
    let long = "x".repeat(250);
    let many_configs = |n: usize| {
        let mut t = topic("many-configs", 1, 1);
        for i in 0..n {
            t = with_config(t, &format!("retention.ms.{i}"), Some("1"));
        }
        t
    };
    let bad_register = |f: &dyn Fn(&mut pb::RegisterBrokerRequest)| {
        let mut r = pb::RegisterBrokerRequest {
            broker_id: 50,
            cluster_id: live.cluster_id.clone(),
            incarnation_id: "8a3e2f6c-5d4b-4c1a-9f0e-1b2c3d4e5f60".into(),
            listeners: vec![pb::Listener {
                name: "PLAINTEXT".into(),
                host: "127.0.0.1".into(),
                port: 9092,
                security_protocol: String::new(),
            }],
            rack: None,
            features: vec![],
        };
        f(&mut r);
        Req::Register(r)
    };
    vec![
        // ---- CreateTopics: names
        (
            "create: empty name (missing field)",
            create(vec![topic("", 1, 1)]),
            Items("INVALID_TOPIC_EXCEPTION", "can't be empty"),
        ),
        (
            "create: name of 250 chars",
            create(vec![topic(&long, 1, 1)]),
            Items("INVALID_TOPIC_EXCEPTION", "longer than 249"),
        ),
        (
            "create: name '.'",
            create(vec![topic(".", 1, 1)]),
            Items("INVALID_TOPIC_EXCEPTION", "cannot be \".\" or \"..\""),
        ),
        (
            "create: name '..'",
            create(vec![topic("..", 1, 1)]),
            Items("INVALID_TOPIC_EXCEPTION", "cannot be \".\" or \"..\""),
        ),
        (
            "create: name with '/'",
            create(vec![topic("bad/name", 1, 1)]),
            Items("INVALID_TOPIC_EXCEPTION", "character other than ASCII"),
        ),
        (
            "create: name with a space and non-ASCII",
            create(vec![topic("é x", 1, 1)]),
            Items("INVALID_TOPIC_EXCEPTION", "character other than ASCII"),
        ),
        (
            "create: existing name",
            create(vec![topic("base", 1, 1)]),
            Items("TOPIC_ALREADY_EXISTS", "already exists"),
        ),
        (
            "create: duplicate names in one request",
            create(vec![topic("dup", 1, 1), topic("dup", 1, 1)]),
            Items("INVALID_REQUEST", "Duplicate topic name"),
        ),
        // ---- CreateTopics: partitions and replication factor
        (
            "create: zero partitions",
            create(vec![topic("p0", 0, 1)]),
            Items("INVALID_PARTITIONS", "non-positive"),
        ),
        (
            "create: negative partitions",
            create(vec![topic("pneg", -5, 1)]),
            Items("INVALID_PARTITIONS", "non-positive"),
        ),
        (
            "create: i32::MAX partitions",
            create(vec![topic("pmax", i32::MAX, 1)]),
            Items("INVALID_PARTITIONS", "max_partitions_per_topic"),
        ),
        (
            "create: partitions over the per-request limit",
            create(vec![topic("preq", 101, 1)]),
            Items("POLICY_VIOLATION", "max_partitions_per_request"),
        ),
        (
            "create: replication factor 0",
            create(vec![topic("rf0", 1, 0)]),
            Items("INVALID_REPLICATION_FACTOR", "larger than 0"),
        ),
        (
            "create: negative replication factor",
            create(vec![topic("rfneg", 1, -3)]),
            Items("INVALID_REPLICATION_FACTOR", "larger than 0"),
        ),
        (
            "create: replication factor above the brokers",
            create(vec![topic("rf4", 1, 4)]),
            Items("INVALID_REPLICATION_FACTOR", "3 unfenced broker"),
        ),
        (
            "create: absurd replication factor",
            create(vec![topic("rfbig", 1, 32_000)]),
            Items("INVALID_REPLICATION_FACTOR", "32000"),
        ),
        (
            "create: replication factor beyond int16 (Kafka's wire type)",
            create(vec![topic("rfwire", 1, 100_000)]),
            Status(Code::InvalidArgument, "topics[0].replication_factor"),
        ),
        (
            "create: assignment to an unknown broker",
            create(vec![pb::CreatableTopic {
                assignments: vec![pb::CreatableReplicaAssignment {
                    partition_index: 0,
                    broker_ids: vec![1, 99],
                }],
                ..topic("asg", -1, -1)
            }]),
            Items("INVALID_REPLICA_ASSIGNMENT", "99"),
        ),
        // ---- CreateTopics: configs
        (
            "create: unknown config",
            create(vec![with_config(
                topic("cfg1", 1, 1),
                "no.such.config",
                Some("1"),
            )]),
            Items("INVALID_CONFIG", "no.such.config"),
        ),
        (
            "create: ill-typed config",
            create(vec![with_config(
                topic("cfg2", 1, 1),
                "retention.ms",
                Some("abc"),
            )]),
            Items("INVALID_CONFIG", "retention.ms"),
        ),
        (
            "create: null config value",
            create(vec![with_config(topic("cfg3", 1, 1), "retention.ms", None)]),
            Items("INVALID_CONFIG", "retention.ms"),
        ),
        (
            "create: too many config entries",
            create(vec![many_configs(17)]),
            Items("INVALID_REQUEST", "max_config_entries"),
        ),
        // ---- CreatePartitions
        (
            "partitions: unknown topic",
            grow("nope", 3, vec![]),
            Items("UNKNOWN_TOPIC_OR_PARTITION", "nope"),
        ),
        (
            "partitions: decrease",
            grow("base", 1, vec![]),
            Items("INVALID_PARTITIONS", "would not be an increase"),
        ),
        (
            "partitions: same count",
            grow("base", 3, vec![]),
            Items("INVALID_PARTITIONS", "already has 3"),
        ),
        (
            "partitions: absurd count",
            grow("base", i32::MAX, vec![]),
            Items("INVALID_PARTITIONS", "max_partitions_per_topic"),
        ),
        (
            "partitions: assignment to an unknown broker",
            grow("base", 4, vec![vec![1, 2, 99]]),
            Items("INVALID_REPLICA_ASSIGNMENT", "99"),
        ),
        (
            "partitions: duplicate topic",
            Req::CreatePartitions(pb::CreatePartitionsRequest {
                topics: vec![
                    pb::CreatePartitionsTopic {
                        name: "base".into(),
                        count: 4,
                        assignments: vec![],
                    },
                    pb::CreatePartitionsTopic {
                        name: "base".into(),
                        count: 5,
                        assignments: vec![],
                    },
                ],
                validate_only: false,
            }),
            Items("INVALID_REQUEST", "Duplicate topic name"),
        ),
        // ---- DeleteTopics
        (
            "delete: unknown name",
            Req::DeleteTopics(pb::DeleteTopicsRequest {
                topics: vec![pb::DeleteTopicState {
                    name: "nope".into(),
                    topic_id: String::new(),
                }],
            }),
            Items("UNKNOWN_TOPIC_OR_PARTITION", "nope"),
        ),
        (
            "delete: unknown id",
            Req::DeleteTopics(pb::DeleteTopicsRequest {
                topics: vec![pb::DeleteTopicState {
                    name: String::new(),
                    topic_id: "8a3e2f6c-5d4b-4c1a-9f0e-1b2c3d4e5f60".into(),
                }],
            }),
            Items("UNKNOWN_TOPIC_ID", "8a3e2f6c"),
        ),
        (
            "delete: neither name nor id (missing field)",
            Req::DeleteTopics(pb::DeleteTopicsRequest {
                topics: vec![pb::DeleteTopicState::default()],
            }),
            Status(Code::InvalidArgument, "topics[0]"),
        ),
        (
            "delete: id that is not a UUID",
            Req::DeleteTopics(pb::DeleteTopicsRequest {
                topics: vec![pb::DeleteTopicState {
                    name: String::new(),
                    topic_id: "not-a-uuid".into(),
                }],
            }),
            Status(Code::InvalidArgument, "topics[0].topic_id"),
        ),
        (
            "delete: duplicate names",
            Req::DeleteTopics(pb::DeleteTopicsRequest {
                topics: vec![
                    pb::DeleteTopicState {
                        name: "base".into(),
                        topic_id: String::new(),
                    },
                    pb::DeleteTopicState {
                        name: "base".into(),
                        topic_id: String::new(),
                    },
                ],
            }),
            Items("INVALID_REQUEST", "Duplicate topic name"),
        ),
        // ---- ElectLeaders
        (
            "elect: unknown topic",
            Req::ElectLeaders(pb::ElectLeadersRequest {
                election_type: 0,
                topic_partitions: vec![pb::TopicPartitions {
                    topic: "nope".into(),
                    partitions: vec![0],
                }],
            }),
            Items("UNKNOWN_TOPIC_OR_PARTITION", ""),
        ),
        (
            "elect: negative partition",
            Req::ElectLeaders(pb::ElectLeadersRequest {
                election_type: 1,
                topic_partitions: vec![pb::TopicPartitions {
                    topic: "base".into(),
                    partitions: vec![-1],
                }],
            }),
            Items("UNKNOWN_TOPIC_OR_PARTITION", ""),
        ),
        // ---- DescribeConfigs (a read: must change nothing either)
        (
            "describe configs: unknown topic",
            describe_configs(TOPIC, "nope"),
            Items("UNKNOWN_TOPIC_OR_PARTITION", "nope"),
        ),
        (
            "describe configs: broker name not a number",
            describe_configs(BROKER, "abc"),
            Items("INVALID_REQUEST", "abc"),
        ),
        (
            "describe configs: unknown broker id",
            describe_configs(BROKER, "99"),
            Items("BROKER_ID_NOT_REGISTERED", "99"),
        ),
        (
            "describe configs: unknown resource type",
            describe_configs(3, "x"),
            Items("INVALID_REQUEST", ""),
        ),
        (
            "describe configs: resource type beyond int8",
            describe_configs(1000, "x"),
            Status(Code::InvalidArgument, "resources[0].resource_type"),
        ),
        // ---- IncrementalAlterConfigs
        (
            "alter configs: unknown key",
            alter_configs(TOPIC, "base", vec![("no.such", 0, Some("1"))]),
            Items("INVALID_CONFIG", "no.such"),
        ),
        (
            "alter configs: ill-typed value",
            alter_configs(TOPIC, "base", vec![("min.insync.replicas", 0, Some("x"))]),
            Items("INVALID_CONFIG", "min.insync.replicas"),
        ),
        (
            "alter configs: SET without value",
            alter_configs(TOPIC, "base", vec![("retention.ms", 0, None)]),
            Items("INVALID_CONFIG", "retention.ms"),
        ),
        (
            "alter configs: unknown operation",
            alter_configs(TOPIC, "base", vec![("retention.ms", 9, Some("1"))]),
            Items("INVALID_REQUEST", "Unknown config operation 9"),
        ),
        (
            "alter configs: duplicate key",
            alter_configs(
                TOPIC,
                "base",
                vec![
                    ("retention.ms", 0, Some("1")),
                    ("retention.ms", 0, Some("2")),
                ],
            ),
            Items("INVALID_REQUEST", "duplicate config keys"),
        ),
        (
            "alter configs: unknown topic",
            alter_configs(TOPIC, "nope", vec![("retention.ms", 0, Some("1"))]),
            Items("UNKNOWN_TOPIC_OR_PARTITION", "nope"),
        ),
        (
            "alter configs: unknown broker id",
            alter_configs(BROKER, "99", vec![("log.retention.ms", 0, Some("1"))]),
            Items("BROKER_ID_NOT_REGISTERED", "99"),
        ),
        (
            "alter configs: too many entries",
            alter_configs(
                TOPIC,
                "base",
                (0..17).map(|_| ("retention.ms", 0, Some("1"))).collect(),
            ),
            Items("INVALID_REQUEST", "max_config_entries"),
        ),
        // ---- AlterPartitionReassignments
        (
            "reassign: unknown topic",
            Req::Reassign(pb::AlterPartitionReassignmentsRequest {
                topics: vec![pb::ReassignableTopic {
                    name: "nope".into(),
                    partitions: vec![pb::ReassignablePartition {
                        partition_index: 0,
                        replicas: Some(pb::ReplicaList {
                            broker_ids: vec![1],
                        }),
                    }],
                }],
            }),
            Items("UNKNOWN_TOPIC_OR_PARTITION", ""),
        ),
        (
            "reassign: unknown broker",
            Req::Reassign(pb::AlterPartitionReassignmentsRequest {
                topics: vec![pb::ReassignableTopic {
                    name: "base".into(),
                    partitions: vec![pb::ReassignablePartition {
                        partition_index: 0,
                        replicas: Some(pb::ReplicaList {
                            broker_ids: vec![1, 99],
                        }),
                    }],
                }],
            }),
            Items("INVALID_REPLICA_ASSIGNMENT", "99"),
        ),
        (
            "reassign: empty replica list",
            Req::Reassign(pb::AlterPartitionReassignmentsRequest {
                topics: vec![pb::ReassignableTopic {
                    name: "base".into(),
                    partitions: vec![pb::ReassignablePartition {
                        partition_index: 0,
                        replicas: Some(pb::ReplicaList { broker_ids: vec![] }),
                    }],
                }],
            }),
            Items("INVALID_REPLICA_ASSIGNMENT", ""),
        ),
        // ---- UpdateFeatures
        (
            "features: unknown feature",
            Req::UpdateFeatures(pb::UpdateFeaturesRequest {
                feature_updates: vec![pb::FeatureUpdate {
                    feature: "no.such".into(),
                    max_version_level: 1,
                    upgrade_type: 1,
                }],
                validate_only: false,
            }),
            Items("INVALID_REQUEST", "Unknown feature no.such"),
        ),
        (
            "features: upgrade type missing",
            Req::UpdateFeatures(pb::UpdateFeaturesRequest {
                feature_updates: vec![pb::FeatureUpdate {
                    feature: "metadata.version".into(),
                    max_version_level: 1,
                    upgrade_type: 0,
                }],
                validate_only: false,
            }),
            Status(Code::InvalidArgument, "feature_updates[0].upgrade_type"),
        ),
        // ---- Quorum operations
        (
            "add voter: empty endpoint",
            Req::AddVoter(pb::AddRaftVoterRequest {
                voter_id: 9,
                endpoint: String::new(),
                timeout_ms: 1000,
            }),
            Status(Code::InvalidArgument, "endpoint"),
        ),
        (
            "remove voter: unknown id",
            Req::RemoveVoter(pb::RemoveRaftVoterRequest { voter_id: 99 }),
            Items("VOTER_NOT_FOUND", "99"),
        ),
        (
            "transfer leadership: unknown id",
            Req::Transfer(pb::TransferLeadershipRequest { to: 99 }),
            Items("VOTER_NOT_FOUND", "99"),
        ),
        // ---- RegisterBroker
        (
            "register: incarnation id not a UUID (missing field)",
            bad_register(&|r| r.incarnation_id.clear()),
            Status(Code::InvalidArgument, "incarnation_id"),
        ),
        (
            "register: wrong cluster id",
            bad_register(&|r| r.cluster_id = "wrong".into()),
            Items("INCONSISTENT_CLUSTER_ID", "wrong"),
        ),
        (
            "register: port 0",
            bad_register(&|r| r.listeners[0].port = 0),
            Status(Code::InvalidArgument, "listeners[0].port"),
        ),
        (
            "register: empty host",
            bad_register(&|r| r.listeners[0].host.clear()),
            Status(Code::InvalidArgument, "listeners[0].host"),
        ),
        (
            "register: no listeners",
            bad_register(&|r| r.listeners.clear()),
            Items("INVALID_REQUEST", "listeners must contain at least one"),
        ),
        (
            "register: negative broker id",
            bad_register(&|r| r.broker_id = -1),
            Items("INVALID_REQUEST", "-1"),
        ),
        (
            "register: feature level beyond int16",
            bad_register(&|r| {
                r.features = vec![pb::SupportedFeature {
                    name: "metadata.version".into(),
                    min_supported_version: 1,
                    max_supported_version: 70_000,
                }]
            }),
            Status(Code::InvalidArgument, "features[0].max_supported_version"),
        ),
        // ---- BrokerHeartbeat: unknown ids, stale and future epochs
        // Kafka answers an unknown broker id with STALE_BROKER_EPOCH (checkBrokerEpoch).
        (
            "heartbeat: unknown broker",
            Req::Heartbeat(pb::BrokerHeartbeatRequest {
                broker_id: 99,
                broker_epoch: live.epoch,
                ..Default::default()
            }),
            Items(
                "STALE_BROKER_EPOCH",
                "No broker registration found for broker 99",
            ),
        ),
        (
            "heartbeat: stale broker epoch",
            Req::Heartbeat(pb::BrokerHeartbeatRequest {
                broker_id: 1,
                broker_epoch: live.epoch - 1,
                ..Default::default()
            }),
            Items("STALE_BROKER_EPOCH", ""),
        ),
        (
            "heartbeat: future broker epoch",
            Req::Heartbeat(pb::BrokerHeartbeatRequest {
                broker_id: 1,
                broker_epoch: live.epoch + 1_000_000,
                ..Default::default()
            }),
            Items("STALE_BROKER_EPOCH", ""),
        ),
        // ---- UnregisterBroker
        (
            "unregister: unknown broker",
            Req::Unregister(pb::UnregisterBrokerRequest { broker_id: 99 }),
            Items("BROKER_ID_NOT_REGISTERED", "99"),
        ),
        // ---- AlterPartition
        (
            "alter partition: stale broker epoch",
            alter_partition(live, &live.topic_id, live.epoch - 1, |_| {}),
            Items("STALE_BROKER_EPOCH", ""),
        ),
        (
            "alter partition: future broker epoch",
            alter_partition(live, &live.topic_id, live.epoch + 1_000_000, |_| {}),
            Items("STALE_BROKER_EPOCH", ""),
        ),
        (
            "alter partition: stale leader epoch",
            alter_partition(live, &live.topic_id, live.epoch, |p| p.leader_epoch -= 1),
            Items("FENCED_LEADER_EPOCH", ""),
        ),
        // Kafka: epochs newer than the controller's mean this controller is stale.
        (
            "alter partition: future leader epoch",
            alter_partition(live, &live.topic_id, live.epoch, |p| p.leader_epoch += 1000),
            Items("NOT_CONTROLLER", "newer than the controller's"),
        ),
        (
            "alter partition: stale partition epoch",
            alter_partition(live, &live.topic_id, live.epoch, |p| p.partition_epoch -= 1),
            Items("INVALID_UPDATE_VERSION", ""),
        ),
        (
            "alter partition: future partition epoch",
            alter_partition(live, &live.topic_id, live.epoch, |p| {
                p.partition_epoch += 1000
            }),
            Items("NOT_CONTROLLER", "newer than the controller's"),
        ),
        (
            "alter partition: unknown partition",
            alter_partition(live, &live.topic_id, live.epoch, |p| p.partition_index = 77),
            Items("UNKNOWN_TOPIC_OR_PARTITION", ""),
        ),
        (
            "alter partition: unknown topic id",
            alter_partition(
                live,
                "8a3e2f6c-5d4b-4c1a-9f0e-1b2c3d4e5f60",
                live.epoch,
                |_| {},
            ),
            Items("UNKNOWN_TOPIC_ID", ""),
        ),
        (
            "alter partition: topic id missing",
            alter_partition(live, "", live.epoch, |_| {}),
            Status(Code::InvalidArgument, "topics[0].topic_id"),
        ),
        (
            "alter partition: empty ISR",
            alter_partition(live, &live.topic_id, live.epoch, |p| {
                p.new_isr_with_epochs.clear()
            }),
            Items("INVALID_REQUEST", ""),
        ),
        (
            "alter partition: ISR with an unknown broker",
            alter_partition(live, &live.topic_id, live.epoch, |p| {
                p.new_isr_with_epochs.push(pb::BrokerIdAndEpoch {
                    broker_id: 99,
                    broker_epoch: -1,
                })
            }),
            Items("INVALID_REQUEST", ""),
        ),
        (
            "alter partition: leader recovery state 7",
            alter_partition(live, &live.topic_id, live.epoch, |p| {
                p.leader_recovery_state = 7
            }),
            Status(Code::InvalidArgument, "leader_recovery_state"),
        ),
        // ---- AllocateProducerIds
        (
            "producer ids: unknown broker",
            Req::ProducerIds(pb::AllocateProducerIdsRequest {
                broker_id: 99,
                broker_epoch: 1,
            }),
            Items(
                "STALE_BROKER_EPOCH",
                "No broker registration found for broker 99",
            ),
        ),
        (
            "producer ids: stale broker epoch",
            Req::ProducerIds(pb::AllocateProducerIdsRequest {
                broker_id: 1,
                broker_epoch: live.epoch - 1,
            }),
            Items("STALE_BROKER_EPOCH", ""),
        ),
        // ---- FetchMetadata
        (
            "fetch metadata: negative offset",
            Req::FetchMetadata(pb::FetchMetadataRequest { offset: -5 }),
            Status(Code::InvalidArgument, "offset"),
        ),
        // ---- Garbage, wrong wire types, oversized messages
        (
            "raw: garbage bytes to CreateTopics",
            Req::Raw("/kraft.v1.AdminService/CreateTopics", vec![0xff; 64]),
            Status(Code::Internal, "failed to decode Protobuf message"),
        ),
        (
            "raw: wrong wire type for CreateTopics.topics",
            Req::Raw("/kraft.v1.AdminService/CreateTopics", wrong_wire_type()),
            // prost names the message and the field.
            Status(
                Code::Internal,
                "CreateTopicsRequest.topics: invalid wire type",
            ),
        ),
        (
            "raw: garbage bytes to AlterPartition",
            Req::Raw(
                "/kraft.v1.BrokerService/AlterPartition",
                b"\x1a\x05hello".to_vec(),
            ),
            Status(Code::Internal, "failed to decode Protobuf message"),
        ),
        (
            "raw: truncated message to RegisterBroker",
            Req::Raw("/kraft.v1.BrokerService/RegisterBroker", {
                let mut b = pb::RegisterBrokerRequest {
                    cluster_id: "c".repeat(40),
                    ..Default::default()
                }
                .encode_to_vec();
                b.truncate(10);
                b
            }),
            Status(Code::Internal, "failed to decode Protobuf message"),
        ),
        (
            "raw: request over max_request_bytes",
            create(vec![topic(&"y".repeat(MAX_REQUEST_BYTES + 1), 1, 1)]),
            // tonic's code for a message over max_decoding_message_size; the text names the limit.
            Status(Code::OutOfRange, "the limit is: 65536 bytes"),
        ),
        (
            "raw: unknown method",
            Req::Raw("/kraft.v1.AdminService/NoSuchRpc", vec![]),
            Status(Code::Unimplemented, ""),
        ),
    ]
}

/// `Err` describes how `got` differs from `want`.
fn check(what: &str, got: &Outcome, want: &Expect) -> Result<(), String> {
    match (got, want) {
        (Outcome::Status(code, msg), Expect::Status(want_code, frag)) => {
            if code != want_code || !msg.contains(frag) {
                return Err(format!(
                    "{what}: got {code:?} {msg:?}, want {want_code:?} with {frag:?}"
                ));
            }
        }
        (Outcome::Items(items), Expect::Items(name, frag)) => {
            if items.is_empty() {
                return Err(format!("{what}: no items in the answer"));
            }
            for (n, msg) in items {
                if n != name || !msg.contains(frag) {
                    return Err(format!("{what}: got {items:?}, want {name} with {frag:?}"));
                }
            }
        }
        _ => return Err(format!("{what}: got {got:?}")),
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_request_is_refused_precisely_and_changes_nothing() {
    let mut cluster = Cluster::start_with(
        3,
        &[
            "--max-request-bytes",
            &MAX_REQUEST_BYTES.to_string(),
            "--max-topics",
            &MAX_TOPICS.to_string(),
            "--max-partitions-per-topic",
            "1000",
            "--max-partitions-per-request",
            "100",
            "--max-config-entries",
            "16",
        ],
    );
    let b = cluster.bootstrap();
    let leader = wait_for_leader(&b).await;
    let _brokers = Brokers::start(&b, 3).await;
    let mut conn = Conn::new(&cluster.addr(leader)).await;

    // The live state the rows refer to: a topic "base" with 3 partitions on 3 brokers.
    let created = conn.send(create(vec![topic("base", 3, 3)])).await;
    check("create base", &created, &Expect::Items("NONE", "")).expect("base created");
    let d = conn
        .admin
        .describe_topics(pb::DescribeTopicsRequest {
            names: vec!["base".into()],
            local: false,
        })
        .await
        .expect("describe base")
        .into_inner();
    let base = &d.topics[0];
    let led = base
        .partitions
        .iter()
        .find(|p| p.leader == 1)
        .or(base.partitions.first())
        .expect("a partition")
        .clone();
    let cluster_desc = conn
        .admin
        .describe_cluster(pb::DescribeClusterRequest { local: false })
        .await
        .expect("describe cluster")
        .into_inner();
    let epoch = cluster_desc
        .brokers
        .iter()
        .find(|x| x.broker_id == led.leader)
        .expect("the leader broker")
        .broker_epoch;
    let live = Live {
        topic_id: base.topic_id.clone(),
        epoch,
        led,
        cluster_id: cluster_desc.cluster_id.clone(),
    };

    // Every row runs; the failures are reported together.
    let table = rows(&live);
    let n = table.len();
    let mut failures = Vec::new();
    for (what, req, want) in table {
        let before = conn.image().await;
        let got = conn.send(req).await;
        if let Err(e) = check(what, &got, &want) {
            failures.push(e);
        }
        let after = conn.image().await;
        if before != after {
            failures.push(format!(
                "{what}: the image changed (offset {} -> {})",
                before.0, after.0
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {n} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("[t14] {n} bad requests refused, image unchanged after each");

    // Multi-item requests are validated per item: the good ones succeed, the bad fail alone.
    let before = conn.image().await;
    let got = conn
        .send(create(vec![
            topic("good-1", 1, 3),
            topic("", 1, 1),
            topic("good-2", 2, 1),
            topic("bad-rf", 1, 0),
            topic("dup", 1, 1),
            topic("dup", 1, 1),
        ]))
        .await;
    let Outcome::Items(items) = &got else {
        panic!("mixed create: {got:?}");
    };
    let names: Vec<&str> = items.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "NONE",
            "INVALID_TOPIC_EXCEPTION",
            "NONE",
            "INVALID_REPLICATION_FACTOR",
            "INVALID_REQUEST",
            "INVALID_REQUEST"
        ],
        "{items:?}"
    );
    let after = conn.image().await;
    assert!(after.0 > before.0, "the good topics were written");
    let listed: Vec<String> = conn
        .admin
        .list_topics(pb::ListTopicsRequest { local: false })
        .await
        .expect("list")
        .into_inner()
        .topics
        .into_iter()
        .map(|t| t.name)
        .collect();
    for t in ["good-1", "good-2"] {
        assert!(listed.contains(&t.to_string()), "{t} missing: {listed:?}");
    }
    assert!(
        !listed.iter().any(|t| t == "dup" || t == "bad-rf"),
        "{listed:?}"
    );

    // max_topics: the cluster holds 3 topics; of 7 more, those past the limit fail alone.
    let more: Vec<pb::CreatableTopic> = (0..7).map(|i| topic(&format!("fill-{i}"), 1, 1)).collect();
    let got = conn.send(create(more)).await;
    let Outcome::Items(items) = &got else {
        panic!("fill: {got:?}");
    };
    let ok = items.iter().filter(|(n, _)| n == "NONE").count();
    assert_eq!(ok, MAX_TOPICS - 3, "{items:?}");
    for (n, msg) in &items[ok..] {
        assert_eq!(n, "POLICY_VIOLATION", "{items:?}");
        assert!(msg.contains("max_topics"), "{msg}");
    }

    // Every node still serves and holds the same image as the leader.
    let (offset, image) = conn.image().await;
    for id in 1..=3 {
        let mut c = Conn::new(&cluster.addr(id)).await;
        let r = c
            .admin
            .dump_metadata(pb::DumpMetadataRequest { min_offset: offset })
            .await
            .expect("dump")
            .into_inner();
        assert_eq!(r.offset, offset, "node {id}");
        assert!(r.image_json == image, "node {id} differs from the leader");
        assert!(cluster.is_running(id), "node {id} died");
    }
}
