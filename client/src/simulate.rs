//! [`BrokerSimulator`]: fake brokers that register and heartbeat like Kafka brokers do
//! (KIP-631), so a controller quorum can be exercised without a data plane.
//!
//! ```text
//! register():  DescribeCluster(local=false) -> cluster_id
//!              RegisterBroker(id, fresh incarnation_id, PLAINTEXT 127.0.0.1:19092+id) per broker
//! run():       every interval: DescribeCluster(local=true) -> metadata_offset
//!              BrokerHeartbeat(id, epoch, current_metadata_offset) per broker -> status
//! wait_unfenced(): until every broker's last heartbeat said is_fenced == false
//! ```

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use kraft_proto::{BrokerHeartbeatRequest, ItemError, Listener, RegisterBrokerRequest};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;
use tracing::{debug, info, warn};
use uuid::Uuid;

use crate::{Client, ClientError, item_failure};

/// Kafka's STALE_BROKER_EPOCH: the controller has a newer registration for this broker.
const STALE_BROKER_EPOCH: i32 = 77;
/// Kafka's BROKER_ID_NOT_REGISTERED: the controller does not know the broker (any more).
const BROKER_ID_NOT_REGISTERED: i32 = 102;

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
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        Self {
            first_id: 1,
            count: 1,
            racks: 0,
            interval: Duration::from_secs(2),
            base_port: 19092,
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

/// The last heartbeat answer of one broker.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeartbeatStatus {
    /// Whether the controller considers the broker fenced.
    pub is_fenced: bool,
    /// Whether the broker's metadata offset has caught up.
    pub is_caught_up: bool,
    /// Whether the controller asks the broker to shut down.
    pub should_shut_down: bool,
    /// A non-zero error from the reply, if any.
    pub error: Option<ItemError>,
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
    client: Client,
    config: SimulatorConfig,
    cluster_id: String,
    /// Registration and last heartbeat answer per broker id; `None` until the first answer.
    state: watch::Sender<BTreeMap<i32, (RegisteredBroker, Option<HeartbeatStatus>)>>,
}

impl BrokerSimulator {
    /// Fetches the cluster id from the active controller and registers every broker, each with
    /// a fresh random v4 `incarnation_id`.
    ///
    /// Fails on the first broker whose registration fails, as an RPC error or as
    /// [`ClientError::Item`] with the reply's Kafka error.
    pub async fn register(client: Client, config: SimulatorConfig) -> Result<Self, ClientError> {
        let cluster = client.describe_cluster(false).await?;
        let cluster_id = cluster.cluster_id;
        let mut brokers = BTreeMap::new();
        for i in 0..config.count {
            let broker_id = broker_id(config.first_id, i)?;
            let broker = RegisteredBroker {
                broker_id,
                broker_epoch: -1,
                incarnation_id: Uuid::new_v4(),
                rack: (config.racks > 0).then(|| {
                    format!(
                        "rack-{}",
                        i64::from(broker_id).rem_euclid(config.racks.into())
                    )
                }),
                listener: Listener {
                    name: "PLAINTEXT".to_owned(),
                    host: "127.0.0.1".to_owned(),
                    port: u32::from(config.base_port).saturating_add_signed(broker_id),
                    security_protocol: "PLAINTEXT".to_owned(),
                },
            };
            let epoch = register_one(&client, &cluster_id, &broker).await?;
            brokers.insert(
                broker_id,
                (
                    RegisteredBroker {
                        broker_epoch: epoch,
                        ..broker
                    },
                    None,
                ),
            );
        }
        let (state, _) = watch::channel(brokers);
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                config,
                cluster_id,
                state,
            }),
        })
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
    /// Each round first reads the contacted controller's applied offset
    /// (`DescribeCluster(local=true)`) and reports it as `current_metadata_offset`, so the
    /// brokers look caught up. RPC failures are logged and the round is retried at the next
    /// tick, so the simulator rides out a controller failover. A broker refused with
    /// `STALE_BROKER_EPOCH` or `BROKER_ID_NOT_REGISTERED` registers again with the same
    /// incarnation id, as a Kafka broker does after losing its session.
    pub async fn run<S: Future<Output = ()>>(&self, shutdown: S) {
        let mut tick = tokio::time::interval(self.inner.config.interval);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        let mut offset: i64 = 0;
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
                () = self.round(&mut offset) => {}
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
    async fn round(&self, offset: &mut i64) {
        let client = &self.inner.client;
        match client.describe_cluster(true).await {
            // Offsets beyond i64::MAX cannot happen in practice; saturate rather than wrap.
            Ok(c) => *offset = i64::try_from(c.metadata_offset).unwrap_or(i64::MAX),
            Err(e) => {
                warn!(error = %e, offset = *offset, "describe cluster failed; reusing last offset")
            }
        }
        let mut beats = JoinSet::new();
        for broker in self.brokers() {
            let this = self.clone();
            let offset = *offset;
            beats.spawn(async move { this.heartbeat(broker, offset).await });
        }
        while let Some(joined) = beats.join_next().await {
            if let Err(e) = joined {
                warn!(error = %e, "heartbeat task failed");
            }
        }
    }

    async fn heartbeat(&self, broker: RegisteredBroker, offset: i64) {
        let id = broker.broker_id;
        let req = BrokerHeartbeatRequest {
            broker_id: id,
            broker_epoch: broker.broker_epoch,
            current_metadata_offset: offset,
            want_fence: false,
            want_shut_down: false,
        };
        let resp = match self.inner.client.broker_heartbeat(req).await {
            Ok(r) => r,
            Err(e) => {
                warn!(broker_id = id, error = %e, "heartbeat failed");
                return;
            }
        };
        let error = item_failure(resp.error.as_ref()).cloned();
        let status = HeartbeatStatus {
            is_fenced: resp.is_fenced,
            is_caught_up: resp.is_caught_up,
            should_shut_down: resp.should_shut_down,
            error: error.clone(),
        };
        debug!(
            broker_id = id,
            fenced = status.is_fenced,
            caught_up = status.is_caught_up,
            "heartbeat"
        );
        if status.should_shut_down {
            warn!(broker_id = id, "controller asks the broker to shut down");
        }
        self.inner.state.send_modify(|m| {
            if let Some(entry) = m.get_mut(&id) {
                entry.1 = Some(status);
            }
        });
        let Some(err) = error else { return };
        warn!(broker_id = id, code = err.error_code, name = %err.error_name, message = %err.error_message, "heartbeat refused");
        if matches!(
            err.error_code,
            STALE_BROKER_EPOCH | BROKER_ID_NOT_REGISTERED
        ) {
            match register_one(&self.inner.client, &self.inner.cluster_id, &broker).await {
                Ok(epoch) => self.inner.state.send_modify(|m| {
                    if let Some(entry) = m.get_mut(&id) {
                        entry.0.broker_epoch = epoch;
                    }
                }),
                Err(e) => warn!(broker_id = id, error = %e, "re-registration failed"),
            }
        }
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

async fn register_one(
    client: &Client,
    cluster_id: &str,
    broker: &RegisteredBroker,
) -> Result<i64, ClientError> {
    let req = RegisterBrokerRequest {
        broker_id: broker.broker_id,
        cluster_id: cluster_id.to_owned(),
        incarnation_id: broker.incarnation_id.to_string(),
        listeners: vec![broker.listener.clone()],
        rack: broker.rack.clone(),
        features: Vec::new(),
    };
    let resp = client.register_broker(req).await?;
    if let Some(e) = item_failure(resp.error.as_ref()) {
        return Err(ClientError::Item {
            rpc: "RegisterBroker",
            item: format!("broker {}", broker.broker_id),
            error_code: e.error_code,
            error_name: e.error_name.clone(),
            error_message: e.error_message.clone(),
        });
    }
    info!(
        broker_id = broker.broker_id,
        broker_epoch = resp.broker_epoch,
        "registered broker"
    );
    Ok(resp.broker_epoch)
}
