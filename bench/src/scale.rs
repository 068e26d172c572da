//! `scale`: many partitions on many brokers. A 3-voter quorum (fsync on), 100 registered
//! brokers, then `topics x partitions` (RF 3) created with CreateTopics requests carrying many
//! topics each. Measures creation time, each controller's RSS, the snapshot (size on disk and
//! build time), one controller's restart-to-serving time and a new broker's full fetch.
//!
//! ```text
//!  start quorum (--metrics-listen per node, --snapshot-interval-ms)
//!  register N brokers (one shared MetadataCache; heartbeats from one task) ─► unfenced
//!  CreateTopics of `batch` topics, `concurrency` in flight ─► creation time, partitions/s
//!  VmRSS/VmHWM of each kraftd (/proc/<pid>/status)
//!  wait until every node's snapshot covers the last create ─► snapshot.bin size, build time
//!  SIGTERM a follower, start it again ─► time until it answers a linearizable
//!                                        DescribeCluster at the pre-restart offset
//!  new MetadataCache from offset -1 ─► time until it holds the image at that offset
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use kraft_client::broker::{BrokerClient, BrokerConfig, CacheConfig, MetadataCache};
use kraft_client::proto::{CreatableTopic, CreateTopicsRequest, Listener};
use kraft_client::{Client, ClientConfig};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::kraft::wait_ready;
use crate::procs::{KraftCluster, free_port, wait_for};

/// Sizes of one run.
#[derive(Clone, Debug, Serialize)]
pub struct ScalePlan {
    /// Topics to create.
    pub topics: u32,
    /// Partitions per topic.
    pub partitions: u32,
    /// Replication factor.
    pub replication_factor: u32,
    /// Simulated brokers.
    pub brokers: u32,
    /// Topics per CreateTopics request.
    pub batch: u32,
    /// CreateTopics requests in flight.
    pub concurrency: usize,
    /// kraftd `--snapshot-interval-ms` (a snapshot follows the last create within ~this).
    pub snapshot_interval_ms: u64,
}

/// One controller's memory after creation.
#[derive(Clone, Debug, Serialize)]
pub struct NodeMemory {
    /// Node id.
    pub node_id: usize,
    /// Resident set size after creation (and after the snapshot), MiB.
    pub rss_mib: f64,
    /// Peak resident set size since start, MiB.
    pub peak_rss_mib: f64,
}

/// One controller's snapshot once it covers the last create.
#[derive(Clone, Debug, Serialize)]
pub struct NodeSnapshot {
    /// Node id.
    pub node_id: usize,
    /// `snapshot.bin` size on disk, bytes.
    pub file_bytes: u64,
    /// `kraftd_snapshot_build_seconds`: encode + write + fsync of that snapshot, ms.
    pub build_ms: Option<f64>,
}

/// What a run measured.
#[derive(Clone, Debug, Serialize)]
pub struct ScaleResult {
    /// Partitions created (topics x partitions).
    pub total_partitions: u64,
    /// Registering and unfencing the brokers, s.
    pub brokers_ready_s: f64,
    /// First CreateTopics sent → last acknowledged, s.
    pub create_s: f64,
    /// Partitions per second over the creation.
    pub partitions_per_sec: f64,
    /// Metadata offset of the last create.
    pub last_offset: u64,
    /// Memory per controller.
    pub memory: Vec<NodeMemory>,
    /// Snapshot per controller.
    pub snapshots: Vec<NodeSnapshot>,
    /// The node restarted (a follower).
    pub restarted_node: usize,
    /// SIGTERM → process gone, s.
    pub stop_s: f64,
    /// Start → linearizable DescribeCluster answered by it at `last_offset` or later, s.
    pub restart_to_serving_s: f64,
    /// New broker: FetchMetadata from -1 → image at `last_offset` or later applied, s.
    pub new_broker_fetch_s: f64,
    /// Size of the image the new broker holds, encoded, bytes.
    pub image_bytes: u64,
    /// Topics in the new broker's image.
    pub image_topics: u64,
    /// Partitions in the new broker's image.
    pub image_partitions: u64,
    /// Load average (1 min) at the end of the run.
    pub loadavg: String,
}

/// The issue's targets, checked against a full-size run (1 M partitions).
pub const TARGET_RSS_MIB: f64 = 1024.0;
/// Snapshot size target, bytes (150 MB).
pub const TARGET_SNAPSHOT_BYTES: u64 = 150_000_000;
/// Restart target, s.
pub const TARGET_RESTART_S: f64 = 3.0;
/// New-broker full fetch target, s.
pub const TARGET_FETCH_S: f64 = 2.0;

fn bench_client_config() -> ClientConfig {
    ClientConfig {
        connect_timeout: Duration::from_secs(2),
        // A CreateTopics of hundreds of topics on a loaded 2-core box can take a while.
        request_timeout: Duration::from_secs(60),
        retry_deadline: Duration::from_secs(90),
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(100),
        ..ClientConfig::default()
    }
}

/// Runs the scenario.
pub async fn run(bin: PathBuf, plan: &ScalePlan, progress: bool) -> Result<ScaleResult> {
    let metrics_ports: Vec<u16> = (0..3).map(|_| free_port()).collect::<Result<_>>()?;
    let total_partitions = u64::from(plan.topics) * u64::from(plan.partitions);
    let extra = vec![
        // A capacity scenario, not a failover one: Raft timeouts that survive a loaded 2-core
        // box. openraft gives an AppendEntries RPC one heartbeat interval; at 50 ms, an
        // append of a large batch (plus fsync under load) is cancelled and resent, and
        // followers call elections (see RESULTS.md).
        "--heartbeat-ms".to_string(),
        "250".into(),
        "--election-timeout-ms".into(),
        "1500,3000".into(),
        "--snapshot-interval-ms".into(),
        plan.snapshot_interval_ms.to_string(),
        "--max-topics".into(),
        plan.topics.saturating_add(1000).to_string(),
        // Brokers may fall behind on a loaded box while a big batch applies.
        "--broker-session-timeout-ms".into(),
        "30000".into(),
    ];
    let ports = metrics_ports.clone();
    let mut cluster = KraftCluster::start_each(bin, 3, &extra, move |i| {
        vec!["--metrics-listen".into(), format!("127.0.0.1:{}", ports[i])]
    })?;
    let bootstrap = cluster.bootstrap();
    let client = match wait_ready(&bootstrap, Duration::from_secs(30)).await {
        Ok(_) => Client::connect_with(&bootstrap, bench_client_config()).await?,
        Err(e) => bail!("{e:#}\nnode 1 log:\n{}", cluster.group.log_tail(0)),
    };

    // Brokers: one shared metadata cache (one image in this process, not one per broker).
    let started = Instant::now();
    let brokers = Brokers::register(&client, plan.brokers).await?;
    brokers
        .wait_unfenced(Duration::from_secs(60))
        .await
        .context("brokers unfenced")?;
    let brokers_ready_s = started.elapsed().as_secs_f64();

    // Creation.
    let pb = if progress {
        crate::progress::bar(u64::from(plan.topics), "scale: create topics")
    } else {
        None
    };
    let created = Arc::new(AtomicU64::new(0));
    let batches: Vec<(u32, u32)> = (0..plan.topics)
        .step_by(plan.batch.max(1) as usize)
        .map(|first| (first, (first + plan.batch).min(plan.topics)))
        .collect();
    let started = Instant::now();
    let results: Vec<Result<()>> = futures::stream::iter(batches)
        .map(|(first, end)| {
            let client = client.clone();
            let created = created.clone();
            let pb = pb.clone();
            let plan = plan.clone();
            async move {
                // Bounded retries: a request that timed out may have been applied; its topics
                // then answer TOPIC_ALREADY_EXISTS, which counts as created.
                let mut attempt = 0;
                loop {
                    attempt += 1;
                    match create_batch(&client, first, end, &plan).await {
                        Ok(()) => break,
                        Err(e) if attempt < 5 => {
                            eprintln!("notice: CreateTopics {first}..{end} retried (attempt {attempt}): {e:#}");
                        }
                        Err(e) => return Err(e),
                    }
                }
                created.fetch_add(u64::from(end - first), Ordering::Relaxed);
                if let Some(pb) = &pb {
                    pb.inc(u64::from(end - first));
                }
                Ok(())
            }
        })
        .buffer_unordered(plan.concurrency.max(1))
        .collect()
        .await;
    let create_s = started.elapsed().as_secs_f64();
    crate::progress::finish(pb);
    for r in results {
        r?;
    }
    if created.load(Ordering::Relaxed) != u64::from(plan.topics) {
        bail!("not every topic was created");
    }
    let d = client.describe_cluster(false).await?;
    let last_offset = d.metadata_offset;
    let leader = d.active_controller_id as usize;

    // Snapshots covering the last create, on every node.
    let mut snapshots = Vec::new();
    for (i, port) in metrics_ports.iter().enumerate() {
        let port = *port;
        let wait =
            Duration::from_millis(plan.snapshot_interval_ms * 4).max(Duration::from_secs(60));
        let text = wait_for(
            &format!("node {}'s snapshot at offset {last_offset}", i + 1),
            wait,
            || async move {
                let text = scrape(port).await?;
                let index = metric(&text, "kraftd_raft_snapshot_index").unwrap_or(0.0);
                if (index as u64) < last_offset {
                    bail!("snapshot index {index}");
                }
                Ok(text)
            },
        )
        .await?;
        let file = cluster
            .group
            .dir()
            .join(format!("node-{}", i + 1))
            .join("snapshots")
            .join("snapshot.bin");
        let file_bytes = std::fs::metadata(&file)
            .with_context(|| format!("stat {}", file.display()))?
            .len();
        snapshots.push(NodeSnapshot {
            node_id: i + 1,
            file_bytes,
            build_ms: metric(&text, "kraftd_snapshot_build_seconds").map(|s| s * 1000.0),
        });
    }

    let mut memory = Vec::new();
    for i in 0..3 {
        let pid = cluster.group.pid(i).context("kraftd pid")?;
        let (rss, peak) = rss_mib(pid)?;
        memory.push(NodeMemory {
            node_id: i + 1,
            rss_mib: rss,
            peak_rss_mib: peak,
        });
    }

    // Restart one follower.
    let restarted = (1..=3).find(|n| *n != leader).unwrap_or(1);
    let idx = restarted - 1;
    let t = Instant::now();
    cluster.group.terminate(idx, Duration::from_secs(20));
    let stop_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    cluster.group.spawn(idx)?;
    let addr = cluster.addrs[idx].clone();
    wait_for(
        &format!("node {restarted} serving at offset {last_offset}"),
        Duration::from_secs(120),
        || {
            let addr = addr.clone();
            async move {
                let c = Client::connect_with(
                    &addr,
                    ClientConfig {
                        connect_timeout: Duration::from_millis(500),
                        request_timeout: Duration::from_secs(5),
                        retry_deadline: Duration::from_millis(1),
                        ..ClientConfig::default()
                    },
                )
                .await?;
                let d = c.describe_cluster(false).await?;
                if d.answered_by as usize != restarted || d.metadata_offset < last_offset {
                    bail!(
                        "answered by {} at offset {}",
                        d.answered_by,
                        d.metadata_offset
                    );
                }
                Ok(())
            }
        },
    )
    .await
    .with_context(|| cluster.group.log_tail(idx))?;
    let restart_to_serving_s = t.elapsed().as_secs_f64();

    // A new broker fetching the whole image (from the leader first).
    let mut endpoints: Vec<String> = cluster
        .addrs
        .iter()
        .map(|a| format!("http://{a}"))
        .collect();
    if (1..=3).contains(&leader) {
        endpoints.rotate_left(leader - 1);
    }
    let t = Instant::now();
    let cache = MetadataCache::start_at(
        endpoints,
        CacheConfig {
            idle_timeout: Duration::from_secs(30),
            ..CacheConfig::default()
        },
    );
    cache
        .wait_for_offset(last_offset, Duration::from_secs(120))
        .await?;
    let new_broker_fetch_s = t.elapsed().as_secs_f64();
    let (image_bytes, image_topics, image_partitions) = cache.read(|i| {
        (
            i.encode().map(|b| b.len() as u64).unwrap_or(0),
            i.topics().len() as u64,
            i.topics()
                .iter_unordered()
                .map(|t| t.partitions.len() as u64)
                .sum::<u64>(),
        )
    });
    drop(cache);
    brokers.stop();

    Ok(ScaleResult {
        total_partitions,
        brokers_ready_s,
        create_s,
        partitions_per_sec: total_partitions as f64 / create_s.max(1e-9),
        last_offset,
        memory,
        snapshots,
        restarted_node: restarted,
        stop_s,
        restart_to_serving_s,
        new_broker_fetch_s,
        image_bytes,
        image_topics,
        image_partitions,
        loadavg: std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    })
}

/// The name of topic `i` (sorted by creation order).
fn topic_name(i: u32) -> String {
    format!("scale-{i:07}")
}

async fn create_batch(client: &Client, first: u32, end: u32, plan: &ScalePlan) -> Result<()> {
    let topics: Vec<CreatableTopic> = (first..end)
        .map(|i| CreatableTopic {
            name: topic_name(i),
            num_partitions: plan.partitions as i32,
            replication_factor: plan.replication_factor as i32,
            configs: Vec::new(),
            assignments: Vec::new(),
        })
        .collect();
    let resp = client
        .create_topics(CreateTopicsRequest {
            topics,
            validate_only: false,
        })
        .await
        .with_context(|| format!("CreateTopics of topics {first}..{end}"))?;
    if resp.topics.len() != (end - first) as usize {
        bail!(
            "CreateTopics {first}..{end}: {} results for {} topics",
            resp.topics.len(),
            end - first
        );
    }
    for t in &resp.topics {
        if let Some(e) = kraft_client::item_failure(t.error.as_ref()) {
            // A retry after a lost answer finds the topic there: it was created.
            if e.error_name != "TOPIC_ALREADY_EXISTS" {
                bail!(
                    "CreateTopics {}: {} {}",
                    t.name,
                    e.error_name,
                    e.error_message
                );
            }
        }
    }
    Ok(())
}

/// Simulated brokers that share one metadata cache and heartbeat from one task.
struct Brokers {
    sessions: Vec<BrokerClient>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Brokers {
    async fn register(client: &Client, count: u32) -> Result<Self> {
        let cluster_id = client.describe_cluster(false).await?.cluster_id;
        let cache = MetadataCache::for_client(client);
        let mut sessions = Vec::new();
        for id in 1..=count as i32 {
            let listener = Listener {
                name: "PLAINTEXT".into(),
                host: "127.0.0.1".into(),
                port: 20_000 + id as u32,
                security_protocol: "PLAINTEXT".into(),
            };
            let config = BrokerConfig {
                heartbeat_interval: Duration::from_millis(500),
                ..BrokerConfig::new(id, listener)
            };
            let s = BrokerClient::register_in(
                client.clone(),
                cache.clone(),
                cluster_id.clone(),
                config,
            )
            .await
            .with_context(|| format!("register broker {id}"))?;
            sessions.push(s);
        }
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let beat = sessions.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopped.changed() => return,
                }
                // Bounded: one heartbeat per broker per round.
                futures::future::join_all(beat.iter().map(|s| s.heartbeat())).await;
            }
        });
        Ok(Self { sessions, stop })
    }

    async fn wait_unfenced(&self, timeout: Duration) -> Result<()> {
        wait_for("every broker unfenced", timeout, || async {
            let fenced = self
                .sessions
                .iter()
                .filter(|s| s.status().is_none_or(|st| st.is_fenced))
                .count();
            if fenced > 0 {
                bail!("{fenced} brokers still fenced");
            }
            Ok(())
        })
        .await
    }

    fn stop(&self) {
        self.stop.send_replace(true);
    }
}

impl Drop for Brokers {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `VmRSS` and `VmHWM` of `pid`, MiB.
fn rss_mib(pid: u32) -> Result<(f64, f64)> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
    let kib = |key: &str| -> Result<f64> {
        text.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .with_context(|| format!("{key} in {path}"))
    };
    Ok((kib("VmRSS:")? / 1024.0, kib("VmHWM:")? / 1024.0))
}

/// GET `/metrics` from a kraftd metrics listener on 127.0.0.1.
async fn scrape(port: u16) -> Result<String> {
    let mut s = tokio::time::timeout(
        Duration::from_secs(2),
        tokio::net::TcpStream::connect(("127.0.0.1", port)),
    )
    .await
    .context("connect to metrics: timeout")??;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf))
        .await
        .context("read metrics: timeout")??;
    let text = String::from_utf8_lossy(&buf).into_owned();
    if !text.starts_with("HTTP/1.1 200") {
        bail!("metrics answered {}", text.lines().next().unwrap_or(""));
    }
    Ok(text)
}

/// The value of an unlabelled sample `name` in Prometheus text.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (n, v) = l.split_once(' ')?;
        (n == name).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Prints the result as a table, with the issue's targets.
pub fn print(plan: &ScalePlan, r: &ScaleResult, full_size: bool) {
    println!(
        "\n== scale: {} topics x {} partitions (RF {}), {} brokers, 3 voters, fsync on ==",
        plan.topics, plan.partitions, plan.replication_factor, plan.brokers
    );
    let verdict = |ok: bool| {
        if !full_size {
            "(target is for 1 M partitions)"
        } else if ok {
            "met"
        } else {
            "MISSED"
        }
    };
    let max_rss = r.memory.iter().map(|m| m.rss_mib).fold(0.0, f64::max);
    let max_snap = r.snapshots.iter().map(|s| s.file_bytes).max().unwrap_or(0);
    println!("{:<38} {:>16}  {:<12}", "measure", "value", "target");
    let rows: Vec<(String, String, String, &str)> = vec![
        (
            "brokers registered + unfenced".into(),
            format!("{:.2} s", r.brokers_ready_s),
            String::new(),
            "",
        ),
        (
            format!("create {} partitions", r.total_partitions),
            format!("{:.1} s", r.create_s),
            String::new(),
            "",
        ),
        (
            "creation rate".into(),
            format!("{:.0} partitions/s", r.partitions_per_sec),
            String::new(),
            "",
        ),
        (
            "max controller RSS".into(),
            format!("{max_rss:.0} MiB"),
            "<= 1024 MiB".into(),
            verdict(max_rss <= TARGET_RSS_MIB),
        ),
        (
            "snapshot size on disk".into(),
            format!("{:.1} MB", max_snap as f64 / 1e6),
            "<= 150 MB".into(),
            verdict(max_snap <= TARGET_SNAPSHOT_BYTES),
        ),
        (
            "restart to serving (follower)".into(),
            format!("{:.2} s", r.restart_to_serving_s),
            "<= 3 s".into(),
            verdict(r.restart_to_serving_s <= TARGET_RESTART_S),
        ),
        (
            "new broker full fetch".into(),
            format!("{:.2} s", r.new_broker_fetch_s),
            "<= 2 s".into(),
            verdict(r.new_broker_fetch_s <= TARGET_FETCH_S),
        ),
    ];
    for (m, v, t, ok) in rows {
        println!("{m:<38} {v:>16}  {t:<12} {ok}");
    }
    for (m, s) in r.memory.iter().zip(&r.snapshots) {
        println!(
            "  node {}: RSS {:.0} MiB (peak {:.0}), snapshot {:.1} MB built in {}",
            m.node_id,
            m.rss_mib,
            m.peak_rss_mib,
            s.file_bytes as f64 / 1e6,
            s.build_ms
                .map(|ms| format!("{ms:.0} ms"))
                .unwrap_or_else(|| "- (installed)".into())
        );
    }
    println!(
        "  new broker image: {} topics, {} partitions, {:.1} MB encoded; load average {}",
        r.image_topics,
        r.image_partitions,
        r.image_bytes as f64 / 1e6,
        r.loadavg
    );
}
