//! Resource limits: how much one request may ask for and how big the metadata may grow.
//!
//! Every limit is a named default here and a config key (`max_*` in the TOML file, env
//! `KRAFTD_MAX_*`, flag `--max-*`; see `config.rs`). Handlers read them from [`crate::Ctx`],
//! so a request over a limit fails with Kafka's error code and a message naming the limit,
//! and writes nothing for the item that broke it. The request-size limit is enforced by the
//! gRPC servers before a message is decoded (tonic answers `OUT_OF_RANGE`, "decoded message
//! length too large: found N bytes, the limit is: M bytes").

/// Default largest gRPC request a controller decodes on its admin and broker services
/// (tonic's own default, made explicit).
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;
/// Default most partitions one topic may have (on create and after CreatePartitions).
pub const DEFAULT_MAX_PARTITIONS_PER_TOPIC: u32 = 10_000;
/// Default most new partitions one CreateTopics or CreatePartitions request may add in total.
/// (Kafka caps a request at 10,000 records, `MAX_RECORDS_PER_USER_OP`; this one fails only
/// the topic that crosses it.)
pub const DEFAULT_MAX_PARTITIONS_PER_REQUEST: u32 = 10_000;
/// Default most topics the cluster may hold.
pub const DEFAULT_MAX_TOPICS: u32 = 100_000;
/// Default most config entries one resource may carry in one request (CreateTopics configs,
/// IncrementalAlterConfigs changes per resource).
pub const DEFAULT_MAX_CONFIG_ENTRIES: u32 = 1_000;

/// The limits a controller enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest request the admin and broker gRPC services decode, in bytes.
    pub max_request_bytes: usize,
    /// Most partitions per topic.
    pub max_partitions_per_topic: u32,
    /// Most new partitions per request.
    pub max_partitions_per_request: u32,
    /// Most topics in the cluster.
    pub max_topics: u32,
    /// Most config entries per resource per request.
    pub max_config_entries: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            max_partitions_per_topic: DEFAULT_MAX_PARTITIONS_PER_TOPIC,
            max_partitions_per_request: DEFAULT_MAX_PARTITIONS_PER_REQUEST,
            max_topics: DEFAULT_MAX_TOPICS,
            max_config_entries: DEFAULT_MAX_CONFIG_ENTRIES,
        }
    }
}

impl Limits {
    /// The config-entries rule for one resource: `Err` (message naming the limit) when
    /// `count` is above it.
    pub fn check_config_entries(&self, count: usize) -> Result<(), String> {
        if count > self.max_config_entries as usize {
            return Err(format!(
                "{count} config entries in one resource exceed the limit of {} \
                 (max_config_entries).",
                self.max_config_entries
            ));
        }
        Ok(())
    }
}
