//! The one place that routes an RPC to the active controller.
//!
//! A controller that receives a write (or a non-local read) while it is not active forwards
//! the whole RPC to the active controller over the peer channel it already keeps for Raft.
//! A forwarded request carries [`FORWARDED_HEADER`]; it is never forwarded a second time: a
//! controller that receives one while not active answers `NOT_CONTROLLER` with a leader hint,
//! and the first hop retries against the new leader until its deadline.

use std::future::Future;
use std::time::Duration;

use tonic::transport::Channel;
use tonic::{Request, Status};
use tracing::debug;

use super::{Controller, ControllerError};

/// Metadata key marking a request forwarded by another controller.
pub const FORWARDED_HEADER: &str = "kraft-forwarded";

/// How long a controller keeps trying to reach an active controller for one request.
pub const ROUTE_DEADLINE: Duration = Duration::from_secs(15);

/// True when `req` was forwarded by another controller.
pub fn is_forwarded<T>(req: &Request<T>) -> bool {
    req.metadata().contains_key(FORWARDED_HEADER)
}

/// Builds the request a controller forwards to the active one. It carries the request id
/// of the RPC being served, so both controllers log the same id.
pub fn forwarded<T>(msg: T) -> Request<T> {
    let mut req = Request::new(msg);
    req.metadata_mut().insert(
        FORWARDED_HEADER,
        tonic::metadata::MetadataValue::from_static("1"),
    );
    if let Some(id) = crate::rpc_layer::current_request_id() {
        req.metadata_mut()
            .insert(crate::rpc_layer::REQUEST_ID_HEADER, id);
    }
    req.set_timeout(super::WRITE_TIMEOUT + Duration::from_secs(5));
    req
}

impl Controller {
    /// Runs `local` here when this controller is active; otherwise runs `remote` against the
    /// active controller. Retries through elections until [`ROUTE_DEADLINE`].
    pub async fn on_leader<T, L, LF, F, FF>(
        &self,
        forwarded: bool,
        local: L,
        remote: F,
    ) -> Result<T, Status>
    where
        L: Fn() -> LF,
        LF: Future<Output = Result<T, ControllerError>>,
        F: Fn(Channel) -> FF,
        FF: Future<Output = Result<T, Status>>,
    {
        let deadline = tokio::time::Instant::now() + ROUTE_DEADLINE;
        let mut backoff = Duration::from_millis(20);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let leader = self.node.wait_for_leader(left).await;
            let mut failed_leader = None;
            let last_error: Status = match leader {
                None => ControllerError::NotController { leader: None }.into(),
                Some(l) if l.node_id == self.node.id() => match local().await {
                    Err(ControllerError::NotController { leader }) if !forwarded => {
                        ControllerError::NotController { leader }.into()
                    }
                    other => return other.map_err(Status::from),
                },
                Some(l) if forwarded => {
                    return Err(ControllerError::NotController { leader: Some(l) }.into());
                }
                Some(l) => {
                    let channel = self
                        .node
                        .channel(&l.endpoint)
                        .map_err(|e| Status::internal(e.to_string()))?;
                    match remote(channel).await {
                        Err(s) if s.code() == tonic::Code::Unavailable => {
                            debug!(leader = l.node_id, status = %s, "forward failed; retrying");
                            failed_leader = Some(l.node_id);
                            s
                        }
                        other => return other,
                    }
                }
            };
            if tokio::time::Instant::now() + backoff >= deadline {
                return Err(last_error);
            }
            // Back off before asking again: an election is in progress or the leader moved.
            // When the leader we forwarded to did not answer (killed, stepped down), go again
            // as soon as another leader is known instead of sleeping the whole backoff: the
            // election's end, not the backoff, then sets the failover time.
            match failed_leader {
                Some(failed) => self.wait_for_other_leader(failed, backoff).await,
                None => tokio::time::sleep(backoff).await,
            }
            backoff = (backoff * 2).min(Duration::from_millis(500));
        }
    }

    /// Waits up to `timeout` until this node knows a leader other than `failed` (this node
    /// itself included).
    async fn wait_for_other_leader(&self, failed: u64, timeout: Duration) {
        use openraft::async_runtime::WatchReceiver as _;
        let mut metrics = self.node.raft().metrics();
        let until = tokio::time::Instant::now() + timeout;
        loop {
            if self.node.leader().is_some_and(|l| l.node_id != failed) {
                return;
            }
            match tokio::time::timeout_at(until, metrics.changed()).await {
                Ok(Ok(())) => {}
                // Timed out, or the Raft node is shutting down.
                Ok(Err(_)) | Err(_) => return,
            }
        }
    }
}

impl Controller {
    /// An RPC that must run on the active controller and is not a metadata write (quorum
    /// operations): `local(msg)` runs here when this controller is active, otherwise the RPC
    /// is forwarded with `remote`.
    pub async fn leader_rpc<Req, Resp, L, LF, F, FF>(
        &self,
        req: Request<Req>,
        local: L,
        remote: F,
    ) -> Result<tonic::Response<Resp>, Status>
    where
        Req: Clone,
        L: Fn(Req) -> LF,
        LF: Future<Output = Result<Resp, ControllerError>>,
        F: Fn(Channel, Request<Req>) -> FF,
        FF: Future<Output = Result<tonic::Response<Resp>, Status>>,
    {
        let fwd = is_forwarded(&req);
        let msg = req.into_inner();
        let out = self
            .on_leader(
                fwd,
                || local(msg.clone()),
                |ch| {
                    let call = remote(ch, forwarded(msg.clone()));
                    async move { Ok(call.await?.into_inner()) }
                },
            )
            .await?;
        Ok(tonic::Response::new(out))
    }
}
