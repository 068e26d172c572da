//! Issue 7: real `kraftd` processes under a nemesis — partitions (full, one-way, leader
//! isolation), delays, dropped connections, SIGKILL, SIGSTOP/SIGCONT and restarts — while
//! concurrent clients run a mixed workload. The history is checked: acknowledged writes are
//! in the final image, producer-id blocks are disjoint, epochs never go backwards, reads are
//! linearizable, and every node ends with the same image at the same offset.
//!
//! The short run is part of `cargo test`; the long runs:
//! `cargo test -p kraft-tests --test t12_nemesis -- --ignored --nocapture`
//! Replay a seed with `KRAFTD_NEMESIS_SEED=N`.

use std::time::Duration;

use kraft_client::proto::{AllocateProducerIdsRequest, CreatableTopic, CreateTopicsRequest};
use kraft_client::{Client, ClientConfig};
use kraft_tests::brokers::Brokers;
use kraft_tests::nemesis::{self, NemesisConfig, faults, workload};
use kraft_tests::{wait_for_leader, wait_until};

fn config(nodes: u64, duration: Duration, clients: usize) -> NemesisConfig {
    NemesisConfig {
        nodes,
        duration,
        clients,
        max_ops_per_client: 100_000,
        contended: 6,
        seed: nemesis::seed_from_env(),
    }
}

fn assert_every_kind(report: &nemesis::Report) {
    for kind in faults::ALL {
        assert!(
            report.faults.counts.get(&kind).copied().unwrap_or(0) >= 1,
            "fault {kind:?} never injected: {:?}",
            report.faults.counts
        );
    }
}

/// The short run: 3 controllers for 60 s, then 5 controllers for 35 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_nemesis_runs_on_three_and_five_nodes_lose_nothing() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let three = nemesis::run(config(3, Duration::from_secs(60), 6)).await;
    assert!(
        three.operations >= 1_000,
        "a short run needs at least 1,000 operations: {}",
        three.summary()
    );
    assert_every_kind(&three);
    assert!(three.acknowledged > 0 && three.durable_checked > 0);
    let five = nemesis::run(config(5, Duration::from_secs(35), 6)).await;
    assert_every_kind(&five);
    assert!(five.acknowledged > 0 && five.durable_checked > 0);
    println!("SHORT RUN 3 nodes: {}", three.summary());
    println!("SHORT RUN 5 nodes: {}", five.summary());
}

/// The long runs: 3 and then 5 controllers, 10 minutes each (`KRAFTD_NEMESIS_MINUTES`;
/// `KRAFTD_NEMESIS_NODES=5` runs one cluster size only).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long run: cargo test -p kraft-tests --test t12_nemesis -- --ignored --nocapture"]
async fn long_nemesis_runs_lose_nothing() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let minutes: u64 = std::env::var("KRAFTD_NEMESIS_MINUTES")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(10);
    let sizes: Vec<u64> = match std::env::var("KRAFTD_NEMESIS_NODES")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        Some(n) => vec![n],
        None => vec![3, 5],
    };
    for nodes in sizes {
        let report = nemesis::run(config(nodes, Duration::from_secs(60 * minutes), 8)).await;
        assert_every_kind(&report);
        println!("LONG RUN {nodes} nodes: {}", report.summary());
    }
}

/// Topic names on the node at `addr` (its own applied image).
async fn local_topic_names(addr: &str) -> Result<Vec<String>, String> {
    let c = Client::connect_with(addr, workload::client_config())
        .await
        .map_err(|e| e.to_string())?;
    let l = c.list_topics(true).await.map_err(|e| e.to_string())?;
    Ok(l.topics.into_iter().map(|t| t.name).collect())
}

/// The active controller as the node at `addr` sees it.
async fn leader_seen_by(addr: &str) -> Result<u64, String> {
    let c = Client::connect_with(addr, workload::client_config())
        .await
        .map_err(|e| e.to_string())?;
    let d = c.describe_cluster(true).await.map_err(|e| e.to_string())?;
    Ok(d.active_controller_id)
}

/// The proxies really carry the Raft traffic (`--dial-override`): an isolated follower
/// misses a committed write until healed, and an isolated leader is replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxies_carry_raft_traffic_partition_and_leader_isolation() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let (cluster, net) = nemesis::start_proxied(3, &[]).await;
    let leader = wait_for_leader(&cluster.bootstrap()).await;
    let _brokers = Brokers::start(&cluster.bootstrap(), 3).await;
    let follower = (1..=3).find(|i| *i != leader).expect("a follower");
    let others: Vec<String> = (1..=3)
        .filter(|i| *i != follower)
        .map(|i| cluster.addr(i))
        .collect();

    net.isolate(follower);
    let client = Client::connect(&others.join(",")).await.expect("connect");
    let r = client
        .create_topics(CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: "while-isolated".into(),
                num_partitions: 1,
                replication_factor: 1,
                configs: vec![],
                assignments: vec![],
            }],
            validate_only: false,
        })
        .await
        .expect("the majority commits");
    assert!(r.topics[0].error.as_ref().is_none_or(|e| e.error_code == 0));
    let seen = local_topic_names(&cluster.addr(follower))
        .await
        .expect("the isolated follower still answers local reads");
    assert!(
        !seen.contains(&"while-isolated".to_string()),
        "no byte reaches an isolated node, yet it has the write"
    );
    net.heal();
    let addr = cluster.addr(follower);
    wait_until(
        "the healed follower catches up",
        Duration::from_secs(30),
        || {
            let addr = addr.clone();
            async move {
                match local_topic_names(&addr).await? {
                    t if t.contains(&"while-isolated".to_string()) => Ok(()),
                    t => Err(format!("{t:?}")),
                }
            }
        },
    )
    .await;

    let leader = wait_for_leader(&cluster.bootstrap()).await;
    net.isolate(leader);
    let survivor = cluster.addr((1..=3).find(|i| *i != leader).expect("another node"));
    let new_leader = wait_until(
        "the others elect a new leader",
        Duration::from_secs(30),
        || {
            let survivor = survivor.clone();
            async move {
                match leader_seen_by(&survivor).await? {
                    l if l != 0 && l != leader => Ok(l),
                    l => Err(format!("leader {l}")),
                }
            }
        },
    )
    .await;
    net.heal();
    let old = cluster.addr(leader);
    wait_until(
        "the old leader follows the new one",
        Duration::from_secs(30),
        || {
            let old = old.clone();
            async move {
                match leader_seen_by(&old).await? {
                    l if l == new_leader => Ok(()),
                    l => Err(format!("leader {l}")),
                }
            }
        },
    )
    .await;
}

/// Regression (found by the nemesis: `rejected record batch ... ProducerIdsRecord: next
/// producer id N is not above the current N`): a write whose caller gave up leaves its entry
/// in the leader's log; the next write must see its effect instead of computing from a stale
/// image (which the apply guard then rejects, failing a request that should succeed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_after_an_abandoned_write_sees_its_effect() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    // Long election timeouts: the leader stays the leader through a short outage.
    let (cluster, net) = nemesis::start_proxied(3, &["--election-timeout-ms", "3000,4000"]).await;
    let leader = wait_for_leader(&cluster.bootstrap()).await;
    let brokers = Brokers::start(&cluster.bootstrap(), 3).await;
    let b = brokers.sim.brokers()[0].clone();
    let req = AllocateProducerIdsRequest {
        broker_id: b.broker_id,
        broker_epoch: b.broker_epoch,
    };
    let leader_addr = cluster.addr(leader);
    let at_leader = |request_timeout| {
        Client::connect_with(
            &leader_addr,
            ClientConfig {
                request_timeout,
                retry_deadline: Duration::ZERO,
                ..ClientConfig::default()
            },
        )
    };
    let impatient = at_leader(Duration::from_millis(100))
        .await
        .expect("connect");
    let patient = at_leader(Duration::from_secs(10)).await.expect("connect");

    // Nothing the leader sends arrives for 400 ms: its first write cannot commit, and the
    // caller gives up after 100 ms; the second write starts while the first is in flight.
    for id in 1..=3 {
        if id != leader {
            net.set(leader, id, |f| f.blocked = true);
        }
    }
    let abandoned = impatient.allocate_producer_ids(req).await;
    assert!(
        abandoned.is_err(),
        "expected the impatient call to time out: {abandoned:?}"
    );
    let next = tokio::spawn(async move {
        patient
            .allocate_producer_ids(req)
            .await
            .map(|r| (r, patient))
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    net.heal();
    let (next, patient) = next.await.expect("task").expect("the next write succeeds");
    assert!(
        next.error.as_ref().is_none_or(|e| e.error_code == 0),
        "{next:?}"
    );
    let last = patient.allocate_producer_ids(req).await.expect("allocate");
    assert!(
        last.producer_id_start >= next.producer_id_start + i64::from(next.producer_id_len),
        "blocks: abandoned one, then {next:?}, then {last:?}"
    );
}

/// A write waiting for its leader's abandoned entries gives up as soon as the leader is
/// deposed (those entries may be truncated), so its caller retries on the new leader instead
/// of timing out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_waiting_on_a_deposed_leader_moves_to_the_new_one() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let (cluster, net) = nemesis::start_proxied(3, &[]).await;
    let leader = wait_for_leader(&cluster.bootstrap()).await;
    let brokers = Brokers::start(&cluster.bootstrap(), 3).await;
    let b = brokers.sim.brokers()[0].clone();
    let req = AllocateProducerIdsRequest {
        broker_id: b.broker_id,
        broker_epoch: b.broker_epoch,
    };
    let impatient = Client::connect_with(
        &cluster.addr(leader),
        ClientConfig {
            request_timeout: Duration::from_millis(100),
            retry_deadline: Duration::ZERO,
            ..ClientConfig::default()
        },
    )
    .await
    .expect("connect");
    // Starts at the old leader; may follow NOT_CONTROLLER hints anywhere (20 s per attempt,
    // less than the controller's 30 s write timeout).
    let patient = Client::connect_with(
        &format!("{},{}", cluster.addr(leader), cluster.bootstrap()),
        ClientConfig {
            request_timeout: Duration::from_secs(20),
            ..ClientConfig::default()
        },
    )
    .await
    .expect("connect");

    net.isolate(leader);
    assert!(impatient.allocate_producer_ids(req).await.is_err());
    let waiting = tokio::spawn(async move { patient.allocate_producer_ids(req).await });
    let survivor = cluster.addr((1..=3).find(|i| *i != leader).expect("another node"));
    wait_until(
        "the others elect a new leader",
        Duration::from_secs(30),
        || {
            let survivor = survivor.clone();
            async move {
                match leader_seen_by(&survivor).await? {
                    l if l != 0 && l != leader => Ok(l),
                    l => Err(format!("leader {l}")),
                }
            }
        },
    )
    .await;
    net.heal();
    let r = waiting
        .await
        .expect("task")
        .expect("the waiting write is redirected and succeeds");
    assert!(r.error.as_ref().is_none_or(|e| e.error_code == 0), "{r:?}");
}
