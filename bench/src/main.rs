//! `kraft-bench`: kraftd's benchmarks, side by side with etcd on the same machine in the same
//! run. Each scenario prints a table and writes JSON (and PNG plots) under `--out`.
//!
//! ```text
//! cargo run --release -p kraft-bench -- writes            # creates + ISR changes, 1..256 clients
//! cargo run --release -p kraft-bench -- peer-etcd         # kraftd creates vs etcd puts, ratios
//! cargo run --release -p kraft-bench -- failover          # SIGKILL the leader, 10 repeats x 2
//! cargo run --release -p kraft-bench -- brokers           # 10k brokers heartbeating every 2 s
//! cargo run --release -p kraft-bench -- scale             # 100k topics x 10 partitions, 100 brokers
//! cargo run --release -p kraft-bench -- --quick all       # every scenario at smoke sizes
//! ```
//!
//! `bench/run <the same arguments>` first installs what a fresh Debian machine lacks (etcd
//! from `etcd-server`, a font for the plots) and builds the release binaries.

mod brokers;
mod driver;
mod etcd;
mod failover;
mod kraft;
mod plot;
mod procs;
mod progress;
mod report;
mod scale;
mod writes;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Result, bail};
use clap::{Parser, Subcommand};
use serde_json::json;

use crate::report::{Environment, print_rows, write_json};
use crate::writes::WritesPlan;

#[derive(Parser, Debug)]
#[command(
    name = "kraft-bench",
    about = "kraftd benchmarks, side by side with etcd"
)]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
    /// Smoke sizes (seconds, not minutes): what CI runs.
    #[arg(long, global = true)]
    quick: bool,
    /// Directory for JSON results and PNG plots.
    #[arg(long, global = true, default_value = "bench-out")]
    out: PathBuf,
    /// The kraftd binary (default: next to this executable, or KRAFTD_BIN).
    #[arg(long, global = true)]
    kraftd: Option<PathBuf>,
    /// The etcd binary (Debian: `apt-get install etcd-server`).
    #[arg(long, global = true, default_value = "etcd")]
    etcd: PathBuf,
    /// Concurrent client counts (default 1,16,64,256; quick 1,16,64).
    #[arg(long, global = true, value_delimiter = ',')]
    clients: Vec<usize>,
    /// Longest run per client count, seconds (default 10; quick 1).
    #[arg(long, global = true)]
    duration_secs: Option<f64>,
    /// Most operations per client count (default 200000; quick 300).
    #[arg(long, global = true)]
    max_ops: Option<u64>,
    /// No progress bars.
    #[arg(long, global = true)]
    no_progress: bool,
}

#[derive(Subcommand, Debug)]
enum Scenario {
    /// Durable writes on a 3-voter kraftd quorum: topic creates and AlterPartition ISR changes.
    Writes,
    /// kraftd topic creates vs etcd ~200-byte puts, same client counts, same run.
    PeerEtcd {
        /// Bytes per etcd value.
        #[arg(long, default_value_t = 200)]
        value_bytes: usize,
        /// Watches on every key written, held by the load generator on etcd's followers: the
        /// etcd side of the one metadata stream kraftd's simulated brokers hold on a follower
        /// (0 = etcd with no watcher, the shape of runs before session s22).
        #[arg(long, default_value_t = 1)]
        etcd_watchers: usize,
    },
    /// SIGKILL the active controller under a fixed-rate writer: time to the next ack.
    Failover {
        /// Kill rounds per timeout setting (default 10; quick 2).
        #[arg(long)]
        repeats: Option<usize>,
        /// Writes per second issued by the writer.
        #[arg(long, default_value_t = 200)]
        rate: u64,
    },
    /// Simulated brokers registering, then heartbeating: latency, heartbeats/s, controller CPU.
    Brokers {
        /// Simulated brokers (default 10000; quick 1000).
        #[arg(long)]
        brokers: Option<u32>,
        /// Heartbeat interval of each broker, ms.
        #[arg(long, default_value_t = 2000)]
        interval_ms: u64,
        /// Measured steady phase, seconds (default 60; quick 6).
        #[arg(long)]
        steady_secs: Option<f64>,
        /// Shared gRPC connections the brokers use.
        #[arg(long, default_value_t = 8)]
        connections: usize,
        /// Extra kraftd flags, space-separated (e.g. "--election-timeout-ms 1000,2000").
        #[arg(long, allow_hyphen_values = true, default_value = "")]
        kraftd_flags: String,
    },
    /// 1 M partitions (100k topics x 10, RF 3) on 100 brokers: creation time, controller RSS,
    /// snapshot size and build time, restart-to-serving, a new broker's full fetch.
    Scale {
        /// Topics to create (default 100000; quick 500: the debug build CI runs is ~10x slower).
        #[arg(long)]
        topics: Option<u32>,
        /// Partitions per topic.
        #[arg(long, default_value_t = 10)]
        partitions: u32,
        /// Simulated brokers.
        #[arg(long, default_value_t = 100)]
        brokers: u32,
        /// Topics per CreateTopics request (at most 909 of 10 partitions: a request makes at
        /// most 10,000 records).
        #[arg(long, default_value_t = 50)]
        batch: u32,
        /// CreateTopics requests in flight.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
    },
    /// Every scenario above.
    All,
}

impl Cli {
    /// The `brokers` scenario's plan; `None` takes the full or `--quick` size.
    fn brokers_plan(
        &self,
        brokers: Option<u32>,
        interval_ms: u64,
        steady_secs: Option<f64>,
        connections: usize,
        kraftd_flags: &str,
    ) -> brokers::BrokersPlan {
        brokers::BrokersPlan {
            brokers: brokers.unwrap_or(if self.quick { 1000 } else { 10_000 }),
            interval_ms,
            steady_secs: steady_secs.unwrap_or(if self.quick { 6.0 } else { 60.0 }),
            connections,
            kraftd_flags: kraftd_flags.split_whitespace().map(String::from).collect(),
        }
    }

    /// The `scale` scenario's plan; `None` takes the full or `--quick` size.
    fn scale_plan(
        &self,
        topics: Option<u32>,
        partitions: u32,
        brokers: u32,
        batch: u32,
        concurrency: usize,
    ) -> scale::ScalePlan {
        scale::ScalePlan {
            topics: topics.unwrap_or(if self.quick { 500 } else { 100_000 }),
            partitions,
            replication_factor: 3,
            brokers,
            batch,
            concurrency,
            snapshot_interval_ms: if self.quick { 1_000 } else { 3_000 },
        }
    }

    fn plan(&self) -> WritesPlan {
        let clients = if !self.clients.is_empty() {
            self.clients.clone()
        } else if self.quick {
            vec![1, 16, 64]
        } else {
            vec![1, 16, 64, 256]
        };
        WritesPlan {
            clients,
            duration: Duration::from_secs_f64(self.duration_secs.unwrap_or(if self.quick {
                1.0
            } else {
                10.0
            })),
            max_ops: self
                .max_ops
                .unwrap_or(if self.quick { 300 } else { 200_000 }),
        }
    }
}

// The load generator shares the machine with the servers it measures, so every microsecond it
// spends per operation is taken from them: mimalloc, as kraftd itself uses, instead of glibc's
// malloc (~14 % of the generator's samples at 64 clients in s26, bench/RESULTS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .with_writer(std::io::stderr)
        .init();
    // mimalloc advises its arenas for huge pages; off, as in kraftd (each 2 MiB page faulted
    // back in is zeroed whole).
    if let Err(e) = nix::sys::prctl::set_thp_disable(true) {
        eprintln!("notice: could not turn transparent huge pages off: {e}");
    }
    let cli = Cli::parse();
    if cli.no_progress {
        progress::disable();
    }
    let fonts = plot::init_font();
    if !fonts {
        eprintln!("notice: no DejaVu Sans font found; PNG plots skipped (JSON has the figures)");
    }
    let kraftd = procs::kraftd_binary(cli.kraftd.as_deref())?;
    let run = run_scenario(&cli, &kraftd, fonts);
    // Ctrl-C or SIGTERM drops the scenario: its process groups' `Drop` kills the kraftd and
    // etcd children and removes their data directories (they were left behind before).
    tokio::select! {
        r = run => r,
        signal = interrupted() => bail!("{signal}: stopped the processes under test and removed their data"),
    }
}

async fn run_scenario(cli: &Cli, kraftd: &Path, fonts: bool) -> Result<()> {
    match &cli.scenario {
        Scenario::Writes => run_writes(cli, kraftd, fonts).await,
        Scenario::PeerEtcd {
            value_bytes,
            etcd_watchers,
        } => run_peer(cli, kraftd, *value_bytes, *etcd_watchers, fonts).await,
        Scenario::Failover { repeats, rate } => run_failover(cli, kraftd, *repeats, *rate).await,
        Scenario::Brokers {
            brokers,
            interval_ms,
            steady_secs,
            connections,
            kraftd_flags,
        } => {
            let plan = cli.brokers_plan(
                *brokers,
                *interval_ms,
                *steady_secs,
                *connections,
                kraftd_flags,
            );
            run_brokers(cli, kraftd, plan).await
        }
        Scenario::Scale {
            topics,
            partitions,
            brokers,
            batch,
            concurrency,
        } => {
            let plan = cli.scale_plan(*topics, *partitions, *brokers, *batch, *concurrency);
            run_scale(cli, kraftd, &plan).await
        }
        Scenario::All => {
            run_writes(cli, kraftd, fonts).await?;
            run_peer(cli, kraftd, 200, 1, fonts).await?;
            run_failover(cli, kraftd, None, 200).await?;
            // The scenarios' own defaults (see their flags).
            run_brokers(cli, kraftd, cli.brokers_plan(None, 2000, None, 8, "")).await?;
            run_scale(cli, kraftd, &cli.scale_plan(None, 10, 100, 50, 4)).await
        }
    }
}

/// Resolves on the first Ctrl-C (SIGINT) or SIGTERM, naming it.
async fn interrupted() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return "interrupted";
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "interrupted",
        _ = term.recv() => "terminated",
    }
}

fn plot_or_warn(r: Result<()>, what: &Path) {
    match r {
        Ok(()) => println!("wrote {}", what.display()),
        Err(e) => eprintln!("notice: {} not drawn: {e:#}", what.display()),
    }
}

async fn run_writes(cli: &Cli, kraftd: &Path, fonts: bool) -> Result<()> {
    let plan = cli.plan();
    let floor = writes::measure_floor().await?;
    println!(
        "floor: fsync {:.2} ms, loopback RTT {:.3} ms -> p50 target at 1 client {:.2} ms",
        floor.fsync_ms, floor.loopback_rtt_ms, floor.p50_target_ms
    );
    let read_path = plan.clients.contains(&1);
    let (rows, reads) =
        writes::kraft_writes(kraftd.to_path_buf(), &plan, &["create", "isr"], read_path).await?;
    print_rows("writes: kraftd, 3 voters, fsync on", &rows);
    writes::print_read_path(&reads, &rows);
    if rows.iter().all(|r| r.ops == 0) {
        bail!("no write was acknowledged");
    }
    write_json(
        &cli.out,
        "writes.json",
        &json!({
            "scenario": "writes",
            "environment": Environment::collect(cli.quick),
            "plan": plan,
            "floor": floor,
            "rows": rows,
            "read_path": reads,
        }),
    )?;
    if fonts {
        let p = cli.out.join("writes-cdf.png");
        plot_or_warn(plot::latency_cdf(&p, "kraftd write latency CDF", &rows), &p);
        let p = cli.out.join("writes-throughput.png");
        plot_or_warn(
            plot::throughput(&p, "kraftd writes/s vs clients", &rows),
            &p,
        );
    }
    Ok(())
}

async fn run_peer(
    cli: &Cli,
    kraftd: &Path,
    value_bytes: usize,
    etcd_watchers: usize,
    fonts: bool,
) -> Result<()> {
    if !procs::runnable(&cli.etcd) {
        bail!(
            "etcd not runnable ({}): install Debian's etcd-server (`apt-get install -y etcd-server`) or pass --etcd",
            cli.etcd.display()
        );
    }
    let plan = cli.plan();
    let floor = writes::measure_floor().await?;
    let read_path = plan.clients.contains(&1);
    let (kraft_rows, mut reads) =
        writes::kraft_writes(kraftd.to_path_buf(), &plan, &["create"], read_path).await?;
    let (etcd_rows, etcd_reads, watch) = writes::etcd_writes(
        cli.etcd.clone(),
        &plan,
        value_bytes,
        etcd_watchers,
        read_path,
    )
    .await?;
    reads.extend(etcd_reads);
    let mut all = kraft_rows.clone();
    all.extend(etcd_rows.iter().cloned());
    print_rows(
        "peer-etcd: kraftd topic creates vs etcd puts, 3 members each, fsync on",
        &all,
    );
    println!(
        "watchers: kraftd 1 metadata stream (3 simulated brokers, one shared image); etcd {} \
         watch(es) on prefix /, fewest events seen {} of {} puts acknowledged",
        watch.watchers, watch.least_seen, watch.puts_acknowledged
    );
    writes::print_read_path(&reads, &all);
    let ratios = writes::ratios(&kraft_rows, &etcd_rows);
    writes::print_ratios(&ratios);
    if all.iter().all(|r| r.ops == 0) {
        bail!("no write was acknowledged");
    }
    write_json(
        &cli.out,
        "peer-etcd.json",
        &json!({
            "scenario": "peer-etcd",
            "environment": Environment::collect(cli.quick),
            "plan": plan,
            "floor": floor,
            "value_bytes": value_bytes,
            "etcd_watch": watch,
            "rows": all,
            "read_path": reads,
            "ratios": ratios,
        }),
    )?;
    if fonts {
        let p = cli.out.join("peer-etcd-throughput.png");
        plot_or_warn(
            plot::throughput(&p, "kraftd vs etcd: writes/s vs clients", &all),
            &p,
        );
        let p = cli.out.join("peer-etcd-cdf.png");
        plot_or_warn(
            plot::latency_cdf(&p, "kraftd vs etcd: write latency CDF", &all),
            &p,
        );
    }
    Ok(())
}

async fn run_failover(cli: &Cli, kraftd: &Path, repeats: Option<usize>, rate: u64) -> Result<()> {
    let repeats = repeats.unwrap_or(if cli.quick { 2 } else { 10 });
    let settings: [(&str, Vec<String>); 2] = [
        ("default", Vec::new()),
        (
            "tuned",
            vec![
                "--heartbeat-ms".into(),
                "20".into(),
                "--election-timeout-ms".into(),
                "60,90".into(),
            ],
        ),
    ];
    let mut results = Vec::new();
    for (label, flags) in settings {
        let pb = progress::bar(repeats as u64, &format!("failover {label}"));
        let r = failover::run(
            kraftd.to_path_buf(),
            label,
            flags,
            repeats,
            rate,
            pb.clone(),
        )
        .await?;
        progress::finish(pb);
        results.push(r);
    }
    failover::print(&results);
    write_json(
        &cli.out,
        "failover.json",
        &json!({
            "scenario": "failover",
            "environment": Environment::collect(cli.quick),
            "rate_per_sec": rate,
            "results": results,
        }),
    )?;
    Ok(())
}

async fn run_brokers(cli: &Cli, kraftd: &Path, plan: brokers::BrokersPlan) -> Result<()> {
    let r = brokers::run(kraftd.to_path_buf(), plan).await?;
    brokers::print(&r);
    write_json(
        &cli.out,
        "brokers.json",
        &json!({
            "scenario": "brokers",
            "environment": Environment::collect(cli.quick),
            "result": r,
        }),
    )?;
    if r.heartbeats == 0 {
        bail!("no heartbeat was answered in the steady phase");
    }
    Ok(())
}

async fn run_scale(cli: &Cli, kraftd: &Path, plan: &scale::ScalePlan) -> Result<()> {
    let r = scale::run(kraftd.to_path_buf(), plan, !cli.no_progress).await?;
    let full_size = r.total_partitions >= 1_000_000;
    scale::print(plan, &r, full_size);
    write_json(
        &cli.out,
        "scale.json",
        &json!({
            "scenario": "scale",
            "environment": Environment::collect(cli.quick),
            "plan": plan,
            "result": r,
            "targets": {
                "rss_mib": scale::TARGET_RSS_MIB,
                "snapshot_bytes": scale::TARGET_SNAPSHOT_BYTES,
                "restart_s": scale::TARGET_RESTART_S,
                "new_broker_fetch_s": scale::TARGET_FETCH_S,
            },
        }),
    )?;
    Ok(())
}
