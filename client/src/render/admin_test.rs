//! Unit tests of the renderings in `render/{topics_admin,configs,partitions,brokers}.rs`.

use kraft_proto::{
    AlterConfigsResourceResponse, AlterPartitionReassignmentsResponse, BrokerDescription,
    ConfigResourceType, ConfigSource, CreatePartitionsRequest, CreatePartitionsResponse,
    CreatePartitionsTopic, CreatePartitionsTopicResult, DeletableTopicResult, DeleteTopicsResponse,
    DescribeClusterResponse, DescribeConfigsResourceResult, DescribeConfigsResponse,
    DescribeConfigsResult, DescribeFeaturesResponse, ElectLeadersResponse, ElectionType,
    FeatureUpdate, FeatureUpgradeType, FinalizedFeature, IncrementalAlterConfigsResponse,
    ItemError, ListPartitionReassignmentsResponse, Listener, OngoingPartitionReassignment,
    OngoingTopicReassignment, PartitionResult, ReassignablePartitionResponse,
    ReassignableTopicResponse, ReplicaElectionResult, SupportedFeatureRange,
    UnregisterBrokerResponse, UpdatableFeatureResult, UpdateFeaturesRequest,
    UpdateFeaturesResponse,
};
use serde_json::{Value, json};

use super::*;

fn none() -> Option<ItemError> {
    Some(ItemError {
        error_code: 0,
        error_name: "NONE".into(),
        error_message: String::new(),
    })
}

fn err(code: i32, name: &str, message: &str) -> Option<ItemError> {
    Some(ItemError {
        error_code: code,
        error_name: name.into(),
        error_message: message.into(),
    })
}

fn parse(r: &Rendered) -> Value {
    serde_json::from_str(&r.stdout).unwrap()
}

// ---- topics alter / delete ----

fn partitions_req(validate_only: bool) -> CreatePartitionsRequest {
    CreatePartitionsRequest {
        topics: vec![
            CreatePartitionsTopic {
                name: "a".into(),
                count: 6,
                assignments: vec![],
            },
            CreatePartitionsTopic {
                name: "b".into(),
                count: 2,
                assignments: vec![],
            },
        ],
        validate_only,
    }
}

fn partitions_resp() -> CreatePartitionsResponse {
    CreatePartitionsResponse {
        results: vec![
            CreatePartitionsTopicResult {
                name: "a".into(),
                error: none(),
            },
            CreatePartitionsTopicResult {
                name: "b".into(),
                error: err(
                    37,
                    "INVALID_PARTITIONS",
                    "Topic currently has 3 partitions, which is higher than the requested 2.",
                ),
            },
        ],
    }
}

#[test]
fn create_partitions_text_reports_increase_or_kafka_error() {
    let r = create_partitions(&partitions_req(false), &partitions_resp(), Format::Text);
    assert!(r.failed);
    assert_eq!(
        r.stdout,
        "Increased the partition count of topic a to 6.\n\
         Error while executing topic command : Topic currently has 3 partitions, which is higher than the requested 2.\n\
         ERROR INVALID_PARTITIONS (37): Topic currently has 3 partitions, which is higher than the requested 2.\n"
    );
    let mut ok = partitions_resp();
    ok.results.truncate(1);
    let r = create_partitions(&partitions_req(true), &ok, Format::Text);
    assert_eq!(
        r,
        Rendered {
            stdout: "Topic a can be increased to 6 partitions (validate only, not altered).\n"
                .into(),
            failed: false,
        }
    );
}

#[test]
fn create_partitions_json_has_requested_count_and_errors() {
    let r = create_partitions(&partitions_req(false), &partitions_resp(), Format::Json);
    assert!(r.failed);
    assert_eq!(
        parse(&r),
        json!({"validate_only": false, "topics": [
            {"name": "a", "partition_count": 6, "error": null},
            {"name": "b", "partition_count": 2, "error": {
                "code": 37,
                "name": "INVALID_PARTITIONS",
                "message": "Topic currently has 3 partitions, which is higher than the requested 2.",
            }},
        ]})
    );
}

#[test]
fn delete_topics_text_and_json() {
    let resp = DeleteTopicsResponse {
        responses: vec![
            DeletableTopicResult {
                name: "a".into(),
                topic_id: "ida".into(),
                error: none(),
            },
            DeletableTopicResult {
                name: String::new(),
                topic_id: "idb".into(),
                error: None,
            },
            DeletableTopicResult {
                name: String::new(),
                topic_id: "idc".into(),
                error: err(100, "UNKNOWN_TOPIC_ID", ""),
            },
        ],
    };
    let r = delete_topics(&resp, Format::Text);
    assert!(r.failed);
    // An empty message falls back to the error name.
    assert_eq!(
        r.stdout,
        "Deleted topic a.\n\
         Deleted topic with id idb.\n\
         Error while executing topic command : UNKNOWN_TOPIC_ID\n\
         ERROR UNKNOWN_TOPIC_ID (100): UNKNOWN_TOPIC_ID\n"
    );
    assert_eq!(
        delete_topics_json(&resp)["topics"][2],
        json!({"name": "", "topic_id": "idc", "error": {"code": 100, "name": "UNKNOWN_TOPIC_ID", "message": ""}})
    );
    assert!(delete_topics(&resp, Format::Json).failed);
}

// ---- configs ----

fn entry(name: &str, value: &str, source: ConfigSource) -> DescribeConfigsResourceResult {
    DescribeConfigsResourceResult {
        name: name.into(),
        value: Some(value.into()),
        source: source as i32,
        is_default: source == ConfigSource::DefaultConfig,
        is_sensitive: false,
        read_only: false,
    }
}

fn topic_configs() -> DescribeConfigsResult {
    DescribeConfigsResult {
        resource_type: ConfigResourceType::Topic as i32,
        resource_name: "mytopic1".into(),
        error: none(),
        // Out of order on purpose: rendering sorts by name.
        configs: vec![
            entry(
                "retention.ms",
                "172800000",
                ConfigSource::DynamicTopicConfig,
            ),
            entry("cleanup.policy", "delete", ConfigSource::DefaultConfig),
            entry(
                "compression.type",
                "zstd",
                ConfigSource::DynamicDefaultBrokerConfig,
            ),
        ],
    }
}

#[test]
fn describe_configs_text_shows_dynamic_ones_unless_all() {
    let resp = DescribeConfigsResponse {
        results: vec![topic_configs()],
    };
    let r = describe_configs(&resp, false, Format::Text);
    assert!(!r.failed);
    assert_eq!(
        r.stdout,
        "Dynamic configs for topic mytopic1 are:\n\
         \x20 compression.type=zstd sensitive=false source=DYNAMIC_DEFAULT_BROKER_CONFIG\n\
         \x20 retention.ms=172800000 sensitive=false source=DYNAMIC_TOPIC_CONFIG\n"
    );
    assert_eq!(
        describe_configs(&resp, true, Format::Text).stdout,
        "All configs for topic mytopic1 are:\n\
         \x20 cleanup.policy=delete sensitive=false source=DEFAULT_CONFIG\n\
         \x20 compression.type=zstd sensitive=false source=DYNAMIC_DEFAULT_BROKER_CONFIG\n\
         \x20 retention.ms=172800000 sensitive=false source=DYNAMIC_TOPIC_CONFIG\n"
    );
}

#[test]
fn describe_configs_text_for_brokers_sensitive_values_and_errors() {
    let mut secret = entry(
        "sasl.password",
        "hunter2",
        ConfigSource::DynamicBrokerConfig,
    );
    secret.is_sensitive = true;
    let resp = DescribeConfigsResponse {
        results: vec![
            DescribeConfigsResult {
                resource_type: ConfigResourceType::Broker as i32,
                resource_name: String::new(),
                error: None,
                configs: vec![entry(
                    "log.retention.ms",
                    "1000",
                    ConfigSource::DynamicDefaultBrokerConfig,
                )],
            },
            DescribeConfigsResult {
                resource_type: ConfigResourceType::Broker as i32,
                resource_name: "1".into(),
                error: none(),
                configs: vec![secret],
            },
            DescribeConfigsResult {
                resource_type: ConfigResourceType::Broker as i32,
                resource_name: "9".into(),
                error: err(
                    102,
                    "BROKER_ID_NOT_REGISTERED",
                    "Broker 9 is not registered.",
                ),
                configs: vec![],
            },
        ],
    };
    let r = describe_configs(&resp, false, Format::Text);
    assert!(r.failed);
    assert_eq!(
        r.stdout,
        "Default configs for brokers in the cluster are:\n\
         \x20 log.retention.ms=1000 sensitive=false source=DYNAMIC_DEFAULT_BROKER_CONFIG\n\
         Dynamic configs for broker 1 are:\n\
         \x20 sasl.password=null sensitive=true source=DYNAMIC_BROKER_CONFIG\n\
         Error while executing config command : Broker 9 is not registered.\n\
         ERROR BROKER_ID_NOT_REGISTERED (102): Broker 9 is not registered.\n"
    );
    let v = describe_configs_json(&resp, false);
    assert_eq!(v["resources"][1]["configs"][0]["value"], Value::Null);
    assert_eq!(v["resources"][1]["configs"][0]["sensitive"], true);
    assert_eq!(v["resources"][0]["resource_name"], "");
    assert_eq!(v["resources"][2]["error"]["code"], 102);
}

#[test]
fn describe_configs_json_filters_like_the_text() {
    let resp = DescribeConfigsResponse {
        results: vec![topic_configs()],
    };
    let v = describe_configs_json(&resp, false);
    assert_eq!(
        v,
        json!({"all": false, "resources": [{
            "resource_type": "TOPIC",
            "resource_name": "mytopic1",
            "configs": [
                {"name": "compression.type", "value": "zstd", "source": "DYNAMIC_DEFAULT_BROKER_CONFIG", "is_default": false, "sensitive": false, "read_only": false},
                {"name": "retention.ms", "value": "172800000", "source": "DYNAMIC_TOPIC_CONFIG", "is_default": false, "sensitive": false, "read_only": false},
            ],
            "error": null,
        }]})
    );
    let all = describe_configs(&resp, true, Format::Json);
    assert_eq!(
        parse(&all)["resources"][0]["configs"][0]["name"],
        "cleanup.policy"
    );
    assert_eq!(parse(&all)["all"], true);
}

fn altered(
    ty: ConfigResourceType,
    name: &str,
    error: Option<ItemError>,
) -> AlterConfigsResourceResponse {
    AlterConfigsResourceResponse {
        resource_type: ty as i32,
        resource_name: name.into(),
        error,
    }
}

#[test]
fn alter_configs_text_names_topic_broker_and_default() {
    let resp = IncrementalAlterConfigsResponse {
        responses: vec![
            altered(ConfigResourceType::Topic, "mytopic1", none()),
            altered(ConfigResourceType::Broker, "1", None),
            altered(ConfigResourceType::Broker, "", none()),
        ],
    };
    assert_eq!(
        alter_configs(&resp, false, Format::Text),
        Rendered {
            stdout: "Completed updating config for topic mytopic1.\n\
                     Completed updating config for broker 1.\n\
                     Completed updating default config for brokers in the cluster.\n"
                .into(),
            failed: false,
        }
    );
    assert_eq!(
        alter_configs(&resp, true, Format::Text)
            .stdout
            .lines()
            .next(),
        Some("Validated updating config for topic mytopic1 (validate only, not applied).")
    );
}

#[test]
fn alter_configs_errors_fail_in_text_and_json() {
    let resp = IncrementalAlterConfigsResponse {
        responses: vec![altered(
            ConfigResourceType::Topic,
            "t",
            err(
                40,
                "INVALID_CONFIG",
                "Invalid value -5 for configuration retention.ms",
            ),
        )],
    };
    let r = alter_configs(&resp, false, Format::Text);
    assert!(r.failed);
    assert_eq!(
        r.stdout,
        "Error while executing config command : Invalid value -5 for configuration retention.ms\n\
         ERROR INVALID_CONFIG (40): Invalid value -5 for configuration retention.ms\n"
    );
    let r = alter_configs(&resp, true, Format::Json);
    assert!(r.failed);
    assert_eq!(
        parse(&r),
        json!({"validate_only": true, "resources": [{
            "resource_type": "TOPIC",
            "resource_name": "t",
            "error": {"code": 40, "name": "INVALID_CONFIG", "message": "Invalid value -5 for configuration retention.ms"},
        }]})
    );
}

#[test]
fn resource_text_covers_unknown_types() {
    assert_eq!(
        resource_text(ConfigResourceType::Topic as i32, "t"),
        "topic t"
    );
    assert_eq!(
        resource_text(ConfigResourceType::Broker as i32, "2"),
        "broker 2"
    );
    assert_eq!(
        resource_text(ConfigResourceType::Broker as i32, ""),
        "default broker"
    );
    assert_eq!(resource_text(7, "x"), "resource x of type 7");
}

// ---- leaders elect ----

fn election(results: &[(&str, i32, Option<ItemError>)]) -> ElectLeadersResponse {
    let mut out: Vec<ReplicaElectionResult> = Vec::new();
    for (topic, partition, error) in results {
        let pr = PartitionResult {
            partition_id: *partition,
            error: error.clone(),
        };
        match out.iter_mut().find(|r| r.topic == *topic) {
            Some(r) => r.partition_results.push(pr),
            None => out.push(ReplicaElectionResult {
                topic: (*topic).into(),
                partition_results: vec![pr],
            }),
        }
    }
    ElectLeadersResponse {
        replica_election_results: out,
    }
}

#[test]
fn elect_leaders_text_groups_elected_not_needed_and_failed() {
    let resp = election(&[
        ("mytopic1", 0, none()),
        (
            "mytopic1",
            1,
            err(84, "ELECTION_NOT_NEEDED", "Leader election not needed."),
        ),
        ("mytopic1", 2, None),
        (
            "other",
            0,
            err(
                80,
                "PREFERRED_LEADER_NOT_AVAILABLE",
                "The preferred leader was not available.",
            ),
        ),
        ("other", 5, err(3, "UNKNOWN_TOPIC_OR_PARTITION", "")),
    ]);
    let r = elect_leaders(ElectionType::Preferred as i32, &resp, Format::Text);
    assert!(r.failed);
    assert_eq!(
        r.stdout,
        "Successfully completed leader election (PREFERRED) for partitions mytopic1-0, mytopic1-2\n\
         Election not needed for partitions mytopic1-1\n\
         Error completing leader election (PREFERRED) for partition: other-0: PREFERRED_LEADER_NOT_AVAILABLE (80): The preferred leader was not available.\n\
         Error completing leader election (PREFERRED) for partition: other-5: UNKNOWN_TOPIC_OR_PARTITION (3): UNKNOWN_TOPIC_OR_PARTITION\n\
         Error while executing leader election command : 2 replica(s) could not be elected\n"
    );
}

#[test]
fn elect_leaders_not_needed_is_not_a_failure() {
    let resp = election(&[("t", 0, err(84, "ELECTION_NOT_NEEDED", "x"))]);
    let r = elect_leaders(ElectionType::Unclean as i32, &resp, Format::Text);
    assert_eq!(
        r,
        Rendered {
            stdout: "Election not needed for partitions t-0\n".into(),
            failed: false
        }
    );
    let empty = elect_leaders(ElectionType::Preferred as i32, &election(&[]), Format::Text);
    assert_eq!(empty.stdout, "Election not needed for any partition.\n");
    assert!(!empty.failed);
}

#[test]
fn elect_leaders_json_has_outcome_per_partition() {
    let resp = election(&[
        ("t", 0, none()),
        ("t", 1, err(84, "ELECTION_NOT_NEEDED", "n")),
        ("t", 2, err(83, "ELIGIBLE_LEADERS_NOT_AVAILABLE", "e")),
    ]);
    let r = elect_leaders(ElectionType::Unclean as i32, &resp, Format::Json);
    assert!(r.failed);
    assert_eq!(
        parse(&r),
        json!({"election_type": "UNCLEAN", "partitions": [
            {"topic": "t", "partition": 0, "outcome": "elected", "error": null},
            {"topic": "t", "partition": 1, "outcome": "not_needed", "error": {"code": 84, "name": "ELECTION_NOT_NEEDED", "message": "n"}},
            {"topic": "t", "partition": 2, "outcome": "failed", "error": {"code": 83, "name": "ELIGIBLE_LEADERS_NOT_AVAILABLE", "message": "e"}},
        ]})
    );
}

// ---- reassignments ----

fn reassigned(results: &[(&str, i32, Option<ItemError>)]) -> AlterPartitionReassignmentsResponse {
    AlterPartitionReassignmentsResponse {
        responses: results
            .iter()
            .map(|(t, p, e)| ReassignableTopicResponse {
                name: (*t).into(),
                partitions: vec![ReassignablePartitionResponse {
                    partition_index: *p,
                    error: e.clone(),
                }],
            })
            .collect(),
    }
}

#[test]
fn alter_reassignments_text_started_cancelled_and_errors() {
    let resp = reassigned(&[("t", 0, none()), ("u", 1, None)]);
    assert_eq!(
        alter_reassignments(&resp, false, Format::Text),
        Rendered {
            stdout: "Successfully started partition reassignments for t-0,u-1\n".into(),
            failed: false
        }
    );
    let resp = reassigned(&[
        ("t", 0, none()),
        (
            "t",
            1,
            err(
                85,
                "NO_REASSIGNMENT_IN_PROGRESS",
                "No reassignment in progress.",
            ),
        ),
    ]);
    let r = alter_reassignments(&resp, true, Format::Text);
    assert!(r.failed);
    assert_eq!(
        r.stdout,
        "Successfully cancelled partition reassignment for t-0\n\
         Error while executing reassignment command : t-1: No reassignment in progress.\n\
         ERROR NO_REASSIGNMENT_IN_PROGRESS (85): No reassignment in progress.\n"
    );
    assert_eq!(
        alter_reassignments_json(&resp, true),
        json!({"cancel": true, "partitions": [
            {"topic": "t", "partition": 0, "error": null},
            {"topic": "t", "partition": 1, "error": {"code": 85, "name": "NO_REASSIGNMENT_IN_PROGRESS", "message": "No reassignment in progress."}},
        ]})
    );
}

#[test]
fn list_reassignments_text_sorted_or_none_found() {
    let part =
        |i, replicas: &[i32], adding: &[i32], removing: &[i32]| OngoingPartitionReassignment {
            partition_index: i,
            replicas: replicas.to_vec(),
            adding_replicas: adding.to_vec(),
            removing_replicas: removing.to_vec(),
        };
    let resp = ListPartitionReassignmentsResponse {
        topics: vec![
            OngoingTopicReassignment {
                name: "z".into(),
                partitions: vec![part(0, &[4, 5], &[5], &[])],
            },
            OngoingTopicReassignment {
                name: "a".into(),
                partitions: vec![
                    part(3, &[1, 2, 3, 4], &[4], &[1]),
                    part(1, &[2, 3], &[3], &[1]),
                ],
            },
        ],
    };
    assert_eq!(
        list_reassignments(&resp, Format::Text).stdout,
        "Current partition reassignments:\n\
         a-1: replicas: 2,3. adding: 3. removing: 1.\n\
         a-3: replicas: 1,2,3,4. adding: 4. removing: 1.\n\
         z-0: replicas: 4,5. adding: 5. removing: .\n"
    );
    assert_eq!(
        list_reassignments_json(&resp)["reassignments"][0],
        json!({"topic": "a", "partition": 1, "replicas": [2, 3], "adding_replicas": [3], "removing_replicas": [1]})
    );
    let none = ListPartitionReassignmentsResponse::default();
    assert_eq!(
        list_reassignments(&none, Format::Text),
        Rendered {
            stdout: "No partition reassignments found.\n".into(),
            failed: false
        }
    );
    assert_eq!(list_reassignments_json(&none), json!({"reassignments": []}));
}

// ---- brokers ----

fn brokers() -> DescribeClusterResponse {
    let listener = |port| Listener {
        name: "PLAINTEXT".into(),
        host: "127.0.0.1".into(),
        port,
        security_protocol: "PLAINTEXT".into(),
    };
    DescribeClusterResponse {
        brokers: vec![
            BrokerDescription {
                broker_id: 10,
                broker_epoch: 12,
                incarnation_id: "inc-10".into(),
                listeners: vec![listener(19102), listener(29102)],
                rack: None,
                fenced: false,
                in_controlled_shutdown: true,
            },
            BrokerDescription {
                broker_id: 1,
                broker_epoch: 7,
                incarnation_id: "inc-1".into(),
                listeners: vec![listener(19093)],
                rack: Some("rack-1".into()),
                fenced: true,
                in_controlled_shutdown: false,
            },
        ],
        ..DescribeClusterResponse::default()
    }
}

#[test]
fn list_brokers_is_one_sorted_table() {
    let r = list_brokers(&brokers(), Format::Text);
    assert!(!r.failed);
    assert_eq!(
        r.stdout,
        "BrokerId  Epoch  Fenced  InControlledShutdown  Rack    Listeners\n\
         1         7      true    false                 rack-1  PLAINTEXT://127.0.0.1:19093\n\
         10        12     false   true                  -       PLAINTEXT://127.0.0.1:19102,PLAINTEXT://127.0.0.1:29102\n"
    );
    let v = list_brokers_json(&brokers());
    assert_eq!(v["brokers"][0]["broker_id"], 1);
    assert_eq!(v["brokers"][1]["in_controlled_shutdown"], true);
    assert_eq!(v["brokers"][1]["rack"], Value::Null);
    assert_eq!(
        list_brokers(&DescribeClusterResponse::default(), Format::Text).stdout,
        "BrokerId  Epoch  Fenced  InControlledShutdown  Rack  Listeners\n"
    );
}

#[test]
fn unregister_broker_text_and_json() {
    let ok = UnregisterBrokerResponse { error: none() };
    assert_eq!(
        unregister_broker(3, &ok, Format::Text),
        Rendered {
            stdout: "Broker 3 is no longer registered.\n".into(),
            failed: false
        }
    );
    let bad = UnregisterBrokerResponse {
        error: err(
            102,
            "BROKER_ID_NOT_REGISTERED",
            "Broker ID 3 is not currently registered",
        ),
    };
    let r = unregister_broker(3, &bad, Format::Text);
    assert!(r.failed);
    assert_eq!(
        r.stdout,
        "Error while executing broker command : Broker ID 3 is not currently registered\n\
         ERROR BROKER_ID_NOT_REGISTERED (102): Broker ID 3 is not currently registered\n"
    );
    let r = unregister_broker(3, &bad, Format::Json);
    assert!(r.failed);
    assert_eq!(parse(&r)["broker_id"], 3);
    assert_eq!(
        unregister_broker_json(3, &ok),
        json!({"broker_id": 3, "error": null})
    );
}

// ---- features ----

fn features() -> DescribeFeaturesResponse {
    DescribeFeaturesResponse {
        finalized: vec![
            FinalizedFeature {
                name: "metadata.version".into(),
                level: 1,
            },
            FinalizedFeature {
                name: "legacy.feature".into(),
                level: 2,
            },
        ],
        supported: vec![
            SupportedFeatureRange {
                name: "metadata.version".into(),
                min_version: 1,
                max_version: 1,
            },
            SupportedFeatureRange {
                name: "kraft.version".into(),
                min_version: 0,
                max_version: 1,
            },
        ],
    }
}

#[test]
fn describe_features_text_like_kafka_features() {
    let r = describe_features(&features(), Format::Text);
    assert!(!r.failed);
    assert_eq!(
        r.stdout,
        "Feature: kraft.version\tSupportedMinVersion: 0\tSupportedMaxVersion: 1\tFinalizedVersionLevel: -\n\
         Feature: legacy.feature\tSupportedMinVersion: -\tSupportedMaxVersion: -\tFinalizedVersionLevel: 2\n\
         Feature: metadata.version\tSupportedMinVersion: 1\tSupportedMaxVersion: 1\tFinalizedVersionLevel: 1\n"
    );
}

#[test]
fn describe_features_json_uses_null_for_missing_sides() {
    assert_eq!(
        describe_features_json(&features()),
        json!({"features": [
            {"name": "kraft.version", "supported_min_version": 0, "supported_max_version": 1, "finalized_version_level": null},
            {"name": "legacy.feature", "supported_min_version": null, "supported_max_version": null, "finalized_version_level": 2},
            {"name": "metadata.version", "supported_min_version": 1, "supported_max_version": 1, "finalized_version_level": 1},
        ]})
    );
}

fn update(feature: &str, level: i32, ty: FeatureUpgradeType) -> FeatureUpdate {
    FeatureUpdate {
        feature: feature.into(),
        max_version_level: level,
        upgrade_type: ty as i32,
    }
}

#[test]
fn update_features_text_upgraded_downgraded_dry_run_and_errors() {
    let req = UpdateFeaturesRequest {
        feature_updates: vec![
            update("metadata.version", 7, FeatureUpgradeType::Upgrade),
            update("kraft.version", 0, FeatureUpgradeType::UnsafeDowngrade),
            update("group.version", 9, FeatureUpgradeType::SafeDowngrade),
        ],
        validate_only: false,
    };
    let resp = UpdateFeaturesResponse {
        results: vec![
            UpdatableFeatureResult {
                feature: "metadata.version".into(),
                error: none(),
            },
            UpdatableFeatureResult {
                feature: "kraft.version".into(),
                error: None,
            },
            UpdatableFeatureResult {
                feature: "group.version".into(),
                error: err(42, "INVALID_REQUEST", "Can't downgrade to a newer version."),
            },
        ],
    };
    let r = update_features(&req, &resp, Format::Text);
    assert!(r.failed);
    assert_eq!(
        r.stdout,
        "metadata.version was upgraded to 7.\n\
         kraft.version was downgraded to 0.\n\
         Error while executing feature command : Could not downgrade group.version to 9. Can't downgrade to a newer version.\n\
         ERROR INVALID_REQUEST (42): Can't downgrade to a newer version.\n"
    );
    let dry = UpdateFeaturesRequest {
        validate_only: true,
        ..req.clone()
    };
    assert!(
        update_features(&dry, &resp, Format::Text)
            .stdout
            .starts_with(
                "metadata.version can be upgraded to 7.\nkraft.version can be downgraded to 0.\n"
            )
    );
    let v = update_features_json(&req, &resp);
    assert_eq!(
        v["features"][1],
        json!({"feature": "kraft.version", "upgrade_type": "UNSAFE_DOWNGRADE", "version_level": 0, "error": null})
    );
    assert_eq!(v["features"][2]["error"]["code"], 42);
    assert_eq!(v["validate_only"], false);
}
