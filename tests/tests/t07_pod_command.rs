//! The StatefulSet's exact pod command forms a quorum: three `kraftd` processes started with
//! the command, args, environment and ConfigMap that `deploy/kubernetes/statefulset.yaml`
//! gives its pods (parsed from the manifests; see `t07_pods/pods.rs` for the four test-only
//! stand-ins for hostname, pod IP, volume and DNS), each deriving its node id from its
//! hostname and the voters from the headless service's names. They elect a leader, answer
//! the manifest's readiness and liveness gRPC probes, and serve `kraftctl topics create`.

#[path = "t07_pods/pods.rs"]
mod pods;

use std::time::Duration;

use kraft_tests::brokers::Brokers;
use kraft_tests::{Cluster, wait_for_leader_with, wait_until};
use pods::{PodTemplate, Pods, expand, probe};

#[test]
fn kubernetes_var_expansion() {
    let env = [("NS".to_string(), "kafka".to_string())]
        .into_iter()
        .collect();
    assert_eq!(expand("a.$(NS).svc", &env), "a.kafka.svc");
    assert_eq!(expand("$$(NS) $(NOPE) $", &env), "$(NS) $(NOPE) $");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statefulset_pod_command_forms_a_quorum_and_serves_kraftctl() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let template = PodTemplate::from_manifests();
    assert_eq!(template.replicas, 3);
    let mut pods = Pods::prepare(template.clone());
    // Parallel pod management: all pods start at once, highest ordinal first for good measure.
    for ordinal in (0..template.replicas).rev() {
        pods.start(ordinal);
    }
    let bootstrap = pods.bootstrap();
    let config = pods.client_config();
    wait_for_leader_with(&bootstrap, &config).await;

    for ordinal in 0..template.replicas {
        let addr = pods.metrics_addr(ordinal);
        // The kubelet's probes, exactly as the manifest declares them.
        for path in [&template.readiness_path, &template.liveness_path] {
            wait_until(
                &format!("pod {ordinal} probe {path}"),
                Duration::from_secs(30),
                || {
                    let addr = addr.clone();
                    async move { probe(&addr, path).await }
                },
            )
            .await;
        }
        // Node id = ordinal + 1, from the hostname; the voters came from the DNS template.
        let log = pods.log(ordinal);
        let line = log
            .lines()
            .find(|l| l.contains("effective configuration"))
            .unwrap_or_else(|| panic!("pod {ordinal} logged no effective configuration:\n{log}"));
        let id = ordinal + 1;
        assert!(
            line.contains(&format!("node_id={id} ")),
            "pod {ordinal} must be node {id}: {line}"
        );
        assert!(
            line.contains(&template.dns_endpoint(0)) || line.contains("resolve="),
            "{line}"
        );
        assert!(pods.is_running(ordinal), "pod {ordinal} exited");
    }

    // Secure by default: the manifests' gRPC port refuses plaintext and certificate-less
    // callers.
    let plain = Cluster::kraftctl(&pods.addr(0), &["topics", "list"]);
    assert!(!plain.status.success(), "plaintext must be refused");

    let _brokers = Brokers::start_with(&bootstrap, 3, &config).await;
    // Through one pod only, as through `kubectl port-forward svc/kraft`.
    let one = pods.addr(1);
    let mut args = pods.kraftctl_flags();
    args.extend(
        [
            "topics",
            "create",
            "--topic",
            "pod-topic",
            "--partitions",
            "3",
            "--replication-factor",
            "3",
        ]
        .map(String::from),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = Cluster::kraftctl(&one, &args);
    assert!(
        out.status.success(),
        "kraftctl topics create failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for ordinal in 0..template.replicas {
        let addr = pods.addr(ordinal);
        wait_until(
            &format!("pod {ordinal} lists pod-topic"),
            Duration::from_secs(30),
            || {
                let addr = addr.clone();
                let config = config.clone();
                async move {
                    let c = kraft_client::Client::connect_with(&addr, config)
                        .await
                        .map_err(|e| e.to_string())?;
                    let l = c.list_topics(true).await.map_err(|e| e.to_string())?;
                    if l.topics.iter().any(|t| t.name == "pod-topic") {
                        Ok(())
                    } else {
                        Err(format!("{} topics", l.topics.len()))
                    }
                }
            },
        )
        .await;
    }
}
