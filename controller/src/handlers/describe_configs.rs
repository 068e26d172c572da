//! DescribeConfigs (read-only; Kafka apiKey 32, SPEC §2.10).

use crate::error_code::ErrorCode;
use crate::ids::BrokerId;
use crate::image::MetadataImage;
use crate::records::ConfigResourceType;
use crate::topic_config::{self, ConfigSource};

/// One resource to describe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DescribeConfigsResource {
    /// Kafka's int8 resource type (TOPIC = 2, BROKER = 4).
    pub resource_type: i8,
    /// Topic name, broker id, or `""` (BROKER) for the cluster default.
    pub resource_name: String,
    /// Only these keys; `None` = every key.
    pub configuration_keys: Option<Vec<String>>,
}

/// One config entry of a described resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DescribeConfigsEntry {
    /// Config key.
    pub name: String,
    /// Effective value.
    pub value: Option<String>,
    /// Where the value comes from.
    pub source: ConfigSource,
    /// `source == DefaultConfig`.
    pub is_default: bool,
    /// Never true for the keys kraftd knows.
    pub is_sensitive: bool,
    /// Never true: every key kraftd lists can be altered.
    pub read_only: bool,
}

/// The description of one resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DescribeConfigsResult {
    /// `ErrorCode::None` on success.
    pub error_code: ErrorCode,
    /// Names the field and the rule on failure.
    pub error_message: Option<String>,
    /// As requested.
    pub resource_type: i8,
    /// As requested.
    pub resource_name: String,
    /// Entries sorted by key; empty on failure.
    pub configs: Vec<DescribeConfigsEntry>,
}

/// Check that a config resource exists (Kafka `ConfigResourceExistenceChecker`, SPEC §2.10):
/// unsupported type → `INVALID_REQUEST`; TOPIC: unknown → `UNKNOWN_TOPIC_OR_PARTITION`;
/// BROKER: `""` always exists, a non-numeric name → `INVALID_REQUEST`, an unregistered id →
/// `BROKER_ID_NOT_REGISTERED`.
pub(crate) fn check_resource(
    image: &MetadataImage,
    resource_type: i8,
    name: &str,
) -> Result<ConfigResourceType, (ErrorCode, String)> {
    let Some(ty) = ConfigResourceType::from_code(resource_type) else {
        return Err((
            ErrorCode::InvalidRequest,
            format!(
                "Unsupported resource type {resource_type}: resource_type must be TOPIC (2) or BROKER (4)."
            ),
        ));
    };
    match ty {
        ConfigResourceType::Topic => {
            if image.topic(name).is_none() {
                return Err((
                    ErrorCode::UnknownTopicOrPartition,
                    format!("The topic '{name}' does not exist."),
                ));
            }
        }
        ConfigResourceType::Broker if name.is_empty() => {}
        ConfigResourceType::Broker => {
            let id = name
                .parse::<i32>()
                .ok()
                .filter(|id| *id >= 0)
                .ok_or_else(|| {
                    (
                        ErrorCode::InvalidRequest,
                        format!(
                            "Invalid broker name {name}: resource_name must be a broker id or \
                             \"\" for the cluster default."
                        ),
                    )
                })?;
            if image.broker(BrokerId(id)).is_none() {
                return Err((
                    ErrorCode::BrokerIdNotRegistered,
                    format!("No broker with id {id} found."),
                ));
            }
        }
    }
    Ok(ty)
}

/// Effective value and source of every key of a resource known to exist, sorted by key.
pub(crate) fn effective_configs(
    image: &MetadataImage,
    ty: ConfigResourceType,
    name: &str,
) -> Vec<(String, String, ConfigSource)> {
    match ty {
        ConfigResourceType::Topic => image
            .effective_topic_config_entries(name)
            .unwrap_or_default()
            .into_iter()
            .map(|(k, (v, s))| (k, v, s))
            .collect(),
        ConfigResourceType::Broker => {
            let node = if name.is_empty() {
                None
            } else {
                image.configs().get(ConfigResourceType::Broker, name)
            };
            topic_config::BROKER_CONFIGS
                .iter()
                .map(|d| {
                    let (value, source) = if let Some(v) = node.and_then(|m| m.get(d.name)) {
                        (v.clone(), ConfigSource::DynamicBrokerConfig)
                    } else if let Some(v) = image.cluster_default_config(d.name) {
                        (v.to_string(), ConfigSource::DynamicDefaultBrokerConfig)
                    } else {
                        (d.default.to_string(), ConfigSource::DefaultConfig)
                    };
                    (d.name.to_string(), value, source)
                })
                .collect()
        }
    }
}

/// Handle DescribeConfigs: per resource, in request order, every known key (or the
/// requested ones; unknown requested keys are left out, as in Kafka) with its effective
/// value and source.
///
/// TOPIC lookup order: topic → cluster default broker synonym → default
/// ([`MetadataImage::effective_topic_configs`]). BROKER id: that broker's dynamic config →
/// cluster default → default; BROKER `""`: cluster default → default. Errors as
/// [`check_resource`].
pub fn describe_configs(
    image: &MetadataImage,
    resources: &[DescribeConfigsResource],
) -> Vec<DescribeConfigsResult> {
    resources
        .iter()
        .map(|r| {
            let mut out = DescribeConfigsResult {
                error_code: ErrorCode::None,
                error_message: None,
                resource_type: r.resource_type,
                resource_name: r.resource_name.clone(),
                configs: Vec::new(),
            };
            match check_resource(image, r.resource_type, &r.resource_name) {
                Err((code, msg)) => {
                    out.error_code = code;
                    out.error_message = Some(msg);
                }
                Ok(ty) => {
                    out.configs = effective_configs(image, ty, &r.resource_name)
                        .into_iter()
                        .filter(|(k, _, _)| {
                            r.configuration_keys
                                .as_ref()
                                .is_none_or(|keys| keys.iter().any(|x| x == k))
                        })
                        .map(|(name, value, source)| DescribeConfigsEntry {
                            name,
                            value: Some(value),
                            source,
                            is_default: source == ConfigSource::DefaultConfig,
                            is_sensitive: false,
                            read_only: false,
                        })
                        .collect();
                }
            }
            out
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::create_topics;
    use crate::records::{ConfigRecord, Record};
    use crate::testing::{TestImage, create_req};

    fn set(ty: ConfigResourceType, name: &str, key: &str, value: &str) -> Record {
        Record::Config(ConfigRecord {
            resource_type: ty,
            resource_name: name.into(),
            name: key.into(),
            value: Some(value.into()),
        })
    }

    fn describe(t: &TestImage, ty: i8, name: &str) -> DescribeConfigsResult {
        describe_configs(
            &t.image,
            &[DescribeConfigsResource {
                resource_type: ty,
                resource_name: name.into(),
                configuration_keys: None,
            }],
        )
        .remove(0)
    }

    fn entry<'a>(r: &'a DescribeConfigsResult, key: &str) -> &'a DescribeConfigsEntry {
        r.configs.iter().find(|e| e.name == key).expect(key)
    }

    fn with_topic() -> TestImage {
        let mut t = TestImage::new().brokers(1..=1).unfenced(1..=1);
        let r = create_topics(&t.image, &create_req("t", 1, 1), &mut t.ctx);
        t.apply_all(&r.records);
        t
    }

    #[test]
    fn describe_configs_topic_follows_topic_then_cluster_default_then_default() {
        let mut t = with_topic();
        t.apply_all(&[
            set(ConfigResourceType::Topic, "t", "segment.bytes", "1000"),
            set(ConfigResourceType::Broker, "", "log.retention.ms", "5000"),
            set(ConfigResourceType::Broker, "", "log.segment.bytes", "2000"),
            // A node-level broker value is not used for topics.
            set(
                ConfigResourceType::Broker,
                "1",
                "log.cleanup.policy",
                "compact",
            ),
        ]);
        let r = describe(&t, 2, "t");
        assert_eq!(r.error_code, ErrorCode::None);
        let seg = entry(&r, "segment.bytes");
        assert_eq!(
            (seg.value.as_deref(), seg.source),
            (Some("1000"), ConfigSource::DynamicTopicConfig)
        );
        let ret = entry(&r, "retention.ms");
        assert_eq!(
            (ret.value.as_deref(), ret.source),
            (Some("5000"), ConfigSource::DynamicDefaultBrokerConfig)
        );
        assert!(!ret.is_default);
        let cp = entry(&r, "cleanup.policy");
        assert_eq!(
            (cp.value.as_deref(), cp.source),
            (Some("delete"), ConfigSource::DefaultConfig)
        );
        assert!(cp.is_default && !cp.read_only && !cp.is_sensitive);
        assert_eq!(
            t.image.effective_topic_configs("t").unwrap()["retention.ms"],
            "5000"
        );
    }

    #[test]
    fn describe_configs_broker_follows_node_then_cluster_default_then_default() {
        let mut t = with_topic();
        t.apply_all(&[
            set(ConfigResourceType::Broker, "1", "num.partitions", "3"),
            set(ConfigResourceType::Broker, "", "num.partitions", "2"),
            set(ConfigResourceType::Broker, "", "min.insync.replicas", "2"),
        ]);
        let node = describe(&t, 4, "1");
        assert_eq!(
            entry(&node, "num.partitions").source,
            ConfigSource::DynamicBrokerConfig
        );
        assert_eq!(entry(&node, "num.partitions").value.as_deref(), Some("3"));
        assert_eq!(
            entry(&node, "min.insync.replicas").source,
            ConfigSource::DynamicDefaultBrokerConfig
        );
        assert_eq!(
            entry(&node, "log.retention.ms").source,
            ConfigSource::DefaultConfig
        );
        let cluster = describe(&t, 4, "");
        assert_eq!(
            entry(&cluster, "num.partitions").value.as_deref(),
            Some("2")
        );
    }

    #[test]
    fn describe_configs_filters_requested_keys() {
        let t = with_topic();
        let r = describe_configs(
            &t.image,
            &[DescribeConfigsResource {
                resource_type: 2,
                resource_name: "t".into(),
                configuration_keys: Some(vec!["retention.ms".into(), "nope".into()]),
            }],
        );
        let names: Vec<&str> = r[0].configs.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, vec!["retention.ms"]);
    }

    #[test]
    fn describe_configs_rejects_missing_resources() {
        let t = with_topic();
        let cases = [
            (
                2,
                "nope",
                ErrorCode::UnknownTopicOrPartition,
                "The topic 'nope' does not exist.",
            ),
            (
                4,
                "abc",
                ErrorCode::InvalidRequest,
                "Invalid broker name abc",
            ),
            (4, "-1", ErrorCode::InvalidRequest, "Invalid broker name -1"),
            (
                4,
                "7",
                ErrorCode::BrokerIdNotRegistered,
                "No broker with id 7 found.",
            ),
            (
                8,
                "x",
                ErrorCode::InvalidRequest,
                "Unsupported resource type 8",
            ),
        ];
        for (ty, name, code, fragment) in cases {
            let r = describe(&t, ty, name);
            assert_eq!(r.error_code, code, "{ty} {name}");
            assert!(
                r.error_message.as_deref().unwrap().contains(fragment),
                "{r:?}"
            );
            assert!(r.configs.is_empty());
        }
    }
}
