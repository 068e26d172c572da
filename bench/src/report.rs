//! Tables on stdout, JSON files, and the facts that make a figure reproducible.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::driver::Row;

/// Machine, date and commit of a run.
#[derive(Clone, Debug, Serialize)]
pub struct Environment {
    /// Seconds since the Unix epoch.
    pub unix_time: u64,
    /// `git rev-parse --short HEAD`, when available.
    pub commit: Option<String>,
    /// CPU model and count.
    pub cpu: String,
    /// Logical CPUs.
    pub cpus: usize,
    /// The command line.
    pub command: String,
    /// Whether `--quick` sizes were used.
    pub quick: bool,
}

impl Environment {
    /// Collects what can be known cheaply.
    pub fn collect(quick: bool) -> Self {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split(':').nth(1))
                    .map(|m| m.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        let commit = Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
        Self {
            unix_time: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            commit,
            cpu,
            cpus: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            command: std::env::args().collect::<Vec<_>>().join(" "),
            quick,
        }
    }
}

/// Prints rows as an aligned table.
pub fn print_rows(title: &str, rows: &[Row]) {
    println!("\n== {title} ==");
    println!(
        "{:<8} {:<14} {:>7} {:>9} {:>6} {:>11} {:>9} {:>9} {:>9} {:>9} {:>12} {:>12}",
        "system",
        "op",
        "clients",
        "ops",
        "errors",
        "ops/s",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "max ms",
        "srv cpu µs",
        "gen cpu µs"
    );
    for r in rows {
        let cpu = |f: fn(&crate::procs::CpuPerOp) -> f64| {
            r.cpu_per_op
                .as_ref()
                .map_or("-".to_string(), |c| format!("{:.0}", f(c)))
        };
        println!(
            "{:<8} {:<14} {:>7} {:>9} {:>6} {:>11.0} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>12} {:>12}",
            r.system,
            r.op,
            r.clients,
            r.ops,
            r.errors,
            r.ops_per_sec,
            r.p50_ms,
            r.p99_ms,
            r.p999_ms,
            r.max_ms,
            cpu(|c| c.server_us),
            cpu(|c| c.client_us)
        );
    }
    if rows.iter().any(|r| r.cpu_per_op.is_some()) {
        println!(
            "srv cpu µs: CPU time of the system's server processes together per acknowledged \
             operation; gen cpu µs: of this load generator"
        );
    }
}

/// Writes `value` as pretty JSON to `dir/name`.
pub fn write_json<T: Serialize>(dir: &Path, name: &str, value: &T) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(value)?)
        .with_context(|| format!("write {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}
