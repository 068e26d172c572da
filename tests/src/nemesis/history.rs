//! The history of a run: every operation a client invoked, when, and what came back.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::time::Instant;

/// One operation of the workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Create contended topic `name` with `partitions` partitions.
    CreateTopic { name: String, partitions: u32 },
    /// Delete contended topic `name`.
    DeleteTopic { name: String },
    /// Grow contended topic `name` to `count` partitions.
    CreatePartitions { name: String, count: u32 },
    /// Linearizable DescribeTopics of contended topic `name`.
    ReadTopic { name: String },
    /// Create a topic with a name used once and never deleted.
    CreateDurable { name: String },
    /// Linearizable DescribeTopics of a durable topic (epoch observations).
    ReadDurable { name: String },
    /// Set the cluster-wide `log.retention.ms` default to `value` (unique per operation).
    SetConfig { value: i64 },
    /// Linearizable DescribeConfigs of the cluster-wide `log.retention.ms`.
    ReadConfig,
    /// AllocateProducerIds for `broker`.
    AllocatePids { broker: i32 },
    /// AlterPartition from the leader of `name`/`partition`.
    AlterPartition { name: String, partition: i32 },
    /// RegisterBroker of an extra broker `id` (fixed incarnation).
    RegisterBroker { id: i32 },
    /// BrokerHeartbeat of an extra broker `id`.
    Heartbeat { id: i32 },
}

impl Op {
    /// Short name for counts.
    pub fn kind(&self) -> &'static str {
        match self {
            Op::CreateTopic { .. } => "create_topic",
            Op::DeleteTopic { .. } => "delete_topic",
            Op::CreatePartitions { .. } => "create_partitions",
            Op::ReadTopic { .. } => "read_topic",
            Op::CreateDurable { .. } => "create_durable",
            Op::ReadDurable { .. } => "read_durable",
            Op::SetConfig { .. } => "set_config",
            Op::ReadConfig => "read_config",
            Op::AllocatePids { .. } => "allocate_producer_ids",
            Op::AlterPartition { .. } => "alter_partition",
            Op::RegisterBroker { .. } => "register_broker",
            Op::Heartbeat { .. } => "heartbeat",
        }
    }

    /// True for operations that change state when they succeed.
    pub fn is_write(&self) -> bool {
        !matches!(
            self,
            Op::ReadTopic { .. } | Op::ReadDurable { .. } | Op::ReadConfig
        )
    }
}

/// What one partition looked like to a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionObs {
    /// Topic id (a re-created topic has a new one).
    pub topic_id: String,
    /// Partition index.
    pub partition: i32,
    /// Leader epoch.
    pub leader_epoch: i32,
    /// Partition epoch.
    pub partition_epoch: i32,
}

/// What came back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The call failed without a server answer (timeout, connection lost, retries
    /// exhausted): it may or may not have taken effect, at any time after its invocation.
    Unknown(String),
    /// Acknowledged: the write took effect.
    Ok,
    /// The server refused with this Kafka error name. A write may still have taken effect
    /// through an earlier attempt whose answer was lost (client retries and controller
    /// forwarding both retry), so a refused write is "maybe", within its interval.
    Refused(String),
    /// A contended topic read: `None` = no such topic, else its partition count.
    Topic(Option<u32>),
    /// A durable topic created (its id).
    Created(String),
    /// The config read: `None` = not set at the cluster level.
    Config(Option<String>),
    /// A producer-id block.
    Pids { start: i64, len: i32 },
    /// A registration's broker epoch.
    Registered(i64),
}

/// One completed operation.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Client index.
    pub client: usize,
    /// The operation.
    pub op: Op,
    /// Invocation time, µs since the run started.
    pub invoke: u64,
    /// Completion time, µs since the run started.
    pub complete: u64,
    /// The result.
    pub outcome: Outcome,
    /// Partition states this operation observed (reads and AlterPartition answers).
    pub observed: Vec<PartitionObs>,
}

/// The shared, append-only history.
#[derive(Clone)]
pub struct History {
    start: Instant,
    entries: Arc<Mutex<Vec<Entry>>>,
}

impl History {
    /// An empty history whose clock starts now.
    pub fn new() -> Self {
        History {
            start: Instant::now(),
            entries: Arc::default(),
        }
    }

    /// µs since the start.
    pub fn now(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    /// Appends a completed operation.
    pub fn record(&self, e: Entry) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(e);
    }

    /// Every entry so far.
    pub fn entries(&self) -> Vec<Entry> {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Number of entries so far.
    pub fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for History {
    fn default() -> Self {
        Self::new()
    }
}
