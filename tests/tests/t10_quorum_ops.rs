//! Quorum operations on a real quorum: DescribeQuorum through kraftctl, a controller that
//! joins with `--join` and is promoted to voter, a voter removed, a leader transfer and a
//! linearizable read on another node right after a write — all while writes continue.

use std::collections::BTreeSet;
use std::time::Duration;

use kraft_client::Client;
use kraft_proto as pb;
use kraft_tests::{Cluster, wait_for_leader, wait_until};
use serde_json::Value;

fn ctl_json(bootstrap: &str, args: &[&str]) -> (bool, Value) {
    let mut all = args.to_vec();
    all.extend(["--output", "json"]);
    let out = Cluster::kraftctl(bootstrap, &all);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?}: no JSON ({e}): {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.success(), v)
}

fn voter_ids(v: &Value) -> BTreeSet<u64> {
    v["current_voters"]
        .as_array()
        .map(|a| a.iter().filter_map(|r| r["node_id"].as_u64()).collect())
        .unwrap_or_default()
}

async fn create(c: &Client, name: &str) -> bool {
    let req = pb::CreateTopicsRequest {
        topics: vec![pb::CreatableTopic {
            name: name.into(),
            num_partitions: 1,
            replication_factor: 1,
            ..Default::default()
        }],
        validate_only: false,
    };
    matches!(c.create_topics(req).await, Ok(r) if r.topics[0].error.as_ref().map(|e| e.error_code).unwrap_or(0) == 0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_add_remove_transfer_and_read_your_write() {
    let t0 = std::time::Instant::now();
    let phase = |what: &str| eprintln!("[t10 {:>6.1}s] {what}", t0.elapsed().as_secs_f64());
    // Small snapshots: by the time node 4 joins, the log it needs is purged, so it catches
    // up as an observer by snapshot install.
    let mut cluster = Cluster::start_with(3, &["--snapshot-every", "20", "--snapshot-keep", "5"]);
    let b = cluster.bootstrap();
    let leader = wait_for_leader(&b).await;
    let _brokers = kraft_tests::brokers::Brokers::start(&b, 1).await;
    let c = Client::connect(&b).await.expect("connect");

    let (ok, v) = ctl_json(&b, &["quorum", "describe", "--status"]);
    assert!(ok, "{v}");
    assert_eq!(v["leader_id"].as_u64(), Some(leader), "{v}");
    assert_eq!(voter_ids(&v), BTreeSet::from([1, 2, 3]));
    assert!(v["high_watermark"].as_i64().unwrap_or(-1) > 0, "{v}");

    // Node 4 joins as an observer and is promoted while writes continue.
    let mut acked = Vec::new();
    for i in 0..20 {
        if create(&c, &format!("before-{i}")).await {
            acked.push(format!("before-{i}"));
        }
    }
    // A bounded background write load runs through the join and the removal.
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let load_client = c.clone();
    let load = tokio::spawn(async move {
        let mut acked = Vec::new();
        for i in 0..2_000 {
            if *stop_rx.borrow_and_update() {
                break;
            }
            let name = format!("load-{i}");
            if create(&load_client, &name).await {
                acked.push(name);
            }
        }
        acked
    });
    phase("joiner");
    cluster.spawn_joiner(4);
    let b4 = b.clone();
    wait_until("node 4 becomes a voter", Duration::from_secs(60), || {
        let b4 = b4.clone();
        async move {
            let (ok, v) = ctl_json(&b4, &["quorum", "describe"]);
            if ok && voter_ids(&v).contains(&4) {
                Ok(())
            } else {
                Err(v.to_string())
            }
        }
    })
    .await;
    for i in 0..20 {
        if create(&c, &format!("after-{i}")).await {
            acked.push(format!("after-{i}"));
        }
    }

    phase("remove");
    // Remove a voter that is not the leader, online.
    let leader = c
        .describe_cluster(false)
        .await
        .expect("describe")
        .active_controller_id;
    let victim = (1..=3).find(|id| *id != leader).expect("a follower");
    let (ok, v) = ctl_json(
        &b,
        &["quorum", "remove-controller", "--id", &victim.to_string()],
    );
    assert!(ok, "{v}");
    let (ok, v) = ctl_json(&b, &["quorum", "describe"]);
    assert!(ok);
    assert!(!voter_ids(&v).contains(&victim), "{v}");
    assert_eq!(voter_ids(&v).len(), 3, "{v}");
    let (ok, v) = ctl_json(
        &b,
        &["quorum", "remove-controller", "--id", &victim.to_string()],
    );
    assert!(!ok && v.to_string().contains("VOTER_NOT_FOUND"), "{v}");

    let _ = stop_tx.send(true);
    let load_acked = load.await.expect("load task");
    assert!(!load_acked.is_empty(), "the write load made progress");
    acked.extend(load_acked);
    phase("transfer");
    // Transfer leadership to node 4.
    let (ok, v) = ctl_json(&b, &["quorum", "transfer-leader", "--to", "4"]);
    assert!(ok, "{v}");
    let d = c.describe_cluster(false).await.expect("describe");
    assert_eq!(d.active_controller_id, 4);

    phase("ryw");
    // Read-your-write across nodes: acknowledged on one node, visible to a linearizable read
    // on another immediately after.
    let writer = Client::connect(&cluster.addr(4)).await.expect("connect 4");
    assert!(create(&writer, "ryw").await);
    let reader_id = (1..=3).find(|id| *id != victim).expect("a remaining voter");
    let reader = Client::connect(&cluster.addr(reader_id))
        .await
        .expect("connect reader");
    let names: Vec<String> = reader
        .list_topics(false)
        .await
        .expect("list")
        .topics
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert!(
        names.contains(&"ryw".to_string()),
        "linearizable read missed the write: {names:?}"
    );
    for t in &acked {
        assert!(names.contains(t), "acknowledged {t} lost");
    }

    phase("dump");
    // The metadata dump prints the image at (at least) the requested offset.
    let d = reader.describe_cluster(true).await.expect("describe");
    let (ok, v) = ctl_json(
        &cluster.addr(reader_id),
        &[
            "metadata",
            "dump",
            "--offset",
            &d.metadata_offset.to_string(),
        ],
    );
    assert!(ok, "{v}");
    assert!(v["offset"].as_u64().unwrap_or(0) >= d.metadata_offset);
    assert!(v["image"].to_string().contains("ryw"), "{v}");
}
