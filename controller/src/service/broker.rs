//! `kraft.v1.BrokerService`: registration and heartbeats.

use std::sync::Arc;

use kraft_proto as pb;
use kraft_proto::broker_service_client::BrokerServiceClient;
use kraft_proto::broker_service_server::BrokerService;
use tonic::{Request, Response, Status};
use tracing::{info, instrument};

use super::Controller;
use super::convert::{self, item_error};
use super::forward::{forwarded, is_forwarded};
use crate::error_code::ErrorCode;
use crate::handlers;
use crate::ids::{BrokerEpoch, BrokerId};

/// The broker-facing API.
pub struct BrokerServiceImpl {
    ctl: Arc<Controller>,
}

impl BrokerServiceImpl {
    /// Serves `ctl`.
    pub fn new(ctl: Arc<Controller>) -> Self {
        Self { ctl }
    }
}

#[tonic::async_trait]
impl BrokerService for BrokerServiceImpl {
    #[instrument(skip_all, fields(rpc = "RegisterBroker", broker_id = req.get_ref().broker_id))]
    async fn register_broker(
        &self,
        req: Request<pb::RegisterBrokerRequest>,
    ) -> Result<Response<pb::RegisterBrokerResponse>, Status> {
        let fwd = is_forwarded(&req);
        let msg = req.into_inner();
        let domain = convert::register_broker_from_pb(&msg)?;
        let out = self
            .ctl
            .on_leader(
                fwd,
                || async {
                    let w = self.ctl.write(|image, ctx| handlers::register_broker(image, &domain, ctx)).await?;
                    let r = w.reply;
                    // A new incarnation's epoch is the offset of its registration record,
                    // assigned at apply: read it back from the image.
                    let epoch = match r.broker_epoch {
                        Some(e) => Some(e),
                        None if r.error_code == ErrorCode::None => {
                            self.ctl.read_local(|i| i.broker(BrokerId(msg.broker_id)).map(|b| b.broker_epoch))
                        }
                        None => None,
                    };
                    if let Some(e) = epoch {
                        info!(broker_id = msg.broker_id, broker_epoch = e.0, offset = ?w.offset, "registered broker");
                    }
                    Ok(pb::RegisterBrokerResponse {
                        error: item_error(r.error_code, r.error_message),
                        broker_epoch: epoch.map(|e| e.0).unwrap_or(-1),
                    })
                },
                |ch| {
                    let msg = msg.clone();
                    async move { Ok(BrokerServiceClient::new(ch).register_broker(forwarded(msg)).await?.into_inner()) }
                },
            )
            .await?;
        Ok(Response::new(out))
    }

    #[instrument(skip_all, fields(rpc = "BrokerHeartbeat", broker_id = req.get_ref().broker_id))]
    async fn broker_heartbeat(
        &self,
        req: Request<pb::BrokerHeartbeatRequest>,
    ) -> Result<Response<pb::BrokerHeartbeatResponse>, Status> {
        let fwd = is_forwarded(&req);
        let msg = req.into_inner();
        let domain = handlers::BrokerHeartbeat {
            broker_id: BrokerId(msg.broker_id),
            broker_epoch: BrokerEpoch(msg.broker_epoch),
            current_metadata_offset: msg.current_metadata_offset,
            want_fence: msg.want_fence,
            want_shutdown: msg.want_shut_down,
        };
        let out = self
            .ctl
            .on_leader(
                fwd,
                || async {
                    let w = self
                        .ctl
                        .write(|image, ctx| handlers::broker_heartbeat(image, &domain, ctx))
                        .await?;
                    let r = w.reply;
                    Ok(pb::BrokerHeartbeatResponse {
                        error: item_error(r.error_code, r.error_message),
                        is_caught_up: r.is_caught_up,
                        is_fenced: r.is_fenced,
                        should_shut_down: r.should_shut_down,
                    })
                },
                |ch| {
                    let msg = msg.clone();
                    async move {
                        Ok(BrokerServiceClient::new(ch)
                            .broker_heartbeat(forwarded(msg))
                            .await?
                            .into_inner())
                    }
                },
            )
            .await?;
        Ok(Response::new(out))
    }
}
