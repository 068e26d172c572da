//! `kraftd`: the kraftd controller daemon.
//!
//! `kraftd --node-id 1 --listen 127.0.0.1:9093 --data-dir DIR --voters 1@h:9093,2@h:9094,3@h:9095`
//! runs one controller of a static quorum; `kraftd dev` runs a local 3-node quorum in one
//! process with data under `./data`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use kraft_controller::server;
use kraft_controller::service::{Controller, ControllerConfig};
use kraft_quorum::{QuorumConfig, parse_voters};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::info;

#[derive(Parser, Debug)]
#[command(
    name = "kraftd",
    version,
    about = "kraftd: a KRaft-style metadata quorum controller"
)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    node: NodeArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a local 3-node quorum in this process (data under ./data, ports 9093-9095).
    Dev(DevArgs),
}

#[derive(Args, Debug)]
struct Tuning {
    /// Raft heartbeat interval in milliseconds.
    #[arg(long, default_value_t = 50, env = "KRAFTD_HEARTBEAT_MS")]
    heartbeat_ms: u64,
    /// Raft election timeout range in milliseconds, `MIN,MAX`.
    #[arg(long, default_value = "300,600", env = "KRAFTD_ELECTION_TIMEOUT_MS")]
    election_timeout_ms: String,
    /// Take a snapshot (and purge the log behind it) every N committed entries.
    #[arg(long, default_value_t = 10_000, env = "KRAFTD_SNAPSHOT_EVERY")]
    snapshot_every: u64,
    /// Entries kept in the log behind the latest snapshot.
    #[arg(long, default_value_t = 1_000, env = "KRAFTD_SNAPSHOT_KEEP")]
    snapshot_keep: u64,
    /// Cluster id to write if this quorum is new (default: random, Kafka-style).
    #[arg(long, env = "KRAFTD_CLUSTER_ID")]
    cluster_id: Option<String>,
    /// Kafka's broker.session.timeout.ms: a broker not heard from for this long is fenced.
    #[arg(long, default_value_t = 9000, env = "KRAFTD_BROKER_SESSION_TIMEOUT_MS")]
    broker_session_timeout_ms: i64,
    /// Log format: text or json.
    #[arg(long, default_value = "text", env = "KRAFTD_LOG_FORMAT")]
    log_format: String,
}

#[derive(Args, Debug)]
struct NodeArgs {
    /// This controller's node id (must be one of --voters).
    #[arg(long, env = "KRAFTD_NODE_ID")]
    node_id: Option<u64>,
    /// Address to listen on for gRPC (Raft, broker and admin services).
    #[arg(long, env = "KRAFTD_LISTEN")]
    listen: Option<String>,
    /// Data directory (Raft log and snapshots).
    #[arg(long, env = "KRAFTD_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Static voters, as KRaft's controller.quorum.voters: `1@host:port,2@host:port,...`.
    #[arg(long, env = "KRAFTD_VOTERS")]
    voters: Option<String>,
    #[command(flatten)]
    tuning: Tuning,
}

#[derive(Args, Debug)]
struct DevArgs {
    /// Where the three nodes keep their data.
    #[arg(long, default_value = "./data")]
    data_dir: PathBuf,
    /// First port; nodes listen on PORT, PORT+1, PORT+2.
    #[arg(long, default_value_t = 9093)]
    base_port: u16,
    #[command(flatten)]
    tuning: Tuning,
}

fn init_tracing(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,openraft=warn,sled=warn,h2=warn,tower=warn")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn quorum_config(
    node_id: u64,
    voters: &str,
    data_dir: PathBuf,
    t: &Tuning,
) -> Result<QuorumConfig> {
    let voters = parse_voters(voters)?;
    let mut q = QuorumConfig::new(node_id, voters, data_dir);
    let (lo, hi) = t
        .election_timeout_ms
        .split_once(',')
        .context("--election-timeout-ms must be MIN,MAX")?;
    q.election_timeout_ms = (
        lo.trim()
            .parse()
            .context("--election-timeout-ms MIN must be an integer")?,
        hi.trim()
            .parse()
            .context("--election-timeout-ms MAX must be an integer")?,
    );
    q.heartbeat_ms = t.heartbeat_ms;
    q.snapshot_every = t.snapshot_every;
    q.keep_after_snapshot = t.snapshot_keep;
    q.validate()?;
    Ok(q)
}

async fn run_node(
    cfg: ControllerConfig,
    listener: TcpListener,
    stop: watch::Receiver<bool>,
) -> Result<()> {
    let ctl: Arc<Controller> = Controller::start(cfg).await?;
    let mut stop2 = stop.clone();
    let leaving = ctl.clone();
    server::serve(ctl.clone(), listener, async move {
        let _ = stop2.wait_for(|s| *s).await;
        // A leader hands over before it goes, so clients wait for one transfer rather than
        // an election timeout. The server keeps serving until the transfer is done.
        if let Some(to) = leaving
            .node()
            .transfer_leadership(std::time::Duration::from_secs(3))
            .await
        {
            info!(to, "leadership transferred before shutdown");
        }
    })
    .await?;
    ctl.node().shutdown().await;
    Ok(())
}

async fn shutdown_signal(tx: watch::Sender<bool>) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    info!("shutting down");
    let _ = tx.send(true);
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let (tx, rx) = watch::channel(false);
    match cli.command {
        Some(Command::Dev(dev)) => {
            init_tracing(&dev.tuning.log_format);
            let ports: Vec<u16> = (0..3).map(|i| dev.base_port + i).collect();
            let voters = ports
                .iter()
                .enumerate()
                .map(|(i, p)| format!("{}@127.0.0.1:{p}", i + 1))
                .collect::<Vec<_>>()
                .join(",");
            let mut tasks = Vec::new();
            for (i, port) in ports.iter().enumerate() {
                let id = i as u64 + 1;
                let listener = TcpListener::bind(("127.0.0.1", *port))
                    .await
                    .with_context(|| format!("cannot listen on 127.0.0.1:{port}"))?;
                let quorum = quorum_config(
                    id,
                    &voters,
                    dev.data_dir.join(format!("node-{id}")),
                    &dev.tuning,
                )?;
                let cfg = ControllerConfig {
                    quorum,
                    cluster_id: dev.tuning.cluster_id.clone(),
                    broker_session_timeout_ms: dev.tuning.broker_session_timeout_ms,
                };
                tasks.push(tokio::spawn(run_node(cfg, listener, rx.clone())));
            }
            println!(
                "kraftd dev: 3 controllers running, data under {}",
                dev.data_dir.display()
            );
            for (i, p) in ports.iter().enumerate() {
                println!("  controller {} -> 127.0.0.1:{p}", i + 1);
            }
            println!("voters: {voters}");
            println!("next: in another terminal");
            println!("  cargo run --release --bin kraftctl -- brokers simulate --count 3 &");
            println!(
                "  cargo run --release --bin kraftctl -- topics create --topic mytopic1 --partitions 1 --replication-factor 3"
            );
            println!("  cargo run --release --bin kraftctl -- topics describe --topic mytopic1");
            tokio::spawn(shutdown_signal(tx));
            for t in tasks {
                t.await??;
            }
        }
        None => {
            let n = cli.node;
            init_tracing(&n.tuning.log_format);
            let (Some(node_id), Some(listen), Some(data_dir), Some(voters)) =
                (n.node_id, n.listen, n.data_dir, n.voters)
            else {
                bail!(
                    "--node-id, --listen, --data-dir and --voters are required (or use `kraftd dev`)"
                );
            };
            let quorum = quorum_config(node_id, &voters, data_dir, &n.tuning)?;
            let listener = TcpListener::bind(&listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            let cfg = ControllerConfig {
                quorum,
                cluster_id: n.tuning.cluster_id.clone(),
                broker_session_timeout_ms: n.tuning.broker_session_timeout_ms,
            };
            tokio::spawn(shutdown_signal(tx));
            run_node(cfg, listener, rx).await?;
        }
    }
    Ok(())
}
