//! Test harness: real `kraftd` processes on 127.0.0.1 on free ports (see [`free_port`]), in a
//! temporary directory, killed (SIGKILL) and cleaned up when the [`Cluster`] is dropped — also
//! when a test fails, in which case the tail of every node's log is printed.
//!
//! The binaries are found next to the test executable's `target/<profile>/` directory; build
//! them first (`cargo build --workspace --bins`, part of the README's test command) or point
//! `KRAFTD_BIN` / `KRAFTCTL_BIN` at them.

use std::fs::File;
use std::future::Future;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use tempfile::TempDir;
use tokio::time::Instant;

/// Path of a workspace binary (`kraftd` or `kraftctl`).
pub fn binary(name: &str) -> PathBuf {
    let env_key = format!("{}_BIN", name.to_uppercase());
    if let Ok(p) = std::env::var(&env_key) {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current test executable");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile directory");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} not found: run `cargo build --workspace --bins` first or set {env_key}",
        path.display()
    );
    path
}

/// Reserves a free port on 127.0.0.1 for a node to listen on: a random port below the
/// kernel's ephemeral range that binds now (and is released for the node).
///
/// Not one the kernel hands out for port 0: those come from the ephemeral range, and while a
/// node is down between a kill and its restart any outgoing connection on the machine may get
/// its port as a source port, and the restarted node then fails to bind ("address in use").
/// Falls back to port 0 if the ephemeral range leaves no room below it.
pub fn free_port() -> u16 {
    use rand::Rng;
    const LOWEST: u16 = 10_000;
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    if ephemeral_low > LOWEST + 1_000 {
        let mut rng = rand::rng();
        for _ in 0..200 {
            let port = rng.random_range(LOWEST..ephemeral_low);
            if TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return port;
            }
        }
    }
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// Polls `check` until it returns `Some`, or panics at the deadline with the last observation.
pub async fn wait_until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    let mut delay = Duration::from_millis(10);
    loop {
        match check().await {
            Ok(v) => return v,
            Err(last) => {
                assert!(
                    Instant::now() < deadline,
                    "timed out after {timeout:?} waiting for {what}; last seen: {last}"
                );
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(200));
    }
}

/// One controller process.
pub struct NodeProc {
    /// Node id.
    pub id: u64,
    /// `127.0.0.1:port`.
    pub addr: String,
    data_dir: PathBuf,
    log_path: PathBuf,
    child: Option<Child>,
    /// `127.0.0.1:port` of its `/metrics` endpoint, when started with one.
    metrics_addr: Option<String>,
    /// Flags for this node only (after the cluster-wide ones), e.g. `--dial-override`.
    node_args: Vec<String>,
}

impl NodeProc {
    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }
}

/// A quorum of real `kraftd` processes.
pub struct Cluster {
    dir: TempDir,
    voters: String,
    /// The nodes, in id order (index = id - 1).
    pub nodes: Vec<NodeProc>,
    extra_args: Vec<String>,
}

impl Cluster {
    /// Starts `n` controllers (ids 1..=n) with the same voter string.
    pub fn start(n: u64) -> Self {
        Self::start_with(n, &[])
    }

    /// Starts `n` controllers passing `extra` flags to each `kraftd`.
    pub fn start_with(n: u64, extra: &[&str]) -> Self {
        let mut c = Self::prepare(n, extra);
        for id in 1..=n {
            c.spawn(id);
        }
        c.wait_listening();
        c
    }

    /// Waits (up to 30 s) until every running node accepts TCP connections on its gRPC
    /// address, so a test may talk to any node once `start` returns: a quorum elects a leader
    /// with two nodes up while the third may still be starting. A node that exits meanwhile is
    /// not waited for (its test sees why).
    fn wait_listening(&mut self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        for i in 0..self.nodes.len() {
            let Ok(addr) = self.nodes[i].addr.parse::<std::net::SocketAddr>() else {
                continue;
            };
            while self.nodes[i].is_running()
                && std::time::Instant::now() < deadline
                && std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err()
            {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// Starts `n` controllers, each also serving Prometheus metrics on a port of its own
    /// (`--metrics-listen`, see [`Cluster::metrics_addr`]).
    pub fn start_with_metrics(n: u64) -> Self {
        Self::start_with_metrics_and(n, &[])
    }

    /// [`Cluster::start_with_metrics`] passing `extra` flags to each `kraftd`.
    pub fn start_with_metrics_and(n: u64, extra: &[&str]) -> Self {
        let mut c = Self::prepare(n, extra);
        for node in &mut c.nodes {
            node.metrics_addr = Some(format!("127.0.0.1:{}", free_port()));
        }
        for id in 1..=n {
            c.spawn(id);
        }
        c.wait_listening();
        c
    }

    /// The `/metrics` endpoint of node `id` (started with [`Cluster::start_with_metrics`]).
    pub fn metrics_addr(&self, id: u64) -> String {
        self.node(id)
            .metrics_addr
            .clone()
            .expect("node started without --metrics-listen")
    }

    /// Allocates ports and directories for `n` controllers without starting any: start them
    /// with [`Cluster::spawn`] in any order.
    pub fn prepare(n: u64, extra: &[&str]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("kraftd-test-")
            .tempdir()
            .expect("temp dir");
        let nodes: Vec<NodeProc> = (1..=n)
            .map(|id| NodeProc {
                id,
                addr: format!("127.0.0.1:{}", free_port()),
                data_dir: dir.path().join(format!("node-{id}")),
                log_path: dir.path().join(format!("node-{id}.log")),
                child: None,
                metrics_addr: None,
                node_args: Vec::new(),
            })
            .collect();
        let voters = nodes
            .iter()
            .map(|n| format!("{}@{}", n.id, n.addr))
            .collect::<Vec<_>>()
            .join(",");
        Cluster {
            dir,
            voters,
            nodes,
            extra_args: extra.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// The voter string every node runs with.
    pub fn voters(&self) -> &str {
        &self.voters
    }

    /// Every endpoint, comma-separated (a `--bootstrap-server` value).
    pub fn bootstrap(&self) -> String {
        self.nodes
            .iter()
            .map(|n| n.addr.clone())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Endpoint of node `id`.
    pub fn addr(&self, id: u64) -> String {
        self.node(id).addr.clone()
    }

    fn node(&self, id: u64) -> &NodeProc {
        &self.nodes[(id - 1) as usize]
    }

    fn node_mut(&mut self, id: u64) -> &mut NodeProc {
        &mut self.nodes[(id - 1) as usize]
    }

    /// Starts node `id` (again).
    pub fn spawn(&mut self, id: u64) {
        let voters = self.voters.clone();
        let mut extra = self.extra_args.clone();
        let node = self.node_mut(id);
        extra.extend(node.node_args.iter().cloned());
        assert!(node.child.is_none(), "node {id} is already running");
        let mut args: Vec<String> = node
            .metrics_addr
            .iter()
            .flat_map(|a| ["--metrics-listen".to_string(), a.clone()])
            .collect();
        args.extend(extra);
        node.child = Some(launch(node, ("--voters", &voters), &args));
    }

    /// Adds node `id` (not in the voter string) and starts it with `--join` pointing at the
    /// current nodes: it waits as an observer until the quorum adds it.
    pub fn spawn_joiner(&mut self, id: u64) {
        let extra = self.extra_args.clone();
        self.spawn_joiner_with(id, &extra);
    }

    /// [`Cluster::spawn_joiner`] with `extra` flags instead of the cluster's own (e.g. TLS
    /// files from another CA).
    pub fn spawn_joiner_with(&mut self, id: u64, extra: &[String]) {
        assert_eq!(
            id as usize,
            self.nodes.len() + 1,
            "joiners take the next id"
        );
        let join = self.bootstrap();
        let node = NodeProc {
            id,
            addr: format!("127.0.0.1:{}", free_port()),
            data_dir: self.dir.path().join(format!("node-{id}")),
            log_path: self.dir.path().join(format!("node-{id}.log")),
            child: None,
            metrics_addr: None,
            node_args: Vec::new(),
        };
        let child = launch(&node, ("--join", &join), extra);
        self.nodes.push(NodeProc {
            child: Some(child),
            ..node
        });
    }

    /// Flags passed to node `id` only, from its next [`Cluster::spawn`] on.
    pub fn set_node_args(&mut self, id: u64, args: Vec<String>) {
        self.node_mut(id).node_args = args;
    }

    /// Sends `signal` to node `id` if it runs; false if it does not.
    pub fn signal(&mut self, id: u64, signal: nix::sys::signal::Signal) -> bool {
        match self.node_mut(id).child.as_ref() {
            Some(child) => {
                let pid = nix::unistd::Pid::from_raw(child.id() as i32);
                nix::sys::signal::kill(pid, signal).is_ok()
            }
            None => false,
        }
    }

    /// Freezes node `id` (SIGSTOP): its sockets stay open but it answers nothing.
    pub fn pause(&mut self, id: u64) -> bool {
        self.signal(id, nix::sys::signal::Signal::SIGSTOP)
    }

    /// Thaws node `id` (SIGCONT) after [`Cluster::pause`].
    pub fn resume(&mut self, id: u64) -> bool {
        self.signal(id, nix::sys::signal::Signal::SIGCONT)
    }

    /// Kills node `id` with SIGKILL and reaps it.
    pub fn kill(&mut self, id: u64) {
        if let Some(mut child) = self.node_mut(id).child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops node `id` with SIGTERM (graceful) and reaps it.
    pub fn terminate(&mut self, id: u64) {
        if let Some(mut child) = self.node_mut(id).child.take() {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            // Bounded: a node that does not exit within 30 s is killed, and the test fails.
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if std::time::Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    _ => {
                        let _ = child.kill();
                        let _ = child.wait();
                        panic!("node {id} did not exit within 30 s of SIGTERM");
                    }
                }
            }
        }
    }

    /// True while node `id` runs.
    pub fn is_running(&mut self, id: u64) -> bool {
        self.node_mut(id).is_running()
    }

    /// Runs `kraftctl` with `args` against `bootstrap` and returns its output.
    pub fn kraftctl(bootstrap: &str, args: &[&str]) -> Output {
        Command::new(binary("kraftctl"))
            .arg("--bootstrap-server")
            .arg(bootstrap)
            .args(args)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run kraftctl")
    }

    /// The log (stdout + stderr) of node `id` so far.
    pub fn log(&self, id: u64) -> String {
        std::fs::read_to_string(&self.node(id).log_path).unwrap_or_default()
    }

    /// Data directory of node `id`.
    pub fn data_dir(&self, id: u64) -> PathBuf {
        self.node(id).data_dir.clone()
    }

    /// The test's temporary directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn dump_logs(&self) {
        for n in &self.nodes {
            let text = std::fs::read_to_string(&n.log_path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            // A panic, or the error a node exited with (`Error: …` from `main`, followed by
            // its backtrace), scrolls out of the tail behind what it causes: show them first.
            for l in lines.iter().filter(|l| l.contains("panicked at")).take(5) {
                eprintln!("----- node {} panic: {l}", n.id);
            }
            for l in lines.iter().filter(|l| l.starts_with("Error: ")).take(5) {
                eprintln!("----- node {} exited: {l}", n.id);
            }
            // The first errors logged: a fatal storage error is repeated by every later call.
            for l in lines.iter().filter(|l| l.contains("ERROR")).take(3) {
                eprintln!("----- node {} first errors: {l}", n.id);
            }
            let tail = &lines[lines.len().saturating_sub(40)..];
            eprintln!("----- node {} log (last {} lines) -----", n.id, tail.len());
            for l in tail {
                eprintln!("{l}");
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.dump_logs();
        }
        for id in 1..=self.nodes.len() as u64 {
            self.kill(id);
        }
    }
}

/// Starts `kraftd` for `node` with its id, listen address and data dir, the membership flag
/// (`--voters V` or `--join J`) and `extra`, logging to the node's log file.
fn launch(node: &NodeProc, membership: (&str, &str), extra: &[String]) -> Child {
    let log = File::options()
        .create(true)
        .append(true)
        .open(&node.log_path)
        .expect("open node log");
    Command::new(binary("kraftd"))
        .arg("--node-id")
        .arg(node.id.to_string())
        .arg("--listen")
        .arg(&node.addr)
        .arg("--data-dir")
        .arg(&node.data_dir)
        .arg(membership.0)
        .arg(membership.1)
        .args(extra)
        .env("RUST_LOG", "info,openraft=warn,sled=warn,h2=warn")
        .stdout(Stdio::from(log.try_clone().expect("clone log handle")))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("spawn kraftd")
}

pub mod broker;
pub mod brokers;
pub mod nemesis;
pub mod prom;

/// Waits until some controller reports an active controller, and returns its id.
pub async fn wait_for_leader(bootstrap: &str) -> u64 {
    wait_for_leader_with(bootstrap, &kraft_client::ClientConfig::default()).await
}

/// [`wait_for_leader`] with a client config (e.g. TLS and a certificate).
pub async fn wait_for_leader_with(bootstrap: &str, config: &kraft_client::ClientConfig) -> u64 {
    wait_until(
        "an active controller",
        Duration::from_secs(30),
        || async move {
            {
                let client = kraft_client::Client::connect_with(bootstrap, config.clone())
                    .await
                    .map_err(|e| e.to_string())?;
                match client.describe_cluster(false).await {
                    Ok(d) if d.active_controller_id != 0 && !d.cluster_id.is_empty() => {
                        Ok(d.active_controller_id)
                    }
                    Ok(d) => Err(format!(
                        "active={} cluster_id={:?}",
                        d.active_controller_id, d.cluster_id
                    )),
                    Err(e) => Err(e.to_string()),
                }
            }
        },
    )
    .await
}

/// Start-up failures and rebuilds (issue 7): a node whose storage is damaged must exit
/// instead of serving; a wiped node rejoins through `--join`.
impl Cluster {
    /// Waits (bounded) until node `id`'s process exits by itself and returns its exit
    /// status; `None` if it still runs at the deadline (it is then killed).
    pub fn wait_exit(&mut self, id: u64, timeout: Duration) -> Option<std::process::ExitStatus> {
        let node = self.node_mut(id);
        let mut child = node.child.take()?;
        let deadline = std::time::Instant::now() + timeout;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return None;
                }
            }
        }
    }

    /// Starts node `id` (stopped, in the voter string or not) with `--join` through the
    /// other nodes instead of `--voters`: the documented way to bring back a node whose data
    /// dir was wiped, after `kraftctl quorum remove-controller --id ID`.
    pub fn spawn_rejoin(&mut self, id: u64) {
        let join = self
            .nodes
            .iter()
            .filter(|n| n.id != id)
            .map(|n| n.addr.clone())
            .collect::<Vec<_>>()
            .join(",");
        let extra = self.extra_args.clone();
        let node = self.node_mut(id);
        assert!(node.child.is_none(), "node {id} is already running");
        node.child = Some(launch(node, ("--join", &join), &extra));
    }
}
