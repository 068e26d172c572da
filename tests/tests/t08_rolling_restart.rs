//! A rolling restart of the StatefulSet loses no acknowledged write. The pods run exactly
//! the manifest's command (`t07_pods/pods.rs`) and are restarted one at a time in the order
//! a StatefulSet `RollingUpdate` uses — highest ordinal first: SIGTERM (a leader hands over
//! leadership first), wait for the exit, start again, wait until the pod is Ready (its
//! readiness probe: it knows the active controller) and has caught up with every create
//! acknowledged so far — while a client writes a bounded stream of creates through every
//! pod. At the end every acknowledged create is on every pod's own applied image.
//!
//! The longest client-visible error gap is printed, not asserted: timing on a shared 2-core
//! machine is not a correctness property.

#[path = "t07_pods/pods.rs"]
mod pods;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kraft_client::{Client, ClientConfig};
use kraft_proto::{CreatableTopic, CreateTopicsRequest};
use kraft_tests::brokers::Brokers;
use kraft_tests::{wait_for_leader_with, wait_until};
use pods::{PodTemplate, Pods, probe};
use tokio::time::Instant;
use tracing::info;

const NONE: i32 = 0;
const TOPIC_ALREADY_EXISTS: i32 = 36;
/// Upper bounds of the write stream (it normally stops long before either).
const MAX_CREATES: u32 = 3000;
const MAX_WRITE_TIME: Duration = Duration::from_secs(240);
/// New acknowledgements to see between two restarts, so every restart happens mid-stream.
const ACKS_BETWEEN: usize = 15;

#[derive(Default)]
struct Stream {
    /// Acknowledged creates: name → topic id.
    acked: BTreeMap<String, String>,
    attempts: u32,
    errors: u32,
    gap_started: Option<Instant>,
    longest_gap: Duration,
}

fn create_req(name: &str) -> CreateTopicsRequest {
    CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: name.to_string(),
            num_partitions: 1,
            replication_factor: 3,
            configs: vec![],
            assignments: vec![],
        }],
        validate_only: false,
    }
}

async fn writer(client: Client, state: Arc<Mutex<Stream>>, stop: Arc<AtomicBool>) {
    let started = Instant::now();
    for i in 0..MAX_CREATES {
        if stop.load(Ordering::SeqCst) || started.elapsed() > MAX_WRITE_TIME {
            break;
        }
        let name = format!("roll-{i:05}");
        let sent = Instant::now();
        let result = client.create_topics(create_req(&name)).await;
        let mut s = state.lock().expect("stream state");
        s.attempts += 1;
        let ok = match result {
            Ok(resp) => {
                let t = &resp.topics[0];
                match t.error.as_ref().map(|e| e.error_code).unwrap_or(NONE) {
                    NONE => {
                        s.acked.insert(name, t.topic_id.clone());
                        true
                    }
                    // A retry after a lost answer found it created: not an ack, not an error.
                    TOPIC_ALREADY_EXISTS => true,
                    code => {
                        info!(%name, code, error = ?t.error, "create refused");
                        false
                    }
                }
            }
            Err(e) => {
                info!(%name, error = %e, "create not acknowledged");
                false
            }
        };
        if ok {
            if let Some(from) = s.gap_started.take() {
                s.longest_gap = s.longest_gap.max(from.elapsed());
            }
        } else {
            s.errors += 1;
            s.gap_started.get_or_insert(sent);
        }
    }
}

fn acked(state: &Arc<Mutex<Stream>>) -> BTreeMap<String, String> {
    state.lock().expect("stream state").acked.clone()
}

/// Waits until pod `addr`'s own applied image holds every create in `want`.
async fn caught_up(what: &str, addr: &str, config: &ClientConfig, want: &BTreeMap<String, String>) {
    wait_until(what, Duration::from_secs(60), || async move {
        let c = Client::connect_with(addr, config.clone())
            .await
            .map_err(|e| e.to_string())?;
        let l = c.list_topics(true).await.map_err(|e| e.to_string())?;
        let have: BTreeMap<String, String> =
            l.topics.into_iter().map(|t| (t.name, t.topic_id)).collect();
        let missing: Vec<&String> = want
            .iter()
            .filter(|(n, id)| have.get(*n) != Some(*id))
            .map(|(n, _)| n)
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} missing or different, e.g. {:?}",
                missing.len(),
                &missing[..missing.len().min(5)]
            ))
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_restart_in_statefulset_order_loses_no_acknowledged_create() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let template = PodTemplate::from_manifests();
    let mut pods = Pods::prepare(template.clone());
    for ordinal in 0..template.replicas {
        pods.start(ordinal);
    }
    let bootstrap = pods.bootstrap();
    let config = pods.client_config();
    wait_for_leader_with(&bootstrap, &config).await;
    let brokers = Brokers::start_with(&bootstrap, 3, &config).await;

    let state = Arc::new(Mutex::new(Stream::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let client = Client::connect_with(&bootstrap, config.clone())
        .await
        .expect("connect");
    let writing = tokio::spawn(writer(client, state.clone(), stop.clone()));

    let mut shutdowns = Vec::new();
    // StatefulSet RollingUpdate order: from the highest ordinal down to 0.
    for ordinal in (0..template.replicas).rev() {
        let before = acked(&state).len();
        wait_until(
            &format!("{ACKS_BETWEEN} creates acknowledged before restarting pod {ordinal}"),
            Duration::from_secs(60),
            || {
                let state = state.clone();
                async move {
                    let n = acked(&state).len();
                    if n >= before + ACKS_BETWEEN {
                        Ok(())
                    } else {
                        Err(format!("{n} acknowledged"))
                    }
                }
            },
        )
        .await;
        info!("--- rolling restart: pod {ordinal}");
        let took = pods.terminate(ordinal).await;
        shutdowns.push((ordinal, took));
        let acked_at_stop = acked(&state);
        pods.start(ordinal);
        let addr = pods.addr(ordinal);
        let probe_addr = pods.metrics_addr(ordinal);
        let path = template.readiness_path.clone();
        wait_until(
            &format!("pod {ordinal} Ready again"),
            Duration::from_secs(60),
            || {
                let probe_addr = probe_addr.clone();
                let path = path.clone();
                async move { probe(&probe_addr, &path).await }
            },
        )
        .await;
        caught_up(
            &format!("restarted pod {ordinal} caught up"),
            &addr,
            &config,
            &acked_at_stop,
        )
        .await;
    }
    // A few more writes after the last restart, then stop the stream.
    let before = acked(&state).len();
    wait_until(
        "creates acknowledged after the rolling restart",
        Duration::from_secs(60),
        || {
            let state = state.clone();
            async move {
                let n = acked(&state).len();
                if n >= before + ACKS_BETWEEN {
                    Ok(())
                } else {
                    Err(format!("{n} acknowledged"))
                }
            }
        },
    )
    .await;
    stop.store(true, Ordering::SeqCst);
    tokio::time::timeout(Duration::from_secs(60), writing)
        .await
        .expect("the writer stops within one request deadline")
        .expect("writer task");
    drop(brokers);

    let all = acked(&state);
    for ordinal in 0..template.replicas {
        caught_up(
            &format!("pod {ordinal} holds every acknowledged create"),
            &pods.addr(ordinal),
            &config,
            &all,
        )
        .await;
    }
    let s = state.lock().expect("stream state");
    println!(
        "rolling restart: {} creates acknowledged of {} attempts, {} client-visible errors, \
         longest error gap {:?}; SIGTERM-to-exit per pod: {:?}",
        s.acked.len(),
        s.attempts,
        s.errors,
        s.longest_gap
            .max(s.gap_started.map(|g| g.elapsed()).unwrap_or_default()),
        shutdowns
    );
}
