//! etcd as a bench target: a 3-member cluster of real `etcd` processes (Debian's
//! `etcd-server`), driven through etcd's own gRPC API (`etcdserverpb.KV/Put`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tonic::transport::Channel;

use crate::procs::{EtcdCluster, wait_for};

/// etcd's v3 API messages (the slice in `proto/etcd/kv.proto`).
pub mod pb {
    #![allow(missing_docs, clippy::all)]
    tonic::include_proto!("etcdserverpb");
}

use pb::kv_client::KvClient;
use pb::maintenance_client::MaintenanceClient;

/// Connections the clients are spread over, as for kraftd.
const CONNECTIONS: usize = 4;

/// Connect timeout to a member.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Per-call timeout, as kraftd's bench client has (`kraft::client_config`). etcd accepts
/// connections before it serves them (until it has joined its cluster), so an unbounded call
/// to a member that never gets there would wait forever.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection to `url` with the bench's connect and per-call timeouts.
async fn connect(url: &str) -> Result<Channel> {
    Channel::from_shared(url.to_string())?
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(CALL_TIMEOUT)
        .connect()
        .await
        .with_context(|| format!("connect to etcd at {url}"))
}

/// A running etcd cluster with channels to its leader.
pub struct EtcdTarget {
    /// The processes (killed when this is dropped).
    cluster: EtcdCluster,
    channels: Vec<Channel>,
}

impl EtcdTarget {
    /// Starts 3 members and connects to the leader (clients of both systems talk to the
    /// leader, so neither pays a forwarding hop).
    pub async fn start(bin: PathBuf) -> Result<Self> {
        let cluster = EtcdCluster::start(bin, 3)?;
        let urls = cluster.client_urls.clone();
        let leader_url = match wait_for("an etcd leader", Duration::from_secs(30), || {
            let urls = urls.clone();
            async move { find_leader(&urls).await }
        })
        .await
        {
            Ok(u) => u,
            Err(e) => bail!("{e:#}\netcd member 1 log:\n{}", cluster.group.log_tail(0)),
        };
        let mut channels = Vec::new();
        for _ in 0..CONNECTIONS {
            channels.push(connect(&leader_url).await?);
        }
        Ok(Self { cluster, channels })
    }

    /// Process ids of the members.
    pub fn pids(&self) -> Vec<u32> {
        self.cluster.group.pids()
    }

    /// An operation putting one key with a `value_len`-byte value per call.
    pub fn put_op(
        &self,
        run: &str,
        value_len: usize,
    ) -> impl Fn(usize, u64) -> futures::future::BoxFuture<'static, Result<(), String>>
    + Send
    + Sync
    + 'static {
        let channels = self.channels.clone();
        let run = run.to_string();
        let value: Vec<u8> = (0..value_len).map(|i| b'a' + (i % 26) as u8).collect();
        move |c, seq| {
            let mut kv = KvClient::new(channels[c % channels.len()].clone());
            let req = pb::PutRequest {
                key: format!("/{run}/{c}/{seq}").into_bytes(),
                value: value.clone(),
                lease: 0,
                prev_kv: false,
            };
            Box::pin(async move { kv.put(req).await.map(drop).map_err(|e| e.to_string()) })
        }
    }
}

/// The client URL of the member that leads, once every member agrees on a leader.
async fn find_leader(urls: &[String]) -> Result<String> {
    let mut leader = None;
    let mut members = Vec::new();
    for u in urls {
        let s = MaintenanceClient::new(connect(u).await?)
            .status(pb::StatusRequest {})
            .await?
            .into_inner();
        if s.leader == 0 {
            bail!("{u}: no leader yet");
        }
        if leader.is_some_and(|l| l != s.leader) {
            bail!("members disagree on the leader");
        }
        leader = Some(s.leader);
        members.push((s.header.map(|h| h.member_id).unwrap_or(0), u.clone()));
    }
    let l = leader.context("no members")?;
    members
        .into_iter()
        .find(|(id, _)| *id == l)
        .map(|(_, u)| u)
        .context("leader is not one of the members")
}
