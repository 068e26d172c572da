//! `kraftd`: the kraftd controller daemon.
//!
//! `kraftd --node-id 1 --listen 127.0.0.1:9093 --data-dir DIR --voters 1@h:9093,2@h:9094,3@h:9095`
//! runs one controller of a static quorum; `kraftd dev` runs a local 3-node quorum in one
//! process with data under `./data`. In a pod: `kraftd --config /etc/kraftd/kraftd.toml` with
//! `node_id_from = "hostname"` and `voters_from_dns` (see `kraft_controller::config`).
//! Settings layer flags > `KRAFTD_*` env > `--config` file > defaults; the effective
//! configuration is logged once at start, secrets redacted.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use kraft_controller::config::{self, Layer, NodeConfig, NodeIdFrom, system_hostname};
use kraft_controller::server;
use kraft_controller::service::{Controller, ControllerConfig};
use kraft_quorum::{QuorumConfig, parse_voters};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info, warn};

// mimalloc instead of the system allocator: a request allocates and frees many small buffers
// across tokio's worker threads, where glibc's malloc showed as ~11 % of the active
// controller's samples (bench/RESULTS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

/// Tuning flags. Each also reads `KRAFTD_<NAME>` and the config file's `<name>` key; flags win
/// over the environment, which wins over the file, which wins over the defaults shown.
#[derive(Args, Debug, Default)]
struct Tuning {
    /// Raft heartbeat interval in milliseconds [env KRAFTD_HEARTBEAT_MS] [default 50].
    #[arg(long)]
    heartbeat_ms: Option<u64>,
    /// Raft election timeout range in milliseconds, `MIN,MAX` [env KRAFTD_ELECTION_TIMEOUT_MS]
    /// [default 300,600].
    #[arg(long)]
    election_timeout_ms: Option<String>,
    /// Take a snapshot (and purge the log behind it) every N committed entries; 0: not by
    /// count [env KRAFTD_SNAPSHOT_EVERY] [default 0].
    #[arg(long)]
    snapshot_every: Option<u64>,
    /// Take a snapshot after this many bytes of committed records, Kafka's
    /// metadata.log.max.record.bytes.between.snapshots; 0: not by bytes
    /// [env KRAFTD_SNAPSHOT_BYTES] [default 20971520].
    #[arg(long)]
    snapshot_bytes: Option<u64>,
    /// Entries kept in the log behind the latest snapshot [env KRAFTD_SNAPSHOT_KEEP]
    /// [default 1000].
    #[arg(long)]
    snapshot_keep: Option<u64>,
    /// Take a snapshot at least this often (ms) while entries are applied
    /// [env KRAFTD_SNAPSHOT_INTERVAL_MS] [default 3600000].
    #[arg(long)]
    snapshot_interval_ms: Option<u64>,
    /// Cluster id to write if this quorum is new (default: random, Kafka-style)
    /// [env KRAFTD_CLUSTER_ID].
    #[arg(long)]
    cluster_id: Option<String>,
    /// Kafka's broker.session.timeout.ms: a broker not heard from for this long is fenced
    /// [env KRAFTD_BROKER_SESSION_TIMEOUT_MS] [default 9000].
    #[arg(long)]
    broker_session_timeout_ms: Option<i64>,
    /// Log format: text or json [env KRAFTD_LOG_FORMAT] [default text].
    #[arg(long)]
    log_format: Option<String>,
    /// Log a warning for every RPC taking at least this many ms (0: every RPC)
    /// [env KRAFTD_SLOW_REQUEST_MS] [default 1000].
    #[arg(long)]
    slow_request_ms: Option<u64>,
    /// Largest admin/broker gRPC request decoded, in bytes; larger ones get
    /// OUT_OF_RANGE [env KRAFTD_MAX_REQUEST_BYTES] [default 4194304].
    #[arg(long)]
    max_request_bytes: Option<u64>,
    /// Most partitions one topic may have [env KRAFTD_MAX_PARTITIONS_PER_TOPIC]
    /// [default 10000].
    #[arg(long)]
    max_partitions_per_topic: Option<u64>,
    /// Most new partitions one CreateTopics/CreatePartitions request may add
    /// [env KRAFTD_MAX_PARTITIONS_PER_REQUEST] [default 10000].
    #[arg(long)]
    max_partitions_per_request: Option<u64>,
    /// Most topics in the cluster [env KRAFTD_MAX_TOPICS] [default 100000].
    #[arg(long)]
    max_topics: Option<u64>,
    /// Most config entries per resource in one request [env KRAFTD_MAX_CONFIG_ENTRIES]
    /// [default 1000].
    #[arg(long)]
    max_config_entries: Option<u64>,
}

impl Tuning {
    fn layer(&self) -> Layer {
        Layer {
            heartbeat_ms: self.heartbeat_ms,
            election_timeout_ms: self.election_timeout_ms.clone(),
            snapshot_every: self.snapshot_every,
            snapshot_bytes: self.snapshot_bytes,
            snapshot_keep: self.snapshot_keep,
            snapshot_interval_ms: self.snapshot_interval_ms,
            cluster_id: self.cluster_id.clone(),
            broker_session_timeout_ms: self.broker_session_timeout_ms,
            log_format: self.log_format.clone(),
            slow_request_ms: self.slow_request_ms,
            max_request_bytes: self.max_request_bytes,
            max_partitions_per_topic: self.max_partitions_per_topic,
            max_partitions_per_request: self.max_partitions_per_request,
            max_topics: self.max_topics,
            max_config_entries: self.max_config_entries,
            ..Layer::default()
        }
    }
}

/// Node flags (see `kraft_controller::config` for the layering and the pod keys).
#[derive(Args, Debug)]
struct NodeArgs {
    /// TOML config file; its keys are the flag names with `_` (e.g. `data_dir`).
    #[arg(long, env = "KRAFTD_CONFIG")]
    config: Option<PathBuf>,
    /// This controller's node id, one of the voters [env KRAFTD_NODE_ID].
    #[arg(long)]
    node_id: Option<u64>,
    /// Derive the node id from the StatefulSet ordinal in the hostname plus
    /// --node-id-offset: `kraft-2` -> 3 [file/env: node_id_from = "hostname"].
    #[arg(long)]
    node_id_from_hostname: bool,
    /// Added to the hostname's ordinal [env KRAFTD_NODE_ID_OFFSET] [default 1].
    #[arg(long)]
    node_id_offset: Option<u64>,
    /// Use this hostname instead of the kernel's for --node-id-from-hostname
    /// [env KRAFTD_HOSTNAME].
    #[arg(long)]
    hostname: Option<String>,
    /// Fills `{namespace}` in --voters-from-dns [env KRAFTD_NAMESPACE].
    #[arg(long)]
    namespace: Option<String>,
    /// Address to listen on for gRPC (Raft, broker and admin services) [env KRAFTD_LISTEN].
    #[arg(long)]
    listen: Option<String>,
    /// Data directory (Raft log and snapshots) [env KRAFTD_DATA_DIR].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Static voters, as KRaft's controller.quorum.voters: `1@host:port,2@host:port,...`
    /// [env KRAFTD_VOTERS].
    #[arg(long)]
    voters: Option<String>,
    /// Voter endpoint template, e.g. `kraft-{ordinal}.kraft-headless.{namespace}.svc:9093`;
    /// expands for ordinals 0..--replicas, node id = ordinal + offset
    /// [env KRAFTD_VOTERS_FROM_DNS].
    #[arg(long)]
    voters_from_dns: Option<String>,
    /// Join an existing quorum through these controllers (`host:port,...`) instead of
    /// --voters: the node starts empty, catches up as an observer and is promoted to voter
    /// [env KRAFTD_JOIN].
    #[arg(long)]
    join: Option<String>,
    /// Number of voters --voters-from-dns expands to [env KRAFTD_REPLICAS].
    #[arg(long)]
    replicas: Option<u64>,
    /// Tests and local runs without DNS: `HOST:PORT=ADDR:PORT,...` replaces voter endpoints
    /// [env KRAFTD_RESOLVE].
    #[arg(long)]
    resolve: Option<String>,
    /// Serve Prometheus metrics on `http://HOST:PORT/metrics` (default: off)
    /// [env KRAFTD_METRICS_LISTEN].
    #[arg(long, value_name = "HOST:PORT")]
    metrics_listen: Option<String>,
    /// Tests: `HOST:PORT=VIA:PORT,...` dials VIA whenever a peer's endpoint is HOST:PORT (a
    /// fault-injecting proxy per link); the membership keeps the real endpoints.
    #[arg(
        long,
        env = "KRAFTD_DIAL_OVERRIDE",
        value_name = "HOST:PORT=VIA:PORT,..."
    )]
    dial_override: Option<String>,
    /// Tests (fault injection): hold every raft log flush back this long, so appends stay
    /// unflushed (and a SIGKILL loses them) for a window the test controls. Never in production.
    #[arg(
        long,
        hide = true,
        env = "KRAFTD_FAULT_FLUSH_DELAY_MS",
        value_name = "MS"
    )]
    fault_flush_delay_ms: Option<u64>,
    #[command(flatten)]
    security: SecurityArgs,
    #[command(flatten)]
    tuning: Tuning,
}

/// TLS and authentication flags (off by default: plaintext, every caller allowed).
#[derive(Args, Debug, Default)]
struct SecurityArgs {
    /// PEM certificate chain served on the gRPC listener and presented to peers; TLS is on
    /// when this, --tls-key-file and --tls-ca-file are set [env KRAFTD_TLS_CERT_FILE].
    #[arg(long, value_name = "FILE")]
    tls_cert_file: Option<PathBuf>,
    /// PEM private key of --tls-cert-file [env KRAFTD_TLS_KEY_FILE].
    #[arg(long, value_name = "FILE")]
    tls_key_file: Option<PathBuf>,
    /// PEM CA bundle: verifies client certificates and peer controllers
    /// [env KRAFTD_TLS_CA_FILE].
    #[arg(long, value_name = "FILE")]
    tls_ca_file: Option<PathBuf>,
    /// Client certificates: none, optional or required (mTLS) [env KRAFTD_TLS_CLIENT_AUTH]
    /// [default required].
    #[arg(long, value_name = "MODE")]
    tls_client_auth: Option<String>,
    /// How often the TLS files are re-read; changed files are used without a restart
    /// [env KRAFTD_TLS_RELOAD_MS] [default 5000].
    #[arg(long, value_name = "MS")]
    tls_reload_ms: Option<u64>,
    /// Accepted bearer tokens, one `principal token` per line (needs TLS)
    /// [env KRAFTD_AUTH_TOKENS_FILE].
    #[arg(long, value_name = "FILE")]
    auth_tokens_file: Option<PathBuf>,
    /// Principals (certificate CN or token name) with the admin role, comma-separated
    /// [env KRAFTD_ADMIN_PRINCIPALS] [default admin].
    #[arg(long, value_name = "NAMES")]
    admin_principals: Option<String>,
    /// Principals with the read-only reader role, comma-separated
    /// [env KRAFTD_READER_PRINCIPALS].
    #[arg(long, value_name = "NAMES")]
    reader_principals: Option<String>,
}

impl NodeArgs {
    fn layer(&self) -> Layer {
        Layer {
            node_id: self.node_id,
            node_id_from: self.node_id_from_hostname.then_some(NodeIdFrom::Hostname),
            node_id_offset: self.node_id_offset,
            hostname: self.hostname.clone(),
            namespace: self.namespace.clone(),
            listen: self.listen.clone(),
            data_dir: self.data_dir.clone(),
            voters: self.voters.clone(),
            voters_from_dns: self.voters_from_dns.clone(),
            join: self.join.clone(),
            replicas: self.replicas,
            resolve: self.resolve.clone(),
            metrics_listen: self.metrics_listen.clone(),
            tls_cert_file: self.security.tls_cert_file.clone(),
            tls_key_file: self.security.tls_key_file.clone(),
            tls_ca_file: self.security.tls_ca_file.clone(),
            tls_client_auth: self.security.tls_client_auth.clone(),
            tls_reload_ms: self.security.tls_reload_ms,
            auth_tokens_file: self.security.auth_tokens_file.clone(),
            admin_principals: self.security.admin_principals.clone(),
            reader_principals: self.security.reader_principals.clone(),
            ..self.tuning.layer()
        }
    }
}

#[derive(Args, Debug)]
struct DevArgs {
    /// Where the three nodes keep their data.
    #[arg(long, default_value = "./data")]
    data_dir: PathBuf,
    /// First port; nodes listen on PORT, PORT+1, PORT+2.
    #[arg(long, default_value_t = 9093)]
    base_port: u16,
    /// Simulated brokers to run in this process (ids 1..=N, each with its own metadata cache
    /// following the controllers); 0 for none.
    #[arg(long, default_value_t = 3)]
    brokers: u32,
    #[command(flatten)]
    tuning: Tuning,
}

/// Runs `count` simulated brokers against `bootstrap` until `stop` fires.
async fn run_dev_brokers(bootstrap: String, count: u32, mut stop: watch::Receiver<bool>) {
    use kraft_client::simulate::{BrokerSimulator, SimulatorConfig};
    let mut backoff = Duration::from_millis(100);
    let sim = loop {
        let attempt = async {
            let client = kraft_client::Client::connect(&bootstrap).await?;
            BrokerSimulator::register(
                client,
                SimulatorConfig {
                    count,
                    ..SimulatorConfig::default()
                },
            )
            .await
        };
        match attempt.await {
            Ok(sim) => break sim,
            Err(e) => {
                tracing::debug!(error = %e, "simulated brokers: controllers not ready yet");
                if *stop.borrow() {
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    };
    for b in sim.brokers() {
        println!(
            "  simulated broker {} registered (epoch {})",
            b.broker_id, b.broker_epoch
        );
    }
    sim.run(async move {
        let _ = stop.wait_for(|s| *s).await;
    })
    .await;
}

/// Process-wide setup before a node starts: logging, then transparent huge pages off.
///
/// mimalloc advises its arenas for transparent huge pages; every time it gives freed memory
/// back to the OS and touches it again, the kernel faults in and zeroes a whole 2 MiB page. In
/// a 64-client create run that zeroing (`clear_page_erms` under mimalloc's page faults) was
/// ~10 % of the machine's CPU (bench/RESULTS.md, s18). `PR_SET_THP_DISABLE` turns THP off for
/// this process only, whatever the host's `transparent_hugepage` setting.
fn start_process(log_format: &str) {
    init_tracing(log_format);
    if let Err(e) = nix::sys::prctl::set_thp_disable(true) {
        warn!(error = %e, "could not turn transparent huge pages off (PR_SET_THP_DISABLE)");
    }
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

fn env_layer() -> Result<Layer> {
    Ok(Layer::from_env(|k| std::env::var(k).ok())?)
}

/// `flags > env > file > defaults` for a node.
fn node_config(n: &NodeArgs) -> Result<NodeConfig> {
    let file = match &n.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read config file {}", path.display()))?;
            Layer::from_toml(&text).with_context(|| format!("in {}", path.display()))?
        }
        None => Layer::default(),
    };
    Ok(Layer::layered(n.layer(), env_layer()?, file).resolve(system_hostname)?)
}

fn quorum_config(
    node_id: u64,
    voters: &str,
    data_dir: PathBuf,
    t: &config::Tuning,
) -> Result<QuorumConfig> {
    let voters = if voters.is_empty() {
        Default::default()
    } else {
        parse_voters(voters)?
    };
    let mut q = QuorumConfig::new(node_id, voters, data_dir);
    q.election_timeout_ms = t.election_timeout_ms;
    q.heartbeat_ms = t.heartbeat_ms;
    q.snapshot_every = t.snapshot_every;
    q.snapshot_bytes = t.snapshot_bytes;
    q.keep_after_snapshot = t.snapshot_keep;
    q.snapshot_interval = Duration::from_millis(t.snapshot_interval_ms);
    q.validate()?;
    Ok(q)
}

/// The listener's TLS (reloading) and the authentication policy, from the node's settings.
/// A file that cannot be used is an error naming it: the node does not start.
fn security(c: &config::SecurityConfig) -> Result<server::Security> {
    use kraft_controller::auth::AuthPolicy;
    use kraft_controller::tls::{ClientAuth, ServerTls, TlsFiles};
    let tls = match &c.tls {
        Some(t) => {
            let client_auth: ClientAuth = t.client_auth.parse().map_err(anyhow::Error::msg)?;
            let tls = ServerTls::load(TlsFiles {
                cert: t.cert_file.clone(),
                key: t.key_file.clone(),
                ca: t.ca_file.clone(),
                client_auth,
            })?;
            tls.spawn_reloader(Duration::from_millis(t.reload_ms));
            Some(tls)
        }
        None => None,
    };
    let tokens = match &c.auth_tokens_file {
        Some(path) => AuthPolicy::read_tokens(path)?,
        None => Default::default(),
    };
    let certificates = c.tls.as_ref().is_some_and(|t| t.client_auth != "none");
    Ok(server::Security {
        tls,
        auth: AuthPolicy {
            certificates,
            tokens,
            admins: c.admin_principals.iter().cloned().collect(),
            readers: c.reader_principals.iter().cloned().collect(),
        },
    })
}

/// How long in-flight RPCs may finish after leadership has been handed over. Long-lived
/// streams (a broker's metadata stream) never finish by themselves, and a graceful server
/// shutdown would wait for them until the kubelet's SIGKILL (terminationGracePeriodSeconds,
/// 30 s in deploy/): past this drain they are cut, and clients reconnect elsewhere.
const DRAIN_AFTER_TRANSFER: Duration = Duration::from_secs(5);

async fn run_node(
    cfg: ControllerConfig,
    listener: TcpListener,
    metrics: Option<TcpListener>,
    security: server::Security,
    stop: watch::Receiver<bool>,
) -> Result<()> {
    let ctl: Arc<Controller> = Controller::start(cfg).await?;
    if let Some(tls) = &security.tls {
        // Rotated certificates: the listener swaps its config itself; peer links follow.
        let mut pem = tls.subscribe();
        let node = Arc::downgrade(&ctl);
        tokio::spawn(async move {
            while pem.changed().await.is_ok() {
                let Some(ctl) = node.upgrade() else { return };
                let peer = pem.borrow_and_update().peer_tls();
                ctl.node().set_peer_tls(Some(peer));
            }
        });
    }
    let metrics = metrics.map(|l| tokio::spawn(kraft_controller::metrics::serve(ctl.clone(), l)));
    let (handed_over_tx, mut handed_over) = watch::channel(false);
    let mut stop2 = stop.clone();
    let leaving = ctl.clone();
    let serve = server::serve_secure(ctl.clone(), listener, security, async move {
        let _ = stop2.wait_for(|s| *s).await;
        // A leader hands over before it goes, so clients wait for one transfer rather than
        // an election timeout. The server keeps serving until the transfer is done.
        if let Some(to) = leaving
            .node()
            .transfer_leadership(Duration::from_secs(3))
            .await
        {
            info!(to, "leadership transferred before shutdown");
        }
        // End long-lived streams so the graceful stop below is not held up by them.
        leaving.begin_shutdown();
        let _ = handed_over_tx.send(true);
    });
    tokio::select! {
        res = serve => res?,
        _ = async {
            let _ = handed_over.wait_for(|h| *h).await;
            tokio::time::sleep(DRAIN_AFTER_TRANSFER).await;
        } => {
            warn!(drain = ?DRAIN_AFTER_TRANSFER, "closing connections still open after the drain");
        }
    }
    if let Some(m) = metrics {
        m.abort();
    }
    ctl.node().shutdown().await;
    Ok(())
}

/// Asks the quorum (through any of `join`'s controllers) to add this node as a voter, until
/// it is one. The leader adds it as a learner, waits for it to catch up, then promotes it.
async fn join_quorum(
    join: String,
    node_id: u64,
    endpoint: String,
    tls: Option<kraft_quorum::PeerTls>,
) {
    use kraft_proto::admin_service_client::AdminServiceClient;
    // The same channels (and TLS identity) as Raft traffic to peers.
    let network = kraft_quorum::network::client::NetworkFactory::new(tls, Default::default());
    let targets: Vec<String> = join
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let mut backoff = Duration::from_millis(200);
    for attempt in 0u32.. {
        let Some(target) = targets.get(attempt as usize % targets.len().max(1)) else {
            return;
        };
        let req = kraft_proto::AddRaftVoterRequest {
            voter_id: node_id,
            endpoint: endpoint.clone(),
            timeout_ms: 60_000,
        };
        let outcome = match network.channel(target) {
            Ok(ch) => AdminServiceClient::new(ch)
                .add_raft_voter(req)
                .await
                .map(|r| r.into_inner().error)
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match outcome {
            Ok(e)
                if e.as_ref()
                    .is_none_or(|e| e.error_code == 0 || e.error_name == "DUPLICATE_VOTER") =>
            {
                info!(node_id, via = %target, "joined the quorum as a voter");
                return;
            }
            Ok(e) => warn!(node_id, via = %target, error = ?e, "join refused; retrying"),
            Err(e) => warn!(node_id, via = %target, error = %e, "join failed; retrying"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
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
            // Dev mode layers tuning flags over KRAFTD_* over the defaults (no file).
            let tuning = dev
                .tuning
                .layer()
                .over(env_layer()?.over(Layer::defaults()));
            let tuning = tuning.tuning()?;
            start_process(&tuning.log_format);
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
                    &tuning,
                )?;
                let cfg = ControllerConfig {
                    quorum,
                    cluster_id: tuning.cluster_id.clone(),
                    broker_session_timeout_ms: tuning.broker_session_timeout_ms,
                    slow_request: Duration::from_millis(tuning.slow_request_ms),
                    limits: tuning.limits,
                };
                tasks.push(tokio::spawn(run_node(
                    cfg,
                    listener,
                    None,
                    server::Security::default(),
                    rx.clone(),
                )));
            }
            println!(
                "kraftd dev: 3 controllers running, data under {}",
                dev.data_dir.display()
            );
            for (i, p) in ports.iter().enumerate() {
                println!("  controller {} -> 127.0.0.1:{p}", i + 1);
            }
            println!("voters: {voters}");
            if dev.brokers > 0 {
                let bootstrap = ports
                    .iter()
                    .map(|p| format!("127.0.0.1:{p}"))
                    .collect::<Vec<_>>()
                    .join(",");
                println!(
                    "brokers: {} simulated in this process (--brokers N to change)",
                    dev.brokers
                );
                tokio::spawn(run_dev_brokers(bootstrap, dev.brokers, rx.clone()));
            }
            println!("next: in another terminal");
            if dev.brokers == 0 {
                println!("  cargo run --release --bin kraftctl -- brokers simulate --count 3 &");
            }
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
            let c = node_config(&cli.node)?;
            start_process(&c.tuning.log_format);
            info!(node_id = c.node_id, config = %c.display(), "effective configuration");
            if let Some(r) = &c.resolve {
                warn!(resolve = %r, "voter endpoints rewritten by `resolve` (tests / no DNS)");
            }
            let mut quorum = quorum_config(c.node_id, &c.voters, c.data_dir.clone(), &c.tuning)?;
            let security = security(&c.security)?;
            quorum.peer_tls = security.tls.as_ref().map(|t| t.pem().peer_tls());
            if let Some(d) = &cli.node.dial_override {
                quorum.dial_override = config::parse_resolve(d).context("--dial-override")?;
                warn!(dial_override = %d, "peers dialled through overrides (tests)");
            }
            if let Some(ms) = cli.node.fault_flush_delay_ms {
                quorum.fault_flush_delay = Some(Duration::from_millis(ms));
                warn!(
                    ms,
                    "raft log flushes held back (fault injection, tests only)"
                );
            }
            let listener = TcpListener::bind(&c.listen)
                .await
                .with_context(|| format!("cannot listen on {}", c.listen))?;
            let metrics = match &c.tuning.metrics_listen {
                Some(addr) => Some(
                    TcpListener::bind(addr)
                        .await
                        .with_context(|| format!("cannot listen on {addr} for metrics"))?,
                ),
                None => None,
            };
            let cfg = ControllerConfig {
                quorum,
                cluster_id: c.tuning.cluster_id.clone(),
                broker_session_timeout_ms: c.tuning.broker_session_timeout_ms,
                slow_request: Duration::from_millis(c.tuning.slow_request_ms),
                limits: c.tuning.limits,
            };
            tokio::spawn(shutdown_signal(tx));
            if let Some(join) = c.join.clone() {
                let tls = security.tls.as_ref().map(|t| t.pem().peer_tls());
                tokio::spawn(join_quorum(join, c.node_id, c.listen.clone(), tls));
            }
            run_node(cfg, listener, metrics, security, rx).await?;
        }
    }
    Ok(())
}
