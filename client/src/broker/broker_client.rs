//! [`BrokerClient`]: one broker's session with the controllers (KIP-631): registration,
//! heartbeats reporting the [`MetadataCache`]'s applied offset, AlterPartition and controlled
//! shutdown.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use kraft_proto::{
    AlterPartitionRequest, AlterPartitionRequestTopic, AlterPartitionResponse,
    BrokerHeartbeatRequest, ItemError, Listener, RegisterBrokerRequest, SupportedFeature,
};
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{debug, info, warn};
use uuid::Uuid;

use super::MetadataCache;
use crate::{Client, ClientError, item_failure};

/// Kafka's STALE_BROKER_EPOCH: the controller has a newer registration for this broker.
const STALE_BROKER_EPOCH: i32 = 77;
/// Kafka's BROKER_ID_NOT_REGISTERED: the controller does not know the broker (any more).
const BROKER_ID_NOT_REGISTERED: i32 = 102;

/// What a broker registers with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerConfig {
    /// Broker id (Kafka `node.id`).
    pub broker_id: i32,
    /// New for every broker process start.
    pub incarnation_id: Uuid,
    /// Advertised listeners.
    pub listeners: Vec<Listener>,
    /// Rack, if any.
    pub rack: Option<String>,
    /// Supported feature ranges (only advertised features are checked).
    pub features: Vec<SupportedFeature>,
    /// Time between heartbeats (Kafka `broker.heartbeat.interval.ms`, default 2 s).
    pub heartbeat_interval: Duration,
}

impl BrokerConfig {
    /// Broker `broker_id` with a fresh incarnation id, one listener, no rack, 2 s heartbeats.
    pub fn new(broker_id: i32, listener: Listener) -> Self {
        Self {
            broker_id,
            incarnation_id: Uuid::new_v4(),
            listeners: vec![listener],
            rack: None,
            features: Vec::new(),
            heartbeat_interval: Duration::from_secs(2),
        }
    }
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

/// One registered broker. Cheap to clone; clones share the session.
#[derive(Clone, Debug)]
pub struct BrokerClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: Client,
    cache: MetadataCache,
    cluster_id: String,
    config: BrokerConfig,
    broker_epoch: AtomicI64,
    want_shut_down: AtomicBool,
    status: watch::Sender<Option<HeartbeatStatus>>,
}

impl BrokerClient {
    /// Reads the cluster id (`DescribeCluster`) and registers the broker.
    pub async fn register(
        client: Client,
        cache: MetadataCache,
        config: BrokerConfig,
    ) -> Result<Self, ClientError> {
        let cluster_id = client.describe_cluster(false).await?.cluster_id;
        Self::register_in(client, cache, cluster_id, config).await
    }

    /// Registers the broker with cluster `cluster_id`. Fails with [`ClientError::Item`]
    /// carrying the controller's Kafka error (e.g. `DUPLICATE_BROKER_REGISTRATION`).
    pub async fn register_in(
        client: Client,
        cache: MetadataCache,
        cluster_id: String,
        config: BrokerConfig,
    ) -> Result<Self, ClientError> {
        let epoch = register(&client, &cluster_id, &config).await?;
        let (status, _) = watch::channel(None);
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                cache,
                cluster_id,
                config,
                broker_epoch: AtomicI64::new(epoch),
                want_shut_down: AtomicBool::new(false),
                status,
            }),
        })
    }

    /// Broker id.
    pub fn broker_id(&self) -> i32 {
        self.inner.config.broker_id
    }

    /// The broker epoch of the registration in force (the log offset of its record).
    pub fn broker_epoch(&self) -> i64 {
        self.inner.broker_epoch.load(Ordering::SeqCst)
    }

    /// What the broker registered with.
    pub fn config(&self) -> &BrokerConfig {
        &self.inner.config
    }

    /// The cluster id the broker registered with.
    pub fn cluster_id(&self) -> &str {
        &self.inner.cluster_id
    }

    /// The broker's metadata cache.
    pub fn cache(&self) -> &MetadataCache {
        &self.inner.cache
    }

    /// The last heartbeat answer (`None` before the first).
    pub fn status(&self) -> Option<HeartbeatStatus> {
        self.inner.status.borrow().clone()
    }

    /// A watch of the last heartbeat answer.
    pub fn watch_status(&self) -> watch::Receiver<Option<HeartbeatStatus>> {
        self.inner.status.subscribe()
    }

    /// Sends one heartbeat reporting the cache's applied offset (and `want_shut_down` once
    /// [`BrokerClient::controlled_shutdown`] began). A refusal with `STALE_BROKER_EPOCH` or
    /// `BROKER_ID_NOT_REGISTERED` re-registers with the same incarnation id, as a Kafka broker
    /// does after losing its session; the returned status still carries the refusal.
    pub async fn heartbeat(&self) -> Result<HeartbeatStatus, ClientError> {
        let id = self.broker_id();
        let req = BrokerHeartbeatRequest {
            broker_id: id,
            broker_epoch: self.broker_epoch(),
            current_metadata_offset: self.inner.cache.heartbeat_offset(),
            want_fence: false,
            want_shut_down: self.inner.want_shut_down.load(Ordering::SeqCst),
        };
        let resp = self.inner.client.broker_heartbeat(req).await?;
        let status = HeartbeatStatus {
            is_fenced: resp.is_fenced,
            is_caught_up: resp.is_caught_up,
            should_shut_down: resp.should_shut_down,
            error: item_failure(resp.error.as_ref()).cloned(),
        };
        debug!(
            broker_id = id,
            fenced = status.is_fenced,
            caught_up = status.is_caught_up,
            "heartbeat"
        );
        self.inner.status.send_replace(Some(status.clone()));
        if let Some(err) = &status.error {
            warn!(broker_id = id, code = err.error_code, name = %err.error_name, message = %err.error_message, "heartbeat refused");
            if matches!(
                err.error_code,
                STALE_BROKER_EPOCH | BROKER_ID_NOT_REGISTERED
            ) {
                let epoch = register(
                    &self.inner.client,
                    &self.inner.cluster_id,
                    &self.inner.config,
                )
                .await?;
                self.inner.broker_epoch.store(epoch, Ordering::SeqCst);
            }
        }
        Ok(status)
    }

    /// Heartbeats every `heartbeat_interval`, starting now, until `shutdown` completes.
    /// Failed heartbeats are logged and retried at the next tick, so the loop rides out
    /// controller failovers.
    pub async fn run<S: Future<Output = ()>>(&self, shutdown: S) {
        let mut tick = tokio::time::interval(self.inner.config.heartbeat_interval);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                _ = tick.tick() => {}
            }
            tokio::select! {
                () = &mut shutdown => return,
                r = self.heartbeat() => if let Err(e) = r {
                    warn!(broker_id = self.broker_id(), error = %e, "heartbeat failed");
                }
            }
        }
    }

    /// Returns once a heartbeat answer says the broker is unfenced. Needs
    /// [`BrokerClient::run`] running elsewhere.
    pub async fn wait_unfenced(&self, timeout: Duration) -> Result<(), ClientError> {
        let mut rx = self.watch_status();
        let unfenced = |s: &Option<HeartbeatStatus>| s.as_ref().is_some_and(|s| !s.is_fenced);
        match tokio::time::timeout(timeout, rx.wait_for(unfenced)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) | Err(_) => Err(ClientError::WaitTimeout {
                what: format!("broker {} to be unfenced", self.broker_id()),
                after: timeout,
                last: format!("{:?}", self.status()),
            }),
        }
    }

    /// `AlterPartition` as this broker (its id and current epoch), e.g. an ISR shrink or
    /// expand for partitions it leads.
    pub async fn alter_partition(
        &self,
        topics: Vec<AlterPartitionRequestTopic>,
    ) -> Result<AlterPartitionResponse, ClientError> {
        self.inner
            .client
            .alter_partition(AlterPartitionRequest {
                broker_id: self.broker_id(),
                broker_epoch: self.broker_epoch(),
                topics,
            })
            .await
    }

    /// Controlled shutdown (KIP-631): heartbeats with `want_shut_down` every
    /// `heartbeat_interval` until the controller answers `should_shut_down` — once leadership
    /// moved away and this broker's metadata caught up to the shutdown offset. Fails with
    /// [`ClientError::WaitTimeout`] when that takes longer than `timeout`.
    pub async fn controlled_shutdown(&self, timeout: Duration) -> Result<(), ClientError> {
        self.inner.want_shut_down.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + timeout;
        let mut last = String::from("no answer yet");
        while Instant::now() < deadline {
            match self.heartbeat().await {
                Ok(s) if s.should_shut_down => {
                    info!(broker_id = self.broker_id(), "controlled shutdown complete");
                    return Ok(());
                }
                Ok(s) => last = format!("{s:?}"),
                Err(e) => last = e.to_string(),
            }
            let next = (Instant::now() + self.inner.config.heartbeat_interval).min(deadline);
            tokio::time::sleep_until(next).await;
        }
        Err(ClientError::WaitTimeout {
            what: format!("controlled shutdown of broker {}", self.broker_id()),
            after: timeout,
            last,
        })
    }
}

async fn register(
    client: &Client,
    cluster_id: &str,
    config: &BrokerConfig,
) -> Result<i64, ClientError> {
    let req = RegisterBrokerRequest {
        broker_id: config.broker_id,
        cluster_id: cluster_id.to_owned(),
        incarnation_id: config.incarnation_id.to_string(),
        listeners: config.listeners.clone(),
        rack: config.rack.clone(),
        features: config.features.clone(),
    };
    let resp = client.register_broker(req).await?;
    if let Some(e) = item_failure(resp.error.as_ref()) {
        return Err(ClientError::Item {
            rpc: "RegisterBroker",
            item: format!("broker {}", config.broker_id),
            error_code: e.error_code,
            error_name: e.error_name.clone(),
            error_message: e.error_message.clone(),
        });
    }
    info!(
        broker_id = config.broker_id,
        broker_epoch = resp.broker_epoch,
        "registered broker"
    );
    Ok(resp.broker_epoch)
}
