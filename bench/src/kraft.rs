//! kraftd as a bench target: a 3-voter quorum of real processes, three simulated brokers
//! (registered, heartbeating, unfenced) and the two write shapes.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use kraft_client::proto::{
    AlterPartitionRequestPartition, AlterPartitionRequestTopic, BrokerIdAndEpoch, CreatableTopic,
    CreateTopicsRequest,
};
use kraft_client::simulate::{BrokerSimulator, SimulatorConfig};
use kraft_client::{Client, ClientConfig};

use crate::driver::{Op, OpFuture};
use crate::procs::{KraftCluster, wait_for};

/// Connections the clients of a run are spread over (HTTP/2 multiplexes each).
const CONNECTIONS: usize = 4;

/// A running kraftd quorum with brokers.
pub struct KraftTarget {
    /// The processes.
    pub cluster: KraftCluster,
    /// Admin/broker clients, one connection each.
    pub clients: Vec<Client>,
    sim: BrokerSimulator,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

/// Client settings for the bench: fast retries, so a failover is seen at its true length.
pub fn client_config() -> ClientConfig {
    ClientConfig {
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(10),
        retry_deadline: Duration::from_secs(15),
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(50),
        ..ClientConfig::default()
    }
}

/// Waits until the quorum answers a linearizable DescribeCluster with a cluster id.
pub async fn wait_ready(bootstrap: &str, timeout: Duration) -> Result<Client> {
    wait_for("a kraftd active controller", timeout, || async {
        let c = Client::connect_with(bootstrap, client_config()).await?;
        let d = c.describe_cluster(false).await?;
        if d.cluster_id.is_empty() {
            bail!("no cluster id yet");
        }
        Ok(c)
    })
    .await
}

impl KraftTarget {
    /// Starts the quorum (each node with `extra` flags) and 3 unfenced brokers.
    pub async fn start(bin: PathBuf, extra: &[String]) -> Result<Self> {
        // Diagnostics: KRAFT_BENCH_METRICS_PORT=P serves node i's Prometheus metrics on
        // 127.0.0.1:P+i while the run lasts (e.g. the log's append and fsync histograms).
        let metrics_base = std::env::var("KRAFT_BENCH_METRICS_PORT")
            .ok()
            .and_then(|p| p.parse::<u16>().ok());
        let cluster = KraftCluster::start_each(bin, 3, extra, |i| match metrics_base {
            Some(base) => vec![
                "--metrics-listen".into(),
                format!("127.0.0.1:{}", base as usize + i),
            ],
            None => Vec::new(),
        })?;
        let bootstrap = cluster.bootstrap();
        let client = match wait_ready(&bootstrap, Duration::from_secs(30)).await {
            Ok(c) => c,
            Err(e) => bail!("{e:#}\nnode 1 log:\n{}", cluster.group.log_tail(0)),
        };
        // Writes (and the simulated brokers' AlterPartition) go straight to the active
        // controller, as the etcd clients go to etcd's leader: a client on a follower pays a forwarding hop (any controller still answers).
        // The rest of the list stays behind it for failover.
        let write_bootstrap = match client.describe_cluster(false).await {
            Ok(d) if !d.active_controller_endpoint.is_empty() => {
                let mut list = vec![d.active_controller_endpoint.clone()];
                list.extend(
                    cluster
                        .addrs
                        .iter()
                        .filter(|a| **a != d.active_controller_endpoint)
                        .cloned(),
                );
                list.join(",")
            }
            _ => bootstrap.clone(),
        };
        let sim = BrokerSimulator::register(
            Client::connect_with(&write_bootstrap, client_config()).await?,
            SimulatorConfig {
                count: 3,
                interval: Duration::from_millis(500),
                // One metadata image in the load generator, not three: it shares the
                // controllers' two cores (the etcd side has no watchers at all).
                shared_cache: true,
                ..SimulatorConfig::default()
            },
        )
        .await
        .context("register simulated brokers")?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let runner = sim.clone();
        tokio::spawn(async move {
            runner
                .run(async {
                    let _ = stopped.await;
                })
                .await;
        });
        sim.wait_unfenced(Duration::from_secs(30))
            .await
            .context("brokers unfenced")?;
        let mut clients = Vec::new();
        for _ in 0..CONNECTIONS {
            clients.push(Client::connect_with(&write_bootstrap, client_config()).await?);
        }
        Ok(Self {
            cluster,
            clients,
            sim,
            stop: Some(stop),
        })
    }

    /// One client per connection, round robin by client index.
    pub fn client(&self, i: usize) -> Client {
        self.clients[i % self.clients.len()].clone()
    }

    /// An operation creating one topic of 1 partition, replication factor 3, per call.
    pub fn create_op(&self, run: &str) -> Op {
        let clients = self.clients.clone();
        let run = run.to_string();
        Box::new(move |c, seq| -> OpFuture {
            let client = clients[c % clients.len()].clone();
            let name = format!("{run}-{c}-{seq}");
            Box::pin(async move { create_topic(&client, &name, 1, 3).await })
        })
    }

    /// An operation reading the cluster (`DescribeCluster`) from the active controller:
    /// `linearizable` is the default read (the controller confirms its leadership with a
    /// quorum round, ReadIndex, before it answers), otherwise a local read of its image. No
    /// disk on either path: what a write costs besides its log append, fsync and apply.
    pub fn read_op(&self, linearizable: bool) -> Op {
        let clients = self.clients.clone();
        Box::new(move |c, _seq| -> OpFuture {
            let client = clients[c % clients.len()].clone();
            Box::pin(async move {
                let d = client
                    .describe_cluster(!linearizable)
                    .await
                    .map_err(|e| e.to_string())?;
                if d.cluster_id.is_empty() {
                    Err("DescribeCluster: no cluster id".into())
                } else {
                    Ok(())
                }
            })
        })
    }

    /// Creates one partition per client and returns an operation that flips that
    /// partition's ISR between all three replicas and two (an `AlterPartition` from its
    /// leader, with the epochs of the last answer).
    pub async fn isr_op(&self, run: &str, clients: usize) -> Result<Op> {
        let sessions = self.sim.sessions();
        let client = self.client(0);
        let mut parts = Vec::new();
        for c in 0..clients {
            let name = format!("{run}-isr-{c}");
            create_topic(&client, &name, 1, 3)
                .await
                .map_err(anyhow::Error::msg)?;
            let d = client.describe_topics([name.as_str()], false).await?;
            let t = d.topics.first().context("described topic")?;
            let p = t.partitions.first().context("partition 0")?;
            let leader = sessions
                .get(&p.leader)
                .with_context(|| format!("leader {} is a simulated broker", p.leader))?
                .clone();
            parts.push(Arc::new(IsrState {
                topic_id: t.topic_id.clone(),
                replicas: p.replicas.clone(),
                leader,
                leader_epoch: p.leader_epoch,
                partition_epoch: AtomicI32::new(p.partition_epoch),
                shrunk: std::sync::atomic::AtomicBool::new(false),
            }));
        }
        let parts = Arc::new(parts);
        Ok(Box::new(move |c, _seq| -> OpFuture {
            let st = parts[c].clone();
            Box::pin(async move { st.flip().await })
        }))
    }
}

impl Drop for KraftTarget {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

struct IsrState {
    topic_id: String,
    replicas: Vec<i32>,
    leader: kraft_client::broker::BrokerClient,
    leader_epoch: i32,
    partition_epoch: AtomicI32,
    shrunk: std::sync::atomic::AtomicBool,
}

impl IsrState {
    async fn flip(&self) -> Result<(), String> {
        let shrink = !self.shrunk.load(Ordering::SeqCst);
        let leader_id = self.leader.broker_id();
        // Shrink drops the last non-leader replica; expand restores all three.
        let dropped = self
            .replicas
            .iter()
            .rev()
            .find(|r| **r != leader_id)
            .copied();
        let isr: Vec<BrokerIdAndEpoch> = self
            .replicas
            .iter()
            .filter(|r| !(shrink && Some(**r) == dropped))
            .map(|r| BrokerIdAndEpoch {
                broker_id: *r,
                broker_epoch: -1,
            })
            .collect();
        let resp = self
            .leader
            .alter_partition(vec![AlterPartitionRequestTopic {
                topic_id: self.topic_id.clone(),
                partitions: vec![AlterPartitionRequestPartition {
                    partition_index: 0,
                    leader_epoch: self.leader_epoch,
                    new_isr_with_epochs: isr,
                    leader_recovery_state: 0,
                    partition_epoch: self.partition_epoch.load(Ordering::SeqCst),
                }],
            }])
            .await
            .map_err(|e| e.to_string())?;
        if let Some(e) = kraft_client::item_failure(resp.error.as_ref()) {
            return Err(format!("AlterPartition: {}", e.error_name));
        }
        let p = resp
            .topics
            .first()
            .and_then(|t| t.partitions.first())
            .ok_or("AlterPartition: empty answer")?;
        if let Some(e) = kraft_client::item_failure(p.error.as_ref()) {
            return Err(format!(
                "AlterPartition: {} {}",
                e.error_name, e.error_message
            ));
        }
        self.partition_epoch
            .store(p.partition_epoch, Ordering::SeqCst);
        self.shrunk.store(shrink, Ordering::SeqCst);
        Ok(())
    }
}

/// Creates topic `name`; an error unless the reply says it was created.
pub async fn create_topic(
    client: &Client,
    name: &str,
    partitions: i32,
    rf: i32,
) -> Result<(), String> {
    let resp = client
        .create_topics(CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: name.to_string(),
                num_partitions: partitions,
                replication_factor: rf,
                configs: Vec::new(),
                assignments: Vec::new(),
            }],
            validate_only: false,
        })
        .await
        .map_err(|e| e.to_string())?;
    match resp.topics.first() {
        Some(t) => match kraft_client::item_failure(t.error.as_ref()) {
            None => Ok(()),
            Some(e) => Err(format!(
                "CreateTopics {name}: {} {}",
                e.error_name, e.error_message
            )),
        },
        None => Err("CreateTopics: empty answer".into()),
    }
}
