//! Durability under failover: SIGKILL the active controller during a stream of creates; every
//! acknowledged create is on the surviving quorum, and after restarting all three nodes it is
//! present and identical on every node.

use std::collections::BTreeMap;
use std::time::Duration;

use kraft_client::Client;
use kraft_proto::{CreatableTopic, CreateTopicsRequest};
use kraft_tests::brokers::Brokers;
use kraft_tests::{Cluster, wait_for_leader, wait_until};
use tokio::time::Instant;
use tracing::info;

const NONE: i32 = 0;
const TOPIC_ALREADY_EXISTS: i32 = 36;

/// Topic name → topic id, as one controller's own applied image has it.
async fn local_topics(addr: &str) -> Result<BTreeMap<String, String>, String> {
    let c = Client::connect(addr).await.map_err(|e| e.to_string())?;
    let l = c.list_topics(true).await.map_err(|e| e.to_string())?;
    Ok(l.topics.into_iter().map(|t| (t.name, t.topic_id)).collect())
}

fn create_req(name: &str) -> CreateTopicsRequest {
    CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: name.to_string(),
            num_partitions: 1,
            replication_factor: 3,
            configs: vec![],
            assignments: vec![],
        }],
        validate_only: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_creates_survive_leader_sigkill_and_full_restart() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let mut cluster = Cluster::start(3);
    let bootstrap = cluster.bootstrap();
    let first_leader = wait_for_leader(&bootstrap).await;
    let brokers = Brokers::start(&bootstrap, 3).await;
    let client = Client::connect(&bootstrap).await.expect("connect");

    // A bounded stream of creates; the leader dies after the first 40 acknowledgements.
    let mut acked: BTreeMap<String, String> = BTreeMap::new();
    let mut killed = false;
    let started = Instant::now();
    let mut acked_after_kill = 0;
    for i in 0..400u32 {
        if acked_after_kill >= 40 || started.elapsed() > Duration::from_secs(90) {
            break;
        }
        if !killed && acked.len() >= 40 {
            info!("--- SIGKILL the active controller {first_leader}");
            cluster.kill(first_leader);
            killed = true;
        }
        let name = format!("t-{i:04}");
        match client.create_topics(create_req(&name)).await {
            Ok(resp) => {
                let t = &resp.topics[0];
                let code = t.error.as_ref().map(|e| e.error_code).unwrap_or(NONE);
                if code == NONE {
                    acked.insert(name, t.topic_id.clone());
                    if killed {
                        acked_after_kill += 1;
                    }
                } else {
                    // A retry after a lost answer may find the topic created: not an ack.
                    assert_eq!(
                        code, TOPIC_ALREADY_EXISTS,
                        "unexpected error for {name}: {:?}",
                        t.error
                    );
                }
            }
            // Unacknowledged (e.g. timed out during the election): allowed to be lost.
            Err(e) => info!(%name, error = %e, "create not acknowledged"),
        }
    }
    assert!(killed, "the leader was never killed");
    assert!(
        acked_after_kill >= 40,
        "the surviving quorum must keep accepting creates, got {acked_after_kill}"
    );

    let survivors: Vec<u64> = (1..=3).filter(|id| *id != first_leader).collect();
    for id in &survivors {
        let addr = cluster.addr(*id);
        wait_until(
            &format!("node {id} holds every acknowledged topic"),
            Duration::from_secs(30),
            || {
                let addr = addr.clone();
                let acked = acked.clone();
                async move {
                    let have = local_topics(&addr).await?;
                    let missing: Vec<_> = acked
                        .iter()
                        .filter(|(n, id)| have.get(*n) != Some(*id))
                        .map(|(n, _)| n)
                        .collect();
                    if missing.is_empty() {
                        Ok(())
                    } else {
                        Err(format!("missing or different: {missing:?}"))
                    }
                }
            },
        )
        .await;
    }
    drop(brokers);

    info!("--- restart all three controllers");
    for id in 1..=3 {
        cluster.kill(id);
    }
    for id in 1..=3 {
        cluster.spawn(id);
    }
    wait_for_leader(&bootstrap).await;

    let mut images = Vec::new();
    for id in 1..=3u64 {
        let addr = cluster.addr(id);
        let image = wait_until(
            &format!("node {id} restored every acknowledged topic"),
            Duration::from_secs(30),
            || {
                let addr = addr.clone();
                let acked = acked.clone();
                async move {
                    let have = local_topics(&addr).await?;
                    if acked.iter().all(|(n, id)| have.get(n) == Some(id)) {
                        Ok(have)
                    } else {
                        Err(format!("{} topics", have.len()))
                    }
                }
            },
        )
        .await;
        images.push(image);
    }
    // Wait for every node to apply the same committed prefix, then compare whole listings.
    let target = images.iter().map(BTreeMap::len).max().unwrap_or(0);
    for id in 1..=3u64 {
        let addr = cluster.addr(id);
        images[(id - 1) as usize] = wait_until(
            &format!("node {id} converged"),
            Duration::from_secs(30),
            || {
                let addr = addr.clone();
                async move {
                    let have = local_topics(&addr).await?;
                    if have.len() >= target {
                        Ok(have)
                    } else {
                        Err(format!("{} of {target} topics", have.len()))
                    }
                }
            },
        )
        .await;
    }
    assert_eq!(images[0], images[1], "nodes 1 and 2 differ");
    assert_eq!(images[1], images[2], "nodes 2 and 3 differ");
}
