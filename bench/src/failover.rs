//! `failover`: a writer at a fixed rate, SIGKILL of the active controller, time until the
//! next acknowledged write; repeated, with default and tuned Raft timeouts.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::kraft::{KraftTarget, create_topic, wait_ready};
use crate::procs::wait_for;

/// What one timeout setting measured.
#[derive(Clone, Debug, Serialize)]
pub struct FailoverResult {
    /// `default` or `tuned`.
    pub label: String,
    /// The kraftd flags used.
    pub flags: Vec<String>,
    /// SIGKILL → first acknowledged write issued after it, ms, per repeat.
    pub samples_ms: Vec<f64>,
    /// Median of `samples_ms`.
    pub median_ms: f64,
    /// Max of `samples_ms`.
    pub max_ms: f64,
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
    let mut target = KraftTarget::start(bin, &flags).await?;
    let bootstrap = target.cluster.bootstrap();
    let mut samples = Vec::new();
    for r in 0..repeats {
        let client = wait_ready(&bootstrap, Duration::from_secs(30)).await?;
        let leader = client.describe_cluster(false).await?.active_controller_id as usize;
        if leader == 0 || leader > target.cluster.addrs.len() {
            bail!("no active controller known");
        }
        // Open-loop writer: one create every 1/rate s, each on its own task.
        let acks: Arc<Mutex<Vec<(Instant, Instant)>>> = Arc::default();
        let last_error: Arc<Mutex<Option<String>>> = Arc::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let acks = acks.clone();
            let last_error = last_error.clone();
            let stop = stop.clone();
            let client = target.client(r);
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
        .await?;
        let killed_at = Instant::now();
        target.cluster.group.kill(leader - 1);
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
                let tails: Vec<String> = (0..target.cluster.addrs.len())
                    .map(|i| format!("node {} log:\n{}", i + 1, target.cluster.group.log_tail(i)))
                    .collect();
                let last = last_error.lock().expect("error").clone();
                bail!(
                    "{e:#} (killed node {leader}; last write error: {last:?})\n{}",
                    tails.join("\n")
                );
            }
        };
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = writer.await;
        samples.push(gap.as_secs_f64() * 1000.0);
        if let Some(p) = &progress {
            p.inc(1);
        }
        // Bring the node back and wait until it answers for itself again.
        target.cluster.group.spawn(leader - 1)?;
        let addr = target.cluster.addrs[leader - 1].clone();
        wait_for("the restarted node", Duration::from_secs(30), || {
            let addr = addr.clone();
            async move {
                let c = kraft_client::Client::connect_with(&addr, crate::kraft::client_config())
                    .await?;
                let d = c.describe_cluster(true).await?;
                if d.active_controller_id == 0 {
                    bail!("no leader known yet");
                }
                Ok(())
            }
        })
        .await?;
    }
    let mut sorted = samples.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));
    Ok(FailoverResult {
        label: label.into(),
        flags,
        median_ms: sorted.get(sorted.len() / 2).copied().unwrap_or(0.0),
        max_ms: sorted.last().copied().unwrap_or(0.0),
        samples_ms: samples,
    })
}

/// Prints the failover table.
pub fn print(results: &[FailoverResult]) {
    println!("\n== failover (SIGKILL leader -> next acknowledged write) ==");
    println!(
        "{:<8} {:>8} {:>11} {:>9}  flags",
        "timeouts", "repeats", "median ms", "max ms"
    );
    for r in results {
        println!(
            "{:<8} {:>8} {:>11.0} {:>9.0}  {}",
            r.label,
            r.samples_ms.len(),
            r.median_ms,
            r.max_ms,
            r.flags.join(" ")
        );
    }
}
