//! Concurrent clients running a mixed workload and recording every operation in a
//! [`History`].

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use kraft_client::proto::{
    AllocateProducerIdsRequest, AlterConfigsResource, AlterPartitionRequest,
    AlterPartitionRequestPartition, AlterPartitionRequestTopic, AlterableConfig,
    BrokerHeartbeatRequest, BrokerIdAndEpoch, ConfigOperation, ConfigResourceType, ConfigSource,
    CreatableTopic, CreatePartitionsRequest, CreatePartitionsTopic, CreateTopicsRequest,
    DeleteTopicState, DeleteTopicsRequest, DescribeConfigsRequest, DescribeConfigsResource,
    IncrementalAlterConfigsRequest, ItemError, Listener, RegisterBrokerRequest, TopicDescription,
};
use kraft_client::simulate::BrokerSimulator;
use kraft_client::{Client, ClientConfig, ClientError};
use rand::Rng;
use rand::rngs::StdRng;
use tokio::time::Instant;

use super::history::{Entry, History, Op, Outcome, PartitionObs};

const UNKNOWN_TOPIC_OR_PARTITION: i32 = 3;
/// The cluster-level config key the workload treats as a register.
pub const CONFIG_KEY: &str = "log.retention.ms";

/// Timeouts of the workload's clients: short, so that faults produce unknown outcomes
/// rather than stalls.
pub fn client_config() -> ClientConfig {
    ClientConfig {
        connect_timeout: Duration::from_millis(500),
        request_timeout: Duration::from_secs(3),
        retry_deadline: Duration::from_secs(3),
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(400),
        ..ClientConfig::default()
    }
}

/// Names of the contended topics (created, grown, deleted and read by every client).
pub fn contended_names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("r-{i}")).collect()
}

/// State shared by the clients.
#[derive(Clone)]
pub struct Workload {
    /// Where operations are recorded.
    pub history: History,
    /// The simulated brokers (ids and epochs for broker-side requests).
    pub brokers: BrokerSimulator,
    /// Contended topic names.
    pub names: Vec<String>,
    /// Acknowledged durable topics: (name, id).
    pub durable: Arc<Mutex<Vec<(String, String)>>>,
}

fn failure(e: Option<&ItemError>) -> Option<String> {
    e.filter(|e| e.error_code != 0)
        .map(|e| e.error_name.clone())
}

fn unknown(e: ClientError) -> Outcome {
    Outcome::Unknown(e.to_string())
}

fn observations(t: &TopicDescription) -> Vec<PartitionObs> {
    t.partitions
        .iter()
        .map(|p| PartitionObs {
            topic_id: t.topic_id.clone(),
            partition: p.partition_index,
            leader_epoch: p.leader_epoch,
            partition_epoch: p.partition_epoch,
        })
        .collect()
}

impl Workload {
    /// Runs client `k` until `deadline` or `max_ops` operations.
    pub async fn client(
        self,
        k: usize,
        client: Client,
        mut rng: StdRng,
        deadline: Instant,
        max_ops: usize,
    ) {
        let extra_broker = 100 + k as i32;
        let incarnation = uuid::Uuid::new_v4().to_string();
        let cluster_id = self.brokers.cluster_id().to_string();
        let mut extra_epoch: Option<i64> = None;
        let mut seq = 0u64;
        while Instant::now() < deadline && seq < max_ops as u64 {
            seq += 1;
            let roll = rng.random_range(0..100);
            let name = self.names[rng.random_range(0..self.names.len())].clone();
            let durable = {
                let d = self.durable.lock().unwrap_or_else(PoisonError::into_inner);
                (!d.is_empty()).then(|| d[rng.random_range(0..d.len())].clone())
            };
            let op = match roll {
                0..=21 => Op::ReadTopic { name },
                22..=33 => Op::CreateTopic {
                    name,
                    partitions: rng.random_range(1..=3),
                },
                34..=41 => Op::DeleteTopic { name },
                42..=46 => Op::CreatePartitions {
                    name,
                    count: rng.random_range(2..=6),
                },
                47..=54 => Op::CreateDurable {
                    name: format!("d{k}-{seq}"),
                },
                55..=59 => Op::SetConfig {
                    value: 1_000_000 * (k as i64 + 1) + seq as i64,
                },
                60..=66 => Op::ReadConfig,
                67..=73 => Op::AllocatePids {
                    broker: rng.random_range(1..=3),
                },
                74..=87 => match durable {
                    Some((name, _)) => Op::AlterPartition {
                        name,
                        partition: rng.random_range(0..2),
                    },
                    None => Op::ReadConfig,
                },
                88..=92 => match durable {
                    Some((name, _)) => Op::ReadDurable { name },
                    None => Op::ReadConfig,
                },
                _ => match extra_epoch {
                    Some(_) if rng.random_bool(0.7) => Op::Heartbeat { id: extra_broker },
                    _ => Op::RegisterBroker { id: extra_broker },
                },
            };
            let invoke = self.history.now();
            let (outcome, observed) = match &op {
                Op::AlterPartition { name, partition } => {
                    self.alter_partition(&client, name, *partition, &mut rng)
                        .await
                }
                Op::Heartbeat { .. } | Op::RegisterBroker { .. } => {
                    self.execute(&client, &op, &incarnation, extra_epoch).await
                }
                _ => self.execute(&client, &op, &cluster_id, None).await,
            };
            if let (Op::RegisterBroker { .. }, Outcome::Registered(e)) = (&op, &outcome) {
                extra_epoch = Some(*e);
            }
            if let (Op::CreateDurable { name }, Outcome::Created(id)) = (&op, &outcome) {
                self.durable
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push((name.clone(), id.clone()));
            }
            self.history.record(Entry {
                client: k,
                op,
                invoke,
                complete: self.history.now(),
                outcome,
                observed,
            });
        }
    }

    /// Sends one operation and classifies its result. `extra` is the cluster id, or the
    /// incarnation for the extra broker's registration; `epoch` its broker epoch.
    pub async fn execute(
        &self,
        client: &Client,
        op: &Op,
        extra: &str,
        epoch: Option<i64>,
    ) -> (Outcome, Vec<PartitionObs>) {
        let refused_or_ok = |e: Option<&ItemError>| match failure(e) {
            Some(name) => Outcome::Refused(name),
            None => Outcome::Ok,
        };
        match op {
            Op::ReadTopic { name } | Op::ReadDurable { name } => {
                match client.describe_topics([name.as_str()], false).await {
                    Ok(r) => match r.topics.first() {
                        Some(t)
                            if t.error
                                .as_ref()
                                .is_some_and(|e| e.error_code == UNKNOWN_TOPIC_OR_PARTITION) =>
                        {
                            (Outcome::Topic(None), vec![])
                        }
                        Some(t) if failure(t.error.as_ref()).is_none() => (
                            Outcome::Topic(Some(t.partitions.len() as u32)),
                            observations(t),
                        ),
                        Some(t) => (
                            Outcome::Refused(failure(t.error.as_ref()).unwrap_or_default()),
                            vec![],
                        ),
                        None => (Outcome::Refused("empty answer".into()), vec![]),
                    },
                    Err(e) => (unknown(e), vec![]),
                }
            }
            Op::CreateTopic { name, partitions } => {
                let req = create_req(name, *partitions as i32, 2);
                match client.create_topics(req).await {
                    Ok(r) => (
                        refused_or_ok(r.topics.first().and_then(|t| t.error.as_ref())),
                        vec![],
                    ),
                    Err(e) => (unknown(e), vec![]),
                }
            }
            Op::CreateDurable { name } => {
                match client.create_topics(create_req(name, 2, 3)).await {
                    Ok(r) => match r.topics.first() {
                        Some(t) if failure(t.error.as_ref()).is_none() => {
                            (Outcome::Created(t.topic_id.clone()), vec![])
                        }
                        t => (
                            Outcome::Refused(
                                failure(t.and_then(|t| t.error.as_ref())).unwrap_or_default(),
                            ),
                            vec![],
                        ),
                    },
                    Err(e) => (unknown(e), vec![]),
                }
            }
            Op::DeleteTopic { name } => {
                let req = DeleteTopicsRequest {
                    topics: vec![DeleteTopicState {
                        name: name.clone(),
                        topic_id: String::new(),
                    }],
                };
                match client.delete_topics(req).await {
                    Ok(r) => (
                        refused_or_ok(r.responses.first().and_then(|t| t.error.as_ref())),
                        vec![],
                    ),
                    Err(e) => (unknown(e), vec![]),
                }
            }
            Op::CreatePartitions { name, count } => {
                let req = CreatePartitionsRequest {
                    topics: vec![CreatePartitionsTopic {
                        name: name.clone(),
                        count: *count as i32,
                        assignments: vec![],
                    }],
                    validate_only: false,
                };
                match client.create_partitions(req).await {
                    Ok(r) => (
                        refused_or_ok(r.results.first().and_then(|t| t.error.as_ref())),
                        vec![],
                    ),
                    Err(e) => (unknown(e), vec![]),
                }
            }
            Op::SetConfig { value } => {
                let req = IncrementalAlterConfigsRequest {
                    resources: vec![AlterConfigsResource {
                        resource_type: ConfigResourceType::Broker as i32,
                        resource_name: String::new(),
                        configs: vec![AlterableConfig {
                            name: CONFIG_KEY.into(),
                            config_operation: ConfigOperation::Set as i32,
                            value: Some(value.to_string()),
                        }],
                    }],
                    validate_only: false,
                };
                match client.incremental_alter_configs(req).await {
                    Ok(r) => (
                        refused_or_ok(r.responses.first().and_then(|t| t.error.as_ref())),
                        vec![],
                    ),
                    Err(e) => (unknown(e), vec![]),
                }
            }
            Op::ReadConfig => (read_config(client).await, vec![]),
            Op::AllocatePids { broker } => {
                let Some(b) = self
                    .brokers
                    .brokers()
                    .into_iter()
                    .find(|b| b.broker_id == *broker)
                else {
                    return (Outcome::Refused("no such simulated broker".into()), vec![]);
                };
                let req = AllocateProducerIdsRequest {
                    broker_id: b.broker_id,
                    broker_epoch: b.broker_epoch,
                };
                match client.allocate_producer_ids(req).await {
                    Ok(r) => match failure(r.error.as_ref()) {
                        Some(name) => (Outcome::Refused(name), vec![]),
                        None => (
                            Outcome::Pids {
                                start: r.producer_id_start,
                                len: r.producer_id_len,
                            },
                            vec![],
                        ),
                    },
                    Err(e) => (unknown(e), vec![]),
                }
            }
            Op::RegisterBroker { id } => {
                let req = RegisterBrokerRequest {
                    broker_id: *id,
                    cluster_id: self.brokers.cluster_id().to_string(),
                    incarnation_id: extra.to_string(),
                    listeners: vec![Listener {
                        name: "PLAINTEXT".into(),
                        host: "127.0.0.1".into(),
                        port: 29_000 + *id as u32,
                        security_protocol: "PLAINTEXT".into(),
                    }],
                    rack: None,
                    features: vec![],
                };
                match client.register_broker(req).await {
                    Ok(r) => match failure(r.error.as_ref()) {
                        Some(name) => (Outcome::Refused(name), vec![]),
                        None => (Outcome::Registered(r.broker_epoch), vec![]),
                    },
                    Err(e) => (unknown(e), vec![]),
                }
            }
            Op::Heartbeat { id } => {
                let req = BrokerHeartbeatRequest {
                    broker_id: *id,
                    broker_epoch: epoch.unwrap_or(-1),
                    current_metadata_offset: 0,
                    want_fence: false,
                    want_shut_down: false,
                };
                match client.broker_heartbeat(req).await {
                    Ok(r) => (refused_or_ok(r.error.as_ref()), vec![]),
                    Err(e) => (unknown(e), vec![]),
                }
            }
            Op::AlterPartition { .. } => (Outcome::Refused("use alter_partition".into()), vec![]),
        }
    }

    /// AlterPartition as the partition's leader, from the state a linearizable read returns:
    /// shrink a full ISR by one follower, or grow a short one by a missing replica.
    async fn alter_partition(
        &self,
        client: &Client,
        name: &str,
        partition: i32,
        rng: &mut StdRng,
    ) -> (Outcome, Vec<PartitionObs>) {
        // The leader first reads the state it changes (linearizable); what it saw is
        // observed within this operation's interval too.
        let t = match client.describe_topics([name], false).await {
            Ok(r) => match r.topics.into_iter().next() {
                Some(t) if failure(t.error.as_ref()).is_none() => t,
                _ => return (Outcome::Refused("describe failed".into()), vec![]),
            },
            Err(e) => return (Outcome::Refused(format!("describe failed: {e}")), vec![]),
        };
        let mut seen = observations(&t);
        let Some(p) = t.partitions.iter().find(|p| p.partition_index == partition) else {
            return (Outcome::Refused("no such partition".into()), seen);
        };
        let brokers = self.brokers.brokers();
        let Some(leader) = brokers.iter().find(|b| b.broker_id == p.leader) else {
            return (Outcome::Refused("no leader".into()), seen);
        };
        let mut isr = p.isr.clone();
        let missing: Vec<i32> = p
            .replicas
            .iter()
            .copied()
            .filter(|r| !isr.contains(r))
            .collect();
        if missing.is_empty() {
            let followers: Vec<i32> = isr.iter().copied().filter(|r| *r != p.leader).collect();
            if followers.is_empty() {
                return (Outcome::Refused("nothing to change".into()), seen);
            }
            let out = followers[rng.random_range(0..followers.len())];
            isr.retain(|r| *r != out);
        } else {
            isr.push(missing[rng.random_range(0..missing.len())]);
        }
        let req = AlterPartitionRequest {
            broker_id: leader.broker_id,
            broker_epoch: leader.broker_epoch,
            topics: vec![AlterPartitionRequestTopic {
                topic_id: t.topic_id.clone(),
                partitions: vec![AlterPartitionRequestPartition {
                    partition_index: partition,
                    leader_epoch: p.leader_epoch,
                    new_isr_with_epochs: isr
                        .iter()
                        .map(|b| BrokerIdAndEpoch {
                            broker_id: *b,
                            broker_epoch: -1,
                        })
                        .collect(),
                    leader_recovery_state: 0,
                    partition_epoch: p.partition_epoch,
                }],
            }],
        };
        match client.alter_partition(req).await {
            Ok(r) => {
                if let Some(name) = failure(r.error.as_ref()) {
                    return (Outcome::Refused(name), seen);
                }
                let Some(rp) = r.topics.first().and_then(|t| t.partitions.first()) else {
                    return (Outcome::Refused("empty answer".into()), seen);
                };
                match failure(rp.error.as_ref()) {
                    Some(name) => (Outcome::Refused(name), seen),
                    None => {
                        // The acknowledged state comes last (see `checker::check_durable`).
                        seen.push(PartitionObs {
                            topic_id: t.topic_id.clone(),
                            partition,
                            leader_epoch: rp.leader_epoch,
                            partition_epoch: rp.partition_epoch,
                        });
                        (Outcome::Ok, seen)
                    }
                }
            }
            Err(e) => (unknown(e), seen),
        }
    }
}

fn create_req(name: &str, partitions: i32, rf: i32) -> CreateTopicsRequest {
    CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: name.to_string(),
            num_partitions: partitions,
            replication_factor: rf,
            configs: vec![],
            assignments: vec![],
        }],
        validate_only: false,
    }
}

/// Linearizable read of the cluster-level [`CONFIG_KEY`]: `Config(None)` when only the
/// static default applies.
pub async fn read_config(client: &Client) -> Outcome {
    let req = DescribeConfigsRequest {
        resources: vec![DescribeConfigsResource {
            resource_type: ConfigResourceType::Broker as i32,
            resource_name: String::new(),
            configuration_keys: vec![CONFIG_KEY.into()],
        }],
    };
    match client.describe_configs(req).await {
        Ok(r) => match r.results.first() {
            Some(res) if failure(res.error.as_ref()).is_none() => Outcome::Config(
                res.configs
                    .iter()
                    .find(|c| {
                        c.name == CONFIG_KEY
                            && c.source == ConfigSource::DynamicDefaultBrokerConfig as i32
                    })
                    .and_then(|c| c.value.clone()),
            ),
            Some(res) => Outcome::Refused(failure(res.error.as_ref()).unwrap_or_default()),
            None => Outcome::Refused("empty answer".into()),
        },
        Err(e) => unknown(e),
    }
}
