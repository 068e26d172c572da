//! Broker lifecycle on a real 3-node quorum: session expiry fences a silent broker and moves
//! its leaderships; controlled shutdown moves every leadership before `should_shut_down`;
//! a controller failover fences nobody who keeps heartbeating.

use std::time::Duration;

use kraft_client::Client;
use kraft_proto::{CreatableTopic, CreateTopicsRequest, DescribeTopicsResponse};
use kraft_tests::broker::{Mode, TestBroker};
use kraft_tests::{Cluster, wait_for_leader, wait_until};
use tokio::time::Instant;

const SESSION_MS: &str = "1500";
const HEARTBEAT: Duration = Duration::from_millis(200);

async fn setup() -> (Cluster, Client, Vec<TestBroker>) {
    let cluster = Cluster::start_with(3, &["--broker-session-timeout-ms", SESSION_MS]);
    let bootstrap = cluster.bootstrap();
    wait_for_leader(&bootstrap).await;
    let client = Client::connect(&bootstrap).await.expect("connect");
    let mut brokers = Vec::new();
    for id in 1..=3 {
        brokers.push(TestBroker::start(&client, id, HEARTBEAT).await);
    }
    for b in &mut brokers {
        b.wait_for("unfenced", Duration::from_secs(20), |r| !r.is_fenced)
            .await;
    }
    let resp = client
        .create_topics(CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: "events".into(),
                num_partitions: 6,
                replication_factor: 3,
                configs: vec![],
                assignments: vec![],
            }],
            validate_only: false,
        })
        .await
        .expect("create");
    assert_eq!(
        resp.topics[0]
            .error
            .as_ref()
            .map(|e| e.error_code)
            .unwrap_or(0),
        0,
        "{resp:?}"
    );
    (cluster, client, brokers)
}

fn leaders_of(d: &DescribeTopicsResponse, broker: i32) -> Vec<i32> {
    d.topics[0]
        .partitions
        .iter()
        .filter(|p| p.leader == broker)
        .map(|p| p.partition_index)
        .collect()
}

fn in_isr_of(d: &DescribeTopicsResponse, broker: i32) -> Vec<i32> {
    d.topics[0]
        .partitions
        .iter()
        .filter(|p| p.isr.contains(&broker))
        .map(|p| p.partition_index)
        .collect()
}

fn assert_leaders_in_isr(d: &DescribeTopicsResponse) {
    for p in &d.topics[0].partitions {
        assert!(
            !p.isr.is_empty(),
            "partition {} has an empty ISR",
            p.partition_index
        );
        assert!(
            p.leader == -1 || p.isr.contains(&p.leader),
            "partition {}: leader {} not in ISR {:?}",
            p.partition_index,
            p.leader,
            p.isr
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_broker_is_fenced_and_loses_its_leaderships() {
    let (_cluster, client, brokers) = setup().await;
    let before = client
        .describe_topics(["events"], false)
        .await
        .expect("describe");
    assert!(
        !leaders_of(&before, 1).is_empty(),
        "striped placement gives broker 1 some leaderships: {before:?}"
    );

    brokers[0].set_mode(Mode::Silent);
    let fenced_at = wait_until("broker 1 fenced", Duration::from_secs(20), || {
        let client = client.clone();
        async move {
            let d = client
                .describe_cluster(false)
                .await
                .map_err(|e| e.to_string())?;
            match d.brokers.iter().find(|b| b.broker_id == 1) {
                Some(b) if b.fenced => Ok(Instant::now()),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await;
    let _ = fenced_at;
    let after = client
        .describe_topics(["events"], false)
        .await
        .expect("describe");
    assert!(
        leaders_of(&after, 1).is_empty(),
        "broker 1 still leads: {after:?}"
    );
    assert!(
        in_isr_of(&after, 1).is_empty(),
        "broker 1 still in an ISR: {after:?}"
    );
    assert_leaders_in_isr(&after);
    for p in &after.topics[0].partitions {
        assert!(
            p.leader == 2 || p.leader == 3,
            "partition {} has no live leader: {p:?}",
            p.partition_index
        );
    }
    // The other brokers keep their sessions.
    let d = client
        .describe_cluster(false)
        .await
        .expect("describe cluster");
    for b in d.brokers.iter().filter(|b| b.broker_id != 1) {
        assert!(!b.fenced, "broker {} was fenced too", b.broker_id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controlled_shutdown_moves_every_leadership_before_answering() {
    let (_cluster, client, mut brokers) = setup().await;
    let before = client
        .describe_topics(["events"], false)
        .await
        .expect("describe");
    assert!(
        !leaders_of(&before, 2).is_empty(),
        "broker 2 leads something: {before:?}"
    );

    brokers[1].set_mode(Mode::ShutDown);
    brokers[1]
        .wait_for("should_shut_down", Duration::from_secs(20), |r| {
            r.should_shut_down
        })
        .await;
    let after = client
        .describe_topics(["events"], false)
        .await
        .expect("describe");
    assert!(
        leaders_of(&after, 2).is_empty(),
        "broker 2 still leads after should_shut_down: {after:?}"
    );
    assert!(
        in_isr_of(&after, 2).is_empty(),
        "broker 2 still in an ISR: {after:?}"
    );
    assert_leaders_in_isr(&after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_failover_fences_no_heartbeating_broker() {
    let (mut cluster, client, _brokers) = setup().await;
    let old = client
        .describe_cluster(false)
        .await
        .expect("describe")
        .active_controller_id;
    cluster.kill(old);
    let new = wait_until("a new active controller", Duration::from_secs(20), || {
        let client = client.clone();
        async move {
            let d = client
                .describe_cluster(false)
                .await
                .map_err(|e| e.to_string())?;
            if d.active_controller_id != 0 && d.active_controller_id != old {
                Ok(d.active_controller_id)
            } else {
                Err(format!("active {}", d.active_controller_id))
            }
        }
    })
    .await;
    assert_ne!(new, old);
    // Observe for three session timeouts: nobody who keeps heartbeating is fenced.
    let window = Duration::from_millis(3 * SESSION_MS.parse::<u64>().expect("ms"));
    let end = Instant::now() + window;
    let mut polls = 0;
    while Instant::now() < end {
        let d = client
            .describe_cluster(false)
            .await
            .expect("describe cluster");
        let fenced: Vec<i32> = d
            .brokers
            .iter()
            .filter(|b| b.fenced)
            .map(|b| b.broker_id)
            .collect();
        assert!(
            fenced.is_empty(),
            "brokers fenced after failover: {fenced:?}"
        );
        polls += 1;
        tokio::time::sleep(HEARTBEAT).await;
    }
    assert!(polls > 5, "observation window too short: {polls} polls");
}
