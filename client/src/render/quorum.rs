//! `kraftctl quorum ...` and `kraftctl metadata dump`, shaped like kafka-metadata-quorum.sh and
//! kafka-metadata-shell.

use std::fmt::Write as _;

use kraft_proto::{DescribeQuorumResponse, DumpMetadataResponse, ItemError, QuorumReplicaState};
use serde_json::{Value, json};

use super::{Format, Rendered, error_json, error_lines_with, table};
use crate::item_failure;

fn replica_json(r: &QuorumReplicaState) -> Value {
    json!({
        "node_id": r.replica_id,
        "endpoint": r.endpoint,
        "log_end_offset": r.log_end_offset,
        "last_fetch_timestamp": r.last_fetch_timestamp,
        "last_caught_up_timestamp": r.last_caught_up_timestamp,
    })
}

/// Kafka's MaxFollowerLag: leader log end minus the laggiest voter's.
pub fn max_follower_lag(d: &DescribeQuorumResponse) -> i64 {
    let leo = d
        .current_voters
        .iter()
        .find(|r| r.replica_id == d.leader_id)
        .map(|r| r.log_end_offset)
        .unwrap_or(-1);
    d.current_voters
        .iter()
        .map(|r| leo - r.log_end_offset.max(0))
        .max()
        .unwrap_or(0)
        .max(0)
}

/// Kafka's MaxFollowerLagTimeMs: leader last-caught-up minus the laggiest voter's.
pub fn max_follower_lag_time_ms(d: &DescribeQuorumResponse) -> i64 {
    let leader = d
        .current_voters
        .iter()
        .find(|r| r.replica_id == d.leader_id)
        .map(|r| r.last_caught_up_timestamp)
        .unwrap_or(0);
    d.current_voters
        .iter()
        .filter(|r| r.replica_id != d.leader_id)
        .map(|r| {
            if r.last_caught_up_timestamp < 0 {
                leader
            } else {
                leader - r.last_caught_up_timestamp
            }
        })
        .max()
        .unwrap_or(0)
        .max(0)
}

/// `quorum describe --status` (default) or `--replication`.
pub fn describe_quorum(
    d: &DescribeQuorumResponse,
    cluster_id: &str,
    replication: bool,
    format: Format,
) -> Rendered {
    if let Some(e) = item_failure(d.error.as_ref()) {
        return failed("quorum", e, format);
    }
    if format == Format::Json {
        return Rendered::json(
            &json!({
                "cluster_id": cluster_id,
                "leader_id": d.leader_id,
                "leader_epoch": d.leader_epoch,
                "high_watermark": d.high_watermark,
                "max_follower_lag": max_follower_lag(d),
                "max_follower_lag_time_ms": max_follower_lag_time_ms(d),
                "current_voters": d.current_voters.iter().map(replica_json).collect::<Vec<_>>(),
                "current_observers": d.observers.iter().map(replica_json).collect::<Vec<_>>(),
            }),
            false,
        );
    }
    let mut out = String::new();
    if replication {
        let mut rows = vec![vec![
            "NodeId".to_string(),
            "LogEndOffset".into(),
            "Lag".into(),
            "LastFetchTimestamp".into(),
            "LastCaughtUpTimestamp".into(),
            "Status".into(),
        ]];
        let leo = d
            .current_voters
            .iter()
            .find(|r| r.replica_id == d.leader_id)
            .map(|r| r.log_end_offset)
            .unwrap_or(-1);
        let status = |r: &QuorumReplicaState, voter: bool| {
            if r.replica_id == d.leader_id {
                "Leader"
            } else if voter {
                "Follower"
            } else {
                "Observer"
            }
        };
        for (r, voter) in d
            .current_voters
            .iter()
            .map(|r| (r, true))
            .chain(d.observers.iter().map(|r| (r, false)))
        {
            rows.push(vec![
                r.replica_id.to_string(),
                r.log_end_offset.to_string(),
                (leo - r.log_end_offset).max(0).to_string(),
                r.last_fetch_timestamp.to_string(),
                r.last_caught_up_timestamp.to_string(),
                status(r, voter).to_string(),
            ]);
        }
        out.push_str(&table(&rows));
    } else {
        let ids = |v: &[QuorumReplicaState]| {
            format!(
                "[{}]",
                v.iter()
                    .map(|r| r.replica_id.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            )
        };
        let _ = writeln!(out, "ClusterId:              {cluster_id}");
        let _ = writeln!(out, "LeaderId:               {}", d.leader_id);
        let _ = writeln!(out, "LeaderEpoch:            {}", d.leader_epoch);
        let _ = writeln!(out, "HighWatermark:          {}", d.high_watermark);
        let _ = writeln!(out, "MaxFollowerLag:         {}", max_follower_lag(d));
        let _ = writeln!(
            out,
            "MaxFollowerLagTimeMs:   {}",
            max_follower_lag_time_ms(d)
        );
        let _ = writeln!(out, "CurrentVoters:          {}", ids(&d.current_voters));
        let _ = writeln!(out, "CurrentObservers:       {}", ids(&d.observers));
    }
    Rendered {
        stdout: out,
        failed: false,
    }
}

fn failed(command: &str, e: &ItemError, format: Format) -> Rendered {
    if format == Format::Json {
        return Rendered::json(&json!({ "error": error_json(Some(e)) }), true);
    }
    let mut out = String::new();
    error_lines_with(&mut out, command, "", e);
    Rendered {
        stdout: out,
        failed: true,
    }
}

/// Result of add-controller / remove-controller / transfer-leader.
pub fn quorum_change(what: &str, error: Option<&ItemError>, format: Format) -> Rendered {
    if let Some(e) = item_failure(error) {
        return failed("quorum", e, format);
    }
    if format == Format::Json {
        return Rendered::json(&json!({ "result": what, "error": Value::Null }), false);
    }
    Rendered {
        stdout: format!("{what}\n"),
        failed: false,
    }
}

/// `metadata dump`: the image JSON (already pretty) with its offset.
pub fn dump_metadata(d: &DumpMetadataResponse, format: Format) -> Rendered {
    let image: Value = serde_json::from_str(&d.image_json).unwrap_or(Value::Null);
    if format == Format::Json {
        return Rendered::json(&json!({ "offset": d.offset, "image": image }), false);
    }
    Rendered {
        stdout: format!("# metadata image at offset {}\n{image:#}\n", d.offset),
        failed: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(id: u64, leo: i64, caught: i64) -> QuorumReplicaState {
        QuorumReplicaState {
            replica_id: id,
            endpoint: format!("h:{id}"),
            log_end_offset: leo,
            last_fetch_timestamp: 100,
            last_caught_up_timestamp: caught,
        }
    }

    #[test]
    fn status_reports_kafka_lag_figures() {
        let d = DescribeQuorumResponse {
            error: None,
            leader_id: 1,
            leader_epoch: 3,
            high_watermark: 50,
            current_voters: vec![r(1, 52, 1000), r(2, 52, 990), r(3, 40, 700)],
            observers: vec![r(4, 10, -1)],
        };
        assert_eq!(max_follower_lag(&d), 12);
        assert_eq!(max_follower_lag_time_ms(&d), 300);
        let out = describe_quorum(&d, "abc", false, Format::Text).stdout;
        for want in [
            "ClusterId:              abc",
            "LeaderId:               1",
            "HighWatermark:          50",
            "MaxFollowerLag:         12",
            "CurrentVoters:          [1,2,3]",
            "CurrentObservers:       [4]",
        ] {
            assert!(out.contains(want), "{want:?} missing in\n{out}");
        }
        let rep = describe_quorum(&d, "abc", true, Format::Text).stdout;
        assert!(
            rep.contains("Leader") && rep.contains("Follower") && rep.contains("Observer"),
            "{rep}"
        );
    }
}
