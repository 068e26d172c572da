//! Quorum configuration: node id, voters, timeouts, snapshot policy.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::error::QuorumError;

/// Kafka's `metadata.log.max.record.bytes.between.snapshots` default: 20 MiB.
pub const DEFAULT_SNAPSHOT_BYTES: u64 = 20 * 1024 * 1024;

/// Settings of one controller node in a static quorum.
#[derive(Debug, Clone)]
pub struct QuorumConfig {
    /// This node's id; must appear in `voters`.
    pub node_id: u64,
    /// Voters: node id → `host:port`. The same map on every node.
    pub voters: BTreeMap<u64, String>,
    /// Data directory (`raft-log/`, `snapshots/` below it).
    pub data_dir: PathBuf,
    /// Leader heartbeat interval, ms.
    pub heartbeat_ms: u64,
    /// Election timeout range, ms.
    pub election_timeout_ms: (u64, u64),
    /// Build a snapshot (and purge the log) after this many entries since the last one; 0: not
    /// by count.
    pub snapshot_every: u64,
    /// Build a snapshot after this many bytes of commands applied since the last one (Kafka's
    /// `metadata.log.max.record.bytes.between.snapshots`, default 20 MiB); 0: not by bytes.
    pub snapshot_bytes: u64,
    /// Entries kept in the log behind a snapshot, so slightly lagging followers catch up by log.
    pub keep_after_snapshot: u64,
    /// Longest time between snapshots while entries are applied (Kafka's
    /// `metadata.log.max.snapshot.interval.ms`, default 1 h).
    pub snapshot_interval: std::time::Duration,
    /// TLS for links to peers; `None`: plaintext.
    pub peer_tls: Option<crate::tls::PeerTls>,
    /// Peer endpoint → address actually dialled (tests route each link through a
    /// fault-injecting proxy); the membership keeps the real endpoints. Empty by default.
    pub dial_override: BTreeMap<String, String>,
    /// Tests (fault injection): every raft log flush is held back this long, see
    /// [`kraft_storage::LogStore::hold_flushes`]. `None` by default.
    pub fault_flush_delay: Option<std::time::Duration>,
}

impl QuorumConfig {
    /// A config with kraftd's defaults: heartbeat 50 ms, election 300–600 ms, a snapshot after
    /// 20 MiB of commands or an hour (Kafka's defaults), keeping 1,000 entries behind it.
    pub fn new(node_id: u64, voters: BTreeMap<u64, String>, data_dir: PathBuf) -> Self {
        Self {
            node_id,
            voters,
            data_dir,
            heartbeat_ms: 50,
            election_timeout_ms: (300, 600),
            snapshot_every: 0,
            snapshot_bytes: DEFAULT_SNAPSHOT_BYTES,
            keep_after_snapshot: 1_000,
            snapshot_interval: std::time::Duration::from_secs(3600),
            peer_tls: None,
            dial_override: BTreeMap::new(),
            fault_flush_delay: None,
        }
    }

    /// Checks the rules that openraft and the bootstrap rely on.
    pub fn validate(&self) -> Result<(), QuorumError> {
        // An empty voter set means "joining": the node waits to be added by the quorum.
        if !self.voters.is_empty() && !self.voters.contains_key(&self.node_id) {
            return Err(QuorumError::Config(format!(
                "--node-id {} is not in --voters ({})",
                self.node_id,
                self.voters
                    .keys()
                    .map(|k| k.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            )));
        }
        let (lo, hi) = self.election_timeout_ms;
        if self.heartbeat_ms == 0 || lo <= self.heartbeat_ms || hi <= lo {
            return Err(QuorumError::Config(format!(
                "need 0 < heartbeat ({}) < election timeout min ({lo}) < max ({hi})",
                self.heartbeat_ms
            )));
        }
        if self.snapshot_every == 0 && self.snapshot_bytes == 0 {
            return Err(QuorumError::Config(
                "snapshot-every and snapshot-bytes are both 0: set at least one of them, or the \
                 log is never purged"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// Parses a KRaft-style voter string: `1@host:port,2@host:port,...`.
///
/// Ids must be positive and unique, endpoints non-empty `host:port` with a numeric port.
pub fn parse_voters(s: &str) -> Result<BTreeMap<u64, String>, QuorumError> {
    let mut voters = BTreeMap::new();
    for (i, part) in s.split(',').map(str::trim).enumerate() {
        let err = |rule: &str| {
            QuorumError::Config(format!("--voters entry {} ({part:?}): {rule}", i + 1))
        };
        let (id, endpoint) = part
            .split_once('@')
            .ok_or_else(|| err("expected id@host:port"))?;
        let id: u64 = id
            .parse()
            .map_err(|_| err("node id must be a positive integer"))?;
        if id == 0 {
            return Err(err("node id must be a positive integer"));
        }
        let (host, port) = endpoint
            .rsplit_once(':')
            .ok_or_else(|| err("expected host:port"))?;
        if host.is_empty() || port.parse::<u16>().is_err() {
            return Err(err("expected host:port with a port in 1-65535"));
        }
        if voters.insert(id, endpoint.to_string()).is_some() {
            return Err(err("duplicate node id"));
        }
    }
    Ok(voters)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kraft_voter_string() {
        let v = parse_voters("1@127.0.0.1:9093,2@127.0.0.1:9094,3@localhost:9095").expect("valid");
        assert_eq!(v.len(), 3);
        assert_eq!(v[&3], "localhost:9095");
    }

    #[test]
    fn rejects_bad_voter_strings_naming_the_entry() {
        for (bad, rule) in [
            ("1@127.0.0.1", "host:port"),
            ("x@127.0.0.1:1", "positive integer"),
            ("0@127.0.0.1:1", "positive integer"),
            ("1@a:1,1@b:2", "duplicate"),
            ("1127.0.0.1:9", "id@host:port"),
            ("1@h:99999", "port"),
        ] {
            let e = parse_voters(bad).expect_err(bad).to_string();
            assert!(
                e.contains(rule) && e.contains("--voters entry"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn node_must_be_a_voter() {
        let c = QuorumConfig::new(4, parse_voters("1@h:1").expect("valid"), "d".into());
        assert!(
            c.validate()
                .expect_err("not a voter")
                .to_string()
                .contains("--node-id 4")
        );
    }

    #[test]
    fn snapshots_need_a_byte_or_count_trigger() {
        let mut c = QuorumConfig::new(1, parse_voters("1@h:1").expect("valid"), "d".into());
        c.validate().expect("defaults: by bytes");
        c.snapshot_bytes = 0;
        let e = c.validate().expect_err("no trigger").to_string();
        assert!(
            e.contains("snapshot-every")
                && e.contains("snapshot-bytes")
                && e.contains("never purged"),
            "{e}"
        );
        c.snapshot_every = 100;
        c.validate().expect("by count only");
    }
}
