//! etcd as a bench target: a 3-member cluster of real `etcd` processes (Debian's
//! `etcd-server`), driven through etcd's own gRPC API (`etcdserverpb.KV/Put`), with watchers
//! on every key written (`etcdserverpb.Watch/Watch`), as kraftd's brokers stream every record.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tonic::transport::Channel;

use crate::driver::{Op, OpFuture};
use crate::procs::{EtcdCluster, wait_for};

/// etcd's v3 API messages (the slice in `proto/etcd/kv.proto`).
pub mod pb {
    #![allow(missing_docs, clippy::all)]
    tonic::include_proto!("etcdserverpb");
}

use pb::kv_client::KvClient;
use pb::maintenance_client::MaintenanceClient;
use pb::watch_client::WatchClient;

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

/// A running etcd cluster with channels to its leader and its watchers.
pub struct EtcdTarget {
    /// The processes (killed when this is dropped).
    cluster: EtcdCluster,
    channels: Vec<Channel>,
    watchers: Vec<Watcher>,
}

impl EtcdTarget {
    /// Starts 3 members and connects to the leader (clients of both systems talk to the
    /// leader, so neither pays a forwarding hop), then opens `watchers` watches on every key
    /// the bench writes, on the followers in turn (kraftd's brokers stream from a follower).
    pub async fn start(bin: PathBuf, watchers: usize) -> Result<Self> {
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
        let followers: Vec<&String> = urls.iter().filter(|u| **u != leader_url).collect();
        let mut started = Vec::new();
        for i in 0..watchers {
            let url = followers.get(i % followers.len().max(1)).copied();
            started.push(Watcher::start(url.unwrap_or(&leader_url)).await?);
        }
        Ok(Self {
            cluster,
            channels,
            watchers: started,
        })
    }

    /// Events the watchers have received, all together.
    pub fn watch_events(&self) -> u64 {
        self.watchers.iter().map(Watcher::events).sum()
    }

    /// Waits until every watcher has received at least `events` events, or `timeout` passed;
    /// returns the smallest count any watcher reached (`events` itself with no watchers).
    pub async fn wait_watched(&self, events: u64, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        loop {
            let least = self
                .watchers
                .iter()
                .map(Watcher::events)
                .min()
                .unwrap_or(events);
            if least >= events || Instant::now() >= deadline {
                return least;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Process ids of the members.
    pub fn pids(&self) -> Vec<u32> {
        self.cluster.group.pids()
    }

    /// An operation putting one key with a `value_len`-byte value per call.
    pub fn put_op(&self, run: &str, value_len: usize) -> Op {
        let channels = self.channels.clone();
        let run = run.to_string();
        let value: Vec<u8> = (0..value_len).map(|i| b'a' + (i % 26) as u8).collect();
        Box::new(move |c, seq| -> OpFuture {
            let mut kv = KvClient::new(channels[c % channels.len()].clone());
            let req = pb::PutRequest {
                key: format!("/{run}/{c}/{seq}").into_bytes(),
                value: value.clone(),
                lease: 0,
                prev_kv: false,
            };
            Box::pin(async move { kv.put(req).await.map(drop).map_err(|e| e.to_string()) })
        })
    }

    /// Puts `key` once with a `value_len`-byte value (what [`EtcdTarget::range_op`] reads).
    pub async fn put_once(&self, key: &str, value_len: usize) -> Result<()> {
        let mut kv = KvClient::new(self.channels[0].clone());
        kv.put(pb::PutRequest {
            key: key.as_bytes().to_vec(),
            value: vec![b'v'; value_len],
            lease: 0,
            prev_kv: false,
        })
        .await
        .with_context(|| format!("put {key}"))?;
        Ok(())
    }

    /// An operation reading `key` (one `Range`): `linearizable` is etcd's default read (a
    /// quorum round, ReadIndex, before the answer), otherwise a serializable read that the
    /// member answers from its own store.
    pub fn range_op(&self, key: &str, linearizable: bool) -> Op {
        let channels = self.channels.clone();
        let key = key.as_bytes().to_vec();
        Box::new(move |c, _seq| -> OpFuture {
            let mut kv = KvClient::new(channels[c % channels.len()].clone());
            let req = pb::RangeRequest {
                key: key.clone(),
                range_end: Vec::new(),
                limit: 0,
                revision: 0,
                serializable: !linearizable,
            };
            Box::pin(async move {
                let resp = kv.range(req).await.map_err(|e| e.to_string())?;
                if resp.get_ref().kvs.len() == 1 {
                    Ok(())
                } else {
                    Err(format!(
                        "Range: {} keys, expected 1",
                        resp.get_ref().kvs.len()
                    ))
                }
            })
        })
    }
}

/// A watch on every key the bench writes (prefix `/`), keeping what it sees in a map, as a
/// broker keeps the metadata image it streams: the etcd side of kraftd's metadata stream.
struct Watcher {
    events: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Watcher {
    /// Opens the watch on `url` and returns once etcd confirmed it.
    async fn start(url: &str) -> Result<Self> {
        // No per-call timeout: the call is the whole watch.
        let channel = Channel::from_shared(url.to_string())?
            .connect_timeout(CONNECT_TIMEOUT)
            .connect()
            .await
            .with_context(|| format!("connect to etcd at {url}"))?;
        let (requests, rx) = tokio::sync::mpsc::channel(1);
        requests
            .send(pb::WatchRequest {
                request_union: Some(pb::watch_request::RequestUnion::CreateRequest(
                    pb::WatchCreateRequest {
                        key: b"/".to_vec(),
                        range_end: b"0".to_vec(),
                        start_revision: 0,
                    },
                )),
            })
            .await
            .context("queue the watch request")?;
        let mut stream = tokio::time::timeout(
            CALL_TIMEOUT,
            WatchClient::new(channel).watch(tokio_stream::wrappers::ReceiverStream::new(rx)),
        )
        .await
        .with_context(|| format!("watch on {url}: no answer in {CALL_TIMEOUT:?}"))?
        .with_context(|| format!("watch on {url}"))?
        .into_inner();
        let created = tokio::time::timeout(CALL_TIMEOUT, stream.message())
            .await
            .with_context(|| format!("watch on {url}: not created in {CALL_TIMEOUT:?}"))??
            .with_context(|| format!("watch on {url}: stream ended"))?;
        if !created.created || created.canceled {
            bail!(
                "watch on {url} not created: {}",
                created.cancel_reason.as_str()
            );
        }
        let events = Arc::new(AtomicU64::new(0));
        let seen = events.clone();
        let task = tokio::spawn(async move {
            // Holding the sender keeps the request half of the stream open.
            let _requests = requests;
            let mut image = HashMap::new();
            while let Ok(Some(response)) = stream.message().await {
                let n = response.events.len() as u64;
                for kv in response.events.into_iter().filter_map(|e| e.kv) {
                    image.insert(kv.key, kv.value);
                }
                seen.fetch_add(n, Ordering::Relaxed);
            }
        });
        Ok(Self { events, task })
    }

    fn events(&self) -> u64 {
        self.events.load(Ordering::Relaxed)
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
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
