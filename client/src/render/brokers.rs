//! `brokers list` (DescribeCluster), `brokers unregister` (UnregisterBroker, shaped like
//! `kafka-cluster.sh unregister`) and `features describe|upgrade|downgrade` (DescribeFeatures /
//! UpdateFeatures, shaped like `kafka-features.sh`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use kraft_proto::{
    BrokerDescription, DescribeClusterResponse, DescribeFeaturesResponse, FeatureUpdate,
    FeatureUpgradeType, UnregisterBrokerResponse, UpdateFeaturesRequest, UpdateFeaturesResponse,
};
use serde_json::{Value, json};

use super::{Format, Rendered, broker_json, error_json, error_lines_with, listener_text, table};
use crate::item_failure;

// ---- brokers list ----

fn sorted_brokers(resp: &DescribeClusterResponse) -> Vec<&BrokerDescription> {
    let mut brokers: Vec<&BrokerDescription> = resp.brokers.iter().collect();
    brokers.sort_by_key(|b| b.broker_id);
    brokers
}

/// Renders the brokers of a `DescribeCluster` reply as one table: BrokerId, Epoch, Fenced,
/// InControlledShutdown, Rack (`-` when none), Listeners; sorted by id.
pub fn list_brokers(resp: &DescribeClusterResponse, format: Format) -> Rendered {
    match format {
        Format::Json => Rendered::json(&list_brokers_json(resp), false),
        Format::Text => {
            let mut rows = vec![
                [
                    "BrokerId",
                    "Epoch",
                    "Fenced",
                    "InControlledShutdown",
                    "Rack",
                    "Listeners",
                ]
                .map(str::to_owned)
                .to_vec(),
            ];
            for b in sorted_brokers(resp) {
                rows.push(vec![
                    b.broker_id.to_string(),
                    b.broker_epoch.to_string(),
                    b.fenced.to_string(),
                    b.in_controlled_shutdown.to_string(),
                    b.rack.clone().unwrap_or_else(|| "-".to_owned()),
                    b.listeners
                        .iter()
                        .map(listener_text)
                        .collect::<Vec<_>>()
                        .join(","),
                ]);
            }
            Rendered {
                stdout: table(&rows),
                failed: false,
            }
        }
    }
}

/// `{brokers: [{broker_id, broker_epoch, incarnation_id, listeners, rack, fenced,
/// in_controlled_shutdown}]}`, sorted by id.
pub fn list_brokers_json(resp: &DescribeClusterResponse) -> Value {
    let brokers: Vec<Value> = sorted_brokers(resp).into_iter().map(broker_json).collect();
    json!({ "brokers": brokers })
}

// ---- brokers unregister ----

/// Renders an `UnregisterBroker` reply for `broker_id`: `Broker 1 is no longer registered.`
/// (as `kafka-cluster.sh unregister`), or the Kafka error lines.
pub fn unregister_broker(
    broker_id: i32,
    resp: &UnregisterBrokerResponse,
    format: Format,
) -> Rendered {
    let error = item_failure(resp.error.as_ref());
    match format {
        Format::Json => Rendered::json(&unregister_broker_json(broker_id, resp), error.is_some()),
        Format::Text => {
            let mut out = String::new();
            match error {
                Some(e) => error_lines_with(&mut out, "broker", "", e),
                None => {
                    let _ = writeln!(out, "Broker {broker_id} is no longer registered.");
                }
            }
            Rendered {
                stdout: out,
                failed: error.is_some(),
            }
        }
    }
}

/// `{broker_id, error}`.
pub fn unregister_broker_json(broker_id: i32, resp: &UnregisterBrokerResponse) -> Value {
    json!({ "broker_id": broker_id, "error": error_json(resp.error.as_ref()) })
}

// ---- features describe ----

/// (supported range, finalized level) per feature name, over both lists of the reply.
type FeatureRow = (Option<(i32, i32)>, Option<i32>);

fn feature_rows(resp: &DescribeFeaturesResponse) -> BTreeMap<&str, FeatureRow> {
    let mut rows: BTreeMap<&str, FeatureRow> = BTreeMap::new();
    for s in &resp.supported {
        rows.entry(&s.name).or_default().0 = Some((s.min_version, s.max_version));
    }
    for f in &resp.finalized {
        rows.entry(&f.name).or_default().1 = Some(f.level);
    }
    rows
}

fn or_dash(v: Option<i32>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// Renders a `DescribeFeatures` reply like `kafka-features.sh describe`, one line per feature
/// sorted by name: `Feature: metadata.version\tSupportedMinVersion: 1\tSupportedMaxVersion:
/// 1\tFinalizedVersionLevel: 1`; `-` for a side the reply does not mention.
pub fn describe_features(resp: &DescribeFeaturesResponse, format: Format) -> Rendered {
    match format {
        Format::Json => Rendered::json(&describe_features_json(resp), false),
        Format::Text => {
            let mut out = String::new();
            for (name, (supported, finalized)) in feature_rows(resp) {
                let _ = writeln!(
                    out,
                    "Feature: {name}\tSupportedMinVersion: {}\tSupportedMaxVersion: {}\tFinalizedVersionLevel: {}",
                    or_dash(supported.map(|s| s.0)),
                    or_dash(supported.map(|s| s.1)),
                    or_dash(finalized),
                );
            }
            Rendered {
                stdout: out,
                failed: false,
            }
        }
    }
}

/// `{features: [{name, supported_min_version, supported_max_version,
/// finalized_version_level}]}` sorted by name, `null` where the reply says nothing.
pub fn describe_features_json(resp: &DescribeFeaturesResponse) -> Value {
    let features: Vec<Value> = feature_rows(resp)
        .into_iter()
        .map(|(name, (supported, finalized))| {
            json!({
                "name": name,
                "supported_min_version": supported.map(|s| s.0),
                "supported_max_version": supported.map(|s| s.1),
                "finalized_version_level": finalized,
            })
        })
        .collect();
    json!({ "features": features })
}

// ---- features upgrade / downgrade ----

fn update_for<'a>(req: &'a UpdateFeaturesRequest, feature: &str) -> Option<&'a FeatureUpdate> {
    req.feature_updates.iter().find(|u| u.feature == feature)
}

fn upgrade_type_name(upgrade_type: i32) -> String {
    FeatureUpgradeType::try_from(upgrade_type)
        .map_or_else(|_| upgrade_type.to_string(), |t| t.as_str_name().to_owned())
}

/// `upgrade` or `downgrade`, as the verb of `upgrade_type`.
fn verb(upgrade_type: i32) -> &'static str {
    if upgrade_type == FeatureUpgradeType::Upgrade as i32 {
        "upgrade"
    } else {
        "downgrade"
    }
}

/// Renders an `UpdateFeatures` reply to `req` like `kafka-features.sh upgrade|downgrade`:
/// `metadata.version was upgraded to 7.` (`metadata.version can be upgraded to 7.` with
/// `validate_only`), or the Kafka error lines with `Could not upgrade metadata.version to 7.`
/// in front of the server's message.
pub fn update_features(
    req: &UpdateFeaturesRequest,
    resp: &UpdateFeaturesResponse,
    format: Format,
) -> Rendered {
    let failed = resp
        .results
        .iter()
        .any(|r| item_failure(r.error.as_ref()).is_some());
    match format {
        Format::Json => Rendered::json(&update_features_json(req, resp), failed),
        Format::Text => {
            let mut out = String::new();
            for r in &resp.results {
                let update = update_for(req, &r.feature);
                let verb = verb(update.map_or(0, |u| u.upgrade_type));
                let level =
                    update.map_or_else(|| "?".to_owned(), |u| u.max_version_level.to_string());
                match item_failure(r.error.as_ref()) {
                    Some(e) => {
                        let subject = format!("Could not {verb} {} to {level}. ", r.feature);
                        error_lines_with(&mut out, "feature", &subject, e);
                    }
                    None if req.validate_only => {
                        let _ = writeln!(out, "{} can be {verb}d to {level}.", r.feature);
                    }
                    None => {
                        let _ = writeln!(out, "{} was {verb}d to {level}.", r.feature);
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

/// `{validate_only, features: [{feature, upgrade_type, version_level, error}]}`;
/// `upgrade_type` and `version_level` come from the request (`null` if it lacks the feature).
pub fn update_features_json(req: &UpdateFeaturesRequest, resp: &UpdateFeaturesResponse) -> Value {
    let features: Vec<Value> = resp
        .results
        .iter()
        .map(|r| {
            let update = update_for(req, &r.feature);
            json!({
                "feature": r.feature,
                "upgrade_type": update.map(|u| upgrade_type_name(u.upgrade_type)),
                "version_level": update.map(|u| u.max_version_level),
                "error": error_json(r.error.as_ref()),
            })
        })
        .collect();
    json!({ "validate_only": req.validate_only, "features": features })
}
