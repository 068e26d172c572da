//! Smoke of `kraft-bench --quick` at tiny sizes against real processes: each scenario must
//! produce its JSON with acknowledged operations. Figures are printed, never asserted on
//! (speed targets live in the benchmark, not in tests).
//!
//! Needs the workspace binaries (`cargo build --workspace --bins`). `peer-etcd` needs Debian's
//! `etcd-server`; without it that test prints a notice and passes, unless
//! `KRAFTD_REQUIRE_BENCH_TOOLS=1`.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::Value;

/// One scenario at a time: each starts several real processes, and five of them at once on a
/// 2-core machine compete for CPU and disk instead of running.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A quick run takes seconds; one still running after this is stopped and fails its test, so
/// a hung process cannot hold CI.
const DEADLINE: Duration = Duration::from_secs(240);

/// Runs `kraft-bench <args> --quick` and returns its JSON. The bench runs in its own process
/// group with `TMPDIR` under `out`, keeping its processes' directories (`KRAFT_BENCH_KEEP`):
/// whatever happens, the test's temporary directory takes every data directory with it, and a
/// failure shows the processes' logs.
fn bench(out: &Path, args: &[&str]) -> Value {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let tmp = out.join("tmp");
    std::fs::create_dir_all(&tmp).expect("temp dir for the bench");
    let (stdout_path, stderr_path) = (out.join("stdout.txt"), out.join("stderr.txt"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_kraft-bench"))
        .args(args)
        .args(["--quick", "--no-progress", "--out"])
        .arg(out)
        .env("TMPDIR", &tmp)
        .env("KRAFT_BENCH_KEEP", "1")
        .process_group(0)
        .stdout(File::create(&stdout_path).expect("stdout file"))
        .stderr(File::create(&stderr_path).expect("stderr file"))
        .spawn()
        .expect("start kraft-bench");
    let status = wait_or_stop(&mut child);
    let stdout = std::fs::read_to_string(&stdout_path).unwrap_or_default();
    println!("{stdout}");
    let failed = match status {
        Some(s) if s.success() => None,
        Some(s) => Some(format!("failed: {s}")),
        None => Some(format!("still running after {DEADLINE:?}; stopped")),
    };
    if let Some(why) = failed {
        let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
        panic!(
            "kraft-bench {args:?} {why}\nstdout:\n{stdout}\nstderr:\n{stderr}\n{}",
            diagnostics(&tmp)
        );
    }
    let file = out.join(format!("{}.json", args[0]));
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{} not written: {e}", file.display()));
    serde_json::from_str(&text).expect("valid JSON")
}

/// Waits for `child` until [`DEADLINE`]; past it, SIGTERMs its process group (the bench then
/// stops its processes), and SIGKILLs what is left 15 s later. `None` when it was stopped.
fn wait_or_stop(child: &mut Child) -> Option<ExitStatus> {
    if let Some(status) = wait_until(child, Instant::now() + DEADLINE) {
        return Some(status);
    }
    let group = Pid::from_raw(i32::try_from(child.id()).expect("pid fits i32"));
    let _ = killpg(group, Signal::SIGTERM);
    if wait_until(child, Instant::now() + Duration::from_secs(15)).is_none() {
        let _ = killpg(group, Signal::SIGKILL);
        let _ = child.wait();
    }
    None
}

/// `child`'s exit status, or `None` if it is still running at `deadline`.
fn wait_until(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            _ => return None,
        }
    }
}

/// The last lines of every process log the bench kept under `tmp`, and the free disk space.
fn diagnostics(tmp: &Path) -> String {
    let mut logs = Vec::new();
    let mut dirs = vec![tmp.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "log") {
                logs.push(path);
            }
        }
    }
    logs.sort();
    let mut text = String::new();
    for log in logs {
        let body = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<&str> = body.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        text.push_str(&format!("--- {}:\n{tail}\n", log.display()));
    }
    let df = Command::new("df")
        .args(["-h"])
        .arg(tmp)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    format!("process logs (last 20 lines each):\n{text}disk:\n{df}")
}

fn rows(v: &Value) -> &Vec<Value> {
    v["rows"].as_array().expect("rows")
}

fn etcd_available() -> bool {
    let ok = Command::new("etcd")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("KRAFTD_REQUIRE_BENCH_TOOLS").as_deref() != Ok("1"),
            "etcd is not installed and KRAFTD_REQUIRE_BENCH_TOOLS=1 (apt-get install -y etcd-server)"
        );
        println!("notice: etcd not installed (apt-get install -y etcd-server): peer-etcd skipped");
    }
    ok
}

#[test]
fn writes_quick_acknowledges_creates_and_isr_changes() {
    let out = tempfile::tempdir().expect("temp dir");
    let v = bench(
        out.path(),
        &[
            "writes",
            "--clients",
            "1,8",
            "--duration-secs",
            "0.5",
            "--max-ops",
            "40",
        ],
    );
    let rows = rows(&v);
    for op in ["create", "isr"] {
        for clients in [1, 8] {
            let r = rows
                .iter()
                .find(|r| r["op"] == op && r["clients"] == clients)
                .unwrap_or_else(|| panic!("no row for {op} x{clients}: {rows:?}"));
            assert!(r["ops"].as_u64().expect("ops") > 0, "{r}");
            assert_eq!(r["errors"].as_u64(), Some(0), "{r}");
            assert!(r["p50_ms"].as_f64().expect("p50") > 0.0, "{r}");
        }
    }
    assert!(v["floor"]["fsync_ms"].as_f64().expect("fsync") > 0.0);
    assert_read_path(&v, &["kraftd"]);
}

/// With 1 client in the plan, the JSON holds the 1-client read path of each system: a local
/// and a linearizable read, each answered without an error.
fn assert_read_path(v: &Value, systems: &[&str]) {
    let reads = v["read_path"].as_array().expect("read_path");
    for system in systems {
        let mine: Vec<_> = reads.iter().filter(|r| r["system"] == *system).collect();
        assert_eq!(mine.len(), 2, "{system} read-path rows: {reads:?}");
        for r in mine {
            assert_eq!(r["clients"].as_u64(), Some(1), "{r}");
            assert!(r["ops"].as_u64().expect("ops") > 0, "{r}");
            assert_eq!(r["errors"].as_u64(), Some(0), "{r}");
            assert!(r["p50_ms"].as_f64().expect("p50") > 0.0, "{r}");
        }
    }
}

#[test]
fn peer_etcd_quick_reports_both_systems_and_ratios() {
    if !etcd_available() {
        return;
    }
    let out = tempfile::tempdir().expect("temp dir");
    let v = bench(
        out.path(),
        &[
            "peer-etcd",
            "--clients",
            "1,8",
            "--duration-secs",
            "0.5",
            "--max-ops",
            "40",
        ],
    );
    for system in ["kraftd", "etcd"] {
        let n = rows(&v)
            .iter()
            .filter(|r| r["system"] == system && r["ops"].as_u64() > Some(0))
            .count();
        assert_eq!(n, 2, "{system} rows with acknowledged ops: {v}");
    }
    // The etcd side holds one watch on every key, as kraftd's brokers hold one metadata
    // stream; it must have seen every acknowledged put.
    let watch = &v["etcd_watch"];
    assert_eq!(watch["watchers"].as_u64(), Some(1), "{v}");
    let puts = watch["puts_acknowledged"].as_u64().expect("puts");
    let etcd_ops: u64 = rows(&v)
        .iter()
        .filter(|r| r["system"] == "etcd")
        .filter_map(|r| r["ops"].as_u64())
        .sum();
    assert_eq!(puts, etcd_ops, "{v}");
    assert!(
        watch["least_seen"].as_u64().expect("least_seen") >= puts,
        "the watcher missed puts: {v}"
    );
    assert_read_path(&v, &["kraftd", "etcd"]);
    let ratios = v["ratios"].as_array().expect("ratios");
    assert_eq!(ratios.len(), 2, "{v}");
    assert!(
        ratios
            .iter()
            .all(|r| r["throughput_ratio"].as_f64() > Some(0.0))
    );
}

/// Two kill-and-restart rounds per timeout setting: the second round needs the node killed
/// in the first to have rejoined and caught up (a multi-round stall lived there).
#[test]
fn failover_quick_measures_a_gap_per_kill() {
    let out = tempfile::tempdir().expect("temp dir");
    let v = bench(out.path(), &["failover", "--repeats", "2", "--rate", "100"]);
    let results = v["results"].as_array().expect("results");
    assert_eq!(results.len(), 2, "default and tuned: {v}");
    for r in results {
        let samples = r["samples_ms"].as_array().expect("samples");
        assert_eq!(samples.len(), 2, "{r}");
        assert!(
            samples.iter().all(|s| s.as_f64().is_some_and(|s| s > 0.0)),
            "{r}"
        );
        let rounds = r["rounds"].as_array().expect("rounds");
        assert_eq!(rounds.len(), 2, "{r}");
        for round in rounds {
            let killed = round["killed"].as_u64().expect("killed");
            assert!((1..=3).contains(&killed), "{round}");
        }
    }
}

#[test]
fn brokers_quick_keeps_every_broker_unfenced_without_writing_the_log() {
    let out = tempfile::tempdir().expect("temp dir");
    let v = bench(
        out.path(),
        &["brokers", "--brokers", "500", "--steady-secs", "4"],
    );
    let r = &v["result"];
    let brokers = r["plan"]["brokers"].as_u64().expect("brokers");
    assert_eq!(brokers, 500, "{r}");
    assert!(r["heartbeats"].as_u64().expect("heartbeats") > 0, "{r}");
    // An election (possible on a loaded machine) fails the heartbeats in flight at the time.
    if r["terms_total"].as_u64() == Some(0) {
        assert_eq!(r["errors"].as_u64(), Some(0), "{r}");
    }
    assert_eq!(r["fenced_after_unfence"].as_u64(), Some(0), "{r}");
    assert_eq!(
        r["unfenced_at_end"].as_u64(),
        Some(brokers),
        "every registered broker is unfenced at the end: {r}"
    );
    // Steady-state heartbeats change nothing, so they write no Raft entry (a new leader, if
    // one was elected, appends its one blank entry).
    let entries = r["log_entries_steady"].as_i64().expect("log entries");
    let terms = r["terms_steady"].as_i64().expect("terms");
    assert!(
        entries <= terms,
        "{entries} entries in {terms} new terms: {r}"
    );
    assert!(r["p99_ms"].as_f64().expect("p99") > 0.0, "{r}");
    let cpu = r["cpu"].as_array().expect("cpu");
    assert_eq!(cpu.len(), 4, "3 controllers + the load generator: {r}");
    assert_eq!(
        cpu.iter().filter(|c| c["role"] == "active").count(),
        1,
        "{r}"
    );
}

#[test]
fn scale_quick_creates_every_partition_and_measures_snapshot_restart_and_fetch() {
    let out = tempfile::tempdir().expect("temp dir");
    let v = bench(
        out.path(),
        &["scale", "--topics", "500", "--brokers", "100"],
    );
    let r = &v["result"];
    // Every created topic and partition reached a new broker's image.
    assert_eq!(r["total_partitions"].as_u64(), Some(5_000), "{r}");
    assert_eq!(r["image_topics"].as_u64(), Some(500), "{r}");
    assert_eq!(r["image_partitions"].as_u64(), Some(5_000), "{r}");
    assert!(r["create_s"].as_f64().expect("create_s") > 0.0, "{r}");
    assert!(r["last_offset"].as_u64().expect("offset") > 0, "{r}");
    // Every controller reported its memory and wrote a snapshot covering the last create.
    let memory = r["memory"].as_array().expect("memory");
    let snapshots = r["snapshots"].as_array().expect("snapshots");
    assert_eq!(memory.len(), 3, "{r}");
    assert_eq!(snapshots.len(), 3, "{r}");
    for m in memory {
        assert!(m["rss_mib"].as_f64().expect("rss") > 1.0, "{m}");
    }
    for s in snapshots {
        assert!(s["file_bytes"].as_u64().expect("bytes") > 0, "{s}");
    }
    // The leader built its snapshot (followers may have installed one instead).
    assert!(
        snapshots.iter().any(|s| s["build_ms"].as_f64().is_some()),
        "{r}"
    );
    assert!(
        r["restart_to_serving_s"].as_f64().expect("restart") > 0.0,
        "{r}"
    );
    assert!(
        r["new_broker_fetch_s"].as_f64().expect("fetch") > 0.0,
        "{r}"
    );
}
