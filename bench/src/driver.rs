//! Closed-loop load: `clients` tasks each issue one operation at a time until the duration or
//! the operation budget runs out (every load loop is bounded in count and in time).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use indicatif::ProgressBar;
use serde::Serialize;

/// What one run measured. Latencies in microseconds.
pub struct RunStats {
    /// Operations acknowledged.
    pub ops: u64,
    /// Operations that failed.
    pub errors: u64,
    /// Wall time of the run.
    pub secs: f64,
    /// Latency of acknowledged operations, µs.
    pub hist: Histogram<u64>,
    /// The first error seen, if any.
    pub first_error: Option<String>,
}

/// A row of a result table (also its JSON form).
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// `kraftd` or `etcd`.
    pub system: String,
    /// What one operation is.
    pub op: String,
    /// Concurrent clients.
    pub clients: usize,
    /// Operations acknowledged.
    pub ops: u64,
    /// Operations that failed.
    pub errors: u64,
    /// Acknowledged operations per second.
    pub ops_per_sec: f64,
    /// Latency percentiles, ms.
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    /// CPU time per acknowledged operation: all server processes together, and the load
    /// generator (from `/proc/<pid>/stat` before and after the run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_per_op: Option<crate::procs::CpuPerOp>,
    /// Latency CDF points `(ms, fraction)`, for plots.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cdf: Vec<(f64, f64)>,
}

impl RunStats {
    /// The table row of this run.
    pub fn row(&self, system: &str, op: &str, clients: usize) -> Row {
        let ms = |q: f64| self.hist.value_at_quantile(q) as f64 / 1000.0;
        let cdf = if self.hist.is_empty() {
            Vec::new()
        } else {
            (0..=200)
                .map(|i| {
                    let q = 1.0 - 0.5f64.powf(f64::from(i) / 20.0);
                    (ms(q), q)
                })
                .collect()
        };
        Row {
            system: system.into(),
            op: op.into(),
            clients,
            ops: self.ops,
            errors: self.errors,
            ops_per_sec: if self.secs > 0.0 {
                self.ops as f64 / self.secs
            } else {
                0.0
            },
            p50_ms: ms(0.5),
            p99_ms: ms(0.99),
            p999_ms: ms(0.999),
            max_ms: self.hist.max() as f64 / 1000.0,
            cpu_per_op: None,
            cdf,
        }
    }
}

/// The future of one operation.
pub type OpFuture = futures::future::BoxFuture<'static, Result<(), String>>;

/// An operation of a closed loop, `op(client, seq)`, as the bench targets build them.
pub type Op = Box<dyn Fn(usize, u64) -> OpFuture + Send + Sync>;

/// The longest one operation may take before it counts as failed: a backstop, so a server
/// that accepts a request and never answers cannot hold a run forever (the systems' own
/// clients time out well before it).
pub const OP_DEADLINE: Duration = Duration::from_secs(60);

/// Runs `op(client, seq)` from `clients` concurrent tasks until `duration` passed or
/// `max_ops` operations started, whichever comes first.
pub async fn closed_loop<F, Fut>(
    clients: usize,
    duration: Duration,
    max_ops: u64,
    progress: Option<ProgressBar>,
    op: F,
) -> RunStats
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let op = Arc::new(op);
    let started = Arc::new(AtomicU64::new(0));
    let begin = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        let op = op.clone();
        let started = started.clone();
        let progress = progress.clone();
        tasks.spawn(async move {
            let mut hist = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).expect("bounds");
            let (mut ops, mut errors, mut first_error) = (0u64, 0u64, None);
            let mut seq = 0u64;
            while begin.elapsed() < duration && started.fetch_add(1, Ordering::Relaxed) < max_ops {
                let t = Instant::now();
                let answer = tokio::time::timeout(OP_DEADLINE, op(c, seq))
                    .await
                    .unwrap_or_else(|_| Err(format!("no answer within {OP_DEADLINE:?}")));
                match answer {
                    Ok(()) => {
                        ops += 1;
                        let _ = hist.record((t.elapsed().as_micros() as u64).max(1));
                    }
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
                seq += 1;
                if let Some(p) = &progress {
                    p.inc(1);
                }
            }
            (hist, ops, errors, first_error)
        });
    }
    let mut total = RunStats {
        ops: 0,
        errors: 0,
        secs: 0.0,
        hist: Histogram::new_with_bounds(1, 120_000_000, 3).expect("bounds"),
        first_error: None,
    };
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok((h, ops, errors, first)) => {
                let _ = total.hist.add(&h);
                total.ops += ops;
                total.errors += errors;
                if total.first_error.is_none() {
                    total.first_error = first;
                }
            }
            Err(e) => {
                total.errors += 1;
                total
                    .first_error
                    .get_or_insert(format!("client task failed: {e}"));
            }
        }
    }
    total.secs = begin.elapsed().as_secs_f64();
    total
}
