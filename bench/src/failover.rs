//! `failover`: a writer at a fixed rate, SIGKILL of the active controller, time until the
//! next acknowledged write; repeated, with default and tuned Raft timeouts.
//!
//! Every round starts from a healthy quorum (all three voters up and caught up to the high
//! watermark), looks up the active controller just before the kill (an earlier look-up can
//! be stale: tuned timeouts on a loaded machine occasionally move leadership on their own),
//! and restarts the killed node afterwards. Besides the gap to the next acknowledged write,
//! each round records when a surviving controller first named a new active controller, which
//! splits the gap into election and write path.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use kraft_client::Client;
use serde::Serialize;

use crate::kraft::{KraftTarget, client_config, create_topic, wait_ready};
use crate::procs::wait_for;

/// One kill round.
#[derive(Clone, Debug, Serialize)]
pub struct Round {
    /// Node id of the controller killed.
    pub killed: u64,
    /// SIGKILL → first acknowledged write issued after it, ms.
    pub gap_ms: f64,
    /// SIGKILL → a surviving controller first names another active controller, ms (polled
    /// every ~5 ms; `None` if the write came back first).
    pub new_leader_ms: Option<f64>,
    /// Whether the writer's client was connected to the killed controller (it then fails
    /// over to another endpoint itself; otherwise the controller it uses forwards).
    pub client_on_killed: bool,
}

/// What one timeout setting measured.
#[derive(Clone, Debug, Serialize)]
pub struct FailoverResult {
    /// `default` or `tuned`.
    pub label: String,
    /// The kraftd flags used.
    pub flags: Vec<String>,
    /// SIGKILL → first acknowledged write issued after it, ms, per repeat.
    pub samples_ms: Vec<f64>,
    /// Median of `samples_ms` (mean of the two middle values for an even count).
    pub median_ms: f64,
    /// Max of `samples_ms`.
    pub max_ms: f64,
    /// Median of the rounds' `new_leader_ms`.
    pub median_new_leader_ms: Option<f64>,
    /// Every round in order.
    pub rounds: Vec<Round>,
    /// `/proc/loadavg` before the first and after the last round.
    pub loadavg: (String, String),
}

/// `/proc/loadavg`, its first three fields.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn median(v: &[f64]) -> Option<f64> {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(s[n / 2]),
        _ => Some((s[n / 2 - 1] + s[n / 2]) / 2.0),
    }
}

/// Waits until the quorum has an active controller and every voter's log reaches the high
/// watermark; returns the active controller's id.
async fn wait_healthy(client: &Client, voters: usize, timeout: Duration) -> Result<u64> {
    wait_for("every voter caught up", timeout, || async {
        let q = client.describe_quorum().await?;
        if q.leader_id == 0 {
            bail!("no leader");
        }
        let behind: Vec<u64> = q
            .current_voters
            .iter()
            .filter(|v| v.log_end_offset < q.high_watermark)
            .map(|v| v.replica_id)
            .collect();
        if q.current_voters.len() != voters || !behind.is_empty() || q.high_watermark <= 0 {
            bail!(
                "high watermark {}, voters {}, behind: {behind:?}",
                q.high_watermark,
                q.current_voters.len()
            );
        }
        Ok(q.leader_id)
    })
    .await
}

/// Runs `repeats` kill-and-measure rounds on one quorum started with `flags`.
pub async fn run(
    bin: PathBuf,
    label: &str,
    flags: Vec<String>,
    repeats: usize,
    rate_hz: u64,
    progress: Option<indicatif::ProgressBar>,
) -> Result<FailoverResult> {
    let load_before = loadavg();
    let mut target = KraftTarget::start(bin, &flags).await?;
    let bootstrap = target.cluster.bootstrap();
    let voters = target.cluster.addrs.len();
    let mut rounds = Vec::new();
    for r in 0..repeats {
        let client = wait_ready(&bootstrap, Duration::from_secs(30)).await?;
        wait_healthy(&client, voters, Duration::from_secs(30))
            .await
            .with_context(|| format!("round {r}: quorum healthy before the kill"))?;
        // Open-loop writer: one create every 1/rate s, each on its own task.
        let acks: Arc<Mutex<Vec<(Instant, Instant)>>> = Arc::default();
        let last_error: Arc<Mutex<Option<String>>> = Arc::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer_client = target.client(r);
        let writer = {
            let acks = acks.clone();
            let last_error = last_error.clone();
            let stop = stop.clone();
            let client = writer_client.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate_hz));
                let mut seq = 0u64;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) && seq < 100_000 {
                    tick.tick().await;
                    let acks = acks.clone();
                    let last_error = last_error.clone();
                    let client = client.clone();
                    let name = format!("fo-{r}-{seq}");
                    seq += 1;
                    tokio::spawn(async move {
                        let issued = Instant::now();
                        match create_topic(&client, &name, 1, 1).await {
                            Ok(()) => acks.lock().expect("acks").push((issued, Instant::now())),
                            Err(e) => *last_error.lock().expect("error") = Some(e),
                        }
                    });
                }
            })
        };
        // Writes flow before the kill.
        wait_for(
            "writes before the kill",
            Duration::from_secs(10),
            || async {
                if acks.lock().expect("acks").len() >= 10 {
                    Ok(())
                } else {
                    let last = last_error.lock().expect("error").clone();
                    bail!("fewer than 10 acks; last write error: {last:?}")
                }
            },
        )
        .await
        .with_context(|| format!("round {r}"))?;
        // Who leads right now (not at the start of the round: leadership can move).
        let leader = client.describe_quorum().await?.leader_id;
        let li = usize::try_from(leader)
            .ok()
            .filter(|l| (1..=voters).contains(l))
            .context("no active controller known before the kill")?
            - 1;
        let client_on_killed = writer_client
            .current_endpoint()
            .ends_with(&target.cluster.addrs[li]);
        let killed_at = Instant::now();
        target.cluster.group.kill(li);
        let new_leader = tokio::spawn(first_new_leader(
            target
                .cluster
                .addrs
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != li)
                .map(|(_, a)| a.clone())
                .collect(),
            leader,
            killed_at,
        ));
        let gap = wait_for(
            "an acknowledged write after the kill",
            Duration::from_secs(30),
            || async {
                let first = acks
                    .lock()
                    .expect("acks")
                    .iter()
                    .filter(|(issued, _)| *issued >= killed_at)
                    .map(|(_, acked)| *acked)
                    .min();
                first
                    .map(|a| a.duration_since(killed_at))
                    .context("no write acknowledged yet")
            },
        )
        .await;
        let gap = match gap {
            Ok(g) => g,
            Err(e) => {
                let tails: Vec<String> = (0..voters)
                    .map(|i| format!("node {} log:\n{}", i + 1, target.cluster.group.log_tail(i)))
                    .collect();
                let last = last_error.lock().expect("error").clone();
                bail!(
                    "round {r}: {e:#} (killed node {leader}; last write error: {last:?})\n{}",
                    tails.join("\n")
                );
            }
        };
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = writer.await;
        new_leader.abort();
        let new_leader_ms = new_leader
            .await
            .ok()
            .flatten()
            .map(|d| d.as_secs_f64() * 1000.0);
        rounds.push(Round {
            killed: leader,
            gap_ms: gap.as_secs_f64() * 1000.0,
            new_leader_ms,
            client_on_killed,
        });
        if let Some(p) = &progress {
            p.inc(1);
        }
        // Bring the node back; the next round starts once it has caught up.
        target.cluster.group.spawn(li)?;
    }
    let samples: Vec<f64> = rounds.iter().map(|r| r.gap_ms).collect();
    let elections: Vec<f64> = rounds.iter().filter_map(|r| r.new_leader_ms).collect();
    Ok(FailoverResult {
        label: label.into(),
        flags,
        median_ms: median(&samples).unwrap_or(0.0),
        max_ms: samples.iter().copied().fold(0.0, f64::max),
        median_new_leader_ms: median(&elections),
        samples_ms: samples,
        rounds,
        loadavg: (load_before, loadavg()),
    })
}

/// Polls the surviving controllers (their own view, no quorum read) until one names an active
/// controller other than `old`; returns the time since `since`. Ends after 30 s.
async fn first_new_leader(survivors: Vec<String>, old: u64, since: Instant) -> Option<Duration> {
    let mut clients = Vec::new();
    for a in &survivors {
        clients.push(Client::connect_with(a, client_config()).await.ok()?);
    }
    while since.elapsed() < Duration::from_secs(30) {
        for c in &clients {
            if let Ok(d) = c.describe_cluster(true).await
                && d.active_controller_id != 0
                && d.active_controller_id != old
            {
                return Some(since.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}

/// Prints the failover table.
pub fn print(results: &[FailoverResult]) {
    println!("\n== failover (SIGKILL leader -> next acknowledged write) ==");
    println!(
        "{:<8} {:>8} {:>11} {:>9} {:>16}  {:<16}  flags",
        "timeouts", "repeats", "median ms", "max ms", "new leader ms", "load avg"
    );
    for r in results {
        println!(
            "{:<8} {:>8} {:>11.0} {:>9.0} {:>16}  {:<16}  {}",
            r.label,
            r.samples_ms.len(),
            r.median_ms,
            r.max_ms,
            r.median_new_leader_ms
                .map_or("-".to_string(), |m| format!("{m:.0}")),
            r.loadavg.0,
            r.flags.join(" ")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0]), Some(3.0));
        assert_eq!(median(&[4.0, 1.0]), Some(2.5));
        assert_eq!(median(&[5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
    }
}
