//! The one shape every RPC takes: route to the active controller, run the handler (a write
//! through [`Controller::write`] or a linearizable read), encode. Service methods only supply
//! the decode, the handler, the encode and the forwarding call.

use std::future::Future;

use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use super::forward::{forwarded, is_forwarded};
use super::{Controller, ControllerError, Written};
use crate::ctx::Ctx;
use crate::handlers::ControllerResult;
use crate::heartbeats::BrokerHeartbeatManager;
use crate::image::MetadataImage;

impl Controller {
    /// A write RPC: `handler` runs on the active controller under the single-writer lock; its
    /// records are committed before `encode` builds the reply. On other controllers the RPC is
    /// forwarded with `remote`.
    pub async fn write_rpc<Req, Resp, R, H, E, F, FF>(
        &self,
        req: Request<Req>,
        handler: H,
        encode: E,
        remote: F,
    ) -> Result<Response<Resp>, Status>
    where
        Req: Clone,
        H: Fn(&MetadataImage, &mut Ctx, &mut BrokerHeartbeatManager) -> ControllerResult<R>,
        E: Fn(Written<R>) -> Resp,
        F: Fn(Channel, Request<Req>) -> FF,
        FF: Future<Output = Result<Response<Resp>, Status>>,
    {
        let fwd = is_forwarded(&req);
        let msg = req.into_inner();
        self.on_leader(
            fwd,
            || async { Ok(encode(self.write(|i, c, h| handler(i, c, h)).await?)) },
            |ch| {
                let call = remote(ch, forwarded(msg.clone()));
                async move { Ok(call.await?.into_inner()) }
            },
        )
        .await
        .map(Response::new)
    }

    /// A read RPC: with `local` (stale_ok), answered from this controller's applied image;
    /// otherwise linearizable on this controller, whichever it is: the leader confirms its
    /// leadership with a quorum, a follower first applies up to the leader's read index.
    /// Retried through elections until the routing deadline.
    pub async fn read_rpc<Req, Resp, Q, F, FF>(
        &self,
        req: Request<Req>,
        local: impl Fn(&Req) -> bool,
        read: Q,
        _remote: F,
    ) -> Result<Response<Resp>, Status>
    where
        Req: Clone,
        Q: Fn(&MetadataImage, &Req) -> Resp,
        F: Fn(Channel, Request<Req>) -> FF,
        FF: Future<Output = Result<Response<Resp>, Status>>,
    {
        self.read_rpc_inner(req, local, read).await
    }

    async fn read_rpc_inner<Req, Resp, Q>(
        &self,
        req: Request<Req>,
        local: impl Fn(&Req) -> bool,
        read: Q,
    ) -> Result<Response<Resp>, Status>
    where
        Q: Fn(&MetadataImage, &Req) -> Resp,
    {
        let msg = req.into_inner();
        if local(&msg) {
            return Ok(Response::new(self.read_local(|i| read(i, &msg))));
        }
        let deadline = tokio::time::Instant::now() + super::forward::ROUTE_DEADLINE;
        let mut backoff = std::time::Duration::from_millis(20);
        loop {
            match self.read_linearizable(|i| read(i, &msg)).await {
                Ok(out) => return Ok(Response::new(out)),
                // A hint: the caller goes to the leader itself (our clients follow it).
                Err(e @ ControllerError::NotController { leader: Some(_) }) => return Err(e.into()),
                Err(
                    e @ (ControllerError::NotController { leader: None }
                    | ControllerError::Timeout(_)),
                ) => {
                    if tokio::time::Instant::now() + backoff >= deadline {
                        return Err(e.into());
                    }
                    let _ = self.node().wait_for_leader(backoff).await;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(std::time::Duration::from_millis(500));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}
