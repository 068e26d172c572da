//! `kraft.v1.BrokerService`: registration, heartbeats, ISR changes, producer ids.

use std::sync::Arc;

use kraft_proto as pb;
use kraft_proto::broker_service_client::BrokerServiceClient as Client;
use kraft_proto::broker_service_server::BrokerService;
use tonic::{Request, Response, Status};
use tracing::{info, instrument};

use super::Controller;
use super::convert::{self, item_error};
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
    type FetchMetadataStream = super::fetch_metadata::FetchMetadataStream;

    /// Served by every controller from its own applied log (no forwarding).
    #[instrument(skip_all, fields(rpc = "FetchMetadata", offset = req.get_ref().offset))]
    async fn fetch_metadata(
        &self,
        req: Request<pb::FetchMetadataRequest>,
    ) -> Result<Response<Self::FetchMetadataStream>, Status> {
        let offset = req.get_ref().offset;
        if offset < -1 {
            return Err(super::ControllerError::invalid(
                "offset",
                format!("{offset} is neither -1 (nothing applied) nor a log offset (>= 0)"),
            )
            .into());
        }
        Ok(Response::new(super::fetch_metadata::fetch_metadata(
            self.ctl.clone(),
            req.into_inner(),
        )))
    }

    #[instrument(skip_all, fields(rpc = "RegisterBroker", broker_id = req.get_ref().broker_id))]
    async fn register_broker(
        &self,
        req: Request<pb::RegisterBrokerRequest>,
    ) -> Result<Response<pb::RegisterBrokerResponse>, Status> {
        crate::auth::check_broker_id(&req, req.get_ref().broker_id)?;
        let domain = convert::register_broker_from_pb(req.get_ref())?;
        let ctl = self.ctl.clone();
        self.ctl
            .write_rpc(
                req,
                |i, ctx, hb| handlers::register_broker_with_sessions(i, &domain, hb, ctx),
                move |w| {
                    let r = w.reply;
                    // A new incarnation's epoch is the offset of its registration record,
                    // assigned at apply: read it back from the image.
                    let epoch = match r.broker_epoch {
                        Some(e) => Some(e),
                        None if r.error_code == ErrorCode::None => ctl.read_local(|i| {
                            i.broker(domain.broker_id)
                                .filter(|b| b.incarnation_id == domain.incarnation_id)
                                .map(|b| b.broker_epoch)
                        }),
                        None => None,
                    };
                    if let Some(e) = epoch {
                        info!(broker_id = domain.broker_id.0, broker_epoch = e.0, offset = ?w.offset, "registered broker");
                    }
                    pb::RegisterBrokerResponse {
                        error: item_error(r.error_code, r.error_message),
                        broker_epoch: epoch.map(|e| e.0).unwrap_or(-1),
                    }
                },
                |ch, r| async move { Client::new(ch).register_broker(r).await },
            )
            .await
    }

    #[instrument(skip_all, fields(rpc = "BrokerHeartbeat", broker_id = req.get_ref().broker_id))]
    async fn broker_heartbeat(
        &self,
        req: Request<pb::BrokerHeartbeatRequest>,
    ) -> Result<Response<pb::BrokerHeartbeatResponse>, Status> {
        crate::auth::check_broker_id(&req, req.get_ref().broker_id)?;
        let msg = req.get_ref();
        let domain = handlers::BrokerHeartbeat {
            broker_id: BrokerId(msg.broker_id),
            broker_epoch: BrokerEpoch(msg.broker_epoch),
            current_metadata_offset: msg.current_metadata_offset,
            want_fence: msg.want_fence,
            want_shutdown: msg.want_shut_down,
        };
        let fwd = super::forward::is_forwarded(&req);
        let msg = req.into_inner();
        let out = self
            .ctl
            .on_leader(
                fwd,
                || async {
                    let w = self
                        .ctl
                        .write_then(
                            |i, ctx, hb| {
                                handlers::broker_heartbeat_with_sessions(i, &domain, hb, ctx)
                            },
                            |hb, reply, offset| {
                                // The batch that moved the broker into controlled shutdown
                                // fixes the offset the other brokers must reach first.
                                if let (true, Some(o)) = (reply.in_controlled_shutdown, offset) {
                                    hb.set_controlled_shutdown_offset(domain.broker_id, o);
                                }
                            },
                        )
                        .await?;
                    let r = w.reply;
                    Ok(pb::BrokerHeartbeatResponse {
                        error: item_error(r.error_code, r.error_message),
                        is_caught_up: r.is_caught_up,
                        is_fenced: r.is_fenced,
                        should_shut_down: r.should_shut_down,
                    })
                },
                |ch| async move {
                    Ok(Client::new(ch)
                        .broker_heartbeat(super::forward::forwarded(msg))
                        .await?
                        .into_inner())
                },
            )
            .await?;
        Ok(Response::new(out))
    }

    #[instrument(skip_all, fields(rpc = "UnregisterBroker", broker_id = req.get_ref().broker_id))]
    async fn unregister_broker(
        &self,
        req: Request<pb::UnregisterBrokerRequest>,
    ) -> Result<Response<pb::UnregisterBrokerResponse>, Status> {
        let domain = handlers::UnregisterBroker {
            broker_id: BrokerId(req.get_ref().broker_id),
        };
        self.ctl
            .write_rpc(
                req,
                |i, ctx, hb| handlers::unregister_broker(i, &domain, hb, ctx),
                |w| pb::UnregisterBrokerResponse {
                    error: item_error(w.reply.error_code, w.reply.error_message),
                },
                |ch, r| async move { Client::new(ch).unregister_broker(r).await },
            )
            .await
    }

    #[instrument(skip_all, fields(rpc = "AlterPartition", broker_id = req.get_ref().broker_id))]
    async fn alter_partition(
        &self,
        req: Request<pb::AlterPartitionRequest>,
    ) -> Result<Response<pb::AlterPartitionResponse>, Status> {
        crate::auth::check_broker_id(&req, req.get_ref().broker_id)?;
        let domain = convert::alter_partition_from_pb(req.get_ref())?;
        self.ctl
            .write_rpc(
                req,
                |i, ctx, _| handlers::alter_partition(i, &domain, ctx),
                |w| convert::alter_partition_to_pb(w.reply),
                |ch, r| async move { Client::new(ch).alter_partition(r).await },
            )
            .await
    }

    #[instrument(skip_all, fields(rpc = "AllocateProducerIds", broker_id = req.get_ref().broker_id))]
    async fn allocate_producer_ids(
        &self,
        req: Request<pb::AllocateProducerIdsRequest>,
    ) -> Result<Response<pb::AllocateProducerIdsResponse>, Status> {
        crate::auth::check_broker_id(&req, req.get_ref().broker_id)?;
        let domain = handlers::AllocateProducerIds {
            broker_id: BrokerId(req.get_ref().broker_id),
            broker_epoch: BrokerEpoch(req.get_ref().broker_epoch),
        };
        self.ctl
            .write_rpc(
                req,
                |i, _, _| handlers::allocate_producer_ids(i, &domain),
                |w| pb::AllocateProducerIdsResponse {
                    error: item_error(w.reply.error_code, w.reply.error_message),
                    producer_id_start: w.reply.producer_id_start,
                    producer_id_len: w.reply.producer_id_len,
                },
                |ch, r| async move { Client::new(ch).allocate_producer_ids(r).await },
            )
            .await
    }
}
