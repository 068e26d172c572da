//! A minimal Rust broker on `kraft_client::broker`: follow the metadata stream, register,
//! heartbeat until unfenced, read the image, then shut down in a controlled way.
//!
//! ```sh
//! cargo run --release --bin kraftd -- dev                                # controllers
//! cargo run -p kraft-client --example broker -- 127.0.0.1:9093 7         # broker 7; Ctrl-C stops it
//! ```

use std::time::Duration;

use anyhow::Context as _;
use kraft_client::Client;
use kraft_client::broker::{BrokerClient, BrokerConfig, MetadataCache};
use kraft_client::proto::Listener;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let bootstrap = args.next().unwrap_or_else(|| "127.0.0.1:9093".to_owned());
    let broker_id: i32 = args
        .next()
        .map(|a| a.parse())
        .transpose()
        .context("broker id must be an integer")?
        .unwrap_or(1);

    let client = Client::connect(&bootstrap).await?;
    // The cache follows FetchMetadata from any controller and reconnects by itself.
    let cache = MetadataCache::for_client(&client);
    let listener = Listener {
        name: "PLAINTEXT".to_owned(),
        host: "127.0.0.1".to_owned(),
        port: 9092,
        security_protocol: "PLAINTEXT".to_owned(),
    };
    let config = BrokerConfig {
        heartbeat_interval: Duration::from_millis(500),
        ..BrokerConfig::new(broker_id, listener)
    };
    let broker = BrokerClient::register(client, cache.clone(), config).await?;
    println!(
        "registered broker {broker_id} with epoch {}",
        broker.broker_epoch()
    );

    // Heartbeats report the cache's applied offset; the controller unfences the broker once
    // that offset reaches its registration (the broker epoch).
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let heartbeats = tokio::spawn({
        let broker = broker.clone();
        async move {
            broker
                .run(async move {
                    let _ = stopped.wait_for(|s| *s).await;
                })
                .await
        }
    });
    broker.wait_unfenced(Duration::from_secs(30)).await?;
    let (offset, hash) = cache.image_hash();
    println!("unfenced at metadata offset {offset:?} (image hash {hash:08x})");
    cache.read(|image| {
        for topic in image.topics().iter() {
            println!(
                "topic {}: {} partitions",
                topic.name,
                topic.partitions.len()
            );
        }
    });

    println!("running; Ctrl-C to shut down");
    tokio::signal::ctrl_c().await?;
    let _ = stop.send(true);
    let _ = heartbeats.await;
    broker.controlled_shutdown(Duration::from_secs(30)).await?;
    println!("controlled shutdown complete");
    Ok(())
}
