//! The nemesis harness: real `kraftd` processes with a fault-injecting proxy on every link
//! ([`proxy`]), a nemesis that partitions, delays, drops, kills, pauses and restarts
//! ([`faults`]), concurrent clients recording a history ([`workload`], [`history`]) and the
//! checks over it ([`checker`]).
//!
//! [`run`] prints its seed; `KRAFTD_NEMESIS_SEED=N` replays the same fault schedule and
//! operation mix (timing, and so interleavings, still differ from run to run).

pub mod checker;
pub mod faults;
pub mod history;
pub mod proxy;
pub mod workload;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kraft_client::{Client, ClientConfig};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::time::Instant;

use crate::brokers::Brokers;
use crate::{Cluster, wait_for_leader, wait_until};
use checker::FinalImage;
use faults::FaultLog;
use history::{Entry, History, Op, Outcome};
use proxy::Net;
use workload::Workload;

/// One run's shape.
#[derive(Clone, Debug)]
pub struct NemesisConfig {
    /// Controllers (3 or 5).
    pub nodes: u64,
    /// How long the workload and the nemesis run.
    pub duration: Duration,
    /// Concurrent clients.
    pub clients: usize,
    /// Bound on each client's operations.
    pub max_ops_per_client: usize,
    /// Contended topic names.
    pub contended: usize,
    /// RNG seed of the fault schedule and the operation mix.
    pub seed: u64,
}

/// The seed: `KRAFTD_NEMESIS_SEED` if set, else random.
pub fn seed_from_env() -> u64 {
    std::env::var("KRAFTD_NEMESIS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random)
}

/// What a run did and found.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Operations recorded (final reads included).
    pub operations: usize,
    /// Writes acknowledged.
    pub acknowledged: usize,
    /// Operations with an unknown outcome.
    pub unknown: usize,
    /// Operations the server refused.
    pub refused: usize,
    /// Faults injected.
    pub faults: FaultLog,
    /// Acknowledged writes checked against the final image.
    pub durable_checked: usize,
    /// Epoch observations checked.
    pub epoch_observations: usize,
    /// Producer-id blocks checked.
    pub producer_id_blocks: usize,
    /// Registers checked for linearizability (topics + the config).
    pub registers: usize,
    /// The final (offset, image hash) every node agreed on.
    pub final_image: (u64, u32),
    /// Operations per kind.
    pub by_kind: BTreeMap<&'static str, usize>,
    /// Replication reads that started below a leader's purge point, in the nodes' logs:
    /// (served from purged entries still stored, answered empty).
    pub reads_below_purge: (usize, usize),
}

impl Report {
    /// One summary line.
    pub fn summary(&self) -> String {
        format!(
            "operations={} faults={} acknowledged={} unknown={} refused={} lost=0 \
             durable_checked={} epoch_observations={} producer_id_blocks={} \
             linearizable_registers={} final_offset={} image_hash={:08x} \
             reads_below_purge_served={} reads_below_purge_empty={}",
            self.operations,
            self.faults.total(),
            self.acknowledged,
            self.unknown,
            self.refused,
            self.durable_checked,
            self.epoch_observations,
            self.producer_id_blocks,
            self.registers,
            self.final_image.0,
            self.final_image.1,
            self.reads_below_purge.0,
            self.reads_below_purge.1,
        )
    }
}

/// (offset, crc32 of the image JSON) of every node, once they are all equal.
pub async fn converged_image(cluster: &Cluster, timeout: Duration) -> (u64, u32) {
    let addrs: Vec<String> = cluster.nodes.iter().map(|n| n.addr.clone()).collect();
    wait_until(
        "every node at the same offset with the same image hash",
        timeout,
        || {
            let addrs = addrs.clone();
            async move {
                let mut seen = Vec::new();
                for a in &addrs {
                    seen.push(image_at(a).await?);
                }
                if seen.windows(2).all(|w| w[0] == w[1]) {
                    Ok(seen[0])
                } else {
                    Err(format!("(offset, hash) per node: {seen:?}"))
                }
            }
        },
    )
    .await
}

/// (offset, crc32 of the image JSON) of the node at `addr`, from `DumpMetadata`.
pub async fn image_at(addr: &str) -> Result<(u64, u32), String> {
    let config = ClientConfig {
        connect_timeout: Duration::from_millis(500),
        request_timeout: Duration::from_secs(2),
        retry_deadline: Duration::ZERO,
        ..ClientConfig::default()
    };
    let c = Client::connect_with(addr, config)
        .await
        .map_err(|e| format!("{addr}: {e}"))?;
    let d = c
        .dump_metadata(0)
        .await
        .map_err(|e| format!("{addr}: {e}"))?;
    Ok((d.offset, crc32fast::hash(d.image_json.as_bytes())))
}

/// Starts `n` controllers (with `extra` flags) that dial each other only through a
/// [`Net`] of per-link proxies.
pub async fn start_proxied(n: u64, extra: &[&str]) -> (Cluster, Net) {
    let mut cluster = Cluster::prepare(n, extra);
    let addrs: BTreeMap<u64, String> = cluster
        .nodes
        .iter()
        .map(|n| (n.id, n.addr.clone()))
        .collect();
    let net = Net::start(&addrs).await;
    for id in 1..=n {
        cluster.set_node_args(id, vec!["--dial-override".into(), net.dial_override(id)]);
        cluster.spawn(id);
    }
    (cluster, net)
}

/// Starts `cfg.nodes` controllers behind per-link proxies (with frequent snapshots), runs
/// the workload and the nemesis for `cfg.duration`, heals, and checks the history. Panics
/// with the seed and the reason on any violation.
pub async fn run(cfg: NemesisConfig) -> Report {
    println!(
        "nemesis: seed {} (replay with KRAFTD_NEMESIS_SEED={}), {} nodes, {} clients, {:?}",
        cfg.seed, cfg.seed, cfg.nodes, cfg.clients, cfg.duration
    );
    let (mut cluster, net) = start_proxied(
        cfg.nodes,
        &["--snapshot-every", "200", "--snapshot-keep", "50"],
    )
    .await;
    let addrs: BTreeMap<u64, String> = cluster
        .nodes
        .iter()
        .map(|n| (n.id, n.addr.clone()))
        .collect();
    let bootstrap = cluster.bootstrap();
    wait_for_leader(&bootstrap).await;
    let brokers = Brokers::start(&bootstrap, 3).await;

    let history = History::new();
    let work = Workload {
        history: history.clone(),
        brokers: brokers.sim.clone(),
        names: workload::contended_names(cfg.contended),
        durable: Arc::default(),
    };
    let deadline = Instant::now() + cfg.duration;
    let mut tasks = Vec::new();
    for k in 0..cfg.clients {
        // Each client starts on a different controller, so followers forward too.
        let mut order: Vec<String> = addrs.values().cloned().collect();
        let first = k % order.len();
        order.rotate_left(first);
        let client = Client::connect_with(&order.join(","), workload::client_config())
            .await
            .expect("client connects");
        let rng = StdRng::seed_from_u64(cfg.seed.wrapping_add(k as u64 + 1));
        tasks.push(tokio::spawn(work.clone().client(
            k,
            client,
            rng,
            deadline,
            cfg.max_ops_per_client,
        )));
    }
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let faults = faults::run(&mut cluster, &net, &mut rng, deadline).await;
    for t in tasks {
        t.await.expect("client task");
    }
    println!("nemesis: faults injected:");
    for l in &faults.lines {
        println!("  {l}");
    }

    // Healed and every node running: final linearizable reads of every register.
    wait_for_leader(&bootstrap).await;
    let client = Client::connect(&bootstrap).await.expect("connect");
    for name in &work.names {
        let op = Op::ReadTopic { name: name.clone() };
        let (invoke, outcome, observed, complete) = wait_until(
            &format!("final read of {name}"),
            Duration::from_secs(60),
            || async {
                let invoke = history.now();
                match work.execute(&client, &op, "", None).await {
                    (o @ Outcome::Topic(_), obs) => Ok((invoke, o, obs, history.now())),
                    (o, _) => Err(format!("{o:?}")),
                }
            },
        )
        .await;
        history.record(Entry {
            client: usize::MAX,
            op,
            invoke,
            complete,
            outcome,
            observed,
        });
    }
    let (invoke, outcome, complete) =
        wait_until("final config read", Duration::from_secs(60), || async {
            let invoke = history.now();
            match workload::read_config(&client).await {
                o @ Outcome::Config(_) => Ok((invoke, o, history.now())),
                o => Err(format!("{o:?}")),
            }
        })
        .await;
    history.record(Entry {
        client: usize::MAX,
        op: Op::ReadConfig,
        invoke,
        complete,
        outcome,
        observed: vec![],
    });

    let final_image = converged_image(&cluster, Duration::from_secs(60)).await;
    // A node that panicked and was then restarted by the nemesis can still converge: its log
    // (kept across restarts) says so.
    let mut reads_below_purge = (0, 0);
    for n in &cluster.nodes {
        let log = cluster.log(n.id);
        let lines: Vec<&str> = log.lines().collect();
        for l in &lines {
            if l.contains(kraft_storage::log_store::SERVED_BELOW_PURGE) {
                reads_below_purge.0 += 1;
            } else if l.contains(kraft_storage::log_store::NOTHING_BELOW_PURGE) {
                reads_below_purge.1 += 1;
            }
        }
        if let Some(i) = lines.iter().position(|l| l.contains("panicked at")) {
            let end = lines.len().min(i + 3);
            panic!(
                "nemesis seed {}: node {} panicked during the run:\n{}\n(replay: KRAFTD_NEMESIS_SEED={})",
                cfg.seed,
                n.id,
                lines[i..end].join("\n"),
                cfg.seed
            );
        }
    }
    let image = final_image_of(&client).await;
    drop(brokers);

    let entries = history.entries();
    let mut report = Report {
        operations: entries.len(),
        faults,
        final_image,
        reads_below_purge,
        ..Report::default()
    };
    for e in &entries {
        *report.by_kind.entry(e.op.kind()).or_default() += 1;
        match &e.outcome {
            Outcome::Unknown(_) => report.unknown += 1,
            Outcome::Refused(_) => report.refused += 1,
            _ if e.op.is_write() => report.acknowledged += 1,
            _ => {}
        }
    }
    let fail = |what: &str, why: String| -> ! {
        panic!(
            "nemesis seed {}: {what}: {why}\n(replay: KRAFTD_NEMESIS_SEED={})",
            cfg.seed, cfg.seed
        )
    };
    for (name, ops) in checker::topic_histories(&entries) {
        if let Err(why) = checker::linearizable(None, &ops, checker::topic_step, 5_000_000) {
            let mut ops = ops.clone();
            ops.sort_by_key(|o| o.invoke);
            let lines: Vec<String> = ops.iter().map(|o| format!("{o:?}")).collect();
            fail(
                &format!("topic {name}"),
                format!("{why}\n{}", lines.join("\n")),
            );
        }
        report.registers += 1;
    }
    let config_ops = checker::config_history(&entries);
    if let Err(why) = checker::linearizable(None, &config_ops, checker::config_step, 5_000_000) {
        fail("config register", why);
    }
    report.registers += 1;
    report.epoch_observations =
        checker::check_epochs(&entries).unwrap_or_else(|why| fail("epochs", why));
    report.producer_id_blocks =
        checker::check_producer_ids(&entries).unwrap_or_else(|why| fail("producer ids", why));
    report.durable_checked = checker::check_durable(&entries, &image)
        .unwrap_or_else(|why| fail("acknowledged writes", why));
    println!("nemesis: operations by kind: {:?}", report.by_kind);
    println!("nemesis: {}", report.summary());
    report
}

/// Topics (ids, partition epochs) and brokers (epochs) of the final image, read through a
/// linearizable read.
async fn final_image_of(client: &Client) -> FinalImage {
    let topics = wait_until("final describe", Duration::from_secs(30), || async {
        client
            .describe_topics(Vec::<String>::new(), false)
            .await
            .map_err(|e| e.to_string())
    })
    .await;
    let cluster = wait_until("final cluster", Duration::from_secs(30), || async {
        client
            .describe_cluster(false)
            .await
            .map_err(|e| e.to_string())
    })
    .await;
    FinalImage {
        topics: topics
            .topics
            .into_iter()
            .map(|t| {
                let parts = t
                    .partitions
                    .iter()
                    .map(|p| (p.partition_index, p.partition_epoch))
                    .collect();
                (t.name, (t.topic_id, parts))
            })
            .collect(),
        brokers: cluster
            .brokers
            .into_iter()
            .map(|b| (b.broker_id, b.broker_epoch))
            .collect(),
    }
}
