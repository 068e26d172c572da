//! `writes` and `peer-etcd`: durable writes at 1..256 concurrent clients, and the same shape
//! against etcd in the same run.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;

use crate::driver::{Op, Row, closed_loop};
use crate::etcd::EtcdTarget;
use crate::kraft::KraftTarget;
use crate::procs::CpuMeter;
use crate::progress;

/// Sizes of a writes run.
#[derive(Clone, Debug, Serialize)]
pub struct WritesPlan {
    /// Concurrent client counts.
    pub clients: Vec<usize>,
    /// Longest run per (op, clients).
    pub duration: Duration,
    /// Most operations per (op, clients).
    pub max_ops: u64,
}

/// One fsync and one loopback round trip, measured here: the floor of a durable write.
#[derive(Clone, Debug, Serialize)]
pub struct Floor {
    /// Median `write(4 KiB) + fdatasync` in the bench's temp directory, ms.
    pub fsync_ms: f64,
    /// Median TCP round trip on 127.0.0.1 (1 byte each way), ms.
    pub loopback_rtt_ms: f64,
    /// The target for kraftd's p50 at 1 client: 1.5 × (fsync + round trip), ms.
    pub p50_target_ms: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Measures [`Floor`].
pub async fn measure_floor() -> Result<Floor> {
    let dir = tempfile::tempdir()?;
    let mut f = std::fs::File::create(dir.path().join("fsync-probe"))?;
    let block = vec![7u8; 4096];
    let mut fsyncs = Vec::new();
    for _ in 0..100 {
        let t = Instant::now();
        f.write_all(&block)?;
        f.sync_data()?;
        fsyncs.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let echo = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        if let Ok((mut s, _)) = listener.accept().await {
            let _ = s.set_nodelay(true);
            let mut b = [0u8; 1];
            while s.read_exact(&mut b).await.is_ok() {
                if s.write_all(&b).await.is_err() {
                    break;
                }
            }
        }
    });
    let mut rtts = Vec::new();
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        let mut b = [0u8; 1];
        for _ in 0..1000 {
            let t = Instant::now();
            s.write_all(&[1]).await?;
            s.read_exact(&mut b).await?;
            rtts.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    echo.abort();
    let fsync_ms = median(fsyncs);
    let loopback_rtt_ms = median(rtts);
    Ok(Floor {
        fsync_ms,
        loopback_rtt_ms,
        p50_target_ms: 1.5 * (fsync_ms + loopback_rtt_ms),
    })
}

/// The longest and the most operations of one read-path run (1 client).
const READ_PATH_LIMIT: (Duration, u64) = (Duration::from_secs(3), 5_000);

/// One client, reads in a closed loop: `op` names the row. Runs before any write, on an idle
/// cluster, as the 1-client writes do.
async fn read_path_row(system: &str, op: &str, plan: &WritesPlan, f: Op) -> Row {
    let duration = plan.duration.min(READ_PATH_LIMIT.0);
    let max_ops = plan.max_ops.min(READ_PATH_LIMIT.1);
    let pb = progress::bar(max_ops, &format!("{system} {op} x1"));
    let stats = closed_loop(1, duration, max_ops, pb.clone(), f).await;
    progress::finish(pb);
    if let Some(e) = &stats.first_error {
        eprintln!("{system} {op} x1: {} errors, first: {e}", stats.errors);
    }
    let mut row = stats.row(system, op, 1);
    row.cdf.clear();
    row
}

/// Read-path rows of kraftd (`DescribeCluster`): local read, then linearizable read.
const KRAFT_READS: [(&str, bool); 2] = [("read local", false), ("read linear.", true)];
/// Read-path rows of etcd (`Range` of one key): serializable, then linearizable.
const ETCD_READS: [(&str, bool); 2] = [("range serial.", false), ("range linear.", true)];

/// Prints the read-path rows (what a 1-client write's path costs without its disk: a local
/// read is one gRPC round trip to the leader, a linearizable read adds one quorum round) and
/// splits each system's 1-client write p50 in `writes` into the round trip, the quorum round
/// and the rest (log append, fsync, apply).
pub fn print_read_path(reads: &[Row], writes: &[Row]) {
    if reads.is_empty() {
        return;
    }
    crate::report::print_rows(
        "1 client, no disk: local read = one gRPC round trip to the leader; linearizable \
         read = that + one quorum round (ReadIndex)",
        reads,
    );
    for (system, ops, write) in [
        ("kraftd", KRAFT_READS, "create"),
        ("etcd", ETCD_READS, "put"),
    ] {
        let p50 = |op: &str| {
            reads
                .iter()
                .chain(writes)
                .find(|r| r.system == system && r.clients == 1 && r.op.starts_with(op))
                .map(|r| r.p50_ms)
        };
        // A row without acknowledged operations has no p50 to split.
        let measured = |v: Option<f64>| v.filter(|ms| *ms > 0.0);
        if let (Some(local), Some(linear), Some(write)) = (
            measured(p50(ops[0].0)),
            measured(p50(ops[1].0)),
            measured(p50(write)),
        ) {
            println!(
                "{system}: 1-client write p50 {write:.3} ms = round trip {local:.3} + quorum round \
                 {:.3} + the rest (log append, fsync, apply) {:.3}",
                linear - local,
                write - linear
            );
        }
    }
}

/// kraftd: the read path at 1 client (when `read_path`), then topic creates and ISR changes
/// at every client count. Returns the write rows and the read-path rows.
pub async fn kraft_writes(
    bin: PathBuf,
    plan: &WritesPlan,
    ops: &[&str],
    read_path: bool,
) -> Result<(Vec<Row>, Vec<Row>)> {
    // Every run creates topics and none are deleted: at 256 clients the runs together pass the
    // default limit of 100,000 topics, and the rest of the creates would be POLICY_VIOLATION.
    let target = KraftTarget::start(bin, &["--max-topics".into(), "2000000".into()]).await?;
    let mut reads = Vec::new();
    if read_path {
        for (op, linearizable) in KRAFT_READS {
            reads.push(read_path_row("kraftd", op, plan, target.read_op(linearizable)).await);
        }
    }
    let mut rows = Vec::new();
    for op in ops {
        for &clients in &plan.clients {
            let run = format!("w{}", rows.len());
            let pb = progress::bar(plan.max_ops, &format!("kraftd {op} x{clients}"));
            let (stats, cpu) = match *op {
                "create" => {
                    let cpu = CpuMeter::start(target.cluster.group.pids());
                    let stats = closed_loop(
                        clients,
                        plan.duration,
                        plan.max_ops,
                        pb.clone(),
                        target.create_op(&run),
                    )
                    .await;
                    (stats, cpu)
                }
                _ => {
                    let f = target.isr_op(&run, clients).await?;
                    let cpu = CpuMeter::start(target.cluster.group.pids());
                    let stats =
                        closed_loop(clients, plan.duration, plan.max_ops, pb.clone(), f).await;
                    (stats, cpu)
                }
            };
            progress::finish(pb);
            if let Some(e) = &stats.first_error {
                eprintln!(
                    "kraftd {op} x{clients}: {} errors, first: {e}",
                    stats.errors
                );
            }
            let mut row = stats.row("kraftd", op, clients);
            row.cpu_per_op = cpu.per_op(stats.ops);
            rows.push(row);
        }
    }
    Ok((rows, reads))
}

/// etcd: the read path at 1 client when `read_path` (a `Range` of one key, serializable and
/// linearizable), then one `value_len`-byte put per operation at every client count. Returns
/// the put rows, the read-path rows and what the watchers saw.
pub async fn etcd_writes(
    bin: PathBuf,
    plan: &WritesPlan,
    value_len: usize,
    watchers: usize,
    read_path: bool,
) -> Result<(Vec<Row>, Vec<Row>, WatchSummary)> {
    let target = EtcdTarget::start(bin, watchers).await?;
    const READ_KEY: &str = "/read-path";
    let mut reads = Vec::new();
    if read_path {
        target.put_once(READ_KEY, value_len).await?;
        for (op, linearizable) in ETCD_READS {
            let f = target.range_op(READ_KEY, linearizable);
            reads.push(read_path_row("etcd", op, plan, f).await);
        }
    }
    let mut rows = Vec::new();
    for &clients in &plan.clients {
        let run = format!("p{}", rows.len());
        let pb = progress::bar(plan.max_ops, &format!("etcd put x{clients}"));
        let cpu = CpuMeter::start(target.pids());
        let stats = closed_loop(
            clients,
            plan.duration,
            plan.max_ops,
            pb.clone(),
            target.put_op(&run, value_len),
        )
        .await;
        progress::finish(pb);
        if let Some(e) = &stats.first_error {
            eprintln!("etcd put x{clients}: {} errors, first: {e}", stats.errors);
        }
        let mut row = stats.row("etcd", &format!("put {value_len}B"), clients);
        row.cpu_per_op = cpu.per_op(stats.ops);
        rows.push(row);
    }
    let puts: u64 = rows.iter().map(|r| r.ops).sum();
    // Every put is watched, the read path's one too.
    let watched = puts + u64::from(read_path);
    let least_seen = target.wait_watched(watched, Duration::from_secs(30)).await;
    Ok((
        rows,
        reads,
        WatchSummary {
            watchers,
            puts_acknowledged: puts,
            least_seen,
            events: target.watch_events(),
        },
    ))
}

/// What etcd's watchers saw over a run.
#[derive(Clone, Debug, Serialize)]
pub struct WatchSummary {
    /// Watchers on every key written.
    pub watchers: usize,
    /// Puts acknowledged over all client counts.
    pub puts_acknowledged: u64,
    /// Events the watcher that saw fewest received (≥ the puts once it caught up).
    pub least_seen: u64,
    /// Events all watchers received together.
    pub events: u64,
}

/// kraftd / etcd per client count (throughput and p50 latency).
#[derive(Clone, Debug, Serialize)]
pub struct Ratio {
    /// Concurrent clients.
    pub clients: usize,
    /// kraftd ops/s ÷ etcd ops/s.
    pub throughput_ratio: f64,
    /// kraftd p50 ÷ etcd p50 (below 1 = kraftd faster).
    pub p50_ratio: f64,
}

/// Pairs kraftd and etcd rows by client count.
pub fn ratios(kraft: &[Row], etcd: &[Row]) -> Vec<Ratio> {
    kraft
        .iter()
        .filter_map(|k| {
            let e = etcd.iter().find(|e| e.clients == k.clients)?;
            Some(Ratio {
                clients: k.clients,
                throughput_ratio: if e.ops_per_sec > 0.0 {
                    k.ops_per_sec / e.ops_per_sec
                } else {
                    0.0
                },
                p50_ratio: if e.p50_ms > 0.0 {
                    k.p50_ms / e.p50_ms
                } else {
                    0.0
                },
            })
        })
        .collect()
}

/// Prints the ratio table.
pub fn print_ratios(r: &[Ratio]) {
    println!("\n== kraftd / etcd (same run) ==");
    println!(
        "{:>7} {:>18} {:>12}",
        "clients", "throughput ratio", "p50 ratio"
    );
    for x in r {
        println!(
            "{:>7} {:>17.2}x {:>11.2}x",
            x.clients, x.throughput_ratio, x.p50_ratio
        );
    }
}
