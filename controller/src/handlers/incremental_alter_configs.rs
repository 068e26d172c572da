//! IncrementalAlterConfigs (Kafka apiKey 44, SPEC §2.10).

use std::collections::{BTreeMap, BTreeSet};

use super::ControllerResult;
use super::describe_configs::{check_resource, effective_configs};
use crate::error_code::ErrorCode;
use crate::image::MetadataImage;
use crate::limits::Limits;
use crate::records::{ConfigRecord, ConfigResourceType, Record};
use crate::topic_config::{self, ConfigType};

/// A config operation (Kafka `AlterConfigOp.OpType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlterConfigOp {
    /// Set the value (Kafka 0).
    Set,
    /// Remove the explicit value (Kafka 1).
    Delete,
    /// Add list items not already present (Kafka 2; LIST keys only).
    Append,
    /// Remove list items (Kafka 3; LIST keys only).
    Subtract,
}

impl AlterConfigOp {
    /// The op with Kafka's int8 code.
    pub fn from_code(code: i8) -> Option<Self> {
        match code {
            0 => Some(AlterConfigOp::Set),
            1 => Some(AlterConfigOp::Delete),
            2 => Some(AlterConfigOp::Append),
            3 => Some(AlterConfigOp::Subtract),
            _ => None,
        }
    }

    /// Kafka's int8 code.
    pub fn code(self) -> i8 {
        match self {
            AlterConfigOp::Set => 0,
            AlterConfigOp::Delete => 1,
            AlterConfigOp::Append => 2,
            AlterConfigOp::Subtract => 3,
        }
    }

    fn name(self) -> &'static str {
        match self {
            AlterConfigOp::Set => "SET",
            AlterConfigOp::Delete => "DELETE",
            AlterConfigOp::Append => "APPEND",
            AlterConfigOp::Subtract => "SUBTRACT",
        }
    }
}

/// One key to change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlterableConfig {
    /// Config key.
    pub name: String,
    /// Kafka's int8 op code (SET 0, DELETE 1, APPEND 2, SUBTRACT 3).
    pub config_operation: i8,
    /// The value (ignored by DELETE).
    pub value: Option<String>,
}

/// One resource to change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlterConfigsResource {
    /// Kafka's int8 resource type (TOPIC = 2, BROKER = 4).
    pub resource_type: i8,
    /// Topic name, broker id, or `""` (BROKER) for the cluster default.
    pub resource_name: String,
    /// The changes, applied in order.
    pub configs: Vec<AlterableConfig>,
}

/// An IncrementalAlterConfigs request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncrementalAlterConfigs {
    /// Resources, answered in this order.
    pub resources: Vec<AlterConfigsResource>,
    /// Check everything, write nothing.
    pub validate_only: bool,
}

/// The outcome for one resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlterConfigsResourceResponse {
    /// `ErrorCode::None` on success.
    pub error_code: ErrorCode,
    /// Names the field and the rule on failure.
    pub error_message: Option<String>,
    /// As requested.
    pub resource_type: i8,
    /// As requested.
    pub resource_name: String,
}

/// The answer to [`IncrementalAlterConfigs`], one response per resource, in request order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncrementalAlterConfigsReply {
    /// Per-resource results.
    pub responses: Vec<AlterConfigsResourceResponse>,
}

type ResourceError = (ErrorCode, String);

/// Handle IncrementalAlterConfigs (Kafka `ConfigurationControlManager.incrementalAlterConfigs`).
///
/// Per resource, in order (a failure adds no records for that resource; others go on):
/// 1. the same (type, name) twice in the request → `INVALID_REQUEST` (each copy);
/// 2. resource missing → as [`super::describe_configs`] (`UNKNOWN_TOPIC_OR_PARTITION`,
///    `INVALID_REQUEST`, `BROKER_ID_NOT_REGISTERED`);
/// 3. a key twice in the resource → `INVALID_REQUEST`; unknown op code → `INVALID_REQUEST`;
/// 4. unknown key (topic or dynamic broker table of [`topic_config`]) → `INVALID_CONFIG`;
///    SET/APPEND/SUBTRACT without a value → `INVALID_CONFIG`; APPEND/SUBTRACT on a key whose
///    type is not LIST → `INVALID_CONFIG` "Can't APPEND to key K because its type is not
///    LIST."; the new value breaks the key's rule → `INVALID_CONFIG` naming key and rule.
///
/// APPEND/SUBTRACT start from the resource's effective value (own, else cluster default,
/// else default). Records: one `Config` per key whose explicit value changes (`value: None`
/// deletes); BROKER resources emit one per key even when unchanged, so brokers reload
/// (KAFKA-14136). `validate_only` runs every check and writes nothing.
pub fn incremental_alter_configs(
    image: &MetadataImage,
    req: &IncrementalAlterConfigs,
) -> ControllerResult<IncrementalAlterConfigsReply> {
    incremental_alter_configs_with_limits(image, req, &Limits::default())
}

/// [`incremental_alter_configs`] enforcing `limits`: a resource with more than
/// `max_config_entries` changes fails alone with `INVALID_REQUEST` naming the limit.
pub fn incremental_alter_configs_with_limits(
    image: &MetadataImage,
    req: &IncrementalAlterConfigs,
    limits: &Limits,
) -> ControllerResult<IncrementalAlterConfigsReply> {
    let mut counts: BTreeMap<(i8, &str), usize> = BTreeMap::new();
    for r in &req.resources {
        *counts
            .entry((r.resource_type, r.resource_name.as_str()))
            .or_default() += 1;
    }
    let mut records = Vec::new();
    let mut responses = Vec::with_capacity(req.resources.len());
    for r in &req.resources {
        let outcome = if counts
            .get(&(r.resource_type, r.resource_name.as_str()))
            .copied()
            .unwrap_or(0)
            > 1
        {
            Err((
                ErrorCode::InvalidRequest,
                format!(
                    "Duplicate resource (type {}, name '{}') in the request.",
                    r.resource_type, r.resource_name
                ),
            ))
        } else {
            limits
                .check_config_entries(r.configs.len())
                .map_err(|m| (ErrorCode::InvalidRequest, m))
                .and_then(|()| plan(image, r))
        };
        let (error_code, error_message) = match outcome {
            Ok(new_records) => {
                if !req.validate_only {
                    records.extend(new_records);
                }
                (ErrorCode::None, None)
            }
            Err((code, msg)) => (code, Some(msg)),
        };
        responses.push(AlterConfigsResourceResponse {
            error_code,
            error_message,
            resource_type: r.resource_type,
            resource_name: r.resource_name.clone(),
        });
    }
    ControllerResult {
        records,
        reply: IncrementalAlterConfigsReply { responses },
    }
}

fn plan(image: &MetadataImage, r: &AlterConfigsResource) -> Result<Vec<Record>, ResourceError> {
    let ty = check_resource(image, r.resource_type, &r.resource_name)?;
    let mut seen = BTreeSet::new();
    for c in &r.configs {
        if !seen.insert(c.name.as_str()) {
            return Err((
                ErrorCode::InvalidRequest,
                format!("Error due to duplicate config keys: {}", c.name),
            ));
        }
    }
    let explicit = image
        .configs()
        .get(ty, &r.resource_name)
        .cloned()
        .unwrap_or_default();
    let effective: BTreeMap<String, String> = effective_configs(image, ty, &r.resource_name)
        .into_iter()
        .map(|(k, v, _)| (k, v))
        .collect();
    let mut out = Vec::new();
    for c in &r.configs {
        let key = c.name.as_str();
        let Some(op) = AlterConfigOp::from_code(c.config_operation) else {
            return Err((
                ErrorCode::InvalidRequest,
                format!(
                    "Unknown config operation {} for key {key}: must be SET (0), DELETE (1), \
                     APPEND (2) or SUBTRACT (3).",
                    c.config_operation
                ),
            ));
        };
        let def = match ty {
            ConfigResourceType::Topic => topic_config::lookup(key),
            ConfigResourceType::Broker => topic_config::broker_lookup(key),
        };
        let Some(def) = def else {
            let kind = match ty {
                ConfigResourceType::Topic => "topic",
                ConfigResourceType::Broker => "broker",
            };
            return Err((
                ErrorCode::InvalidConfig,
                format!("Unknown {kind} config name: {key}"),
            ));
        };
        let value = if op == AlterConfigOp::Delete {
            None
        } else {
            let Some(v) = c.value.as_deref() else {
                return Err((
                    ErrorCode::InvalidConfig,
                    format!("Null value not supported for {} of key {key}.", op.name()),
                ));
            };
            let new = match op {
                AlterConfigOp::Set | AlterConfigOp::Delete => v.to_string(),
                AlterConfigOp::Append | AlterConfigOp::Subtract => {
                    if def.kind != ConfigType::List {
                        return Err((
                            ErrorCode::InvalidConfig,
                            format!(
                                "Can't {} to key {key} because its type is not LIST.",
                                op.name()
                            ),
                        ));
                    }
                    let base = effective
                        .get(key)
                        .map(String::as_str)
                        .unwrap_or(def.default);
                    let mut items = topic_config::list_items(base);
                    let given = topic_config::list_items(v);
                    if op == AlterConfigOp::Append {
                        for item in given {
                            if !items.contains(&item) {
                                items.push(item);
                            }
                        }
                    } else {
                        items.retain(|i| !given.contains(i));
                    }
                    items.join(",")
                }
            };
            let check = match ty {
                ConfigResourceType::Topic => topic_config::validate(key, &new),
                ConfigResourceType::Broker => topic_config::validate_broker(key, &new),
            };
            check.map_err(|m| (ErrorCode::InvalidConfig, m))?;
            Some(new)
        };
        if explicit.get(key) != value.as_ref() || ty == ConfigResourceType::Broker {
            out.push(Record::Config(ConfigRecord {
                resource_type: ty,
                resource_name: r.resource_name.clone(),
                name: key.to_string(),
                value,
            }));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::create_topics;
    use crate::testing::{TestImage, create_req};

    const TOPIC: i8 = 2;
    const BROKER: i8 = 4;

    fn op(name: &str, code: i8, value: Option<&str>) -> AlterableConfig {
        AlterableConfig {
            name: name.into(),
            config_operation: code,
            value: value.map(str::to_string),
        }
    }

    fn req(ty: i8, name: &str, configs: Vec<AlterableConfig>) -> IncrementalAlterConfigs {
        IncrementalAlterConfigs {
            resources: vec![AlterConfigsResource {
                resource_type: ty,
                resource_name: name.into(),
                configs,
            }],
            validate_only: false,
        }
    }

    fn with_topic() -> TestImage {
        let mut t = TestImage::new().brokers(1..=2).unfenced(1..=2);
        let r = create_topics(&t.image, &create_req("t", 1, 1), &mut t.ctx);
        t.apply_all(&r.records);
        t
    }

    fn alter(t: &mut TestImage, r: &IncrementalAlterConfigs) -> AlterConfigsResourceResponse {
        let res = incremental_alter_configs(&t.image, r);
        t.apply_all(&res.records);
        res.reply.responses[0].clone()
    }

    fn assert_rejected(
        t: &TestImage,
        r: &IncrementalAlterConfigs,
        code: ErrorCode,
        fragment: &str,
    ) {
        let res = incremental_alter_configs(&t.image, r);
        let resp = &res.reply.responses[0];
        assert_eq!(resp.error_code, code, "{resp:?}");
        let msg = resp.error_message.as_deref().unwrap_or_default();
        assert!(msg.contains(fragment), "message {msg:?} lacks {fragment:?}");
        assert!(res.records.is_empty(), "{:?}", res.records);
    }

    fn topic_value(t: &TestImage, key: &str) -> Option<String> {
        t.image.topic_configs("t").get(key).cloned()
    }

    #[test]
    fn incremental_alter_configs_sets_and_deletes_topic_keys() {
        let mut t = with_topic();
        let resp = alter(
            &mut t,
            &req(
                TOPIC,
                "t",
                vec![
                    op("retention.ms", 0, Some("1000")),
                    op("min.insync.replicas", 0, Some("2")),
                ],
            ),
        );
        assert_eq!(resp.error_code, ErrorCode::None);
        assert_eq!(topic_value(&t, "retention.ms").as_deref(), Some("1000"));
        assert_eq!(topic_value(&t, "min.insync.replicas").as_deref(), Some("2"));
        alter(&mut t, &req(TOPIC, "t", vec![op("retention.ms", 1, None)]));
        assert_eq!(topic_value(&t, "retention.ms"), None);
        assert_eq!(
            t.image.effective_topic_configs("t").unwrap()["retention.ms"],
            "604800000"
        );
    }

    #[test]
    fn incremental_alter_configs_writes_one_record_per_changed_topic_key() {
        let mut t = with_topic();
        alter(
            &mut t,
            &req(TOPIC, "t", vec![op("retention.ms", 0, Some("1000"))]),
        );
        let r = incremental_alter_configs(
            &t.image,
            &req(
                TOPIC,
                "t",
                vec![
                    op("retention.ms", 0, Some("1000")),
                    op("segment.ms", 1, None),
                    op("segment.bytes", 0, Some("4096")),
                ],
            ),
        );
        assert_eq!(r.records.len(), 1, "{:?}", r.records);
    }

    #[test]
    fn incremental_alter_configs_broker_resources_always_emit() {
        let mut t = with_topic();
        for _ in 0..2 {
            let r = incremental_alter_configs(
                &t.image,
                &req(BROKER, "", vec![op("num.partitions", 0, Some("3"))]),
            );
            assert_eq!(r.records.len(), 1);
            t.apply_all(&r.records);
        }
        let r = incremental_alter_configs(
            &t.image,
            &req(BROKER, "1", vec![op("log.retention.ms", 0, Some("5"))]),
        );
        assert_eq!(r.reply.responses[0].error_code, ErrorCode::None);
        t.apply_all(&r.records);
        assert_eq!(
            t.image
                .configs()
                .get(ConfigResourceType::Broker, "1")
                .unwrap()["log.retention.ms"],
            "5"
        );
    }

    #[test]
    fn incremental_alter_configs_appends_and_subtracts_list_items() {
        let mut t = with_topic();
        alter(
            &mut t,
            &req(TOPIC, "t", vec![op("cleanup.policy", 2, Some("compact"))]),
        );
        assert_eq!(
            topic_value(&t, "cleanup.policy").as_deref(),
            Some("delete,compact")
        );
        alter(
            &mut t,
            &req(TOPIC, "t", vec![op("cleanup.policy", 2, Some("compact"))]),
        );
        assert_eq!(
            topic_value(&t, "cleanup.policy").as_deref(),
            Some("delete,compact")
        );
        alter(
            &mut t,
            &req(TOPIC, "t", vec![op("cleanup.policy", 3, Some("delete"))]),
        );
        assert_eq!(
            topic_value(&t, "cleanup.policy").as_deref(),
            Some("compact")
        );
    }

    #[test]
    fn incremental_alter_configs_rejects_append_to_non_list_key() {
        let t = with_topic();
        assert_rejected(
            &t,
            &req(TOPIC, "t", vec![op("retention.ms", 2, Some("1"))]),
            ErrorCode::InvalidConfig,
            "Can't APPEND to key retention.ms because its type is not LIST.",
        );
        assert_rejected(
            &t,
            &req(TOPIC, "t", vec![op("retention.ms", 3, Some("1"))]),
            ErrorCode::InvalidConfig,
            "Can't SUBTRACT to key retention.ms because its type is not LIST.",
        );
    }

    #[test]
    fn incremental_alter_configs_rejects_subtracting_the_last_cleanup_policy() {
        let t = with_topic();
        assert_rejected(
            &t,
            &req(TOPIC, "t", vec![op("cleanup.policy", 3, Some("delete"))]),
            ErrorCode::InvalidConfig,
            "cleanup.policy",
        );
    }

    #[test]
    fn incremental_alter_configs_rejects_bad_topic_values_naming_key_and_rule() {
        let t = with_topic();
        let cases = [
            ("retention.ms", "-2", "Value must be at least -1"),
            ("retention.bytes", "x", "Not a number of type LONG"),
            ("min.insync.replicas", "0", "Value must be at least 1"),
            ("cleanup.policy", "forever", "compact, delete"),
            ("segment.bytes", "10", "Value must be at least 14"),
            ("max.message.bytes", "-1", "Value must be at least 0"),
            (
                "unclean.leader.election.enable",
                "yes",
                "either true or false",
            ),
            ("no.such.key", "1", "Unknown topic config name: no.such.key"),
        ];
        for (key, value, fragment) in cases {
            assert_rejected(
                &t,
                &req(TOPIC, "t", vec![op(key, 0, Some(value))]),
                ErrorCode::InvalidConfig,
                fragment,
            );
        }
    }

    #[test]
    fn incremental_alter_configs_rejects_bad_broker_values() {
        let t = with_topic();
        let cases = [
            ("num.partitions", "0", "Value must be at least 1"),
            (
                "default.replication.factor",
                "x",
                "Not a number of type INT",
            ),
            ("auto.create.topics.enable", "maybe", "either true or false"),
            ("log.retention.ms", "-5", "Value must be at least -1"),
            (
                "retention.ms",
                "1",
                "Unknown broker config name: retention.ms",
            ),
        ];
        for (key, value, fragment) in cases {
            assert_rejected(
                &t,
                &req(BROKER, "", vec![op(key, 0, Some(value))]),
                ErrorCode::InvalidConfig,
                fragment,
            );
        }
    }

    #[test]
    fn incremental_alter_configs_rejects_missing_resources() {
        let t = with_topic();
        assert_rejected(
            &t,
            &req(TOPIC, "nope", vec![op("retention.ms", 0, Some("1"))]),
            ErrorCode::UnknownTopicOrPartition,
            "The topic 'nope' does not exist.",
        );
        assert_rejected(
            &t,
            &req(BROKER, "x", vec![op("num.partitions", 0, Some("1"))]),
            ErrorCode::InvalidRequest,
            "Invalid broker name x",
        );
        assert_rejected(
            &t,
            &req(BROKER, "9", vec![op("num.partitions", 0, Some("1"))]),
            ErrorCode::BrokerIdNotRegistered,
            "No broker with id 9",
        );
    }

    #[test]
    fn incremental_alter_configs_rejects_duplicate_keys_and_bad_ops() {
        let t = with_topic();
        assert_rejected(
            &t,
            &req(
                TOPIC,
                "t",
                vec![
                    op("retention.ms", 0, Some("1")),
                    op("retention.ms", 1, None),
                ],
            ),
            ErrorCode::InvalidRequest,
            "duplicate config keys: retention.ms",
        );
        assert_rejected(
            &t,
            &req(TOPIC, "t", vec![op("retention.ms", 7, Some("1"))]),
            ErrorCode::InvalidRequest,
            "Unknown config operation 7",
        );
        assert_rejected(
            &t,
            &req(TOPIC, "t", vec![op("retention.ms", 0, None)]),
            ErrorCode::InvalidConfig,
            "Null value not supported for SET of key retention.ms",
        );
    }

    #[test]
    fn incremental_alter_configs_rejects_duplicate_resources_but_alters_others() {
        let t = with_topic();
        let mut r = req(TOPIC, "t", vec![op("retention.ms", 0, Some("1"))]);
        r.resources.push(r.resources[0].clone());
        r.resources.push(
            req(BROKER, "", vec![op("num.partitions", 0, Some("2"))])
                .resources
                .remove(0),
        );
        let res = incremental_alter_configs(&t.image, &r);
        let codes: Vec<ErrorCode> = res.reply.responses.iter().map(|r| r.error_code).collect();
        assert_eq!(
            codes,
            vec![
                ErrorCode::InvalidRequest,
                ErrorCode::InvalidRequest,
                ErrorCode::None
            ]
        );
        assert_eq!(res.records.len(), 1);
    }

    #[test]
    fn incremental_alter_configs_validate_only_writes_nothing() {
        let t = with_topic();
        let mut r = req(TOPIC, "t", vec![op("retention.ms", 0, Some("1"))]);
        r.validate_only = true;
        let res = incremental_alter_configs(&t.image, &r);
        assert_eq!(res.reply.responses[0].error_code, ErrorCode::None);
        assert!(res.records.is_empty());
    }

    #[test]
    fn cluster_default_num_partitions_and_replication_factor_apply_to_new_topics() {
        let mut t = TestImage::new().brokers(1..=3).unfenced(1..=3);
        alter(
            &mut t,
            &req(
                BROKER,
                "",
                vec![
                    op("num.partitions", 0, Some("4")),
                    op("default.replication.factor", 0, Some("2")),
                    op("log.retention.ms", 0, Some("9000")),
                ],
            ),
        );
        let r = create_topics(&t.image, &create_req("d", -1, -1), &mut t.ctx);
        let res = &r.reply.topics[0];
        assert_eq!((res.num_partitions, res.replication_factor), (4, 2));
        assert_eq!(res.effective_configs(&t.image)["retention.ms"], "9000");
        t.apply_all(&r.records);
        assert_eq!(t.image.partition("d", 3).unwrap().replicas.len(), 2);
    }
}
