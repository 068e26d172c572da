//! A fault-injecting TCP proxy on every directed link between controllers.
//!
//! For nodes `i != j`, [`Net`] listens on a proxy port `P(i,j)` that forwards to node `j`;
//! node `i` dials `P(i,j)` whenever it talks to `j` (kraftd's `--dial-override`, see
//! [`Net::dial_override`]). Bytes that `i` sends to `j` therefore travel on the forward half
//! of `P(i,j)` and on the reply half of `P(j,i)`; both obey the fault of direction `i → j`
//! ([`DirFault`]). A blocked direction stops moving bytes (a black hole that delivers the
//! backlog when healed, as TCP does after a partition heals); a delayed direction holds each
//! chunk for a random time, in order; a lossy direction resets the connection on a random
//! chunk.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Where proxies listen (port from the OS).
const PROXY_IP: &str = "127.0.0.2:0";

/// What happens to bytes travelling in one direction between two nodes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirFault {
    /// No byte moves while set.
    pub blocked: bool,
    /// Each chunk is held for a uniformly random time in this range (ms); `(0, 0)` = none.
    pub delay_ms: (u64, u64),
    /// Per-mille chance that a chunk is lost together with its connection (reset).
    pub drop_per_mille: u32,
}

/// The proxies between `n` nodes and the faults of every direction.
pub struct Net {
    dirs: BTreeMap<(u64, u64), watch::Sender<DirFault>>,
    proxies: BTreeMap<(u64, u64), String>,
    addrs: BTreeMap<u64, String>,
    accept_loops: Vec<JoinHandle<()>>,
}

impl Net {
    /// Starts a proxy for every ordered pair of `nodes` (id → real `host:port`).
    pub async fn start(nodes: &BTreeMap<u64, String>) -> Net {
        let mut dirs = BTreeMap::new();
        for &i in nodes.keys() {
            for &j in nodes.keys() {
                if i != j {
                    dirs.insert((i, j), watch::channel(DirFault::default()).0);
                }
            }
        }
        let mut proxies = BTreeMap::new();
        let mut accept_loops = Vec::new();
        for (&(i, j), fwd) in &dirs {
            // On 127.0.0.2, so a proxy never takes a port that `free_port` handed to a node
            // on 127.0.0.1 (a node that cannot bind its port never starts, and the proxy on
            // it would route its peers' traffic to another node).
            let listener = TcpListener::bind(PROXY_IP).await.expect("bind proxy port");
            let addr = listener.local_addr().expect("proxy addr").to_string();
            proxies.insert((i, j), addr);
            let back = dirs[&(j, i)].subscribe();
            accept_loops.push(tokio::spawn(accept_loop(
                listener,
                nodes[&j].clone(),
                fwd.subscribe(),
                back,
            )));
        }
        Net {
            dirs,
            proxies,
            addrs: nodes.clone(),
            accept_loops,
        }
    }

    /// The `--dial-override` value for node `from`: every peer's endpoint → its proxy.
    pub fn dial_override(&self, from: u64) -> String {
        self.addrs
            .iter()
            .filter(|(id, _)| **id != from)
            .map(|(id, addr)| format!("{addr}={}", self.proxies[&(from, *id)]))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Node ids.
    pub fn ids(&self) -> Vec<u64> {
        self.addrs.keys().copied().collect()
    }

    /// Changes the fault of direction `from → to`.
    pub fn set(&self, from: u64, to: u64, f: impl FnOnce(&mut DirFault)) {
        self.dirs[&(from, to)].send_modify(f);
    }

    /// Changes the fault of every direction.
    pub fn set_all(&self, f: impl Fn(&mut DirFault)) {
        for d in self.dirs.values() {
            d.send_modify(&f);
        }
    }

    /// Blocks both directions between `node` and every other node (a full partition).
    pub fn isolate(&self, node: u64) {
        for &(i, j) in self.dirs.keys() {
            if i == node || j == node {
                self.set(i, j, |f| f.blocked = true);
            }
        }
    }

    /// Blocks both directions between every node of `side` and every node outside it.
    pub fn split(&self, side: &[u64]) {
        for &(i, j) in self.dirs.keys() {
            if side.contains(&i) != side.contains(&j) {
                self.set(i, j, |f| f.blocked = true);
            }
        }
    }

    /// Clears every fault.
    pub fn heal(&self) {
        self.set_all(|f| *f = DirFault::default());
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for t in &self.accept_loops {
            t.abort();
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: String,
    fwd: watch::Receiver<DirFault>,
    back: watch::Receiver<DirFault>,
) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(connection(
            client,
            upstream.clone(),
            fwd.clone(),
            back.clone(),
        ));
    }
}

async fn connection(
    client: TcpStream,
    upstream: String,
    fwd: watch::Receiver<DirFault>,
    back: watch::Receiver<DirFault>,
) {
    // A dead node refuses: the dialler sees its connection closed, as with no proxy.
    let Ok(Ok(up)) =
        tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(&upstream)).await
    else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = up.set_nodelay(true);
    let (cr, cw) = client.into_split();
    let (ur, uw) = up.into_split();
    let (kill, killed) = watch::channel(false);
    tokio::join!(
        pipe(cr, uw, fwd, kill.clone(), killed.clone()),
        pipe(ur, cw, back, kill, killed)
    );
}

/// Moves bytes from `r` to `w` under the direction's fault; a dropped chunk ends both halves
/// of the connection through `kill`.
async fn pipe(
    mut r: OwnedReadHalf,
    mut w: OwnedWriteHalf,
    fault: watch::Receiver<DirFault>,
    kill: watch::Sender<bool>,
    mut killed: watch::Receiver<bool>,
) {
    let (tx, mut queue) = mpsc::channel::<(Instant, Vec<u8>)>(1024);
    let mut rf = fault.clone();
    let reader = async move {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            if rf.wait_for(|f| !f.blocked).await.is_err() {
                return;
            }
            let n = match r.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let f = *rf.borrow();
            let (lost, delay) = {
                let mut rng = rand::rng();
                let lost = f.drop_per_mille > 0 && rng.random_range(0..1000) < f.drop_per_mille;
                let delay = if f.delay_ms.1 > 0 {
                    rng.random_range(f.delay_ms.0..=f.delay_ms.1)
                } else {
                    0
                };
                (lost, delay)
            };
            if lost {
                let _ = kill.send(true);
                return;
            }
            let due = Instant::now() + Duration::from_millis(delay);
            if tx.send((due, buf[..n].to_vec())).await.is_err() {
                return;
            }
        }
    };
    let mut wf = fault;
    let writer = async move {
        while let Some((due, data)) = queue.recv().await {
            tokio::time::sleep_until(due).await;
            if wf.wait_for(|f| !f.blocked).await.is_err() {
                return;
            }
            if w.write_all(&data).await.is_err() {
                return;
            }
        }
        // The reader saw end of stream: pass the half-close on.
        let _ = w.shutdown().await;
    };
    tokio::select! {
        _ = async { tokio::join!(reader, writer) } => {}
        _ = killed.wait_for(|k| *k) => {}
    }
}
