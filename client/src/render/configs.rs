//! `configs describe` (DescribeConfigs) and `configs alter` (IncrementalAlterConfigs), shaped
//! like `kafka-configs.sh`.

use std::fmt::Write as _;

use kraft_proto::{
    ConfigResourceType, ConfigSource, DescribeConfigsResourceResult, DescribeConfigsResponse,
    IncrementalAlterConfigsResponse,
};
use serde_json::{Value, json};

use super::{Format, Rendered, error_json, error_lines_with};
use crate::item_failure;

/// The resource type's proto name (`TOPIC`, `BROKER`), or its number when unknown.
fn type_name(resource_type: i32) -> String {
    ConfigResourceType::try_from(resource_type).map_or_else(
        |_| resource_type.to_string(),
        |t| t.as_str_name().to_owned(),
    )
}

/// How `kafka-configs.sh` names a resource: `topic t`, `broker 1`, `default broker` (the
/// cluster-wide broker default, resource name `""`).
pub fn resource_text(resource_type: i32, resource_name: &str) -> String {
    match ConfigResourceType::try_from(resource_type) {
        Ok(ConfigResourceType::Topic) => format!("topic {resource_name}"),
        Ok(ConfigResourceType::Broker) if resource_name.is_empty() => "default broker".to_owned(),
        Ok(ConfigResourceType::Broker) => format!("broker {resource_name}"),
        _ => format!("resource {resource_name} of type {resource_type}"),
    }
}

fn is_cluster_default(resource_type: i32, resource_name: &str) -> bool {
    resource_type == ConfigResourceType::Broker as i32 && resource_name.is_empty()
}

fn source_name(c: &DescribeConfigsResourceResult) -> String {
    ConfigSource::try_from(c.source)
        .map_or_else(|_| c.source.to_string(), |s| s.as_str_name().to_owned())
}

/// What `configs describe` shows: every entry with `all`, else the entries not at Kafka's
/// default (source other than `DEFAULT_CONFIG`), sorted by name.
fn shown(
    configs: &[DescribeConfigsResourceResult],
    all: bool,
) -> Vec<&DescribeConfigsResourceResult> {
    let mut shown: Vec<_> = configs
        .iter()
        .filter(|c| all || !(c.is_default || c.source == ConfigSource::DefaultConfig as i32))
        .collect();
    shown.sort_by(|a, b| a.name.cmp(&b.name));
    shown
}

/// The value as printed: `null` for a sensitive or absent value, as `kafka-configs.sh` does.
fn shown_value(c: &DescribeConfigsResourceResult) -> Option<&str> {
    if c.is_sensitive {
        None
    } else {
        c.value.as_deref()
    }
}

// ---- configs describe ----

/// Renders a `DescribeConfigs` reply like `kafka-configs.sh --describe [--all]`: per resource
/// `All configs for topic t are:` (`Dynamic configs ...` without `all`; `Default configs for
/// brokers in the cluster are:` for the broker default), then `  name=value sensitive=false
/// source=DYNAMIC_TOPIC_CONFIG` per entry. A failed resource renders as the Kafka error lines.
pub fn describe_configs(resp: &DescribeConfigsResponse, all: bool, format: Format) -> Rendered {
    let failed = resp
        .results
        .iter()
        .any(|r| item_failure(r.error.as_ref()).is_some());
    match format {
        Format::Json => Rendered::json(&describe_configs_json(resp, all), failed),
        Format::Text => {
            let mut out = String::new();
            for r in &resp.results {
                if let Some(e) = item_failure(r.error.as_ref()) {
                    error_lines_with(&mut out, "config", "", e);
                    continue;
                }
                if is_cluster_default(r.resource_type, &r.resource_name) {
                    let _ = writeln!(out, "Default configs for brokers in the cluster are:");
                } else {
                    let _ = writeln!(
                        out,
                        "{} configs for {} are:",
                        if all { "All" } else { "Dynamic" },
                        resource_text(r.resource_type, &r.resource_name)
                    );
                }
                for c in shown(&r.configs, all) {
                    let _ = writeln!(
                        out,
                        "  {}={} sensitive={} source={}",
                        c.name,
                        shown_value(c).unwrap_or("null"),
                        c.is_sensitive,
                        source_name(c)
                    );
                }
            }
            Rendered {
                stdout: out,
                failed,
            }
        }
    }
}

/// `{all, resources: [{resource_type, resource_name, configs: [{name, value|null, source,
/// is_default, sensitive, read_only}], error}]}`; `configs` holds what the text shows.
pub fn describe_configs_json(resp: &DescribeConfigsResponse, all: bool) -> Value {
    let resources: Vec<Value> = resp
        .results
        .iter()
        .map(|r| {
            let configs: Vec<Value> = shown(&r.configs, all)
                .into_iter()
                .map(|c| {
                    json!({
                        "name": c.name,
                        "value": shown_value(c),
                        "source": source_name(c),
                        "is_default": c.is_default,
                        "sensitive": c.is_sensitive,
                        "read_only": c.read_only,
                    })
                })
                .collect();
            json!({
                "resource_type": type_name(r.resource_type),
                "resource_name": r.resource_name,
                "configs": configs,
                "error": error_json(r.error.as_ref()),
            })
        })
        .collect();
    json!({ "all": all, "resources": resources })
}

// ---- configs alter ----

/// Renders an `IncrementalAlterConfigs` reply like `kafka-configs.sh --alter`: `Completed
/// updating config for topic t.` (`... for broker 1.`, `Completed updating default config for
/// brokers in the cluster.`); with `validate_only`, `Validated updating config for topic t
/// (validate only, not applied).`; the Kafka error lines per failed resource.
pub fn alter_configs(
    resp: &IncrementalAlterConfigsResponse,
    validate_only: bool,
    format: Format,
) -> Rendered {
    let failed = resp
        .responses
        .iter()
        .any(|r| item_failure(r.error.as_ref()).is_some());
    match format {
        Format::Json => Rendered::json(&alter_configs_json(resp, validate_only), failed),
        Format::Text => {
            let mut out = String::new();
            for r in &resp.responses {
                let what = if is_cluster_default(r.resource_type, &r.resource_name) {
                    "default config for brokers in the cluster".to_owned()
                } else {
                    format!(
                        "config for {}",
                        resource_text(r.resource_type, &r.resource_name)
                    )
                };
                match item_failure(r.error.as_ref()) {
                    Some(e) => error_lines_with(&mut out, "config", "", e),
                    None if validate_only => {
                        let _ = writeln!(
                            out,
                            "Validated updating {what} (validate only, not applied)."
                        );
                    }
                    None => {
                        let _ = writeln!(out, "Completed updating {what}.");
                    }
                }
            }
            Rendered {
                stdout: out,
                failed,
            }
        }
    }
}

/// `{validate_only, resources: [{resource_type, resource_name, error}]}`.
pub fn alter_configs_json(resp: &IncrementalAlterConfigsResponse, validate_only: bool) -> Value {
    let resources: Vec<Value> = resp
        .responses
        .iter()
        .map(|r| {
            json!({
                "resource_type": type_name(r.resource_type),
                "resource_name": r.resource_name,
                "error": error_json(r.error.as_ref()),
            })
        })
        .collect();
    json!({ "validate_only": validate_only, "resources": resources })
}
