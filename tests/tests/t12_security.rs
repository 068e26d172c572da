//! TLS, mTLS, roles and certificate reload on real kraftd processes (issue 8).
//!
//! Certificates come from `kraft_client::certs` (rcgen), the code behind
//! `kraftctl certs create`: one CA, a `controller` certificate shared by the three
//! controllers, `broker-<id>` certificates and an `admin` certificate.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use kraft_client::certs::{Ca, write};
use kraft_client::proto::RegisterBrokerRequest;
use kraft_client::{Client, ClientConfig, ClientError, Security};
use kraft_tests::{Cluster, binary, wait_until};
use tempfile::TempDir;

/// A CA and the certificates of one test cluster, in a temp dir.
struct Certs {
    dir: TempDir,
}

impl Certs {
    fn new() -> Certs {
        let dir = tempfile::Builder::new()
            .prefix("kraftd-certs-")
            .tempdir()
            .expect("temp dir");
        let ca = Ca::new("test-ca", 1).expect("ca");
        let d = dir.path();
        write(d, "ca", ca.pem()).expect("write ca");
        let hosts = ["127.0.0.1".to_string(), "localhost".to_string()];
        write(
            d,
            "controller",
            &ca.issue("controller", &hosts).expect("issue"),
        )
        .expect("write");
        for name in ["admin", "broker-1", "grafana"] {
            write(d, name, &ca.issue(name, &[]).expect("issue")).expect("write");
        }
        Certs { dir }
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    fn s(&self, file: &str) -> String {
        self.path(file).display().to_string()
    }

    /// kraftd flags serving with these files.
    fn server_args(&self, client_auth: &str) -> Vec<String> {
        vec![
            "--tls-cert-file".into(),
            self.s("controller.crt"),
            "--tls-key-file".into(),
            self.s("controller.key"),
            "--tls-ca-file".into(),
            self.s("ca.crt"),
            "--tls-client-auth".into(),
            client_auth.into(),
            "--tls-reload-ms".into(),
            "200".into(),
            "--reader-principals".into(),
            "grafana".into(),
        ]
    }

    /// kraftctl flags: trust the CA, present `who`'s certificate (none: CA only).
    fn client_args(&self, who: Option<&str>) -> Vec<String> {
        let mut a = vec!["--tls-ca-file".into(), self.s("ca.crt")];
        if let Some(w) = who {
            a.extend([
                "--tls-cert-file".into(),
                self.s(&format!("{w}.crt")),
                "--tls-key-file".into(),
                self.s(&format!("{w}.key")),
            ]);
        }
        a
    }

    fn security(&self, who: &str) -> Security {
        Security::from_files(
            Some(&self.path("ca.crt")),
            Some(&self.path(&format!("{who}.crt"))),
            Some(&self.path(&format!("{who}.key"))),
            None,
        )
        .expect("client security")
    }
}

fn kraftctl(bootstrap: &str, flags: &[String], args: &[&str]) -> Output {
    std::process::Command::new(binary("kraftctl"))
        .arg("--bootstrap-server")
        .arg(bootstrap)
        .args(flags)
        .args(args)
        .env("RUST_LOG", "error")
        .output()
        .expect("run kraftctl")
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn start(certs: &Certs, client_auth: &str, more: &[String]) -> Cluster {
    let mut args = certs.server_args(client_auth);
    args.extend_from_slice(more);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    Cluster::start_with(3, &refs)
}

/// Waits until the quorum answers an admin over TLS (which needs TLS between the controllers).
async fn wait_ready(c: &Cluster, admin: &[String]) {
    let bootstrap = c.bootstrap();
    wait_until(
        "a TLS quorum with a leader",
        Duration::from_secs(30),
        || {
            let out = kraftctl(
                &bootstrap,
                admin,
                &["quorum", "describe", "--status", "--output", "json"],
            );
            async move {
                let s = String::from_utf8_lossy(&out.stdout).to_string();
                if out.status.success()
                    && s.contains("\"leader_id\"")
                    && !s.contains("\"leader_id\": -1")
                {
                    Ok(())
                } else {
                    Err(text(&out))
                }
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mtls_roles_and_wrong_ca() {
    let certs = Certs::new();
    let mut c = start(&certs, "required", &[]);
    let admin = certs.client_args(Some("admin"));
    wait_ready(&c, &admin).await;
    let bootstrap = c.bootstrap();

    let broker1 = certs.security("broker-1");
    let client = Client::connect_with(
        &bootstrap,
        ClientConfig {
            security: broker1,
            ..ClientConfig::default()
        },
    )
    .await
    .expect("broker-1 connects with its certificate");
    let cluster_id = client
        .describe_cluster(false)
        .await
        .expect("a broker may describe the cluster")
        .cluster_id;
    let register = |id: i32| RegisterBrokerRequest {
        broker_id: id,
        incarnation_id: uuid::Uuid::new_v4().to_string(),
        listeners: vec![kraft_client::proto::Listener {
            name: "SSL".into(),
            host: "127.0.0.1".into(),
            port: 19_092,
            security_protocol: "SSL".into(),
        }],
        features: vec![],
        rack: None,
        cluster_id: cluster_id.clone(),
    };
    // broker-1 may register as broker 1, not as broker 2.
    let err = client
        .register_broker(register(2))
        .await
        .expect_err("broker-1 registering as broker 2");
    match &err {
        ClientError::Rpc { status, .. } => {
            assert_eq!(status.code(), tonic::Code::PermissionDenied, "{err}");
            assert!(status.message().contains("broker_id"), "{err}");
        }
        other => panic!("expected PERMISSION_DENIED, got {other}"),
    }
    let ok = client
        .register_broker(register(1))
        .await
        .expect("broker-1 registers as itself");
    assert!(ok.broker_epoch > 0, "{ok:?}");
    // Heartbeats (as itself) unfence it, so topics can be placed on it.
    wait_until("broker 1 unfenced", Duration::from_secs(30), || {
        let client = client.clone();
        async move {
            let r = client
                .broker_heartbeat(kraft_client::proto::BrokerHeartbeatRequest {
                    broker_id: 1,
                    broker_epoch: ok.broker_epoch,
                    current_metadata_offset: i64::from(i32::MAX),
                    want_fence: false,
                    want_shut_down: false,
                })
                .await
                .map_err(|e| e.to_string())?;
            if r.is_fenced {
                Err(format!("{r:?}"))
            } else {
                Ok(())
            }
        }
    })
    .await;

    let out = kraftctl(
        &bootstrap,
        &admin,
        &[
            "topics",
            "create",
            "--topic",
            "secure-1",
            "--partitions",
            "1",
            "--replication-factor",
            "1",
        ],
    );
    assert!(out.status.success(), "admin create: {}", text(&out));

    // A broker certificate cannot create topics, but may read.
    let broker = certs.client_args(Some("broker-1"));
    let out = kraftctl(
        &bootstrap,
        &broker,
        &[
            "topics",
            "create",
            "--topic",
            "secure-2",
            "--partitions",
            "1",
            "--replication-factor",
            "1",
        ],
    );
    assert!(!out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("PermissionDenied") && err.contains("lacks role admin"),
        "{}",
        text(&out)
    );
    let out = kraftctl(&bootstrap, &broker, &["topics", "list"]);
    assert!(out.status.success(), "{}", text(&out));
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        listed.contains("secure-1") && !listed.contains("secure-2"),
        "{listed}"
    );

    // A reader reads but cannot delete.
    let reader = certs.client_args(Some("grafana"));
    let out = kraftctl(
        &bootstrap,
        &reader,
        &["topics", "delete", "--topic", "secure-1"],
    );
    assert!(!out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("PermissionDenied"));

    // Without a client certificate, or in plaintext, nothing is served.
    let no_cert = certs.client_args(None);
    let out = kraftctl(&bootstrap, &no_cert, &["topics", "list"]);
    assert!(
        !out.status.success(),
        "no client certificate: {}",
        text(&out)
    );
    let out = kraftctl(&bootstrap, &[], &["topics", "list"]);
    assert!(!out.status.success(), "plaintext: {}", text(&out));
    // The server logs a refused handshake right after refusing it: wait for the line.
    let refusals = wait_until("handshake refusals logged", Duration::from_secs(10), || {
        let n: usize = (1..=3)
            .map(|id| c.log(id).matches("TLS handshake refused").count())
            .sum();
        async move {
            if n > 0 {
                Ok(n)
            } else {
                Err("none yet".to_string())
            }
        }
    })
    .await;
    assert!(
        (1..=3).any(|id| c.log(id).contains("refused: missing role")),
        "role refusals are logged"
    );

    // A controller whose certificate comes from another CA cannot join.
    let rogue = Certs::new();
    c.spawn_joiner_with(4, &rogue.server_args("required"));
    wait_until(
        "the rogue joiner to be refused",
        Duration::from_secs(30),
        || {
            let joiner = c.log(4);
            let refused = (1..=3)
                .map(|id| c.log(id).matches("TLS handshake refused").count())
                .sum::<usize>()
                > refusals;
            async move {
                if joiner.contains("join failed") && refused {
                    Ok(())
                } else {
                    Err(joiner.lines().rev().take(5).collect::<Vec<_>>().join("\n"))
                }
            }
        },
    )
    .await;
    let out = kraftctl(
        &bootstrap,
        &admin,
        &["quorum", "describe", "--replication", "--output", "json"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let ids = |key: &str| -> Vec<i64> {
        json.get(key)
            .and_then(|v| v.as_array())
            .map(|a| a.iter().filter_map(|r| r["node_id"].as_i64()).collect())
            .unwrap_or_default()
    };
    assert_eq!(ids("current_voters"), vec![1, 2, 3], "{json}");
    assert!(!ids("current_observers").contains(&4), "{json}");
    let out = kraftctl(&bootstrap, &admin, &["topics", "list"]);
    assert!(out.status.success(), "quorum still serves: {}", text(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn certificate_reload_without_restart() {
    let certs = Certs::new();
    let c = start(&certs, "required", &[]);
    let admin = certs.client_args(Some("admin"));
    wait_ready(&c, &admin).await;
    let bootstrap = c.bootstrap();

    // A new CA: a client trusting only it cannot talk to the controllers yet.
    let next = Certs::new();
    let next_admin = next.client_args(Some("admin"));
    let out = kraftctl(&bootstrap, &next_admin, &["topics", "list"]);
    assert!(!out.status.success(), "before rotation: {}", text(&out));

    // Rotate in place: the bundle trusts both CAs, the controllers serve the new certificate.
    let both = [
        std::fs::read(certs.path("ca.crt")).expect("old ca"),
        std::fs::read(next.path("ca.crt")).expect("new ca"),
    ]
    .concat();
    replace(&certs.path("ca.crt"), &both);
    replace(
        &certs.path("controller.key"),
        &std::fs::read(next.path("controller.key")).expect("key"),
    );
    replace(
        &certs.path("controller.crt"),
        &std::fs::read(next.path("controller.crt")).expect("cert"),
    );

    wait_until(
        "the new certificate to be served",
        Duration::from_secs(30),
        || {
            let out = kraftctl(&bootstrap, &next_admin, &["topics", "list"]);
            async move {
                if out.status.success() {
                    Ok(())
                } else {
                    Err(text(&out))
                }
            }
        },
    )
    .await;
    wait_until(
        "every controller to log the reload",
        Duration::from_secs(30),
        || {
            let reloaded = (1..=3)
                .filter(|id| c.log(*id).contains("TLS certificate reloaded"))
                .count();
            async move {
                if reloaded == 3 {
                    Ok(())
                } else {
                    Err(format!("{reloaded} of 3 reloaded"))
                }
            }
        },
    )
    .await;
    // The quorum still works over the rotated peer links: a write commits.
    let out = kraftctl(
        &bootstrap,
        &next_admin,
        &[
            "topics",
            "create",
            "--topic",
            "after-rotation",
            "--partitions",
            "1",
            "--replication-factor",
            "1",
        ],
    );
    // No broker is registered, so the topic cannot be placed; the controller answered.
    let answered =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        answered.contains("INVALID_REPLICATION_FACTOR") || out.status.success(),
        "{}",
        text(&out)
    );
}

/// Atomically replaces `path` (as a Kubernetes secret update would).
fn replace(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).expect("write tmp");
    std::fs::rename(&tmp, path).expect("rename");
}

#[tokio::test(flavor = "multi_thread")]
async fn bearer_tokens_when_client_certificates_are_optional() {
    let certs = Certs::new();
    let tokens = certs.path("tokens");
    std::fs::write(
        &tokens,
        "# principal token\nadmin 0123456789abcdef-admin\ngrafana 0123456789abcdef-reader\n",
    )
    .expect("tokens");
    std::fs::write(certs.path("admin.token"), "0123456789abcdef-admin\n").expect("token");
    std::fs::write(certs.path("reader.token"), "0123456789abcdef-reader\n").expect("token");
    std::fs::write(certs.path("bad.token"), "not-a-known-token-at-all\n").expect("token");
    let c = start(
        &certs,
        "optional",
        &["--auth-tokens-file".into(), tokens.display().to_string()],
    );
    let admin_cert = certs.client_args(Some("admin"));
    wait_ready(&c, &admin_cert).await;
    let bootstrap = c.bootstrap();
    let with_token = |file: &str| {
        let mut a = certs.client_args(None);
        a.extend(["--token-file".into(), certs.s(file)]);
        a
    };

    let out = kraftctl(
        &bootstrap,
        &with_token("admin.token"),
        &[
            "configs",
            "alter",
            "--entity-type",
            "brokers",
            "--entity-default",
            "--add-config",
            "log.retention.ms=7200000",
        ],
    );
    assert!(
        out.status.success(),
        "admin token alters configs: {}",
        text(&out)
    );
    let out = kraftctl(&bootstrap, &with_token("reader.token"), &["topics", "list"]);
    assert!(out.status.success(), "reader token lists: {}", text(&out));
    let out = kraftctl(
        &bootstrap,
        &with_token("reader.token"),
        &[
            "topics",
            "create",
            "--topic",
            "t",
            "--partitions",
            "1",
            "--replication-factor",
            "1",
        ],
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("PermissionDenied"),
        "{}",
        text(&out)
    );
    let out = kraftctl(&bootstrap, &with_token("bad.token"), &["topics", "list"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Unauthenticated"),
        "{}",
        text(&out)
    );
    // Neither certificate nor token.
    let out = kraftctl(&bootstrap, &certs.client_args(None), &["topics", "list"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Unauthenticated") && err.contains("requires authentication"),
        "{}",
        text(&out)
    );
    // Health stays open to unauthenticated callers (probes).
    let channel = Security::from_files(Some(&certs.path("ca.crt")), None, None, None)
        .expect("ca only")
        .endpoint(&format!("http://{}", c.addr(1)))
        .expect("endpoint")
        .connect()
        .await
        .expect("TLS connect without a client certificate");
    // Answered (not refused) without credentials; SERVING once this node knows the leader.
    wait_until(
        "health SERVING to an unauthenticated caller",
        Duration::from_secs(10),
        || {
            let channel = channel.clone();
            async move {
                let health = tonic_health::pb::health_client::HealthClient::new(channel)
                    .check(tonic_health::pb::HealthCheckRequest {
                        service: String::new(),
                    })
                    .await
                    .map_err(|s| format!("refused: {s}"))?
                    .into_inner();
                if health.status
                    == tonic_health::pb::health_check_response::ServingStatus::Serving as i32
                {
                    Ok(())
                } else {
                    Err(format!("status {}", health.status))
                }
            }
        },
    )
    .await;
}
