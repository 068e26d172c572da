//! Parsers for `kraftctl`'s Kafka-syntax arguments, and the requests built from them (pure
//! functions, unit-tested here; `kraftctl` only wires them to clap).
//!
//! * [`parse_config_list`]: `kafka-configs.sh --add-config` lists, `k=v,k2=[a,b]`.
//! * [`parse_config_names`]: `--delete-config k,k2`.
//! * [`alter_config_ops`]: the four config flags to `AlterableConfig`s, one operation per key.
//! * [`parse_replicas`]: `--replicas 1,2,3`.
//! * [`parse_reassignment_json`]: `kafka-reassign-partitions.sh` JSON files.
//!
//! Errors are messages naming the rule broken; clap puts the flag in front of them.

use std::collections::{BTreeMap, BTreeSet};

use kraft_proto::{
    AlterPartitionReassignmentsRequest, AlterableConfig, ConfigOperation, ReassignablePartition,
    ReassignableTopic, ReplicaList,
};
use serde::Deserialize;

/// Splits `s` at the commas that are not inside `[...]`.
fn split_outside_brackets(s: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("unbalanced ']' in {s:?}"))?;
            }
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!("unbalanced '[' in {s:?}"));
    }
    parts.push(&s[start..]);
    Ok(parts)
}

/// Parses a `kafka-configs.sh --add-config` list: `key=value` entries separated by commas,
/// where a value in square brackets keeps its commas and loses the brackets
/// (`cleanup.policy=[compact,delete]` sets `compact,delete`). Keys and values are trimmed; a
/// value may be empty (`k=`) and may contain `=` (split at the first one). An entry without
/// `=`, an empty key, a key given twice or unbalanced brackets are errors.
pub fn parse_config_list(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for entry in split_outside_brackets(s)? {
        let Some((key, value)) = entry.split_once('=') else {
            return Err(format!(
                "entry {entry:?} has no '='; expected KEY=VALUE or KEY=[V1,V2] separated by commas"
            ));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(format!("entry {entry:?} has an empty config name"));
        }
        let value = value.trim();
        let value = match value.strip_prefix('[') {
            Some(rest) => rest.strip_suffix(']').ok_or_else(|| {
                format!("value {value:?} of {key} opens '[' but does not end with ']'")
            })?,
            None => value,
        };
        if value.contains(['[', ']']) {
            return Err(format!(
                "value {value:?} of {key} has brackets inside; only a whole value may be a [list]"
            ));
        }
        if out.iter().any(|(k, _)| k == key) {
            return Err(format!("config {key} is given twice"));
        }
        out.push((key.to_owned(), value.trim().to_owned()));
    }
    Ok(out)
}

/// Parses `--delete-config k,k2`: comma-separated config names, trimmed, none empty.
pub fn parse_config_names(s: &str) -> Result<Vec<String>, String> {
    s.split(',')
        .map(str::trim)
        .map(|k| {
            if k.is_empty() {
                Err(format!(
                    "{s:?} has an empty config name; expected KEY[,KEY]"
                ))
            } else {
                Ok(k.to_owned())
            }
        })
        .collect()
}

/// The config flags of `configs alter`, as parsed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigChanges {
    /// `--add-config` (SET).
    pub add: Vec<(String, String)>,
    /// `--delete-config` (DELETE).
    pub delete: Vec<String>,
    /// `--append-config` (APPEND to a list).
    pub append: Vec<(String, String)>,
    /// `--subtract-config` (SUBTRACT from a list).
    pub subtract: Vec<(String, String)>,
}

/// Turns [`ConfigChanges`] into `AlterableConfig`s in flag order (SET, DELETE, APPEND,
/// SUBTRACT). Errors when nothing is to be changed, or when a key appears under more than one
/// flag (or twice under one): Kafka refuses a key with two operations in one request.
pub fn alter_config_ops(changes: &ConfigChanges) -> Result<Vec<AlterableConfig>, String> {
    let mut ops: Vec<(&'static str, AlterableConfig)> = Vec::new();
    let with_value = |flag, op: ConfigOperation, kvs: &[(String, String)]| {
        kvs.iter()
            .map(|(k, v)| {
                (
                    flag,
                    AlterableConfig {
                        name: k.clone(),
                        config_operation: op as i32,
                        value: Some(v.clone()),
                    },
                )
            })
            .collect::<Vec<_>>()
    };
    ops.extend(with_value(
        "--add-config",
        ConfigOperation::Set,
        &changes.add,
    ));
    ops.extend(changes.delete.iter().map(|k| {
        (
            "--delete-config",
            AlterableConfig {
                name: k.clone(),
                config_operation: ConfigOperation::Delete as i32,
                value: None,
            },
        )
    }));
    ops.extend(with_value(
        "--append-config",
        ConfigOperation::Append,
        &changes.append,
    ));
    ops.extend(with_value(
        "--subtract-config",
        ConfigOperation::Subtract,
        &changes.subtract,
    ));
    if ops.is_empty() {
        return Err(
            "nothing to alter: give at least one of --add-config, --delete-config, \
             --append-config, --subtract-config"
                .to_owned(),
        );
    }
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for (flag, op) in &ops {
        if let Some(first) = seen.insert(&op.name, flag) {
            return Err(if first == *flag {
                format!("config {} is given twice to {flag}", op.name)
            } else {
                format!(
                    "config {} is given to both {first} and {flag}; a key may have one operation only",
                    op.name
                )
            });
        }
    }
    Ok(ops.into_iter().map(|(_, op)| op).collect())
}

/// Parses `--replicas 1,2,3`: broker ids (non-negative integers), at least one, none twice.
pub fn parse_replicas(s: &str) -> Result<Vec<i32>, String> {
    let ids = s
        .split(',')
        .map(|id| {
            id.trim()
                .parse::<i32>()
                .ok()
                .filter(|id| *id >= 0)
                .ok_or_else(|| {
                    format!("{id:?} is not a broker id (a non-negative integer); expected ID[,ID]")
                })
        })
        .collect::<Result<Vec<i32>, String>>()?;
    check_replicas(&ids).map_err(|e| format!("{s:?}: {e}"))?;
    Ok(ids)
}

fn check_replicas(ids: &[i32]) -> Result<(), String> {
    if ids.is_empty() {
        return Err("the replica list is empty".to_owned());
    }
    let mut seen = BTreeSet::new();
    if let Some(dup) = ids.iter().find(|id| !seen.insert(**id)) {
        return Err(format!("broker {dup} is listed twice"));
    }
    if let Some(neg) = ids.iter().find(|id| **id < 0) {
        return Err(format!("broker id {neg} is negative"));
    }
    Ok(())
}

/// One partition's target replicas, from flags or a reassignment JSON file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionReassignment {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// Target replicas, preferred leader first; empty when cancelling.
    pub replicas: Vec<i32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReassignmentFile {
    version: i64,
    partitions: Vec<ReassignmentEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReassignmentEntry {
    topic: String,
    partition: i32,
    replicas: Vec<i32>,
    #[serde(default)]
    log_dirs: Option<Vec<String>>,
}

/// Parses a `kafka-reassign-partitions.sh` plan:
/// `{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2,3]}]}`.
///
/// Rules (Kafka's): `version` is 1; every entry has a topic, a non-negative partition and a
/// non-empty replica list without duplicates; no partition appears twice; `log_dirs`, if
/// present, has one entry per replica, and (kraftd has no log dirs) every entry is `"any"`.
pub fn parse_reassignment_json(text: &str) -> Result<Vec<PartitionReassignment>, String> {
    let file: ReassignmentFile =
        serde_json::from_str(text).map_err(|e| format!("not a reassignment plan: {e}"))?;
    if file.version != 1 {
        return Err(format!(
            "unsupported \"version\" {}; only version 1 is supported",
            file.version
        ));
    }
    if file.partitions.is_empty() {
        return Err("\"partitions\" is empty".to_owned());
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(file.partitions.len());
    for e in file.partitions {
        let tp = format!("{}-{}", e.topic, e.partition);
        if e.topic.is_empty() {
            return Err(format!("partition {}: \"topic\" is empty", e.partition));
        }
        if e.partition < 0 {
            return Err(format!("{tp}: \"partition\" is negative"));
        }
        check_replicas(&e.replicas).map_err(|r| format!("{tp}: \"replicas\": {r}"))?;
        if let Some(dirs) = &e.log_dirs {
            if dirs.len() != e.replicas.len() {
                return Err(format!(
                    "{tp}: \"log_dirs\" has {} entries but \"replicas\" has {}",
                    dirs.len(),
                    e.replicas.len()
                ));
            }
            if let Some(d) = dirs.iter().find(|d| *d != "any") {
                return Err(format!(
                    "{tp}: \"log_dirs\" entry {d:?} is not supported; kraftd only accepts \"any\""
                ));
            }
        }
        if !seen.insert((e.topic.clone(), e.partition)) {
            return Err(format!("{tp} appears twice"));
        }
        out.push(PartitionReassignment {
            topic: e.topic,
            partition: e.partition,
            replicas: e.replicas,
        });
    }
    Ok(out)
}

/// Reads and parses a reassignment plan file (see [`parse_reassignment_json`]).
pub fn read_reassignment_file(path: &str) -> Result<Vec<PartitionReassignment>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path:?}: {e}"))?;
    parse_reassignment_json(&text).map_err(|e| format!("{path}: {e}"))
}

/// Pairs `--topic`, `--partition` and (unless cancelling, when `replicas` is `None`)
/// `--replicas` values in order. Errors when the counts differ or a partition is given twice.
pub fn pair_reassignments(
    topics: &[String],
    partitions: &[i32],
    replicas: Option<&[Vec<i32>]>,
) -> Result<Vec<PartitionReassignment>, String> {
    let counts_differ =
        topics.len() != partitions.len() || replicas.is_some_and(|r| r.len() != topics.len());
    if counts_differ {
        return Err(match replicas {
            Some(r) => format!(
                "--topic, --partition and --replicas pair up in order, one of each per partition; \
                 got {} --topic, {} --partition, {} --replicas",
                topics.len(),
                partitions.len(),
                r.len()
            ),
            None => format!(
                "--topic and --partition pair up in order, one of each per partition; \
                 got {} --topic, {} --partition",
                topics.len(),
                partitions.len()
            ),
        });
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(topics.len());
    for (i, (topic, &partition)) in topics.iter().zip(partitions).enumerate() {
        if !seen.insert((topic.as_str(), partition)) {
            return Err(format!(
                "partition {topic}-{partition} is given twice; each partition may appear once"
            ));
        }
        out.push(PartitionReassignment {
            topic: topic.clone(),
            partition,
            replicas: replicas.map(|r| r[i].clone()).unwrap_or_default(),
        });
    }
    Ok(out)
}

/// The `AlterPartitionReassignments` request for `plan`: topics in first-appearance order,
/// partitions in plan order; with `cancel`, every partition without replicas (cancel).
pub fn reassignment_request(
    plan: &[PartitionReassignment],
    cancel: bool,
) -> AlterPartitionReassignmentsRequest {
    let mut topics: Vec<ReassignableTopic> = Vec::new();
    for p in plan {
        let partition = ReassignablePartition {
            partition_index: p.partition,
            replicas: (!cancel).then(|| ReplicaList {
                broker_ids: p.replicas.clone(),
            }),
        };
        match topics.iter_mut().find(|t| t.name == p.topic) {
            Some(t) => t.partitions.push(partition),
            None => topics.push(ReassignableTopic {
                name: p.topic.clone(),
                partitions: vec![partition],
            }),
        }
    }
    AlterPartitionReassignmentsRequest { topics }
}

#[cfg(test)]
#[path = "args_test.rs"]
mod tests;
