//! `kraft.v1.AdminService`: decode → handler → propose → encode. No logic lives here.

use std::sync::Arc;

use kraft_proto as pb;
use kraft_proto::admin_service_client::AdminServiceClient as Client;
use kraft_proto::admin_service_server::AdminService;
use tonic::{Request, Response, Status};
use tracing::instrument;

use super::Controller;
use super::convert;
use crate::handlers;
use crate::image::MetadataImage;

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

fn describe_cluster(ctl: &Controller, i: &MetadataImage) -> pb::DescribeClusterResponse {
    let d = handlers::describe_cluster(i);
    let status = ctl.node().status();
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
}

#[tonic::async_trait]
impl AdminService for AdminServiceImpl {
    #[instrument(skip_all, fields(rpc = "CreateTopics"))]
    async fn create_topics(
        &self,
        req: Request<pb::CreateTopicsRequest>,
    ) -> Result<Response<pb::CreateTopicsResponse>, Status> {
        let domain = convert::create_topics_from_pb(req.get_ref())?;
        let assignments = convert::create_topics_assignments_from_pb(req.get_ref());
        self.ctl
            .write_rpc(
                req,
                |i, ctx, _| handlers::create_topics_with_assignments(i, &domain, &assignments, ctx),
                |w| convert::create_topics_to_pb(w.reply),
                |ch, r| async move { Client::new(ch).create_topics(r).await },
            )
            .await
    }

    #[instrument(skip_all, fields(rpc = "ListTopics"))]
    async fn list_topics(
        &self,
        req: Request<pb::ListTopicsRequest>,
    ) -> Result<Response<pb::ListTopicsResponse>, Status> {
        self.ctl
            .read_rpc(
                req,
                |m| m.local,
                |i, _| convert::list_topics_to_pb(handlers::list_topics(i)),
                |ch, r| async move { Client::new(ch).list_topics(r).await },
            )
            .await
    }

    #[instrument(skip_all, fields(rpc = "DescribeTopics"))]
    async fn describe_topics(
        &self,
        req: Request<pb::DescribeTopicsRequest>,
    ) -> Result<Response<pb::DescribeTopicsResponse>, Status> {
        self.ctl
            .read_rpc(
                req,
                |m| m.local,
                |i, m| {
                    let names: Vec<String> = if m.names.is_empty() {
                        i.topics().names().map(str::to_string).collect()
                    } else {
                        m.names.clone()
                    };
                    convert::describe_topics_to_pb(handlers::describe_topics(i, &names))
                },
                |ch, r| async move { Client::new(ch).describe_topics(r).await },
            )
            .await
    }

    #[instrument(skip_all, fields(rpc = "DescribeCluster"))]
    async fn describe_cluster(
        &self,
        req: Request<pb::DescribeClusterRequest>,
    ) -> Result<Response<pb::DescribeClusterResponse>, Status> {
        let ctl = self.ctl.clone();
        self.ctl
            .read_rpc(
                req,
                |m| m.local,
                move |i, _| describe_cluster(&ctl, i),
                |ch, r| async move { Client::new(ch).describe_cluster(r).await },
            )
            .await
    }

    #[instrument(skip_all, fields(rpc = "CreatePartitions"))]
    async fn create_partitions(
        &self,
        req: Request<pb::CreatePartitionsRequest>,
    ) -> Result<Response<pb::CreatePartitionsResponse>, Status> {
        let domain = convert::create_partitions_from_pb(req.get_ref());
        self.ctl
            .write_rpc(
                req,
                |i, ctx, _| handlers::create_partitions(i, &domain, ctx),
                |w| convert::create_partitions_to_pb(w.reply),
                |ch, r| async move { Client::new(ch).create_partitions(r).await },
            )
            .await
    }

    #[instrument(skip_all, fields(rpc = "DeleteTopics"))]
    async fn delete_topics(
        &self,
        req: Request<pb::DeleteTopicsRequest>,
    ) -> Result<Response<pb::DeleteTopicsResponse>, Status> {
        let domain = convert::delete_topics_from_pb(req.get_ref())?;
        self.ctl
            .write_rpc(
                req,
                |i, _, _| handlers::delete_topics(i, &domain),
                |w| convert::delete_topics_to_pb(w.reply),
                |ch, r| async move { Client::new(ch).delete_topics(r).await },
            )
            .await
    }

    #[instrument(skip_all, fields(rpc = "ElectLeaders"))]
    async fn elect_leaders(
        &self,
        req: Request<pb::ElectLeadersRequest>,
    ) -> Result<Response<pb::ElectLeadersResponse>, Status> {
        let domain = convert::elect_leaders_from_pb(req.get_ref());
        self.ctl
            .write_rpc(
                req,
                |i, ctx, _| handlers::elect_leaders(i, &domain, ctx),
                |w| convert::elect_leaders_to_pb(w.reply),
                |ch, r| async move { Client::new(ch).elect_leaders(r).await },
            )
            .await
    }

    #[instrument(skip_all, fields(rpc = "DescribeConfigs"))]
    async fn describe_configs(
        &self,
        req: Request<pb::DescribeConfigsRequest>,
    ) -> Result<Response<pb::DescribeConfigsResponse>, Status> {
        let domain = convert::describe_configs_from_pb(req.get_ref())?;
        self.ctl
            .read_rpc(
                req,
                |_| false,
                |i, _| convert::describe_configs_to_pb(handlers::describe_configs(i, &domain)),
                |ch, r| async move { Client::new(ch).describe_configs(r).await },
            )
            .await
    }

    #[instrument(skip_all, fields(rpc = "IncrementalAlterConfigs"))]
    async fn incremental_alter_configs(
        &self,
        req: Request<pb::IncrementalAlterConfigsRequest>,
    ) -> Result<Response<pb::IncrementalAlterConfigsResponse>, Status> {
        let domain = convert::incremental_alter_configs_from_pb(req.get_ref())?;
        self.ctl
            .write_rpc(
                req,
                |i, ctx, _| {
                    handlers::incremental_alter_configs_with_limits(i, &domain, ctx.limits())
                },
                |w| convert::incremental_alter_configs_to_pb(w.reply),
                |ch, r| async move { Client::new(ch).incremental_alter_configs(r).await },
            )
            .await
    }

    #[instrument(skip_all, fields(rpc = "AlterPartitionReassignments"))]
    async fn alter_partition_reassignments(
        &self,
        req: Request<pb::AlterPartitionReassignmentsRequest>,
    ) -> Result<Response<pb::AlterPartitionReassignmentsResponse>, Status> {
        let domain = convert::alter_reassignments_from_pb(req.get_ref());
        self.ctl
            .write_rpc(
                req,
                |i, _, _| handlers::alter_partition_reassignments(i, &domain),
                |w| convert::alter_reassignments_to_pb(w.reply),
                |ch, r| async move { Client::new(ch).alter_partition_reassignments(r).await },
            )
            .await
    }

    #[instrument(skip_all, fields(rpc = "ListPartitionReassignments"))]
    async fn list_partition_reassignments(
        &self,
        req: Request<pb::ListPartitionReassignmentsRequest>,
    ) -> Result<Response<pb::ListPartitionReassignmentsResponse>, Status> {
        self.ctl
            .read_rpc(
                req,
                |_| false,
                |i, m| {
                    let filter: Vec<(String, Vec<i32>)> = m
                        .topics
                        .iter()
                        .map(|t| (t.topic.clone(), t.partitions.clone()))
                        .collect();
                    let filter = (!filter.is_empty()).then_some(filter.as_slice());
                    convert::list_reassignments_to_pb(handlers::list_partition_reassignments(
                        i, filter,
                    ))
                },
                |ch, r| async move { Client::new(ch).list_partition_reassignments(r).await },
            )
            .await
    }

    #[instrument(skip_all, fields(rpc = "DescribeFeatures"))]
    async fn describe_features(
        &self,
        req: Request<pb::DescribeFeaturesRequest>,
    ) -> Result<Response<pb::DescribeFeaturesResponse>, Status> {
        self.ctl
            .read_rpc(
                req,
                |_| false,
                |i, _| convert::describe_features_to_pb(handlers::describe_features(i)),
                |ch, r| async move { Client::new(ch).describe_features(r).await },
            )
            .await
    }

    #[instrument(skip_all, fields(rpc = "UpdateFeatures"))]
    async fn update_features(
        &self,
        req: Request<pb::UpdateFeaturesRequest>,
    ) -> Result<Response<pb::UpdateFeaturesResponse>, Status> {
        let domain = convert::update_features_from_pb(req.get_ref())?;
        self.ctl
            .write_rpc(
                req,
                |i, _, _| handlers::update_features(i, &domain),
                |w| convert::update_features_to_pb(w.reply),
                |ch, r| async move { Client::new(ch).update_features(r).await },
            )
            .await
    }

    #[instrument(skip_all, fields(rpc = "DescribeQuorum"))]
    async fn describe_quorum(
        &self,
        req: Request<pb::DescribeQuorumRequest>,
    ) -> Result<Response<pb::DescribeQuorumResponse>, Status> {
        let ctl = &self.ctl;
        ctl.leader_rpc(
            req,
            |_| async move { ctl.describe_quorum_pb() },
            |ch, r| async move { Client::new(ch).describe_quorum(r).await },
        )
        .await
    }

    #[instrument(skip_all, fields(rpc = "AddRaftVoter"))]
    async fn add_raft_voter(
        &self,
        req: Request<pb::AddRaftVoterRequest>,
    ) -> Result<Response<pb::AddRaftVoterResponse>, Status> {
        let ctl = &self.ctl;
        ctl.leader_rpc(
            req,
            |m| async move { ctl.add_voter_pb(&m).await },
            |ch, r| async move { Client::new(ch).add_raft_voter(r).await },
        )
        .await
    }

    #[instrument(skip_all, fields(rpc = "RemoveRaftVoter"))]
    async fn remove_raft_voter(
        &self,
        req: Request<pb::RemoveRaftVoterRequest>,
    ) -> Result<Response<pb::RemoveRaftVoterResponse>, Status> {
        let ctl = &self.ctl;
        ctl.leader_rpc(
            req,
            |m| async move { ctl.remove_voter_pb(&m).await },
            |ch, r| async move { Client::new(ch).remove_raft_voter(r).await },
        )
        .await
    }

    #[instrument(skip_all, fields(rpc = "TransferLeadership"))]
    async fn transfer_leadership(
        &self,
        req: Request<pb::TransferLeadershipRequest>,
    ) -> Result<Response<pb::TransferLeadershipResponse>, Status> {
        let ctl = &self.ctl;
        ctl.leader_rpc(
            req,
            |m| async move { ctl.transfer_leadership_pb(&m).await },
            |ch, r| async move { Client::new(ch).transfer_leadership(r).await },
        )
        .await
    }

    #[instrument(skip_all, fields(rpc = "DumpMetadata"))]
    async fn dump_metadata(
        &self,
        req: Request<pb::DumpMetadataRequest>,
    ) -> Result<Response<pb::DumpMetadataResponse>, Status> {
        Ok(Response::new(
            self.ctl.dump_metadata_pb(req.get_ref()).await?,
        ))
    }
}
