use super::*;

fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn config_list_keeps_commas_inside_brackets() {
    assert_eq!(
        parse_config_list("retention.ms=172800000,cleanup.policy=[compact,delete]").unwrap(),
        kv(&[
            ("retention.ms", "172800000"),
            ("cleanup.policy", "compact,delete")
        ])
    );
    assert_eq!(
        parse_config_list(" a = 1 , b=[ x, y ] ,c=").unwrap(),
        kv(&[("a", "1"), ("b", "x, y"), ("c", "")])
    );
    // The first '=' splits; later ones belong to the value.
    assert_eq!(
        parse_config_list("sasl.jaas=a=b,k=[p=1,q=2]").unwrap(),
        kv(&[("sasl.jaas", "a=b"), ("k", "p=1,q=2")])
    );
    assert_eq!(parse_config_list("k=[]").unwrap(), kv(&[("k", "")]));
}

#[test]
fn config_list_errors_name_the_rule() {
    for (bad, needle) in [
        ("novalue", "has no '='"),
        ("a=1,", "has no '='"),
        ("=1", "empty config name"),
        ("a=[x,y", "unbalanced '['"),
        ("a=x],b=1", "unbalanced ']'"),
        ("a=[x]y", "does not end with ']'"),
        ("a=x[y]", "brackets inside"),
        ("a=1,a=2", "given twice"),
    ] {
        let err = parse_config_list(bad).unwrap_err();
        assert!(err.contains(needle), "{bad:?}: {err}");
    }
}

#[test]
fn config_names_are_trimmed_and_not_empty() {
    assert_eq!(
        parse_config_names("retention.ms, segment.ms").unwrap(),
        ["retention.ms", "segment.ms"]
    );
    assert!(
        parse_config_names("a,,b")
            .unwrap_err()
            .contains("empty config name")
    );
    assert!(parse_config_names("").is_err());
}

#[test]
fn alter_config_ops_maps_every_flag_to_its_operation() {
    let changes = ConfigChanges {
        add: kv(&[("retention.ms", "1000")]),
        delete: vec!["segment.ms".into()],
        append: kv(&[("cleanup.policy", "compact")]),
        subtract: kv(&[("follower.replication.throttled.replicas", "0:1,1:2")]),
    };
    let ops = alter_config_ops(&changes).unwrap();
    let got: Vec<(&str, i32, Option<&str>)> = ops
        .iter()
        .map(|o| (o.name.as_str(), o.config_operation, o.value.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            ("retention.ms", ConfigOperation::Set as i32, Some("1000")),
            ("segment.ms", ConfigOperation::Delete as i32, None),
            (
                "cleanup.policy",
                ConfigOperation::Append as i32,
                Some("compact")
            ),
            (
                "follower.replication.throttled.replicas",
                ConfigOperation::Subtract as i32,
                Some("0:1,1:2")
            ),
        ]
    );
}

#[test]
fn alter_config_ops_refuses_nothing_and_a_key_with_two_operations() {
    let err = alter_config_ops(&ConfigChanges::default()).unwrap_err();
    assert!(err.contains("--add-config, --delete-config"), "{err}");

    let both = ConfigChanges {
        add: kv(&[("retention.ms", "1")]),
        delete: vec!["retention.ms".into()],
        ..ConfigChanges::default()
    };
    let err = alter_config_ops(&both).unwrap_err();
    assert!(
        err.contains("retention.ms is given to both --add-config and --delete-config"),
        "{err}"
    );

    let twice = ConfigChanges {
        delete: vec!["a".into(), "a".into()],
        ..ConfigChanges::default()
    };
    assert!(
        alter_config_ops(&twice)
            .unwrap_err()
            .contains("given twice to --delete-config")
    );
}

#[test]
fn replicas_are_distinct_non_negative_ids() {
    assert_eq!(parse_replicas("3, 1,2").unwrap(), [3, 1, 2]);
    for (bad, needle) in [
        ("", "not a broker id"),
        ("1,,2", "not a broker id"),
        ("1,x", "not a broker id"),
        ("-1", "not a broker id"),
        ("1,2,1", "broker 1 is listed twice"),
    ] {
        let err = parse_replicas(bad).unwrap_err();
        assert!(err.contains(needle), "{bad:?}: {err}");
    }
}

#[test]
fn reassignment_json_in_kafka_format() {
    let plan = parse_reassignment_json(
        r#"{"version":1,"partitions":[
            {"topic":"t","partition":0,"replicas":[1,2,3]},
            {"topic":"u","partition":2,"replicas":[3],"log_dirs":["any"]},
            {"topic":"t","partition":1,"replicas":[2,3,1]}
        ]}"#,
    )
    .unwrap();
    assert_eq!(
        plan,
        [
            PartitionReassignment {
                topic: "t".into(),
                partition: 0,
                replicas: vec![1, 2, 3]
            },
            PartitionReassignment {
                topic: "u".into(),
                partition: 2,
                replicas: vec![3]
            },
            PartitionReassignment {
                topic: "t".into(),
                partition: 1,
                replicas: vec![2, 3, 1]
            },
        ]
    );

    // Grouped by topic in first-appearance order; add carries replicas, cancel does not.
    let req = reassignment_request(&plan, false);
    assert_eq!(
        req.topics
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>(),
        ["t", "u"]
    );
    assert_eq!(
        req.topics[0]
            .partitions
            .iter()
            .map(|p| (p.partition_index, p.replicas.clone().unwrap().broker_ids))
            .collect::<Vec<_>>(),
        [(0, vec![1, 2, 3]), (1, vec![2, 3, 1])]
    );
    let cancel = reassignment_request(&plan, true);
    assert!(
        cancel
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .all(|p| p.replicas.is_none())
    );
}

#[test]
fn reassignment_json_errors_name_the_rule() {
    for (bad, needle) in [
        ("{", "not a reassignment plan"),
        (r#"{"partitions":[]}"#, "missing field `version`"),
        (r#"{"version":2,"partitions":[]}"#, "only version 1"),
        (
            r#"{"version":1,"partitions":[]}"#,
            "\"partitions\" is empty",
        ),
        (
            r#"{"version":1,"partitions":[{"topic":"t","partition":0}]}"#,
            "missing field `replicas`",
        ),
        (
            r#"{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[]}]}"#,
            "t-0: \"replicas\": the replica list is empty",
        ),
        (
            r#"{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,1]}]}"#,
            "broker 1 is listed twice",
        ),
        (
            r#"{"version":1,"partitions":[{"topic":"t","partition":-1,"replicas":[1]}]}"#,
            "\"partition\" is negative",
        ),
        (
            r#"{"version":1,"partitions":[{"topic":"","partition":0,"replicas":[1]}]}"#,
            "\"topic\" is empty",
        ),
        (
            r#"{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1]},{"topic":"t","partition":0,"replicas":[2]}]}"#,
            "t-0 appears twice",
        ),
        (
            r#"{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2],"log_dirs":["any"]}]}"#,
            "\"log_dirs\" has 1 entries but \"replicas\" has 2",
        ),
        (
            r#"{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1],"log_dirs":["/data"]}]}"#,
            "only accepts \"any\"",
        ),
        (
            r#"{"version":1,"partitions":[{"topic":"t","partition":0,"replica":[1]}]}"#,
            "unknown field `replica`",
        ),
    ] {
        let err = parse_reassignment_json(bad).unwrap_err();
        assert!(err.contains(needle), "{bad}: {err}");
    }
}

#[test]
fn pairing_flags_checks_counts_and_duplicates() {
    let topics = vec!["t".to_owned(), "u".to_owned()];
    let plan = pair_reassignments(&topics, &[0, 1], Some(&[vec![1, 2], vec![3]])).unwrap();
    assert_eq!(plan[1].topic, "u");
    assert_eq!(plan[1].replicas, [3]);

    let err = pair_reassignments(&topics, &[0], Some(&[vec![1], vec![2]])).unwrap_err();
    assert!(
        err.contains("got 2 --topic, 1 --partition, 2 --replicas"),
        "{err}"
    );
    let err = pair_reassignments(&topics, &[0], None).unwrap_err();
    assert!(err.contains("got 2 --topic, 1 --partition"), "{err}");
    let err = pair_reassignments(&["t".into(), "t".into()], &[0, 0], None).unwrap_err();
    assert!(err.contains("t-0 is given twice"), "{err}");
}
