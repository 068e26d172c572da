//! `kraftctl status`: one screen of cluster health, built from four read-only RPCs
//! (DescribeQuorum, DescribeCluster, DescribeTopics, DescribeConfigs for
//! `min.insync.replicas`).
//!
//! ```text
//!  Quorum      leader, epoch, high watermark; per voter: role, log end, lag, caught up ago
//!  Brokers     unfenced / fenced / shutting down, with ids
//!  Partitions  total, offline, under-replicated, under-min-ISR, with topic-partitions
//! ```
//!
//! [`cluster_status`] computes the figures (pure); [`status`] renders them as text or JSON.
//! Under-min-ISR means ISR smaller than min(min.insync.replicas, replicas), as Kafka counts it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use kraft_proto::{
    ConfigResourceType, DescribeClusterResponse, DescribeConfigsResponse, DescribeQuorumResponse,
    DescribeTopicsResponse,
};
use serde::Serialize;
use serde_json::json;

use super::{Format, Rendered, table};
use crate::item_failure;

/// One voter or observer of the quorum.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReplicaStatus {
    /// Controller node id.
    pub node_id: u64,
    /// Its gRPC endpoint.
    pub endpoint: String,
    /// `Leader`, `Follower` or `Observer`.
    pub role: &'static str,
    /// Its log end offset as the leader knows it; -1 when unknown.
    pub log_end_offset: i64,
    /// Entries behind the leader's log end; `None` when unknown.
    pub lag: Option<i64>,
    /// Milliseconds since it was last caught up with the leader; `None` when never.
    pub caught_up_ms_ago: Option<i64>,
}

/// The brokers by state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BrokerCounts {
    /// Registered brokers.
    pub registered: usize,
    /// Unfenced and not shutting down.
    pub unfenced: Vec<i32>,
    /// Fenced.
    pub fenced: Vec<i32>,
    /// Unfenced but in controlled shutdown.
    pub shutting_down: Vec<i32>,
}

/// Partition health over all topics. Lists name partitions `topic-N`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PartitionHealth {
    /// Topics.
    pub topics: usize,
    /// Partitions.
    pub partitions: usize,
    /// Without a leader.
    pub offline: Vec<String>,
    /// ISR smaller than the replica set.
    pub under_replicated: Vec<String>,
    /// ISR smaller than min(min.insync.replicas, replicas).
    pub under_min_isr: Vec<String>,
}

/// Everything `kraftctl status` shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClusterStatus {
    /// Cluster id.
    pub cluster_id: String,
    /// Active controller; 0 when none is known.
    pub leader_id: u64,
    /// Leader epoch (Raft term).
    pub leader_epoch: u64,
    /// Highest committed offset.
    pub high_watermark: i64,
    /// Voters, then observers.
    pub controllers: Vec<ReplicaStatus>,
    /// Brokers by state.
    pub brokers: BrokerCounts,
    /// Partition health.
    pub partitions: PartitionHealth,
    /// A leader is known and no partition is offline or under min ISR.
    pub healthy: bool,
}

/// Each topic's effective `min.insync.replicas` from a DescribeConfigs reply (topics that
/// failed or lack the key are left out, i.e. count as 1).
pub fn min_isr_by_topic(resp: &DescribeConfigsResponse) -> BTreeMap<String, i32> {
    resp.results
        .iter()
        .filter(|r| r.resource_type == ConfigResourceType::Topic as i32)
        .filter(|r| item_failure(r.error.as_ref()).is_none())
        .filter_map(|r| {
            let v = r
                .configs
                .iter()
                .find(|c| c.name == "min.insync.replicas")?
                .value
                .as_deref()?
                .parse()
                .ok()?;
            Some((r.resource_name.clone(), v))
        })
        .collect()
}

/// Computes the status from the four replies. `min_isr`: each topic's effective
/// `min.insync.replicas` (absent: 1). `now_ms`: the wall clock, ms since the epoch.
pub fn cluster_status(
    quorum: &DescribeQuorumResponse,
    cluster: &DescribeClusterResponse,
    topics: &DescribeTopicsResponse,
    min_isr: &BTreeMap<String, i32>,
    now_ms: i64,
) -> ClusterStatus {
    let leo = quorum
        .current_voters
        .iter()
        .find(|r| r.replica_id == quorum.leader_id)
        .map(|r| r.log_end_offset)
        .filter(|l| *l >= 0);
    let voters = quorum.current_voters.iter().map(|r| (r, true));
    let observers = quorum.observers.iter().map(|r| (r, false));
    let controllers = voters
        .chain(observers)
        .map(|(r, voter)| ReplicaStatus {
            node_id: r.replica_id,
            endpoint: r.endpoint.clone(),
            role: if r.replica_id == quorum.leader_id {
                "Leader"
            } else if voter {
                "Follower"
            } else {
                "Observer"
            },
            log_end_offset: r.log_end_offset,
            lag: match (leo, r.log_end_offset) {
                (Some(l), o) if o >= 0 => Some((l - o).max(0)),
                _ => None,
            },
            caught_up_ms_ago: (r.last_caught_up_timestamp >= 0)
                .then(|| (now_ms - r.last_caught_up_timestamp).max(0)),
        })
        .collect();

    let mut brokers = BrokerCounts {
        registered: cluster.brokers.len(),
        ..BrokerCounts::default()
    };
    for b in &cluster.brokers {
        let list = if b.fenced {
            &mut brokers.fenced
        } else if b.in_controlled_shutdown {
            &mut brokers.shutting_down
        } else {
            &mut brokers.unfenced
        };
        list.push(b.broker_id);
    }
    for list in [
        &mut brokers.unfenced,
        &mut brokers.fenced,
        &mut brokers.shutting_down,
    ] {
        list.sort_unstable();
    }

    let mut health = PartitionHealth::default();
    for t in topics
        .topics
        .iter()
        .filter(|t| item_failure(t.error.as_ref()).is_none())
    {
        health.topics += 1;
        let min = usize::try_from(min_isr.get(&t.name).copied().unwrap_or(1)).unwrap_or(1);
        let mut parts: Vec<_> = t.partitions.iter().collect();
        parts.sort_by_key(|p| p.partition_index);
        for p in parts {
            health.partitions += 1;
            let name = format!("{}-{}", t.name, p.partition_index);
            if p.leader < 0 {
                health.offline.push(name.clone());
            }
            if p.isr.len() < p.replicas.len() {
                health.under_replicated.push(name.clone());
            }
            if p.isr.len() < min.min(p.replicas.len()) {
                health.under_min_isr.push(name);
            }
        }
    }
    let healthy =
        quorum.leader_id != 0 && health.offline.is_empty() && health.under_min_isr.is_empty();
    ClusterStatus {
        cluster_id: cluster.cluster_id.clone(),
        leader_id: quorum.leader_id,
        leader_epoch: quorum.leader_epoch,
        high_watermark: quorum.high_watermark,
        controllers,
        brokers,
        partitions: health,
        healthy,
    }
}

fn ids(v: &[i32]) -> String {
    format!(
        "[{}]",
        v.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
    )
}

/// At most `MAX_LISTED` names, then `(+N more)`: the screen stays one screen.
fn names(v: &[String]) -> String {
    const MAX_LISTED: usize = 10;
    let mut s = v
        .iter()
        .take(MAX_LISTED)
        .cloned()
        .collect::<Vec<_>>()
        .join(",");
    if v.len() > MAX_LISTED {
        let _ = write!(s, " (+{} more)", v.len() - MAX_LISTED);
    }
    s
}

fn opt(v: Option<i64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

/// `kraftctl status`.
pub fn status(s: &ClusterStatus, format: Format) -> Rendered {
    if format == Format::Json {
        return Rendered::json(&json!(s), false);
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Cluster: {}  Health: {}",
        s.cluster_id,
        if s.healthy { "OK" } else { "DEGRADED" }
    );
    let _ = writeln!(out);
    let leader = if s.leader_id == 0 {
        "none".to_string()
    } else {
        s.leader_id.to_string()
    };
    let _ = writeln!(
        out,
        "Quorum: leader {leader}, epoch {}, high watermark {}",
        s.leader_epoch, s.high_watermark
    );
    let mut rows = vec![vec![
        "  NodeId".to_string(),
        "Role".into(),
        "Endpoint".into(),
        "LogEndOffset".into(),
        "Lag".into(),
        "CaughtUpMsAgo".into(),
    ]];
    for c in &s.controllers {
        rows.push(vec![
            format!("  {}", c.node_id),
            c.role.to_string(),
            c.endpoint.clone(),
            c.log_end_offset.to_string(),
            opt(c.lag),
            opt(c.caught_up_ms_ago),
        ]);
    }
    out.push_str(&table(&rows));
    let _ = writeln!(out);
    let b = &s.brokers;
    let _ = writeln!(
        out,
        "Brokers: {} registered, {} unfenced {}, {} fenced {}, {} shutting down {}",
        b.registered,
        b.unfenced.len(),
        ids(&b.unfenced),
        b.fenced.len(),
        ids(&b.fenced),
        b.shutting_down.len(),
        ids(&b.shutting_down)
    );
    let _ = writeln!(out);
    let p = &s.partitions;
    let _ = writeln!(out, "Partitions: {} in {} topics", p.partitions, p.topics);
    for (label, list) in [
        ("Offline:         ", &p.offline),
        ("UnderReplicated: ", &p.under_replicated),
        ("UnderMinIsr:     ", &p.under_min_isr),
    ] {
        if list.is_empty() {
            let _ = writeln!(out, "  {label}0");
        } else {
            let _ = writeln!(out, "  {label}{} {}", list.len(), names(list));
        }
    }
    Rendered {
        stdout: out,
        failed: false,
    }
}

#[cfg(test)]
mod tests {
    use kraft_proto::{
        BrokerDescription, DescribeConfigsResourceResult, DescribeConfigsResult, ItemError,
        PartitionDescription, QuorumReplicaState, TopicDescription,
    };

    use super::*;

    fn replica(id: u64, leo: i64, caught: i64) -> QuorumReplicaState {
        QuorumReplicaState {
            replica_id: id,
            endpoint: format!("127.0.0.1:90{id}"),
            log_end_offset: leo,
            last_fetch_timestamp: caught,
            last_caught_up_timestamp: caught,
        }
    }

    fn broker(id: i32, fenced: bool, shutting_down: bool) -> BrokerDescription {
        BrokerDescription {
            broker_id: id,
            fenced,
            in_controlled_shutdown: shutting_down,
            ..BrokerDescription::default()
        }
    }

    fn part(index: i32, leader: i32, replicas: &[i32], isr: &[i32]) -> PartitionDescription {
        PartitionDescription {
            partition_index: index,
            leader,
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
            ..PartitionDescription::default()
        }
    }

    fn topic(name: &str, partitions: Vec<PartitionDescription>) -> TopicDescription {
        TopicDescription {
            name: name.into(),
            partitions,
            ..TopicDescription::default()
        }
    }

    fn sample() -> ClusterStatus {
        let quorum = DescribeQuorumResponse {
            error: None,
            leader_id: 2,
            leader_epoch: 7,
            high_watermark: 120,
            current_voters: vec![
                replica(1, 118, 9_900),
                replica(2, 121, 10_000),
                replica(3, -1, -1),
            ],
            observers: vec![replica(4, 100, 9_000)],
        };
        let cluster = DescribeClusterResponse {
            cluster_id: "cid".into(),
            brokers: vec![
                broker(3, false, false),
                broker(1, false, false),
                broker(2, true, false),
                broker(4, false, true),
            ],
            ..DescribeClusterResponse::default()
        };
        let topics = DescribeTopicsResponse {
            topics: vec![
                // min.insync.replicas 2: p1 (ISR 1 of 3) is under min ISR; p2 is offline.
                topic(
                    "orders",
                    vec![
                        part(2, -1, &[2, 1, 3], &[2]),
                        part(0, 1, &[1, 2, 3], &[1, 2, 3]),
                        part(1, 3, &[3, 1, 2], &[3]),
                    ],
                ),
                // Default min.insync.replicas 1, full ISR: healthy.
                topic("audit", vec![part(0, 1, &[1, 3], &[1, 3])]),
                // min.insync.replicas 3 > RF 2: Kafka uses min(3, 2) = 2, so ISR [3] is under.
                topic("logs", vec![part(0, 3, &[3, 1], &[3])]),
                TopicDescription {
                    name: "gone".into(),
                    error: Some(ItemError {
                        error_code: 3,
                        error_name: "UNKNOWN_TOPIC_OR_PARTITION".into(),
                        error_message: "x".into(),
                    }),
                    ..TopicDescription::default()
                },
            ],
        };
        let min_isr = [("orders".to_string(), 2), ("logs".to_string(), 3)]
            .into_iter()
            .collect();
        cluster_status(&quorum, &cluster, &topics, &min_isr, 10_250)
    }

    #[test]
    fn status_counts_voters_brokers_and_partition_health() {
        let s = sample();
        assert_eq!(s.leader_id, 2);
        let roles: Vec<_> = s
            .controllers
            .iter()
            .map(|c| (c.node_id, c.role, c.lag, c.caught_up_ms_ago))
            .collect();
        assert_eq!(
            roles,
            vec![
                (1, "Follower", Some(3), Some(350)),
                (2, "Leader", Some(0), Some(250)),
                (3, "Follower", None, None),
                (4, "Observer", Some(21), Some(1250)),
            ]
        );
        assert_eq!(s.brokers.registered, 4);
        assert_eq!(s.brokers.unfenced, vec![1, 3]);
        assert_eq!(s.brokers.fenced, vec![2]);
        assert_eq!(s.brokers.shutting_down, vec![4]);
        assert_eq!(s.partitions.topics, 3, "the failed topic is left out");
        assert_eq!(s.partitions.partitions, 5);
        assert_eq!(s.partitions.offline, vec!["orders-2"]);
        assert_eq!(
            s.partitions.under_replicated,
            vec!["orders-1", "orders-2", "logs-0"]
        );
        assert_eq!(
            s.partitions.under_min_isr,
            vec!["orders-1", "orders-2", "logs-0"]
        );
        assert!(!s.healthy);
    }

    #[test]
    fn status_text_is_one_screen_and_json_has_every_figure() {
        let s = sample();
        let text = status(&s, Format::Text);
        assert!(!text.failed);
        let out = text.stdout;
        for want in [
            "Cluster: cid  Health: DEGRADED",
            "Quorum: leader 2, epoch 7, high watermark 120",
            "Brokers: 4 registered, 2 unfenced [1,3], 1 fenced [2], 1 shutting down [4]",
            "Partitions: 5 in 3 topics",
            "  Offline:         1 orders-2\n",
            "  UnderReplicated: 3 orders-1,orders-2,logs-0\n",
            "  UnderMinIsr:     3 orders-1,orders-2,logs-0\n",
        ] {
            assert!(out.contains(want), "{want:?} missing in\n{out}");
        }
        let voter3 = out
            .lines()
            .find(|l| l.trim_start().starts_with("3 "))
            .unwrap_or_else(|| panic!("no row for voter 3 in\n{out}"));
        assert!(
            voter3.contains("Follower") && voter3.ends_with('-'),
            "{voter3}"
        );
        assert!(out.lines().count() < 25, "one screen:\n{out}");

        let json: serde_json::Value =
            serde_json::from_str(&status(&s, Format::Json).stdout).expect("valid JSON");
        assert_eq!(json["leader_id"], 2);
        assert_eq!(json["healthy"], false);
        assert_eq!(json["controllers"][0]["lag"], 3);
        assert_eq!(json["controllers"][2]["lag"], serde_json::Value::Null);
        assert_eq!(json["brokers"]["fenced"], serde_json::json!([2]));
        assert_eq!(
            json["partitions"]["under_min_isr"],
            serde_json::json!(["orders-1", "orders-2", "logs-0"])
        );
    }

    #[test]
    fn a_healthy_cluster_says_ok_and_lists_nothing() {
        let quorum = DescribeQuorumResponse {
            leader_id: 1,
            current_voters: vec![replica(1, 5, 100)],
            ..DescribeQuorumResponse::default()
        };
        let cluster = DescribeClusterResponse {
            cluster_id: "c".into(),
            brokers: vec![broker(1, false, false)],
            ..DescribeClusterResponse::default()
        };
        let topics = DescribeTopicsResponse {
            topics: vec![topic("t", vec![part(0, 1, &[1], &[1])])],
        };
        let s = cluster_status(&quorum, &cluster, &topics, &BTreeMap::new(), 100);
        assert!(s.healthy);
        let out = status(&s, Format::Text).stdout;
        assert!(out.contains("Health: OK"), "{out}");
        assert!(out.contains("  Offline:         0\n"), "{out}");
        assert!(out.contains("  UnderMinIsr:     0\n"), "{out}");
        // No leader: degraded whatever the partitions say.
        let s = cluster_status(
            &DescribeQuorumResponse::default(),
            &cluster,
            &topics,
            &BTreeMap::new(),
            100,
        );
        assert!(!s.healthy);
        assert!(status(&s, Format::Text).stdout.contains("leader none"));
    }

    #[test]
    fn min_isr_comes_from_topic_results_only() {
        let result = |ty: ConfigResourceType, name: &str, v: Option<&str>| DescribeConfigsResult {
            resource_type: ty as i32,
            resource_name: name.into(),
            error: None,
            configs: vec![DescribeConfigsResourceResult {
                name: "min.insync.replicas".into(),
                value: v.map(str::to_string),
                ..DescribeConfigsResourceResult::default()
            }],
        };
        let resp = DescribeConfigsResponse {
            results: vec![
                result(ConfigResourceType::Topic, "a", Some("2")),
                result(ConfigResourceType::Topic, "b", None),
                result(ConfigResourceType::Topic, "c", Some("x")),
                result(ConfigResourceType::Broker, "", Some("3")),
            ],
        };
        let m = min_isr_by_topic(&resp);
        assert_eq!(m, [("a".to_string(), 2)].into_iter().collect());
    }
}
