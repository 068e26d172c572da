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

/// Least time a follower gets to store and acknowledge an AppendEntries that carries entries.
///
/// openraft gives every replication RPC its heartbeat interval as time to live (20 ms when
/// tuned for fast failover). A follower catching up (a restarted node, one behind a slow disk)
/// receives batches of up to `max_payload_entries` entries and fsyncs each before answering;
/// when that takes longer than one heartbeat every attempt is cut off the same way, the
/// follower never catches up, and once another voter is down the quorum can commit nothing.
/// Heartbeats (no entries) keep openraft's interval: openraft bounds those itself.
const APPEND_DEADLINE_FLOOR: Duration = Duration::from_secs(1);

/// The gRPC deadline of an AppendEntries with `entries` entries, given openraft's TTL.
fn append_deadline(ttl: Duration, entries: usize) -> Duration {
    if entries == 0 {
        ttl
    } else {
        ttl.max(APPEND_DEADLINE_FLOOR)
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
        Self::request_within(msg, option.hard_ttl())
    }

    fn request_within<T>(msg: T, deadline: Duration) -> tonic::Request<T> {
        let mut req = tonic::Request::new(msg);
        req.set_timeout(deadline);
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

/// How long a replication session may wait for its stream to open, or for the answer to a
/// request it sent, before it is treated as broken (a blackholed connection never errors by
/// itself). Long enough for a follower storing a catch-up batch on a busy disk.
const STREAM_RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);

/// Responses of one `StreamAppend` session, as openraft reads them. Holds the session's
/// `_close` sender: dropping the response stream (openraft ends a session on a leader change,
/// an error or its shutdown) ends the request stream too, so the HTTP/2 stream closes on both
/// sides and no half-open session outlives it on the follower or in a graceful stop.
struct Session {
    responses: tonic::Streaming<kraft_proto::RaftMessage>,
    sent: Arc<AtomicU64>,
    answered: u64,
    _close: tokio::sync::oneshot::Sender<()>,
}

impl Session {
    async fn next(
        mut self,
    ) -> Option<(
        Result<StreamAppendResult<TypeConfig>, RPCError<TypeConfig>>,
        Option<Self>,
    )> {
        loop {
            match tokio::time::timeout(STREAM_RESPONSE_TIMEOUT, self.responses.next()).await {
                Ok(None) => return None,
                Ok(Some(Err(s))) => return Some((Err(status_to_rpc(s)), None)),
                Ok(Some(Ok(msg))) => {
                    self.answered += 1;
                    let item =
                        decode::<StreamAppendResult<TypeConfig>>(&msg.data, "StreamAppendResult")
                            .map_err(|s| RPCError::Network(NetworkError::new(&s)));
                    let rest = item.is_ok().then_some(self);
                    return Some((item, rest));
                }
                // Nothing outstanding: an idle session, keep waiting (openraft cancels it).
                Err(_) if self.sent.load(Ordering::Acquire) <= self.answered => continue,
                Err(elapsed) => return Some((Err(unreachable(&elapsed)), None)),
            }
        }
    }
}

impl RaftNetworkV2<TypeConfig> for PeerClient {
    type SnapshotData = Vec<u8>;

    /// Pipelined replication over one bidirectional gRPC stream: requests go out as openraft
    /// produces them, without waiting for earlier answers; HTTP/2 keeps both directions in
    /// order, so answers match requests one to one. The follower answers each request after
    /// storing it, so a batch's append on the follower overlaps the next batch on the wire.
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
            let (close, closed) = tokio::sync::oneshot::channel::<()>();
            // A request that cannot be encoded ends the session (openraft opens a new one and
            // resends from the follower's matched index) rather than leaving a gap in it.
            let requests = input
                .map(|rpc| super::encode(&rpc))
                .take_while(|msg| {
                    if let Err(e) = msg {
                        tracing::error!(error = %e, "StreamAppend: cannot encode a request; ending the session");
                    }
                    std::future::ready(msg.is_ok())
                })
                .filter_map(|msg| std::future::ready(msg.ok()))
                .inspect(move |_| {
                    counter.fetch_add(1, Ordering::Release);
                })
                .take_until(closed);
            let opened = tokio::time::timeout(
                STREAM_RESPONSE_TIMEOUT,
                c.stream_append(tonic::Request::new(requests)),
            )
            .await
            .map_err(|e| unreachable(&e))?;
            let responses = opened.map_err(status_to_rpc)?.into_inner();
            let session = Session {
                responses,
                sent,
                answered: 0,
                _close: close,
            };
            let out = futures::stream::unfold(Some(session), |s| async move { s?.next().await });
            Ok(Box::pin(out) as BoxStream<'s, _>)
        })
    }

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        let mut c = self.client(&option)?;
        let deadline = append_deadline(option.hard_ttl(), rpc.entries.len());
        let resp = c
            .append_entries(Self::request_within(Self::body(&rpc)?, deadline))
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use futures::StreamExt as _;
    use kraft_proto::raft_service_server::{RaftService, RaftServiceServer};
    use kraft_proto::{RaftMessage, ReadIndexRequest, ReadIndexResponse, SnapshotChunk};
    use kraft_storage::TypeConfig;
    use openraft::network::RPCOption;
    use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse};
    use openraft::vote::RaftLeaderId;
    use openraft::{BasicNode, EntryPayload, RaftNetworkFactory, RaftNetworkV2};
    use tokio::sync::Notify;
    use tonic::{Request, Response, Status, Streaming};

    use super::NetworkFactory;
    use crate::network::encode;

    /// A peer whose every AppendEntries takes `delay` (a follower fsyncing on a slow disk), and
    /// whose `StreamAppend` sessions never answer and report when their request half ends.
    struct SlowPeer {
        delay: Duration,
        input_ended: Arc<Notify>,
    }

    #[tonic::async_trait]
    impl RaftService for SlowPeer {
        type StreamAppendStream = super::super::server::AppendStream;
        async fn stream_append(
            &self,
            req: Request<Streaming<RaftMessage>>,
        ) -> Result<Response<Self::StreamAppendStream>, Status> {
            let mut input = req.into_inner();
            let ended = self.input_ended.clone();
            tokio::spawn(async move {
                while let Some(Ok(_)) = input.next().await {}
                ended.notify_one();
            });
            Ok(Response::new(Box::pin(futures::stream::pending())))
        }
        async fn append_entries(
            &self,
            _req: Request<RaftMessage>,
        ) -> Result<Response<RaftMessage>, Status> {
            tokio::time::sleep(self.delay).await;
            Ok(Response::new(encode(
                &AppendEntriesResponse::<TypeConfig>::Success,
            )?))
        }
        async fn vote(&self, _: Request<RaftMessage>) -> Result<Response<RaftMessage>, Status> {
            Err(Status::unimplemented("vote"))
        }
        async fn pre_vote(&self, _: Request<RaftMessage>) -> Result<Response<RaftMessage>, Status> {
            Err(Status::unimplemented("pre_vote"))
        }
        async fn install_snapshot(
            &self,
            _: Request<Streaming<SnapshotChunk>>,
        ) -> Result<Response<RaftMessage>, Status> {
            Err(Status::unimplemented("install_snapshot"))
        }
        async fn transfer_leader(
            &self,
            _: Request<RaftMessage>,
        ) -> Result<Response<RaftMessage>, Status> {
            Err(Status::unimplemented("transfer_leader"))
        }
        async fn read_index(
            &self,
            _: Request<ReadIndexRequest>,
        ) -> Result<Response<ReadIndexResponse>, Status> {
            Err(Status::unimplemented("read_index"))
        }
    }

    fn request(entries: u64) -> AppendEntriesRequest<TypeConfig> {
        let log_id = |index| {
            kraft_storage::types::LogId::new(
                openraft::impls::leader_id_adv::LeaderId {
                    term: 1,
                    node_id: 1,
                }
                .to_committed(),
                index,
            )
        };
        AppendEntriesRequest {
            vote: kraft_storage::types::Vote::new_committed(1, 1),
            prev_log_id: None,
            leader_commit: None,
            entries: (1..=entries)
                .map(|i| openraft::Entry {
                    log_id: log_id(i),
                    payload: EntryPayload::Blank,
                })
                .collect(),
        }
    }

    /// Serves a [`SlowPeer`] (100 ms appends) on a port from the OS: its address, the
    /// notification of its `StreamAppend` inputs ending, and the server task.
    async fn serve_slow_peer() -> (String, Arc<Notify>, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let input_ended = Arc::new(Notify::new());
        let peer = SlowPeer {
            delay: Duration::from_millis(100),
            input_ended: input_ended.clone(),
        };
        let server = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(RaftServiceServer::new(peer))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
                .await;
        });
        (addr, input_ended, server)
    }

    /// openraft ends a replication session by dropping its response stream (leader change,
    /// error, shutdown) while its request stream may still be waiting for entries. The
    /// request half must end with it: a half-open session held up the follower's graceful
    /// server stop (the quorum cluster test hung in a third of its runs).
    #[tokio::test]
    async fn dropping_a_replication_session_ends_its_request_stream() {
        let (addr, input_ended, server) = serve_slow_peer().await;
        let mut factory = NetworkFactory::default();
        let mut peer = factory.new_client(2, &BasicNode { addr }).await;
        let requests = futures::stream::iter([request(1)]).chain(futures::stream::pending());
        let responses = peer
            .stream_append(
                Box::pin(requests),
                RPCOption::new(Duration::from_millis(20)),
            )
            .await
            .expect("session opens");
        drop(responses);
        tokio::time::timeout(Duration::from_secs(10), input_ended.notified())
            .await
            .expect("the follower sees the session's requests end once the leader drops it");
        server.abort();
    }

    /// openraft gives each replication RPC its heartbeat interval (20 ms here) as time to
    /// live. A follower that needs longer to store a batch must still get to acknowledge it,
    /// or it never catches up; heartbeats keep the short deadline.
    #[tokio::test]
    async fn appends_with_entries_outlive_a_short_heartbeat_ttl() {
        let (addr, _, server) = serve_slow_peer().await;
        let mut factory = NetworkFactory::default();
        let mut peer = factory.new_client(2, &BasicNode { addr }).await;
        let ttl = RPCOption::new(Duration::from_millis(20));

        let resp = peer.append_entries(request(3), ttl.clone()).await;
        assert!(
            matches!(resp, Ok(AppendEntriesResponse::Success)),
            "append of 3 entries to a 100 ms follower: {resp:?}"
        );
        let heartbeat = peer.append_entries(request(0), ttl).await;
        assert!(
            heartbeat.is_err(),
            "a heartbeat keeps openraft's 20 ms deadline: {heartbeat:?}"
        );
        server.abort();
    }
}
