//! Prometheus `/metrics` on a real quorum: each controller serves it on its own port
//! (`--metrics-listen`); exactly one reports ActiveControllerCount 1, and creating a topic
//! moves the leader's topic, partition, commit-index and RPC series.

use std::collections::BTreeMap;
use std::time::Duration;

use kraft_client::Client;
use kraft_proto as pb;
use kraft_tests::{Cluster, wait_for_leader, wait_until};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A raw HTTP/1.1 GET: (status line, headers, body).
async fn get(addr: &str, path: &str) -> Result<(String, String, String), String> {
    let mut s = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("{addr}: {e}"))?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut raw))
        .await
        .map_err(|_| format!("{addr}: read timed out"))?
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8(raw).map_err(|e| e.to_string())?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no header end in {text:?}"))?;
    let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    Ok((status.to_string(), headers.to_string(), body.to_string()))
}

/// Scrapes `/metrics`: sample (name with labels) → value.
async fn scrape(addr: &str) -> Result<BTreeMap<String, f64>, String> {
    let (status, _, body) = get(addr, "/metrics").await?;
    if !status.contains(" 200 ") {
        return Err(format!("{addr}: {status}"));
    }
    Ok(body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect())
}

fn val(m: &BTreeMap<String, f64>, key: &str) -> f64 {
    *m.get(key)
        .unwrap_or_else(|| panic!("no sample {key} in {m:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_endpoint_tracks_raft_and_the_image() {
    let cluster = Cluster::start_with_metrics(3);
    let b = cluster.bootstrap();
    wait_for_leader(&b).await;
    let _brokers = kraft_tests::brokers::Brokers::start(&b, 3).await;

    // Exactly one node reports ActiveControllerCount 1, and every node agrees on who it is.
    let leader = wait_until(
        "one active controller in /metrics",
        Duration::from_secs(30),
        || {
            let cluster = &cluster;
            async move {
                let mut active = Vec::new();
                let mut leaders = Vec::new();
                for id in 1..=3 {
                    let m = scrape(&cluster.metrics_addr(id)).await?;
                    if val(&m, "kraftd_active_controller_count") == 1.0 {
                        active.push(id);
                    }
                    leaders.push(val(&m, "kraftd_raft_current_leader") as u64);
                }
                match active[..] {
                    [id] if leaders.iter().all(|l| *l == id) => Ok(id),
                    _ => Err(format!("active={active:?} leaders={leaders:?}")),
                }
            }
        },
    )
    .await;
    let addr = cluster.metrics_addr(leader);

    let (status, headers, body) = get(&addr, "/metrics").await.expect("scrape");
    assert!(status.contains(" 200 "), "{status}");
    assert!(
        headers
            .to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{headers}"
    );
    assert!(
        body.contains("# TYPE kraftd_active_controller_count gauge"),
        "{body}"
    );
    assert!(body.contains("ActiveControllerCount"), "{body}");
    let (status, _, _) = get(&addr, "/nope").await.expect("get /nope");
    assert!(status.contains(" 404 "), "{status}");

    let before = scrape(&addr).await.expect("scrape before");
    assert_eq!(val(&before, "kraftd_topics"), 0.0);
    assert_eq!(val(&before, "kraftd_partitions"), 0.0);
    assert_eq!(val(&before, "kraftd_registered_brokers"), 3.0);
    assert_eq!(val(&before, "kraftd_fenced_brokers"), 0.0);
    assert_eq!(val(&before, "kraftd_active_brokers"), 3.0);
    let commit_before = val(&before, "kraftd_raft_commit_index");
    assert!(commit_before > 0.0, "{before:?}");
    for f in (1..=3).filter(|id| *id != leader) {
        let key = format!("kraftd_raft_follower_matched_index{{node_id=\"{f}\"}}");
        assert!(before.contains_key(&key), "{key} missing: {before:?}");
    }

    let client = Client::connect(&b).await.expect("connect");
    let reply = client
        .create_topics(pb::CreateTopicsRequest {
            topics: vec![pb::CreatableTopic {
                name: "metrics-topic".into(),
                num_partitions: 3,
                replication_factor: 3,
                ..Default::default()
            }],
            validate_only: false,
        })
        .await
        .expect("create topic");
    assert_eq!(
        reply.topics[0]
            .error
            .as_ref()
            .map(|e| e.error_code)
            .unwrap_or(0),
        0,
        "{reply:?}"
    );

    let after = wait_until(
        "the topic in the leader's /metrics",
        Duration::from_secs(30),
        || {
            let addr = addr.clone();
            async move {
                let m = scrape(&addr).await?;
                let ok = val(&m, "kraftd_topics") == 1.0
                    && val(&m, "kraftd_partitions") == 3.0
                    && m.get("kraftd_rpc_requests_total{rpc=\"CreateTopics\",code=\"OK\"}")
                        .is_some_and(|n| *n >= 1.0);
                if ok { Ok(m) } else { Err(format!("{m:?}")) }
            }
        },
    )
    .await;
    assert!(
        val(&after, "kraftd_raft_commit_index") > commit_before,
        "{after:?}"
    );
    assert!(val(&after, "kraftd_raft_applied_index") >= val(&before, "kraftd_raft_applied_index"));
    assert_eq!(val(&after, "kraftd_offline_partitions"), 0.0);
    assert_eq!(val(&after, "kraftd_active_controller_count"), 1.0);
    assert!(
        after.contains_key("kraftd_rpc_duration_seconds_bucket{rpc=\"CreateTopics\",le=\"+Inf\"}"),
        "{after:?}"
    );

    // Followers apply the same image and report no leadership.
    for f in (1..=3).filter(|id| *id != leader) {
        let faddr = cluster.metrics_addr(f);
        wait_until("the topic on a follower", Duration::from_secs(30), || {
            let faddr = faddr.clone();
            async move {
                let m = scrape(&faddr).await?;
                if val(&m, "kraftd_topics") == 1.0 && val(&m, "kraftd_partitions") == 3.0 {
                    Ok(())
                } else {
                    Err(format!("{m:?}"))
                }
            }
        })
        .await;
    }
}
