//! kraftctl against a real quorum for the operator commands: topics alter/delete, configs,
//! brokers list, leader election, reassignments (completed by the leader's AlterPartition),
//! and features.

use std::time::Duration;

use kraft_client::Client;
use kraft_proto as pb;
use kraft_tests::broker::TestBroker;
use kraft_tests::{Cluster, wait_for_leader};
use serde_json::Value;

fn ctl(bootstrap: &str, args: &[&str]) -> (bool, String) {
    let out = Cluster::kraftctl(bootstrap, args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

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

/// Topic id and partition 0 of topic `pay`, as the active controller describes them.
async fn pay_0(client: &Client) -> (String, pb::PartitionDescription) {
    let d = client
        .describe_topics(["pay"], false)
        .await
        .expect("describe");
    let p = d.topics[0]
        .partitions
        .iter()
        .find(|p| p.partition_index == 0)
        .expect("p0")
        .clone();
    (d.topics[0].topic_id.clone(), p)
}

/// The AlterPartition the leader of `p` sends to move pay-0's ISR to `isr` at `leader_epoch`.
fn alter_isr(
    topic_id: &str,
    p: &pb::PartitionDescription,
    leader_epoch: i32,
    isr: &[i32],
    epoch_of: impl Fn(i32) -> i64,
) -> pb::AlterPartitionRequest {
    pb::AlterPartitionRequest {
        broker_id: p.leader,
        broker_epoch: epoch_of(p.leader),
        topics: vec![pb::AlterPartitionRequestTopic {
            topic_id: topic_id.to_string(),
            partitions: vec![pb::AlterPartitionRequestPartition {
                partition_index: 0,
                leader_epoch,
                new_isr_with_epochs: isr
                    .iter()
                    .map(|id| pb::BrokerIdAndEpoch {
                        broker_id: *id,
                        broker_epoch: epoch_of(*id),
                    })
                    .collect(),
                leader_recovery_state: 0,
                partition_epoch: p.partition_epoch,
            }],
        }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_commands_work_end_to_end() {
    let cluster = Cluster::start(3);
    let b = cluster.bootstrap();
    wait_for_leader(&b).await;
    let client = Client::connect(&b).await.expect("connect");
    let mut brokers = Vec::new();
    for id in 1..=3 {
        brokers.push(TestBroker::start(&client, id, Duration::from_millis(200)).await);
    }
    for br in &mut brokers {
        br.wait_for("unfenced", Duration::from_secs(20), |r| !r.is_fenced)
            .await;
    }

    // topics create / alter / delete
    let (ok, out) = ctl(
        &b,
        &[
            "topics",
            "create",
            "--topic",
            "pay",
            "--partitions",
            "1",
            "--replication-factor",
            "2",
        ],
    );
    assert!(ok, "{out}");
    let (ok, out) = ctl(
        &b,
        &["topics", "alter", "--topic", "pay", "--partitions", "3"],
    );
    assert!(ok, "{out}");
    let (ok, out) = ctl(
        &b,
        &["topics", "alter", "--topic", "pay", "--partitions", "2"],
    );
    assert!(
        !ok && out.contains("INVALID_PARTITIONS"),
        "a decrease must fail: {out}"
    );
    let (ok, v) = ctl_json(&b, &["topics", "describe", "--topic", "pay"]);
    assert!(ok);
    assert_eq!(v["topics"][0]["partition_count"], 3, "{v}");

    // configs alter / describe
    let (ok, out) = ctl(
        &b,
        &[
            "configs",
            "alter",
            "--entity-type",
            "topics",
            "--entity-name",
            "pay",
            "--add-config",
            "retention.ms=1000,cleanup.policy=[delete,compact]",
        ],
    );
    assert!(ok, "{out}");
    let (ok, out) = ctl(
        &b,
        &[
            "configs",
            "describe",
            "--entity-type",
            "topics",
            "--entity-name",
            "pay",
        ],
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("retention.ms=1000") && out.contains("cleanup.policy=delete,compact"),
        "{out}"
    );
    let (ok, out) = ctl(
        &b,
        &[
            "configs",
            "alter",
            "--entity-type",
            "topics",
            "--entity-name",
            "pay",
            "--add-config",
            "min.insync.replicas=zero",
        ],
    );
    assert!(
        !ok && out.contains("INVALID_CONFIG") && out.contains("min.insync.replicas"),
        "{out}"
    );
    let (ok, out) = ctl(
        &b,
        &[
            "configs",
            "alter",
            "--entity-type",
            "brokers",
            "--entity-default",
            "--add-config",
            "log.retention.ms=7200000",
        ],
    );
    assert!(ok, "{out}");

    // brokers list
    let (ok, v) = ctl_json(&b, &["brokers", "list"]);
    assert!(ok, "{v}");
    let list = v
        .as_array()
        .or_else(|| v["brokers"].as_array())
        .unwrap_or_else(|| panic!("{v}"))
        .clone();
    assert_eq!(list.len(), 3, "{v}");

    // leaders elect: everything already has its preferred leader
    let (ok, out) = ctl(
        &b,
        &[
            "leaders",
            "elect",
            "--election-type",
            "preferred",
            "--topic",
            "pay",
            "--partition",
            "0",
        ],
    );
    assert!(ok, "{out}");
    assert!(out.to_lowercase().contains("not needed"), "{out}");

    // reassignments: move pay-0 to a replica set with a new member; the leader's
    // AlterPartition (ISR now holds the target) completes it.
    let (_, p0) = pay_0(&client).await;
    let newcomer = (1..=3)
        .find(|id| !p0.replicas.contains(id))
        .expect("a broker without pay-0");
    let target = vec![p0.replicas[1], newcomer];
    let target_s = target
        .iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let (ok, out) = ctl(
        &b,
        &[
            "reassignments",
            "add",
            "--topic",
            "pay",
            "--partition",
            "0",
            "--replicas",
            &target_s,
        ],
    );
    assert!(ok, "{out}");
    let (ok, v) = ctl_json(&b, &["reassignments", "list"]);
    assert!(ok, "{v}");
    assert!(v.to_string().contains("adding"), "reassignment listed: {v}");

    let (topic_id, p) = pay_0(&client).await;
    let epoch_of = |id: i32| {
        brokers
            .iter()
            .find(|br| br.id == id)
            .map(|br| br.epoch)
            .expect("broker")
    };
    let mut isr = p.isr.clone();
    isr.push(newcomer);
    let resp = client
        .alter_partition(alter_isr(&topic_id, &p, p.leader_epoch, &isr, epoch_of))
        .await
        .expect("alter partition");
    let code = resp.topics[0].partitions[0]
        .error
        .as_ref()
        .map(|e| e.error_code)
        .unwrap_or(0);
    assert!(
        code == 0 || code == 108,
        "NONE or NEW_LEADER_ELECTED: {resp:?}"
    );
    let (topic_id, p) = pay_0(&client).await;
    let mut got = p.replicas.clone();
    got.sort_unstable();
    let mut want = target.clone();
    want.sort_unstable();
    assert_eq!(got, want, "reassignment completed: {p:?}");
    let ongoing = client
        .list_partition_reassignments(pb::ListPartitionReassignmentsRequest { topics: vec![] })
        .await
        .expect("list reassignments");
    assert!(
        ongoing.topics.iter().all(|t| t.partitions.is_empty()),
        "nothing in progress: {ongoing:?}"
    );

    // A stale leader epoch is fenced.
    let stale = client
        .alter_partition(alter_isr(&topic_id, &p, p.leader_epoch - 1, &[], epoch_of))
        .await
        .expect("alter partition");
    let e = stale.topics[0].partitions[0].error.as_ref().expect("error");
    assert_eq!(e.error_name, "FENCED_LEADER_EPOCH", "{stale:?}");

    // features describe
    let (ok, out) = ctl(&b, &["features", "describe"]);
    assert!(ok && out.contains("metadata.version"), "{out}");

    // topics delete
    let (ok, out) = ctl(&b, &["topics", "delete", "--topic", "pay"]);
    assert!(ok, "{out}");
    let (ok, v) = ctl_json(&b, &["topics", "list"]);
    assert!(ok && v.as_array().is_some_and(|a| a.is_empty()), "{v}");
}
