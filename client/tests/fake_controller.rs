//! The client against an in-process fake controller on `127.0.0.1:0`: failover, retry policy,
//! and the broker simulator's register → follow metadata → heartbeat → unfenced flow.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kraft_client::proto::admin_service_server::{AdminService, AdminServiceServer};
use kraft_client::proto::broker_service_server::{BrokerService, BrokerServiceServer};
use kraft_client::proto::*;
use kraft_client::simulate::{BrokerSimulator, SimulatorConfig};
use kraft_client::{Client, ClientConfig, ClientError};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};

const CLUSTER_ID: &str = "fake-cluster";
const OFFSET: u64 = 42;

#[derive(Default)]
struct Fake {
    /// Answer this many calls with UNAVAILABLE first (with `hint` as leader endpoint, if set).
    unavailable: AtomicU32,
    hint: Option<String>,
    calls: AtomicU32,
    /// Keep every broker fenced.
    never_unfence: bool,
    /// Refuse to register this broker id.
    refuse: Option<i32>,
    /// broker id -> (registration, heartbeats seen with a caught-up offset)
    brokers: Mutex<BTreeMap<i32, (RegisterBrokerRequest, u32)>>,
    /// Requests of the admin writes, as received.
    seen: Mutex<Seen>,
    /// FetchMetadata streams opened.
    fetches: AtomicU32,
}

/// Requests the fake received, per RPC, in arrival order.
#[derive(Default)]
struct Seen {
    create_partitions: Vec<CreatePartitionsRequest>,
    delete_topics: Vec<DeleteTopicsRequest>,
    elect_leaders: Vec<ElectLeadersRequest>,
    describe_configs: Vec<DescribeConfigsRequest>,
    alter_configs: Vec<IncrementalAlterConfigsRequest>,
    reassignments: Vec<AlterPartitionReassignmentsRequest>,
    update_features: Vec<UpdateFeaturesRequest>,
    unregistered: Vec<i32>,
}

/// Every topic of the fake has this many partitions (for CreatePartitions).
const EXISTING_PARTITIONS: i32 = 3;

impl Fake {
    fn gate(&self) -> Result<(), Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let left = self.unavailable.load(Ordering::SeqCst);
        if left == 0 {
            return Ok(());
        }
        self.unavailable.store(left - 1, Ordering::SeqCst);
        let mut s = Status::unavailable("NOT_CONTROLLER");
        if let Some(h) = &self.hint {
            s.metadata_mut()
                .insert("kraft-leader-endpoint", h.parse().unwrap());
        }
        Err(s)
    }
}

fn ok_error() -> Option<ItemError> {
    Some(ItemError {
        error_code: 0,
        error_name: "NONE".into(),
        error_message: String::new(),
    })
}

fn err(code: i32, name: &str, message: &str) -> Option<ItemError> {
    Some(ItemError {
        error_code: code,
        error_name: name.into(),
        error_message: message.into(),
    })
}

#[tonic::async_trait]
impl AdminService for Fake {
    async fn describe_quorum(
        &self,
        _req: Request<DescribeQuorumRequest>,
    ) -> Result<Response<DescribeQuorumResponse>, Status> {
        Err(Status::unimplemented(
            "describe_quorum is not used by these tests",
        ))
    }

    async fn add_raft_voter(
        &self,
        _req: Request<AddRaftVoterRequest>,
    ) -> Result<Response<AddRaftVoterResponse>, Status> {
        Err(Status::unimplemented(
            "add_raft_voter is not used by these tests",
        ))
    }

    async fn remove_raft_voter(
        &self,
        _req: Request<RemoveRaftVoterRequest>,
    ) -> Result<Response<RemoveRaftVoterResponse>, Status> {
        Err(Status::unimplemented(
            "remove_raft_voter is not used by these tests",
        ))
    }

    async fn transfer_leadership(
        &self,
        _req: Request<TransferLeadershipRequest>,
    ) -> Result<Response<TransferLeadershipResponse>, Status> {
        Err(Status::unimplemented(
            "transfer_leadership is not used by these tests",
        ))
    }

    async fn dump_metadata(
        &self,
        _req: Request<DumpMetadataRequest>,
    ) -> Result<Response<DumpMetadataResponse>, Status> {
        Err(Status::unimplemented(
            "dump_metadata is not used by these tests",
        ))
    }
    async fn create_partitions(
        &self,
        req: Request<CreatePartitionsRequest>,
    ) -> Result<Response<CreatePartitionsResponse>, Status> {
        self.gate()?;
        let req = req.into_inner();
        self.seen
            .lock()
            .unwrap()
            .create_partitions
            .push(req.clone());
        let results = req
            .topics
            .iter()
            .map(|t| CreatePartitionsTopicResult {
                name: t.name.clone(),
                error: if t.name == "unknown" {
                    err(3, "UNKNOWN_TOPIC_OR_PARTITION", "This server does not host this topic-partition.")
                } else if t.count < EXISTING_PARTITIONS {
                    err(
                        37,
                        "INVALID_PARTITIONS",
                        &format!(
                            "Topic currently has {EXISTING_PARTITIONS} partitions, which is higher than the requested {}.",
                            t.count
                        ),
                    )
                } else {
                    ok_error()
                },
            })
            .collect();
        Ok(Response::new(CreatePartitionsResponse { results }))
    }

    async fn delete_topics(
        &self,
        req: Request<DeleteTopicsRequest>,
    ) -> Result<Response<DeleteTopicsResponse>, Status> {
        self.gate()?;
        let req = req.into_inner();
        self.seen.lock().unwrap().delete_topics.push(req.clone());
        let responses = req
            .topics
            .iter()
            .map(|t| {
                let error = if t.name == "unknown" {
                    err(
                        3,
                        "UNKNOWN_TOPIC_OR_PARTITION",
                        "This server does not host this topic-partition.",
                    )
                } else if t.topic_id == "unknown-id" {
                    err(
                        100,
                        "UNKNOWN_TOPIC_ID",
                        "This server does not host this topic ID.",
                    )
                } else {
                    ok_error()
                };
                let ok = error.as_ref().is_some_and(|e| e.error_code == 0);
                DeletableTopicResult {
                    // A deletion by id names the topic it deleted.
                    name: if t.name.is_empty() && ok {
                        format!("named-{}", t.topic_id)
                    } else {
                        t.name.clone()
                    },
                    topic_id: if t.topic_id.is_empty() {
                        format!("id-{}", t.name)
                    } else {
                        t.topic_id.clone()
                    },
                    error,
                }
            })
            .collect();
        Ok(Response::new(DeleteTopicsResponse { responses }))
    }

    async fn elect_leaders(
        &self,
        req: Request<ElectLeadersRequest>,
    ) -> Result<Response<ElectLeadersResponse>, Status> {
        self.gate()?;
        let req = req.into_inner();
        self.seen.lock().unwrap().elect_leaders.push(req.clone());
        // Every partition: only t-1 needed an election. Named partitions: 0 is elected,
        // 1 needs none, 2 has its preferred leader down, others do not exist.
        if req.topic_partitions.is_empty() {
            return Ok(Response::new(ElectLeadersResponse {
                replica_election_results: vec![ReplicaElectionResult {
                    topic: "t".into(),
                    partition_results: vec![PartitionResult {
                        partition_id: 1,
                        error: ok_error(),
                    }],
                }],
            }));
        }
        let replica_election_results = req
            .topic_partitions
            .iter()
            .map(|tp| ReplicaElectionResult {
                topic: tp.topic.clone(),
                partition_results: tp
                    .partitions
                    .iter()
                    .map(|&p| PartitionResult {
                        partition_id: p,
                        error: match p {
                            0 => ok_error(),
                            1 => err(
                                84,
                                "ELECTION_NOT_NEEDED",
                                "Leader election not needed for topic partition.",
                            ),
                            2 => err(
                                80,
                                "PREFERRED_LEADER_NOT_AVAILABLE",
                                "The preferred leader was not available.",
                            ),
                            _ => err(
                                3,
                                "UNKNOWN_TOPIC_OR_PARTITION",
                                "This server does not host this topic-partition.",
                            ),
                        },
                    })
                    .collect(),
            })
            .collect();
        Ok(Response::new(ElectLeadersResponse {
            replica_election_results,
        }))
    }

    async fn describe_configs(
        &self,
        req: Request<DescribeConfigsRequest>,
    ) -> Result<Response<DescribeConfigsResponse>, Status> {
        self.gate()?;
        let req = req.into_inner();
        self.seen.lock().unwrap().describe_configs.push(req.clone());
        let entry = |name: &str, value: &str, source: ConfigSource| DescribeConfigsResourceResult {
            name: name.into(),
            value: Some(value.into()),
            source: source as i32,
            is_default: source == ConfigSource::DefaultConfig,
            is_sensitive: false,
            read_only: false,
        };
        let results = req
            .resources
            .iter()
            .map(|r| {
                let mut out = DescribeConfigsResult {
                    resource_type: r.resource_type,
                    resource_name: r.resource_name.clone(),
                    error: ok_error(),
                    configs: vec![],
                };
                match (r.resource_type(), r.resource_name.as_str()) {
                    (ConfigResourceType::Topic, "t") => {
                        out.configs = vec![
                            entry("cleanup.policy", "delete", ConfigSource::DefaultConfig),
                            entry(
                                "retention.ms",
                                "172800000",
                                ConfigSource::DynamicTopicConfig,
                            ),
                        ];
                    }
                    (ConfigResourceType::Broker, "") => {
                        out.configs = vec![
                            entry(
                                "log.retention.ms",
                                "1000",
                                ConfigSource::DynamicDefaultBrokerConfig,
                            ),
                            entry("num.partitions", "1", ConfigSource::DefaultConfig),
                        ];
                    }
                    (ConfigResourceType::Broker, "1") => {
                        out.configs = vec![entry(
                            "num.partitions",
                            "3",
                            ConfigSource::DynamicBrokerConfig,
                        )];
                    }
                    _ => {
                        out.error = err(
                            3,
                            "UNKNOWN_TOPIC_OR_PARTITION",
                            &format!("The topic '{}' does not exist.", r.resource_name),
                        );
                    }
                }
                out
            })
            .collect();
        Ok(Response::new(DescribeConfigsResponse { results }))
    }

    async fn incremental_alter_configs(
        &self,
        req: Request<IncrementalAlterConfigsRequest>,
    ) -> Result<Response<IncrementalAlterConfigsResponse>, Status> {
        self.gate()?;
        let req = req.into_inner();
        self.seen.lock().unwrap().alter_configs.push(req.clone());
        let responses = req
            .resources
            .iter()
            .map(|r| AlterConfigsResourceResponse {
                resource_type: r.resource_type,
                resource_name: r.resource_name.clone(),
                error: if r.configs.iter().any(|c| c.name == "bogus") {
                    err(40, "INVALID_CONFIG", "Unknown topic config name: bogus")
                } else {
                    ok_error()
                },
            })
            .collect();
        Ok(Response::new(IncrementalAlterConfigsResponse { responses }))
    }

    async fn alter_partition_reassignments(
        &self,
        req: Request<AlterPartitionReassignmentsRequest>,
    ) -> Result<Response<AlterPartitionReassignmentsResponse>, Status> {
        self.gate()?;
        let req = req.into_inner();
        self.seen.lock().unwrap().reassignments.push(req.clone());
        // Partition 9 is never being reassigned and cannot be reassigned either.
        let responses = req
            .topics
            .iter()
            .map(|t| ReassignableTopicResponse {
                name: t.name.clone(),
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| ReassignablePartitionResponse {
                        partition_index: p.partition_index,
                        error: match (p.partition_index, &p.replicas) {
                            (9, None) => err(
                                85,
                                "NO_REASSIGNMENT_IN_PROGRESS",
                                "No reassignment is in progress for topic t partition 9",
                            ),
                            (9, Some(_)) => err(
                                39,
                                "INVALID_REPLICA_ASSIGNMENT",
                                "Replica assignment is invalid.",
                            ),
                            _ => ok_error(),
                        },
                    })
                    .collect(),
            })
            .collect();
        Ok(Response::new(AlterPartitionReassignmentsResponse {
            responses,
        }))
    }

    async fn list_partition_reassignments(
        &self,
        _req: Request<ListPartitionReassignmentsRequest>,
    ) -> Result<Response<ListPartitionReassignmentsResponse>, Status> {
        self.gate()?;
        Ok(Response::new(ListPartitionReassignmentsResponse {
            topics: vec![OngoingTopicReassignment {
                name: "t".into(),
                partitions: vec![OngoingPartitionReassignment {
                    partition_index: 0,
                    replicas: vec![1, 2, 3, 4],
                    adding_replicas: vec![4],
                    removing_replicas: vec![1],
                }],
            }],
        }))
    }

    async fn describe_features(
        &self,
        _req: Request<DescribeFeaturesRequest>,
    ) -> Result<Response<DescribeFeaturesResponse>, Status> {
        self.gate()?;
        Ok(Response::new(DescribeFeaturesResponse {
            finalized: vec![FinalizedFeature {
                name: "metadata.version".into(),
                level: 2,
            }],
            supported: vec![SupportedFeatureRange {
                name: "metadata.version".into(),
                min_version: 1,
                max_version: 3,
            }],
        }))
    }

    async fn update_features(
        &self,
        req: Request<UpdateFeaturesRequest>,
    ) -> Result<Response<UpdateFeaturesResponse>, Status> {
        self.gate()?;
        let req = req.into_inner();
        self.seen.lock().unwrap().update_features.push(req.clone());
        let results = req
            .feature_updates
            .iter()
            .map(|u| UpdatableFeatureResult {
                feature: u.feature.clone(),
                error: if u.max_version_level > 3 {
                    err(
                        95,
                        "INVALID_UPDATE_VERSION",
                        &format!(
                            "Invalid update version {} for feature {}.",
                            u.max_version_level, u.feature
                        ),
                    )
                } else {
                    ok_error()
                },
            })
            .collect();
        Ok(Response::new(UpdateFeaturesResponse { results }))
    }

    async fn create_topics(
        &self,
        req: Request<CreateTopicsRequest>,
    ) -> Result<Response<CreateTopicsResponse>, Status> {
        let req = req.into_inner();
        if req.topics.is_empty() {
            return Err(Status::invalid_argument(
                "INVALID_REQUEST: field `topics`: empty",
            ));
        }
        let topics = req
            .topics
            .into_iter()
            .map(|t| {
                let exists = t.name == "exists";
                CreatableTopicResult {
                    error: Some(ItemError {
                        error_code: if exists { 36 } else { 0 },
                        error_name: if exists {
                            "TOPIC_ALREADY_EXISTS"
                        } else {
                            "NONE"
                        }
                        .into(),
                        error_message: if exists {
                            format!("Topic '{}' already exists.", t.name)
                        } else {
                            String::new()
                        },
                    }),
                    topic_id: if exists { String::new() } else { "tid".into() },
                    // Echo what was asked, so the CLI's -1 defaults are visible.
                    num_partitions: t.num_partitions,
                    replication_factor: t.replication_factor,
                    name: format!(
                        "{}|{}",
                        t.name,
                        t.configs
                            .iter()
                            .map(|c| format!("{}={}", c.name, c.value.clone().unwrap_or_default()))
                            .collect::<Vec<_>>()
                            .join(";")
                    ),
                }
            })
            .collect();
        Ok(Response::new(CreateTopicsResponse { topics }))
    }
    async fn list_topics(
        &self,
        _: Request<ListTopicsRequest>,
    ) -> Result<Response<ListTopicsResponse>, Status> {
        self.gate()?;
        Ok(Response::new(ListTopicsResponse {
            topics: vec![TopicListing {
                name: "t".into(),
                topic_id: "id".into(),
                partition_count: 1,
            }],
        }))
    }
    async fn describe_topics(
        &self,
        _: Request<DescribeTopicsRequest>,
    ) -> Result<Response<DescribeTopicsResponse>, Status> {
        self.gate()?;
        Ok(Response::new(DescribeTopicsResponse::default()))
    }
    async fn describe_cluster(
        &self,
        _: Request<DescribeClusterRequest>,
    ) -> Result<Response<DescribeClusterResponse>, Status> {
        let brokers = self
            .brokers
            .lock()
            .unwrap()
            .iter()
            .map(|(&id, (r, beats))| BrokerDescription {
                broker_id: id,
                broker_epoch: 100 + i64::from(id),
                incarnation_id: r.incarnation_id.clone(),
                listeners: r.listeners.clone(),
                rack: r.rack.clone(),
                fenced: self.never_unfence || *beats < 2,
                in_controlled_shutdown: false,
            })
            .collect();
        Ok(Response::new(DescribeClusterResponse {
            cluster_id: CLUSTER_ID.into(),
            metadata_offset: OFFSET,
            brokers,
            ..Default::default()
        }))
    }
}

#[tonic::async_trait]
impl BrokerService for Fake {
    type FetchMetadataStream = std::pin::Pin<
        Box<dyn tokio_stream::Stream<Item = Result<FetchMetadataResponse, Status>> + Send>,
    >;

    /// An image at `OFFSET` (empty but for its offset), then silence: the simulator's caches
    /// reach `OFFSET` and report it in heartbeats.
    async fn fetch_metadata(
        &self,
        _: Request<FetchMetadataRequest>,
    ) -> Result<Response<Self::FetchMetadataStream>, Status> {
        use tokio_stream::StreamExt as _;
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let mut image = kraft_controller::MetadataImage::new();
        image
            .apply(&kraft_controller::RecordBatch::default(), OFFSET)
            .unwrap();
        let first = FetchMetadataResponse {
            payload: Some(fetch_metadata_response::Payload::Image(
                MetadataImageChunk {
                    offset: OFFSET as i64,
                    position: 0,
                    data: image.encode().unwrap(),
                    last: true,
                },
            )),
        };
        let stream = tokio_stream::iter([Ok(first)]).chain(tokio_stream::pending());
        Ok(Response::new(Box::pin(stream)))
    }

    async fn unregister_broker(
        &self,
        req: Request<UnregisterBrokerRequest>,
    ) -> Result<Response<UnregisterBrokerResponse>, Status> {
        self.gate()?;
        let id = req.into_inner().broker_id;
        self.seen.lock().unwrap().unregistered.push(id);
        let known = self.brokers.lock().unwrap().remove(&id).is_some();
        Ok(Response::new(UnregisterBrokerResponse {
            error: if known {
                ok_error()
            } else {
                err(
                    102,
                    "BROKER_ID_NOT_REGISTERED",
                    &format!("Broker ID {id} is not currently registered"),
                )
            },
        }))
    }

    async fn alter_partition(
        &self,
        req: Request<AlterPartitionRequest>,
    ) -> Result<Response<AlterPartitionResponse>, Status> {
        self.gate()?;
        let req = req.into_inner();
        // Accept every change: the new ISR, epochs one up.
        let topics = req
            .topics
            .iter()
            .map(|t| AlterPartitionResponseTopic {
                topic_id: t.topic_id.clone(),
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| AlterPartitionResponsePartition {
                        partition_index: p.partition_index,
                        error: ok_error(),
                        leader_id: req.broker_id,
                        leader_epoch: p.leader_epoch,
                        isr: p.new_isr_with_epochs.iter().map(|b| b.broker_id).collect(),
                        leader_recovery_state: p.leader_recovery_state,
                        partition_epoch: p.partition_epoch + 1,
                    })
                    .collect(),
            })
            .collect();
        Ok(Response::new(AlterPartitionResponse {
            error: ok_error(),
            topics,
        }))
    }

    async fn allocate_producer_ids(
        &self,
        req: Request<AllocateProducerIdsRequest>,
    ) -> Result<Response<AllocateProducerIdsResponse>, Status> {
        self.gate()?;
        let req = req.into_inner();
        Ok(Response::new(AllocateProducerIdsResponse {
            error: ok_error(),
            producer_id_start: 1000 * i64::from(req.broker_id),
            producer_id_len: 1000,
        }))
    }

    async fn register_broker(
        &self,
        req: Request<RegisterBrokerRequest>,
    ) -> Result<Response<RegisterBrokerResponse>, Status> {
        let req = req.into_inner();
        if req.cluster_id != CLUSTER_ID {
            return Err(Status::invalid_argument("wrong cluster id"));
        }
        if self.refuse == Some(req.broker_id) {
            return Ok(Response::new(RegisterBrokerResponse {
                error: Some(ItemError {
                    error_code: 101,
                    error_name: "DUPLICATE_BROKER_REGISTRATION".into(),
                    error_message: format!("broker {} is already registered", req.broker_id),
                }),
                broker_epoch: -1,
            }));
        }
        let epoch = 100 + i64::from(req.broker_id);
        self.brokers.lock().unwrap().insert(req.broker_id, (req, 0));
        Ok(Response::new(RegisterBrokerResponse {
            error: ok_error(),
            broker_epoch: epoch,
        }))
    }
    async fn broker_heartbeat(
        &self,
        req: Request<BrokerHeartbeatRequest>,
    ) -> Result<Response<BrokerHeartbeatResponse>, Status> {
        let req = req.into_inner();
        let mut brokers = self.brokers.lock().unwrap();
        let Some((_, beats)) = brokers.get_mut(&req.broker_id) else {
            return Err(Status::not_found("unknown broker"));
        };
        assert_eq!(req.broker_epoch, 100 + i64::from(req.broker_id));
        let caught_up = req.current_metadata_offset == OFFSET as i64;
        if caught_up {
            *beats += 1;
        }
        // Like Kafka: fenced until a heartbeat after registration reports a caught-up offset;
        // here the second such heartbeat unfences, so the wait really waits.
        Ok(Response::new(BrokerHeartbeatResponse {
            error: ok_error(),
            is_caught_up: caught_up,
            is_fenced: self.never_unfence || *beats < 2,
            should_shut_down: false,
        }))
    }
}

async fn serve(fake: Arc<Fake>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(AdminServiceServer::from_arc(fake.clone()))
            .add_service(BrokerServiceServer::from_arc(fake))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    addr
}

/// An address that refuses connections: bound (so no other test can take the port) but not
/// listening. Keep the socket alive for as long as the address must stay dead.
fn dead_endpoint() -> (tokio::net::TcpSocket, String) {
    let s = tokio::net::TcpSocket::new_v4().unwrap();
    s.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = s.local_addr().unwrap().to_string();
    (s, addr)
}

fn fast() -> ClientConfig {
    ClientConfig {
        connect_timeout: Duration::from_millis(500),
        request_timeout: Duration::from_secs(5),
        retry_deadline: Duration::from_secs(2),
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        ..ClientConfig::default()
    }
}

#[tokio::test]
async fn connect_skips_dead_endpoint_and_uses_next() {
    let addr = serve(Arc::new(Fake::default())).await;
    let (_dead, dead) = dead_endpoint();
    let client = Client::connect_with(&format!("{dead},{addr}"), fast())
        .await
        .unwrap();
    assert_eq!(client.current_endpoint(), format!("http://{addr}"));
    assert_eq!(client.list_topics(false).await.unwrap().topics[0].name, "t");
}

#[tokio::test]
async fn unavailable_is_retried_until_success() {
    let fake = Arc::new(Fake {
        unavailable: AtomicU32::new(3),
        ..Fake::default()
    });
    let addr = serve(fake.clone()).await;
    let client = Client::connect_with(&addr.to_string(), fast())
        .await
        .unwrap();
    client.list_topics(true).await.unwrap();
    assert_eq!(fake.calls.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn unavailable_follows_leader_hint() {
    let leader = serve(Arc::new(Fake::default())).await;
    let follower = Arc::new(Fake {
        unavailable: AtomicU32::new(u32::MAX),
        hint: Some(leader.to_string()),
        ..Fake::default()
    });
    let addr = serve(follower.clone()).await;
    let client = Client::connect_with(&addr.to_string(), fast())
        .await
        .unwrap();
    client.describe_topics(["t"], false).await.unwrap();
    assert_eq!(follower.calls.load(Ordering::SeqCst), 1);
    assert_eq!(client.current_endpoint(), format!("http://{leader}"));
}

#[tokio::test]
async fn unavailable_gives_up_at_retry_deadline() {
    let fake = Arc::new(Fake {
        unavailable: AtomicU32::new(u32::MAX),
        ..Fake::default()
    });
    let addr = serve(fake).await;
    let cfg = ClientConfig {
        retry_deadline: Duration::from_millis(200),
        ..fast()
    };
    let client = Client::connect_with(&addr.to_string(), cfg).await.unwrap();
    let err = client.list_topics(false).await.unwrap_err();
    match err {
        ClientError::RetriesExhausted {
            rpc: "ListTopics",
            attempts,
            status,
            ..
        } => {
            assert!(attempts > 1, "{attempts}");
            assert_eq!(status.code(), tonic::Code::Unavailable);
        }
        other => panic!("expected RetriesExhausted, got {other:?}"),
    }
}

#[tokio::test]
async fn other_codes_are_not_retried() {
    let fake = Arc::new(Fake::default());
    let addr = serve(fake).await;
    let client = Client::connect_with(&addr.to_string(), fast())
        .await
        .unwrap();
    let err = client
        .create_topics(CreateTopicsRequest::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Rpc {
                rpc: "CreateTopics",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.code(), Some(tonic::Code::InvalidArgument));
}

/// `BrokerSimulator::run` on a spawned task, until [`Heartbeating::stop`].
struct Heartbeating {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Heartbeating {
    fn start(sim: &BrokerSimulator) -> Self {
        let (stop, mut stop_rx) = tokio::sync::watch::channel(false);
        let sim = sim.clone();
        let task = tokio::spawn(async move {
            sim.run(async move {
                let _ = stop_rx.wait_for(|s| *s).await;
            })
            .await
        });
        Self { stop, task }
    }

    /// Stops the heartbeats; the run must end within 5 s.
    async fn stop(self) {
        self.stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .unwrap()
            .unwrap();
    }
}

fn sim_config(count: u32, racks: u32) -> SimulatorConfig {
    SimulatorConfig {
        first_id: 1,
        count,
        racks,
        interval: Duration::from_millis(20),
        ..SimulatorConfig::default()
    }
}

#[tokio::test]
async fn simulator_registers_heartbeats_and_waits_unfenced() {
    let fake = Arc::new(Fake::default());
    let addr = serve(fake.clone()).await;
    let client = Client::connect_with(&addr.to_string(), fast())
        .await
        .unwrap();
    let sim = BrokerSimulator::register(client, sim_config(3, 2))
        .await
        .unwrap();
    assert_eq!(sim.cluster_id(), CLUSTER_ID);
    let brokers = sim.brokers();
    assert_eq!(
        brokers
            .iter()
            .map(|b| (b.broker_id, b.broker_epoch))
            .collect::<Vec<_>>(),
        [(1, 101), (2, 102), (3, 103)]
    );
    {
        let registered = fake.brokers.lock().unwrap();
        let r2 = &registered[&2].0;
        assert_eq!(r2.rack.as_deref(), Some("rack-0"));
        assert_eq!(registered[&3].0.rack.as_deref(), Some("rack-1"));
        assert_eq!(r2.listeners.len(), 1);
        assert_eq!(
            (
                r2.listeners[0].name.as_str(),
                r2.listeners[0].host.as_str(),
                r2.listeners[0].port
            ),
            ("PLAINTEXT", "127.0.0.1", 19094)
        );
        assert_eq!(r2.listeners[0].security_protocol, "PLAINTEXT");
        let inc = uuid::Uuid::parse_str(&r2.incarnation_id).unwrap();
        assert_eq!(inc.get_version_num(), 4);
        assert_ne!(r2.incarnation_id, registered[&1].0.incarnation_id);
    }

    // Nothing heartbeats yet, so nobody can be unfenced.
    assert!(matches!(
        sim.wait_unfenced(Duration::from_millis(50)).await,
        Err(ClientError::WaitTimeout { .. })
    ));

    let runner = Heartbeating::start(&sim);
    sim.wait_unfenced(Duration::from_secs(10)).await.unwrap();
    assert_eq!(
        fake.fetches.load(Ordering::SeqCst),
        3,
        "a stream per broker"
    );
    assert!(
        sim.statuses()
            .values()
            .all(|s| s.as_ref().is_some_and(|s| s.is_caught_up && !s.is_fenced))
    );
    runner.stop().await;
}

#[tokio::test]
async fn simulator_with_a_shared_cache_opens_one_metadata_stream_for_all_brokers() {
    let fake = Arc::new(Fake::default());
    let addr = serve(fake.clone()).await;
    let client = Client::connect_with(&addr.to_string(), fast())
        .await
        .unwrap();
    let config = SimulatorConfig {
        shared_cache: true,
        ..sim_config(3, 0)
    };
    let sim = BrokerSimulator::register(client, config).await.unwrap();
    let runner = Heartbeating::start(&sim);
    // Every broker heartbeats the offset the one cache applied, so all get unfenced.
    sim.wait_unfenced(Duration::from_secs(10)).await.unwrap();
    assert_eq!(
        fake.fetches.load(Ordering::SeqCst),
        1,
        "one FetchMetadata stream"
    );
    assert!(sim.caches().values().all(|c| c.offset() == Some(OFFSET)));
    runner.stop().await;
}

#[tokio::test]
async fn simulator_wait_unfenced_reports_fenced_brokers_on_timeout() {
    let fake = Arc::new(Fake {
        never_unfence: true,
        ..Fake::default()
    });
    let addr = serve(fake).await;
    let client = Client::connect_with(&addr.to_string(), fast())
        .await
        .unwrap();
    let sim = BrokerSimulator::register(client, sim_config(2, 0))
        .await
        .unwrap();
    let runner = tokio::spawn({
        let sim = sim.clone();
        async move { sim.run(std::future::pending()).await }
    });
    let err = sim
        .wait_unfenced(Duration::from_millis(300))
        .await
        .unwrap_err();
    match err {
        ClientError::WaitTimeout { last, .. } => assert!(last.contains("1 (fenced"), "{last}"),
        other => panic!("expected WaitTimeout, got {other:?}"),
    }
    runner.abort();
}

#[tokio::test]
async fn simulator_register_fails_with_the_item_error() {
    let fake = Arc::new(Fake {
        refuse: Some(2),
        ..Fake::default()
    });
    let addr = serve(fake).await;
    let client = Client::connect_with(&addr.to_string(), fast())
        .await
        .unwrap();
    let err = BrokerSimulator::register(client, sim_config(3, 0))
        .await
        .unwrap_err();
    match err {
        ClientError::Item {
            rpc: "RegisterBroker",
            item,
            error_code: 101,
            ..
        } => assert_eq!(item, "broker 2"),
        other => panic!("expected Item error, got {other:?}"),
    }
}

/// Runs the real `kraftctl` binary against the fake; returns (exit code, stdout, stderr).
async fn kraftctl(addr: SocketAddr, args: &[&str]) -> (i32, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_kraftctl"))
        .arg("--bootstrap-server")
        .arg(addr.to_string())
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[tokio::test]
async fn kraftctl_topics_create_prints_kafka_lines_and_exit_codes() {
    let addr = serve(Arc::new(Fake::default())).await;
    let (code, out, _) = kraftctl(
        addr,
        &[
            "topics", "create", "--topic", "a", "--config", "x=1", "--config", "y=a=b",
        ],
    )
    .await;
    assert_eq!((code, out.as_str()), (0, "Created topic a|x=1;y=a=b.\n"));

    let (code, out, _) = kraftctl(addr, &["topics", "create", "--topic", "exists"]).await;
    assert_eq!(code, 1);
    assert!(
        out.starts_with("Error while executing topic command : Topic 'exists' already exists.\n"),
        "{out}"
    );
    assert!(out.contains("TOPIC_ALREADY_EXISTS"), "{out}");

    let (code, out, _) = kraftctl(
        addr,
        &["--output", "json", "topics", "create", "--topic", "a"],
    )
    .await;
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["topics"][0]["num_partitions"], -1);
    assert_eq!(v["topics"][0]["replication_factor"], -1);
    assert_eq!(v["topics"][0]["error"], serde_json::Value::Null);

    let (code, _, err) = kraftctl(
        addr,
        &["topics", "create", "--topic", "a", "--config", "novalue"],
    )
    .await;
    assert_eq!(code, 2);
    assert!(err.contains("--config"), "{err}");
}

#[tokio::test]
async fn kraftctl_topics_list_and_unreachable_server() {
    let addr = serve(Arc::new(Fake::default())).await;
    assert_eq!(
        kraftctl(addr, &["topics", "list"]).await,
        (0, "t\n".to_owned(), String::new())
    );
    let (_dead, dead) = dead_endpoint();
    let dead: SocketAddr = dead.parse().unwrap();
    let (code, out, err) = kraftctl(dead, &["topics", "list"]).await;
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(err.contains("could not connect"), "{err}");
}

#[tokio::test]
async fn kraftctl_brokers_simulate_exits_after_ready() {
    let addr = serve(Arc::new(Fake::default())).await;
    let (code, out, err) = kraftctl(
        addr,
        &[
            "brokers",
            "simulate",
            "--count",
            "2",
            "--racks",
            "2",
            "--interval-ms",
            "20",
            "--exit-after-ready",
        ],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "Registered broker 1 with epoch 101 (rack rack-1).\n\
         Registered broker 2 with epoch 102 (rack rack-0).\n\
         All 2 brokers are unfenced.\n"
    );

    let (code, out, err) = kraftctl(
        addr,
        &[
            "--output",
            "json",
            "brokers",
            "simulate",
            "--count",
            "1",
            "--first-id",
            "7",
            "--interval-ms",
            "20",
            "--exit-after-ready",
        ],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["unfenced"], true);
    assert_eq!(v["brokers"][0]["broker_id"], 7);
    assert_eq!(v["brokers"][0]["listeners"][0]["port"], 19099);
}

// ---- the RPCs added with topics alter/delete, configs, leaders, reassignments, features ----

/// Every new RPC goes through the same retry path: one UNAVAILABLE, then an answer.
#[tokio::test]
async fn new_rpcs_are_retried_on_unavailable() {
    let fake = Arc::new(Fake::default());
    let addr = serve(fake.clone()).await;
    let client = Client::connect_with(&addr.to_string(), fast())
        .await
        .unwrap();
    let calls_for = |fake: &Fake| {
        fake.unavailable.store(1, Ordering::SeqCst);
        fake.calls.load(Ordering::SeqCst)
    };

    let before = calls_for(&fake);
    let r = client
        .create_partitions(CreatePartitionsRequest {
            topics: vec![CreatePartitionsTopic {
                name: "t".into(),
                count: 6,
                assignments: vec![],
            }],
            validate_only: false,
        })
        .await
        .unwrap();
    assert_eq!(r.results[0].error.as_ref().unwrap().error_code, 0);
    assert_eq!(fake.calls.load(Ordering::SeqCst), before + 2);

    let before = calls_for(&fake);
    let r = client
        .delete_topics(DeleteTopicsRequest {
            topics: vec![DeleteTopicState {
                name: String::new(),
                topic_id: "abc".into(),
            }],
        })
        .await
        .unwrap();
    assert_eq!(r.responses[0].name, "named-abc");
    assert_eq!(fake.calls.load(Ordering::SeqCst), before + 2);

    let before = calls_for(&fake);
    let r = client
        .elect_leaders(ElectLeadersRequest::default())
        .await
        .unwrap();
    assert_eq!(r.replica_election_results[0].topic, "t");
    assert_eq!(fake.calls.load(Ordering::SeqCst), before + 2);

    let before = calls_for(&fake);
    let r = client
        .describe_configs(DescribeConfigsRequest {
            resources: vec![DescribeConfigsResource {
                resource_type: ConfigResourceType::Topic as i32,
                resource_name: "nope".into(),
                configuration_keys: vec![],
            }],
        })
        .await
        .unwrap();
    // An unknown resource is an item error, not an Err.
    assert_eq!(r.results[0].error.as_ref().unwrap().error_code, 3);
    assert_eq!(fake.calls.load(Ordering::SeqCst), before + 2);

    let before = calls_for(&fake);
    client
        .incremental_alter_configs(IncrementalAlterConfigsRequest::default())
        .await
        .unwrap();
    assert_eq!(fake.calls.load(Ordering::SeqCst), before + 2);

    let before = calls_for(&fake);
    client
        .alter_partition_reassignments(AlterPartitionReassignmentsRequest::default())
        .await
        .unwrap();
    assert_eq!(fake.calls.load(Ordering::SeqCst), before + 2);

    let before = calls_for(&fake);
    let r = client
        .list_partition_reassignments(ListPartitionReassignmentsRequest::default())
        .await
        .unwrap();
    assert_eq!(r.topics[0].partitions[0].adding_replicas, [4]);
    assert_eq!(fake.calls.load(Ordering::SeqCst), before + 2);

    let before = calls_for(&fake);
    let r = client.describe_features().await.unwrap();
    assert_eq!(r.finalized[0].level, 2);
    assert_eq!(fake.calls.load(Ordering::SeqCst), before + 2);

    let before = calls_for(&fake);
    client
        .update_features(UpdateFeaturesRequest::default())
        .await
        .unwrap();
    assert_eq!(fake.calls.load(Ordering::SeqCst), before + 2);

    let before = calls_for(&fake);
    let r = client.unregister_broker(5).await.unwrap();
    assert_eq!(r.error.unwrap().error_name, "BROKER_ID_NOT_REGISTERED");
    assert_eq!(fake.seen.lock().unwrap().unregistered, [5]);
    assert_eq!(fake.calls.load(Ordering::SeqCst), before + 2);

    let before = calls_for(&fake);
    let r = client
        .alter_partition(AlterPartitionRequest {
            broker_id: 1,
            broker_epoch: 101,
            topics: vec![AlterPartitionRequestTopic {
                topic_id: "tid".into(),
                partitions: vec![AlterPartitionRequestPartition {
                    partition_index: 0,
                    leader_epoch: 3,
                    new_isr_with_epochs: vec![
                        BrokerIdAndEpoch {
                            broker_id: 1,
                            broker_epoch: 101,
                        },
                        BrokerIdAndEpoch {
                            broker_id: 2,
                            broker_epoch: -1,
                        },
                    ],
                    leader_recovery_state: 0,
                    partition_epoch: 7,
                }],
            }],
        })
        .await
        .unwrap();
    let p = &r.topics[0].partitions[0];
    assert_eq!((p.isr.clone(), p.partition_epoch), (vec![1, 2], 8));
    assert_eq!(fake.calls.load(Ordering::SeqCst), before + 2);

    let before = calls_for(&fake);
    let r = client
        .allocate_producer_ids(AllocateProducerIdsRequest {
            broker_id: 2,
            broker_epoch: 102,
        })
        .await
        .unwrap();
    assert_eq!((r.producer_id_start, r.producer_id_len), (2000, 1000));
    assert_eq!(fake.calls.load(Ordering::SeqCst), before + 2);
}

#[tokio::test]
async fn kraftctl_topics_alter_and_delete() {
    let fake = Arc::new(Fake::default());
    let addr = serve(fake.clone()).await;
    let (code, out, err) = kraftctl(
        addr,
        &["topics", "alter", "--topic", "t", "--partitions", "6"],
    )
    .await;
    assert_eq!(
        (code, out.as_str()),
        (0, "Increased the partition count of topic t to 6.\n"),
        "{err}"
    );
    {
        let seen = fake.seen.lock().unwrap();
        let req = &seen.create_partitions[0];
        assert_eq!((req.topics[0].name.as_str(), req.topics[0].count), ("t", 6));
        assert!(!req.validate_only && req.topics[0].assignments.is_empty());
    }

    let (code, out, _) = kraftctl(
        addr,
        &["topics", "alter", "--topic", "t", "--partitions", "2"],
    )
    .await;
    assert_eq!(code, 1);
    assert_eq!(
        out,
        "Error while executing topic command : Topic currently has 3 partitions, which is higher than the requested 2.\n\
         ERROR INVALID_PARTITIONS (37): Topic currently has 3 partitions, which is higher than the requested 2.\n"
    );

    let (code, out, _) = kraftctl(
        addr,
        &[
            "--output",
            "json",
            "topics",
            "alter",
            "--topic",
            "t",
            "--partitions",
            "4",
            "--validate-only",
        ],
    )
    .await;
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"validate_only": true, "topics": [{"name": "t", "partition_count": 4, "error": null}]})
    );

    let (code, _, err) = kraftctl(
        addr,
        &["topics", "alter", "--topic", "t", "--partitions", "0"],
    )
    .await;
    assert_eq!(code, 2);
    assert!(err.contains("--partitions"), "{err}");

    let (code, out, _) = kraftctl(
        addr,
        &[
            "topics",
            "delete",
            "--topic",
            "a",
            "--topic-id",
            "xyz",
            "--topic",
            "unknown",
        ],
    )
    .await;
    assert_eq!(code, 1);
    assert_eq!(
        out,
        "Deleted topic a.\n\
         Error while executing topic command : This server does not host this topic-partition.\n\
         ERROR UNKNOWN_TOPIC_OR_PARTITION (3): This server does not host this topic-partition.\n\
         Deleted topic named-xyz.\n"
    );
    let seen = fake.seen.lock().unwrap();
    let names: Vec<(&str, &str)> = seen.delete_topics[0]
        .topics
        .iter()
        .map(|t| (t.name.as_str(), t.topic_id.as_str()))
        .collect();
    assert_eq!(names, [("a", ""), ("unknown", ""), ("", "xyz")]);
}

#[tokio::test]
async fn kraftctl_configs_describe_and_alter() {
    let fake = Arc::new(Fake::default());
    let addr = serve(fake.clone()).await;
    let (code, out, _) = kraftctl(
        addr,
        &[
            "configs",
            "describe",
            "--entity-type",
            "topics",
            "--entity-name",
            "t",
        ],
    )
    .await;
    assert_eq!(
        (code, out.as_str()),
        (
            0,
            "Dynamic configs for topic t are:\n  retention.ms=172800000 sensitive=false source=DYNAMIC_TOPIC_CONFIG\n"
        )
    );
    let (code, out, _) = kraftctl(
        addr,
        &[
            "configs",
            "describe",
            "--entity-type",
            "topics",
            "--entity-name",
            "t",
            "--all",
        ],
    )
    .await;
    assert_eq!(
        (code, out.as_str()),
        (
            0,
            "All configs for topic t are:\n  cleanup.policy=delete sensitive=false source=DEFAULT_CONFIG\n  \
             retention.ms=172800000 sensitive=false source=DYNAMIC_TOPIC_CONFIG\n"
        )
    );
    let (code, out, _) = kraftctl(
        addr,
        &[
            "--output",
            "json",
            "configs",
            "describe",
            "--entity-type",
            "brokers",
            "--entity-default",
        ],
    )
    .await;
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["resources"][0]["resource_type"], "BROKER");
    assert_eq!(v["resources"][0]["resource_name"], "");
    assert_eq!(v["resources"][0]["configs"][0]["name"], "log.retention.ms");
    assert_eq!(v["resources"][0]["configs"].as_array().unwrap().len(), 1);
    {
        let seen = fake.seen.lock().unwrap();
        let r = &seen.describe_configs[2].resources[0];
        assert_eq!(
            (r.resource_type, r.resource_name.as_str()),
            (ConfigResourceType::Broker as i32, "")
        );
    }

    let (code, out, _) = kraftctl(
        addr,
        &[
            "configs",
            "describe",
            "--entity-type",
            "topics",
            "--entity-name",
            "nope",
        ],
    )
    .await;
    assert_eq!(code, 1);
    assert!(
        out.starts_with(
            "Error while executing config command : The topic 'nope' does not exist.\n"
        ),
        "{out}"
    );
    assert!(out.contains("UNKNOWN_TOPIC_OR_PARTITION"), "{out}");

    let (code, out, err) = kraftctl(
        addr,
        &[
            "configs",
            "alter",
            "--entity-type",
            "topics",
            "--entity-name",
            "t",
            "--add-config",
            "retention.ms=1000,cleanup.policy=[compact,delete]",
            "--delete-config",
            "segment.ms",
            "--append-config",
            "leader.replication.throttled.replicas=[0:1,1:2]",
        ],
    )
    .await;
    assert_eq!(
        (code, out.as_str()),
        (0, "Completed updating config for topic t.\n"),
        "{err}"
    );
    {
        let seen = fake.seen.lock().unwrap();
        let req = &seen.alter_configs[0];
        assert!(!req.validate_only);
        let r = &req.resources[0];
        assert_eq!(
            (r.resource_type, r.resource_name.as_str()),
            (ConfigResourceType::Topic as i32, "t")
        );
        let ops: Vec<(&str, i32, Option<&str>)> = r
            .configs
            .iter()
            .map(|c| (c.name.as_str(), c.config_operation, c.value.as_deref()))
            .collect();
        assert_eq!(
            ops,
            [
                ("retention.ms", ConfigOperation::Set as i32, Some("1000")),
                (
                    "cleanup.policy",
                    ConfigOperation::Set as i32,
                    Some("compact,delete")
                ),
                ("segment.ms", ConfigOperation::Delete as i32, None),
                (
                    "leader.replication.throttled.replicas",
                    ConfigOperation::Append as i32,
                    Some("0:1,1:2")
                ),
            ]
        );
    }

    let (code, out, _) = kraftctl(
        addr,
        &[
            "configs",
            "alter",
            "--entity-type",
            "brokers",
            "--entity-default",
            "--subtract-config",
            "x=a",
        ],
    )
    .await;
    assert_eq!(
        (code, out.as_str()),
        (
            0,
            "Completed updating default config for brokers in the cluster.\n"
        )
    );
    let (code, out, _) = kraftctl(
        addr,
        &[
            "configs",
            "alter",
            "--entity-type",
            "brokers",
            "--entity-name",
            "2",
            "--add-config",
            "bogus=1",
        ],
    )
    .await;
    assert_eq!(code, 1);
    assert_eq!(
        out,
        "Error while executing config command : Unknown topic config name: bogus\n\
         ERROR INVALID_CONFIG (40): Unknown topic config name: bogus\n"
    );

    // Rules across flags are usage errors (exit 2) before anything is sent.
    let sent = fake.seen.lock().unwrap().alter_configs.len();
    let (code, _, err) = kraftctl(
        addr,
        &[
            "configs",
            "alter",
            "--entity-type",
            "topics",
            "--entity-name",
            "t",
            "--add-config",
            "a=1",
            "--delete-config",
            "a",
        ],
    )
    .await;
    assert_eq!(code, 2);
    assert!(
        err.contains("a is given to both --add-config and --delete-config"),
        "{err}"
    );
    let (code, _, err) = kraftctl(
        addr,
        &[
            "configs",
            "alter",
            "--entity-type",
            "topics",
            "--entity-default",
            "--add-config",
            "a=1",
        ],
    )
    .await;
    assert_eq!(code, 2);
    assert!(
        err.contains("--entity-default is only valid with --entity-type brokers"),
        "{err}"
    );
    assert_eq!(fake.seen.lock().unwrap().alter_configs.len(), sent);
}

#[tokio::test]
async fn kraftctl_brokers_list_and_unregister() {
    let fake = Arc::new(Fake::default());
    let addr = serve(fake.clone()).await;
    let client = Client::connect_with(&addr.to_string(), fast())
        .await
        .unwrap();
    BrokerSimulator::register(client, sim_config(2, 2))
        .await
        .unwrap();
    let (code, out, _) = kraftctl(addr, &["brokers", "list"]).await;
    assert_eq!(
        (code, out.as_str()),
        (
            0,
            "BrokerId  Epoch  Fenced  InControlledShutdown  Rack    Listeners\n\
             1         101    true    false                 rack-1  PLAINTEXT://127.0.0.1:19093\n\
             2         102    true    false                 rack-0  PLAINTEXT://127.0.0.1:19094\n"
        )
    );
    let (code, out, _) = kraftctl(addr, &["brokers", "unregister", "--id", "1"]).await;
    assert_eq!(
        (code, out.as_str()),
        (0, "Broker 1 is no longer registered.\n")
    );
    let (code, out, _) = kraftctl(addr, &["--output", "json", "brokers", "list"]).await;
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["brokers"].as_array().unwrap().len(), 1);
    assert_eq!(v["brokers"][0]["broker_id"], 2);

    let (code, out, _) = kraftctl(addr, &["brokers", "unregister", "--id", "1"]).await;
    assert_eq!(code, 1);
    assert_eq!(
        out,
        "Error while executing broker command : Broker ID 1 is not currently registered\n\
         ERROR BROKER_ID_NOT_REGISTERED (102): Broker ID 1 is not currently registered\n"
    );
    let (code, out, _) = kraftctl(
        addr,
        &["--output", "json", "brokers", "unregister", "--id", "1"],
    )
    .await;
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["error"]["name"], "BROKER_ID_NOT_REGISTERED");
}

#[tokio::test]
async fn kraftctl_leaders_elect() {
    let fake = Arc::new(Fake::default());
    let addr = serve(fake.clone()).await;
    let (code, out, _) = kraftctl(
        addr,
        &[
            "leaders",
            "elect",
            "--election-type",
            "PREFERRED",
            "--topic",
            "t",
            "--partition",
            "1",
            "--partition",
            "0",
        ],
    )
    .await;
    assert_eq!(
        (code, out.as_str()),
        (
            0,
            "Successfully completed leader election (PREFERRED) for partitions t-0\n\
             Election not needed for partitions t-1\n"
        )
    );
    {
        let seen = fake.seen.lock().unwrap();
        let req = &seen.elect_leaders[0];
        assert_eq!(req.election_type, ElectionType::Preferred as i32);
        assert_eq!(req.topic_partitions[0].partitions, [0, 1]);
    }

    let (code, out, _) = kraftctl(
        addr,
        &[
            "leaders",
            "elect",
            "--election-type",
            "preferred",
            "--topic",
            "t",
            "--partition",
            "2",
        ],
    )
    .await;
    assert_eq!(code, 1);
    assert_eq!(
        out,
        "Error completing leader election (PREFERRED) for partition: t-2: PREFERRED_LEADER_NOT_AVAILABLE (80): The preferred leader was not available.\n\
         Error while executing leader election command : 1 replica(s) could not be elected\n"
    );

    let (code, out, _) = kraftctl(
        addr,
        &[
            "--output",
            "json",
            "leaders",
            "elect",
            "--election-type",
            "unclean",
            "--all-topic-partitions",
        ],
    )
    .await;
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"election_type": "UNCLEAN", "partitions": [
            {"topic": "t", "partition": 1, "outcome": "elected", "error": null}
        ]})
    );
    let seen = fake.seen.lock().unwrap();
    assert!(seen.elect_leaders[2].topic_partitions.is_empty());
    assert_eq!(
        seen.elect_leaders[2].election_type,
        ElectionType::Unclean as i32
    );
}

#[tokio::test]
async fn kraftctl_reassignments_add_cancel_list() {
    let fake = Arc::new(Fake::default());
    let addr = serve(fake.clone()).await;
    let (code, out, err) = kraftctl(
        addr,
        &[
            "reassignments",
            "add",
            "--topic",
            "t",
            "--partition",
            "0",
            "--replicas",
            "1,2,3",
            "--topic",
            "u",
            "--partition",
            "1",
            "--replicas",
            "3",
        ],
    )
    .await;
    assert_eq!(
        (code, out.as_str()),
        (
            0,
            "Successfully started partition reassignments for t-0,u-1\n"
        ),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.json");
    std::fs::write(
        &plan,
        r#"{"version":1,"partitions":[{"topic":"t","partition":9,"replicas":[1]},{"topic":"t","partition":2,"replicas":[2,1]}]}"#,
    )
    .unwrap();
    let (code, out, _) = kraftctl(
        addr,
        &[
            "reassignments",
            "add",
            "--reassignment-json-file",
            plan.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(code, 1);
    assert_eq!(
        out,
        "Successfully started partition reassignment for t-2\n\
         Error while executing reassignment command : t-9: Replica assignment is invalid.\n\
         ERROR INVALID_REPLICA_ASSIGNMENT (39): Replica assignment is invalid.\n"
    );
    {
        let seen = fake.seen.lock().unwrap();
        let req = &seen.reassignments[1];
        assert_eq!(req.topics.len(), 1);
        let parts: Vec<(i32, Vec<i32>)> = req.topics[0]
            .partitions
            .iter()
            .map(|p| (p.partition_index, p.replicas.clone().unwrap().broker_ids))
            .collect();
        assert_eq!(parts, [(9, vec![1]), (2, vec![2, 1])]);
    }

    let (code, out, _) = kraftctl(
        addr,
        &[
            "--output",
            "json",
            "reassignments",
            "cancel",
            "--topic",
            "t",
            "--partition",
            "0",
        ],
    )
    .await;
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"cancel": true, "partitions": [{"topic": "t", "partition": 0, "error": null}]})
    );
    assert!(
        fake.seen.lock().unwrap().reassignments[2].topics[0].partitions[0]
            .replicas
            .is_none()
    );

    let (code, out, _) = kraftctl(addr, &["reassignments", "list"]).await;
    assert_eq!(
        (code, out.as_str()),
        (
            0,
            "Current partition reassignments:\nt-0: replicas: 1,2,3,4. adding: 4. removing: 1.\n"
        )
    );

    let (code, _, err) = kraftctl(
        addr,
        &[
            "reassignments",
            "add",
            "--topic",
            "t",
            "--partition",
            "0",
            "--replicas",
            "1,1",
        ],
    )
    .await;
    assert_eq!(code, 2);
    assert!(
        err.contains("--replicas") && err.contains("broker 1 is listed twice"),
        "{err}"
    );
}

#[tokio::test]
async fn kraftctl_features_describe_upgrade_downgrade() {
    let fake = Arc::new(Fake::default());
    let addr = serve(fake.clone()).await;
    let (code, out, _) = kraftctl(addr, &["features", "describe"]).await;
    assert_eq!(
        (code, out.as_str()),
        (
            0,
            "Feature: metadata.version\tSupportedMinVersion: 1\tSupportedMaxVersion: 3\tFinalizedVersionLevel: 2\n"
        )
    );
    let (code, out, _) = kraftctl(
        addr,
        &[
            "features",
            "upgrade",
            "--feature",
            "metadata.version",
            "--version",
            "3",
        ],
    )
    .await;
    assert_eq!(
        (code, out.as_str()),
        (0, "metadata.version was upgraded to 3.\n")
    );
    let (code, out, _) = kraftctl(
        addr,
        &[
            "features",
            "downgrade",
            "--feature",
            "metadata.version",
            "--version",
            "1",
            "--unsafe",
            "--dry-run",
        ],
    )
    .await;
    assert_eq!(
        (code, out.as_str()),
        (0, "metadata.version can be downgraded to 1.\n")
    );
    {
        let seen = fake.seen.lock().unwrap();
        let u = &seen.update_features[1];
        assert!(u.validate_only);
        assert_eq!(
            u.feature_updates[0].upgrade_type,
            FeatureUpgradeType::UnsafeDowngrade as i32
        );
        assert_eq!(
            seen.update_features[0].feature_updates[0].upgrade_type,
            FeatureUpgradeType::Upgrade as i32
        );
    }
    let (code, out, _) = kraftctl(
        addr,
        &[
            "features",
            "upgrade",
            "--feature",
            "metadata.version",
            "--version",
            "9",
        ],
    )
    .await;
    assert_eq!(code, 1);
    assert_eq!(
        out,
        "Error while executing feature command : Could not upgrade metadata.version to 9. Invalid update version 9 for feature metadata.version.\n\
         ERROR INVALID_UPDATE_VERSION (95): Invalid update version 9 for feature metadata.version.\n"
    );
}
