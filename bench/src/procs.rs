//! The bench's own process launcher: real `kraftd` and `etcd` processes on 127.0.0.1 on free
//! ports ([`free_port`]), in a temporary directory, SIGKILLed and removed on drop (also when the
//! bench fails part way).

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tempfile::TempDir;
use tokio::time::Instant;

/// Reserves a free port on 127.0.0.1: a random one between 10,000 and the start of the
/// kernel's ephemeral range that binds now, released for the process to bind.
///
/// Below the ephemeral range because `failover` and `scale` restart a killed node on its port:
/// a port the kernel handed out for port 0 could meanwhile become some connection's source
/// port. Port 0 is the fallback when the range leaves no room.
pub fn free_port() -> Result<u16> {
    use rand::Rng;
    let ephemeral_low: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768);
    if ephemeral_low > 11_000 {
        let mut rng = rand::rng();
        for _ in 0..200 {
            let port = rng.random_range(10_000..ephemeral_low);
            if TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return Ok(port);
            }
        }
    }
    let l = TcpListener::bind("127.0.0.1:0").context("bind 127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// The `kraftd` binary: `--kraftd`, `KRAFTD_BIN`, or next to this executable.
pub fn kraftd_binary(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if let Ok(p) = std::env::var("KRAFTD_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().context("current executable")?;
    let path = exe.parent().context("executable directory")?.join("kraftd");
    if !path.exists() {
        bail!(
            "{} not found: build it (`cargo build --release -p kraftd`) or pass --kraftd",
            path.display()
        );
    }
    Ok(path)
}

/// True when `bin` can be run (`bin --version` exits 0).
pub fn runnable(bin: &Path) -> bool {
    Command::new(bin)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

struct Proc {
    args: Vec<String>,
    log: PathBuf,
    child: Option<Child>,
}

/// A group of processes of one binary, killed and cleaned up on drop.
pub struct Group {
    bin: PathBuf,
    dir: TempDir,
    procs: Vec<Proc>,
}

impl Group {
    fn new(bin: PathBuf, prefix: &str) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .context("temp dir")?;
        Ok(Self {
            bin,
            dir,
            procs: Vec::new(),
        })
    }

    fn add(&mut self, args: Vec<String>, name: &str) {
        let log = self.dir.path().join(format!("{name}.log"));
        self.procs.push(Proc {
            args,
            log,
            child: None,
        });
    }

    /// Starts process `i` (again).
    pub fn spawn(&mut self, i: usize) -> Result<()> {
        let p = &mut self.procs[i];
        let log = File::options()
            .create(true)
            .append(true)
            .open(&p.log)
            .context("open log file")?;
        let child = Command::new(&self.bin)
            .args(&p.args)
            .env("RUST_LOG", log_filter())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("start {}", self.bin.display()))?;
        p.child = Some(child);
        Ok(())
    }

    /// SIGTERMs process `i` and waits up to `grace` for it to exit (then SIGKILLs it).
    pub fn terminate(&mut self, i: usize, grace: Duration) {
        let Some(mut c) = self.procs[i].child.take() else {
            return;
        };
        if let Ok(pid) = i32::try_from(c.id()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let deadline = std::time::Instant::now() + grace;
        while std::time::Instant::now() < deadline {
            if matches!(c.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = c.kill();
        let _ = c.wait();
    }

    /// SIGKILLs process `i` and reaps it.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.procs[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The OS process ids of the processes still running.
    pub fn pids(&self) -> Vec<u32> {
        (0..self.procs.len()).filter_map(|i| self.pid(i)).collect()
    }

    /// The OS process id of process `i`, while it runs.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.procs.get(i)?.child.as_ref().map(Child::id)
    }

    /// The temporary directory holding data and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The last lines of process `i`'s log (for error messages).
    pub fn log_tail(&self, i: usize) -> String {
        let text = std::fs::read_to_string(&self.procs[i].log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        for i in 0..self.procs.len() {
            self.kill(i);
        }
        if keep_dirs() {
            self.dir.disable_cleanup(true);
            eprintln!("kept {} (KRAFT_BENCH_KEEP=1)", self.dir.path().display());
        }
    }
}

/// `KRAFT_BENCH_KEEP=1`: keep each group's temporary directory (data and process logs).
fn keep_dirs() -> bool {
    std::env::var("KRAFT_BENCH_KEEP").as_deref() == Ok("1")
}

/// `RUST_LOG` for the processes: `KRAFT_BENCH_PROC_LOG`, default `warn`.
fn log_filter() -> String {
    std::env::var("KRAFT_BENCH_PROC_LOG").unwrap_or_else(|_| "warn".into())
}

/// A kraftd quorum of `n` voters.
pub struct KraftCluster {
    /// The processes; index `i` is node id `i + 1`.
    pub group: Group,
    /// `host:port` per node, index `i` is node id `i + 1`.
    pub addrs: Vec<String>,
}

impl KraftCluster {
    /// Starts `n` kraftd voters with `extra` flags on each (e.g. election timeouts).
    pub fn start(bin: PathBuf, n: usize, extra: &[String]) -> Result<Self> {
        Self::start_each(bin, n, extra, |_| Vec::new())
    }

    /// [`KraftCluster::start`], plus `per_node(i)` flags for node index `i` (e.g. its own
    /// `--metrics-listen` port).
    pub fn start_each(
        bin: PathBuf,
        n: usize,
        extra: &[String],
        per_node: impl Fn(usize) -> Vec<String>,
    ) -> Result<Self> {
        let mut group = Group::new(bin, "kraft-bench-kraftd-")?;
        let addrs: Vec<String> = (0..n)
            .map(|_| free_port().map(|p| format!("127.0.0.1:{p}")))
            .collect::<Result<_>>()?;
        let voters = addrs
            .iter()
            .enumerate()
            .map(|(i, a)| format!("{}@{a}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        for (i, addr) in addrs.iter().enumerate() {
            let data = group.dir().join(format!("node-{}", i + 1));
            let mut args = vec![
                "--node-id".to_string(),
                (i + 1).to_string(),
                "--listen".into(),
                addr.clone(),
                "--data-dir".into(),
                data.display().to_string(),
                "--voters".into(),
                voters.clone(),
            ];
            args.extend(extra.iter().cloned());
            args.extend(per_node(i));
            group.add(args, &format!("kraftd-{}", i + 1));
        }
        for i in 0..n {
            group.spawn(i)?;
        }
        Ok(Self { group, addrs })
    }

    /// Every node, comma-separated (a kraft-client bootstrap string).
    pub fn bootstrap(&self) -> String {
        self.addrs.join(",")
    }
}

/// An etcd cluster of `n` members, fsync on (etcd's default).
pub struct EtcdCluster {
    /// The processes.
    pub group: Group,
    /// Client URL per member (`http://127.0.0.1:port`).
    pub client_urls: Vec<String>,
}

impl EtcdCluster {
    /// Starts `n` etcd members forming one new cluster.
    pub fn start(bin: PathBuf, n: usize) -> Result<Self> {
        let mut group = Group::new(bin, "kraft-bench-etcd-")?;
        let client_urls: Vec<String> = (0..n)
            .map(|_| free_port().map(|p| format!("http://127.0.0.1:{p}")))
            .collect::<Result<_>>()?;
        let peer_urls: Vec<String> = (0..n)
            .map(|_| free_port().map(|p| format!("http://127.0.0.1:{p}")))
            .collect::<Result<_>>()?;
        let initial = peer_urls
            .iter()
            .enumerate()
            .map(|(i, u)| format!("e{}={u}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        for i in 0..n {
            let data = group.dir().join(format!("e{}", i + 1));
            let args = vec![
                format!("--name=e{}", i + 1),
                format!("--data-dir={}", data.display()),
                format!("--listen-client-urls={}", client_urls[i]),
                format!("--advertise-client-urls={}", client_urls[i]),
                format!("--listen-peer-urls={}", peer_urls[i]),
                format!("--initial-advertise-peer-urls={}", peer_urls[i]),
                format!("--initial-cluster={initial}"),
                "--initial-cluster-state=new".into(),
                "--initial-cluster-token=kraft-bench".into(),
                "--log-level=warn".into(),
                "--logger=zap".into(),
            ];
            group.add(args, &format!("etcd-{}", i + 1));
        }
        for i in 0..n {
            group.spawn(i)?;
        }
        Ok(Self { group, client_urls })
    }
}

/// Polls `check` until it returns `Ok`, or fails at the deadline with the last error.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let deadline = Instant::now() + timeout;
    let mut delay = Duration::from_millis(5);
    loop {
        match check().await {
            Ok(v) => return Ok(v),
            Err(e) if Instant::now() >= deadline => {
                bail!("timed out after {timeout:?} waiting for {what}: {e:#}")
            }
            Err(_) => {}
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(100));
    }
}

/// utime + stime of process `pid` in clock ticks (`/proc/<pid>/stat`).
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the name.
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux when it cannot be asked).
pub fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<f64>()
                .ok()
        })
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// CPU time of the system under test and of the load generator over one run.
pub struct CpuMeter {
    servers: Vec<u32>,
    servers_start: Option<u64>,
    own_start: Option<u64>,
}

/// What a [`CpuMeter`] measured, per acknowledged operation.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct CpuPerOp {
    /// CPU µs of all server processes together per operation.
    pub server_us: f64,
    /// CPU µs of the load generator (this process) per operation.
    pub client_us: f64,
}

impl CpuMeter {
    /// Starts measuring the processes `servers` and this process.
    pub fn start(servers: Vec<u32>) -> Self {
        let servers_start = sum_ticks(&servers);
        Self {
            servers,
            servers_start,
            own_start: cpu_ticks(std::process::id()),
        }
    }

    /// CPU per operation since [`CpuMeter::start`]; `None` when a process could not be read
    /// (it exited) or nothing was acknowledged.
    pub fn per_op(&self, ops: u64) -> Option<CpuPerOp> {
        if ops == 0 {
            return None;
        }
        let servers = sum_ticks(&self.servers)?.checked_sub(self.servers_start?)?;
        let own = cpu_ticks(std::process::id())?.checked_sub(self.own_start?)?;
        let us = |ticks: u64| ticks as f64 / clock_ticks() * 1e6 / ops as f64;
        Some(CpuPerOp {
            server_us: us(servers),
            client_us: us(own),
        })
    }
}

fn sum_ticks(pids: &[u32]) -> Option<u64> {
    pids.iter().map(|&p| cpu_ticks(p)).sum()
}
