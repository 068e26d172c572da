//! Metadata delivery to brokers (issue 4, SPEC §5 / §9): `FetchMetadata` streams stay
//! continuous across a leader SIGKILL, fall back to the image once the log was purged behind a
//! snapshot, and simulated brokers' images converge to the controllers' image.

use std::collections::BTreeSet;
use std::time::Duration;

use kraft_client::Client;
use kraft_client::broker::{Applied, CacheState, MetadataCache, image_hash};
use kraft_client::proto::broker_service_client::BrokerServiceClient;
use kraft_client::proto::fetch_metadata_response::Payload;
use kraft_client::proto::{CreatableTopic, CreateTopicsRequest, FetchMetadataRequest};
use kraft_tests::brokers::Brokers;
use kraft_tests::{Cluster, wait_for_leader, wait_until};
use tokio::sync::broadcast;
use tokio::time::Instant;
use tracing::info;

const NONE: i32 = 0;

fn create_req(name: &str, rf: i32) -> CreateTopicsRequest {
    CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: name.to_string(),
            num_partitions: 1,
            replication_factor: rf,
            configs: vec![],
            assignments: vec![],
        }],
        validate_only: false,
    }
}

/// Creates `names` one by one; every one must succeed.
async fn create_all(client: &Client, names: impl IntoIterator<Item = String>) {
    for name in names {
        let r = client
            .create_topics(create_req(&name, 1))
            .await
            .expect("create");
        let code = r.topics[0].error.as_ref().map_or(NONE, |e| e.error_code);
        assert_eq!(code, NONE, "{name}: {:?}", r.topics[0].error);
    }
}

/// Opens a raw `FetchMetadata` stream on `addr` from `offset`.
async fn raw_stream(
    addr: &str,
    offset: i64,
) -> tonic::Streaming<kraft_client::proto::FetchMetadataResponse> {
    let mut c = BrokerServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("connect");
    c.fetch_metadata(FetchMetadataRequest { offset })
        .await
        .expect("FetchMetadata")
        .into_inner()
}

/// The controller at `addr`'s image (and its offset), from a `FetchMetadata` stream started
/// at offset 0, which always begins with the full image.
async fn controller_image(addr: &str) -> CacheState {
    let mut stream = raw_stream(addr, 0).await;
    let mut state = CacheState::new();
    for _ in 0..100_000 {
        let msg = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .expect("image in time")
            .expect("stream ok")
            .expect("stream open");
        if let Applied::Image(_) = state.handle(msg).expect("valid image") {
            return state;
        }
    }
    panic!("no complete image from {addr}");
}

/// Drains `events` and checks that they form one gap-free, duplicate-free sequence: each delta
/// follows the previous offset by one; an image only moves forward. Returns (first, last,
/// images seen).
fn check_sequence(events: &mut broadcast::Receiver<Applied>) -> (u64, u64, usize) {
    let mut first = None;
    let mut last: Option<u64> = None;
    let mut images = 0;
    loop {
        let ev = match events.try_recv() {
            Ok(ev) => ev,
            Err(broadcast::error::TryRecvError::Empty) => break,
            Err(e) => panic!("event stream broken: {e:?}"),
        };
        match ev {
            Applied::Image(o) => {
                assert!(last.is_none_or(|l| o > l), "image at {o} after {last:?}");
                images += 1;
                last = Some(o);
            }
            Applied::Delta(o) => {
                if let Some(l) = last {
                    assert_eq!(o, l + 1, "delta {o} after {l}: gap or duplicate");
                }
                last = Some(o);
            }
            other => panic!("unexpected event {other:?}"),
        }
        first.get_or_insert(last.unwrap_or_default());
    }
    (first.unwrap_or(0), last.unwrap_or(0), images)
}

/// Waits until `cache` and a fresh cache are at the same offset with equal images.
async fn assert_equals_fresh_fetch(cache: &MetadataCache, bootstrap: &str) {
    let fresh = MetadataCache::start(bootstrap).expect("fresh cache");
    wait_until(
        "the cache to equal a fresh full fetch at the same offset",
        Duration::from_secs(30),
        || async {
            let (a, b) = (cache.image(), fresh.image());
            if a.last_applied_offset() != b.last_applied_offset() {
                return Err(format!(
                    "offsets {} vs fresh {}",
                    a.last_applied_offset(),
                    b.last_applied_offset()
                ));
            }
            if a != b {
                return Err(format!("images differ at {}", a.last_applied_offset()));
            }
            Ok(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_stream_is_continuous_across_leader_sigkill() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let mut cluster = Cluster::start(3);
    let bootstrap = cluster.bootstrap();
    let leader = wait_for_leader(&bootstrap).await;
    let brokers = Brokers::start(&bootstrap, 3).await;
    let client = Client::connect(&bootstrap).await.expect("connect");

    // The cache follows the leader first, so the SIGKILL breaks its stream.
    let others: Vec<String> = (1..=3)
        .filter(|i| *i != leader)
        .map(|i| cluster.addr(i))
        .collect();
    let cache = MetadataCache::start(&format!("{},{}", cluster.addr(leader), others.join(",")))
        .expect("cache");
    let mut events = cache.subscribe();
    cache
        .wait_for_offset(1, Duration::from_secs(30))
        .await
        .expect("cache loads the image");

    let mut acked = BTreeSet::new();
    let mut killed = false;
    let started = Instant::now();
    let mut acked_after_kill = 0;
    for i in 0..300u32 {
        if acked_after_kill >= 20 || started.elapsed() > Duration::from_secs(90) {
            break;
        }
        if !killed && acked.len() >= 20 {
            info!("--- SIGKILL the active controller {leader}");
            cluster.kill(leader);
            killed = true;
        }
        let name = format!("t-{i:04}");
        if let Ok(r) = client.create_topics(create_req(&name, 3)).await
            && r.topics[0].error.as_ref().map_or(NONE, |e| e.error_code) == NONE
        {
            acked.insert(name);
            if killed {
                acked_after_kill += 1;
            }
        }
    }
    assert!(
        killed && acked_after_kill >= 20,
        "acked after kill: {acked_after_kill}"
    );

    info!("--- the cache catches up with the new active controller");
    let target = wait_until("the committed offset", Duration::from_secs(30), || async {
        client
            .describe_cluster(false)
            .await
            .map(|d| d.metadata_offset)
            .map_err(|e| e.to_string())
    })
    .await;
    cache
        .wait_for_offset(target, Duration::from_secs(30))
        .await
        .expect("cache catches up after the failover");
    let (first, last, images) = check_sequence(&mut events);
    info!(first, last, images, "applied sequence");
    assert!(
        last >= target && images <= 1,
        "last {last}, images {images}"
    );
    cache.read(|image| {
        for name in &acked {
            assert!(image.topic(name).is_some(), "acknowledged {name} missing");
        }
    });
    assert_equals_fresh_fetch(&cache, &others.join(",")).await;
    drop(brokers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_falls_back_to_the_image_after_snapshot_and_purge() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let cluster = Cluster::start_with(3, &["--snapshot-every", "20", "--snapshot-keep", "5"]);
    let bootstrap = cluster.bootstrap();
    wait_for_leader(&bootstrap).await;
    let brokers = Brokers::start(&bootstrap, 3).await;
    let client = Client::connect(&bootstrap).await.expect("connect");
    info!("--- write enough to snapshot and purge several times");
    create_all(&client, (0..80).map(|i| format!("p-{i:03}"))).await;
    let addr = cluster.addr(1);

    info!("--- an old offset gets the image first, then deltas");
    let mut stream = raw_stream(&addr, 2).await;
    let mut state = CacheState::new();
    let first = tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("first message in time")
        .expect("stream ok")
        .expect("stream open");
    assert!(
        matches!(first.payload, Some(Payload::Image(_))),
        "offset 2 was purged: expected an image, got {first:?}"
    );
    let mut at = match state.handle(first).expect("chunk") {
        Applied::Image(o) => o,
        _ => loop_until_image(&mut stream, &mut state).await,
    };
    assert!(at > 20, "image offset {at} is behind a snapshot");
    create_all(&client, ["after-image".to_string()]).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while state.image().topic("after-image").is_none() {
        assert!(
            Instant::now() < deadline,
            "no delta with after-image; at {at}"
        );
        let msg = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .expect("message in time")
            .expect("stream ok")
            .expect("stream open");
        match state.handle(msg).expect("in order") {
            Applied::Delta(o) => {
                assert_eq!(o, at + 1);
                at = o;
            }
            Applied::KeepAlive(_) => {}
            other => panic!("expected deltas after the image, got {other:?}"),
        }
    }

    info!("--- a recent offset still in the log gets deltas only");
    let recent = state.offset().expect("offset") - 2;
    let mut stream = raw_stream(&addr, recent as i64).await;
    let msg = tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("message in time")
        .expect("stream ok")
        .expect("stream open");
    match msg.payload {
        Some(Payload::Delta(d)) => assert_eq!(d.offset, recent as i64 + 1),
        other => panic!("expected delta {}, got {other:?}", recent + 1),
    }

    info!("--- a cache from nothing: image, then deltas; equal to a fresh fetch");
    let cache = MetadataCache::start(&bootstrap).expect("cache");
    let mut events = cache.subscribe();
    let now = state.offset().expect("offset");
    cache
        .wait_for_offset(now, Duration::from_secs(30))
        .await
        .expect("cache loads");
    create_all(&client, (0..30).map(|i| format!("q-{i:03}"))).await;
    let target = client
        .describe_cluster(false)
        .await
        .expect("describe")
        .metadata_offset;
    cache
        .wait_for_offset(target, Duration::from_secs(30))
        .await
        .expect("cache follows across snapshots");
    let (_, last, _) = check_sequence(&mut events);
    assert!(last >= target);
    assert!(cache.read(|i| i.topic("q-029").is_some()));
    assert_equals_fresh_fetch(&cache, &bootstrap).await;
    drop(brokers);
}

async fn loop_until_image(
    stream: &mut tonic::Streaming<kraft_client::proto::FetchMetadataResponse>,
    state: &mut CacheState,
) -> u64 {
    for _ in 0..100_000 {
        let msg = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .expect("chunk in time")
            .expect("stream ok")
            .expect("stream open");
        if let Applied::Image(o) = state.handle(msg).expect("chunk") {
            return o;
        }
    }
    panic!("image never completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_brokers_converge_to_the_controller_image() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let cluster = Cluster::start(3);
    let bootstrap = cluster.bootstrap();
    wait_for_leader(&bootstrap).await;
    let brokers = Brokers::start(&bootstrap, 3).await;
    let client = Client::connect(&bootstrap).await.expect("connect");
    create_all(&client, (0..10).map(|i| format!("c-{i:02}"))).await;
    let r = client
        .create_topics(create_req("rf3", 3))
        .await
        .expect("create");
    assert_eq!(
        r.topics[0].error.as_ref().map_or(NONE, |e| e.error_code),
        NONE
    );

    info!("--- every broker's (offset, hash) equals every controller's");
    let caches = brokers.sim.caches();
    assert_eq!(caches.len(), 3);
    wait_until(
        "broker images to converge",
        Duration::from_secs(30),
        || async {
            let mut want = BTreeSet::new();
            for id in 1..=3 {
                let s = controller_image(&cluster.addr(id)).await;
                want.insert((s.offset(), image_hash(s.image())));
            }
            let got: BTreeSet<_> = caches.values().map(|c| c.image_hash()).collect();
            if want.len() == 1 && got == want {
                Ok(())
            } else {
                Err(format!("controllers {want:?}, brokers {got:?}"))
            }
        },
    )
    .await;
    let (offset, _) = caches[&1].image_hash();
    assert!(
        caches[&1].read(|i| i.topic("rf3").is_some()),
        "at {offset:?}"
    );
    // Brokers heartbeat what they applied: every one is caught up and unfenced.
    assert!(
        brokers
            .sim
            .statuses()
            .values()
            .all(|s| s.as_ref().is_some_and(|s| s.is_caught_up && !s.is_fenced))
    );
}
