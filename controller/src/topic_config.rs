//! The topic config keys kraftd accepts, their Kafka defaults and validators
//! (`storage/.../LogConfig.java`, SPEC §2.10).
//!
//! Values are stored as the client sent them; validation parses them the way Kafka's
//! `ConfigDef` does (trimmed; booleans case-insensitive; lists comma-separated) and reports
//! Kafka's message shape: `Invalid value V for configuration K: RULE`.

use std::collections::BTreeMap;

/// Where an effective config value comes from (Kafka `DescribeConfigsResponse.ConfigSource`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConfigSource {
    /// Set on the topic (Kafka 1).
    DynamicTopicConfig,
    /// Set on this broker (Kafka 2).
    DynamicBrokerConfig,
    /// Set as the cluster default, BROKER `""` (Kafka 3).
    DynamicDefaultBrokerConfig,
    /// Kafka's default (Kafka 5).
    DefaultConfig,
}

impl ConfigSource {
    /// Kafka's int8 code.
    pub fn code(self) -> i8 {
        match self {
            ConfigSource::DynamicTopicConfig => 1,
            ConfigSource::DynamicBrokerConfig => 2,
            ConfigSource::DynamicDefaultBrokerConfig => 3,
            ConfigSource::DefaultConfig => 5,
        }
    }

    /// Kafka's UPPER_SNAKE name.
    pub fn name(self) -> &'static str {
        match self {
            ConfigSource::DynamicTopicConfig => "DYNAMIC_TOPIC_CONFIG",
            ConfigSource::DynamicBrokerConfig => "DYNAMIC_BROKER_CONFIG",
            ConfigSource::DynamicDefaultBrokerConfig => "DYNAMIC_DEFAULT_BROKER_CONFIG",
            ConfigSource::DefaultConfig => "DEFAULT_CONFIG",
        }
    }
}

/// A config value's type (Kafka `ConfigDef.Type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigType {
    /// `true` or `false`, case-insensitive.
    Boolean,
    /// 32-bit signed integer.
    Int,
    /// 64-bit signed integer.
    Long,
    /// Floating point.
    Double,
    /// Free string.
    String,
    /// Comma-separated list of strings.
    List,
}

impl ConfigType {
    fn kafka_name(self) -> &'static str {
        match self {
            ConfigType::Boolean => "BOOLEAN",
            ConfigType::Int => "INT",
            ConfigType::Long => "LONG",
            ConfigType::Double => "DOUBLE",
            ConfigType::String => "STRING",
            ConfigType::List => "LIST",
        }
    }
}

/// The rule a parsed value must satisfy.
#[derive(Clone, Copy, Debug)]
enum Rule {
    Any,
    AtLeast(i64),
    Between(i64, i64),
    /// Gzip level: 1..=9, or -1 for the codec default.
    GzipLevel,
    RatioBetween(f64, f64),
    OneOf(&'static [&'static str]),
    /// Non-empty list whose every element is one of these.
    ListOf(&'static [&'static str]),
    /// `*` or `partition:broker,...` (Kafka `ThrottledReplicaListValidator`).
    ThrottledReplicas,
}

/// One accepted topic config key.
#[derive(Clone, Copy, Debug)]
pub struct TopicConfigDef {
    /// The key, e.g. `retention.ms`.
    pub name: &'static str,
    /// Value type.
    pub kind: ConfigType,
    /// Kafka's default, as a string.
    pub default: &'static str,
    rule: Rule,
}

const COMPRESSION_TYPES: &[&str] = &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];

const fn def(
    name: &'static str,
    kind: ConfigType,
    default: &'static str,
    rule: Rule,
) -> TopicConfigDef {
    TopicConfigDef {
        name,
        kind,
        default,
        rule,
    }
}

use ConfigType::{Boolean, Double, Int, List, Long};

/// Every accepted topic config, sorted by name. Defaults are Kafka 3.9's (`LogConfig`).
pub const TOPIC_CONFIGS: &[TopicConfigDef] = &[
    def(
        "cleanup.policy",
        List,
        "delete",
        Rule::ListOf(&["compact", "delete"]),
    ),
    def("compression.gzip.level", Int, "-1", Rule::GzipLevel),
    def("compression.lz4.level", Int, "9", Rule::Between(1, 17)),
    def(
        "compression.type",
        ConfigType::String,
        "producer",
        Rule::OneOf(COMPRESSION_TYPES),
    ),
    def(
        "compression.zstd.level",
        Int,
        "3",
        Rule::Between(-131072, 22),
    ),
    def("delete.retention.ms", Long, "86400000", Rule::AtLeast(0)),
    def("file.delete.delay.ms", Long, "60000", Rule::AtLeast(0)),
    def(
        "flush.messages",
        Long,
        "9223372036854775807",
        Rule::AtLeast(1),
    ),
    def("flush.ms", Long, "9223372036854775807", Rule::AtLeast(0)),
    def(
        "follower.replication.throttled.replicas",
        List,
        "",
        Rule::ThrottledReplicas,
    ),
    def("index.interval.bytes", Int, "4096", Rule::AtLeast(0)),
    def(
        "leader.replication.throttled.replicas",
        List,
        "",
        Rule::ThrottledReplicas,
    ),
    def("local.retention.bytes", Long, "-2", Rule::AtLeast(-2)),
    def("local.retention.ms", Long, "-2", Rule::AtLeast(-2)),
    def(
        "max.compaction.lag.ms",
        Long,
        "9223372036854775807",
        Rule::AtLeast(1),
    ),
    def("max.message.bytes", Int, "1048588", Rule::AtLeast(0)),
    def("message.downconversion.enable", Boolean, "true", Rule::Any),
    def(
        "message.timestamp.after.max.ms",
        Long,
        "9223372036854775807",
        Rule::AtLeast(0),
    ),
    def(
        "message.timestamp.before.max.ms",
        Long,
        "9223372036854775807",
        Rule::AtLeast(0),
    ),
    def(
        "message.timestamp.type",
        ConfigType::String,
        "CreateTime",
        Rule::OneOf(&["CreateTime", "LogAppendTime"]),
    ),
    def(
        "min.cleanable.dirty.ratio",
        Double,
        "0.5",
        Rule::RatioBetween(0.0, 1.0),
    ),
    def("min.compaction.lag.ms", Long, "0", Rule::AtLeast(0)),
    // No check against the replication factor: Kafka accepts min.insync.replicas > RF at
    // creation and uses min(min.insync.replicas, RF) (SPEC §4.4).
    def("min.insync.replicas", Int, "1", Rule::AtLeast(1)),
    def("preallocate", Boolean, "false", Rule::Any),
    def("remote.log.copy.disable", Boolean, "false", Rule::Any),
    def("remote.log.delete.on.disable", Boolean, "false", Rule::Any),
    def("remote.storage.enable", Boolean, "false", Rule::Any),
    def("retention.bytes", Long, "-1", Rule::Any),
    def("retention.ms", Long, "604800000", Rule::AtLeast(-1)),
    def("segment.bytes", Int, "1073741824", Rule::AtLeast(14)),
    def("segment.index.bytes", Int, "10485760", Rule::AtLeast(4)),
    def("segment.jitter.ms", Long, "0", Rule::AtLeast(0)),
    def("segment.ms", Long, "604800000", Rule::AtLeast(1)),
    def(
        "unclean.leader.election.enable",
        Boolean,
        "false",
        Rule::Any,
    ),
];

/// The definition of topic config `name`, if kraftd accepts it.
pub fn lookup(name: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS
        .binary_search_by(|d| d.name.cmp(name))
        .ok()
        .and_then(|i| TOPIC_CONFIGS.get(i))
}

/// Every accepted key with its default value.
pub fn defaults() -> BTreeMap<String, String> {
    TOPIC_CONFIGS
        .iter()
        .map(|d| (d.name.to_string(), d.default.to_string()))
        .collect()
}

/// Check one key and value. The error is the `INVALID_CONFIG` message: for an unknown key
/// `Unknown topic config name: K`, else `Invalid value V for configuration K: RULE`.
pub fn validate(name: &str, value: &str) -> Result<(), String> {
    let Some(def) = lookup(name) else {
        return Err(format!("Unknown topic config name: {name}"));
    };
    def.validate(value)
        .map_err(|rule| format!("Invalid value {value} for configuration {name}: {rule}"))
}

/// Broker configs kraftd accepts as dynamic configs (resource BROKER, id or `""` for the
/// cluster default), sorted by name. Defaults are Kafka 3.9's (`ServerLogConfigs`,
/// `ReplicationConfigs`, `ServerConfigs`).
pub const BROKER_CONFIGS: &[TopicConfigDef] = &[
    def("auto.create.topics.enable", Boolean, "true", Rule::Any),
    def(
        "compression.type",
        ConfigType::String,
        "producer",
        Rule::OneOf(COMPRESSION_TYPES),
    ),
    def("default.replication.factor", Int, "1", Rule::AtLeast(1)),
    def(
        "log.cleanup.policy",
        List,
        "delete",
        Rule::ListOf(&["compact", "delete"]),
    ),
    def("log.retention.bytes", Long, "-1", Rule::Any),
    def("log.retention.ms", Long, "604800000", Rule::AtLeast(-1)),
    def("log.roll.ms", Long, "604800000", Rule::AtLeast(1)),
    def("log.segment.bytes", Int, "1073741824", Rule::AtLeast(14)),
    def("message.max.bytes", Int, "1048588", Rule::AtLeast(0)),
    def("min.insync.replicas", Int, "1", Rule::AtLeast(1)),
    def("num.partitions", Int, "1", Rule::AtLeast(1)),
    def(
        "unclean.leader.election.enable",
        Boolean,
        "false",
        Rule::Any,
    ),
];

/// Topic key → the broker key whose cluster default (BROKER `""`) overrides the topic
/// default (Kafka `ServerTopicConfigSynonyms`), for the keys in [`BROKER_CONFIGS`].
const SYNONYMS: &[(&str, &str)] = &[
    ("cleanup.policy", "log.cleanup.policy"),
    ("compression.type", "compression.type"),
    ("max.message.bytes", "message.max.bytes"),
    ("min.insync.replicas", "min.insync.replicas"),
    ("retention.bytes", "log.retention.bytes"),
    ("retention.ms", "log.retention.ms"),
    ("segment.bytes", "log.segment.bytes"),
    ("segment.ms", "log.roll.ms"),
    (
        "unclean.leader.election.enable",
        "unclean.leader.election.enable",
    ),
];

/// The broker config that stands in for topic config `topic_key` at the cluster level.
pub fn broker_synonym(topic_key: &str) -> Option<&'static str> {
    SYNONYMS
        .iter()
        .find(|(t, _)| *t == topic_key)
        .map(|(_, b)| *b)
}

/// The definition of dynamic broker config `name`, if kraftd accepts it.
pub fn broker_lookup(name: &str) -> Option<&'static TopicConfigDef> {
    BROKER_CONFIGS
        .binary_search_by(|d| d.name.cmp(name))
        .ok()
        .and_then(|i| BROKER_CONFIGS.get(i))
}

/// Every accepted broker key with its default value.
pub fn broker_defaults() -> BTreeMap<String, String> {
    BROKER_CONFIGS
        .iter()
        .map(|d| (d.name.to_string(), d.default.to_string()))
        .collect()
}

/// Check one dynamic broker key and value; messages as [`validate`], with
/// `Unknown broker config name: K` for an unknown key.
pub fn validate_broker(name: &str, value: &str) -> Result<(), String> {
    let Some(def) = broker_lookup(name) else {
        return Err(format!("Unknown broker config name: {name}"));
    };
    def.validate(value)
        .map_err(|rule| format!("Invalid value {value} for configuration {name}: {rule}"))
}

/// The list items of a LIST value (comma-separated, trimmed, empty items dropped).
pub fn list_items(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

impl TopicConfigDef {
    /// Check `value`; the error names the broken rule.
    fn validate(&self, value: &str) -> Result<(), String> {
        let trimmed = value.trim();
        let not_a_number = || format!("Not a number of type {}", self.kind.kafka_name());
        match self.kind {
            ConfigType::Boolean => {
                if trimmed.eq_ignore_ascii_case("true") || trimmed.eq_ignore_ascii_case("false") {
                    Ok(())
                } else {
                    Err("Expected value to be either true or false".to_string())
                }
            }
            ConfigType::Int => {
                let n: i32 = trimmed.parse().map_err(|_| not_a_number())?;
                self.check_integer(i64::from(n))
            }
            ConfigType::Long => {
                let n: i64 = trimmed.parse().map_err(|_| not_a_number())?;
                self.check_integer(n)
            }
            ConfigType::Double => {
                let x: f64 = trimmed.parse().map_err(|_| not_a_number())?;
                match self.rule {
                    // `contains` is false for NaN, which Kafka's comparison would let through.
                    Rule::RatioBetween(lo, hi) if !(lo..=hi).contains(&x) => Err(format!(
                        "Value must be no less than {lo} and no more than {hi}"
                    )),
                    _ => Ok(()),
                }
            }
            ConfigType::String => match self.rule {
                Rule::OneOf(allowed) if !allowed.contains(&trimmed) => {
                    Err(format!("String must be one of: {}", allowed.join(", ")))
                }
                _ => Ok(()),
            },
            ConfigType::List => {
                let items: Vec<&str> = if trimmed.is_empty() {
                    Vec::new()
                } else {
                    trimmed.split(',').map(str::trim).collect()
                };
                match self.rule {
                    Rule::ListOf(allowed) => {
                        if items.is_empty() || items.iter().any(|i| !allowed.contains(i)) {
                            Err(format!(
                                "List must be non-empty and each element one of: {}",
                                allowed.join(", ")
                            ))
                        } else {
                            Ok(())
                        }
                    }
                    Rule::ThrottledReplicas => check_throttled_replicas(&items),
                    _ => Ok(()),
                }
            }
        }
    }

    fn check_integer(&self, n: i64) -> Result<(), String> {
        match self.rule {
            Rule::AtLeast(min) if n < min => Err(format!("Value must be at least {min}")),
            Rule::Between(min, _) if n < min => Err(format!("Value must be at least {min}")),
            Rule::Between(_, max) if n > max => Err(format!("Value must be no more than {max}")),
            Rule::GzipLevel if n != -1 && !(1..=9).contains(&n) => {
                Err("Value must be between 1 and 9, or -1 for the default".to_string())
            }
            _ => Ok(()),
        }
    }
}

fn check_throttled_replicas(items: &[&str]) -> Result<(), String> {
    let is_replica = |s: &str| {
        s.split_once(':').is_some_and(|(p, b)| {
            p.trim().parse::<u32>().is_ok() && b.trim().parse::<u32>().is_ok()
        })
    };
    let ok = items == ["*"] || items.iter().all(|i| is_replica(i));
    if ok {
        Ok(())
    } else {
        Err(
            "must be the literal '*' or a list of replicas in the following format: \
             [partitionId]:[brokerId],[partitionId]:[brokerId],..."
                .to_string(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_defaults_are_valid() {
        for w in TOPIC_CONFIGS.windows(2) {
            assert!(w[0].name < w[1].name, "{} before {}", w[0].name, w[1].name);
        }
        for d in TOPIC_CONFIGS {
            assert_eq!(validate(d.name, d.default), Ok(()), "default of {}", d.name);
        }
    }

    #[test]
    fn kafka_defaults() {
        let d = defaults();
        assert_eq!(d["retention.ms"], "604800000");
        assert_eq!(d["segment.bytes"], "1073741824");
        assert_eq!(d["cleanup.policy"], "delete");
        assert_eq!(d["max.message.bytes"], "1048588");
        assert_eq!(d["min.insync.replicas"], "1");
        assert_eq!(d["unclean.leader.election.enable"], "false");
    }

    #[test]
    fn rejects_unknown_key() {
        assert_eq!(
            validate("foo", "1").unwrap_err(),
            "Unknown topic config name: foo"
        );
    }

    #[test]
    fn rejects_bad_values_naming_key_and_rule() {
        let cases = [
            ("retention.ms", "abc", "Not a number of type LONG"),
            ("retention.ms", "-2", "Value must be at least -1"),
            ("min.insync.replicas", "0", "Value must be at least 1"),
            (
                "min.insync.replicas",
                "99999999999",
                "Not a number of type INT",
            ),
            ("cleanup.policy", "forever", "compact, delete"),
            ("cleanup.policy", "", "non-empty"),
            (
                "unclean.leader.election.enable",
                "yes",
                "either true or false",
            ),
            ("compression.type", "brotli", "String must be one of"),
            ("min.cleanable.dirty.ratio", "1.5", "no more than 1"),
            ("min.cleanable.dirty.ratio", "NaN", "no more than 1"),
            ("compression.gzip.level", "0", "between 1 and 9"),
            (
                "leader.replication.throttled.replicas",
                "0:x",
                "[partitionId]:[brokerId]",
            ),
        ];
        for (key, value, rule) in cases {
            let err = validate(key, value).unwrap_err();
            assert!(err.contains(key), "{err}");
            assert!(err.contains(rule), "{key}={value}: {err}");
        }
    }

    #[test]
    fn broker_table_is_sorted_and_defaults_are_valid() {
        for w in BROKER_CONFIGS.windows(2) {
            assert!(w[0].name < w[1].name, "{} before {}", w[0].name, w[1].name);
        }
        for d in BROKER_CONFIGS {
            assert_eq!(
                validate_broker(d.name, d.default),
                Ok(()),
                "default of {}",
                d.name
            );
        }
        assert_eq!(broker_defaults()["num.partitions"], "1");
    }

    #[test]
    fn every_synonym_names_a_known_topic_and_broker_key() {
        for (t, b) in SYNONYMS {
            assert!(lookup(t).is_some(), "{t}");
            let (td, bd) = (lookup(t).unwrap(), broker_lookup(b).unwrap());
            assert_eq!(td.kind, bd.kind, "{t} vs {b}");
        }
        assert_eq!(broker_synonym("retention.ms"), Some("log.retention.ms"));
        assert_eq!(broker_synonym("flush.ms"), None);
    }

    #[test]
    fn validate_broker_rejects_unknown_keys_and_bad_values() {
        assert_eq!(
            validate_broker("foo.bar", "1").unwrap_err(),
            "Unknown broker config name: foo.bar"
        );
        let err = validate_broker("num.partitions", "0").unwrap_err();
        assert!(
            err.contains("num.partitions") && err.contains("at least 1"),
            "{err}"
        );
        let err = validate_broker("auto.create.topics.enable", "maybe").unwrap_err();
        assert!(err.contains("true or false"), "{err}");
    }

    #[test]
    fn accepts_kafka_spellings() {
        for (k, v) in [
            ("retention.ms", " -1 "),
            ("unclean.leader.election.enable", "TRUE"),
            ("cleanup.policy", "compact, delete"),
            ("leader.replication.throttled.replicas", "*"),
            ("leader.replication.throttled.replicas", "0:1,1:2"),
            ("retention.bytes", "-5"),
            ("min.insync.replicas", "5"),
        ] {
            assert_eq!(validate(k, v), Ok(()), "{k}={v}");
        }
    }
}
