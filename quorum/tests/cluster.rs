//! A 3-node quorum in one process over real tonic on 127.0.0.1, with a toy machine.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use openraft::async_runtime::WatchReceiver as _;
use std::time::Duration;

use kraft_quorum::{Command, CommandReply, Machine, Node, QuorumConfig, QuorumError};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_stream::wrappers::TcpListenerStream;

/// Toy machine: the ordered list of applied payloads.
#[derive(Default, Debug, Clone, PartialEq)]
struct Journal(Vec<Vec<u8>>);

impl Machine for Journal {
    fn apply(&mut self, _log_index: u64, command: &Command) -> CommandReply {
        self.0.push(command.data.clone());
        CommandReply {
            data: (self.0.len() as u64).to_be_bytes().to_vec(),
        }
    }
    fn apply_blank(&mut self, _log_index: u64) {}
    fn encode(&self) -> Result<Vec<u8>, io::Error> {
        serde_json::to_vec(&self.0).map_err(io::Error::other)
    }
    fn restore(&mut self, data: &[u8]) -> Result<(), io::Error> {
        self.0 = serde_json::from_slice(data).map_err(io::Error::other)?;
        Ok(())
    }
}

struct Running {
    node: Node<Journal>,
    stop: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn stop(mut self) {
        self.node.shutdown().await;
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let _ = self.server.await;
    }
}

async fn start(
    id: u64,
    listener: TcpListener,
    voters: &BTreeMap<u64, String>,
    dir: &std::path::Path,
) -> Running {
    let mut cfg = QuorumConfig::new(id, voters.clone(), dir.join(format!("node-{id}")));
    cfg.snapshot_every = 20;
    cfg.keep_after_snapshot = 5;
    let node = Node::start(cfg, Arc::new(RwLock::new(Journal::default())))
        .await
        .expect("start node");
    let (tx, rx) = oneshot::channel::<()>();
    let svc = node.raft_service();
    let server = tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_service(svc)
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                let _ = rx.await;
            })
            .await;
    });
    Running {
        node,
        stop: Some(tx),
        server,
    }
}

async fn propose_anywhere(nodes: &[&Running], data: Vec<u8>) -> u64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        for r in nodes {
            match r.node.propose(data.clone(), 0).await {
                Ok((index, _)) => return index,
                Err(QuorumError::NotLeader { .. }) => continue,
                Err(e) => panic!("propose failed: {e}"),
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no leader accepted the write in time"
        );
        let _ = nodes[0]
            .node
            .wait_for_leader(Duration::from_millis(200))
            .await;
    }
}

async fn wait_applied(node: &Node<Journal>, index: u64) {
    node.raft()
        .wait(Some(Duration::from_secs(20)))
        .applied_index_at_least(Some(index), "applied")
        .await
        .unwrap_or_else(|e| panic!("node {} did not apply {index}: {e}", node.id()));
}

fn journal(node: &Node<Journal>) -> Journal {
    node.machine().read().expect("lock").clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_bootstrap_replicate_and_catch_up_by_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut listeners = Vec::new();
    let mut voters = BTreeMap::new();
    for id in 1..=3u64 {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr: SocketAddr = l.local_addr().expect("addr");
        voters.insert(id, addr.to_string());
        listeners.push(l);
    }
    // Start in reverse order: bootstrap must not depend on who comes first.
    let mut it = listeners.into_iter().enumerate().rev();
    let (_, l3) = it.next().expect("3");
    let n3 = start(3, l3, &voters, dir.path()).await;
    let (_, l2) = it.next().expect("2");
    let n2 = start(2, l2, &voters, dir.path()).await;
    let (_, l1) = it.next().expect("1");
    let n1 = start(1, l1, &voters, dir.path()).await;

    let mut last = 0;
    for i in 0..30u32 {
        last = propose_anywhere(&[&n1, &n2, &n3], i.to_be_bytes().to_vec()).await;
    }
    for n in [&n1, &n2, &n3] {
        wait_applied(&n.node, last).await;
    }
    assert_eq!(journal(&n1.node).0.len(), 30);
    assert_eq!(journal(&n1.node), journal(&n2.node));
    assert_eq!(journal(&n1.node), journal(&n3.node));

    // Take node 3 down, write enough to purge the log past it, bring it back.
    let addr3 = voters[&3].clone();
    let n3_last_log = n3.node.status().last_log_index.expect("node 3 has a log");
    n3.stop().await;
    for i in 30..100u32 {
        last = propose_anywhere(&[&n1, &n2], i.to_be_bytes().to_vec()).await;
    }
    for n in [&n1, &n2] {
        wait_applied(&n.node, last).await;
    }
    let leader = if n1.node.is_leader() { &n1 } else { &n2 };
    // Snapshot and purge run in the background after the apply: wait for the purge (bounded),
    // then check it went past node 3's log.
    let _ = leader
        .node
        .raft()
        .wait(Some(Duration::from_secs(20)))
        .metrics(
            |m| m.purged.is_some_and(|l| l.index > n3_last_log),
            "leader purged past node 3's log",
        )
        .await;
    let purged = leader
        .node
        .raft()
        .metrics()
        .borrow_watched()
        .purged
        .map(|l| l.index);
    let purged = purged.expect("leader should have purged its log after snapshots");
    assert!(
        purged > n3_last_log,
        "leader purged to {purged}, node 3 stopped at {n3_last_log}: log catch-up impossible"
    );

    let l3 = TcpListener::bind(&addr3).await.expect("rebind node 3");
    let n3 = start(3, l3, &voters, dir.path()).await;
    wait_applied(&n3.node, last).await;
    assert_eq!(journal(&n3.node).0.len(), 100);
    assert_eq!(journal(&n3.node), journal(&n1.node));
    let snap = n3
        .node
        .raft()
        .metrics()
        .borrow_watched()
        .snapshot
        .map(|l| l.index);
    assert!(
        snap.is_some_and(|s| s >= purged),
        "node 3 must have installed the leader's snapshot, has {snap:?}"
    );

    for n in [n1, n2, n3] {
        n.stop().await;
    }
}

/// A one-voter quorum with `tweak` applied to its config, once it leads. Keep the listener
/// until the node is shut down (it holds the node's port).
async fn single_node(
    dir: &std::path::Path,
    tweak: impl FnOnce(&mut QuorumConfig),
) -> (Node<Journal>, TcpListener) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let voters = BTreeMap::from([(1u64, l.local_addr().expect("addr").to_string())]);
    let mut cfg = QuorumConfig::new(1, voters, dir.join("node-1"));
    tweak(&mut cfg);
    let node = Node::start(cfg, Arc::new(RwLock::new(Journal::default())))
        .await
        .expect("start");
    node.wait_for_leader(Duration::from_secs(10))
        .await
        .expect("leader");
    (node, l)
}

/// Proposes each payload in turn; the log index of the last.
async fn propose_each(node: &Node<Journal>, payloads: impl IntoIterator<Item = Vec<u8>>) -> u64 {
    let mut last = 0;
    for p in payloads {
        last = node.propose(p, 0).await.expect("propose").0;
    }
    last
}

/// Waits until the node's latest snapshot covers `index` (and, if `purged`, the log behind
/// it was purged).
async fn wait_snapshot(node: &Node<Journal>, index: u64, purged: bool, what: &str) {
    node.raft()
        .wait(Some(Duration::from_secs(10)))
        .metrics(
            |m| m.snapshot.is_some_and(|s| s.index >= index) && (!purged || m.purged.is_some()),
            what,
        )
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_node_snapshots_on_the_time_policy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (node, l) = single_node(dir.path(), |cfg| {
        cfg.snapshot_every = 1_000_000; // never by count
        cfg.snapshot_interval = Duration::from_millis(200);
    })
    .await;
    let last = propose_each(&node, (0..5u32).map(|i| i.to_be_bytes().to_vec())).await;
    wait_snapshot(&node, last, false, "a snapshot within the interval policy").await;
    node.shutdown().await;
    drop(l);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_snapshots_and_purges_after_the_byte_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (node, l) = single_node(dir.path(), |cfg| {
        assert_eq!(
            (cfg.snapshot_every, cfg.snapshot_bytes),
            (0, 20 * 1024 * 1024),
            "Kafka's policy by default: bytes only, 20 MiB"
        );
        cfg.snapshot_bytes = 1_000;
        cfg.keep_after_snapshot = 0;
    })
    .await;
    // Ten commands of 100 bytes reach the limit with the last one.
    let last = propose_each(&node, (0..10u8).map(|i| vec![i; 100])).await;
    wait_snapshot(
        &node,
        last,
        true,
        "a snapshot once 1,000 bytes were applied, and the log purged behind it",
    )
    .await;
    node.shutdown().await;
    drop(l);
}
