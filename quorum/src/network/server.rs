//! Incoming Raft RPCs: decode, hand to the local `Raft`, encode the answer.

use kraft_proto::raft_service_server::RaftService;
use kraft_proto::{RaftMessage, ReadIndexRequest, ReadIndexResponse, SnapshotChunk};
use kraft_storage::{StateMachineStore, TypeConfig};
use openraft::Raft;
use openraft::raft::AppendEntriesRequest;
use tonic::{Request, Response, Status, Streaming};

use super::{decode, encode};
use crate::Machine;

type Vote = openraft::alias::VoteOf<TypeConfig>;
type SnapshotMeta = openraft::alias::SnapshotMetaOf<TypeConfig>;

/// `kraft.v1.RaftService` backed by a local openraft instance.
pub struct RaftServiceImpl<M: Machine> {
    raft: Raft<TypeConfig, StateMachineStore<M>>,
    /// Becomes true when the node shuts down: `StreamAppend` sessions end then.
    stopping: tokio::sync::watch::Receiver<bool>,
}

impl<M: Machine> RaftServiceImpl<M> {
    /// Serves RPCs for `raft` until `stopping` becomes true.
    pub fn new(
        raft: Raft<TypeConfig, StateMachineStore<M>>,
        stopping: tokio::sync::watch::Receiver<bool>,
    ) -> Self {
        Self { raft, stopping }
    }
}

fn raft_err<E: std::fmt::Display>(e: E) -> Status {
    Status::unavailable(format!("raft: {e}"))
}

/// Responses of one `StreamAppend` session.
pub(crate) type AppendStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<RaftMessage, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl<M: Machine> RaftService for RaftServiceImpl<M> {
    type StreamAppendStream = AppendStream;

    async fn stream_append(
        &self,
        req: Request<Streaming<RaftMessage>>,
    ) -> Result<Response<Self::StreamAppendStream>, Status> {
        use futures::StreamExt as _;
        // Requests are decoded as they arrive; the first undecodable one or transport error
        // ends the input, and the response stream then ends once everything before it is
        // answered (the leader opens a new session).
        let input = req.into_inner().scan((), |_, msg| {
            let rpc = match msg {
                Ok(m) => match decode::<AppendEntriesRequest<TypeConfig>>(&m.data, "AppendEntriesRequest") {
                    Ok(rpc) => Some(rpc),
                    Err(e) => {
                        tracing::warn!(error = %e, "StreamAppend: undecodable request; ending the session");
                        None
                    }
                },
                Err(_) => None,
            };
            std::future::ready(rpc)
        });
        // An idle session would otherwise outlive this node's Raft (the response stream only
        // notices a stopped core on the next request) and hold up the server's graceful stop.
        let mut stopping = self.stopping.clone();
        let stopped = async move {
            let _ = stopping.wait_for(|s| *s).await;
        };
        let out = self
            .raft
            .stream_append(input)
            .map(|r| match r {
                Ok(res) => encode(&res),
                Err(fatal) => Err(Status::unavailable(format!("raft: {fatal}"))),
            })
            .take_until(Box::pin(stopped));
        Ok(Response::new(Box::pin(out)))
    }

    async fn append_entries(
        &self,
        req: Request<RaftMessage>,
    ) -> Result<Response<RaftMessage>, Status> {
        let rpc = decode(&req.into_inner().data, "AppendEntriesRequest")?;
        let resp = self.raft.append_entries(rpc).await.map_err(raft_err)?;
        Ok(Response::new(encode(&resp)?))
    }

    async fn vote(&self, req: Request<RaftMessage>) -> Result<Response<RaftMessage>, Status> {
        let rpc = decode(&req.into_inner().data, "VoteRequest")?;
        let resp = self.raft.vote(rpc).await.map_err(raft_err)?;
        Ok(Response::new(encode(&resp)?))
    }

    async fn pre_vote(&self, req: Request<RaftMessage>) -> Result<Response<RaftMessage>, Status> {
        let rpc = decode(&req.into_inner().data, "PreVoteRequest")?;
        let resp = self.raft.pre_vote(rpc).await.map_err(raft_err)?;
        Ok(Response::new(encode(&resp)?))
    }

    async fn install_snapshot(
        &self,
        req: Request<Streaming<SnapshotChunk>>,
    ) -> Result<Response<RaftMessage>, Status> {
        let mut stream = req.into_inner();
        let mut header: Option<(Vote, SnapshotMeta)> = None;
        let mut data = Vec::new();
        while let Some(chunk) = stream.message().await? {
            if header.is_none() {
                if chunk.header.is_empty() {
                    return Err(Status::invalid_argument(
                        "first snapshot chunk must carry the header",
                    ));
                }
                header = Some(decode(&chunk.header, "snapshot header")?);
            }
            data.extend_from_slice(&chunk.data);
        }
        let (vote, meta) =
            header.ok_or_else(|| Status::invalid_argument("empty snapshot stream"))?;
        tracing::info!(last_log_id = ?meta.last_log_id, bytes = data.len(), "received snapshot");
        let snapshot = openraft::alias::SnapshotOf::<TypeConfig, Vec<u8>> {
            meta,
            snapshot: data,
        };
        let resp = self
            .raft
            .install_full_snapshot(vote, snapshot)
            .await
            .map_err(raft_err)?;
        Ok(Response::new(encode(&resp)?))
    }

    async fn transfer_leader(
        &self,
        req: Request<RaftMessage>,
    ) -> Result<Response<RaftMessage>, Status> {
        let rpc = decode(&req.into_inner().data, "TransferLeaderRequest")?;
        let resp = self
            .raft
            .handle_transfer_leader(rpc)
            .await
            .map_err(raft_err)?;
        Ok(Response::new(encode(&resp)?))
    }

    async fn read_index(
        &self,
        _req: Request<ReadIndexRequest>,
    ) -> Result<Response<ReadIndexResponse>, Status> {
        match self
            .raft
            .ensure_linearizable(openraft::ReadPolicy::ReadIndex)
            .await
        {
            Ok(read) => Ok(Response::new(ReadIndexResponse {
                read_index: read.log_id().index,
            })),
            Err(e) => Err(Status::unavailable(format!("read index: {e}"))),
        }
    }
}
