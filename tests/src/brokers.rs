//! Simulated brokers for tests: registered, heartbeating in the background, unfenced.

use std::time::Duration;

use kraft_client::simulate::{BrokerSimulator, SimulatorConfig};
use kraft_client::{Client, ClientConfig};
use tokio::sync::oneshot;

/// Brokers kept alive by a background heartbeat task until dropped.
pub struct Brokers {
    /// The simulator (registrations and last heartbeat answers).
    pub sim: BrokerSimulator,
    stop: Option<oneshot::Sender<()>>,
}

impl Brokers {
    /// Registers `count` brokers (ids 1..=count) through `bootstrap`, heartbeats them every
    /// 200 ms and waits until every one is unfenced.
    pub async fn start(bootstrap: &str, count: u32) -> Self {
        Self::start_with(bootstrap, count, &ClientConfig::default()).await
    }

    /// [`Brokers::start`] with a client config (e.g. TLS and a certificate).
    pub async fn start_with(bootstrap: &str, count: u32, config: &ClientConfig) -> Self {
        let client = crate::wait_until(
            "connect for brokers",
            Duration::from_secs(30),
            || async move {
                Client::connect_with(bootstrap, config.clone())
                    .await
                    .map_err(|e| e.to_string())
            },
        )
        .await;
        let config = SimulatorConfig {
            count,
            interval: Duration::from_millis(200),
            ..SimulatorConfig::default()
        };
        let sim = BrokerSimulator::register(client, config)
            .await
            .expect("register brokers");
        let (tx, rx) = oneshot::channel::<()>();
        let runner = sim.clone();
        tokio::spawn(async move {
            runner
                .run(async {
                    let _ = rx.await;
                })
                .await
        });
        sim.wait_unfenced(Duration::from_secs(30))
            .await
            .expect("brokers unfenced");
        Brokers {
            sim,
            stop: Some(tx),
        }
    }
}

impl Drop for Brokers {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}
