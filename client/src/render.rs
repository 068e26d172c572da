//! Text and JSON renderings of replies, for `kraftctl` (pure functions: no I/O, so they are
//! unit-tested on hand-built replies).
//!
//! Text follows the Kafka tools: `kafka-topics.sh` (`Created topic t.`, `Error while executing
//! topic command : <message>`, the tab-separated `--describe` layout), and in the submodules
//! `kafka-configs.sh`, `kafka-leader-election.sh`, `kafka-reassign-partitions.sh`,
//! `kafka-cluster.sh` and `kafka-features.sh`. Every failed item prints the tool's `Error while
//! executing <tool> command : <message>` line (leader election: one line per partition) and
//! its error name and code. JSON is one pretty document per command; item errors are
//! `{code, name, message}` objects, or `null` on success.
//!
//! Submodules, re-exported here: `topics_admin` (topics alter/delete), `configs`,
//! `partitions` (leader election, reassignments), `brokers` (brokers list/unregister,
//! features), `quorum`, `status` (`kraftctl status`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use kraft_proto::{
    BrokerDescription, CreateTopicsResponse, DescribeClusterResponse, DescribeTopicsResponse,
    ItemError, ListTopicsResponse, Listener, PartitionDescription, TopicDescription,
};
use serde_json::{Value, json};

use crate::item_failure;
use crate::simulate::RegisteredBroker;

mod brokers;
mod configs;
mod partitions;
mod quorum;
mod status;
mod topics_admin;

pub use brokers::{
    describe_features, describe_features_json, list_brokers, list_brokers_json, unregister_broker,
    unregister_broker_json, update_features, update_features_json,
};
pub use configs::{
    alter_configs, alter_configs_json, describe_configs, describe_configs_json, resource_text,
};
pub use partitions::{
    ELECTION_NOT_NEEDED, alter_reassignments, alter_reassignments_json, elect_leaders,
    elect_leaders_json, list_reassignments, list_reassignments_json,
};
pub use quorum::{
    describe_quorum, dump_metadata, max_follower_lag, max_follower_lag_time_ms, quorum_change,
};
pub use status::{
    BrokerCounts, ClusterStatus, PartitionHealth, ReplicaStatus, cluster_status, min_isr_by_topic,
    status,
};
pub use topics_admin::{
    create_partitions, create_partitions_json, delete_topics, delete_topics_json,
};

/// Output format of `kraftctl --output`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// Human-readable, Kafka-shaped text.
    #[default]
    Text,
    /// One pretty-printed JSON document.
    Json,
}

/// A rendered command result: what to print on stdout, and whether the command failed (some
/// item carries a non-zero error code), in which case `kraftctl` exits with code 1.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rendered {
    /// The text to print, ending in a newline unless empty.
    pub stdout: String,
    /// True when at least one item failed.
    pub failed: bool,
}

impl Rendered {
    fn json(value: &Value, failed: bool) -> Self {
        // `{:#}` is serde_json's infallible pretty printer.
        Self {
            stdout: format!("{value:#}\n"),
            failed,
        }
    }
}

/// `{code, name, message}` for a failed item; `null` when `error` is absent or code 0 (NONE).
pub fn error_json(error: Option<&ItemError>) -> Value {
    match item_failure(error) {
        Some(e) => {
            json!({ "code": e.error_code, "name": e.error_name, "message": e.error_message })
        }
        None => Value::Null,
    }
}

/// The Kafka tool's error line and, on the next line, the error name and code.
fn error_lines(out: &mut String, e: &ItemError) {
    error_lines_with(out, "topic", "", e);
}

/// [`error_lines`] for another tool (`command`: `topic`, `config`, `broker`, ...), with
/// `subject` (e.g. `"t-0: "`) put in front of the message on the first line.
fn error_lines_with(out: &mut String, command: &str, subject: &str, e: &ItemError) {
    let message = error_message(e);
    let _ = writeln!(
        out,
        "Error while executing {command} command : {subject}{message}"
    );
    let _ = writeln!(out, "ERROR {} ({}): {message}", e.error_name, e.error_code);
}

/// The server's message, or the error name when the message is empty.
fn error_message(e: &ItemError) -> &str {
    if e.error_message.is_empty() {
        &e.error_name
    } else {
        &e.error_message
    }
}

/// `topic-partition`, as Kafka's tools print a `TopicPartition`.
fn topic_partition(topic: &str, partition: i32) -> String {
    format!("{topic}-{partition}")
}

// ---- topics create ----

/// Renders a `CreateTopics` reply: `Created topic t.` per created topic (or `Topic t is
/// valid.` with `validate_only`), the Kafka error lines per failed topic.
pub fn create_topics(resp: &CreateTopicsResponse, validate_only: bool, format: Format) -> Rendered {
    let failed = resp
        .topics
        .iter()
        .any(|t| item_failure(t.error.as_ref()).is_some());
    match format {
        Format::Json => Rendered::json(&create_topics_json(resp, validate_only), failed),
        Format::Text => {
            let mut out = String::new();
            for t in &resp.topics {
                match item_failure(t.error.as_ref()) {
                    Some(e) => error_lines(&mut out, e),
                    None if validate_only => {
                        let _ = writeln!(
                            out,
                            "Topic {} is valid: {} partitions, replication factor {} (validate only, not created).",
                            t.name, t.num_partitions, t.replication_factor
                        );
                    }
                    None => {
                        let _ = writeln!(out, "Created topic {}.", t.name);
                    }
                }
            }
            Rendered {
                stdout: out,
                failed,
            }
        }
    }
}

/// `{validate_only, topics: [{name, topic_id, num_partitions, replication_factor, error}]}`.
pub fn create_topics_json(resp: &CreateTopicsResponse, validate_only: bool) -> Value {
    let topics: Vec<Value> = resp
        .topics
        .iter()
        .map(|t| {
            json!({
                "name": t.name,
                "topic_id": t.topic_id,
                "num_partitions": t.num_partitions,
                "replication_factor": t.replication_factor,
                "error": error_json(t.error.as_ref()),
            })
        })
        .collect();
    json!({ "validate_only": validate_only, "topics": topics })
}

// ---- topics list ----

/// Renders a `ListTopics` reply: one name per line, or a JSON array.
pub fn list_topics(resp: &ListTopicsResponse, format: Format) -> Rendered {
    match format {
        Format::Json => Rendered::json(&list_topics_json(resp), false),
        Format::Text => Rendered {
            stdout: resp
                .topics
                .iter()
                .map(|t| format!("{}\n", t.name))
                .collect(),
            failed: false,
        },
    }
}

/// `[{name, topic_id, partition_count}]`, in reply order (sorted by name by the server).
pub fn list_topics_json(resp: &ListTopicsResponse) -> Value {
    Value::Array(
        resp.topics
            .iter()
            .map(|t| json!({ "name": t.name, "topic_id": t.topic_id, "partition_count": t.partition_count }))
            .collect(),
    )
}

// ---- topics describe ----

/// Renders a `DescribeTopics` reply like `kafka-topics.sh --describe`; a topic with an error
/// (e.g. unknown) renders as the Kafka error lines and marks the result failed.
pub fn describe_topics(resp: &DescribeTopicsResponse, format: Format) -> Rendered {
    let failed = resp
        .topics
        .iter()
        .any(|t| item_failure(t.error.as_ref()).is_some());
    match format {
        Format::Json => Rendered::json(&describe_topics_json(resp), failed),
        Format::Text => {
            let mut out = String::new();
            for t in &resp.topics {
                match item_failure(t.error.as_ref()) {
                    Some(e) => error_lines(&mut out, e),
                    None => describe_topic_text(&mut out, t),
                }
            }
            Rendered {
                stdout: out,
                failed,
            }
        }
    }
}

fn sorted_partitions(t: &TopicDescription) -> Vec<&PartitionDescription> {
    let mut parts: Vec<&PartitionDescription> = t.partitions.iter().collect();
    parts.sort_by_key(|p| p.partition_index);
    parts
}

/// Replicas of partition 0 (the lowest index), as Kafka's tool reports it.
fn replication_factor(t: &TopicDescription) -> usize {
    sorted_partitions(t).first().map_or(0, |p| p.replicas.len())
}

/// Configs by name; a null value stays `None`.
fn configs(t: &TopicDescription) -> BTreeMap<&str, Option<&str>> {
    t.configs
        .iter()
        .map(|c| (c.name.as_str(), c.value.as_deref()))
        .collect()
}

fn join_ids(ids: &[i32]) -> String {
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

fn describe_topic_text(out: &mut String, t: &TopicDescription) {
    let configs = configs(t)
        .into_iter()
        .map(|(k, v)| format!("{k}={}", v.unwrap_or("null")))
        .collect::<Vec<_>>()
        .join(",");
    let _ = writeln!(
        out,
        "Topic: {}\tTopicId: {}\tPartitionCount: {}\tReplicationFactor: {}\tConfigs: {configs}",
        t.name,
        t.topic_id,
        t.partitions.len(),
        replication_factor(t),
    );
    for p in sorted_partitions(t) {
        let leader = if p.leader < 0 {
            "none".to_owned()
        } else {
            p.leader.to_string()
        };
        let _ = writeln!(
            out,
            "\tTopic: {}\tPartition: {}\tLeader: {leader}\tReplicas: {}\tIsr: {}",
            t.name,
            p.partition_index,
            join_ids(&p.replicas),
            join_ids(&p.isr),
        );
    }
}

/// `{topics: [{name, topic_id, partition_count, replication_factor, configs: {k: v|null},
/// partitions: [{partition, leader|null, replicas, isr, leader_epoch, partition_epoch}],
/// error}]}`.
pub fn describe_topics_json(resp: &DescribeTopicsResponse) -> Value {
    let topics: Vec<Value> = resp
        .topics
        .iter()
        .map(|t| {
            let partitions: Vec<Value> = sorted_partitions(t)
                .into_iter()
                .map(|p| {
                    json!({
                        "partition": p.partition_index,
                        "leader": (p.leader >= 0).then_some(p.leader),
                        "replicas": p.replicas,
                        "isr": p.isr,
                        "leader_epoch": p.leader_epoch,
                        "partition_epoch": p.partition_epoch,
                    })
                })
                .collect();
            json!({
                "name": t.name,
                "topic_id": t.topic_id,
                "partition_count": t.partitions.len(),
                "replication_factor": replication_factor(t),
                "configs": configs(t),
                "partitions": partitions,
                "error": error_json(t.error.as_ref()),
            })
        })
        .collect();
    json!({ "topics": topics })
}

// ---- cluster describe ----

fn listener_text(l: &Listener) -> String {
    format!("{}://{}:{}", l.name, l.host, l.port)
}

/// Pads every column but the last to its widest cell plus two spaces.
fn table(rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            match widths.get_mut(i) {
                Some(w) => *w = (*w).max(cell.chars().count()),
                None => widths.push(cell.chars().count()),
            }
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let width = widths.get(i).copied().unwrap_or(0) + 2;
                let _ = write!(line, "{cell:<width$}");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Renders a `DescribeCluster` reply: `ClusterId:`, `ActiveController:`, `Voters:`,
/// `MetadataOffset:` lines, then a broker table (BrokerId, Epoch, Fenced, Rack, Listeners).
pub fn describe_cluster(resp: &DescribeClusterResponse, format: Format) -> Rendered {
    match format {
        Format::Json => Rendered::json(&describe_cluster_json(resp), false),
        Format::Text => Rendered {
            stdout: describe_cluster_text(resp),
            failed: false,
        },
    }
}

fn describe_cluster_text(resp: &DescribeClusterResponse) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "ClusterId: {}", resp.cluster_id);
    if resp.active_controller_id == 0 {
        let _ = writeln!(out, "ActiveController: none");
    } else {
        let _ = writeln!(
            out,
            "ActiveController: {} ({})",
            resp.active_controller_id, resp.active_controller_endpoint
        );
    }
    let voters: Vec<String> = resp
        .voters
        .iter()
        .map(|v| format!("{}@{}", v.node_id, v.endpoint))
        .collect();
    let _ = writeln!(out, "Voters: {}", voters.join(","));
    let _ = writeln!(
        out,
        "MetadataOffset: {} (answered by node {})",
        resp.metadata_offset, resp.answered_by
    );
    let mut brokers: Vec<&BrokerDescription> = resp.brokers.iter().collect();
    brokers.sort_by_key(|b| b.broker_id);
    let mut rows = vec![
        ["BrokerId", "Epoch", "Fenced", "Rack", "Listeners"]
            .map(str::to_owned)
            .to_vec(),
    ];
    for b in brokers {
        rows.push(vec![
            b.broker_id.to_string(),
            b.broker_epoch.to_string(),
            b.fenced.to_string(),
            b.rack.clone().unwrap_or_else(|| "-".to_owned()),
            b.listeners
                .iter()
                .map(listener_text)
                .collect::<Vec<_>>()
                .join(","),
        ]);
    }
    out.push_str(&table(&rows));
    out
}

fn listener_json(l: &Listener) -> Value {
    json!({ "name": l.name, "host": l.host, "port": l.port, "security_protocol": l.security_protocol })
}

fn broker_json(b: &BrokerDescription) -> Value {
    json!({
        "broker_id": b.broker_id,
        "broker_epoch": b.broker_epoch,
        "incarnation_id": b.incarnation_id,
        "listeners": b.listeners.iter().map(listener_json).collect::<Vec<_>>(),
        "rack": b.rack,
        "fenced": b.fenced,
        "in_controlled_shutdown": b.in_controlled_shutdown,
    })
}

/// The whole `DescribeCluster` reply; `active_controller` is `null` when none is known.
pub fn describe_cluster_json(resp: &DescribeClusterResponse) -> Value {
    let active = (resp.active_controller_id != 0).then(|| {
        json!({ "node_id": resp.active_controller_id, "endpoint": resp.active_controller_endpoint })
    });
    let voters: Vec<Value> = resp
        .voters
        .iter()
        .map(|v| json!({ "node_id": v.node_id, "endpoint": v.endpoint }))
        .collect();
    let brokers: Vec<Value> = resp.brokers.iter().map(broker_json).collect();
    json!({
        "cluster_id": resp.cluster_id,
        "active_controller": active,
        "voters": voters,
        "brokers": brokers,
        "metadata_offset": resp.metadata_offset,
        "answered_by": resp.answered_by,
    })
}

// ---- brokers simulate ----

/// `Registered broker 1 with epoch 7 (rack rack-1).`
pub fn registered_broker_text(b: &RegisteredBroker) -> String {
    match &b.rack {
        Some(rack) => format!(
            "Registered broker {} with epoch {} (rack {rack}).",
            b.broker_id, b.broker_epoch
        ),
        None => format!(
            "Registered broker {} with epoch {}.",
            b.broker_id, b.broker_epoch
        ),
    }
}

/// `{cluster_id, unfenced, brokers: [{broker_id, broker_epoch, incarnation_id, rack,
/// listeners}]}`.
pub fn simulated_brokers_json(
    cluster_id: &str,
    brokers: &[RegisteredBroker],
    unfenced: bool,
) -> Value {
    let brokers: Vec<Value> = brokers
        .iter()
        .map(|b| {
            json!({
                "broker_id": b.broker_id,
                "broker_epoch": b.broker_epoch,
                "incarnation_id": b.incarnation_id.to_string(),
                "rack": b.rack,
                "listeners": [listener_json(&b.listener)],
            })
        })
        .collect();
    json!({ "cluster_id": cluster_id, "unfenced": unfenced, "brokers": brokers })
}

#[cfg(test)]
#[path = "render_test.rs"]
mod tests;

#[cfg(test)]
#[path = "render/admin_test.rs"]
mod admin_tests;
