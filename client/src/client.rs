//! [`Client`]: one cached gRPC channel to a controller, with failover across the bootstrap
//! list on transient errors.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use kraft_proto::admin_service_client::AdminServiceClient;
use kraft_proto::broker_service_client::BrokerServiceClient;
use kraft_proto::{
    AllocateProducerIdsRequest, AllocateProducerIdsResponse, AlterPartitionReassignmentsRequest,
    AlterPartitionReassignmentsResponse, AlterPartitionRequest, AlterPartitionResponse,
    BrokerHeartbeatRequest, BrokerHeartbeatResponse, CreatePartitionsRequest,
    CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse, DeleteTopicsRequest,
    DeleteTopicsResponse, DescribeClusterRequest, DescribeClusterResponse, DescribeConfigsRequest,
    DescribeConfigsResponse, DescribeFeaturesRequest, DescribeFeaturesResponse,
    DescribeTopicsRequest, DescribeTopicsResponse, ElectLeadersRequest, ElectLeadersResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, ListTopicsRequest,
    ListTopicsResponse, RegisterBrokerRequest, RegisterBrokerResponse, UnregisterBrokerRequest,
    UnregisterBrokerResponse, UpdateFeaturesRequest, UpdateFeaturesResponse,
};
use tokio::time::Instant;
use tonic::transport::Channel;
use tonic::{Code, Request, Response, Status};
use tracing::{debug, warn};

use crate::endpoints::{normalize_endpoint, parse_bootstrap};
use crate::{ClientConfig, ClientError};

/// Metadata key with which a controller that is not active names the active one
/// (`controller/src/service/status.rs`).
const LEADER_ENDPOINT_HEADER: &str = "kraft-leader-endpoint";

/// Largest `DumpMetadata` reply accepted (the whole image as JSON: ~150 bytes a partition).
const DUMP_METADATA_MAX_BYTES: usize = 1 << 30;

/// A client of kraftd's `AdminService` and `BrokerService`.
///
/// Cheap to clone: clones share one cached [`Channel`] to the controller currently in use
/// (STYLE §8: one channel per peer, not one per RPC). Any controller can answer, because
/// controllers forward writes to the active controller themselves; the client only moves to
/// another endpoint when the current one fails transiently.
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    endpoints: Vec<String>,
    config: ClientConfig,
    current: Mutex<Current>,
}

#[derive(Clone, Debug)]
struct Current {
    endpoint: String,
    channel: Channel,
}

/// One failed attempt: transient failures move on to the next endpoint, others end the call.
enum AttemptError {
    Transient(Status),
    Fatal(ClientError),
}

impl Client {
    /// Connects to the first reachable endpoint of `bootstrap`, a comma-separated
    /// `host:port` list, with [`ClientConfig::default`].
    ///
    /// Endpoints are tried once each, in order, with the connect timeout each; the error names
    /// every endpoint tried and carries the last failure.
    pub async fn connect(bootstrap: &str) -> Result<Client, ClientError> {
        Self::connect_with(bootstrap, ClientConfig::default()).await
    }

    /// Like [`Client::connect`], with explicit timeouts and retry policy.
    pub async fn connect_with(
        bootstrap: &str,
        config: ClientConfig,
    ) -> Result<Client, ClientError> {
        let endpoints = parse_bootstrap(bootstrap)?;
        let mut last_err = None;
        for endpoint in &endpoints {
            match dial(endpoint, &config).await {
                Ok(channel) => {
                    debug!(endpoint = %endpoint, "connected");
                    let current = Current {
                        endpoint: endpoint.clone(),
                        channel,
                    };
                    return Ok(Client {
                        inner: Arc::new(Inner {
                            endpoints,
                            config,
                            current: Mutex::new(current),
                        }),
                    });
                }
                Err(e) => {
                    debug!(endpoint = %endpoint, error = %e, "connect failed");
                    last_err = Some(e);
                }
            }
        }
        match last_err {
            Some(source) => Err(ClientError::Connect {
                endpoints: endpoints.join(","),
                source,
            }),
            // parse_bootstrap never returns an empty list; keep the error typed anyway.
            None => Err(ClientError::InvalidBootstrap {
                bootstrap: bootstrap.to_owned(),
                reason: "no endpoint given".to_owned(),
            }),
        }
    }

    /// The bootstrap endpoints as URIs (`http://host:port`), in the order given.
    pub fn endpoints(&self) -> &[String] {
        &self.inner.endpoints
    }

    /// The endpoint the next call goes to first.
    pub fn current_endpoint(&self) -> String {
        self.current().endpoint
    }

    /// The timeouts and retry policy in use.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// `AdminService.CreateTopics`. Every topic gets its own result, with its own `error`.
    ///
    /// Retried on `UNAVAILABLE`; a retry after a lost answer can therefore report
    /// `TOPIC_ALREADY_EXISTS` for a topic this call created, as with Kafka's admin client.
    pub async fn create_topics(
        &self,
        req: CreateTopicsRequest,
    ) -> Result<CreateTopicsResponse, ClientError> {
        self.call("CreateTopics", req, |ch, r| async move {
            AdminServiceClient::new(ch).create_topics(r).await
        })
        .await
    }

    /// `AdminService.ListTopics`: every topic, sorted by name. With `local`, the contacted
    /// controller answers from its own applied image instead of the active controller's.
    pub async fn list_topics(&self, local: bool) -> Result<ListTopicsResponse, ClientError> {
        self.call(
            "ListTopics",
            ListTopicsRequest { local },
            |ch, r| async move { AdminServiceClient::new(ch).list_topics(r).await },
        )
        .await
    }

    /// `AdminService.DescribeTopics` for `names` (every topic when empty). An unknown topic
    /// comes back as an item with `UNKNOWN_TOPIC_OR_PARTITION`, not as an `Err`.
    pub async fn describe_topics<I, S>(
        &self,
        names: I,
        local: bool,
    ) -> Result<DescribeTopicsResponse, ClientError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let req = DescribeTopicsRequest {
            names: names.into_iter().map(Into::into).collect(),
            local,
        };
        self.call("DescribeTopics", req, |ch, r| async move {
            AdminServiceClient::new(ch).describe_topics(r).await
        })
        .await
    }

    /// `AdminService.DescribeCluster`: cluster id, active controller, voters, brokers and the
    /// answering controller's applied metadata offset.
    pub async fn describe_cluster(
        &self,
        local: bool,
    ) -> Result<DescribeClusterResponse, ClientError> {
        self.call(
            "DescribeCluster",
            DescribeClusterRequest { local },
            |ch, r| async move { AdminServiceClient::new(ch).describe_cluster(r).await },
        )
        .await
    }

    /// `AdminService.CreatePartitions`: raise topics' partition counts to `count`. Every topic
    /// gets its own result; a decrease is `INVALID_PARTITIONS`.
    ///
    /// Retried on `UNAVAILABLE`; a retry after a lost answer can therefore report
    /// `INVALID_PARTITIONS` (the count is already reached) for a change this call made.
    pub async fn create_partitions(
        &self,
        req: CreatePartitionsRequest,
    ) -> Result<CreatePartitionsResponse, ClientError> {
        self.call("CreatePartitions", req, |ch, r| async move {
            AdminServiceClient::new(ch).create_partitions(r).await
        })
        .await
    }

    /// `AdminService.DeleteTopics`, by name or by id. Every topic gets its own result.
    ///
    /// Retried on `UNAVAILABLE`; a retry after a lost answer can therefore report
    /// `UNKNOWN_TOPIC_OR_PARTITION` (or `UNKNOWN_TOPIC_ID`) for a topic this call deleted.
    pub async fn delete_topics(
        &self,
        req: DeleteTopicsRequest,
    ) -> Result<DeleteTopicsResponse, ClientError> {
        self.call("DeleteTopics", req, |ch, r| async move {
            AdminServiceClient::new(ch).delete_topics(r).await
        })
        .await
    }

    /// `AdminService.ElectLeaders`: preferred or unclean election, per partition or (with no
    /// partitions named) for every partition. `ELECTION_NOT_NEEDED` is a per-partition
    /// result, as is a retry's answer for an election this call already made.
    pub async fn elect_leaders(
        &self,
        req: ElectLeadersRequest,
    ) -> Result<ElectLeadersResponse, ClientError> {
        self.call("ElectLeaders", req, |ch, r| async move {
            AdminServiceClient::new(ch).elect_leaders(r).await
        })
        .await
    }

    /// `AdminService.DescribeConfigs`: effective configs of topics and brokers with their
    /// sources. An unknown resource comes back as a result with an error, not as an `Err`.
    pub async fn describe_configs(
        &self,
        req: DescribeConfigsRequest,
    ) -> Result<DescribeConfigsResponse, ClientError> {
        self.call("DescribeConfigs", req, |ch, r| async move {
            AdminServiceClient::new(ch).describe_configs(r).await
        })
        .await
    }

    /// `AdminService.IncrementalAlterConfigs`: SET / DELETE / APPEND / SUBTRACT per key, with
    /// one result per resource. Every operation is idempotent under retry: SET and DELETE
    /// trivially, APPEND adds only items not yet in the list and SUBTRACT removes items that
    /// are there (Kafka's list semantics).
    pub async fn incremental_alter_configs(
        &self,
        req: IncrementalAlterConfigsRequest,
    ) -> Result<IncrementalAlterConfigsResponse, ClientError> {
        self.call("IncrementalAlterConfigs", req, |ch, r| async move {
            AdminServiceClient::new(ch)
                .incremental_alter_configs(r)
                .await
        })
        .await
    }

    /// `AdminService.AlterPartitionReassignments`: a partition with `replicas` starts (or
    /// replaces) a reassignment, one without cancels it. Results per topic and partition.
    ///
    /// Retried on `UNAVAILABLE`; a retried cancellation can therefore report
    /// `NO_REASSIGNMENT_IN_PROGRESS` for a reassignment this call cancelled.
    pub async fn alter_partition_reassignments(
        &self,
        req: AlterPartitionReassignmentsRequest,
    ) -> Result<AlterPartitionReassignmentsResponse, ClientError> {
        self.call("AlterPartitionReassignments", req, |ch, r| async move {
            AdminServiceClient::new(ch)
                .alter_partition_reassignments(r)
                .await
        })
        .await
    }

    /// `AdminService.ListPartitionReassignments`: reassignments in progress, for the named
    /// partitions or (when `req.topics` is empty) for every partition.
    pub async fn list_partition_reassignments(
        &self,
        req: ListPartitionReassignmentsRequest,
    ) -> Result<ListPartitionReassignmentsResponse, ClientError> {
        self.call("ListPartitionReassignments", req, |ch, r| async move {
            AdminServiceClient::new(ch)
                .list_partition_reassignments(r)
                .await
        })
        .await
    }

    /// `AdminService.DescribeFeatures`: finalized feature levels and the supported ranges.
    pub async fn describe_features(&self) -> Result<DescribeFeaturesResponse, ClientError> {
        self.call(
            "DescribeFeatures",
            DescribeFeaturesRequest {},
            |ch, r| async move { AdminServiceClient::new(ch).describe_features(r).await },
        )
        .await
    }

    /// `AdminService.UpdateFeatures`: upgrade or (safely or unsafely) downgrade finalized
    /// feature levels; one result per feature. Setting a level is idempotent under retry.
    pub async fn update_features(
        &self,
        req: UpdateFeaturesRequest,
    ) -> Result<UpdateFeaturesResponse, ClientError> {
        self.call("UpdateFeatures", req, |ch, r| async move {
            AdminServiceClient::new(ch).update_features(r).await
        })
        .await
    }

    /// `AdminService.DescribeQuorum`: leader, epoch, high watermark and replica states.
    pub async fn describe_quorum(
        &self,
    ) -> Result<kraft_proto::DescribeQuorumResponse, ClientError> {
        self.call(
            "DescribeQuorum",
            kraft_proto::DescribeQuorumRequest {},
            |ch, r| async move { AdminServiceClient::new(ch).describe_quorum(r).await },
        )
        .await
    }

    /// `AdminService.AddRaftVoter`: the controller at `endpoint` catches up, then votes.
    pub async fn add_raft_voter(
        &self,
        req: kraft_proto::AddRaftVoterRequest,
    ) -> Result<kraft_proto::AddRaftVoterResponse, ClientError> {
        self.call("AddRaftVoter", req, |ch, r| async move {
            AdminServiceClient::new(ch).add_raft_voter(r).await
        })
        .await
    }

    /// `AdminService.RemoveRaftVoter`.
    pub async fn remove_raft_voter(
        &self,
        voter_id: u64,
    ) -> Result<kraft_proto::RemoveRaftVoterResponse, ClientError> {
        self.call(
            "RemoveRaftVoter",
            kraft_proto::RemoveRaftVoterRequest { voter_id },
            |ch, r| async move { AdminServiceClient::new(ch).remove_raft_voter(r).await },
        )
        .await
    }

    /// `AdminService.TransferLeadership` to voter `to`.
    pub async fn transfer_leadership(
        &self,
        to: u64,
    ) -> Result<kraft_proto::TransferLeadershipResponse, ClientError> {
        self.call(
            "TransferLeadership",
            kraft_proto::TransferLeadershipRequest { to },
            |ch, r| async move { AdminServiceClient::new(ch).transfer_leadership(r).await },
        )
        .await
    }

    /// `AdminService.DumpMetadata`: the contacted controller's image once it has applied
    /// `min_offset`.
    pub async fn dump_metadata(
        &self,
        min_offset: u64,
    ) -> Result<kraft_proto::DumpMetadataResponse, ClientError> {
        self.call(
            "DumpMetadata",
            kraft_proto::DumpMetadataRequest { min_offset },
            |ch, r| async move {
                // The image as JSON outgrows gRPC's 4 MiB default long before a cluster is
                // big (a few thousand topics).
                AdminServiceClient::new(ch)
                    .max_decoding_message_size(DUMP_METADATA_MAX_BYTES)
                    .dump_metadata(r)
                    .await
            },
        )
        .await
    }

    /// `BrokerService.RegisterBroker`. The reply's `error` carries refusals such as
    /// `INCONSISTENT_CLUSTER_ID` or `DUPLICATE_BROKER_REGISTRATION`.
    pub async fn register_broker(
        &self,
        req: RegisterBrokerRequest,
    ) -> Result<RegisterBrokerResponse, ClientError> {
        self.call("RegisterBroker", req, |ch, r| async move {
            BrokerServiceClient::new(ch).register_broker(r).await
        })
        .await
    }

    /// `BrokerService.BrokerHeartbeat`. The reply says whether the broker is fenced and
    /// caught up; its `error` carries refusals such as `STALE_BROKER_EPOCH`.
    pub async fn broker_heartbeat(
        &self,
        req: BrokerHeartbeatRequest,
    ) -> Result<BrokerHeartbeatResponse, ClientError> {
        self.call("BrokerHeartbeat", req, |ch, r| async move {
            BrokerServiceClient::new(ch).broker_heartbeat(r).await
        })
        .await
    }

    /// `BrokerService.UnregisterBroker`: remove broker `broker_id`'s registration. The
    /// reply's `error` carries refusals such as `BROKER_ID_NOT_REGISTERED`, which a retry
    /// after a lost answer also reports.
    pub async fn unregister_broker(
        &self,
        broker_id: i32,
    ) -> Result<UnregisterBrokerResponse, ClientError> {
        self.call(
            "UnregisterBroker",
            UnregisterBrokerRequest { broker_id },
            |ch, r| async move { BrokerServiceClient::new(ch).unregister_broker(r).await },
        )
        .await
    }

    /// `BrokerService.AlterPartition`: a partition leader's ISR changes. The reply carries a
    /// request-level `error` (e.g. `STALE_BROKER_EPOCH`) and per-partition results.
    ///
    /// Retried on `UNAVAILABLE`; a retry after a lost answer is refused per partition with
    /// `INVALID_UPDATE_VERSION` (the partition epoch moved on), as in Kafka.
    pub async fn alter_partition(
        &self,
        req: AlterPartitionRequest,
    ) -> Result<AlterPartitionResponse, ClientError> {
        self.call("AlterPartition", req, |ch, r| async move {
            BrokerServiceClient::new(ch).alter_partition(r).await
        })
        .await
    }

    /// `BrokerService.AllocateProducerIds`: the next block of producer ids for a broker.
    ///
    /// Retried on `UNAVAILABLE`; a block allocated by a lost answer is skipped, never reused.
    pub async fn allocate_producer_ids(
        &self,
        req: AllocateProducerIdsRequest,
    ) -> Result<AllocateProducerIdsResponse, ClientError> {
        self.call("AllocateProducerIds", req, |ch, r| async move {
            BrokerServiceClient::new(ch).allocate_producer_ids(r).await
        })
        .await
    }

    fn current(&self) -> Current {
        // The lock guards a plain value and is never held across an await, so a poisoned
        // lock still holds a consistent value.
        self.inner
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_current(&self, endpoint: &str, channel: Channel) {
        let mut cur = self
            .inner
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *cur = Current {
            endpoint: endpoint.to_owned(),
            channel,
        };
    }

    /// Runs one RPC with the per-call timeout, failing over on transient errors.
    ///
    /// The first pass over the endpoints goes without delay, so one dead controller costs one
    /// connect timeout; once every endpoint has been tried, attempts back off (doubling up to
    /// `max_backoff`) and no attempt starts after `retry_deadline`.
    async fn call<Req, Resp, F, Fut>(
        &self,
        rpc: &'static str,
        req: Req,
        send: F,
    ) -> Result<Resp, ClientError>
    where
        Req: Clone,
        F: Fn(Channel, Request<Req>) -> Fut,
        Fut: Future<Output = Result<Response<Resp>, Status>>,
    {
        let cfg = &self.inner.config;
        let started = Instant::now();
        let deadline = started + cfg.retry_deadline;
        let first = self.current();
        let mut cursor = self
            .inner
            .endpoints
            .iter()
            .position(|e| *e == first.endpoint)
            .unwrap_or(0);
        let mut endpoint = first.endpoint;
        let mut channel = Some(first.channel);
        let mut backoff = cfg.initial_backoff;
        let mut attempts: u32 = 0;
        loop {
            attempts += 1;
            let result = match channel.take() {
                Some(ch) => self.attempt(rpc, &endpoint, ch, req.clone(), &send).await,
                None => match dial(&endpoint, cfg).await {
                    Ok(ch) => {
                        self.set_current(&endpoint, ch.clone());
                        self.attempt(rpc, &endpoint, ch, req.clone(), &send).await
                    }
                    Err(e) => Err(AttemptError::Transient(Status::unavailable(format!(
                        "connect to {endpoint}: {e}"
                    )))),
                },
            };
            let status = match result {
                Ok(resp) => return Ok(resp),
                Err(AttemptError::Fatal(e)) => return Err(e),
                Err(AttemptError::Transient(status)) => status,
            };

            // NOT_CONTROLLER comes back as UNAVAILABLE with a hint; follow it before the list.
            let hint = status
                .metadata()
                .get(LEADER_ENDPOINT_HEADER)
                .and_then(|v| v.to_str().ok())
                .and_then(|h| normalize_endpoint(h).ok())
                .filter(|h| *h != endpoint);
            let next = match hint {
                Some(h) => h,
                None => {
                    cursor = (cursor + 1) % self.inner.endpoints.len();
                    self.inner.endpoints[cursor].clone()
                }
            };

            let now = Instant::now();
            let wait = if (attempts as usize) < self.inner.endpoints.len() {
                Duration::ZERO
            } else {
                backoff
            };
            if now + wait >= deadline {
                warn!(rpc, attempts, code = ?status.code(), error = %status.message(), "giving up");
                return Err(ClientError::RetriesExhausted {
                    rpc,
                    attempts,
                    elapsed: now - started,
                    status,
                });
            }
            warn!(
                rpc,
                attempts,
                failed = %endpoint,
                next = %next,
                code = ?status.code(),
                error = %status.message(),
                "transient failure; trying another controller"
            );
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
                backoff = (backoff * 2).min(cfg.max_backoff);
            }
            endpoint = next;
        }
    }

    async fn attempt<Req, Resp, F, Fut>(
        &self,
        rpc: &'static str,
        endpoint: &str,
        channel: Channel,
        req: Req,
        send: &F,
    ) -> Result<Resp, AttemptError>
    where
        F: Fn(Channel, Request<Req>) -> Fut,
        Fut: Future<Output = Result<Response<Resp>, Status>>,
    {
        let after = self.inner.config.request_timeout;
        let mut request = Request::new(req);
        // Tells the server our deadline (grpc-timeout); the local timeout below enforces it.
        request.set_timeout(after);
        self.inner.config.security.authorize(&mut request);
        match tokio::time::timeout(after, send(channel, request)).await {
            Ok(Ok(resp)) => Ok(resp.into_inner()),
            Ok(Err(status)) if is_transient(&status) => Err(AttemptError::Transient(status)),
            Ok(Err(status)) => Err(AttemptError::Fatal(ClientError::Rpc {
                rpc,
                endpoint: endpoint.to_owned(),
                status,
            })),
            Err(_) => Err(AttemptError::Fatal(ClientError::Timeout {
                rpc,
                endpoint: endpoint.to_owned(),
                after,
            })),
        }
    }
}

/// Only `UNAVAILABLE` is retried: tonic reports refused and broken connections with it, and
/// controllers map `NOT_CONTROLLER` to it. Every other code is the server's final word.
fn is_transient(status: &Status) -> bool {
    status.code() == Code::Unavailable
}

async fn dial(endpoint: &str, config: &ClientConfig) -> Result<Channel, tonic::transport::Error> {
    config
        .security
        .endpoint(endpoint)?
        .connect_timeout(config.connect_timeout)
        .connect()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> ClientConfig {
        ClientConfig {
            connect_timeout: Duration::from_millis(300),
            request_timeout: Duration::from_secs(1),
            retry_deadline: Duration::from_millis(300),
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
            ..ClientConfig::default()
        }
    }

    /// An address that refuses connections: bound (so no other test can take the port) but not
    /// listening. Keep the socket alive for as long as the address must stay dead.
    fn dead_endpoint() -> (tokio::net::TcpSocket, String) {
        let s = tokio::net::TcpSocket::new_v4().unwrap();
        s.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = s.local_addr().unwrap().to_string();
        (s, addr)
    }

    #[tokio::test]
    async fn connect_fails_naming_every_endpoint() {
        let ((_a, a), (_b, b)) = (dead_endpoint(), dead_endpoint());
        let err = Client::connect_with(&format!("{a},{b}"), fast())
            .await
            .unwrap_err();
        match err {
            ClientError::Connect { endpoints, .. } => {
                assert_eq!(endpoints, format!("http://{a},http://{b}"));
            }
            other => panic!("expected Connect, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn connect_rejects_bad_bootstrap() {
        let err = Client::connect("localhost").await.unwrap_err();
        assert!(
            matches!(err, ClientError::InvalidBootstrap { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn only_unavailable_is_transient() {
        assert!(is_transient(&Status::unavailable("down")));
        for s in [
            Status::invalid_argument("x"),
            Status::deadline_exceeded("x"),
            Status::internal("x"),
            Status::unknown("x"),
        ] {
            assert!(!is_transient(&s), "{:?}", s.code());
        }
    }
}
