//! kraftd's configuration: layers, pod-friendly derivation, and the effective config log line.
//!
//! Every setting can come from four places; a higher layer wins key by key:
//!
//! ```text
//!   flags (--node-id 3)  >  environment (KRAFTD_NODE_ID=3)  >  TOML file (node_id = 3)  >  defaults
//!        Layer                Layer::from_env                   Layer::from_toml            Layer::defaults
//!                    └──────────────── Layer::over ───────────────┘
//!                                          │  resolve(hostname)
//!                                          ▼
//!                                      NodeConfig   (node id and voters derived, all checked)
//! ```
//!
//! The file is `--config FILE` (or `KRAFTD_CONFIG`); its keys are the flag names with `_` for
//! `-` (`data_dir`, `voters_from_dns`, ...), and an unknown key is an error. Each key's
//! environment variable is `KRAFTD_` + the key in upper case ([`env_name`]).
//!
//! **Pods.** A StatefulSet gives every pod the same config; what differs is derived:
//! * `node_id_from = "hostname"` (`--node-id-from-hostname`): the node id is the StatefulSet
//!   ordinal at the end of the hostname plus `node_id_offset` (default 1, because KRaft node
//!   ids start at 1 and ordinals at 0): `kraft-0` → 1, `kraft-2` → 3. The hostname is the
//!   kernel's unless `hostname` (`--hostname`, `KRAFTD_HOSTNAME`) is set.
//! * `voters_from_dns = "kraft-{ordinal}.kraft-headless.{namespace}.svc:9093"` with
//!   `replicas = 3` expands to `1@kraft-0.kraft-headless.NS.svc:9093,2@kraft-1...,3@kraft-2...`
//!   — the stable DNS names of the headless service. `{namespace}` is `namespace`
//!   (`KRAFTD_NAMESPACE`, set from the downward API in the manifests).
//!
//! **Escape hatch (tests, local runs of the pod config).** `resolve` (`--resolve`,
//! `KRAFTD_RESOLVE`) is a comma-separated list of `HOST:PORT=ADDR:PORT` pairs, like curl's
//! `--resolve`: a voter endpoint equal to a left side is replaced by the right side after
//! expansion. It lets the StatefulSet's exact command run on one machine without DNS, each
//! "pod" on `127.0.0.1` with its own port. It is logged at warn level whenever it is set.
//!
//! **Secrets.** The effective configuration is logged once at start ([`NodeConfig::display`]);
//! any key that names a secret (`password`, `secret`, `token`, `private_key`, `key_file`,
//! `key_path`, …) is printed as `<redacted>` ([`redact`]). No such key exists yet; TLS (issue 8)
//! adds key paths, and they are redacted without further work.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::limits::{self, Limits};

/// A configuration error, naming the key (and the source when it matters).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    /// The TOML file does not parse or has an unknown key / wrong type.
    #[error("config file: {0}")]
    File(String),
    /// An environment variable has a value of the wrong type.
    #[error("{var}: {message}")]
    Env {
        /// The variable, e.g. `KRAFTD_NODE_ID`.
        var: String,
        /// What is wrong with it.
        message: String,
    },
    /// A required key is missing from every layer.
    #[error("{key} is required (flag --{flag}, env {env}, or `{key}` in the config file)")]
    Missing {
        /// Config-file key.
        key: &'static str,
        /// Flag name without dashes.
        flag: String,
        /// Environment variable.
        env: String,
    },
    /// Keys that contradict each other, or a value that breaks a rule.
    #[error("{0}")]
    Invalid(String),
}

/// Where the node id comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeIdFrom {
    /// `node_id` as given (the default).
    Flag,
    /// The StatefulSet ordinal at the end of the hostname, plus `node_id_offset`.
    Hostname,
}

/// One layer of configuration: every key optional. Also the TOML file's schema.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    /// This controller's node id (one of the voters).
    pub node_id: Option<u64>,
    /// `flag` (default) or `hostname`.
    pub node_id_from: Option<NodeIdFrom>,
    /// Added to the hostname's ordinal to get the node id (default 1).
    pub node_id_offset: Option<u64>,
    /// Overrides the kernel's hostname for `node_id_from = "hostname"`.
    pub hostname: Option<String>,
    /// Fills `{namespace}` in `voters_from_dns`.
    pub namespace: Option<String>,
    /// gRPC listen address, `host:port`.
    pub listen: Option<String>,
    /// Data directory (Raft log and snapshots).
    pub data_dir: Option<PathBuf>,
    /// Static voters, `id@host:port,...` (KRaft's `controller.quorum.voters`).
    pub voters: Option<String>,
    /// Voter endpoint template with `{ordinal}` (and optionally `{namespace}`); needs `replicas`.
    pub voters_from_dns: Option<String>,
    /// Join an existing quorum through these controllers (`host:port,...`) instead of
    /// bootstrapping from `voters` (KIP-853 style).
    pub join: Option<String>,
    /// Number of voters `voters_from_dns` expands to (the StatefulSet's replicas).
    pub replicas: Option<u64>,
    /// `HOST:PORT=ADDR:PORT,...` replacements applied to voter endpoints (tests, no DNS).
    pub resolve: Option<String>,
    /// Cluster id to write if the quorum is new.
    pub cluster_id: Option<String>,
    /// Raft heartbeat interval, ms.
    pub heartbeat_ms: Option<u64>,
    /// Raft election timeout range, `MIN,MAX` in ms.
    pub election_timeout_ms: Option<String>,
    /// Snapshot after this many committed entries (0: not by count).
    pub snapshot_every: Option<u64>,
    /// Snapshot after this many bytes of committed records (Kafka's
    /// `metadata.log.max.record.bytes.between.snapshots`; 0: not by bytes).
    pub snapshot_bytes: Option<u64>,
    /// Entries kept in the log behind the latest snapshot.
    pub snapshot_keep: Option<u64>,
    /// Take a snapshot at least this often (ms) when entries were applied since the last one
    /// (Kafka's `metadata.log.max.snapshot.interval.ms`).
    pub snapshot_interval_ms: Option<u64>,
    /// Kafka's `broker.session.timeout.ms`.
    pub broker_session_timeout_ms: Option<i64>,
    /// `text` or `json`.
    pub log_format: Option<String>,
    /// Prometheus `/metrics` listen address, `host:port` (unset: no endpoint).
    pub metrics_listen: Option<String>,
    /// PEM certificate chain of the gRPC listener (TLS on when set, with key and CA).
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of `tls_cert_file`.
    pub tls_key_file: Option<PathBuf>,
    /// PEM CA bundle verifying client certificates and peer controllers.
    pub tls_ca_file: Option<PathBuf>,
    /// `none`, `optional` or `required` (default): client certificates asked for.
    pub tls_client_auth: Option<String>,
    /// How often the TLS files are checked for changes, ms (default 5000).
    pub tls_reload_ms: Option<u64>,
    /// File of `principal token` lines: bearer tokens accepted (needs TLS).
    pub auth_tokens_file: Option<PathBuf>,
    /// Comma-separated principals with the admin role (default `admin`).
    pub admin_principals: Option<String>,
    /// Comma-separated principals with the reader role.
    pub reader_principals: Option<String>,
    /// RPCs taking at least this many ms are logged at warn level (0: every RPC).
    pub slow_request_ms: Option<u64>,
    /// Largest admin/broker gRPC request decoded, bytes ([`crate::limits`]).
    pub max_request_bytes: Option<u64>,
    /// Most partitions per topic.
    pub max_partitions_per_topic: Option<u64>,
    /// Most new partitions per CreateTopics / CreatePartitions request.
    pub max_partitions_per_request: Option<u64>,
    /// Most topics in the cluster.
    pub max_topics: Option<u64>,
    /// Most config entries per resource per request.
    pub max_config_entries: Option<u64>,
}

/// The value kind of a key, for parsing environment variables.
#[derive(Clone, Copy)]
enum Kind {
    Str,
    Int,
}

/// Every key, in file order, with its kind. The env variable is derived by [`env_name`].
const KEYS: &[(&str, Kind)] = &[
    ("node_id", Kind::Int),
    ("node_id_from", Kind::Str),
    ("node_id_offset", Kind::Int),
    ("hostname", Kind::Str),
    ("namespace", Kind::Str),
    ("listen", Kind::Str),
    ("data_dir", Kind::Str),
    ("voters", Kind::Str),
    ("voters_from_dns", Kind::Str),
    ("join", Kind::Str),
    ("replicas", Kind::Int),
    ("resolve", Kind::Str),
    ("cluster_id", Kind::Str),
    ("heartbeat_ms", Kind::Int),
    ("election_timeout_ms", Kind::Str),
    ("snapshot_every", Kind::Int),
    ("snapshot_bytes", Kind::Int),
    ("snapshot_keep", Kind::Int),
    ("snapshot_interval_ms", Kind::Int),
    ("broker_session_timeout_ms", Kind::Int),
    ("log_format", Kind::Str),
    ("metrics_listen", Kind::Str),
    ("tls_cert_file", Kind::Str),
    ("tls_key_file", Kind::Str),
    ("tls_ca_file", Kind::Str),
    ("tls_client_auth", Kind::Str),
    ("tls_reload_ms", Kind::Int),
    ("auth_tokens_file", Kind::Str),
    ("admin_principals", Kind::Str),
    ("reader_principals", Kind::Str),
    ("slow_request_ms", Kind::Int),
    ("max_request_bytes", Kind::Int),
    ("max_partitions_per_topic", Kind::Int),
    ("max_partitions_per_request", Kind::Int),
    ("max_topics", Kind::Int),
    ("max_config_entries", Kind::Int),
];

/// The environment variable of a config key: `data_dir` → `KRAFTD_DATA_DIR`.
pub fn env_name(key: &str) -> String {
    format!("KRAFTD_{}", key.to_uppercase())
}

/// The flag of a config key: `data_dir` → `data-dir`.
fn flag_name(key: &str) -> String {
    key.replace('_', "-")
}

fn missing(key: &'static str) -> ConfigError {
    ConfigError::Missing {
        key,
        flag: flag_name(key),
        env: env_name(key),
    }
}

impl Layer {
    /// The built-in defaults (the lowest layer).
    pub fn defaults() -> Layer {
        Layer {
            node_id_from: Some(NodeIdFrom::Flag),
            node_id_offset: Some(1),
            heartbeat_ms: Some(50),
            election_timeout_ms: Some("300,600".into()),
            snapshot_every: Some(0),
            snapshot_bytes: Some(20 * 1024 * 1024), // Kafka's default
            snapshot_keep: Some(1_000),
            snapshot_interval_ms: Some(3_600_000),
            broker_session_timeout_ms: Some(9_000),
            log_format: Some("text".into()),
            tls_client_auth: Some("required".into()),
            tls_reload_ms: Some(5_000),
            admin_principals: Some("admin".into()),
            slow_request_ms: Some(1_000),
            max_request_bytes: Some(limits::DEFAULT_MAX_REQUEST_BYTES as u64),
            max_partitions_per_topic: Some(limits::DEFAULT_MAX_PARTITIONS_PER_TOPIC.into()),
            max_partitions_per_request: Some(limits::DEFAULT_MAX_PARTITIONS_PER_REQUEST.into()),
            max_topics: Some(limits::DEFAULT_MAX_TOPICS.into()),
            max_config_entries: Some(limits::DEFAULT_MAX_CONFIG_ENTRIES.into()),
            ..Layer::default()
        }
    }

    /// Parses a TOML config file's text. Unknown keys and wrong types are errors.
    pub fn from_toml(text: &str) -> Result<Layer, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::File(e.to_string().trim().to_string()))
    }

    /// Reads `KRAFTD_*` variables through `lookup` (pass `|k| std::env::var(k).ok()`).
    /// An empty variable counts as unset, so a manifest can blank one out.
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Layer, ConfigError> {
        let mut table = toml::Table::new();
        for (key, kind) in KEYS {
            let var = env_name(key);
            let Some(raw) = lookup(&var).filter(|v| !v.trim().is_empty()) else {
                continue;
            };
            let value = match kind {
                Kind::Str => toml::Value::String(raw),
                Kind::Int => {
                    toml::Value::Integer(raw.trim().parse().map_err(|_| ConfigError::Env {
                        var: var.clone(),
                        message: format!("expected an integer, got {raw:?}"),
                    })?)
                }
            };
            table.insert((*key).to_string(), value);
        }
        // Type errors (e.g. a negative id, an unknown node_id_from) surface per variable.
        toml::Value::Table(table.clone())
            .try_into::<Layer>()
            .map_err(|e| {
                let var = table
                    .keys()
                    .find(|k| e.to_string().contains(k.as_str()))
                    .map(|k| env_name(k))
                    .unwrap_or_else(|| "KRAFTD_*".into());
                ConfigError::Env {
                    var,
                    message: e.to_string().trim().to_string(),
                }
            })
    }

    /// `self` layered over `lower`: each key set here wins, unset keys fall through.
    pub fn over(self, lower: Layer) -> Layer {
        Layer {
            node_id: self.node_id.or(lower.node_id),
            node_id_from: self.node_id_from.or(lower.node_id_from),
            node_id_offset: self.node_id_offset.or(lower.node_id_offset),
            hostname: self.hostname.or(lower.hostname),
            namespace: self.namespace.or(lower.namespace),
            listen: self.listen.or(lower.listen),
            data_dir: self.data_dir.or(lower.data_dir),
            voters: self.voters.or(lower.voters),
            voters_from_dns: self.voters_from_dns.or(lower.voters_from_dns),
            join: self.join.or(lower.join),
            replicas: self.replicas.or(lower.replicas),
            resolve: self.resolve.or(lower.resolve),
            cluster_id: self.cluster_id.or(lower.cluster_id),
            heartbeat_ms: self.heartbeat_ms.or(lower.heartbeat_ms),
            election_timeout_ms: self.election_timeout_ms.or(lower.election_timeout_ms),
            snapshot_every: self.snapshot_every.or(lower.snapshot_every),
            snapshot_bytes: self.snapshot_bytes.or(lower.snapshot_bytes),
            snapshot_keep: self.snapshot_keep.or(lower.snapshot_keep),
            snapshot_interval_ms: self.snapshot_interval_ms.or(lower.snapshot_interval_ms),
            broker_session_timeout_ms: self
                .broker_session_timeout_ms
                .or(lower.broker_session_timeout_ms),
            log_format: self.log_format.or(lower.log_format),
            metrics_listen: self.metrics_listen.or(lower.metrics_listen),
            tls_cert_file: self.tls_cert_file.or(lower.tls_cert_file),
            tls_key_file: self.tls_key_file.or(lower.tls_key_file),
            tls_ca_file: self.tls_ca_file.or(lower.tls_ca_file),
            tls_client_auth: self.tls_client_auth.or(lower.tls_client_auth),
            tls_reload_ms: self.tls_reload_ms.or(lower.tls_reload_ms),
            auth_tokens_file: self.auth_tokens_file.or(lower.auth_tokens_file),
            admin_principals: self.admin_principals.or(lower.admin_principals),
            reader_principals: self.reader_principals.or(lower.reader_principals),
            slow_request_ms: self.slow_request_ms.or(lower.slow_request_ms),
            max_request_bytes: self.max_request_bytes.or(lower.max_request_bytes),
            max_partitions_per_topic: self
                .max_partitions_per_topic
                .or(lower.max_partitions_per_topic),
            max_partitions_per_request: self
                .max_partitions_per_request
                .or(lower.max_partitions_per_request),
            max_topics: self.max_topics.or(lower.max_topics),
            max_config_entries: self.max_config_entries.or(lower.max_config_entries),
        }
    }

    /// `flags > env > file > defaults`, key by key.
    pub fn layered(flags: Layer, env: Layer, file: Layer) -> Layer {
        flags.over(env.over(file.over(Layer::defaults())))
    }

    /// Resolves the tuning keys alone (what `kraftd dev` uses).
    pub fn tuning(&self) -> Result<Tuning, ConfigError> {
        let timeout = self
            .election_timeout_ms
            .as_deref()
            .ok_or_else(|| missing("election_timeout_ms"))?;
        let log_format = self
            .log_format
            .clone()
            .ok_or_else(|| missing("log_format"))?;
        if log_format != "text" && log_format != "json" {
            return Err(ConfigError::Invalid(format!(
                "log_format must be text or json, got {log_format:?}"
            )));
        }
        Ok(Tuning {
            heartbeat_ms: self.heartbeat_ms.ok_or_else(|| missing("heartbeat_ms"))?,
            election_timeout_ms: parse_range(timeout)?,
            snapshot_every: self
                .snapshot_every
                .ok_or_else(|| missing("snapshot_every"))?,
            snapshot_bytes: self
                .snapshot_bytes
                .ok_or_else(|| missing("snapshot_bytes"))?,
            snapshot_keep: self.snapshot_keep.ok_or_else(|| missing("snapshot_keep"))?,
            snapshot_interval_ms: self
                .snapshot_interval_ms
                .ok_or_else(|| missing("snapshot_interval_ms"))?,
            broker_session_timeout_ms: self
                .broker_session_timeout_ms
                .ok_or_else(|| missing("broker_session_timeout_ms"))?,
            cluster_id: self.cluster_id.clone(),
            log_format,
            metrics_listen: self.metrics_listen.clone(),
            slow_request_ms: self
                .slow_request_ms
                .ok_or_else(|| missing("slow_request_ms"))?,
            limits: self.limits()?,
        })
    }

    /// The resource limits: each key set and in 1..=u32::MAX (request bytes: at least 1 KiB).
    fn limits(&self) -> Result<Limits, ConfigError> {
        fn get(v: Option<u64>, key: &'static str, min: u64) -> Result<u32, ConfigError> {
            let v = v.ok_or_else(|| missing(key))?;
            u32::try_from(v)
                .ok()
                .filter(|v| u64::from(*v) >= min)
                .ok_or_else(|| {
                    ConfigError::Invalid(format!(
                        "{key} must be between {min} and {}, got {v}",
                        u32::MAX
                    ))
                })
        }
        Ok(Limits {
            max_request_bytes: get(self.max_request_bytes, "max_request_bytes", 1024)? as usize,
            max_partitions_per_topic: get(
                self.max_partitions_per_topic,
                "max_partitions_per_topic",
                1,
            )?,
            max_partitions_per_request: get(
                self.max_partitions_per_request,
                "max_partitions_per_request",
                1,
            )?,
            max_topics: get(self.max_topics, "max_topics", 1)?,
            max_config_entries: get(self.max_config_entries, "max_config_entries", 1)?,
        })
    }

    /// Derives and checks everything a controller needs. `system_hostname` is asked only
    /// when the node id comes from the hostname and no `hostname` override is set.
    pub fn resolve(
        &self,
        system_hostname: impl FnOnce() -> Option<String>,
    ) -> Result<NodeConfig, ConfigError> {
        let offset = self.node_id_offset.unwrap_or(1);
        let mut hostname = None;
        let node_id = match self.node_id_from.unwrap_or(NodeIdFrom::Flag) {
            NodeIdFrom::Flag => self.node_id.ok_or_else(|| missing("node_id"))?,
            NodeIdFrom::Hostname => {
                if let Some(id) = self.node_id {
                    return Err(ConfigError::Invalid(format!(
                        "node_id ({id}) and node_id_from = \"hostname\" are both set; keep one"
                    )));
                }
                let h = self
                    .hostname
                    .clone()
                    .or_else(system_hostname)
                    .ok_or_else(|| {
                        ConfigError::Invalid(
                            "node_id_from = \"hostname\" but the hostname cannot be read; \
                             set KRAFTD_HOSTNAME"
                                .into(),
                        )
                    })?;
                let id = node_id_from_hostname(&h, offset)?;
                hostname = Some(h);
                id
            }
        };
        let voters = match (&self.voters, &self.voters_from_dns) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Invalid(
                    "voters and voters_from_dns are both set; keep one".into(),
                ));
            }
            (Some(v), None) => v.clone(),
            (None, Some(template)) => {
                let replicas = self.replicas.ok_or_else(|| missing("replicas"))?;
                voters_from_dns(template, replicas, offset, self.namespace.as_deref())?
            }
            // A joining node starts with no voters and waits to be added.
            (None, None) if self.join.is_some() => String::new(),
            (None, None) => return Err(missing("voters")),
        };
        let voters = match &self.resolve {
            Some(r) if !voters.is_empty() => apply_resolve(&voters, &parse_resolve(r)?),
            _ => voters,
        };
        Ok(NodeConfig {
            node_id,
            hostname,
            listen: self.listen.clone().ok_or_else(|| missing("listen"))?,
            data_dir: self.data_dir.clone().ok_or_else(|| missing("data_dir"))?,
            voters,
            join: self.join.clone(),
            resolve: self.resolve.clone(),
            tuning: self.tuning()?,
            security: self.security()?,
        })
    }

    /// Resolves and checks the TLS and authentication keys.
    pub fn security(&self) -> Result<SecurityConfig, ConfigError> {
        let tls = match (&self.tls_cert_file, &self.tls_key_file, &self.tls_ca_file) {
            (None, None, None) => None,
            (Some(cert), Some(key), Some(ca)) => {
                let client_auth = self
                    .tls_client_auth
                    .clone()
                    .unwrap_or_else(|| "required".into());
                if !["none", "optional", "required"].contains(&client_auth.as_str()) {
                    return Err(ConfigError::Invalid(format!(
                        "tls_client_auth must be none, optional or required, got {client_auth:?}"
                    )));
                }
                let reload_ms = self.tls_reload_ms.unwrap_or(5_000);
                if reload_ms == 0 {
                    return Err(ConfigError::Invalid(
                        "tls_reload_ms must be at least 1".into(),
                    ));
                }
                Some(TlsConfig {
                    cert_file: cert.clone(),
                    key_file: key.clone(),
                    ca_file: ca.clone(),
                    client_auth,
                    reload_ms,
                })
            }
            (cert, key, ca) => {
                let missing: Vec<&str> = [
                    ("tls_cert_file", cert.is_none()),
                    ("tls_key_file", key.is_none()),
                    ("tls_ca_file", ca.is_none()),
                ]
                .iter()
                .filter(|(_, m)| *m)
                .map(|(k, _)| *k)
                .collect();
                return Err(ConfigError::Invalid(format!(
                    "tls_cert_file, tls_key_file and tls_ca_file go together; missing: {}",
                    missing.join(", ")
                )));
            }
        };
        if self.auth_tokens_file.is_some() && tls.is_none() {
            return Err(ConfigError::Invalid(
                "auth_tokens_file needs TLS (tls_cert_file, tls_key_file, tls_ca_file): \
                 bearer tokens are never accepted in plaintext"
                    .into(),
            ));
        }
        let list = |v: &Option<String>| -> Vec<String> {
            v.as_deref()
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        };
        Ok(SecurityConfig {
            tls,
            auth_tokens_file: self.auth_tokens_file.clone(),
            admin_principals: list(&self.admin_principals),
            reader_principals: list(&self.reader_principals),
        })
    }
}

/// TLS settings of the gRPC listener and of links to peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// Certificate chain.
    pub cert_file: PathBuf,
    /// Private key.
    pub key_file: PathBuf,
    /// CA bundle.
    pub ca_file: PathBuf,
    /// `none`, `optional` or `required`.
    pub client_auth: String,
    /// File check interval, ms.
    pub reload_ms: u64,
}

/// TLS and authentication of a node.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SecurityConfig {
    /// TLS; `None`: plaintext.
    pub tls: Option<TlsConfig>,
    /// Accepted bearer tokens.
    pub auth_tokens_file: Option<PathBuf>,
    /// Principals with the admin role.
    pub admin_principals: Vec<String>,
    /// Principals with the reader role.
    pub reader_principals: Vec<String>,
}

/// Parses `MIN,MAX`.
fn parse_range(s: &str) -> Result<(u64, u64), ConfigError> {
    let bad = || ConfigError::Invalid(format!("election_timeout_ms must be MIN,MAX, got {s:?}"));
    let (lo, hi) = s.split_once(',').ok_or_else(bad)?;
    let lo = lo.trim().parse().map_err(|_| bad())?;
    let hi = hi.trim().parse().map_err(|_| bad())?;
    if lo == 0 || lo >= hi {
        return Err(bad());
    }
    Ok((lo, hi))
}

/// Raft and controller tuning: the keys shared by a node and `kraftd dev`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tuning {
    /// Raft heartbeat interval, ms.
    pub heartbeat_ms: u64,
    /// Raft election timeout range, ms.
    pub election_timeout_ms: (u64, u64),
    /// Snapshot every N committed entries (0: not by count).
    pub snapshot_every: u64,
    /// Snapshot after this many bytes of committed records (0: not by bytes).
    pub snapshot_bytes: u64,
    /// Entries kept behind the latest snapshot.
    pub snapshot_keep: u64,
    /// Longest time between snapshots while entries are applied, ms.
    pub snapshot_interval_ms: u64,
    /// Kafka's `broker.session.timeout.ms`.
    pub broker_session_timeout_ms: i64,
    /// Cluster id to write if the quorum is new.
    pub cluster_id: Option<String>,
    /// `text` or `json`.
    pub log_format: String,
    /// Prometheus `/metrics` listen address; `None`: no endpoint.
    pub metrics_listen: Option<String>,
    /// Slow-request warning threshold, ms.
    pub slow_request_ms: u64,
    /// Resource limits enforced on requests.
    pub limits: Limits,
}

/// A fully resolved controller configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    /// This controller's node id.
    pub node_id: u64,
    /// The hostname the node id was derived from, if it was.
    pub hostname: Option<String>,
    /// gRPC listen address.
    pub listen: String,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Expanded (and resolved) voter string, `id@host:port,...`; empty when joining.
    pub voters: String,
    /// Controllers to join through, when this node joins an existing quorum.
    pub join: Option<String>,
    /// The `resolve` escape hatch, if set (logged at warn level).
    pub resolve: Option<String>,
    /// Raft and controller tuning.
    pub tuning: Tuning,
    /// TLS and authentication.
    pub security: SecurityConfig,
}

impl NodeConfig {
    /// One line, `key=value` sorted by key, secrets redacted: what `kraftd` logs at start.
    pub fn display(&self) -> String {
        let mut t = toml::Table::new();
        let mut put = |k: &str, v: toml::Value| {
            t.insert(k.to_string(), v);
        };
        put("node_id", toml::Value::Integer(self.node_id as i64));
        if let Some(h) = &self.hostname {
            put("hostname", toml::Value::String(h.clone()));
        }
        put("listen", toml::Value::String(self.listen.clone()));
        put(
            "data_dir",
            toml::Value::String(self.data_dir.display().to_string()),
        );
        put("voters", toml::Value::String(self.voters.clone()));
        if let Some(j) = &self.join {
            put("join", toml::Value::String(j.clone()));
        }
        if let Some(r) = &self.resolve {
            put("resolve", toml::Value::String(r.clone()));
        }
        let tu = &self.tuning;
        put("heartbeat_ms", toml::Value::Integer(tu.heartbeat_ms as i64));
        put(
            "election_timeout_ms",
            toml::Value::String(format!(
                "{},{}",
                tu.election_timeout_ms.0, tu.election_timeout_ms.1
            )),
        );
        put(
            "snapshot_every",
            toml::Value::Integer(tu.snapshot_every as i64),
        );
        put(
            "snapshot_bytes",
            toml::Value::Integer(tu.snapshot_bytes as i64),
        );
        put(
            "snapshot_keep",
            toml::Value::Integer(tu.snapshot_keep as i64),
        );
        put(
            "snapshot_interval_ms",
            toml::Value::Integer(tu.snapshot_interval_ms as i64),
        );
        put(
            "broker_session_timeout_ms",
            toml::Value::Integer(tu.broker_session_timeout_ms),
        );
        if let Some(c) = &tu.cluster_id {
            put("cluster_id", toml::Value::String(c.clone()));
        }
        put("log_format", toml::Value::String(tu.log_format.clone()));
        if let Some(m) = &tu.metrics_listen {
            put("metrics_listen", toml::Value::String(m.clone()));
        }
        let sec = &self.security;
        if let Some(tls) = &sec.tls {
            let path = |p: &PathBuf| toml::Value::String(p.display().to_string());
            put("tls_cert_file", path(&tls.cert_file));
            put("tls_key_file", path(&tls.key_file));
            put("tls_ca_file", path(&tls.ca_file));
            put(
                "tls_client_auth",
                toml::Value::String(tls.client_auth.clone()),
            );
            put("tls_reload_ms", toml::Value::Integer(tls.reload_ms as i64));
        }
        if let Some(f) = &sec.auth_tokens_file {
            put(
                "auth_tokens_file",
                toml::Value::String(f.display().to_string()),
            );
        }
        put(
            "admin_principals",
            toml::Value::String(sec.admin_principals.join(",")),
        );
        put(
            "reader_principals",
            toml::Value::String(sec.reader_principals.join(",")),
        );
        put(
            "slow_request_ms",
            toml::Value::Integer(tu.slow_request_ms as i64),
        );
        let l = &tu.limits;
        put(
            "max_request_bytes",
            toml::Value::Integer(l.max_request_bytes as i64),
        );
        put(
            "max_partitions_per_topic",
            toml::Value::Integer(l.max_partitions_per_topic.into()),
        );
        put(
            "max_partitions_per_request",
            toml::Value::Integer(l.max_partitions_per_request.into()),
        );
        put("max_topics", toml::Value::Integer(l.max_topics.into()));
        put(
            "max_config_entries",
            toml::Value::Integer(l.max_config_entries.into()),
        );
        render_line(&redact(t))
    }
}

/// True for a key whose value must never be logged.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["password", "secret", "token", "private_key", "passphrase"]
        .iter()
        .any(|s| k.contains(s))
        || k.ends_with("key_file")
        || k.ends_with("key_path")
        || k.ends_with("_key")
}

/// Replaces the value of every secret key (at any depth) by `<redacted>`.
pub fn redact(mut table: toml::Table) -> toml::Table {
    for (k, v) in table.iter_mut() {
        if is_secret_key(k) {
            *v = toml::Value::String("<redacted>".into());
        } else if let toml::Value::Table(inner) = v {
            *inner = redact(std::mem::take(inner));
        }
    }
    table
}

/// `a=1 b="x" t.c=2`: a table on one line, nested keys dotted.
fn render_line(table: &toml::Table) -> String {
    fn walk(prefix: &str, t: &toml::Table, out: &mut Vec<String>) {
        for (k, v) in t {
            let key = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                toml::Value::Table(inner) => walk(&key, inner, out),
                other => out.push(format!("{key}={other}")),
            }
        }
    }
    let mut out = Vec::new();
    walk("", table, &mut out);
    out.join(" ")
}

/// The StatefulSet ordinal of a pod hostname: the digits after the last `-` of its first
/// DNS label (`kraft-2` → 2, `kraft-2.kraft-headless.ns.svc` → 2).
pub fn ordinal_from_hostname(hostname: &str) -> Result<u64, ConfigError> {
    let label = hostname.split('.').next().unwrap_or_default();
    label
        .rsplit_once('-')
        .and_then(|(_, n)| n.parse().ok())
        .ok_or_else(|| {
            ConfigError::Invalid(format!(
                "hostname {hostname:?} does not end in a StatefulSet ordinal (NAME-N)"
            ))
        })
}

/// Node id = ordinal + offset (`kraft-2`, offset 1 → 3).
pub fn node_id_from_hostname(hostname: &str, offset: u64) -> Result<u64, ConfigError> {
    let id = ordinal_from_hostname(hostname)? + offset;
    if id == 0 {
        return Err(ConfigError::Invalid(format!(
            "hostname {hostname:?} with node_id_offset 0 gives node id 0; node ids start at 1"
        )));
    }
    Ok(id)
}

/// Expands `template` (with `{ordinal}`, optional `{namespace}`) for ordinals `0..replicas`
/// into a voter string; the node id of ordinal `o` is `o + offset`.
pub fn voters_from_dns(
    template: &str,
    replicas: u64,
    offset: u64,
    namespace: Option<&str>,
) -> Result<String, ConfigError> {
    if !template.contains("{ordinal}") {
        return Err(ConfigError::Invalid(format!(
            "voters_from_dns {template:?} has no {{ordinal}}"
        )));
    }
    if replicas == 0 {
        return Err(ConfigError::Invalid("replicas must be at least 1".into()));
    }
    if offset == 0 {
        return Err(ConfigError::Invalid(
            "node_id_offset 0 would give ordinal 0 node id 0; node ids start at 1".into(),
        ));
    }
    let template = if template.contains("{namespace}") {
        let ns = namespace.filter(|n| !n.is_empty()).ok_or_else(|| {
            ConfigError::Invalid(format!(
                "voters_from_dns {template:?} uses {{namespace}} but namespace \
                 (KRAFTD_NAMESPACE) is not set"
            ))
        })?;
        template.replace("{namespace}", ns)
    } else {
        template.to_string()
    };
    Ok((0..replicas)
        .map(|o| {
            format!(
                "{}@{}",
                o + offset,
                template.replace("{ordinal}", &o.to_string())
            )
        })
        .collect::<Vec<_>>()
        .join(","))
}

/// Parses `HOST:PORT=ADDR:PORT,...`.
pub fn parse_resolve(s: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut map = BTreeMap::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (from, to) = part
            .split_once('=')
            .filter(|(f, t)| !f.trim().is_empty() && !t.trim().is_empty())
            .ok_or_else(|| {
                ConfigError::Invalid(format!(
                    "resolve entry {part:?}: expected HOST:PORT=ADDR:PORT"
                ))
            })?;
        map.insert(from.trim().to_string(), to.trim().to_string());
    }
    Ok(map)
}

/// Replaces each voter endpoint found in `map`; ids and order are kept.
pub fn apply_resolve(voters: &str, map: &BTreeMap<String, String>) -> String {
    voters
        .split(',')
        .map(|entry| match entry.trim().split_once('@') {
            Some((id, ep)) => match map.get(ep) {
                Some(to) => format!("{id}@{to}"),
                None => entry.trim().to_string(),
            },
            None => entry.trim().to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The kernel's hostname (`/proc/sys/kernel/hostname`), else `$HOSTNAME`.
pub fn system_hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    const POD_TOML: &str = r#"
        listen = "0.0.0.0:9093"
        data_dir = "/var/lib/kraftd"
        node_id_from = "hostname"
        node_id_offset = 1
        voters_from_dns = "kraft-{ordinal}.kraft-headless.{namespace}.svc:9093"
        replicas = 3
        log_format = "json"
    "#;

    #[test]
    fn flags_win_over_env_over_file_over_defaults() {
        let file = Layer::from_toml(
            "listen = \"file:1\"\ndata_dir = \"/file\"\nheartbeat_ms = 70\nvoters = \"1@a:1\"",
        )
        .unwrap();
        let env = Layer::from_env(env(&[
            ("KRAFTD_LISTEN", "env:1"),
            ("KRAFTD_HEARTBEAT_MS", "80"),
        ]))
        .unwrap();
        let flags = Layer {
            listen: Some("flag:1".into()),
            node_id: Some(1),
            ..Layer::default()
        };
        let l = Layer::layered(flags, env, file);
        assert_eq!(
            l.listen.as_deref(),
            Some("flag:1"),
            "flag beats env and file"
        );
        assert_eq!(l.heartbeat_ms, Some(80), "env beats file");
        assert_eq!(
            l.data_dir,
            Some(PathBuf::from("/file")),
            "file beats default"
        );
        assert_eq!(
            (l.snapshot_every, l.snapshot_bytes),
            (Some(0), Some(20 * 1024 * 1024)),
            "defaults when no layer sets them: by bytes only, Kafka's 20 MiB"
        );
        let c = l.resolve(|| None).unwrap();
        assert_eq!((c.node_id, c.listen.as_str()), (1, "flag:1"));
        assert_eq!(c.tuning.heartbeat_ms, 80);
    }

    #[test]
    fn file_rejects_unknown_keys_and_wrong_types() {
        let e = Layer::from_toml("listne = \"x\"").unwrap_err();
        assert!(e.to_string().contains("listne"), "{e}");
        let e = Layer::from_toml("node_id = \"one\"").unwrap_err();
        assert!(matches!(e, ConfigError::File(_)), "{e}");
        let e = Layer::from_toml("node_id_from = \"dns\"").unwrap_err();
        assert!(e.to_string().contains("dns"), "{e}");
    }

    #[test]
    fn env_rejects_bad_values_naming_the_variable() {
        let e = Layer::from_env(env(&[("KRAFTD_NODE_ID", "x")])).unwrap_err();
        assert_eq!(
            e,
            ConfigError::Env {
                var: "KRAFTD_NODE_ID".into(),
                message: "expected an integer, got \"x\"".into()
            }
        );
        let e = Layer::from_env(env(&[("KRAFTD_NODE_ID_FROM", "dns")])).unwrap_err();
        assert!(
            matches!(&e, ConfigError::Env { var, .. } if var == "KRAFTD_NODE_ID_FROM"),
            "{e}"
        );
        let l = Layer::from_env(env(&[("KRAFTD_LISTEN", "  ")])).unwrap();
        assert_eq!(l, Layer::default(), "an empty variable is unset");
    }

    #[test]
    fn every_key_has_an_env_variable() {
        // A key added to Layer but not to KEYS would be settable only in the file.
        let all = toml::Table::try_from(Layer {
            node_id: Some(1),
            node_id_from: Some(NodeIdFrom::Flag),
            node_id_offset: Some(1),
            hostname: Some("h".into()),
            namespace: Some("n".into()),
            listen: Some("l".into()),
            data_dir: Some("/d".into()),
            voters: Some("v".into()),
            voters_from_dns: Some("t".into()),
            join: Some("j".into()),
            replicas: Some(3),
            resolve: Some("r".into()),
            cluster_id: Some("c".into()),
            heartbeat_ms: Some(1),
            election_timeout_ms: Some("1,2".into()),
            snapshot_every: Some(1),
            snapshot_bytes: Some(1),
            snapshot_keep: Some(1),
            snapshot_interval_ms: Some(1),
            broker_session_timeout_ms: Some(1),
            log_format: Some("text".into()),
            metrics_listen: Some("m".into()),
            tls_cert_file: Some("/c".into()),
            tls_key_file: Some("/k".into()),
            tls_ca_file: Some("/ca".into()),
            tls_client_auth: Some("required".into()),
            tls_reload_ms: Some(1),
            auth_tokens_file: Some("/t".into()),
            admin_principals: Some("a".into()),
            reader_principals: Some("r".into()),
            slow_request_ms: Some(1),
            max_request_bytes: Some(1),
            max_partitions_per_topic: Some(1),
            max_partitions_per_request: Some(1),
            max_topics: Some(1),
            max_config_entries: Some(1),
        })
        .unwrap();
        let keys: Vec<&str> = KEYS.iter().map(|(k, _)| *k).collect();
        let mut file_keys: Vec<&str> = all.keys().map(String::as_str).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        file_keys.sort();
        assert_eq!(sorted, file_keys);
    }

    #[test]
    fn limits_default_to_the_named_constants_and_layer_like_any_key() {
        let base = Layer {
            node_id: Some(1),
            listen: Some("l:1".into()),
            data_dir: Some("/d".into()),
            voters: Some("1@l:1".into()),
            ..Layer::default()
        };
        let c = Layer::layered(base.clone(), Layer::default(), Layer::default())
            .resolve(|| None)
            .unwrap();
        assert_eq!(c.tuning.limits, Limits::default());
        assert!(c.display().contains("max_topics=100000"), "{}", c.display());

        let env = Layer::from_env(env(&[
            ("KRAFTD_MAX_TOPICS", "5"),
            ("KRAFTD_MAX_REQUEST_BYTES", "65536"),
        ]))
        .unwrap();
        let file = Layer::from_toml("max_partitions_per_topic = 7\nmax_topics = 9").unwrap();
        let c = Layer::layered(base.clone(), env, file)
            .resolve(|| None)
            .unwrap();
        assert_eq!(c.tuning.limits.max_topics, 5, "env beats file");
        assert_eq!(c.tuning.limits.max_partitions_per_topic, 7);
        assert_eq!(c.tuning.limits.max_request_bytes, 65_536);

        let zero = Layer {
            max_partitions_per_request: Some(0),
            ..base
        };
        let e = Layer::layered(zero, Layer::default(), Layer::default())
            .resolve(|| None)
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("max_partitions_per_request must be between 1"),
            "{e}"
        );
    }

    #[test]
    fn metrics_listen_is_off_by_default_and_layers_like_any_key() {
        let base = Layer {
            node_id: Some(1),
            listen: Some("l:1".into()),
            data_dir: Some("/d".into()),
            voters: Some("1@a:1".into()),
            ..Layer::default()
        };
        let c = Layer::layered(base.clone(), Layer::default(), Layer::default())
            .resolve(|| None)
            .unwrap();
        assert_eq!(c.tuning.metrics_listen, None, "no endpoint unless asked");
        assert!(!c.display().contains("metrics_listen"));
        let file = Layer::from_toml("metrics_listen = \"0.0.0.0:9100\"").unwrap();
        let env = Layer::from_env(env(&[("KRAFTD_METRICS_LISTEN", "127.0.0.1:9200")])).unwrap();
        let c = Layer::layered(base.clone(), env.clone(), file.clone())
            .resolve(|| None)
            .unwrap();
        assert_eq!(c.tuning.metrics_listen.as_deref(), Some("127.0.0.1:9200"));
        assert!(c.display().contains("metrics_listen=\"127.0.0.1:9200\""));
        let flags = Layer {
            metrics_listen: Some("127.0.0.1:9300".into()),
            ..base
        };
        let c = Layer::layered(flags, env, file).resolve(|| None).unwrap();
        assert_eq!(c.tuning.metrics_listen.as_deref(), Some("127.0.0.1:9300"));
    }

    #[test]
    fn slow_request_ms_defaults_to_one_second_and_layers_like_any_key() {
        let base = Layer {
            node_id: Some(1),
            listen: Some("l:1".into()),
            data_dir: Some("/d".into()),
            voters: Some("1@a:1".into()),
            ..Layer::default()
        };
        let c = Layer::layered(base.clone(), Layer::default(), Layer::default())
            .resolve(|| None)
            .unwrap();
        assert_eq!(c.tuning.slow_request_ms, 1_000);
        assert!(
            c.display().contains("slow_request_ms=1000"),
            "{}",
            c.display()
        );
        let file = Layer::from_toml("slow_request_ms = 250").unwrap();
        let env_layer = Layer::from_env(env(&[("KRAFTD_SLOW_REQUEST_MS", "0")])).unwrap();
        let c = Layer::layered(base.clone(), Layer::default(), file.clone())
            .resolve(|| None)
            .unwrap();
        assert_eq!(c.tuning.slow_request_ms, 250);
        let c = Layer::layered(base.clone(), env_layer.clone(), file.clone())
            .resolve(|| None)
            .unwrap();
        assert_eq!(c.tuning.slow_request_ms, 0, "env over file; 0 is allowed");
        let flags = Layer {
            slow_request_ms: Some(5),
            ..base
        };
        let c = Layer::layered(flags, env_layer, file)
            .resolve(|| None)
            .unwrap();
        assert_eq!(c.tuning.slow_request_ms, 5);
        let err = Layer::from_env(env(&[("KRAFTD_SLOW_REQUEST_MS", "soon")])).unwrap_err();
        assert!(err.to_string().contains("KRAFTD_SLOW_REQUEST_MS"), "{err}");
    }

    #[test]
    fn statefulset_ordinal_plus_offset_is_the_node_id() {
        assert_eq!(node_id_from_hostname("kraft-0", 1).unwrap(), 1);
        assert_eq!(node_id_from_hostname("kraft-2", 1).unwrap(), 3);
        assert_eq!(node_id_from_hostname("my-kraft-12", 1).unwrap(), 13);
        assert_eq!(
            node_id_from_hostname("kraft-2.kraft-headless.ns.svc", 1).unwrap(),
            3
        );
        assert_eq!(node_id_from_hostname("kraft-2", 100).unwrap(), 102);
        assert!(node_id_from_hostname("kraft", 1).is_err());
        assert!(node_id_from_hostname("kraft-x", 1).is_err());
        assert!(
            node_id_from_hostname("kraft-0", 0).is_err(),
            "id 0 is invalid"
        );
    }

    #[test]
    fn voters_expand_from_the_headless_service_names() {
        let v = voters_from_dns(
            "kraft-{ordinal}.kraft-headless.{namespace}.svc:9093",
            3,
            1,
            Some("prod"),
        )
        .unwrap();
        assert_eq!(
            v,
            "1@kraft-0.kraft-headless.prod.svc:9093,\
             2@kraft-1.kraft-headless.prod.svc:9093,\
             3@kraft-2.kraft-headless.prod.svc:9093"
        );
        assert_eq!(
            voters_from_dns("c-{ordinal}:1", 5, 1, None).unwrap(),
            "1@c-0:1,2@c-1:1,3@c-2:1,4@c-3:1,5@c-4:1"
        );
        assert!(
            voters_from_dns("c:1", 3, 1, None).is_err(),
            "no {{ordinal}}"
        );
        assert!(voters_from_dns("c-{ordinal}.{namespace}:1", 3, 1, None).is_err());
        assert!(voters_from_dns("c-{ordinal}:1", 0, 1, None).is_err());
    }

    #[test]
    fn pod_config_resolves_with_hostname_and_namespace() {
        let file = Layer::from_toml(POD_TOML).unwrap();
        let env = Layer::from_env(env(&[("KRAFTD_NAMESPACE", "kafka")])).unwrap();
        let l = Layer::layered(Layer::default(), env, file);
        let c = l.resolve(|| Some("kraft-2".into())).unwrap();
        assert_eq!(c.node_id, 3);
        assert_eq!(c.hostname.as_deref(), Some("kraft-2"));
        assert_eq!(
            c.voters,
            "1@kraft-0.kraft-headless.kafka.svc:9093,2@kraft-1.kraft-headless.kafka.svc:9093,\
             3@kraft-2.kraft-headless.kafka.svc:9093"
        );
        assert_eq!(c.tuning.log_format, "json");
        // KRAFTD_HOSTNAME overrides the kernel's hostname (never asked then).
        let mut l2 = l.clone();
        l2.hostname = Some("kraft-0".into());
        let c = l2.resolve(|| panic!("system hostname read")).unwrap();
        assert_eq!(c.node_id, 1);
    }

    #[test]
    fn resolve_escape_hatch_replaces_voter_endpoints() {
        let file = Layer::from_toml(POD_TOML).unwrap();
        let env = Layer::from_env(env(&[
            ("KRAFTD_NAMESPACE", "default"),
            ("KRAFTD_HOSTNAME", "kraft-1"),
            (
                "KRAFTD_RESOLVE",
                "kraft-0.kraft-headless.default.svc:9093=127.0.0.1:4001, \
                 kraft-2.kraft-headless.default.svc:9093=127.0.0.1:4003",
            ),
        ]))
        .unwrap();
        let c = Layer::layered(Layer::default(), env, file)
            .resolve(|| None)
            .unwrap();
        assert_eq!(c.node_id, 2);
        assert_eq!(
            c.voters,
            "1@127.0.0.1:4001,2@kraft-1.kraft-headless.default.svc:9093,3@127.0.0.1:4003"
        );
        assert!(parse_resolve("nohost").is_err());
        assert!(parse_resolve("a:1=").is_err());
    }

    #[test]
    fn contradictions_and_missing_keys_are_named() {
        let base = Layer {
            listen: Some("l:1".into()),
            data_dir: Some("/d".into()),
            ..Layer::defaults()
        };
        let e = Layer {
            node_id: Some(1),
            ..base.clone()
        }
        .resolve(|| None)
        .unwrap_err();
        assert!(e.to_string().contains("voters is required"), "{e}");
        assert!(e.to_string().contains("KRAFTD_VOTERS"), "{e}");
        let e = Layer {
            node_id: Some(1),
            voters: Some("1@a:1".into()),
            voters_from_dns: Some("a-{ordinal}:1".into()),
            replicas: Some(3),
            ..base.clone()
        }
        .resolve(|| None)
        .unwrap_err();
        assert!(e.to_string().contains("both set"), "{e}");
        let e = Layer {
            node_id: Some(1),
            node_id_from: Some(NodeIdFrom::Hostname),
            voters: Some("1@a:1".into()),
            ..base.clone()
        }
        .resolve(|| Some("kraft-0".into()))
        .unwrap_err();
        assert!(e.to_string().contains("both set"), "{e}");
        let e = Layer {
            voters_from_dns: Some("a-{ordinal}:1".into()),
            node_id: Some(1),
            ..base.clone()
        }
        .resolve(|| None)
        .unwrap_err();
        assert!(e.to_string().contains("replicas is required"), "{e}");
        let e = Layer {
            node_id: Some(1),
            voters: Some("1@a:1".into()),
            election_timeout_ms: Some("600,300".into()),
            ..base
        }
        .resolve(|| None)
        .unwrap_err();
        assert!(e.to_string().contains("MIN,MAX"), "{e}");
    }

    #[test]
    fn tls_keys_go_together_and_tokens_need_tls() {
        let base = Layer {
            node_id: Some(1),
            listen: Some("l:1".into()),
            data_dir: Some("/d".into()),
            voters: Some("1@a:1".into()),
            ..Layer::defaults()
        };
        let plain = base.clone().resolve(|| None).unwrap();
        assert_eq!(plain.security.tls, None);
        assert_eq!(plain.security.admin_principals, vec!["admin".to_string()]);

        let e = Layer {
            tls_cert_file: Some("/c".into()),
            ..base.clone()
        }
        .resolve(|| None)
        .unwrap_err();
        assert!(
            e.to_string().contains("missing: tls_key_file, tls_ca_file"),
            "{e}"
        );

        let tls = Layer {
            tls_cert_file: Some("/c".into()),
            tls_key_file: Some("/k".into()),
            tls_ca_file: Some("/ca".into()),
            ..base.clone()
        };
        let c = tls.clone().resolve(|| None).unwrap();
        let t = c.security.tls.clone().expect("tls on");
        assert_eq!((t.client_auth.as_str(), t.reload_ms), ("required", 5_000));
        assert!(c.display().contains("tls_key_file=\"<redacted>\""));

        let e = Layer {
            tls_client_auth: Some("sometimes".into()),
            ..tls
        }
        .resolve(|| None)
        .unwrap_err();
        assert!(e.to_string().contains("tls_client_auth must be"), "{e}");

        let e = Layer {
            auth_tokens_file: Some("/t".into()),
            ..base
        }
        .resolve(|| None)
        .unwrap_err();
        assert!(e.to_string().contains("auth_tokens_file needs TLS"), "{e}");
    }

    #[test]
    fn effective_config_is_one_sorted_line_with_secrets_redacted() {
        let c = Layer {
            node_id: Some(2),
            listen: Some("0.0.0.0:9093".into()),
            data_dir: Some("/var/lib/kraftd".into()),
            voters: Some("1@a:1,2@b:1".into()),
            ..Layer::defaults()
        }
        .resolve(|| None)
        .unwrap();
        let line = c.display();
        assert!(
            line.starts_with("admin_principals=\"admin\" broker_session_timeout_ms=9000 "),
            "{line}"
        );
        assert!(line.contains(" node_id=2 "), "{line}");
        assert!(line.contains(" voters=\"1@a:1,2@b:1\""), "{line}");

        let t: toml::Table = toml::from_str(
            r#"
            listen = "x"
            tls_key_file = "/etc/tls/tls.key"
            [tls]
            cert_file = "/etc/tls/tls.crt"
            key_file = "/etc/tls/tls.key"
            key_password = "hunter2"
            private_key = "-----BEGIN"
            "#,
        )
        .unwrap();
        let line = render_line(&redact(t));
        assert!(
            !line.contains("hunter2") && !line.contains("/etc/tls/tls.key"),
            "{line}"
        );
        assert!(!line.contains("BEGIN"), "{line}");
        assert!(
            line.contains("tls.cert_file=\"/etc/tls/tls.crt\""),
            "{line}"
        );
        assert!(line.contains("tls.key_file=\"<redacted>\""), "{line}");
        assert!(line.contains("tls_key_file=\"<redacted>\""), "{line}");
    }
}
