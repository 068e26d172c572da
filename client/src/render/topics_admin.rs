//! `topics alter` (CreatePartitions) and `topics delete` (DeleteTopics).

use std::fmt::Write as _;

use kraft_proto::{CreatePartitionsRequest, CreatePartitionsResponse, DeleteTopicsResponse};
use serde_json::{Value, json};

use super::{Format, Rendered, error_json, error_lines};
use crate::item_failure;

// ---- topics alter ----

/// The requested new partition count of `name`, if the request names it.
fn requested_count(req: &CreatePartitionsRequest, name: &str) -> Option<i32> {
    req.topics.iter().find(|t| t.name == name).map(|t| t.count)
}

/// Renders a `CreatePartitions` reply to `req`: `Increased the partition count of topic t to
/// 6.` per topic (`Topic t can be increased to 6 partitions (validate only, not altered).`
/// with `validate_only`), the `kafka-topics.sh` error lines per failed topic.
pub fn create_partitions(
    req: &CreatePartitionsRequest,
    resp: &CreatePartitionsResponse,
    format: Format,
) -> Rendered {
    let failed = resp
        .results
        .iter()
        .any(|t| item_failure(t.error.as_ref()).is_some());
    match format {
        Format::Json => Rendered::json(&create_partitions_json(req, resp), failed),
        Format::Text => {
            let mut out = String::new();
            for t in &resp.results {
                let count =
                    requested_count(req, &t.name).map_or_else(|| "?".to_owned(), |c| c.to_string());
                match item_failure(t.error.as_ref()) {
                    Some(e) => error_lines(&mut out, e),
                    None if req.validate_only => {
                        let _ = writeln!(
                            out,
                            "Topic {} can be increased to {count} partitions (validate only, not altered).",
                            t.name
                        );
                    }
                    None => {
                        let _ = writeln!(
                            out,
                            "Increased the partition count of topic {} to {count}.",
                            t.name
                        );
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

/// `{validate_only, topics: [{name, partition_count, error}]}`; `partition_count` is the
/// requested total (`null` for a topic the request does not name).
pub fn create_partitions_json(
    req: &CreatePartitionsRequest,
    resp: &CreatePartitionsResponse,
) -> Value {
    let topics: Vec<Value> = resp
        .results
        .iter()
        .map(|t| {
            json!({
                "name": t.name,
                "partition_count": requested_count(req, &t.name),
                "error": error_json(t.error.as_ref()),
            })
        })
        .collect();
    json!({ "validate_only": req.validate_only, "topics": topics })
}

// ---- topics delete ----

/// Renders a `DeleteTopics` reply: `Deleted topic t.` per deleted topic (`Deleted topic with
/// id X.` when the reply carries no name), the `kafka-topics.sh` error lines per failure.
pub fn delete_topics(resp: &DeleteTopicsResponse, format: Format) -> Rendered {
    let failed = resp
        .responses
        .iter()
        .any(|t| item_failure(t.error.as_ref()).is_some());
    match format {
        Format::Json => Rendered::json(&delete_topics_json(resp), failed),
        Format::Text => {
            let mut out = String::new();
            for t in &resp.responses {
                match item_failure(t.error.as_ref()) {
                    Some(e) => error_lines(&mut out, e),
                    None if t.name.is_empty() => {
                        let _ = writeln!(out, "Deleted topic with id {}.", t.topic_id);
                    }
                    None => {
                        let _ = writeln!(out, "Deleted topic {}.", t.name);
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

/// `{topics: [{name, topic_id, error}]}`, in reply order.
pub fn delete_topics_json(resp: &DeleteTopicsResponse) -> Value {
    let topics: Vec<Value> = resp
        .responses
        .iter()
        .map(|t| {
            json!({
                "name": t.name,
                "topic_id": t.topic_id,
                "error": error_json(t.error.as_ref()),
            })
        })
        .collect();
    json!({ "topics": topics })
}
