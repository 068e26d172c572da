//! The deployment files are correct Kubernetes: every plain manifest in `deploy/kubernetes/`
//! and every object the Helm chart renders validates strictly against the Kubernetes schema
//! (`kubernetes-validate --strict`, from PyPI), `kubectl kustomize` renders the plain
//! manifests unchanged, and the chart with default values renders exactly the same objects as
//! the plain manifests (`helm template`), so the two can never drift apart.
//!
//! Tools: `kubernetes-validate`, `kubectl` and `helm` (`.ci/run` installs them). Without one,
//! the test that needs it fails when `KRAFTD_REQUIRE_DEPLOY_TOOLS` is set and is skipped with a notice elsewhere.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_norway::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// `name` on PATH (or in `~/go/bin`, where `go install` puts helm). With `KRAFTD_REQUIRE_DEPLOY_TOOLS` set a missing tool is
/// a failure; elsewhere the calling test is skipped.
fn tool(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(Path::new(&home).join("go/bin"));
    }
    let found = dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file());
    if found.is_none() {
        let hint = "run .ci/run, or install it as .ci/run does";
        assert!(
            std::env::var_os("KRAFTD_REQUIRE_DEPLOY_TOOLS").is_none(),
            "{name} not found on PATH with KRAFTD_REQUIRE_DEPLOY_TOOLS set ({hint})"
        );
        eprintln!("SKIPPED: {name} not found on PATH ({hint})");
    }
    found
}

/// Runs `cmd` with a deadline (a hung tool must not hang CI); returns (success, stdout, stderr).
fn run(mut cmd: Command, timeout: Duration) -> (bool, String, String) {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    let pid = child.id();
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut o = String::new();
        let mut e = String::new();
        let _ = out.read_to_string(&mut o);
        let _ = err.read_to_string(&mut e);
        let status = child.wait();
        let _ = tx.send((status, o, e));
    });
    match rx.recv_timeout(timeout) {
        Ok((status, o, e)) => (status.map(|s| s.success()).unwrap_or(false), o, e),
        Err(_) => {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            panic!("{what} did not finish within {timeout:?}");
        }
    }
}

const TIMEOUT: Duration = Duration::from_secs(120);

/// The plain manifests (every YAML file but kustomization.yaml), sorted.
fn plain_manifest_files() -> Vec<PathBuf> {
    let dir = repo_root().join("deploy/kubernetes");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("deploy/kubernetes")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .filter(|p| p.file_name().is_some_and(|n| n != "kustomization.yaml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 5,
        "expected the plain manifests, got {files:?}"
    );
    files
}

/// Objects of a multi-document YAML stream, keyed by `Kind/name`.
fn objects(yaml: &str, source: &str) -> BTreeMap<String, Value> {
    let mut docs = BTreeMap::new();
    let mut current = String::new();
    let mut flush = |text: &mut String| {
        let v: Value = serde_norway::from_str(text)
            .unwrap_or_else(|e| panic!("{source}: invalid YAML: {e}\n{text}"));
        text.clear();
        if v.is_null() {
            return;
        }
        let key = format!(
            "{}/{}",
            v["kind"].as_str().unwrap_or("?"),
            v["metadata"]["name"].as_str().unwrap_or("?")
        );
        assert!(
            docs.insert(key.clone(), v).is_none(),
            "{source}: {key} twice"
        );
    };
    for line in yaml.lines() {
        if line.trim_end() == "---" {
            flush(&mut current);
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    flush(&mut current);
    docs
}

fn plain_objects() -> BTreeMap<String, Value> {
    let mut all = BTreeMap::new();
    for f in plain_manifest_files() {
        let text = std::fs::read_to_string(&f).expect("read manifest");
        all.extend(objects(&text, &f.display().to_string()));
    }
    all
}

fn assert_same_objects(want: &BTreeMap<String, Value>, got: &BTreeMap<String, Value>, what: &str) {
    assert_eq!(
        want.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>(),
        "{what}: different objects"
    );
    for (k, w) in want {
        let g = &got[k];
        assert!(
            w == g,
            "{what}: {k} differs\n--- plain manifest\n{}\n--- rendered\n{}",
            serde_norway::to_string(w).unwrap_or_default(),
            serde_norway::to_string(g).unwrap_or_default()
        );
    }
}

fn validate_strict(validator: &Path, files: &[PathBuf]) {
    let mut cmd = Command::new(validator);
    cmd.arg("--strict").args(files);
    let (ok, out, err) = run(cmd, TIMEOUT);
    println!("{out}{err}");
    assert!(ok, "kubernetes-validate --strict failed:\n{out}{err}");
    // One "passed" line per object, so an empty or unparsed file cannot pass silently.
    let objects: usize = files
        .iter()
        .map(|f| objects(&std::fs::read_to_string(f).expect("read"), "count").len())
        .sum();
    assert_eq!(
        out.matches(" passed for resource ").count() + err.matches(" passed for resource ").count(),
        objects,
        "every object must be validated:\n{out}{err}"
    );
}

fn helm_template(helm: &Path, dir: &Path, name: &str, sets: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new(helm);
    cmd.arg("template")
        .arg("kraft")
        .arg(repo_root().join("deploy/helm/kraftd"))
        .arg("--namespace")
        .arg("default");
    for s in sets {
        cmd.arg("--set").arg(s);
    }
    let (ok, out, err) = run(cmd, TIMEOUT);
    if ok {
        std::fs::write(dir.join(name), &out).expect("write rendered chart");
    }
    (ok, out, err)
}

/// Bytes of a Kubernetes memory quantity with a binary suffix (`512Mi`, `1Gi`) or none.
fn memory_bytes(q: &str) -> u64 {
    let (digits, unit) = q.split_at(q.find(|c: char| !c.is_ascii_digit()).unwrap_or(q.len()));
    let n: u64 = digits
        .parse()
        .unwrap_or_else(|e| panic!("memory quantity {q:?}: {e}"));
    let scale = match unit {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        other => panic!("memory quantity {q:?}: unit {other:?} not handled here"),
    };
    n * scale
}

/// Issue 6's scale target: 1 M partitions in at most 1 GiB of RSS per controller (measured
/// 555–620 MiB on the active one). The pod's memory limit must hold that, or a cluster inside
/// kraftd's own default limits (100 k topics) is OOM-killed. The chart renders the same
/// objects (`helm_chart_with_default_values_renders_the_plain_manifests`), so this covers both.
#[test]
fn the_default_memory_limit_holds_the_scale_target() {
    let objects = plain_objects();
    let sts = objects
        .get("StatefulSet/kraft")
        .expect("StatefulSet/kraft in deploy/kubernetes");
    let containers = sts["spec"]["template"]["spec"]["containers"]
        .as_sequence()
        .expect("containers");
    let kraftd = containers
        .iter()
        .find(|c| c["name"].as_str() == Some("kraftd"))
        .expect("container kraftd");
    let limit = kraftd["resources"]["limits"]["memory"]
        .as_str()
        .expect("resources.limits.memory");
    assert!(
        memory_bytes(limit) >= 1 << 30,
        "memory limit {limit} is below the 1 GiB the scale target allows a controller"
    );
    assert_eq!(memory_bytes("512Mi"), 512 << 20);
}

#[test]
fn plain_manifests_validate_strictly_against_the_kubernetes_schema() {
    let Some(validator) = tool("kubernetes-validate") else {
        return;
    };
    validate_strict(&validator, &plain_manifest_files());
}

#[test]
fn validation_rejects_an_unknown_field() {
    // Proves the check has teeth: strict mode rejects a misspelt field.
    let Some(validator) = tool("kubernetes-validate") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let text = std::fs::read_to_string(repo_root().join("deploy/kubernetes/statefulset.yaml"))
        .expect("statefulset.yaml");
    let bad = text.replacen(
        "podManagementPolicy: Parallel",
        "podManagementPolicy: Parallel\n  podManagmentPolicy: Parallel",
        1,
    );
    assert_ne!(bad, text);
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, bad).expect("write");
    let mut cmd = Command::new(validator);
    cmd.arg("--strict").arg(&path);
    let (ok, out, err) = run(cmd, TIMEOUT);
    assert!(
        !ok,
        "a misspelt field must fail strict validation:\n{out}{err}"
    );
}

#[test]
fn kustomize_renders_the_plain_manifests() {
    let Some(kubectl) = tool("kubectl") else {
        return;
    };
    let mut cmd = Command::new(kubectl);
    cmd.arg("kustomize")
        .arg(repo_root().join("deploy/kubernetes"));
    let (ok, out, err) = run(cmd, TIMEOUT);
    assert!(ok, "kubectl kustomize failed:\n{err}");
    assert_same_objects(&plain_objects(), &objects(&out, "kustomize"), "kustomize");
}

#[test]
fn helm_chart_with_default_values_renders_the_plain_manifests() {
    let Some(helm) = tool("helm") else {
        return;
    };
    let mut lint = Command::new(&helm);
    lint.arg("lint")
        .arg("--strict")
        .arg(repo_root().join("deploy/helm/kraftd"));
    let (ok, out, err) = run(lint, TIMEOUT);
    assert!(ok, "helm lint --strict failed:\n{out}{err}");

    let dir = tempfile::tempdir().expect("temp dir");
    let (ok, out, err) = helm_template(&helm, dir.path(), "default.yaml", &[]);
    assert!(ok, "helm template failed:\n{err}");
    assert_same_objects(&plain_objects(), &objects(&out, "helm"), "helm template");
}

#[test]
fn helm_chart_renders_valid_manifests_for_other_values() {
    let (Some(helm), Some(validator)) = (tool("helm"), tool("kubernetes-validate")) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let variants: [(&str, &[&str]); 3] = [
        ("default.yaml", &[]),
        (
            "five.yaml",
            &[
                "replicas=5",
                "podAntiAffinity=soft",
                "storage.storageClassName=fast-ssd",
                "storage.size=50Gi",
                "extraConfig.snapshot_every=50000",
                "image.tag=0.2.0",
            ],
        ),
        ("port.yaml", &["port=19093", "logFormat=text"]),
    ];
    let mut files = Vec::new();
    for (name, sets) in variants {
        let (ok, _, err) = helm_template(&helm, dir.path(), name, sets);
        assert!(ok, "helm template {sets:?} failed:\n{err}");
        files.push(dir.path().join(name));
    }
    validate_strict(&validator, &files);

    let five = objects(
        &std::fs::read_to_string(dir.path().join("five.yaml")).expect("read"),
        "five",
    );
    assert_eq!(
        five["StatefulSet/kraft"]["spec"]["replicas"].as_u64(),
        Some(5)
    );
    let toml = five["ConfigMap/kraft-config"]["data"]["kraftd.toml"]
        .as_str()
        .expect("kraftd.toml");
    assert!(toml.contains("replicas = 5"), "{toml}");
    assert!(toml.contains("snapshot_every = 50000"), "{toml}");

    // Only 3 or 5 voters make sense for a static quorum.
    let (ok, _, err) = helm_template(&helm, dir.path(), "four.yaml", &["replicas=4"]);
    assert!(!ok && err.contains("replicas must be 3 or 5"), "{err}");
}

#[test]
fn helm_chart_refuses_plaintext_unless_asked() {
    let Some(helm) = tool("helm") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let (ok, _, err) = helm_template(&helm, dir.path(), "plain.yaml", &["tls.enabled=false"]);
    assert!(!ok, "plaintext must be refused by default");
    assert!(err.contains("allowPlaintext=true"), "{err}");
    let (ok, _, err) = helm_template(
        &helm,
        dir.path(),
        "plain.yaml",
        &["tls.enabled=false", "allowPlaintext=true"],
    );
    assert!(ok, "{err}");
    let plain = objects(
        &std::fs::read_to_string(dir.path().join("plain.yaml")).expect("read"),
        "plain",
    );
    let toml = plain["ConfigMap/kraft-config"]["data"]["kraftd.toml"]
        .as_str()
        .expect("kraftd.toml");
    assert!(!toml.contains("tls_cert_file"), "{toml}");
    // The default chart turns TLS on with client certificates required.
    let (ok, _, err) = helm_template(&helm, dir.path(), "default.yaml", &[]);
    assert!(ok, "{err}");
    let default = objects(
        &std::fs::read_to_string(dir.path().join("default.yaml")).expect("read"),
        "default",
    );
    let toml = default["ConfigMap/kraft-config"]["data"]["kraftd.toml"]
        .as_str()
        .expect("kraftd.toml");
    assert!(toml.contains("tls_client_auth = \"required\""), "{toml}");
}
