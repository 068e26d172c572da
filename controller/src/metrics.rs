//! Prometheus `/metrics` on its own port (`metrics_listen`): plain HTTP/1.1, text exposition
//! format 0.0.4, hand-formatted. Every scrape reads the Raft status and the applied image
//! afresh; the only state kept here is the per-RPC counters.
//!
//! ```text
//!   GET /metrics ──► render(ctl)
//!                      ├─ ctl.node().status()      term, leader, commit/applied/log/snapshot,
//!                      │                           per-follower matched index and lag (leader)
//!                      ├─ ctl.read_local(image)    brokers, fenced, topics, partitions,
//!                      │                           offline, under-replicated
//!                      └─ RPCS                     kraftd_rpc_requests_total{rpc,code},
//!                                                  kraftd_rpc_duration_seconds{rpc} histogram
//! ```
//!
//! Names carry a `kraftd_` prefix; the HELP text names the KRaft / Kafka metric it matches
//! (`ActiveControllerCount`, `GlobalTopicCount`, `OfflinePartitionsCount`, ...).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use kraft_quorum::QuorumStatus;
use tokio::net::TcpListener;
use tracing::{debug, info, warn};

use crate::ids::BrokerId;
use crate::image::MetadataImage;
use crate::service::Controller;

/// The exposition format's content type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds (seconds) of the RPC latency histogram's buckets.
const BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Per-RPC counters and latency histogram.
#[derive(Default)]
struct RpcStats {
    /// Requests by gRPC code label.
    by_code: BTreeMap<&'static str, u64>,
    /// Per-bucket counts (index i: BUCKETS[i-1] < duration <= BUCKETS[i]); summed on render.
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum_seconds: f64,
}

/// Process-wide RPC statistics, by RPC name. One controller runs per `kraftd` process in node
/// mode (the only mode that serves `/metrics`).
static RPCS: Mutex<BTreeMap<&'static str, RpcStats>> = Mutex::new(BTreeMap::new());

/// The RPC name of a request message type: `kraft_proto::...::CreateTopicsRequest` →
/// `CreateTopics`.
pub fn rpc_name<Req>() -> &'static str {
    let full = std::any::type_name::<Req>();
    let last = full.rsplit("::").next().unwrap_or(full);
    last.strip_suffix("Request").unwrap_or(last)
}

/// The `code` label of a gRPC status code (`OK`, `Unavailable`, `InvalidArgument`, ...).
fn code_label(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "Canceled",
        Unknown => "Unknown",
        InvalidArgument => "InvalidArgument",
        DeadlineExceeded => "DeadlineExceeded",
        NotFound => "NotFound",
        AlreadyExists => "AlreadyExists",
        PermissionDenied => "PermissionDenied",
        ResourceExhausted => "ResourceExhausted",
        FailedPrecondition => "FailedPrecondition",
        Aborted => "Aborted",
        OutOfRange => "OutOfRange",
        Unimplemented => "Unimplemented",
        Internal => "Internal",
        Unavailable => "Unavailable",
        DataLoss => "DataLoss",
        Unauthenticated => "Unauthenticated",
    }
}

/// Counts one finished RPC (called by `Controller::write_rpc` / `read_rpc`).
pub fn record_rpc<T>(rpc: &'static str, result: &Result<T, tonic::Status>, took: Duration) {
    let code = match result {
        Ok(_) => tonic::Code::Ok,
        Err(s) => s.code(),
    };
    let secs = took.as_secs_f64();
    let mut rpcs = RPCS.lock().unwrap_or_else(|p| p.into_inner());
    let s = rpcs.entry(rpc).or_default();
    *s.by_code.entry(code_label(code)).or_default() += 1;
    if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
        s.buckets[i] += 1;
    }
    s.count += 1;
    s.sum_seconds += secs;
}

/// Metadata image gauges.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImageGauges {
    /// Registered brokers.
    pub brokers: u64,
    /// Fenced brokers.
    pub fenced_brokers: u64,
    /// Unfenced brokers not in controlled shutdown.
    pub active_brokers: u64,
    /// Topics.
    pub topics: u64,
    /// Partitions over all topics.
    pub partitions: u64,
    /// Partitions without a leader (leader -1).
    pub offline_partitions: u64,
    /// Partitions whose ISR is smaller than their replica set.
    pub under_replicated_partitions: u64,
}

impl ImageGauges {
    /// Counts the gauges of `image`.
    pub fn of(image: &MetadataImage) -> ImageGauges {
        let mut g = ImageGauges::default();
        for b in image.cluster().brokers().values() {
            g.brokers += 1;
            g.fenced_brokers += u64::from(b.fenced);
            g.active_brokers += u64::from(b.is_active());
        }
        for t in image.topics().by_name().values() {
            g.topics += 1;
            for p in t.partitions.values() {
                g.partitions += 1;
                g.offline_partitions += u64::from(p.leader == BrokerId::NO_LEADER);
                g.under_replicated_partitions += u64::from(p.isr.len() < p.replicas.len());
            }
        }
        g
    }
}

/// Appends one metric family: `# HELP`, `# TYPE` and its samples (`labels` → value).
fn family(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(String, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in samples {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
}

fn gauge(out: &mut String, name: &str, help: &str, value: f64) {
    family(out, name, "gauge", help, &[(String::new(), value)]);
}

fn opt(v: Option<u64>) -> f64 {
    v.map(|v| v as f64).unwrap_or(0.0)
}

/// Renders the Raft status, image gauges and RPC statistics in text format 0.0.4.
pub fn render_text(status: &QuorumStatus, image: &ImageGauges) -> String {
    let mut out = String::new();
    let leader = status.state == "leader";
    gauge(
        &mut out,
        "kraftd_raft_current_term",
        "Current Raft term (KRaft CurrentEpoch / leader epoch).",
        status.term as f64,
    );
    gauge(
        &mut out,
        "kraftd_active_controller_count",
        "1 on the active controller (leader), else 0 (KRaft ActiveControllerCount).",
        if leader { 1.0 } else { 0.0 },
    );
    gauge(
        &mut out,
        "kraftd_raft_current_leader",
        "Node id of the current leader, -1 when unknown (KRaft current-leader).",
        status
            .leader
            .as_ref()
            .map(|l| l.node_id as f64)
            .unwrap_or(-1.0),
    );
    gauge(
        &mut out,
        "kraftd_raft_commit_index",
        "Highest committed log index known here (KRaft high-watermark).",
        opt(status.committed),
    );
    gauge(
        &mut out,
        "kraftd_raft_applied_index",
        "Last log index applied to the metadata image (KRaft LastAppliedRecordOffset).",
        opt(status.last_applied),
    );
    gauge(
        &mut out,
        "kraftd_raft_last_log_index",
        "Index of the last entry in the local log (KRaft log-end-offset).",
        opt(status.last_log_index),
    );
    gauge(
        &mut out,
        "kraftd_raft_snapshot_index",
        "Last log index covered by the local snapshot (KRaft latest snapshot offset).",
        opt(status.snapshot),
    );
    let followers: Vec<(u64, Option<u64>)> = if leader {
        status
            .replication
            .iter()
            .filter(|(id, _)| **id != status.node_id)
            .map(|(id, m)| (*id, *m))
            .collect()
    } else {
        Vec::new()
    };
    let last = status.last_log_index.unwrap_or(0);
    family(
        &mut out,
        "kraftd_raft_follower_matched_index",
        "gauge",
        "Per follower: last log index known replicated there (leader only).",
        &followers
            .iter()
            .map(|(id, m)| (format!("node_id=\"{id}\""), opt(*m)))
            .collect::<Vec<_>>(),
    );
    family(
        &mut out,
        "kraftd_raft_follower_lag",
        "gauge",
        "Per follower: entries behind the leader's log end (leader only; KRaft replica lag).",
        &followers
            .iter()
            .map(|(id, m)| {
                let lag = last.saturating_sub(m.unwrap_or(0));
                (format!("node_id=\"{id}\""), lag as f64)
            })
            .collect::<Vec<_>>(),
    );
    for (name, help, v) in [
        (
            "kraftd_registered_brokers",
            "Registered brokers (KRaft RegisteredBrokerCount).",
            image.brokers,
        ),
        (
            "kraftd_fenced_brokers",
            "Fenced brokers (KRaft FencedBrokerCount).",
            image.fenced_brokers,
        ),
        (
            "kraftd_active_brokers",
            "Unfenced brokers not in controlled shutdown (KRaft ActiveBrokerCount).",
            image.active_brokers,
        ),
        (
            "kraftd_topics",
            "Topics (KRaft GlobalTopicCount).",
            image.topics,
        ),
        (
            "kraftd_partitions",
            "Partitions over all topics (KRaft GlobalPartitionCount).",
            image.partitions,
        ),
        (
            "kraftd_offline_partitions",
            "Partitions without a leader (KRaft OfflinePartitionsCount).",
            image.offline_partitions,
        ),
        (
            "kraftd_under_replicated_partitions",
            "Partitions whose ISR is smaller than their replica set (Kafka UnderReplicatedPartitions).",
            image.under_replicated_partitions,
        ),
    ] {
        gauge(&mut out, name, help, v as f64);
    }
    render_rpcs(&mut out);
    out
}

fn render_rpcs(out: &mut String) {
    let rpcs = RPCS.lock().unwrap_or_else(|p| p.into_inner());
    let mut counts = Vec::new();
    for (rpc, s) in rpcs.iter() {
        for (code, n) in &s.by_code {
            counts.push((format!("rpc=\"{rpc}\",code=\"{code}\""), *n as f64));
        }
    }
    family(
        out,
        "kraftd_rpc_requests_total",
        "counter",
        "Controller RPCs handled, by RPC and gRPC code (KRaft RequestsPerSec).",
        &counts,
    );
    let name = "kraftd_rpc_duration_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Controller RPC latency in seconds (Kafka RequestMetrics TotalTimeMs)."
    );
    let _ = writeln!(out, "# TYPE {name} histogram");
    for (rpc, s) in rpcs.iter() {
        let mut cumulative = 0;
        for (le, n) in BUCKETS.iter().zip(s.buckets) {
            cumulative += n;
            let _ = writeln!(
                out,
                "{name}_bucket{{rpc=\"{rpc}\",le=\"{le}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{rpc=\"{rpc}\",le=\"+Inf\"}} {}",
            s.count
        );
        let _ = writeln!(out, "{name}_sum{{rpc=\"{rpc}\"}} {}", s.sum_seconds);
        let _ = writeln!(out, "{name}_count{{rpc=\"{rpc}\"}} {}", s.count);
    }
}

/// One scrape of `ctl`.
pub fn render(ctl: &Controller) -> String {
    let status = ctl.node().status();
    let image = ctl.read_local(ImageGauges::of);
    render_text(&status, &image)
}

fn reply(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(CONTENT_TYPE),
    );
    r
}

fn handle(ctl: &Controller, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/metrics") => reply(StatusCode::OK, render(ctl)),
        // Probes for the kubelet, which cannot speak TLS to the gRPC port: alive while the
        // process serves; ready while this controller knows an active controller.
        (&Method::GET, "/healthz") => reply(StatusCode::OK, "ok\n".into()),
        (&Method::GET, "/readyz") => match ctl.node().leader() {
            Some(l) => reply(
                StatusCode::OK,
                format!("ready: active controller {}\n", l.node_id),
            ),
            None => reply(
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: no active controller known\n".into(),
            ),
        },
        (_, "/metrics") => reply(StatusCode::METHOD_NOT_ALLOWED, "GET only\n".into()),
        _ => reply(
            StatusCode::NOT_FOUND,
            "try /metrics, /healthz or /readyz\n".into(),
        ),
    }
}

/// Serves `GET /metrics` for `ctl` on `listener` until the task is dropped or aborted.
pub async fn serve(ctl: Arc<Controller>, listener: TcpListener) {
    info!(addr = ?listener.local_addr().ok(), "serving Prometheus metrics on /metrics");
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                warn!(error = %e, "metrics: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let ctl = ctl.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let resp = handle(&ctl, &req);
                async move { Ok::<_, Infallible>(resp) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await
            {
                debug!(%peer, error = %e, "metrics: connection ended");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(state: &'static str) -> QuorumStatus {
        QuorumStatus {
            node_id: 1,
            leader: None,
            term: 4,
            last_log_index: Some(20),
            last_applied: Some(19),
            committed: Some(19),
            snapshot: None,
            voters: BTreeMap::new(),
            state,
            replication: [(1, Some(20)), (2, Some(15)), (3, None)]
                .into_iter()
                .collect(),
        }
    }

    #[test]
    fn rpc_names_come_from_request_types() {
        struct CreateTopicsRequest;
        assert_eq!(rpc_name::<CreateTopicsRequest>(), "CreateTopics");
    }

    #[test]
    fn leader_exposes_followers_and_every_family_has_help_and_type() {
        record_rpc::<()>("TestRpc", &Ok(()), Duration::from_millis(3));
        record_rpc::<()>(
            "TestRpc",
            &Err(tonic::Status::unavailable("x")),
            Duration::from_secs(60),
        );
        let image = ImageGauges {
            topics: 2,
            partitions: 5,
            ..ImageGauges::default()
        };
        let text = render_text(&status("leader"), &image);
        assert!(
            text.contains("\nkraftd_active_controller_count 1\n"),
            "{text}"
        );
        assert!(text.contains("kraftd_raft_current_leader -1\n"), "{text}");
        assert!(text.contains("kraftd_raft_current_term 4\n"), "{text}");
        assert!(text.contains("kraftd_topics 2\n"), "{text}");
        assert!(text.contains("kraftd_partitions 5\n"), "{text}");
        assert!(
            text.contains("kraftd_raft_follower_lag{node_id=\"2\"} 5\n"),
            "{text}"
        );
        assert!(
            text.contains("kraftd_raft_follower_lag{node_id=\"3\"} 20\n"),
            "{text}"
        );
        assert!(!text.contains("node_id=\"1\""), "the leader is no follower");
        assert!(text.contains("kraftd_rpc_requests_total{rpc=\"TestRpc\",code=\"OK\"} 1\n"));
        assert!(text.contains("rpc=\"TestRpc\",code=\"Unavailable\"} 1\n"));
        assert!(
            text.contains("kraftd_rpc_duration_seconds_bucket{rpc=\"TestRpc\",le=\"0.005\"} 1\n")
        );
        assert!(
            text.contains("kraftd_rpc_duration_seconds_bucket{rpc=\"TestRpc\",le=\"+Inf\"} 2\n")
        );
        // Every sample belongs to a family announced with HELP and TYPE.
        let mut declared = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                declared.push(rest.split(' ').next().unwrap().to_string());
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                assert!(
                    declared.iter().any(|d| name.starts_with(d.as_str())),
                    "{line}"
                );
            }
        }
        assert_eq!(
            text.matches("# HELP ").count(),
            text.matches("# TYPE ").count()
        );

        let text = render_text(&status("follower"), &image);
        assert!(
            text.contains("\nkraftd_active_controller_count 0\n"),
            "{text}"
        );
        assert!(!text.contains("kraftd_raft_follower_lag{"), "{text}");
    }
}
