//! `leaders elect` (ElectLeaders, shaped like `kafka-leader-election.sh`) and `reassignments
//! add|cancel|list` (AlterPartitionReassignments / ListPartitionReassignments, shaped like
//! `kafka-reassign-partitions.sh`).

use std::fmt::Write as _;

use kraft_proto::{
    AlterPartitionReassignmentsResponse, ElectLeadersResponse, ElectionType, ItemError,
    ListPartitionReassignmentsResponse, OngoingPartitionReassignment,
};
use serde_json::{Value, json};

use super::{
    Format, Rendered, error_json, error_lines_with, error_message, join_ids, topic_partition,
};
use crate::item_failure;

/// Kafka's `ELECTION_NOT_NEEDED`: the partition already has the leader the election would
/// pick. `leaders elect` reports it as a no-op, not as a failure (as Kafka's tool does).
pub const ELECTION_NOT_NEEDED: i32 = 84;

// ---- leaders elect ----

/// The outcome of one partition's election.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Elected,
    NotNeeded,
    Failed,
}

impl Outcome {
    fn of(error: Option<&ItemError>) -> Self {
        match item_failure(error) {
            None => Outcome::Elected,
            Some(e) if e.error_code == ELECTION_NOT_NEEDED => Outcome::NotNeeded,
            Some(_) => Outcome::Failed,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Outcome::Elected => "elected",
            Outcome::NotNeeded => "not_needed",
            Outcome::Failed => "failed",
        }
    }
}

fn election_name(election_type: i32) -> String {
    ElectionType::try_from(election_type).map_or_else(
        |_| election_type.to_string(),
        |t| t.as_str_name().to_owned(),
    )
}

/// `(topic, partition, error)` of every partition result, in reply order.
fn election_results(
    resp: &ElectLeadersResponse,
) -> impl Iterator<Item = (&str, i32, Option<&ItemError>)> {
    resp.replica_election_results.iter().flat_map(|t| {
        t.partition_results
            .iter()
            .map(|p| (t.topic.as_str(), p.partition_id, p.error.as_ref()))
    })
}

/// Renders an `ElectLeaders` reply like `kafka-leader-election.sh`:
///
/// ```text
/// Successfully completed leader election (PREFERRED) for partitions t-0, t-1
/// Election not needed for partitions t-2
/// Error completing leader election (PREFERRED) for partition: t-3: PREFERRED_LEADER_NOT_AVAILABLE (80): ...
/// Error while executing leader election command : 1 replica(s) could not be elected
/// ```
///
/// `ELECTION_NOT_NEEDED` is not a failure; any other error is, and fails the command.
pub fn elect_leaders(election_type: i32, resp: &ElectLeadersResponse, format: Format) -> Rendered {
    let failures = election_results(resp)
        .filter(|(_, _, e)| Outcome::of(*e) == Outcome::Failed)
        .count();
    let failed = failures > 0;
    match format {
        Format::Json => Rendered::json(&elect_leaders_json(election_type, resp), failed),
        Format::Text => {
            let kind = election_name(election_type);
            let mut out = String::new();
            let with = |outcome: Outcome| -> Vec<String> {
                election_results(resp)
                    .filter(|(_, _, e)| Outcome::of(*e) == outcome)
                    .map(|(t, p, _)| topic_partition(t, p))
                    .collect()
            };
            let elected = with(Outcome::Elected);
            let not_needed = with(Outcome::NotNeeded);
            if !elected.is_empty() {
                let _ = writeln!(
                    out,
                    "Successfully completed leader election ({kind}) for partitions {}",
                    elected.join(", ")
                );
            }
            if !not_needed.is_empty() {
                let _ = writeln!(
                    out,
                    "Election not needed for partitions {}",
                    not_needed.join(", ")
                );
            }
            for (t, p, e) in election_results(resp) {
                if let (Outcome::Failed, Some(e)) = (Outcome::of(e), e) {
                    let _ = writeln!(
                        out,
                        "Error completing leader election ({kind}) for partition: {}: {} ({}): {}",
                        topic_partition(t, p),
                        e.error_name,
                        e.error_code,
                        error_message(e)
                    );
                }
            }
            if failed {
                let _ = writeln!(
                    out,
                    "Error while executing leader election command : {failures} replica(s) could not be elected"
                );
            }
            if out.is_empty() {
                let _ = writeln!(out, "Election not needed for any partition.");
            }
            Rendered {
                stdout: out,
                failed,
            }
        }
    }
}

/// `{election_type, partitions: [{topic, partition, outcome: elected|not_needed|failed,
/// error}]}`, in reply order; `error` is the server's (also for `not_needed`).
pub fn elect_leaders_json(election_type: i32, resp: &ElectLeadersResponse) -> Value {
    let partitions: Vec<Value> = election_results(resp)
        .map(|(t, p, e)| {
            json!({
                "topic": t,
                "partition": p,
                "outcome": Outcome::of(e).name(),
                "error": error_json(e),
            })
        })
        .collect();
    json!({ "election_type": election_name(election_type), "partitions": partitions })
}

// ---- reassignments add / cancel ----

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Renders an `AlterPartitionReassignments` reply: `Successfully started partition
/// reassignments for t-0,t-1` (`Successfully cancelled ...` with `cancel`), then the Kafka
/// error lines (`Error while executing reassignment command : t-2: <message>`) per failed
/// partition.
pub fn alter_reassignments(
    resp: &AlterPartitionReassignmentsResponse,
    cancel: bool,
    format: Format,
) -> Rendered {
    let results: Vec<(&str, i32, Option<&ItemError>)> = resp
        .responses
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.as_str(), p.partition_index, p.error.as_ref()))
        })
        .collect();
    let failed = results.iter().any(|(_, _, e)| item_failure(*e).is_some());
    match format {
        Format::Json => Rendered::json(&alter_reassignments_json(resp, cancel), failed),
        Format::Text => {
            let mut out = String::new();
            let ok: Vec<String> = results
                .iter()
                .filter(|(_, _, e)| item_failure(*e).is_none())
                .map(|(t, p, _)| topic_partition(t, *p))
                .collect();
            if !ok.is_empty() {
                let _ = writeln!(
                    out,
                    "Successfully {} partition reassignment{} for {}",
                    if cancel { "cancelled" } else { "started" },
                    plural(ok.len()),
                    ok.join(",")
                );
            }
            for (t, p, e) in &results {
                if let Some(e) = item_failure(*e) {
                    let subject = format!("{}: ", topic_partition(t, *p));
                    error_lines_with(&mut out, "reassignment", &subject, e);
                }
            }
            Rendered {
                stdout: out,
                failed,
            }
        }
    }
}

/// `{cancel, partitions: [{topic, partition, error}]}`, in reply order.
pub fn alter_reassignments_json(resp: &AlterPartitionReassignmentsResponse, cancel: bool) -> Value {
    let partitions: Vec<Value> = resp
        .responses
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                json!({
                    "topic": t.name,
                    "partition": p.partition_index,
                    "error": error_json(p.error.as_ref()),
                })
            })
        })
        .collect();
    json!({ "cancel": cancel, "partitions": partitions })
}

// ---- reassignments list ----

/// Every ongoing reassignment, sorted by topic and partition.
fn ongoing(
    resp: &ListPartitionReassignmentsResponse,
) -> Vec<(&str, &OngoingPartitionReassignment)> {
    let mut all: Vec<_> = resp
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.name.as_str(), p)))
        .collect();
    all.sort_by(|a, b| (a.0, a.1.partition_index).cmp(&(b.0, b.1.partition_index)));
    all
}

/// Renders a `ListPartitionReassignments` reply like `kafka-reassign-partitions.sh --list`:
/// `Current partition reassignments:` then `t-0: replicas: 1,2,3. adding: 3. removing: 1.` per
/// partition, or `No partition reassignments found.`
pub fn list_reassignments(resp: &ListPartitionReassignmentsResponse, format: Format) -> Rendered {
    match format {
        Format::Json => Rendered::json(&list_reassignments_json(resp), false),
        Format::Text => {
            let all = ongoing(resp);
            let mut out = String::new();
            if all.is_empty() {
                let _ = writeln!(out, "No partition reassignments found.");
            } else {
                let _ = writeln!(out, "Current partition reassignments:");
                for (t, p) in all {
                    let _ = writeln!(
                        out,
                        "{}: replicas: {}. adding: {}. removing: {}.",
                        topic_partition(t, p.partition_index),
                        join_ids(&p.replicas),
                        join_ids(&p.adding_replicas),
                        join_ids(&p.removing_replicas)
                    );
                }
            }
            Rendered {
                stdout: out,
                failed: false,
            }
        }
    }
}

/// `{reassignments: [{topic, partition, replicas, adding_replicas, removing_replicas}]}`,
/// sorted by topic and partition.
pub fn list_reassignments_json(resp: &ListPartitionReassignmentsResponse) -> Value {
    let all: Vec<Value> = ongoing(resp)
        .into_iter()
        .map(|(t, p)| {
            json!({
                "topic": t,
                "partition": p.partition_index,
                "replicas": p.replicas,
                "adding_replicas": p.adding_replicas,
                "removing_replicas": p.removing_replicas,
            })
        })
        .collect();
    json!({ "reassignments": all })
}
