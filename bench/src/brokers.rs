//! `brokers`: many simulated brokers heartbeating one 3-voter kraftd quorum (fsync on).
//!
//! ```text
//! start 3 voters -> find the active controller (DescribeQuorum)
//! register N brokers (RegisterBroker, distinct ids, fresh incarnation ids; 64 in flight)
//! one shared MetadataCache follows the log; wait until it applied every registration
//! heartbeat scheduler: broker i heartbeats at start + k*interval + i*interval/N (open loop,
//!   ~N/interval heartbeats/s over a few shared gRPC channels), only once it is unfenced
//! unfence driver (concurrently): first heartbeat of each broker, 64 in flight, until unfenced
//! steady phase (after every broker is unfenced + one interval): client-side latency,
//!   heartbeats/s, errors, CPU of every kraftd and of this process (/proc/<pid>/stat),
//!   Raft log growth (DescribeQuorum high watermark) and fencings
//! ```
//!
//! A broker answered `is_fenced` after it was unfenced, or a slot skipped because the
//! broker's previous heartbeat was still in flight, is counted: the quick test asserts none
//! happened. Steady-state heartbeats change nothing, so they must not write to the log.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use hdrhistogram::Histogram;
use kraft_client::broker::MetadataCache;
use kraft_client::proto::{BrokerHeartbeatRequest, Listener, RegisterBrokerRequest};
use kraft_client::{Client, item_failure};
use serde::Serialize;

use crate::kraft::{client_config, wait_ready};
use crate::procs::{KraftCluster, clock_ticks, cpu_ticks};
use crate::progress;

/// Requests in flight while registering and unfencing (the writer serialises them anyway).
const SETUP_CONCURRENCY: usize = 64;

/// The size of one run.
#[derive(Clone, Debug, Serialize)]
pub struct BrokersPlan {
    /// Simulated brokers.
    pub brokers: u32,
    /// Heartbeat interval of each broker.
    pub interval_ms: u64,
    /// Length of the measured steady phase.
    pub steady_secs: f64,
    /// Shared gRPC channels (HTTP/2 connections) the brokers use.
    pub connections: usize,
    /// Extra flags given to every kraftd.
    pub kraftd_flags: Vec<String>,
}

/// CPU used by one process during the steady phase.
#[derive(Clone, Debug, Serialize)]
pub struct ProcCpu {
    /// `kraftd-1`.. or `kraft-bench` (the load generator).
    pub process: String,
    /// `active`, `follower` or `load generator`.
    pub role: String,
    /// (utime + stime) / wall time: cores used on average.
    pub cores: f64,
}

/// What one run measured.
#[derive(Clone, Debug, Serialize)]
pub struct BrokersResult {
    /// The plan.
    pub plan: BrokersPlan,
    /// Seconds to register every broker.
    pub register_secs: f64,
    /// Seconds from the first unfencing heartbeat until every broker was unfenced.
    pub unfence_secs: f64,
    /// Brokers the controller lists as registered and unfenced at the end.
    pub unfenced_at_end: usize,
    /// Heartbeats answered without error in the steady phase.
    pub heartbeats: u64,
    /// Heartbeats per second the schedule asks for (brokers / interval).
    pub target_per_sec: f64,
    /// Heartbeats answered per second in the steady phase.
    pub heartbeats_per_sec: f64,
    /// RPC failures and refusals (any phase after registration).
    pub errors: u64,
    /// The first error, if any.
    pub first_error: Option<String>,
    /// Answers saying a broker is fenced after it had been unfenced (any phase).
    pub fenced_after_unfence: u64,
    /// Heartbeat slots skipped because that broker's previous heartbeat was still in flight.
    pub skipped_slots: u64,
    /// Raft log entries written during the steady phase (high watermark growth).
    pub log_entries_steady: i64,
    /// Active controller changes seen (setup start -> steady start -> end); the brokers'
    /// channels point at the first one, so after a change their heartbeats are forwarded.
    pub leader_changes: u64,
    /// Raft terms started during the steady phase (each new leader appends one blank entry).
    pub terms_steady: u64,
    /// Raft terms started during the whole run (after the first leader).
    pub terms_total: u64,
    /// Heartbeat latency, client side, steady phase, ms.
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    /// CPU per process over the steady phase.
    pub cpu: Vec<ProcCpu>,
    /// Cores used by the active controller (from `cpu`).
    pub active_controller_cores: f64,
    /// `/proc/loadavg` (1-minute) at the start and the end of the steady phase.
    pub loadavg: (f64, f64),
}

/// One simulated broker.
struct Sim {
    id: i32,
    epoch: AtomicI64,
    unfenced: AtomicBool,
    in_flight: AtomicBool,
}

/// Counters shared by every heartbeat task.
struct Stats {
    measuring: AtomicBool,
    hist: Mutex<Histogram<u64>>,
    ok: AtomicU64,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
    fenced_after_unfence: AtomicU64,
    skipped: AtomicU64,
}

impl Stats {
    fn error(&self, e: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
        first.get_or_insert(e);
    }
}

/// Sends one heartbeat for `b` and returns whether the answer says it is fenced.
async fn heartbeat(client: &Client, cache: &MetadataCache, b: &Sim, stats: &Stats) -> Option<bool> {
    let req = BrokerHeartbeatRequest {
        broker_id: b.id,
        broker_epoch: b.epoch.load(Ordering::Relaxed),
        current_metadata_offset: cache.heartbeat_offset(),
        want_fence: false,
        want_shut_down: false,
    };
    let measuring = stats.measuring.load(Ordering::Relaxed);
    let t = Instant::now();
    match client.broker_heartbeat(req).await {
        Ok(resp) => {
            let took = t.elapsed();
            if let Some(e) = item_failure(resp.error.as_ref()) {
                stats.error(format!("broker {}: {}", b.id, e.error_name));
                return None;
            }
            if measuring {
                stats.ok.fetch_add(1, Ordering::Relaxed);
                let mut h = stats.hist.lock().unwrap_or_else(|p| p.into_inner());
                let _ = h.record((took.as_micros() as u64).max(1));
            }
            Some(resp.is_fenced)
        }
        Err(e) => {
            stats.error(format!("broker {}: {e}", b.id));
            None
        }
    }
}

fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// Runs the scenario on a fresh quorum.
pub async fn run(bin: PathBuf, plan: BrokersPlan) -> Result<BrokersResult> {
    if plan.brokers == 0 || plan.connections == 0 || plan.interval_ms == 0 {
        bail!("brokers, connections and interval must be > 0: {plan:?}");
    }
    let cluster = KraftCluster::start(bin, 3, &plan.kraftd_flags)?;
    let bootstrap = cluster.bootstrap();
    let admin = match wait_ready(&bootstrap, Duration::from_secs(30)).await {
        Ok(c) => c,
        Err(e) => bail!("{e:#}\nnode 1 log:\n{}", cluster.group.log_tail(0)),
    };
    let cluster_id = admin.describe_cluster(false).await?.cluster_id;
    let q = admin.describe_quorum().await?;
    let leader = q.leader_id as usize;
    let first_term = q.leader_epoch;
    if leader == 0 || leader > cluster.addrs.len() {
        bail!("no active controller known");
    }
    // Brokers talk to the active controller (as Kafka brokers do); the others stay in the
    // bootstrap list for failover.
    let mut ordered = vec![cluster.addrs[leader - 1].clone()];
    ordered.extend(
        cluster
            .addrs
            .iter()
            .enumerate()
            .filter(|(i, _)| i + 1 != leader)
            .map(|(_, a)| a.clone()),
    );
    let ordered = ordered.join(",");
    let mut clients = Vec::new();
    for _ in 0..plan.connections {
        clients.push(Client::connect_with(&ordered, client_config()).await?);
    }
    let clients = Arc::new(clients);
    let cache = MetadataCache::for_client(&admin);

    // Registration.
    let pb = progress::bar(u64::from(plan.brokers), "register brokers");
    let reg_start = Instant::now();
    let sims: Vec<Arc<Sim>> = futures::stream::iter(0..plan.brokers)
        .map(|i| {
            let client = clients[i as usize % clients.len()].clone();
            let cluster_id = cluster_id.clone();
            let pb = pb.clone();
            async move {
                let id = i32::try_from(i + 1).context("broker id")?;
                let resp = client
                    .register_broker(RegisterBrokerRequest {
                        broker_id: id,
                        cluster_id,
                        incarnation_id: uuid::Uuid::new_v4().to_string(),
                        listeners: vec![Listener {
                            name: "PLAINTEXT".into(),
                            host: "127.0.0.1".into(),
                            port: 20_000 + i,
                            security_protocol: "PLAINTEXT".into(),
                        }],
                        rack: None,
                        features: Vec::new(),
                    })
                    .await
                    .with_context(|| format!("register broker {id}"))?;
                if let Some(e) = item_failure(resp.error.as_ref()) {
                    bail!("register broker {id}: {} {}", e.error_name, e.error_message);
                }
                if let Some(p) = &pb {
                    p.inc(1);
                }
                Ok(Arc::new(Sim {
                    id,
                    epoch: AtomicI64::new(resp.broker_epoch),
                    unfenced: AtomicBool::new(false),
                    in_flight: AtomicBool::new(false),
                }))
            }
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .collect::<Vec<Result<Arc<Sim>>>>()
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    progress::finish(pb);
    let register_secs = reg_start.elapsed().as_secs_f64();
    let mut sims = sims;
    sims.sort_by_key(|s| s.id);
    let sims = Arc::new(sims);
    let last_epoch = sims
        .iter()
        .map(|s| s.epoch.load(Ordering::Relaxed))
        .max()
        .unwrap_or(0);
    cache
        .wait_for_offset(
            u64::try_from(last_epoch).unwrap_or(0),
            Duration::from_secs(60),
        )
        .await
        .context("metadata cache catches up with the registrations")?;

    let stats = Arc::new(Stats {
        measuring: AtomicBool::new(false),
        hist: Mutex::new(Histogram::new_with_bounds(1, 120_000_000, 3).context("histogram")?),
        ok: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        first_error: Mutex::new(None),
        fenced_after_unfence: AtomicU64::new(0),
        skipped: AtomicU64::new(0),
    });

    // The open-loop scheduler: slot k is broker k % N, due at start + k * interval / N.
    let stop = Arc::new(AtomicBool::new(false));
    let scheduler = {
        let (sims, clients, cache, stats, stop) = (
            sims.clone(),
            clients.clone(),
            cache.clone(),
            stats.clone(),
            stop.clone(),
        );
        let slot = Duration::from_millis(plan.interval_ms) / plan.brokers;
        tokio::spawn(async move {
            let n = sims.len() as u64;
            let begin = tokio::time::Instant::now();
            let mut tick = tokio::time::interval(Duration::from_millis(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut issued: u64 = 0;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let due = (begin.elapsed().as_nanos() / slot.as_nanos().max(1)) as u64 + 1;
                while issued < due {
                    let b = sims[(issued % n) as usize].clone();
                    issued += 1;
                    if !b.unfenced.load(Ordering::Relaxed) {
                        continue;
                    }
                    if b.in_flight.swap(true, Ordering::AcqRel) {
                        if stats.measuring.load(Ordering::Relaxed) {
                            stats.skipped.fetch_add(1, Ordering::Relaxed);
                        }
                        continue;
                    }
                    let client = clients[b.id as usize % clients.len()].clone();
                    let (cache, stats) = (cache.clone(), stats.clone());
                    tokio::spawn(async move {
                        if heartbeat(&client, &cache, &b, &stats).await == Some(true) {
                            stats.fenced_after_unfence.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(broker_id = b.id, "unfenced broker answered fenced");
                        }
                        b.in_flight.store(false, Ordering::Release);
                    });
                }
            }
        })
    };

    // Unfence every broker: its first heartbeat reports the registrations applied.
    let pb = progress::bar(u64::from(plan.brokers), "unfence brokers");
    let unfence_start = Instant::now();
    let unfence_deadline = unfence_start + Duration::from_secs(120);
    let fenced_left: Vec<Result<()>> = futures::stream::iter(sims.iter().cloned())
        .map(|b| {
            let client = clients[b.id as usize % clients.len()].clone();
            let (cache, stats, pb) = (cache.clone(), stats.clone(), pb.clone());
            async move {
                while Instant::now() < unfence_deadline {
                    if heartbeat(&client, &cache, &b, &stats).await == Some(false) {
                        b.unfenced.store(true, Ordering::Release);
                        if let Some(p) = &pb {
                            p.inc(1);
                        }
                        return Ok(());
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                bail!("broker {} still fenced after 120 s", b.id)
            }
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .collect()
        .await;
    progress::finish(pb);
    let unfence_secs = unfence_start.elapsed().as_secs_f64();
    if let Some(Err(e)) = fenced_left.into_iter().find(|r| r.is_err()) {
        stop.store(true, Ordering::Relaxed);
        return Err(e);
    }

    // One full round of heartbeats before measuring.
    tokio::time::sleep(Duration::from_millis(plan.interval_ms)).await;

    let ticks = clock_ticks();
    // The active controller now (an election during setup moves it; the brokers' channels
    // then reach it through forwarding, which the result reports).
    let q = admin.describe_quorum().await?;
    let active = q.leader_id as usize;
    let hw_start = q.high_watermark;
    let steady_term = q.leader_epoch;
    let mut pids: Vec<(String, String, u32)> = (0..cluster.addrs.len())
        .filter_map(|i| {
            let role = if i + 1 == active {
                "active"
            } else {
                "follower"
            };
            cluster
                .group
                .pid(i)
                .map(|p| (format!("kraftd-{}", i + 1), role.to_string(), p))
        })
        .collect();
    pids.push((
        "kraft-bench".into(),
        "load generator".into(),
        std::process::id(),
    ));
    let load_start = loadavg();
    let cpu_start: Vec<Option<u64>> = pids.iter().map(|(_, _, p)| cpu_ticks(*p)).collect();
    let steady_start = Instant::now();
    stats.measuring.store(true, Ordering::Relaxed);

    let steady = Duration::from_secs_f64(plan.steady_secs);
    let pb = progress::bar(steady.as_secs().max(1), "steady heartbeats");
    while steady_start.elapsed() < steady {
        tokio::time::sleep(Duration::from_millis(250).min(steady)).await;
        if let Some(p) = &pb {
            p.set_position(steady_start.elapsed().as_secs());
            p.set_message(format!(
                "steady: {} hb, {} err",
                stats.ok.load(Ordering::Relaxed),
                stats.errors.load(Ordering::Relaxed)
            ));
        }
    }
    stats.measuring.store(false, Ordering::Relaxed);
    let secs = steady_start.elapsed().as_secs_f64();
    let cpu_end: Vec<Option<u64>> = pids.iter().map(|(_, _, p)| cpu_ticks(*p)).collect();
    let load_end = loadavg();
    progress::finish(pb);
    stop.store(true, Ordering::Relaxed);
    let _ = scheduler.await;
    // Let the last heartbeats finish (bounded) before reading the log and the cluster.
    let drain = Instant::now() + Duration::from_secs(10);
    while sims.iter().any(|s| s.in_flight.load(Ordering::Acquire)) && Instant::now() < drain {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let q = admin.describe_quorum().await?;
    let hw_end = q.high_watermark;
    let leader_changes = u64::from(active != leader) + u64::from(q.leader_id as usize != active);
    let (terms_steady, terms_total) = (
        q.leader_epoch.saturating_sub(steady_term),
        q.leader_epoch.saturating_sub(first_term),
    );
    let described = admin.describe_cluster(false).await?;
    let unfenced_at_end = described.brokers.iter().filter(|b| !b.fenced).count();

    let cpu: Vec<ProcCpu> = pids
        .iter()
        .zip(cpu_start.iter().zip(cpu_end.iter()))
        .filter_map(|((name, role, _), (a, b))| {
            Some(ProcCpu {
                process: name.clone(),
                role: role.clone(),
                cores: (b.as_ref()?.saturating_sub(*a.as_ref()?)) as f64 / ticks / secs,
            })
        })
        .collect();
    let active_controller_cores = cpu
        .iter()
        .find(|c| c.role == "active")
        .map_or(0.0, |c| c.cores);
    let hist = stats.hist.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    let heartbeats = stats.ok.load(Ordering::Relaxed);
    let first_error = stats
        .first_error
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    Ok(BrokersResult {
        register_secs,
        unfence_secs,
        unfenced_at_end,
        heartbeats,
        target_per_sec: f64::from(plan.brokers) * 1000.0 / plan.interval_ms as f64,
        heartbeats_per_sec: heartbeats as f64 / secs,
        errors: stats.errors.load(Ordering::Relaxed),
        first_error,
        fenced_after_unfence: stats.fenced_after_unfence.load(Ordering::Relaxed),
        skipped_slots: stats.skipped.load(Ordering::Relaxed),
        log_entries_steady: hw_end - hw_start,
        leader_changes,
        terms_steady,
        terms_total,
        p50_ms: ms(0.5),
        p99_ms: ms(0.99),
        p999_ms: ms(0.999),
        max_ms: hist.max() as f64 / 1000.0,
        cpu,
        active_controller_cores,
        loadavg: (load_start, load_end),
        plan,
    })
}

/// Prints the result as tables.
pub fn print(r: &BrokersResult) {
    println!(
        "\n== brokers: {} simulated brokers, heartbeat every {} ms, 3 voters, fsync on ==",
        r.plan.brokers, r.plan.interval_ms
    );
    println!(
        "register {:.1} s, unfence {:.1} s, steady {:.0} s over {} connections; load average {:.2} -> {:.2}",
        r.register_secs,
        r.unfence_secs,
        r.plan.steady_secs,
        r.plan.connections,
        r.loadavg.0,
        r.loadavg.1
    );
    println!(
        "{:>10} {:>10} {:>10} {:>7} {:>8} {:>8} {:>9} {:>9} {:>9} {:>9}",
        "heartbeats",
        "target/s",
        "hb/s",
        "errors",
        "fenced",
        "skipped",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "max ms"
    );
    println!(
        "{:>10} {:>10.0} {:>10.0} {:>7} {:>8} {:>8} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
        r.heartbeats,
        r.target_per_sec,
        r.heartbeats_per_sec,
        r.errors,
        r.fenced_after_unfence,
        r.skipped_slots,
        r.p50_ms,
        r.p99_ms,
        r.p999_ms,
        r.max_ms
    );
    println!("{:<12} {:<15} {:>7}", "process", "role", "cores");
    for c in &r.cpu {
        println!("{:<12} {:<15} {:>7.3}", c.process, c.role, c.cores);
    }
    println!(
        "Raft log entries written during the steady phase: {}; brokers unfenced at the end: {}/{}; leader changes: {}",
        r.log_entries_steady, r.unfenced_at_end, r.plan.brokers, r.leader_changes
    );
    if let Some(e) = &r.first_error {
        println!("first error: {e}");
    }
}
