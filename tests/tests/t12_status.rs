//! `kraftctl status` through the real binary on a real quorum: quorum, brokers and partition
//! health on one screen, text and JSON. A broker that stops heartbeating is fenced; the
//! screen then shows it fenced and its partitions under-replicated and under min ISR, and the
//! leader's `/metrics` moves the same way (FencedBrokerCount, under-min-ISR, imbalance).

use std::time::Duration;

use kraft_client::Client;
use kraft_proto as pb;
use kraft_tests::broker::{Mode, TestBroker};
use kraft_tests::prom::{scrape, val};
use kraft_tests::{Cluster, wait_for_leader, wait_until};
use serde_json::Value;

const SESSION_MS: &str = "1500";
const HEARTBEAT: Duration = Duration::from_millis(200);

fn status_json(bootstrap: &str) -> Result<Value, String> {
    let out = Cluster::kraftctl(bootstrap, &["--output", "json", "status"]);
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_quorum_brokers_and_partition_health() {
    let cluster = Cluster::start_with_metrics_and(3, &["--broker-session-timeout-ms", SESSION_MS]);
    let b = cluster.bootstrap();
    let leader = wait_for_leader(&b).await;
    let client = Client::connect(&b).await.expect("connect");
    let mut brokers = Vec::new();
    for id in 1..=3 {
        brokers.push(TestBroker::start(&client, id, HEARTBEAT).await);
    }
    for b in &mut brokers {
        b.wait_for("unfenced", Duration::from_secs(20), |r| !r.is_fenced)
            .await;
    }
    let reply = client
        .create_topics(pb::CreateTopicsRequest {
            topics: vec![pb::CreatableTopic {
                name: "strict".into(),
                num_partitions: 3,
                replication_factor: 3,
                configs: vec![pb::ConfigEntry {
                    name: "min.insync.replicas".into(),
                    value: Some("3".into()),
                }],
                ..Default::default()
            }],
            validate_only: false,
        })
        .await
        .expect("create topic");
    assert!(
        kraft_client::item_failure(reply.topics[0].error.as_ref()).is_none(),
        "{reply:?}"
    );

    // Healthy: one screen of text naming the leader, three voters and three brokers.
    let out = Cluster::kraftctl(&b, &["status"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "Health: OK".to_string(),
        format!("Quorum: leader {leader},"),
        "Brokers: 3 registered, 3 unfenced [1,2,3], 0 fenced [], 0 shutting down []".into(),
        "Partitions: 3 in 1 topics".into(),
        "  Offline:         0\n".into(),
        "  UnderMinIsr:     0\n".into(),
    ] {
        assert!(text.contains(&want), "{want:?} missing in\n{text}");
    }
    assert_eq!(
        text.lines().filter(|l| l.contains("Follower")).count(),
        2,
        "{text}"
    );
    let s = status_json(&b).expect("status --output json");
    assert_eq!(s["leader_id"], leader);
    assert_eq!(s["healthy"], true, "{s:#}");
    let voters = s["controllers"].as_array().expect("controllers");
    assert_eq!(voters.len(), 3, "{s:#}");
    assert!(
        voters.iter().all(|v| v["lag"].is_i64()),
        "every voter's lag is known to the leader: {s:#}"
    );

    // Broker 3 goes silent: fenced after its session, its partitions shrink their ISR.
    brokers[2].set_mode(Mode::Silent);
    let s = wait_until(
        "broker 3 fenced on the status screen",
        Duration::from_secs(30),
        || {
            let b = b.clone();
            async move {
                let s = status_json(&b)?;
                if s["brokers"]["fenced"] == serde_json::json!([3])
                    && s["partitions"]["under_min_isr"]
                        .as_array()
                        .is_some_and(|a| a.len() == 3)
                {
                    Ok(s)
                } else {
                    Err(format!("{s}"))
                }
            }
        },
    )
    .await;
    assert_eq!(s["healthy"], false, "{s:#}");
    assert_eq!(s["brokers"]["unfenced"], serde_json::json!([1, 2]));
    assert_eq!(
        s["partitions"]["under_replicated"],
        serde_json::json!(["strict-0", "strict-1", "strict-2"])
    );
    assert_eq!(s["partitions"]["offline"], serde_json::json!([]));
    let text = String::from_utf8_lossy(&Cluster::kraftctl(&b, &["status"]).stdout).into_owned();
    assert!(text.contains("Health: DEGRADED"), "{text}");
    assert!(
        text.contains("  UnderMinIsr:     3 strict-0,strict-1,strict-2\n"),
        "{text}"
    );

    // The leader's /metrics tells the same story.
    let leader_now = s["leader_id"].as_u64().expect("leader id");
    let m = wait_until("fencing in /metrics", Duration::from_secs(30), || {
        let addr = cluster.metrics_addr(leader_now);
        async move {
            let m = scrape(&addr).await?;
            if val(&m, "kafka_controller_KafkaController_FencedBrokerCount") == 1.0 {
                Ok(m)
            } else {
                Err(format!("{m:?}"))
            }
        }
    })
    .await;
    assert_eq!(val(&m, "kraftd_under_min_isr_partitions"), 3.0, "{m:?}");
    assert_eq!(val(&m, "kraftd_under_replicated_partitions"), 3.0, "{m:?}");
    assert_eq!(
        val(&m, "kafka_controller_KafkaController_ActiveBrokerCount"),
        2.0
    );
    assert_eq!(
        val(
            &m,
            "kafka_controller_KafkaController_OfflinePartitionsCount"
        ),
        0.0
    );
    // Broker 3 was the preferred leader of one partition; that leadership moved.
    assert_eq!(
        val(
            &m,
            "kafka_controller_KafkaController_PreferredReplicaImbalanceCount"
        ),
        1.0,
        "{m:?}"
    );
}
