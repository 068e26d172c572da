//! `kraft.v1.AdminService`: decode → handler → propose → encode. No logic lives here.

use std::sync::Arc;

use kraft_proto as pb;
use kraft_proto::admin_service_client::AdminServiceClient;
use kraft_proto::admin_service_server::AdminService;
use tonic::{Request, Response, Status};
use tracing::instrument;

use super::Controller;
use super::convert;
use super::forward::{forwarded, is_forwarded};
use crate::handlers;

/// The operator API.
pub struct AdminServiceImpl {
    ctl: Arc<Controller>,
}

impl AdminServiceImpl {
    /// Serves `ctl`.
    pub fn new(ctl: Arc<Controller>) -> Self {
        Self { ctl }
    }
}

#[tonic::async_trait]
impl AdminService for AdminServiceImpl {
    #[instrument(skip_all, fields(rpc = "CreateTopics"))]
    async fn create_topics(
        &self,
        req: Request<pb::CreateTopicsRequest>,
    ) -> Result<Response<pb::CreateTopicsResponse>, Status> {
        let fwd = is_forwarded(&req);
        let msg = req.into_inner();
        let domain = convert::create_topics_from_pb(&msg)?;
        let out = self
            .ctl
            .on_leader(
                fwd,
                || async {
                    let w = self
                        .ctl
                        .write(|image, ctx| handlers::create_topics(image, &domain, ctx))
                        .await?;
                    Ok(convert::create_topics_to_pb(w.reply))
                },
                |ch| {
                    let msg = msg.clone();
                    async move {
                        Ok(AdminServiceClient::new(ch)
                            .create_topics(forwarded(msg))
                            .await?
                            .into_inner())
                    }
                },
            )
            .await?;
        Ok(Response::new(out))
    }

    #[instrument(skip_all, fields(rpc = "ListTopics"))]
    async fn list_topics(
        &self,
        req: Request<pb::ListTopicsRequest>,
    ) -> Result<Response<pb::ListTopicsResponse>, Status> {
        let fwd = is_forwarded(&req);
        let msg = req.into_inner();
        if msg.local {
            return Ok(Response::new(self.ctl.read_local(|i| {
                convert::list_topics_to_pb(handlers::list_topics(i))
            })));
        }
        let out = self
            .ctl
            .on_leader(
                fwd,
                || async {
                    self.ctl
                        .read_linearizable(|i| convert::list_topics_to_pb(handlers::list_topics(i)))
                        .await
                },
                |ch| {
                    let msg = msg.clone();
                    async move {
                        Ok(AdminServiceClient::new(ch)
                            .list_topics(forwarded(msg))
                            .await?
                            .into_inner())
                    }
                },
            )
            .await?;
        Ok(Response::new(out))
    }

    #[instrument(skip_all, fields(rpc = "DescribeTopics"))]
    async fn describe_topics(
        &self,
        req: Request<pb::DescribeTopicsRequest>,
    ) -> Result<Response<pb::DescribeTopicsResponse>, Status> {
        let fwd = is_forwarded(&req);
        let msg = req.into_inner();
        let describe = |i: &crate::image::MetadataImage| {
            let names: Vec<String> = if msg.names.is_empty() {
                i.topics().by_name().keys().cloned().collect()
            } else {
                msg.names.clone()
            };
            convert::describe_topics_to_pb(handlers::describe_topics(i, &names))
        };
        if msg.local {
            return Ok(Response::new(self.ctl.read_local(describe)));
        }
        let out = self
            .ctl
            .on_leader(
                fwd,
                || async { self.ctl.read_linearizable(describe).await },
                |ch| {
                    let msg = msg.clone();
                    async move {
                        Ok(AdminServiceClient::new(ch)
                            .describe_topics(forwarded(msg))
                            .await?
                            .into_inner())
                    }
                },
            )
            .await?;
        Ok(Response::new(out))
    }

    #[instrument(skip_all, fields(rpc = "DescribeCluster"))]
    async fn describe_cluster(
        &self,
        req: Request<pb::DescribeClusterRequest>,
    ) -> Result<Response<pb::DescribeClusterResponse>, Status> {
        let fwd = is_forwarded(&req);
        let msg = req.into_inner();
        let describe = |i: &crate::image::MetadataImage| {
            let d = handlers::describe_cluster(i);
            let status = self.ctl.node().status();
            pb::DescribeClusterResponse {
                cluster_id: d.cluster_id.clone().unwrap_or_default(),
                active_controller_id: status.leader.as_ref().map(|l| l.node_id).unwrap_or(0),
                active_controller_endpoint: status
                    .leader
                    .as_ref()
                    .map(|l| l.endpoint.clone())
                    .unwrap_or_default(),
                voters: status
                    .voters
                    .iter()
                    .map(|(id, ep)| pb::Voter {
                        node_id: *id,
                        endpoint: ep.clone(),
                    })
                    .collect(),
                brokers: convert::brokers_to_pb(&d, i),
                metadata_offset: i.last_applied_offset(),
                answered_by: status.node_id,
            }
        };
        if msg.local {
            return Ok(Response::new(self.ctl.read_local(describe)));
        }
        let out = self
            .ctl
            .on_leader(
                fwd,
                || async { self.ctl.read_linearizable(describe).await },
                |ch| async move {
                    Ok(AdminServiceClient::new(ch)
                        .describe_cluster(forwarded(msg))
                        .await?
                        .into_inner())
                },
            )
            .await?;
        Ok(Response::new(out))
    }
}
