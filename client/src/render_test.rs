use kraft_proto::{
    BrokerDescription, ConfigEntry, CreatableTopicResult, CreateTopicsResponse,
    DescribeClusterResponse, DescribeTopicsResponse, ItemError, ListTopicsResponse, Listener,
    PartitionDescription, TopicDescription, TopicListing, Voter,
};
use serde_json::json;

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

fn partition(index: i32, leader: i32, replicas: &[i32], isr: &[i32]) -> PartitionDescription {
    PartitionDescription {
        partition_index: index,
        leader,
        replicas: replicas.to_vec(),
        isr: isr.to_vec(),
        leader_epoch: 0,
        partition_epoch: 0,
    }
}

fn config(name: &str, value: Option<&str>) -> ConfigEntry {
    ConfigEntry {
        name: name.into(),
        value: value.map(Into::into),
    }
}

fn mytopic1() -> TopicDescription {
    TopicDescription {
        name: "mytopic1".into(),
        topic_id: "Q1xZ".into(),
        error: none(),
        // Out of order on purpose: rendering sorts partitions and configs.
        partitions: vec![
            partition(1, -1, &[2, 3, 1], &[]),
            partition(0, 1, &[1, 2, 3], &[1, 2, 3]),
        ],
        configs: vec![
            config("retention.ms", Some("172800000")),
            config("min.insync.replicas", Some("2")),
        ],
    }
}

fn unknown(name: &str) -> TopicDescription {
    TopicDescription {
        name: name.into(),
        topic_id: String::new(),
        error: err(
            3,
            "UNKNOWN_TOPIC_OR_PARTITION",
            &format!("Topic '{name}' does not exist."),
        ),
        partitions: vec![],
        configs: vec![],
    }
}

#[test]
fn describe_topics_text_matches_kafka_topics_layout() {
    let resp = DescribeTopicsResponse {
        topics: vec![mytopic1()],
    };
    let r = describe_topics(&resp, Format::Text);
    assert!(!r.failed);
    assert_eq!(
        r.stdout,
        "Topic: mytopic1\tTopicId: Q1xZ\tPartitionCount: 2\tReplicationFactor: 3\t\
         Configs: min.insync.replicas=2,retention.ms=172800000\n\
         \tTopic: mytopic1\tPartition: 0\tLeader: 1\tReplicas: 1,2,3\tIsr: 1,2,3\n\
         \tTopic: mytopic1\tPartition: 1\tLeader: none\tReplicas: 2,3,1\tIsr: \n"
    );
}

#[test]
fn describe_topics_text_reports_unknown_topic_and_fails() {
    let resp = DescribeTopicsResponse {
        topics: vec![mytopic1(), unknown("nope")],
    };
    let r = describe_topics(&resp, Format::Text);
    assert!(r.failed);
    assert!(r.stdout.starts_with("Topic: mytopic1\t"), "{}", r.stdout);
    assert!(
        r.stdout.ends_with(
            "Error while executing topic command : Topic 'nope' does not exist.\n\
             ERROR UNKNOWN_TOPIC_OR_PARTITION (3): Topic 'nope' does not exist.\n"
        ),
        "{}",
        r.stdout
    );
}

#[test]
fn describe_topics_json_has_partitions_configs_and_errors() {
    let mut t = mytopic1();
    t.configs.push(config("cleanup.policy", None));
    let resp = DescribeTopicsResponse {
        topics: vec![t, unknown("nope")],
    };
    let v = describe_topics_json(&resp);
    assert_eq!(
        v,
        json!({"topics": [
            {
                "name": "mytopic1",
                "topic_id": "Q1xZ",
                "partition_count": 2,
                "replication_factor": 3,
                "configs": {"cleanup.policy": null, "min.insync.replicas": "2", "retention.ms": "172800000"},
                "partitions": [
                    {"partition": 0, "leader": 1, "replicas": [1, 2, 3], "isr": [1, 2, 3], "leader_epoch": 0, "partition_epoch": 0},
                    {"partition": 1, "leader": null, "replicas": [2, 3, 1], "isr": [], "leader_epoch": 0, "partition_epoch": 0},
                ],
                "error": null,
            },
            {
                "name": "nope",
                "topic_id": "",
                "partition_count": 0,
                "replication_factor": 0,
                "configs": {},
                "partitions": [],
                "error": {"code": 3, "name": "UNKNOWN_TOPIC_OR_PARTITION", "message": "Topic 'nope' does not exist."},
            },
        ]})
    );
    let r = describe_topics(&resp, Format::Json);
    assert!(r.failed);
    assert_eq!(serde_json::from_str::<Value>(&r.stdout).unwrap(), v);
}

fn created(name: &str, error: Option<ItemError>) -> CreatableTopicResult {
    CreatableTopicResult {
        name: name.into(),
        topic_id: if error.as_ref().is_some_and(|e| e.error_code != 0) {
            String::new()
        } else {
            "AbC".into()
        },
        error,
        num_partitions: 1,
        replication_factor: 3,
    }
}

#[test]
fn create_topics_text_says_created_or_kafka_error() {
    let ok = CreateTopicsResponse {
        topics: vec![created("mytopic1", none())],
    };
    assert_eq!(
        create_topics(&ok, false, Format::Text),
        Rendered {
            stdout: "Created topic mytopic1.\n".into(),
            failed: false
        }
    );
    // A missing error field is success too.
    let ok = CreateTopicsResponse {
        topics: vec![created("mytopic1", None)],
    };
    assert!(!create_topics(&ok, false, Format::Text).failed);

    let exists = CreateTopicsResponse {
        topics: vec![created(
            "mytopic1",
            err(
                36,
                "TOPIC_ALREADY_EXISTS",
                "Topic 'mytopic1' already exists.",
            ),
        )],
    };
    assert_eq!(
        create_topics(&exists, false, Format::Text),
        Rendered {
            stdout: "Error while executing topic command : Topic 'mytopic1' already exists.\n\
                     ERROR TOPIC_ALREADY_EXISTS (36): Topic 'mytopic1' already exists.\n"
                .into(),
            failed: true,
        }
    );
}

#[test]
fn create_topics_validate_only_does_not_claim_creation() {
    let ok = CreateTopicsResponse {
        topics: vec![created("t", none())],
    };
    let r = create_topics(&ok, true, Format::Text);
    assert!(!r.failed);
    assert!(r.stdout.starts_with("Topic t is valid"), "{}", r.stdout);
    assert!(!r.stdout.contains("Created"));
}

#[test]
fn create_topics_json_has_error_objects() {
    let resp = CreateTopicsResponse {
        topics: vec![
            created("a", none()),
            created(
                "b",
                err(
                    38,
                    "INVALID_REPLICATION_FACTOR",
                    "replication factor 4 is larger than the 3 registered brokers",
                ),
            ),
        ],
    };
    let r = create_topics(&resp, false, Format::Json);
    assert!(r.failed);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        v,
        json!({
            "validate_only": false,
            "topics": [
                {"name": "a", "topic_id": "AbC", "num_partitions": 1, "replication_factor": 3, "error": null},
                {"name": "b", "topic_id": "", "num_partitions": 1, "replication_factor": 3, "error": {
                    "code": 38,
                    "name": "INVALID_REPLICATION_FACTOR",
                    "message": "replication factor 4 is larger than the 3 registered brokers",
                }},
            ],
        })
    );
}

#[test]
fn list_topics_renders_names_or_json_array() {
    let resp = ListTopicsResponse {
        topics: vec![
            TopicListing {
                name: "a".into(),
                topic_id: "id-a".into(),
                partition_count: 1,
            },
            TopicListing {
                name: "b".into(),
                topic_id: "id-b".into(),
                partition_count: 6,
            },
        ],
    };
    assert_eq!(list_topics(&resp, Format::Text).stdout, "a\nb\n");
    assert_eq!(
        list_topics(&ListTopicsResponse::default(), Format::Text).stdout,
        ""
    );
    assert_eq!(
        list_topics_json(&resp),
        json!([
            {"name": "a", "topic_id": "id-a", "partition_count": 1},
            {"name": "b", "topic_id": "id-b", "partition_count": 6},
        ])
    );
}

fn cluster() -> DescribeClusterResponse {
    let listener = |port| Listener {
        name: "PLAINTEXT".into(),
        host: "127.0.0.1".into(),
        port,
        security_protocol: "PLAINTEXT".into(),
    };
    DescribeClusterResponse {
        cluster_id: "MkU3OEVBNTcwNTJENDM2Qk".into(),
        active_controller_id: 2,
        active_controller_endpoint: "127.0.0.1:9094".into(),
        voters: vec![
            Voter {
                node_id: 1,
                endpoint: "127.0.0.1:9093".into(),
            },
            Voter {
                node_id: 2,
                endpoint: "127.0.0.1:9094".into(),
            },
        ],
        brokers: vec![
            BrokerDescription {
                broker_id: 10,
                broker_epoch: 12,
                incarnation_id: "inc-10".into(),
                listeners: vec![listener(19102)],
                rack: None,
                fenced: true,
                in_controlled_shutdown: false,
            },
            BrokerDescription {
                broker_id: 1,
                broker_epoch: 7,
                incarnation_id: "inc-1".into(),
                listeners: vec![listener(19093)],
                rack: Some("rack-1".into()),
                fenced: false,
                in_controlled_shutdown: false,
            },
        ],
        metadata_offset: 42,
        answered_by: 1,
    }
}

#[test]
fn describe_cluster_text_has_header_lines_and_padded_broker_table() {
    let r = describe_cluster(&cluster(), Format::Text);
    assert!(!r.failed);
    assert_eq!(
        r.stdout,
        "ClusterId: MkU3OEVBNTcwNTJENDM2Qk\n\
         ActiveController: 2 (127.0.0.1:9094)\n\
         Voters: 1@127.0.0.1:9093,2@127.0.0.1:9094\n\
         MetadataOffset: 42 (answered by node 1)\n\
         BrokerId  Epoch  Fenced  Rack    Listeners\n\
         1         7      false   rack-1  PLAINTEXT://127.0.0.1:19093\n\
         10        12     true    -       PLAINTEXT://127.0.0.1:19102\n"
    );
}

#[test]
fn describe_cluster_text_without_active_controller_says_none() {
    let mut c = cluster();
    c.active_controller_id = 0;
    c.active_controller_endpoint.clear();
    assert!(
        describe_cluster(&c, Format::Text)
            .stdout
            .contains("ActiveController: none\n")
    );
    assert_eq!(describe_cluster_json(&c)["active_controller"], Value::Null);
}

#[test]
fn describe_cluster_json_is_the_whole_structure() {
    let v = describe_cluster_json(&cluster());
    assert_eq!(v["cluster_id"], "MkU3OEVBNTcwNTJENDM2Qk");
    assert_eq!(
        v["active_controller"],
        json!({"node_id": 2, "endpoint": "127.0.0.1:9094"})
    );
    assert_eq!(
        v["voters"][1],
        json!({"node_id": 2, "endpoint": "127.0.0.1:9094"})
    );
    assert_eq!(
        v["brokers"][1],
        json!({
            "broker_id": 1,
            "broker_epoch": 7,
            "incarnation_id": "inc-1",
            "listeners": [{"name": "PLAINTEXT", "host": "127.0.0.1", "port": 19093, "security_protocol": "PLAINTEXT"}],
            "rack": "rack-1",
            "fenced": false,
            "in_controlled_shutdown": false,
        })
    );
    assert_eq!(v["brokers"][0]["rack"], Value::Null);
    assert_eq!(v["metadata_offset"], 42);
    assert_eq!(v["answered_by"], 1);
}

#[test]
fn table_pads_all_but_last_column() {
    let rows = vec![
        vec!["a".to_owned(), "bb".to_owned(), "c".to_owned()],
        vec!["aaaa".to_owned(), "b".to_owned(), "".to_owned()],
    ];
    assert_eq!(table(&rows), "a     bb  c\naaaa  b\n");
}
