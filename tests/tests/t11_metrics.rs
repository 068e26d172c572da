//! Prometheus `/metrics` on a real quorum: each controller serves it on its own port
//! (`--metrics-listen`); exactly one reports ActiveControllerCount 1, and creating a topic
//! moves the leader's topic, partition, commit-index, append/fsync and RPC series. Every
//! listed series exists; snapshots, FetchMetadata streams and quorum RPCs are counted.
//! Request ids come back to the caller and appear, with the peer, in the node's JSON log on
//! the slow-request warning (threshold 0), and a forwarded write keeps its id on the leader.

use std::time::Duration;

use kraft_client::Client;
use kraft_proto as pb;
use kraft_proto::admin_service_client::AdminServiceClient;
use kraft_tests::prom::{get, scrape, val, val_or_zero};
use kraft_tests::{Cluster, wait_for_leader, wait_until};
use serde_json::Value;

/// Every series the endpoint promises (README "Observability"), by family name.
const SERIES: &[&str] = &[
    "kraftd_raft_current_term",
    "kraftd_active_controller_count",
    "kraftd_raft_current_leader",
    "kraftd_raft_commit_index",
    "kraftd_raft_applied_index",
    "kraftd_raft_last_log_index",
    "kraftd_raft_snapshot_index",
    "kraftd_raft_follower_matched_index",
    "kraftd_raft_follower_lag",
    "kraftd_registered_brokers",
    "kraftd_fenced_brokers",
    "kraftd_active_brokers",
    "kraftd_topics",
    "kraftd_partitions",
    "kraftd_offline_partitions",
    "kraftd_under_replicated_partitions",
    "kraftd_under_min_isr_partitions",
    "kraftd_preferred_replica_imbalance",
    "kraftd_raft_log_append_duration_seconds_bucket",
    "kraftd_raft_log_append_duration_seconds_sum",
    "kraftd_raft_log_append_duration_seconds_count",
    "kraftd_raft_log_fsync_duration_seconds_bucket",
    "kraftd_raft_log_fsync_duration_seconds_count",
    "kraftd_snapshot_size_bytes",
    "kraftd_snapshot_age_seconds",
    "kraftd_rpc_requests_total",
    "kraftd_rpc_slow_requests_total",
    "kraftd_rpc_duration_seconds_bucket",
    "kraftd_rpc_duration_seconds_count",
    "kraftd_fetch_metadata_streams",
    "kraftd_fetch_metadata_messages_total",
    "kraftd_write_entries_total",
    "kraftd_write_batches_total",
    "kafka_controller_KafkaController_ActiveControllerCount",
    "kafka_controller_KafkaController_OfflinePartitionsCount",
    "kafka_controller_KafkaController_FencedBrokerCount",
    "kafka_controller_KafkaController_ActiveBrokerCount",
    "kafka_controller_KafkaController_GlobalTopicCount",
    "kafka_controller_KafkaController_GlobalPartitionCount",
    "kafka_controller_KafkaController_PreferredReplicaImbalanceCount",
    "kafka_controller_KafkaController_LastAppliedRecordOffset",
    "kafka_controller_KafkaController_LastCommittedRecordOffset",
];

/// Sum of `key` over every node's scrape.
async fn sum_over(cluster: &Cluster, key: &str) -> Result<f64, String> {
    let mut total = 0.0;
    for id in 1..=3 {
        total += val_or_zero(&scrape(&cluster.metrics_addr(id)).await?, key);
    }
    Ok(total)
}

/// The JSON log lines of node `id` logged inside the RPC span with `request_id`.
fn lines_with_request_id(cluster: &Cluster, id: u64, request_id: &str) -> Vec<Value> {
    cluster
        .log(id)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| {
            v["spans"].as_array().is_some_and(|spans| {
                spans
                    .iter()
                    .any(|s| s["name"] == "rpc" && s["request_id"] == request_id)
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_endpoint_tracks_raft_and_the_image() {
    // Every RPC is "slow" (threshold 0) so each logs a warning with its span; JSON logs so the
    // test can read the span fields; frequent snapshots so snapshot size and age exist.
    let cluster = Cluster::start_with_metrics_and(
        3,
        &[
            "--slow-request-ms",
            "0",
            "--log-format",
            "json",
            "--snapshot-every",
            "5",
        ],
    );
    let b = cluster.bootstrap();
    wait_for_leader(&b).await;
    let _brokers = kraft_tests::brokers::Brokers::start(&b, 3).await;

    // Exactly one node reports ActiveControllerCount 1, and every node agrees on who it is.
    let leader = wait_until(
        "one active controller in /metrics",
        Duration::from_secs(30),
        || {
            let cluster = &cluster;
            async move {
                let mut active = Vec::new();
                let mut leaders = Vec::new();
                for id in 1..=3 {
                    let m = scrape(&cluster.metrics_addr(id)).await?;
                    if val(&m, "kraftd_active_controller_count") == 1.0 {
                        active.push(id);
                    }
                    leaders.push(val(&m, "kraftd_raft_current_leader") as u64);
                }
                match active[..] {
                    [id] if leaders.iter().all(|l| *l == id) => Ok(id),
                    _ => Err(format!("active={active:?} leaders={leaders:?}")),
                }
            }
        },
    )
    .await;
    let addr = cluster.metrics_addr(leader);

    let (status, headers, body) = get(&addr, "/metrics").await.expect("scrape");
    assert!(status.contains(" 200 "), "{status}");
    assert!(
        headers
            .to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{headers}"
    );
    assert!(
        body.contains("# TYPE kraftd_active_controller_count gauge"),
        "{body}"
    );
    assert!(body.contains("ActiveControllerCount"), "{body}");
    let (status, _, _) = get(&addr, "/nope").await.expect("get /nope");
    assert!(status.contains(" 404 "), "{status}");
    let (status, _, page) = get(&addr, "/status").await.expect("get /status");
    assert!(status.contains(" 200 "), "{status}");
    assert!(
        page.contains(&format!("kraftd node {leader} (leader), leader {leader},")),
        "{page}"
    );
    assert!(
        page.contains("brokers: 3 registered, 3 active, 0 fenced"),
        "{page}"
    );

    let before = scrape(&addr).await.expect("scrape before");
    assert_eq!(val(&before, "kraftd_topics"), 0.0);
    assert_eq!(val(&before, "kraftd_partitions"), 0.0);
    assert_eq!(val(&before, "kraftd_registered_brokers"), 3.0);
    assert_eq!(val(&before, "kraftd_fenced_brokers"), 0.0);
    assert_eq!(val(&before, "kraftd_active_brokers"), 3.0);
    let commit_before = val(&before, "kraftd_raft_commit_index");
    assert!(commit_before > 0.0, "{before:?}");
    for f in (1..=3).filter(|id| *id != leader) {
        let key = format!("kraftd_raft_follower_matched_index{{node_id=\"{f}\"}}");
        assert!(before.contains_key(&key), "{key} missing: {before:?}");
    }

    let client = Client::connect(&b).await.expect("connect");
    let reply = client
        .create_topics(pb::CreateTopicsRequest {
            topics: vec![pb::CreatableTopic {
                name: "metrics-topic".into(),
                num_partitions: 3,
                replication_factor: 3,
                ..Default::default()
            }],
            validate_only: false,
        })
        .await
        .expect("create topic");
    assert_eq!(
        reply.topics[0]
            .error
            .as_ref()
            .map(|e| e.error_code)
            .unwrap_or(0),
        0,
        "{reply:?}"
    );

    let after = wait_until(
        "the topic in the leader's /metrics",
        Duration::from_secs(30),
        || {
            let addr = addr.clone();
            async move {
                let m = scrape(&addr).await?;
                let ok = val(&m, "kraftd_topics") == 1.0
                    && val(&m, "kraftd_partitions") == 3.0
                    && m.get("kraftd_rpc_requests_total{rpc=\"CreateTopics\",code=\"OK\"}")
                        .is_some_and(|n| *n >= 1.0);
                if ok { Ok(m) } else { Err(format!("{m:?}")) }
            }
        },
    )
    .await;
    assert!(
        val(&after, "kraftd_raft_commit_index") > commit_before,
        "{after:?}"
    );
    assert!(val(&after, "kraftd_raft_applied_index") >= val(&before, "kraftd_raft_applied_index"));
    assert_eq!(val(&after, "kraftd_offline_partitions"), 0.0);
    assert_eq!(val(&after, "kraftd_active_controller_count"), 1.0);
    assert!(
        after.contains_key("kraftd_rpc_duration_seconds_bucket{rpc=\"CreateTopics\",le=\"+Inf\"}"),
        "{after:?}"
    );

    // Every listed series exists.
    for name in SERIES {
        assert!(
            after
                .keys()
                .any(|k| k == name || k.starts_with(&format!("{name}{{"))),
            "series {name} missing from the leader's /metrics: {after:?}"
        );
    }
    assert_eq!(
        val(
            &after,
            "kafka_controller_KafkaController_GlobalPartitionCount"
        ),
        3.0
    );
    assert_eq!(
        val(
            &after,
            "kafka_controller_KafkaController_ActiveControllerCount"
        ),
        1.0
    );
    assert_eq!(val(&after, "kraftd_under_min_isr_partitions"), 0.0);

    // Storage timings move with writes: the topic's batch was appended and fsynced.
    let appends = val(&after, "kraftd_raft_log_append_duration_seconds_count");
    let fsyncs = val(&after, "kraftd_raft_log_fsync_duration_seconds_count");
    assert!(
        appends > val(&before, "kraftd_raft_log_append_duration_seconds_count"),
        "{after:?}"
    );
    assert!(fsyncs >= appends, "every append fsyncs: {after:?}");
    assert!(val(&after, "kraftd_raft_log_append_duration_seconds_sum") > 0.0);
    assert_eq!(
        val(
            &after,
            "kraftd_raft_log_append_duration_seconds_bucket{le=\"+Inf\"}"
        ),
        appends
    );
    // A snapshot was taken (--snapshot-every 5): its size and age are reported.
    let snap = wait_until("a snapshot in /metrics", Duration::from_secs(30), || {
        let addr = addr.clone();
        async move {
            let m = scrape(&addr).await?;
            match m.get("kraftd_snapshot_size_bytes") {
                Some(b) if *b > 0.0 => Ok(m),
                _ => Err(format!("{m:?}")),
            }
        }
    })
    .await;
    assert!(val(&snap, "kraftd_snapshot_age_seconds") >= 0.0);
    assert!(val(&snap, "kraftd_raft_snapshot_index") > 0.0);

    // The brokers' metadata streams: three open, and the topic went out as deltas.
    wait_until(
        "three FetchMetadata streams, deltas sent",
        Duration::from_secs(30),
        || {
            let cluster = &cluster;
            async move {
                let streams = sum_over(cluster, "kraftd_fetch_metadata_streams").await?;
                let opened = sum_over(
                    cluster,
                    "kraftd_rpc_requests_total{rpc=\"FetchMetadata\",code=\"OK\"}",
                )
                .await?;
                let deltas = sum_over(
                    cluster,
                    "kraftd_fetch_metadata_messages_total{kind=\"delta\"}",
                )
                .await?;
                if streams == 3.0 && opened >= 3.0 && deltas > 0.0 {
                    Ok(())
                } else {
                    Err(format!("streams={streams} opened={opened} deltas={deltas}"))
                }
            }
        },
    )
    .await;

    // Quorum operations are counted like every other RPC.
    let quorum_before = sum_over(
        &cluster,
        "kraftd_rpc_requests_total{rpc=\"DescribeQuorum\",code=\"OK\"}",
    )
    .await
    .expect("scrape");
    client.describe_quorum().await.expect("describe quorum");
    let quorum_after = sum_over(
        &cluster,
        "kraftd_rpc_requests_total{rpc=\"DescribeQuorum\",code=\"OK\"}",
    )
    .await
    .expect("scrape");
    assert!(
        quorum_after > quorum_before,
        "{quorum_before} -> {quorum_after}"
    );

    // Request ids: the caller's id comes back, and lands in the answering node's log inside
    // the RPC span with the peer address, on the slow-request warning.
    let follower = (1..=3).find(|id| *id != leader).expect("a follower");
    let channel =
        tonic::transport::Channel::from_shared(format!("http://{}", cluster.addr(follower)))
            .expect("uri")
            .connect()
            .await
            .expect("connect to a follower");
    let mut admin = AdminServiceClient::new(channel);
    let mut req = tonic::Request::new(pb::DescribeClusterRequest { local: true });
    req.metadata_mut()
        .insert("x-request-id", "t11-read-42".parse().expect("ascii"));
    let resp = admin.describe_cluster(req).await.expect("describe cluster");
    assert_eq!(
        resp.metadata()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("t11-read-42")
    );
    let generated = admin
        .describe_cluster(pb::DescribeClusterRequest { local: true })
        .await
        .expect("describe cluster");
    let generated = generated
        .metadata()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("a generated request id")
        .to_string();
    assert_eq!(generated.len(), 32, "{generated}");
    assert!(
        generated.bytes().all(|b| b.is_ascii_hexdigit()),
        "{generated}"
    );

    let warning = wait_until(
        "the slow-request warning with the request id",
        Duration::from_secs(10),
        || {
            let lines = lines_with_request_id(&cluster, follower, "t11-read-42");
            async move {
                lines
                    .into_iter()
                    .find(|l| l["level"] == "WARN" && l["fields"]["message"] == "slow request")
                    .ok_or_else(|| "not logged yet".to_string())
            }
        },
    )
    .await;
    let span = warning["spans"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == "rpc"))
        .expect("rpc span");
    assert_eq!(span["rpc"], "DescribeCluster", "{warning}");
    assert_eq!(span["forwarded"], false, "{warning}");
    assert!(
        span["peer"]
            .as_str()
            .is_some_and(|p| p.starts_with("127.0.0.1:")),
        "{warning}"
    );
    assert!(warning["fields"]["took_ms"].as_f64().is_some(), "{warning}");
    assert_eq!(warning["fields"]["slow_request_ms"], 0, "{warning}");

    // A write sent to a follower is forwarded with the same id: the leader logs it too.
    let mut req = tonic::Request::new(pb::CreateTopicsRequest {
        topics: vec![pb::CreatableTopic {
            name: "metrics-forwarded".into(),
            num_partitions: 1,
            replication_factor: 3,
            ..Default::default()
        }],
        validate_only: false,
    });
    req.metadata_mut()
        .insert("x-request-id", "t11-write-7".parse().expect("ascii"));
    admin
        .create_topics(req)
        .await
        .expect("create via a follower");
    wait_until(
        "the forwarded request id in the leader's log",
        Duration::from_secs(10),
        || {
            let lines = lines_with_request_id(&cluster, leader, "t11-write-7");
            async move {
                let forwarded = lines.iter().any(|l| {
                    l["spans"].as_array().is_some_and(|spans| {
                        spans
                            .iter()
                            .any(|s| s["name"] == "rpc" && s["forwarded"] == true)
                    })
                });
                if forwarded {
                    Ok(())
                } else {
                    Err(format!("{lines:?}"))
                }
            }
        },
    )
    .await;
    let slow = scrape(&cluster.metrics_addr(follower))
        .await
        .expect("scrape follower");
    assert!(
        val(
            &slow,
            "kraftd_rpc_slow_requests_total{rpc=\"DescribeCluster\"}"
        ) >= 2.0,
        "{slow:?}"
    );

    // Followers apply the same image (both topics) and report no leadership.
    for f in (1..=3).filter(|id| *id != leader) {
        let faddr = cluster.metrics_addr(f);
        wait_until("the topic on a follower", Duration::from_secs(30), || {
            let faddr = faddr.clone();
            async move {
                let m = scrape(&faddr).await?;
                if val(&m, "kraftd_topics") == 2.0 && val(&m, "kraftd_partitions") == 4.0 {
                    Ok(())
                } else {
                    Err(format!("{m:?}"))
                }
            }
        })
        .await;
    }
}

/// Group commit: concurrent creates on the active controller land in fewer Raft entries than
/// requests (`kraftd_write_entries_total` vs `kraftd_write_batches_total`), every one of them
/// is acknowledged without error, and every controller ends up holding all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_share_raft_entries_and_all_land() {
    const TOPICS: usize = 64;
    let cluster = Cluster::start_with_metrics(3);
    let b = cluster.bootstrap();
    let leader = wait_for_leader(&b).await;
    let _brokers = kraft_tests::brokers::Brokers::start(&b, 3).await;
    let addr = cluster.metrics_addr(leader);
    let before = scrape(&addr).await.expect("scrape before");
    let client = Client::connect(&cluster.addr(leader))
        .await
        .expect("connect");

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..TOPICS {
        let client = client.clone();
        tasks.spawn(async move {
            client
                .create_topics(pb::CreateTopicsRequest {
                    topics: vec![pb::CreatableTopic {
                        name: format!("group-{i}"),
                        num_partitions: 1,
                        replication_factor: 3,
                        ..Default::default()
                    }],
                    validate_only: false,
                })
                .await
        });
    }
    while let Some(joined) = tasks.join_next().await {
        let reply = joined.expect("task").expect("create");
        let code = reply.topics[0].error.as_ref().map_or(0, |e| e.error_code);
        assert_eq!(code, 0, "{reply:?}");
    }

    let after = scrape(&addr).await.expect("scrape after");
    let entries =
        val(&after, "kraftd_write_entries_total") - val(&before, "kraftd_write_entries_total");
    let batches =
        val(&after, "kraftd_write_batches_total") - val(&before, "kraftd_write_batches_total");
    assert!(batches >= TOPICS as f64, "batches {batches}");
    assert!(
        entries >= 1.0 && entries < batches,
        "{TOPICS} concurrent creates: {entries} entries for {batches} batches"
    );
    wait_until(
        "every controller holds every topic",
        Duration::from_secs(30),
        || {
            let cluster = &cluster;
            async move {
                for id in 1..=3 {
                    let m = scrape(&cluster.metrics_addr(id)).await?;
                    let topics = val(&m, "kraftd_topics");
                    if topics != TOPICS as f64 {
                        return Err(format!("node {id}: {topics} topics"));
                    }
                }
                Ok(())
            }
        },
    )
    .await;
}
