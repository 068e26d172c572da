//! Topic, config, election, producer-id and feature operations on a real 3-node quorum.

use std::time::Duration;

use kraft_client::Client;
use kraft_proto as pb;
use kraft_tests::broker::TestBroker;
use kraft_tests::{Cluster, wait_for_leader, wait_until};

fn code(e: &Option<pb::ItemError>) -> i32 {
    e.as_ref().map(|e| e.error_code).unwrap_or(0)
}

fn name(e: &Option<pb::ItemError>) -> String {
    e.as_ref()
        .map(|e| e.error_name.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "NONE".into())
}

fn topic(name: &str, partitions: i32, rf: i32) -> pb::CreatableTopic {
    pb::CreatableTopic {
        name: name.into(),
        num_partitions: partitions,
        replication_factor: rf,
        configs: vec![],
        assignments: vec![],
    }
}

async fn create(c: &Client, t: pb::CreatableTopic) -> pb::CreatableTopicResult {
    let r = c
        .create_topics(pb::CreateTopicsRequest {
            topics: vec![t],
            validate_only: false,
        })
        .await
        .expect("create");
    r.topics.into_iter().next().expect("one result")
}

async fn alter(
    c: &Client,
    ty: pb::ConfigResourceType,
    res: &str,
    ops: &[(&str, pb::ConfigOperation, Option<&str>)],
) -> String {
    let req = pb::IncrementalAlterConfigsRequest {
        resources: vec![pb::AlterConfigsResource {
            resource_type: ty as i32,
            resource_name: res.into(),
            configs: ops
                .iter()
                .map(|(k, op, v)| pb::AlterableConfig {
                    name: (*k).into(),
                    config_operation: *op as i32,
                    value: v.map(Into::into),
                })
                .collect(),
        }],
        validate_only: false,
    };
    let r = c
        .incremental_alter_configs(req)
        .await
        .expect("alter configs");
    name(&r.responses[0].error)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_configs_producer_ids_and_features() {
    let mut cluster = Cluster::start(3);
    let bootstrap = cluster.bootstrap();
    wait_for_leader(&bootstrap).await;
    let c = Client::connect(&bootstrap).await.expect("connect");
    let mut brokers = Vec::new();
    for id in 1..=3 {
        brokers.push(TestBroker::start(&c, id, Duration::from_millis(200)).await);
    }
    for b in &mut brokers {
        b.wait_for("unfenced", Duration::from_secs(20), |r| !r.is_fenced)
            .await;
    }

    // CreatePartitions: increase only.
    assert_eq!(name(&create(&c, topic("orders", 2, 2)).await.error), "NONE");
    let grow = |count| pb::CreatePartitionsRequest {
        topics: vec![pb::CreatePartitionsTopic {
            name: "orders".into(),
            count,
            assignments: vec![],
        }],
        validate_only: false,
    };
    let r = c
        .create_partitions(grow(4))
        .await
        .expect("create partitions");
    assert_eq!(name(&r.results[0].error), "NONE", "{r:?}");
    let r = c
        .create_partitions(grow(3))
        .await
        .expect("create partitions");
    assert_eq!(name(&r.results[0].error), "INVALID_PARTITIONS", "{r:?}");
    let d = c
        .describe_topics(["orders"], false)
        .await
        .expect("describe");
    assert_eq!(d.topics[0].partitions.len(), 4);
    assert!(
        d.topics[0].partitions.iter().all(|p| p.replicas.len() == 2),
        "new partitions keep RF 2: {d:?}"
    );

    // Topic configs: typed validation, sources.
    use pb::ConfigOperation::{Delete, Set};
    use pb::ConfigResourceType::{Broker, Topic};
    assert_eq!(
        alter(
            &c,
            Topic,
            "orders",
            &[("retention.ms", Set, Some("3600000"))]
        )
        .await,
        "NONE"
    );
    assert_eq!(
        alter(&c, Topic, "orders", &[("retention.ms", Set, Some("soon"))]).await,
        "INVALID_CONFIG"
    );
    assert_eq!(
        alter(&c, Topic, "orders", &[("no.such.key", Set, Some("1"))]).await,
        "INVALID_CONFIG"
    );
    assert_eq!(
        alter(&c, Topic, "missing", &[("retention.ms", Set, Some("1"))]).await,
        "UNKNOWN_TOPIC_OR_PARTITION"
    );
    let dc = c
        .describe_configs(pb::DescribeConfigsRequest {
            resources: vec![pb::DescribeConfigsResource {
                resource_type: Topic as i32,
                resource_name: "orders".into(),
                configuration_keys: vec!["retention.ms".into(), "cleanup.policy".into()],
            }],
        })
        .await
        .expect("describe configs");
    let entries = &dc.results[0].configs;
    let retention = entries
        .iter()
        .find(|e| e.name == "retention.ms")
        .expect("retention.ms");
    assert_eq!(retention.value.as_deref(), Some("3600000"));
    assert_eq!(
        retention.source,
        pb::ConfigSource::DynamicTopicConfig as i32
    );
    let cleanup = entries
        .iter()
        .find(|e| e.name == "cleanup.policy")
        .expect("cleanup.policy");
    assert_eq!(
        (cleanup.value.as_deref(), cleanup.is_default),
        (Some("delete"), true)
    );
    assert_eq!(
        alter(&c, Topic, "orders", &[("retention.ms", Delete, None)]).await,
        "NONE"
    );

    // Cluster-default broker config feeds topic defaults.
    assert_eq!(
        alter(&c, Broker, "", &[("num.partitions", Set, Some("3"))]).await,
        "NONE"
    );
    let t = create(&c, topic("defaults", -1, -1)).await;
    assert_eq!(
        (name(&t.error), t.num_partitions),
        ("NONE".to_string(), 3),
        "{t:?}"
    );

    // Delete, then re-create: a new topic id.
    let old_id = create(&c, topic("phoenix", 1, 3)).await.topic_id;
    let r = c
        .delete_topics(pb::DeleteTopicsRequest {
            topics: vec![pb::DeleteTopicState {
                name: "phoenix".into(),
                topic_id: String::new(),
            }],
        })
        .await
        .expect("delete");
    assert_eq!(name(&r.responses[0].error), "NONE", "{r:?}");
    let names: Vec<String> = c
        .list_topics(false)
        .await
        .expect("list")
        .topics
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert!(!names.contains(&"phoenix".to_string()), "{names:?}");
    let new_id = create(&c, topic("phoenix", 1, 3)).await.topic_id;
    assert_ne!(old_id, new_id, "a re-created topic gets a new id");
    let r = c
        .delete_topics(pb::DeleteTopicsRequest {
            topics: vec![pb::DeleteTopicState {
                name: "nope".into(),
                topic_id: String::new(),
            }],
        })
        .await
        .expect("delete unknown");
    assert_eq!(name(&r.responses[0].error), "UNKNOWN_TOPIC_OR_PARTITION");

    // Preferred election over everything: nothing needed, nothing reported.
    let r = c
        .elect_leaders(pb::ElectLeadersRequest {
            election_type: pb::ElectionType::Preferred as i32,
            topic_partitions: vec![],
        })
        .await
        .expect("elect");
    let errors: Vec<_> = r
        .replica_election_results
        .iter()
        .flat_map(|t| t.partition_results.iter())
        .filter(|p| code(&p.error) != 0)
        .collect();
    assert!(errors.is_empty(), "{r:?}");

    // Producer id blocks are disjoint and survive a controller failover.
    let alloc = |c: Client, b: (i32, i64)| async move {
        let r = c
            .allocate_producer_ids(pb::AllocateProducerIdsRequest {
                broker_id: b.0,
                broker_epoch: b.1,
            })
            .await
            .expect("allocate");
        assert_eq!(code(&r.error), 0, "{r:?}");
        (r.producer_id_start, r.producer_id_len)
    };
    let a = alloc(c.clone(), (1, brokers[0].epoch)).await;
    let b = alloc(c.clone(), (2, brokers[1].epoch)).await;
    assert_eq!(a.1, 1000);
    assert!(b.0 >= a.0 + i64::from(a.1), "blocks overlap: {a:?} {b:?}");
    let stale = c
        .allocate_producer_ids(pb::AllocateProducerIdsRequest {
            broker_id: 1,
            broker_epoch: 999_999,
        })
        .await
        .expect("allocate");
    assert_eq!(name(&stale.error), "STALE_BROKER_EPOCH");
    let leader = c
        .describe_cluster(false)
        .await
        .expect("describe")
        .active_controller_id;
    cluster.kill(leader);
    let c2 = c.clone();
    wait_until("a new active controller", Duration::from_secs(20), || {
        let c2 = c2.clone();
        async move {
            let d = c2
                .describe_cluster(false)
                .await
                .map_err(|e| e.to_string())?;
            if d.active_controller_id != 0 && d.active_controller_id != leader {
                Ok(())
            } else {
                Err(format!("{}", d.active_controller_id))
            }
        }
    })
    .await;
    let after = alloc(c.clone(), (3, brokers[2].epoch)).await;
    assert!(
        after.0 >= b.0 + i64::from(b.1),
        "block after failover overlaps: {b:?} {after:?}"
    );

    // Features: metadata.version is finalized at 1.
    let f = c.describe_features().await.expect("features");
    let mv = f
        .finalized
        .iter()
        .find(|x| x.name == "metadata.version")
        .expect("metadata.version");
    assert_eq!(mv.level, 1);

    // Unregistering an unknown broker names the rule.
    let r = c.unregister_broker(42).await.expect("unregister");
    assert_eq!(name(&r.error), "BROKER_ID_NOT_REGISTERED");
}
