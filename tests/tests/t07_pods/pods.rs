//! Runs the StatefulSet in `deploy/kubernetes/` as local processes: each "pod" gets exactly
//! the container's command, args and environment from the manifest (parsed here, not copied),
//! its ConfigMap files, and its own data directory. Shared by t07 and t08 through `#[path]`.
//!
//! What a kubelet and cluster DNS would provide is replaced by four test-only settings, all
//! documented kraftd keys, set *in addition to* the manifest's environment:
//!
//! | in a cluster                          | here                                           |
//! |---------------------------------------|------------------------------------------------|
//! | hostname `kraft-N` (pod name)         | `KRAFTD_HOSTNAME=kraft-N`                      |
//! | pod IP, `listen = "0.0.0.0:9093"`     | `KRAFTD_LISTEN=127.0.0.1:<OS-assigned port>`   |
//! | PVC mounted at `/var/lib/kraftd`      | `KRAFTD_DATA_DIR=<temp>/data-kraft-N`          |
//! | DNS `kraft-N.kraft-headless.NS.svc`   | `KRAFTD_RESOLVE=kraft-N...svc:9093=127.0.0.1:<port>,...` |
//! | pod IP, `metrics_listen = "0.0.0.0:9100"` | `KRAFTD_METRICS_LISTEN=127.0.0.1:<OS-assigned port>` |
//!
//! and the ConfigMap volume's mount path in args is rewritten to a temp directory holding
//! the ConfigMap's files. The TLS Secret is emulated by certificates made here with
//! `kraft_client::certs` (what `kraftctl certs create` writes), its mount path rewritten in the
//! ConfigMap's files; clients use an `admin` certificate from the same CA. `fieldRef`s are resolved (namespace `default`, pod name), and
//! `$(VAR)` references in command and args are expanded as Kubernetes does.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kraft_client::certs::{Ca, write};
use kraft_client::{ClientConfig, Security};
use serde_norway::Value;
use tempfile::TempDir;

/// The namespace the pods pretend to run in.
pub const NAMESPACE: &str = "default";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn load(file: &str) -> Value {
    let path = repo_root().join("deploy/kubernetes").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

fn s(v: &Value, what: &str) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("{what}: expected a string, got {v:?}"))
        .to_string()
}

fn strings(v: &Value, what: &str) -> Vec<String> {
    match v {
        Value::Null => vec![],
        Value::Sequence(items) => items.iter().map(|i| s(i, what)).collect(),
        other => panic!("{what}: expected a list, got {other:?}"),
    }
}

/// One manifest env entry: a literal value or a downward-API field.
#[derive(Debug, Clone)]
pub enum EnvSource {
    /// `value:`
    Value(String),
    /// `valueFrom.fieldRef.fieldPath`
    Field(String),
}

/// What the StatefulSet gives every pod, as parsed from the manifests.
#[derive(Debug, Clone)]
pub struct PodTemplate {
    /// StatefulSet name (pod names are `NAME-ORDINAL`).
    pub name: String,
    /// Headless service name.
    pub service_name: String,
    /// `spec.replicas`.
    pub replicas: u64,
    /// Container command.
    pub command: Vec<String>,
    /// Container args.
    pub args: Vec<String>,
    /// Container env, in order.
    pub env: Vec<(String, EnvSource)>,
    /// The `grpc` container port.
    pub port: u16,
    /// The `metrics` container port (HTTP: /metrics and the probes).
    pub metrics_port: u16,
    /// Readiness probe: HTTP GET path on the metrics port.
    pub readiness_path: String,
    /// Liveness probe: HTTP GET path on the metrics port.
    pub liveness_path: String,
    /// ConfigMap mounts: mount path → files (name → content).
    pub config_mounts: BTreeMap<String, BTreeMap<String, String>>,
    /// Secret mounts: mount path → secret name.
    pub secret_mounts: BTreeMap<String, String>,
    /// Mount path of the volumeClaimTemplate `data`.
    pub data_mount: String,
    /// `terminationGracePeriodSeconds`.
    pub grace: Duration,
}

impl PodTemplate {
    /// Parses `deploy/kubernetes/statefulset.yaml` and the ConfigMaps it mounts.
    pub fn from_manifests() -> PodTemplate {
        let sts = load("statefulset.yaml");
        assert_eq!(sts["kind"].as_str(), Some("StatefulSet"));
        let spec = &sts["spec"];
        let pod = &spec["template"]["spec"];
        let containers = pod["containers"].as_sequence().expect("containers");
        assert_eq!(containers.len(), 1, "one container per pod");
        let c = &containers[0];
        let env = c["env"]
            .as_sequence()
            .map(|items| {
                items
                    .iter()
                    .map(|e| {
                        let name = s(&e["name"], "env name");
                        let src = if let Some(v) = e.get("value") {
                            EnvSource::Value(s(v, "env value"))
                        } else {
                            EnvSource::Field(s(
                                &e["valueFrom"]["fieldRef"]["fieldPath"],
                                "env fieldRef (only fieldRef is supported here)",
                            ))
                        };
                        (name, src)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let named_port = |name: &str| {
            c["ports"]
                .as_sequence()
                .expect("ports")
                .iter()
                .find(|p| p["name"].as_str() == Some(name))
                .and_then(|p| p["containerPort"].as_u64())
                .unwrap_or_else(|| panic!("a port named {name}")) as u16
        };
        let port = named_port("grpc");
        let metrics_port = named_port("metrics");
        let probe_path = |probe: &str| {
            let get = &c[probe]["httpGet"];
            assert_eq!(
                get["port"].as_str(),
                Some("metrics"),
                "{probe} probes the metrics port"
            );
            s(&get["path"], "probe path")
        };

        let configmaps: BTreeMap<String, BTreeMap<String, String>> = ["configmap.yaml"]
            .iter()
            .map(|f| load(f))
            .map(|cm| {
                let files = cm["data"]
                    .as_mapping()
                    .expect("ConfigMap data")
                    .iter()
                    .map(|(k, v)| (s(k, "data key"), s(v, "data value")))
                    .collect();
                (s(&cm["metadata"]["name"], "ConfigMap name"), files)
            })
            .collect();
        let volumes: BTreeMap<String, &Value> = pod["volumes"]
            .as_sequence()
            .map(|vs| vs.iter().map(|v| (s(&v["name"], "volume"), v)).collect())
            .unwrap_or_default();
        let claims: Vec<String> = spec["volumeClaimTemplates"]
            .as_sequence()
            .map(|vs| {
                vs.iter()
                    .map(|v| s(&v["metadata"]["name"], "claim"))
                    .collect()
            })
            .unwrap_or_default();
        let mut config_mounts = BTreeMap::new();
        let mut secret_mounts = BTreeMap::new();
        let mut data_mount = None;
        for m in c["volumeMounts"].as_sequence().expect("volumeMounts") {
            let name = s(&m["name"], "mount name");
            let path = s(&m["mountPath"], "mountPath");
            if claims.contains(&name) {
                data_mount = Some(path);
            } else if let Some(secret) = volumes
                .get(&name)
                .and_then(|v| v["secret"]["secretName"].as_str())
            {
                secret_mounts.insert(path, secret.to_string());
            } else if let Some(v) = volumes.get(&name) {
                let cm = s(&v["configMap"]["name"], "configMap volume");
                let files = configmaps
                    .get(&cm)
                    .unwrap_or_else(|| panic!("ConfigMap {cm} is not in the manifests"))
                    .clone();
                config_mounts.insert(path, files);
            } else {
                panic!("mount {name} has no volume");
            }
        }
        PodTemplate {
            name: s(&sts["metadata"]["name"], "name"),
            service_name: s(&spec["serviceName"], "serviceName"),
            replicas: spec["replicas"].as_u64().expect("replicas"),
            command: strings(&c["command"], "command"),
            args: strings(&c["args"], "args"),
            env,
            port,
            metrics_port,
            readiness_path: probe_path("readinessProbe"),
            liveness_path: probe_path("livenessProbe"),
            config_mounts,
            secret_mounts,
            data_mount: data_mount.expect("a volumeClaimTemplate mount"),
            grace: Duration::from_secs(pod["terminationGracePeriodSeconds"].as_u64().unwrap_or(30)),
        }
    }

    /// The stable DNS endpoint of pod `ordinal` (what the headless service provides).
    pub fn dns_endpoint(&self, ordinal: u64) -> String {
        format!(
            "{}-{ordinal}.{}.{NAMESPACE}.svc:{}",
            self.name, self.service_name, self.port
        )
    }
}

/// Expands `$(VAR)` as Kubernetes does for command and args (`$$` escapes; unknown stays).
pub fn expand(text: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('(')
            && let Some(end) = body.find(')')
            && let Some(v) = env.get(&body[..end])
        {
            out.push_str(v);
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

struct Pod {
    ordinal: u64,
    addr: String,
    metrics_addr: String,
    log_path: PathBuf,
    child: Option<Child>,
}

/// The StatefulSet's pods as local `kraftd` processes, killed (and their logs printed if the
/// test failed) on drop.
pub struct Pods {
    dir: TempDir,
    /// The parsed pod template.
    pub template: PodTemplate,
    pods: Vec<Pod>,
}

impl Pods {
    /// Allocates a port and directories per pod; starts none.
    pub fn prepare(template: PodTemplate) -> Pods {
        let dir = tempfile::Builder::new()
            .prefix("kraftd-pods-")
            .tempdir()
            .expect("temp dir");
        let pods = (0..template.replicas)
            .map(|ordinal| Pod {
                ordinal,
                addr: format!("127.0.0.1:{}", kraft_tests::free_port()),
                metrics_addr: format!("127.0.0.1:{}", kraft_tests::free_port()),
                log_path: dir.path().join(format!("{}-{ordinal}.log", template.name)),
                child: None,
            })
            .collect();
        // The TLS Secret: one CA, the controllers' shared certificate for their DNS names
        // (and 127.0.0.1, which the resolve setting makes them dial), an admin for clients.
        let ca = Ca::new("pods-ca", 1).expect("ca");
        let mut hosts = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        hosts.extend((0..template.replicas).map(|o| {
            let ep = template.dns_endpoint(o);
            ep.rsplit_once(':')
                .map(|(h, _)| h.to_string())
                .unwrap_or(ep)
        }));
        let controller = ca.issue("controller", &hosts).expect("controller cert");
        for secret in template.secret_mounts.values() {
            let d = dir.path().join(format!("secret-{secret}"));
            std::fs::create_dir_all(&d).expect("secret dir");
            std::fs::write(d.join("ca.crt"), &ca.pem().cert).expect("ca.crt");
            std::fs::write(d.join("tls.crt"), &controller.cert).expect("tls.crt");
            std::fs::write(d.join("tls.key"), &controller.key).expect("tls.key");
        }
        let client = dir.path().join("client");
        write(&client, "ca", ca.pem()).expect("client ca");
        write(&client, "admin", &ca.issue("admin", &[]).expect("admin")).expect("admin");
        Pods {
            dir,
            template,
            pods,
        }
    }

    /// A client config trusting the pods' CA and presenting the `admin` certificate.
    pub fn client_config(&self) -> ClientConfig {
        let d = self.dir.path().join("client");
        ClientConfig {
            security: Security::from_files(
                Some(&d.join("ca.crt")),
                Some(&d.join("admin.crt")),
                Some(&d.join("admin.key")),
                None,
            )
            .expect("client TLS files"),
            ..ClientConfig::default()
        }
    }

    /// `kraftctl` flags for [`Pods::client_config`]'s identity.
    pub fn kraftctl_flags(&self) -> Vec<String> {
        let d = self.dir.path().join("client");
        let f = |n: &str| d.join(n).display().to_string();
        vec![
            "--tls-ca-file".into(),
            f("ca.crt"),
            "--tls-cert-file".into(),
            f("admin.crt"),
            "--tls-key-file".into(),
            f("admin.key"),
        ]
    }

    /// `host:port` of pod `ordinal`'s metrics (and probe) endpoint.
    pub fn metrics_addr(&self, ordinal: u64) -> String {
        self.pods[ordinal as usize].metrics_addr.clone()
    }

    /// Every pod's local endpoint, comma-separated (a `--bootstrap-server`).
    pub fn bootstrap(&self) -> String {
        self.pods
            .iter()
            .map(|p| p.addr.clone())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Local endpoint of pod `ordinal`.
    pub fn addr(&self, ordinal: u64) -> String {
        self.pods[ordinal as usize].addr.clone()
    }

    /// Pod name `NAME-ORDINAL`.
    pub fn pod_name(&self, ordinal: u64) -> String {
        format!("{}-{ordinal}", self.template.name)
    }

    /// Pod `ordinal`'s log so far.
    pub fn log(&self, ordinal: u64) -> String {
        std::fs::read_to_string(&self.pods[ordinal as usize].log_path).unwrap_or_default()
    }

    /// The command line and environment pod `ordinal` runs with.
    pub fn command(&self, ordinal: u64) -> Command {
        let t = &self.template;
        let pod_name = self.pod_name(ordinal);
        // The manifest's env, fieldRefs resolved.
        let mut env: BTreeMap<String, String> = BTreeMap::new();
        let mut ordered = Vec::new();
        for (name, src) in &t.env {
            let value = match src {
                EnvSource::Value(v) => expand(v, &env),
                EnvSource::Field(f) => match f.as_str() {
                    "metadata.namespace" => NAMESPACE.to_string(),
                    "metadata.name" => pod_name.clone(),
                    other => panic!("fieldRef {other} is not emulated by this test"),
                },
            };
            env.insert(name.clone(), value.clone());
            ordered.push((name.clone(), value));
        }
        // Mounts: ConfigMap files into a per-pod directory, data into another.
        let mut args: Vec<String> = t.args.iter().map(|a| expand(a, &env)).collect();
        for (mount, files) in &t.config_mounts {
            let local = self.dir.path().join(format!(
                "{pod_name}{}",
                mount.replace('/', "-").trim_end_matches('-')
            ));
            std::fs::create_dir_all(&local).expect("config mount dir");
            for (name, content) in files {
                // Secret volumes mounted below: their paths point at the emulated secret.
                let mut content = content.clone();
                for (path, secret) in &t.secret_mounts {
                    let dir = self.dir.path().join(format!("secret-{secret}"));
                    content = content.replace(path.as_str(), &dir.display().to_string());
                }
                std::fs::write(local.join(name), content).expect("write ConfigMap file");
            }
            for a in &mut args {
                if let Some(rest) = a.strip_prefix(mount.as_str()) {
                    *a = format!("{}{rest}", local.display());
                }
            }
        }
        let data = self.dir.path().join(format!("data-{pod_name}"));
        let resolve = (0..t.replicas)
            .map(|o| format!("{}={}", t.dns_endpoint(o), self.addr(o)))
            .collect::<Vec<_>>()
            .join(",");

        let command: Vec<String> = t.command.iter().map(|c| expand(c, &env)).collect();
        let program = Path::new(&command[0])
            .file_name()
            .and_then(|n| n.to_str())
            .expect("command[0]");
        let mut cmd = Command::new(kraft_tests::binary(program));
        cmd.env_clear()
            .args(&command[1..])
            .args(&args)
            .envs(ordered)
            .env("KRAFTD_HOSTNAME", &pod_name)
            .env("KRAFTD_LISTEN", self.addr(ordinal))
            .env("KRAFTD_DATA_DIR", &data)
            .env("KRAFTD_RESOLVE", resolve)
            .env("KRAFTD_METRICS_LISTEN", self.metrics_addr(ordinal));
        cmd
    }

    /// Starts pod `ordinal` (again).
    pub fn start(&mut self, ordinal: u64) {
        let mut cmd = self.command(ordinal);
        let pod = &mut self.pods[ordinal as usize];
        assert!(pod.child.is_none(), "pod {ordinal} is already running");
        let log = File::options()
            .create(true)
            .append(true)
            .open(&pod.log_path)
            .expect("open pod log");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().expect("clone log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn kraftd");
        pod.child = Some(child);
    }

    /// SIGTERM, as the kubelet sends, then waits for the exit; SIGKILLs and panics if the pod
    /// outlives its terminationGracePeriodSeconds (the kubelet would SIGKILL it too). Returns
    /// how long the shutdown took.
    pub async fn terminate(&mut self, ordinal: u64) -> Duration {
        let grace = self.template.grace;
        let pod = &mut self.pods[ordinal as usize];
        let mut child = pod.child.take().expect("pod is running");
        let started = Instant::now();
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                return started.elapsed();
            }
            if started.elapsed() > grace {
                let _ = child.kill();
                let _ = child.wait();
                panic!("pod {ordinal} did not exit within {grace:?} of SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// True while pod `ordinal` runs.
    pub fn is_running(&mut self, ordinal: u64) -> bool {
        matches!(
            self.pods[ordinal as usize]
                .child
                .as_mut()
                .map(|c| c.try_wait()),
            Some(Ok(None))
        )
    }
}

impl Drop for Pods {
    fn drop(&mut self) {
        let failed = std::thread::panicking();
        for p in &mut self.pods {
            if let Some(mut c) = p.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
            if failed {
                let text = std::fs::read_to_string(&p.log_path).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                let tail = &lines[lines.len().saturating_sub(40)..];
                eprintln!(
                    "----- pod {} log (last {} lines) -----",
                    p.ordinal,
                    tail.len()
                );
                for l in tail {
                    eprintln!("{l}");
                }
            }
        }
    }
}

/// `GET path` on `addr` as a kubelet httpGet probe asks it: success is a 2xx status.
pub async fn probe(addr: &str, path: &str) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        tcp.write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut resp = Vec::new();
        tcp.read_to_end(&mut resp)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<String, String>(String::from_utf8_lossy(&resp).into_owned())
    };
    let resp = tokio::time::timeout(Duration::from_secs(2), exchange)
        .await
        .map_err(|_| format!("GET {path}: timed out"))??;
    let status = resp.lines().next().unwrap_or_default();
    if status
        .split_whitespace()
        .nth(1)
        .is_some_and(|c| c.starts_with('2'))
    {
        Ok(())
    } else {
        Err(format!("GET {path}: {status}"))
    }
}
