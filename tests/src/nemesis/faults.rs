//! The nemesis: one fault at a time, held for a random while, then healed, on the network
//! ([`Net`]) and on the processes ([`Cluster`]).

use std::collections::BTreeMap;
use std::time::Duration;

use kraft_client::{Client, ClientConfig};
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use tokio::time::Instant;
use tracing::info;

use super::proxy::Net;
use crate::Cluster;

/// The kinds of fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// A random minority (one node of 3, one or two of 5) cut off from the majority, both
    /// ways.
    Partition,
    /// The active controller cut off from every other node, both ways.
    LeaderIsolation,
    /// A node's outgoing traffic lost while it still hears the others (the leader half the
    /// time).
    OneWay,
    /// Every link delays each chunk by a random 10–120 ms.
    Delay,
    /// Every link resets its connection on 2–8 % of chunks.
    Drop,
    /// SIGKILL a node (the leader half the time), restart it.
    Kill,
    /// SIGSTOP a node (the leader half the time), SIGCONT it.
    Pause,
    /// SIGTERM a node (graceful: leadership handed over), restart it.
    Restart,
}

/// Every kind, in a fixed order.
pub const ALL: [FaultKind; 8] = [
    FaultKind::Partition,
    FaultKind::LeaderIsolation,
    FaultKind::OneWay,
    FaultKind::Delay,
    FaultKind::Drop,
    FaultKind::Kill,
    FaultKind::Pause,
    FaultKind::Restart,
];

/// What the nemesis did.
#[derive(Clone, Debug, Default)]
pub struct FaultLog {
    /// How many faults of each kind.
    pub counts: BTreeMap<FaultKind, u32>,
    /// One line per fault: time, kind, target.
    pub lines: Vec<String>,
}

impl FaultLog {
    /// Total faults injected.
    pub fn total(&self) -> u32 {
        self.counts.values().sum()
    }
}

/// The active controller as some node reports it (1 s per node at most).
pub async fn current_leader(cluster: &Cluster) -> Option<u64> {
    let config = ClientConfig {
        connect_timeout: Duration::from_millis(300),
        request_timeout: Duration::from_millis(700),
        retry_deadline: Duration::ZERO,
        ..ClientConfig::default()
    };
    for n in &cluster.nodes {
        let Ok(c) = Client::connect_with(&n.addr, config.clone()).await else {
            continue;
        };
        if let Ok(d) = c.describe_cluster(true).await
            && d.active_controller_id != 0
        {
            return Some(d.active_controller_id);
        }
    }
    None
}

fn ms(rng: &mut StdRng, lo: u64, hi: u64) -> Duration {
    Duration::from_millis(rng.random_range(lo..=hi))
}

/// Injects faults until `until`: first every kind once in a shuffled order, then kinds at
/// random. Each fault is held for about 1–3 s and followed by a quiet 0.5–1.5 s. Ends with
/// everything healed and every node running.
pub async fn run(cluster: &mut Cluster, net: &Net, rng: &mut StdRng, until: Instant) -> FaultLog {
    let started = Instant::now();
    let mut log = FaultLog::default();
    let ids = net.ids();
    let mut first_round: Vec<FaultKind> = ALL.to_vec();
    first_round.shuffle(rng);
    let mut round = first_round.into_iter();
    loop {
        // The first round always completes, so every kind runs at least once.
        let kind = match round.next() {
            Some(k) => k,
            None if Instant::now() < until => ALL[rng.random_range(0..ALL.len())],
            None => break,
        };
        let leader = current_leader(cluster).await;
        let random_node = ids[rng.random_range(0..ids.len())];
        let leader_or_random = match leader {
            Some(l) if rng.random_bool(0.5) => l,
            _ => random_node,
        };
        let hold = ms(rng, 1000, 3000);
        let target = match kind {
            FaultKind::Partition => {
                let mut side = ids.clone();
                side.shuffle(rng);
                side.truncate(rng.random_range(1..=(ids.len() - 1) / 2));
                net.split(&side);
                tokio::time::sleep(hold).await;
                net.heal();
                format!("nodes {side:?} | the rest")
            }
            FaultKind::LeaderIsolation => {
                let l = leader.unwrap_or(random_node);
                net.isolate(l);
                tokio::time::sleep(hold).await;
                net.heal();
                format!("leader {l} (known: {})", leader.is_some())
            }
            FaultKind::OneWay => {
                let x = leader_or_random;
                for &y in &ids {
                    if y != x {
                        net.set(x, y, |f| f.blocked = true);
                    }
                }
                tokio::time::sleep(hold).await;
                net.heal();
                format!("node {x} unheard")
            }
            FaultKind::Delay => {
                let hi = rng.random_range(30..=120);
                net.set_all(|f| f.delay_ms = (10, hi));
                tokio::time::sleep(hold).await;
                net.heal();
                format!("10-{hi} ms on every link")
            }
            FaultKind::Drop => {
                let p = rng.random_range(20..=80);
                net.set_all(|f| f.drop_per_mille = p);
                tokio::time::sleep(hold).await;
                net.heal();
                format!("{p}‰ of chunks reset their connection")
            }
            FaultKind::Kill => {
                let x = leader_or_random;
                cluster.kill(x);
                tokio::time::sleep(ms(rng, 300, 1500)).await;
                cluster.spawn(x);
                format!("node {x} SIGKILL, restarted")
            }
            FaultKind::Pause => {
                let x = leader_or_random;
                cluster.pause(x);
                tokio::time::sleep(hold).await;
                cluster.resume(x);
                format!("node {x} SIGSTOP/SIGCONT")
            }
            FaultKind::Restart => {
                let x = leader_or_random;
                cluster.terminate(x);
                cluster.spawn(x);
                format!("node {x} SIGTERM, restarted")
            }
        };
        let line = format!(
            "{:>7.2}s {kind:?}: {target}",
            started.elapsed().as_secs_f64()
        );
        info!("nemesis {line}");
        log.lines.push(line);
        *log.counts.entry(kind).or_default() += 1;
        tokio::time::sleep(ms(rng, 500, 1500)).await;
    }
    net.heal();
    log
}
