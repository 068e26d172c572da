//! Prometheus `/metrics` on its own port (`metrics_listen`): plain HTTP/1.1, text exposition
//! format 0.0.4, hand-formatted. Every scrape reads the Raft status and the applied image
//! afresh; the only state kept here is the per-RPC and FetchMetadata counters.
//!
//! ```text
//!   GET /metrics ──► render(ctl)
//!                      ├─ ctl.node().status()      term, leader, commit/applied/log/snapshot,
//!                      │                           per-follower matched index and lag (leader)
//!                      ├─ ctl.node().log_stats()   append / fsync latency histograms
//!                      ├─ ctl.node().snapshot_stats()  last snapshot's size and age
//!                      ├─ ctl.read_local(image)    brokers, fenced, topics, partitions,
//!                      │                           offline, under-replicated, under-min-ISR
//!                      ├─ RPCS (rpc_layer)         kraftd_rpc_requests_total{rpc,code},
//!                      │                           kraftd_rpc_duration_seconds{rpc} histogram
//!                      └─ FETCH_*                  FetchMetadata streams and messages
//! ```
//!
//! `GET /status` on the same port is a plain-text page of this node's view (role, leader,
//! indexes, follower lag, broker and partition health counts).
//!
//! Names carry a `kraftd_` prefix; the HELP text names the KRaft / Kafka metric it matches
//! (`ActiveControllerCount`, `GlobalTopicCount`, `OfflinePartitionsCount`, ...). The KRaft
//! controller gauges are also exported under the names a JMX exporter gives Kafka's
//! `kafka.controller:type=KafkaController,name=X` (`kafka_controller_KafkaController_X`), so
//! dashboards built for KRaft work unchanged.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use kraft_quorum::QuorumStatus;
use kraft_storage::metrics::{Histogram, HistogramSnapshot, LastSnapshot};
use tokio::net::TcpListener;
use tracing::{debug, info, warn};

use crate::ids::BrokerId;
use crate::image::MetadataImage;
use crate::service::Controller;

/// The exposition format's content type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds (seconds) of the RPC latency histogram's buckets.
const BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Per-RPC counters and latency histogram.
struct RpcStats {
    /// Requests by gRPC code label.
    by_code: BTreeMap<&'static str, u64>,
    /// Requests slower than the slow-request threshold.
    slow: u64,
    latency: Histogram,
}

/// Process-wide RPC statistics, by RPC name. One controller runs per `kraftd` process in node
/// mode (the only mode that serves `/metrics`).
static RPCS: Mutex<BTreeMap<String, RpcStats>> = Mutex::new(BTreeMap::new());

/// FetchMetadata streams open now, and messages sent by kind (image chunk, delta, keep-alive).
static FETCH_STREAMS: AtomicU64 = AtomicU64::new(0);
static FETCH_IMAGE_CHUNKS: AtomicU64 = AtomicU64::new(0);
static FETCH_DELTAS: AtomicU64 = AtomicU64::new(0);
static FETCH_KEEP_ALIVES: AtomicU64 = AtomicU64::new(0);
static WRITE_ENTRIES: AtomicU64 = AtomicU64::new(0);
static WRITE_BATCHES: AtomicU64 = AtomicU64::new(0);

/// Counts one Raft entry the active controller proposed for `batches` write requests (group
/// commit: several requests' batches in one entry).
pub fn write_entry_proposed(batches: usize) {
    WRITE_ENTRIES.fetch_add(1, Ordering::Relaxed);
    WRITE_BATCHES.fetch_add(batches as u64, Ordering::Relaxed);
}

/// One message kind of the FetchMetadata stream.
#[derive(Debug, Clone, Copy)]
pub enum FetchMessage {
    /// A chunk of the full image.
    ImageChunk,
    /// One committed log entry.
    Delta,
    /// An idle keep-alive.
    KeepAlive,
}

/// Counts one message sent on a FetchMetadata stream.
pub fn fetch_metadata_sent(kind: FetchMessage) {
    let c = match kind {
        FetchMessage::ImageChunk => &FETCH_IMAGE_CHUNKS,
        FetchMessage::Delta => &FETCH_DELTAS,
        FetchMessage::KeepAlive => &FETCH_KEEP_ALIVES,
    };
    c.fetch_add(1, Ordering::Relaxed);
}

/// Counts an open FetchMetadata stream for as long as it lives.
#[derive(Debug)]
pub struct OpenStream(());

impl OpenStream {
    /// Counts one more open stream until the value is dropped.
    pub fn new() -> OpenStream {
        FETCH_STREAMS.fetch_add(1, Ordering::Relaxed);
        OpenStream(())
    }
}

impl Default for OpenStream {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        FETCH_STREAMS.fetch_sub(1, Ordering::Relaxed);
    }
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

/// Counts one finished RPC (called by the RPC layer, [`crate::rpc_layer`]): its gRPC code,
/// its latency, and whether it was slower than the slow-request threshold.
pub fn record_rpc(rpc: &str, code: tonic::Code, took: Duration, slow: bool) {
    let mut rpcs = RPCS.lock().unwrap_or_else(|p| p.into_inner());
    if !rpcs.contains_key(rpc) {
        rpcs.insert(
            rpc.to_string(),
            RpcStats {
                by_code: BTreeMap::new(),
                slow: 0,
                latency: Histogram::new(BUCKETS),
            },
        );
    }
    if let Some(s) = rpcs.get_mut(rpc) {
        *s.by_code.entry(code_label(code)).or_default() += 1;
        s.slow += u64::from(slow);
        s.latency.observe(took);
    }
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
    /// Partitions whose ISR is smaller than min(min.insync.replicas, replication factor).
    pub under_min_isr_partitions: u64,
    /// Partitions with a leader other than their preferred (first) replica.
    pub preferred_replica_imbalance: u64,
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
        for t in image.topics().iter_unordered() {
            let name = &t.name;
            g.topics += 1;
            let min_isr = image.min_insync_replicas(name);
            for p in t.partitions.values() {
                g.partitions += 1;
                g.offline_partitions += u64::from(p.leader == BrokerId::NO_LEADER);
                g.under_replicated_partitions += u64::from(p.isr.len() < p.replicas.len());
                g.under_min_isr_partitions +=
                    u64::from(p.isr.len() < min_isr.min(p.replicas.len()));
                g.preferred_replica_imbalance +=
                    u64::from(p.replicas.first().is_some_and(|r| *r != p.leader));
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

/// Storage timings read at scrape time.
#[derive(Debug, Clone)]
pub struct StorageView {
    /// Raft log append latency (insert + fsync).
    pub append: HistogramSnapshot,
    /// Raft log fsync latency.
    pub fsync: HistogramSnapshot,
    /// The last snapshot, if any.
    pub snapshot: Option<LastSnapshot>,
    /// How long the last snapshot built by this process took, if one was built.
    pub snapshot_build: Option<Duration>,
    /// The scrape's wall clock (for the snapshot's age).
    pub now: SystemTime,
}

/// Appends one histogram family with a single (possibly empty) label set.
fn histogram(out: &mut String, name: &str, help: &str, labels: &str, h: &HistogramSnapshot) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} histogram");
    histogram_samples(out, name, labels, h);
}

fn histogram_samples(out: &mut String, name: &str, labels: &str, h: &HistogramSnapshot) {
    let sep = if labels.is_empty() { "" } else { "," };
    for (le, n) in h.bounds.iter().zip(&h.cumulative) {
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {n}");
    }
    let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}", h.count);
    if labels.is_empty() {
        let _ = writeln!(out, "{name}_sum {}", h.sum_seconds);
        let _ = writeln!(out, "{name}_count {}", h.count);
    } else {
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", h.sum_seconds);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", h.count);
    }
}

/// Renders the Raft status, storage timings, image gauges and RPC statistics in text format
/// 0.0.4.
pub fn render_text(status: &QuorumStatus, image: &ImageGauges, storage: &StorageView) -> String {
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
        (
            "kraftd_under_min_isr_partitions",
            "Partitions whose ISR is below min(min.insync.replicas, replicas) (Kafka UnderMinIsrPartitionCount).",
            image.under_min_isr_partitions,
        ),
        (
            "kraftd_preferred_replica_imbalance",
            "Partitions not led by their preferred replica (KRaft PreferredReplicaImbalanceCount).",
            image.preferred_replica_imbalance,
        ),
    ] {
        gauge(&mut out, name, help, v as f64);
    }
    render_storage(&mut out, storage);
    render_kraft_names(&mut out, status, image);
    render_rpcs(&mut out);
    render_fetch_metadata(&mut out);
    render_writes(&mut out);
    out
}

fn render_storage(out: &mut String, s: &StorageView) {
    histogram(
        out,
        "kraftd_raft_log_append_duration_seconds",
        "Raft log appends: entries written and fsynced until acknowledged (KRaft append latency).",
        "",
        &s.append,
    );
    histogram(
        out,
        "kraftd_raft_log_fsync_duration_seconds",
        "Raft log fsyncs (appends, votes, truncations, purges; KRaft log flush time).",
        "",
        &s.fsync,
    );
    type Samples = Vec<(String, f64)>;
    let (size, age): (Samples, Samples) = match &s.snapshot {
        Some(last) => {
            let age = s.now.duration_since(last.taken).unwrap_or_default();
            (
                vec![(String::new(), last.bytes as f64)],
                vec![(String::new(), age.as_secs_f64())],
            )
        }
        None => (Vec::new(), Vec::new()),
    };
    family(
        out,
        "kraftd_snapshot_size_bytes",
        "gauge",
        "Size of the latest local snapshot file (no sample before the first snapshot).",
        &size,
    );
    family(
        out,
        "kraftd_snapshot_age_seconds",
        "gauge",
        "Seconds since the latest local snapshot was built or installed (KRaft snapshot age).",
        &age,
    );
    let build: Samples = s
        .snapshot_build
        .map(|d| vec![(String::new(), d.as_secs_f64())])
        .unwrap_or_default();
    family(
        out,
        "kraftd_snapshot_build_seconds",
        "gauge",
        "How long the last snapshot built by this process took: encode, write, fsync (no \
         sample before the first build).",
        &build,
    );
}

/// The KRaft controller gauges under a JMX exporter's names for
/// `kafka.controller:type=KafkaController,name=X`.
fn render_kraft_names(out: &mut String, status: &QuorumStatus, image: &ImageGauges) {
    let leader = status.state == "leader";
    for (name, help, v) in [
        (
            "ActiveControllerCount",
            "1 on the active controller, else 0.",
            u64::from(leader),
        ),
        (
            "OfflinePartitionsCount",
            "Partitions without a leader.",
            image.offline_partitions,
        ),
        (
            "FencedBrokerCount",
            "Registered brokers that are fenced.",
            image.fenced_brokers,
        ),
        (
            "ActiveBrokerCount",
            "Unfenced brokers not in controlled shutdown.",
            image.active_brokers,
        ),
        ("GlobalTopicCount", "Topics.", image.topics),
        (
            "GlobalPartitionCount",
            "Partitions over all topics.",
            image.partitions,
        ),
        (
            "PreferredReplicaImbalanceCount",
            "Partitions led by a replica other than the first (preferred) one.",
            image.preferred_replica_imbalance,
        ),
        (
            "LastAppliedRecordOffset",
            "Last metadata offset applied here.",
            status.last_applied.unwrap_or(0),
        ),
        (
            "LastCommittedRecordOffset",
            "Last metadata offset known committed here.",
            status.committed.unwrap_or(0),
        ),
    ] {
        gauge(
            out,
            &format!("kafka_controller_KafkaController_{name}"),
            &format!("{help} (kafka.controller:type=KafkaController,name={name})"),
            v as f64,
        );
    }
}

fn render_fetch_metadata(out: &mut String) {
    gauge(
        out,
        "kraftd_fetch_metadata_streams",
        "FetchMetadata streams open on this controller (brokers following the metadata log).",
        FETCH_STREAMS.load(Ordering::Relaxed) as f64,
    );
    family(
        out,
        "kraftd_fetch_metadata_messages_total",
        "counter",
        "FetchMetadata messages sent, by kind (image chunk, delta, keep-alive).",
        &[
            ("image", &FETCH_IMAGE_CHUNKS),
            ("delta", &FETCH_DELTAS),
            ("keep_alive", &FETCH_KEEP_ALIVES),
        ]
        .map(|(k, c)| (format!("kind=\"{k}\""), c.load(Ordering::Relaxed) as f64)),
    );
}

fn render_writes(out: &mut String) {
    family(
        out,
        "kraftd_write_entries_total",
        "counter",
        "Raft entries this controller proposed as the active controller for write requests.",
        &[(String::new(), WRITE_ENTRIES.load(Ordering::Relaxed) as f64)],
    );
    family(
        out,
        "kraftd_write_batches_total",
        "counter",
        "Write requests' record batches in those entries (group commit: batches / entries is \
         the mean group size).",
        &[(String::new(), WRITE_BATCHES.load(Ordering::Relaxed) as f64)],
    );
}

fn render_rpcs(out: &mut String) {
    let rpcs = RPCS.lock().unwrap_or_else(|p| p.into_inner());
    let mut counts = Vec::new();
    let mut slow = Vec::new();
    for (rpc, s) in rpcs.iter() {
        for (code, n) in &s.by_code {
            counts.push((format!("rpc=\"{rpc}\",code=\"{code}\""), *n as f64));
        }
        slow.push((format!("rpc=\"{rpc}\""), s.slow as f64));
    }
    family(
        out,
        "kraftd_rpc_requests_total",
        "counter",
        "Controller RPCs handled, by RPC and gRPC code (KRaft RequestsPerSec). A stream \
         (FetchMetadata) counts when it opens.",
        &counts,
    );
    family(
        out,
        "kraftd_rpc_slow_requests_total",
        "counter",
        "Controller RPCs slower than slow_request_ms (each also logged at warn level).",
        &slow,
    );
    let name = "kraftd_rpc_duration_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Controller RPC latency in seconds (Kafka RequestMetrics TotalTimeMs)."
    );
    let _ = writeln!(out, "# TYPE {name} histogram");
    for (rpc, s) in rpcs.iter() {
        histogram_samples(out, name, &format!("rpc=\"{rpc}\""), &s.latency.snapshot());
    }
}

/// The plain-text `/status` page: this node's view of the quorum and the metadata, one screen
/// (`kraftctl status` shows the cluster-wide view with per-partition names).
pub fn render_status_page(
    status: &QuorumStatus,
    image: &ImageGauges,
    storage: &StorageView,
) -> String {
    let mut out = String::new();
    let leader = status
        .leader
        .as_ref()
        .map(|l| l.node_id.to_string())
        .unwrap_or_else(|| "none".into());
    let idx = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
    let _ = writeln!(
        out,
        "kraftd node {} ({}), leader {leader}, term {}",
        status.node_id, status.state, status.term
    );
    let _ = writeln!(
        out,
        "log: committed {} applied {} last {} snapshot {}",
        idx(status.committed),
        idx(status.last_applied),
        idx(status.last_log_index),
        idx(status.snapshot)
    );
    if let Some(snap) = &storage.snapshot {
        let age = storage.now.duration_since(snap.taken).unwrap_or_default();
        let _ = writeln!(
            out,
            "snapshot: {} bytes, {} s old",
            snap.bytes,
            age.as_secs()
        );
    }
    let voters: Vec<String> = status
        .voters
        .iter()
        .map(|(id, addr)| format!("{id}@{addr}"))
        .collect();
    let _ = writeln!(out, "voters: {}", voters.join(" "));
    if status.state == "leader" {
        let last = status.last_log_index.unwrap_or(0);
        for (id, m) in status
            .replication
            .iter()
            .filter(|(id, _)| **id != status.node_id)
        {
            let _ = writeln!(
                out,
                "  follower {id}: matched {} lag {}",
                idx(*m),
                last.saturating_sub(m.unwrap_or(0))
            );
        }
    }
    let _ = writeln!(
        out,
        "brokers: {} registered, {} active, {} fenced",
        image.brokers, image.active_brokers, image.fenced_brokers
    );
    let _ = writeln!(
        out,
        "partitions: {} in {} topics; offline {}, under-replicated {}, under-min-ISR {}, \
         not on preferred leader {}",
        image.partitions,
        image.topics,
        image.offline_partitions,
        image.under_replicated_partitions,
        image.under_min_isr_partitions,
        image.preferred_replica_imbalance
    );
    out
}

fn storage_view(ctl: &Controller) -> StorageView {
    let log = ctl.node().log_stats();
    StorageView {
        append: log.append.snapshot(),
        fsync: log.fsync.snapshot(),
        snapshot: ctl.node().snapshot_stats().last(),
        snapshot_build: ctl.node().snapshot_stats().last_build(),
        now: SystemTime::now(),
    }
}

/// One `/status` page of `ctl`.
pub fn render_status(ctl: &Controller) -> String {
    let status = ctl.node().status();
    let image = ctl.read_local(ImageGauges::of);
    render_status_page(&status, &image, &storage_view(ctl))
}

/// One scrape of `ctl`.
pub fn render(ctl: &Controller) -> String {
    let status = ctl.node().status();
    let storage = storage_view(ctl);
    let image = ctl.read_local(ImageGauges::of);
    render_text(&status, &image, &storage)
}

fn reply(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    reply_as(status, body, CONTENT_TYPE)
}

fn reply_as(status: StatusCode, body: String, content_type: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
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
        (&Method::GET, "/status") => reply_as(
            StatusCode::OK,
            render_status(ctl),
            "text/plain; charset=utf-8",
        ),
        (_, "/metrics" | "/status") => reply(StatusCode::METHOD_NOT_ALLOWED, "GET only\n".into()),
        _ => reply(
            StatusCode::NOT_FOUND,
            "try /metrics, /status, /healthz or /readyz\n".into(),
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
    fn leader_exposes_followers_and_every_family_has_help_and_type() {
        record_rpc("TestRpc", tonic::Code::Ok, Duration::from_millis(3), false);
        record_rpc(
            "TestRpc",
            tonic::Code::Unavailable,
            Duration::from_secs(60),
            true,
        );
        let image = ImageGauges {
            topics: 2,
            partitions: 5,
            under_min_isr_partitions: 1,
            preferred_replica_imbalance: 2,
            ..ImageGauges::default()
        };
        let append = Histogram::new(&[0.001, 0.01]);
        append.observe(Duration::from_micros(300));
        append.observe(Duration::from_millis(4));
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let storage = StorageView {
            append: append.snapshot(),
            fsync: Histogram::new(&[0.001]).snapshot(),
            snapshot: Some(LastSnapshot {
                bytes: 4096,
                taken: now - Duration::from_secs(30),
            }),
            snapshot_build: Some(Duration::from_millis(1500)),
            now,
        };
        let text = render_text(&status("leader"), &image, &storage);
        assert!(
            text.contains("\nkraftd_active_controller_count 1\n"),
            "{text}"
        );
        assert!(text.contains("kraftd_raft_current_leader -1\n"), "{text}");
        assert!(text.contains("kraftd_raft_current_term 4\n"), "{text}");
        assert!(text.contains("kraftd_topics 2\n"), "{text}");
        assert!(
            text.contains("kraftd_under_min_isr_partitions 1\n"),
            "{text}"
        );
        assert!(
            text.contains("kafka_controller_KafkaController_PreferredReplicaImbalanceCount 2\n"),
            "{text}"
        );
        assert!(
            text.contains("kafka_controller_KafkaController_ActiveControllerCount 1\n"),
            "{text}"
        );
        assert!(
            text.contains("kraftd_raft_log_append_duration_seconds_bucket{le=\"0.001\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("kraftd_raft_log_append_duration_seconds_bucket{le=\"+Inf\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("kraftd_raft_log_fsync_duration_seconds_count 0\n"),
            "{text}"
        );
        assert!(text.contains("kraftd_snapshot_size_bytes 4096\n"), "{text}");
        assert!(text.contains("kraftd_snapshot_age_seconds 30\n"), "{text}");
        assert!(
            text.contains("kraftd_snapshot_build_seconds 1.5\n"),
            "{text}"
        );
        assert!(
            text.contains("kraftd_rpc_slow_requests_total{rpc=\"TestRpc\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("kraftd_fetch_metadata_streams "), "{text}");
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

        let page = render_status_page(&status("leader"), &image, &storage);
        for want in [
            "kraftd node 1 (leader), leader none, term 4\n",
            "log: committed 19 applied 19 last 20 snapshot -\n",
            "snapshot: 4096 bytes, 30 s old\n",
            "  follower 2: matched 15 lag 5\n",
            "  follower 3: matched - lag 20\n",
            "partitions: 5 in 2 topics; offline 0, under-replicated 0, under-min-ISR 1, not on preferred leader 2\n",
        ] {
            assert!(page.contains(want), "{want:?} missing in\n{page}");
        }

        let text = render_text(&status("follower"), &image, &storage);
        assert!(
            text.contains("\nkraftd_active_controller_count 0\n"),
            "{text}"
        );
        assert!(!text.contains("kraftd_raft_follower_lag{"), "{text}");
    }
}
