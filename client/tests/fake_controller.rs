//! The client against an in-process fake controller on `127.0.0.1:0`: failover, retry policy,
//! and the broker simulator's register → heartbeat → unfenced flow.

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
}

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

#[tonic::async_trait]
impl AdminService for Fake {
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
        Ok(Response::new(DescribeClusterResponse {
            cluster_id: CLUSTER_ID.into(),
            metadata_offset: OFFSET,
            ..Default::default()
        }))
    }
}

#[tonic::async_trait]
impl BrokerService for Fake {
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

    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let runner = tokio::spawn({
        let sim = sim.clone();
        async move {
            sim.run(async move {
                let _ = stop_rx.wait_for(|s| *s).await;
            })
            .await
        }
    });
    sim.wait_unfenced(Duration::from_secs(10)).await.unwrap();
    assert!(
        sim.statuses()
            .values()
            .all(|s| s.as_ref().is_some_and(|s| s.is_caught_up && !s.is_fenced))
    );
    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), runner)
        .await
        .unwrap()
        .unwrap();
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
