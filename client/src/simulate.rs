//! [`BrokerSimulator`]: fake brokers built on [`crate::broker`]: each registers, follows the
//! metadata stream with its own [`MetadataCache`] and heartbeats the offset it really applied
//! (KIP-631), so a controller quorum can be exercised without a data plane.
//!
//! ```text
//! register():  DescribeCluster(local=false) -> cluster_id
//!              per broker: MetadataCache (FetchMetadata from the bootstrap list) +
//!              BrokerClient::register_in(id, fresh incarnation_id, PLAINTEXT 127.0.0.1:19092+id)
//! run():       every interval: BrokerHeartbeat(id, epoch, cache offset) per broker -> status
//! wait_unfenced(): until every broker's last heartbeat said is_fenced == false
//! ```

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use kraft_proto::Listener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;
use tracing::{debug, info, warn};
use uuid::Uuid;

pub use crate::broker::HeartbeatStatus;
use crate::broker::{BrokerClient, BrokerConfig, MetadataCache};
use crate::{Client, ClientError};

/// What to simulate. [`Default`] is one broker with id 1, no racks, 2 s heartbeats.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimulatorConfig {
    /// Id of the first broker; brokers are `first_id..first_id + count`.
    pub first_id: i32,
    /// Number of brokers.
    pub count: u32,
    /// When > 0, broker `id` gets rack `rack-<id % racks>`; when 0, no rack.
    pub racks: u32,
    /// Time between heartbeat rounds.
    pub interval: Duration,
    /// Broker `id` advertises `PLAINTEXT://127.0.0.1:<base_port + id>`.
    pub base_port: u16,
    /// All brokers follow one [`MetadataCache`] (one FetchMetadata stream, one image) instead
    /// of one each. Each still heartbeats the offset that cache really applied. For load
    /// generators, where N copies of the image would only take CPU from the controllers.
    pub shared_cache: bool,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        Self {
            first_id: 1,
            count: 1,
            racks: 0,
            interval: Duration::from_secs(2),
            base_port: 19092,
            shared_cache: false,
        }
    }
}

/// A simulated broker as registered with the controller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisteredBroker {
    /// Broker id.
    pub broker_id: i32,
    /// Broker epoch returned by the registration in force.
    pub broker_epoch: i64,
    /// Incarnation id sent with the registration (new for every simulator).
    pub incarnation_id: Uuid,
    /// Rack sent with the registration.
    pub rack: Option<String>,
    /// The broker's single listener.
    pub listener: Listener,
}

/// Registers brokers `first_id..first_id + count` and heartbeats them until shut down.
///
/// Cheap to clone; clones share state, so one clone can [`run`](Self::run) in a spawned task
/// while another waits in [`wait_unfenced`](Self::wait_unfenced).
#[derive(Clone, Debug)]
pub struct BrokerSimulator {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: SimulatorConfig,
    cluster_id: String,
    /// The brokers' sessions, each with its own metadata cache.
    sessions: BTreeMap<i32, BrokerClient>,
    /// Registration and last heartbeat answer per broker id; `None` until the first answer.
    state: watch::Sender<BTreeMap<i32, (RegisteredBroker, Option<HeartbeatStatus>)>>,
}

impl BrokerSimulator {
    /// Fetches the cluster id from the active controller and registers every broker, each with
    /// a fresh random v4 `incarnation_id` and its own [`MetadataCache`] following the
    /// controllers of `client` (one for all with [`SimulatorConfig::shared_cache`]).
    ///
    /// Fails on the first broker whose registration fails, as an RPC error or as
    /// [`ClientError::Item`] with the reply's Kafka error.
    pub async fn register(client: Client, config: SimulatorConfig) -> Result<Self, ClientError> {
        let cluster = client.describe_cluster(false).await?;
        let cluster_id = cluster.cluster_id;
        let mut brokers = BTreeMap::new();
        let mut sessions = BTreeMap::new();
        let shared = config
            .shared_cache
            .then(|| MetadataCache::for_client(&client));
        for i in 0..config.count {
            let broker_id = broker_id(config.first_id, i)?;
            let listener = Listener {
                name: "PLAINTEXT".to_owned(),
                host: "127.0.0.1".to_owned(),
                port: u32::from(config.base_port).saturating_add_signed(broker_id),
                security_protocol: "PLAINTEXT".to_owned(),
            };
            let broker_config = BrokerConfig {
                rack: (config.racks > 0).then(|| {
                    format!(
                        "rack-{}",
                        i64::from(broker_id).rem_euclid(config.racks.into())
                    )
                }),
                heartbeat_interval: config.interval,
                ..BrokerConfig::new(broker_id, listener.clone())
            };
            let session = BrokerClient::register_in(
                client.clone(),
                shared
                    .clone()
                    .unwrap_or_else(|| MetadataCache::for_client(&client)),
                cluster_id.clone(),
                broker_config,
            )
            .await?;
            brokers.insert(broker_id, (registered(&session, listener), None));
            sessions.insert(broker_id, session);
        }
        let (state, _) = watch::channel(brokers);
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                cluster_id,
                sessions,
                state,
            }),
        })
    }

    /// Each broker's metadata cache, by id.
    pub fn caches(&self) -> BTreeMap<i32, MetadataCache> {
        self.inner
            .sessions
            .iter()
            .map(|(id, s)| (*id, s.cache().clone()))
            .collect()
    }

    /// Each broker's session, by id (for AlterPartition or a controlled shutdown).
    pub fn sessions(&self) -> BTreeMap<i32, BrokerClient> {
        self.inner.sessions.clone()
    }

    /// The cluster id the brokers registered with.
    pub fn cluster_id(&self) -> &str {
        &self.inner.cluster_id
    }

    /// The brokers with their current registration, by id.
    pub fn brokers(&self) -> Vec<RegisteredBroker> {
        self.inner
            .state
            .borrow()
            .values()
            .map(|(b, _)| b.clone())
            .collect()
    }

    /// The last heartbeat answer per broker id (`None` before the first answer).
    pub fn statuses(&self) -> BTreeMap<i32, Option<HeartbeatStatus>> {
        self.inner
            .state
            .borrow()
            .iter()
            .map(|(id, (_, s))| (*id, s.clone()))
            .collect()
    }

    /// Heartbeats every broker at once every `interval`, starting immediately, until
    /// `shutdown` completes.
    ///
    /// Each broker reports the offset its own [`MetadataCache`] has applied as
    /// `current_metadata_offset`. RPC failures are logged and the round is retried at the next
    /// tick, so the simulator rides out a controller failover. A broker refused with
    /// `STALE_BROKER_EPOCH` or `BROKER_ID_NOT_REGISTERED` registers again with the same
    /// incarnation id, as a Kafka broker does after losing its session.
    pub async fn run<S: Future<Output = ()>>(&self, shutdown: S) {
        let mut tick = tokio::time::interval(self.inner.config.interval);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => {
                    info!("broker simulator shutting down");
                    return;
                }
                _ = tick.tick() => {}
            }
            tokio::select! {
                () = &mut shutdown => {
                    info!("broker simulator shutting down");
                    return;
                }
                () = self.round() => {}
            }
        }
    }

    /// Returns once every broker's last heartbeat answer says `is_fenced == false`.
    ///
    /// Needs [`run`](Self::run) to be running elsewhere. Fails with
    /// [`ClientError::WaitTimeout`] naming the brokers still fenced when `timeout` passes.
    pub async fn wait_unfenced(&self, timeout: Duration) -> Result<(), ClientError> {
        let mut rx = self.inner.state.subscribe();
        let all_unfenced = |m: &BTreeMap<i32, (RegisteredBroker, Option<HeartbeatStatus>)>| {
            m.values()
                .all(|(_, s)| s.as_ref().is_some_and(|s| !s.is_fenced))
        };
        match tokio::time::timeout(timeout, rx.wait_for(all_unfenced)).await {
            Ok(Ok(_)) => Ok(()),
            // The sender lives in `self`, so the channel cannot close while we borrow it.
            Ok(Err(_)) | Err(_) => {
                let fenced: Vec<String> = self
                    .statuses()
                    .into_iter()
                    .filter(|(_, s)| s.as_ref().is_none_or(|s| s.is_fenced))
                    .map(|(id, s)| match s {
                        None => format!("{id} (no heartbeat answer yet)"),
                        Some(s) => format!("{id} (fenced, caught_up={})", s.is_caught_up),
                    })
                    .collect();
                Err(ClientError::WaitTimeout {
                    what: "every simulated broker to be unfenced".to_owned(),
                    after: timeout,
                    last: format!("still fenced: {}", fenced.join(", ")),
                })
            }
        }
    }

    /// One heartbeat round over every broker.
    async fn round(&self) {
        let mut beats = JoinSet::new();
        for session in self.inner.sessions.values() {
            let this = self.clone();
            let session = session.clone();
            beats.spawn(async move { this.heartbeat(session).await });
        }
        while let Some(joined) = beats.join_next().await {
            if let Err(e) = joined {
                warn!(error = %e, "heartbeat task failed");
            }
        }
    }

    async fn heartbeat(&self, session: BrokerClient) {
        let id = session.broker_id();
        let result = session.heartbeat().await;
        // Re-registration may have moved the epoch even when the call failed afterwards.
        let epoch = session.broker_epoch();
        if let Err(e) = &result {
            warn!(broker_id = id, error = %e, "heartbeat failed");
        }
        // The session's last answer: also set when the answer came but re-registering after
        // it failed.
        let status = session.status();
        if let Ok(s) = &result {
            debug!(broker_id = id, fenced = s.is_fenced, caught_up = s.is_caught_up, offset = ?session.cache().offset(), "heartbeat");
            if s.should_shut_down {
                warn!(broker_id = id, "controller asks the broker to shut down");
            }
        }
        self.inner.state.send_modify(|m| {
            if let Some(entry) = m.get_mut(&id) {
                entry.0.broker_epoch = epoch;
                if status.is_some() {
                    entry.1 = status;
                }
            }
        });
    }
}

/// The public view of one registered session.
fn registered(session: &BrokerClient, listener: Listener) -> RegisteredBroker {
    RegisteredBroker {
        broker_id: session.broker_id(),
        broker_epoch: session.broker_epoch(),
        incarnation_id: session.config().incarnation_id,
        rack: session.config().rack.clone(),
        listener,
    }
}

/// `first_id + i` without overflow.
fn broker_id(first_id: i32, i: u32) -> Result<i32, ClientError> {
    i32::try_from(i)
        .ok()
        .and_then(|i| first_id.checked_add(i))
        .ok_or_else(|| ClientError::InvalidArgument {
            field: "count".to_owned(),
            rule: format!("broker ids {first_id}..{first_id}+{i} overflow i32"),
        })
}
