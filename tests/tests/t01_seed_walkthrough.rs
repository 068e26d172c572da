//! The seed walkthrough: three controllers, three brokers, two topics created with kraftctl,
//! and every bad request refused with its own Kafka error, creating nothing.

use kraft_tests::brokers::Brokers;
use kraft_tests::{Cluster, wait_for_leader};
use serde_json::Value;

fn kraftctl_json(bootstrap: &str, args: &[&str]) -> (bool, Value) {
    let mut all = args.to_vec();
    all.extend(["--output", "json"]);
    let out = Cluster::kraftctl(bootstrap, &all);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "kraftctl {args:?} printed no JSON ({e}): stdout={stdout} stderr={}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.success(), json)
}

fn create(
    bootstrap: &str,
    name: &str,
    partitions: &str,
    rf: &str,
    configs: &[&str],
) -> (bool, Value) {
    let mut args = vec![
        "topics",
        "create",
        "--topic",
        name,
        "--partitions",
        partitions,
        "--replication-factor",
        rf,
    ];
    for c in configs {
        args.extend(["--config", c]);
    }
    kraftctl_json(bootstrap, &args)
}

fn topic_error_name(v: &Value) -> String {
    // {"topics":[{"name":..,"error":{"code":..,"name":..,"message":..}}]}
    v["topics"][0]["error"]["name"]
        .as_str()
        .unwrap_or("NONE")
        .to_string()
}

fn topic_names(bootstrap: &str) -> Vec<String> {
    let (ok, v) = kraftctl_json(bootstrap, &["topics", "list"]);
    assert!(ok, "topics list failed: {v}");
    let arr = v
        .as_array()
        .or_else(|| v["topics"].as_array())
        .unwrap_or_else(|| panic!("list JSON: {v}"));
    arr.iter()
        .map(|t| t["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_walkthrough_creates_two_topics_and_refuses_bad_requests() {
    let cluster = Cluster::start(3);
    let bootstrap = cluster.bootstrap();
    wait_for_leader(&bootstrap).await;
    let _brokers = Brokers::start(&bootstrap, 3).await;

    let configs = ["retention.ms=172800000", "min.insync.replicas=2"];
    for name in ["mytopic1", "mytopic2"] {
        let (ok, v) = create(&bootstrap, name, "1", "3", &configs);
        assert!(ok, "create {name}: {v}");
        assert_eq!(topic_error_name(&v), "NONE", "{v}");
    }
    assert_eq!(topic_names(&bootstrap), vec!["mytopic1", "mytopic2"]);

    for name in ["mytopic1", "mytopic2"] {
        let (ok, v) = kraftctl_json(&bootstrap, &["topics", "describe", "--topic", name]);
        assert!(ok, "describe {name}: {v}");
        let t = &v["topics"][0];
        assert_eq!(t["name"], name, "{v}");
        let parts = t["partitions"].as_array().expect("partitions");
        assert_eq!(parts.len(), 1, "{v}");
        let p = &parts[0];
        let replicas: Vec<i64> = p["replicas"]
            .as_array()
            .expect("replicas")
            .iter()
            .filter_map(Value::as_i64)
            .collect();
        let isr: Vec<i64> = p["isr"]
            .as_array()
            .expect("isr")
            .iter()
            .filter_map(Value::as_i64)
            .collect();
        let leader = p["leader"].as_i64().expect("leader");
        let mut sorted = replicas.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, vec![1, 2, 3], "3 distinct replicas: {v}");
        assert!(
            replicas.contains(&leader),
            "leader {leader} among replicas {replicas:?}"
        );
        assert_eq!(isr, replicas, "ISR = replicas");
        let cfg = &t["configs"];
        assert_eq!(cfg["retention.ms"], "172800000", "{v}");
        assert_eq!(cfg["min.insync.replicas"], "2", "{v}");
    }

    // Text output looks like kafka-topics --describe.
    let out = Cluster::kraftctl(&bootstrap, &["topics", "describe", "--topic", "mytopic1"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    for want in [
        "Topic: mytopic1",
        "TopicId:",
        "PartitionCount: 1",
        "ReplicationFactor: 3",
        "Leader:",
        "Replicas:",
        "Isr:",
    ] {
        assert!(text.contains(want), "describe text lacks {want:?}:\n{text}");
    }

    let bad: [(&str, &str, &str, &[&str], &str); 5] = [
        ("bad/name", "1", "3", &[], "INVALID_TOPIC_EXCEPTION"),
        ("zeroparts", "0", "3", &[], "INVALID_PARTITIONS"),
        ("rf4", "1", "4", &[], "INVALID_REPLICATION_FACTOR"),
        ("mytopic1", "1", "3", &[], "TOPIC_ALREADY_EXISTS"),
        (
            "badconfig",
            "1",
            "3",
            &["no.such.config=1"],
            "INVALID_CONFIG",
        ),
    ];
    for (name, parts, rf, cfg, want) in bad {
        let (ok, v) = create(&bootstrap, name, parts, rf, cfg);
        assert!(!ok, "kraftctl must exit non-zero for {name}: {v}");
        assert_eq!(topic_error_name(&v), want, "{name}: {v}");
        let msg = v["topics"][0]["error"]["message"]
            .as_str()
            .unwrap_or_default();
        assert!(!msg.is_empty(), "{name}: error needs a message: {v}");
    }
    assert_eq!(
        topic_names(&bootstrap),
        vec!["mytopic1", "mytopic2"],
        "bad requests created nothing"
    );

    let (ok, v) = kraftctl_json(&bootstrap, &["cluster", "describe"]);
    assert!(ok, "{v}");
    assert_eq!(v["brokers"].as_array().map(Vec::len), Some(3), "{v}");
    assert_eq!(v["voters"].as_array().map(Vec::len), Some(3), "{v}");
}
