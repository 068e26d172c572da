//! A hand-driven test broker: registers, heartbeats on its own task, and can stop heartbeating
//! or ask for a controlled shutdown — what the integration tests need to drive the broker
//! lifecycle one broker at a time.

use std::sync::Arc;
use std::time::Duration;

use kraft_client::Client;
use kraft_proto::{
    BrokerHeartbeatRequest, BrokerHeartbeatResponse, Listener, RegisterBrokerRequest,
};
use tokio::sync::watch;

/// What the heartbeat task should do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Heartbeat normally.
    Run,
    /// Heartbeat with `want_shut_down`.
    ShutDown,
    /// Stop sending heartbeats (a crashed broker).
    Silent,
}

/// One test broker.
pub struct TestBroker {
    /// Broker id.
    pub id: i32,
    /// Broker epoch from registration.
    pub epoch: i64,
    mode: watch::Sender<Mode>,
    last: watch::Receiver<Option<BrokerHeartbeatResponse>>,
    task: tokio::task::JoinHandle<()>,
}

impl TestBroker {
    /// Registers broker `id` and starts heartbeating every `interval`.
    pub async fn start(client: &Client, id: i32, interval: Duration) -> Self {
        let cluster = client
            .describe_cluster(false)
            .await
            .expect("describe cluster");
        let resp = client
            .register_broker(RegisterBrokerRequest {
                broker_id: id,
                cluster_id: cluster.cluster_id,
                incarnation_id: uuid_v4(),
                listeners: vec![Listener {
                    name: "PLAINTEXT".into(),
                    host: "127.0.0.1".into(),
                    port: 19_000 + id as u32,
                    security_protocol: "PLAINTEXT".into(),
                }],
                rack: None,
                features: vec![],
            })
            .await
            .expect("register broker");
        let code = resp.error.as_ref().map(|e| e.error_code).unwrap_or(0);
        assert_eq!(
            code, 0,
            "registration of broker {id} failed: {:?}",
            resp.error
        );
        let epoch = resp.broker_epoch;
        let (mode_tx, mode_rx) = watch::channel(Mode::Run);
        let (last_tx, last_rx) = watch::channel(None);
        let client = client.clone();
        let task = tokio::spawn(heartbeat_loop(
            client,
            id,
            epoch,
            interval,
            mode_rx,
            Arc::new(last_tx),
        ));
        TestBroker {
            id,
            epoch,
            mode: mode_tx,
            last: last_rx,
            task,
        }
    }

    /// Switches the heartbeat behaviour.
    pub fn set_mode(&self, mode: Mode) {
        let _ = self.mode.send(mode);
    }

    /// Waits until a heartbeat answer satisfies `pred`; returns it.
    pub async fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&BrokerHeartbeatResponse) -> bool,
    ) -> BrokerHeartbeatResponse {
        let found = match tokio::time::timeout(
            timeout,
            self.last.wait_for(|r| r.as_ref().is_some_and(&pred)),
        )
        .await
        {
            Ok(Ok(r)) => r.clone(),
            _ => None,
        };
        match found {
            Some(r) => r,
            None => panic!(
                "broker {}: timed out after {timeout:?} waiting for {what}; last: {:?}",
                self.id,
                *self.last.borrow()
            ),
        }
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn uuid_v4() -> String {
    uuid::Uuid::new_v4().to_string()
}

async fn heartbeat_loop(
    client: Client,
    id: i32,
    epoch: i64,
    interval: Duration,
    mut mode: watch::Receiver<Mode>,
    last: Arc<watch::Sender<Option<BrokerHeartbeatResponse>>>,
) {
    let mut tick = tokio::time::interval(interval);
    loop {
        tick.tick().await;
        let m = *mode.borrow_and_update();
        if m == Mode::Silent {
            continue;
        }
        let offset = match client.describe_cluster(true).await {
            Ok(d) => d.metadata_offset as i64,
            Err(_) => continue,
        };
        let req = BrokerHeartbeatRequest {
            broker_id: id,
            broker_epoch: epoch,
            current_metadata_offset: offset,
            want_fence: false,
            want_shut_down: m == Mode::ShutDown,
        };
        if let Ok(r) = client.broker_heartbeat(req).await {
            let _ = last.send(Some(r));
        }
    }
}
