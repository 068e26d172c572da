//! Outgoing Raft RPCs: openraft's `RaftNetworkV2` over one cached tonic `Channel` per peer.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{Stream, StreamExt as _};
use kraft_proto::SnapshotChunk;
use kraft_proto::raft_service_client::RaftServiceClient;
use kraft_storage::TypeConfig;
use openraft::base::{BoxFuture, BoxStream};
use openraft::errors::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::RPCOption;
use openraft::raft::StreamAppendResult;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::{BasicNode, OptionalSend, RaftNetworkFactory, RaftNetworkV2};
use tonic::transport::{Channel, Endpoint};

use super::{SNAPSHOT_CHUNK_BYTES, decode};
use crate::tls::PeerTls;

type Vote = openraft::alias::VoteOf<TypeConfig>;
type Snapshot = openraft::alias::SnapshotOf<TypeConfig, Vec<u8>>;

/// Creates per-peer clients; channels are cached by endpoint and shared between clients.
#[derive(Clone, Default)]
pub struct NetworkFactory {
    inner: Arc<Mutex<Channels>>,
    /// Endpoint → address dialled instead (see `QuorumConfig::dial_override`).
    dial_override: Arc<BTreeMap<String, String>>,
}

#[derive(Default)]
struct Channels {
    /// TLS for peer links; `None`: plaintext (`http://`).
    tls: Option<PeerTls>,
    by_addr: HashMap<String, Channel>,
}

impl NetworkFactory {
    /// A factory dialling peers with `tls` (or in plaintext), and `dial_override[addr]`
    /// instead of `addr` where present.
    pub fn new(tls: Option<PeerTls>, dial_override: BTreeMap<String, String>) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Channels {
                tls,
                by_addr: HashMap::new(),
            })),
            dial_override: Arc::new(dial_override),
        }
    }

    /// Swaps the TLS material and drops every cached channel (certificate rotation).
    pub fn set_tls(&self, tls: Option<PeerTls>) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.tls != tls {
            inner.tls = tls;
            inner.by_addr.clear();
        }
    }

    /// A channel to `addr` (`host:port`), created lazily and reused afterwards.
    pub fn channel(&self, addr: &str) -> Result<Channel, tonic::transport::Error> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(ch) = inner.by_addr.get(addr) {
            return Ok(ch.clone());
        }
        let scheme = if inner.tls.is_some() { "https" } else { "http" };
        let dial = self.dial_override.get(addr).map_or(addr, String::as_str);
        let mut endpoint = Endpoint::from_shared(format!("{scheme}://{dial}"))?
            .connect_timeout(Duration::from_millis(500))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(10));
        if let Some(tls) = &inner.tls {
            endpoint = endpoint.tls_config(tls.client_config())?;
        }
        let ch = endpoint.connect_lazy();
        inner.by_addr.insert(addr.to_string(), ch.clone());
        Ok(ch)
    }
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerClient;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> Self::Network {
        PeerClient {
            target,
            addr: node.addr.clone(),
            factory: self.clone(),
        }
    }
}

/// Raft RPCs to one peer.
pub struct PeerClient {
    target: u64,
    addr: String,
    factory: NetworkFactory,
}

fn unreachable<E: std::error::Error + 'static>(e: &E) -> RPCError<TypeConfig> {
    RPCError::Unreachable(Unreachable::new(e))
}

fn status_to_rpc(s: tonic::Status) -> RPCError<TypeConfig> {
    match s.code() {
        tonic::Code::Unavailable | tonic::Code::Cancelled | tonic::Code::DeadlineExceeded => {
            unreachable(&s)
        }
        _ => RPCError::Network(NetworkError::new(&s)),
    }
}

impl PeerClient {
    fn client(
        &self,
        option: &RPCOption,
    ) -> Result<RaftServiceClient<Channel>, RPCError<TypeConfig>> {
        let ch = self
            .factory
            .channel(&self.addr)
            .map_err(|e| unreachable(&e))?;
        let _ = option;
        Ok(RaftServiceClient::new(ch).max_decoding_message_size(64 * 1024 * 1024))
    }

    fn request<T>(msg: T, option: &RPCOption) -> tonic::Request<T> {
        let mut req = tonic::Request::new(msg);
        req.set_timeout(option.hard_ttl());
        req
    }

    fn body<T: serde::Serialize>(v: &T) -> Result<kraft_proto::RaftMessage, RPCError<TypeConfig>> {
        super::encode(v).map_err(|s| RPCError::Network(NetworkError::new(&s)))
    }

    fn reply<T: serde::de::DeserializeOwned>(
        resp: Result<tonic::Response<kraft_proto::RaftMessage>, tonic::Status>,
        what: &str,
    ) -> Result<T, RPCError<TypeConfig>> {
        let msg = resp.map_err(status_to_rpc)?.into_inner();
        decode(&msg.data, what).map_err(|s| RPCError::Network(NetworkError::new(&s)))
    }
}

/// How long a replication stream may wait for the answer to a request it sent before the
/// session is treated as broken (a blackholed connection never errors by itself).
const STREAM_RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);

impl RaftNetworkV2<TypeConfig> for PeerClient {
    type SnapshotData = Vec<u8>;

    /// Pipelined replication over one bidirectional gRPC stream: requests are sent as openraft
    /// produces them without waiting for earlier answers; HTTP/2 keeps both directions in
    /// order, so responses match requests one to one.
    fn stream_append<'s, S>(
        &'s mut self,
        input: S,
        option: RPCOption,
    ) -> BoxFuture<
        's,
        Result<
            BoxStream<'s, Result<StreamAppendResult<TypeConfig>, RPCError<TypeConfig>>>,
            RPCError<TypeConfig>,
        >,
    >
    where
        S: Stream<Item = AppendEntriesRequest<TypeConfig>> + OptionalSend + Unpin + 'static,
    {
        Box::pin(async move {
            let mut c = self.client(&option)?;
            let sent = Arc::new(AtomicU64::new(0));
            let counter = sent.clone();
            let requests = input.filter_map(move |rpc| {
                let msg = match super::encode(&rpc) {
                    Ok(m) => {
                        counter.fetch_add(1, Ordering::Release);
                        Some(m)
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "StreamAppend: cannot encode a request");
                        None
                    }
                };
                std::future::ready(msg)
            });
            let responses = c
                .stream_append(tonic::Request::new(requests))
                .await
                .map_err(status_to_rpc)?
                .into_inner();
            let state = (responses, sent, 0u64);
            let out = futures::stream::unfold(Some(state), |state| async move {
                let (mut responses, sent, mut answered) = state?;
                loop {
                    match tokio::time::timeout(STREAM_RESPONSE_TIMEOUT, responses.next()).await {
                        Ok(None) => return None,
                        Ok(Some(Err(s))) => return Some((Err(status_to_rpc(s)), None)),
                        Ok(Some(Ok(msg))) => {
                            answered += 1;
                            let item = decode::<StreamAppendResult<TypeConfig>>(
                                &msg.data,
                                "StreamAppendResult",
                            )
                            .map_err(|s| RPCError::Network(NetworkError::new(&s)));
                            return Some((item, Some((responses, sent, answered))));
                        }
                        // Nothing outstanding: an idle session, keep waiting.
                        Err(_) if sent.load(Ordering::Acquire) <= answered => continue,
                        Err(elapsed) => return Some((Err(unreachable(&elapsed)), None)),
                    }
                }
            });
            Ok(Box::pin(out) as BoxStream<'s, _>)
        })
    }

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        let mut c = self.client(&option)?;
        let resp = c
            .append_entries(Self::request(Self::body(&rpc)?, &option))
            .await;
        Self::reply(resp, "AppendEntriesResponse")
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        let mut c = self.client(&option)?;
        let resp = c.vote(Self::request(Self::body(&rpc)?, &option)).await;
        Self::reply(resp, "VoteResponse")
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        let mut c = self.client(&option)?;
        let resp = c.pre_vote(Self::request(Self::body(&rpc)?, &option)).await;
        Self::reply(resp, "PreVoteResponse")
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let ch = self
            .factory
            .channel(&self.addr)
            .map_err(|e| StreamingError::Unreachable(Unreachable::new(&e)))?;
        let mut c = RaftServiceClient::new(ch);
        let header = serde_json::to_vec(&(&vote, &snapshot.meta))
            .map_err(|e| StreamingError::Network(NetworkError::new(&e)))?;
        let data = snapshot.snapshot;
        let mut chunks: Vec<SnapshotChunk> = data
            .chunks(SNAPSHOT_CHUNK_BYTES)
            .map(|c| SnapshotChunk {
                header: Vec::new(),
                data: c.to_vec(),
            })
            .collect();
        if chunks.is_empty() {
            chunks.push(SnapshotChunk::default());
        }
        chunks[0].header = header;
        tracing::debug!(
            target = self.target,
            chunks = chunks.len(),
            "sending snapshot"
        );
        let mut req = tonic::Request::new(tokio_stream::iter(chunks));
        req.set_timeout(option.hard_ttl().max(Duration::from_secs(30)));
        let call = c.install_snapshot(req);
        let resp = tokio::select! {
            closed = cancel => return Err(StreamingError::Closed(closed)),
            r = call => r,
        };
        let msg = resp
            .map_err(|s| match s.code() {
                tonic::Code::Unavailable => StreamingError::Unreachable(Unreachable::new(&s)),
                _ => StreamingError::Network(NetworkError::new(&s)),
            })?
            .into_inner();
        decode(&msg.data, "SnapshotResponse")
            .map_err(|s| StreamingError::Network(NetworkError::new(&s)))
    }

    async fn transfer_leader(
        &mut self,
        req: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<TypeConfig>, RPCError<TypeConfig>> {
        let mut c = self.client(&option)?;
        let resp = c
            .transfer_leader(Self::request(Self::body(&req)?, &option))
            .await;
        Self::reply(resp, "TransferLeaderResponse")
    }
}
