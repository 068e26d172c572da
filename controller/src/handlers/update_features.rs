//! DescribeFeatures (read-only) and UpdateFeatures (Kafka apiKey 57, SPEC §2.14).

use std::collections::{BTreeMap, BTreeSet};

use super::ControllerResult;
use crate::error_code::ErrorCode;
use crate::image::MetadataImage;
use crate::records::{FeatureLevelRecord, Record};

/// The feature levels this kraftd controller supports: (name, min, max), sorted by name.
pub const SUPPORTED_FEATURES: &[(&str, i16, i16)] = &[("metadata.version", 1, 1)];

/// Finalized and supported feature levels (Kafka ApiVersions / DescribeFeatures).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeaturesDescription {
    /// Finalized level of each enabled feature.
    pub finalized: BTreeMap<String, i16>,
    /// The image offset the finalized levels are as of (Kafka `FinalizedFeaturesEpoch`).
    pub finalized_features_epoch: u64,
    /// Supported (min, max) level range of each feature kraftd knows.
    pub supported: BTreeMap<String, (i16, i16)>,
}

/// Describe finalized and supported feature levels.
pub fn describe_features(image: &MetadataImage) -> FeaturesDescription {
    FeaturesDescription {
        finalized: image.features().levels().clone(),
        finalized_features_epoch: image.last_applied_offset(),
        supported: SUPPORTED_FEATURES
            .iter()
            .map(|(n, lo, hi)| (n.to_string(), (*lo, *hi)))
            .collect(),
    }
}

/// How a level may move (Kafka `FeatureUpdate.UpgradeType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeatureUpgradeType {
    /// Only raise the level (Kafka 1).
    Upgrade,
    /// Lower the level without losing metadata (Kafka 2).
    SafeDowngrade,
    /// Lower the level even if metadata is lost (Kafka 3).
    UnsafeDowngrade,
}

/// One feature to change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeatureUpdate {
    /// Feature name.
    pub feature: String,
    /// The new finalized level; 0 disables the feature.
    pub max_version_level: i16,
    /// Whether the level may go down.
    pub upgrade_type: FeatureUpgradeType,
}

/// An UpdateFeatures request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpdateFeatures {
    /// Changes; applied all or nothing.
    pub feature_updates: Vec<FeatureUpdate>,
    /// Check everything, write nothing.
    pub validate_only: bool,
}

/// The outcome for one feature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpdatableFeatureResult {
    /// Feature name, as requested.
    pub feature: String,
    /// `ErrorCode::None` on success.
    pub error_code: ErrorCode,
    /// Names the field and the rule on failure.
    pub error_message: Option<String>,
}

/// The answer to [`UpdateFeatures`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpdateFeaturesReply {
    /// The first failure, or `ErrorCode::None`.
    pub error_code: ErrorCode,
    /// Its message.
    pub error_message: Option<String>,
    /// Per feature, in request order: the failing one has its own error, the others
    /// `OPERATION_NOT_ATTEMPTED` when anything failed.
    pub results: Vec<UpdatableFeatureResult>,
}

/// Handle UpdateFeatures (Kafka `FeatureControlManager.updateFeatures`). All or nothing:
/// the first failing update fails the request and nothing is written.
///
/// Per update: a feature named twice → `INVALID_REQUEST`; a feature kraftd does not know
/// → `INVALID_REQUEST`; level < 0 → `INVALID_UPDATE_VERSION`; `metadata.version` 0 →
/// `INVALID_UPDATE_VERSION`; a level below the current one with `Upgrade` →
/// `INVALID_UPDATE_VERSION` (needs a downgrade type); above it with a downgrade type →
/// `INVALID_UPDATE_VERSION`; a `SafeDowngrade` of `metadata.version` → `INVALID_UPDATE_VERSION`
/// (it might delete metadata); a level (≠ 0) outside [`SUPPORTED_FEATURES`] or outside the
/// range a registered broker declares for the feature → `INVALID_UPDATE_VERSION`. An
/// `UnsafeDowngrade` within the supported range is allowed. Records: one `FeatureLevel` per
/// level that changes.
pub fn update_features(
    image: &MetadataImage,
    req: &UpdateFeatures,
) -> ControllerResult<UpdateFeaturesReply> {
    let mut seen = BTreeSet::new();
    let mut records = Vec::new();
    let mut failure = None;
    for (i, u) in req.feature_updates.iter().enumerate() {
        let outcome = if seen.insert(u.feature.as_str()) {
            check_update(image, u)
        } else {
            Err((
                ErrorCode::InvalidRequest,
                format!(
                    "Feature {} appears more than once in the request.",
                    u.feature
                ),
            ))
        };
        match outcome {
            Ok(Some(r)) => records.push(r),
            Ok(None) => {}
            Err(e) => {
                failure = Some((i, e));
                break;
            }
        }
    }
    let Some((failed_index, (code, message))) = failure else {
        let results = req
            .feature_updates
            .iter()
            .map(|u| UpdatableFeatureResult {
                feature: u.feature.clone(),
                error_code: ErrorCode::None,
                error_message: None,
            })
            .collect();
        return ControllerResult {
            records: if req.validate_only {
                Vec::new()
            } else {
                records
            },
            reply: UpdateFeaturesReply {
                error_code: ErrorCode::None,
                error_message: None,
                results,
            },
        };
    };
    let results = req
        .feature_updates
        .iter()
        .enumerate()
        .map(|(i, u)| {
            if i == failed_index {
                UpdatableFeatureResult {
                    feature: u.feature.clone(),
                    error_code: code,
                    error_message: Some(message.clone()),
                }
            } else {
                UpdatableFeatureResult {
                    feature: u.feature.clone(),
                    error_code: ErrorCode::OperationNotAttempted,
                    error_message: Some(format!(
                        "Not attempted: the update of feature {} failed.",
                        req.feature_updates[failed_index].feature
                    )),
                }
            }
        })
        .collect();
    ControllerResult::reply_only(UpdateFeaturesReply {
        error_code: code,
        error_message: Some(message),
        results,
    })
}

fn check_update(
    image: &MetadataImage,
    u: &FeatureUpdate,
) -> Result<Option<Record>, (ErrorCode, String)> {
    let name = u.feature.as_str();
    let level = u.max_version_level;
    let invalid = |why: String| {
        Err((
            ErrorCode::InvalidUpdateVersion,
            format!("Invalid update version {level} for feature {name}. {why}"),
        ))
    };
    let Some(&(_, min, max)) = SUPPORTED_FEATURES.iter().find(|(n, _, _)| *n == name) else {
        return Err((
            ErrorCode::InvalidRequest,
            format!(
                "Unknown feature {name}: kraftd supports only {}.",
                SUPPORTED_FEATURES
                    .iter()
                    .map(|(n, _, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    };
    if level < 0 {
        return invalid("A feature version cannot be less than 0.".into());
    }
    let is_metadata_version = name == "metadata.version";
    if is_metadata_version && level == 0 {
        return invalid("A metadata.version of 0 is not allowed.".into());
    }
    let current = image.features().level(name).unwrap_or(0);
    if level < current {
        match u.upgrade_type {
            FeatureUpgradeType::Upgrade => {
                return invalid(
                    "Can't downgrade the version of this feature without setting the upgrade \
                     type to either safe or unsafe downgrade."
                        .into(),
                );
            }
            FeatureUpgradeType::SafeDowngrade if is_metadata_version => {
                return invalid(format!(
                    "Refusing to perform the requested downgrade from {current} because it \
                     might delete metadata information; use an unsafe downgrade."
                ));
            }
            _ => {}
        }
    } else if level > current && u.upgrade_type != FeatureUpgradeType::Upgrade {
        return invalid("Can't downgrade to a newer version.".into());
    }
    if level != 0 && !(min..=max).contains(&level) {
        return invalid(format!(
            "The controller only supports versions {min}-{max} of this feature."
        ));
    }
    if level != 0 {
        for b in image.cluster().brokers().values() {
            if let Some(f) = b.features.iter().find(|f| f.name == name)
                && !(f.min..=f.max).contains(&level)
            {
                return invalid(format!(
                    "Broker {} only supports versions {}-{}.",
                    b.broker_id, f.min, f.max
                ));
            }
        }
    }
    if level == current {
        return Ok(None);
    }
    Ok(Some(Record::FeatureLevel(FeatureLevelRecord {
        name: name.to_string(),
        level,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestImage;

    fn update(feature: &str, level: i16, upgrade_type: FeatureUpgradeType) -> UpdateFeatures {
        UpdateFeatures {
            feature_updates: vec![FeatureUpdate {
                feature: feature.into(),
                max_version_level: level,
                upgrade_type,
            }],
            validate_only: false,
        }
    }

    fn at_level(level: i16) -> TestImage {
        let mut t = TestImage::new();
        t.apply_all(&[Record::FeatureLevel(FeatureLevelRecord {
            name: "metadata.version".into(),
            level,
        })]);
        t
    }

    fn assert_rejected(r: &ControllerResult<UpdateFeaturesReply>, code: ErrorCode, fragment: &str) {
        assert_eq!(r.reply.error_code, code, "{:?}", r.reply);
        assert_eq!(r.reply.results[0].error_code, code);
        let msg = r.reply.error_message.as_deref().unwrap_or_default();
        assert!(msg.contains(fragment), "message {msg:?} lacks {fragment:?}");
        assert!(r.records.is_empty());
    }

    #[test]
    fn describe_features_reports_finalized_and_supported_levels() {
        let t = at_level(1);
        let d = describe_features(&t.image);
        assert_eq!(d.finalized.get("metadata.version"), Some(&1));
        assert_eq!(d.supported.get("metadata.version"), Some(&(1, 1)));
        assert_eq!(d.finalized_features_epoch, t.image.last_applied_offset());
    }

    #[test]
    fn update_features_upgrades_an_unset_metadata_version() {
        let mut t = TestImage::new();
        let r = update_features(
            &t.image,
            &update("metadata.version", 1, FeatureUpgradeType::Upgrade),
        );
        assert_eq!(r.reply.error_code, ErrorCode::None);
        assert_eq!(r.records.len(), 1);
        t.apply_all(&r.records);
        assert_eq!(t.image.features().level("metadata.version"), Some(1));
    }

    #[test]
    fn update_features_same_level_writes_nothing() {
        let t = at_level(1);
        let r = update_features(
            &t.image,
            &update("metadata.version", 1, FeatureUpgradeType::Upgrade),
        );
        assert_eq!(r.reply.error_code, ErrorCode::None);
        assert!(r.records.is_empty());
    }

    #[test]
    fn update_features_rejects_unknown_feature() {
        let t = at_level(1);
        let r = update_features(
            &t.image,
            &update("group.version", 1, FeatureUpgradeType::Upgrade),
        );
        assert_rejected(
            &r,
            ErrorCode::InvalidRequest,
            "Unknown feature group.version",
        );
    }

    #[test]
    fn update_features_rejects_level_outside_supported_range() {
        let t = at_level(1);
        let r = update_features(
            &t.image,
            &update("metadata.version", 2, FeatureUpgradeType::Upgrade),
        );
        assert_rejected(
            &r,
            ErrorCode::InvalidUpdateVersion,
            "only supports versions 1-1",
        );
        let r = update_features(
            &t.image,
            &update("metadata.version", -1, FeatureUpgradeType::Upgrade),
        );
        assert_rejected(&r, ErrorCode::InvalidUpdateVersion, "cannot be less than 0");
    }

    #[test]
    fn update_features_refuses_metadata_version_zero_and_downgrades() {
        let t = at_level(5);
        let r = update_features(
            &t.image,
            &update("metadata.version", 0, FeatureUpgradeType::UnsafeDowngrade),
        );
        assert_rejected(
            &r,
            ErrorCode::InvalidUpdateVersion,
            "metadata.version of 0 is not allowed",
        );
        let r = update_features(
            &t.image,
            &update("metadata.version", 1, FeatureUpgradeType::Upgrade),
        );
        assert_rejected(
            &r,
            ErrorCode::InvalidUpdateVersion,
            "without setting the upgrade type",
        );
        let r = update_features(
            &t.image,
            &update("metadata.version", 1, FeatureUpgradeType::SafeDowngrade),
        );
        assert_rejected(&r, ErrorCode::InvalidUpdateVersion, "might delete metadata");
    }

    #[test]
    fn update_features_allows_unsafe_downgrade_into_the_supported_range() {
        let mut t = at_level(5);
        let r = update_features(
            &t.image,
            &update("metadata.version", 1, FeatureUpgradeType::UnsafeDowngrade),
        );
        assert_eq!(r.reply.error_code, ErrorCode::None, "{:?}", r.reply);
        t.apply_all(&r.records);
        assert_eq!(t.image.features().level("metadata.version"), Some(1));
    }

    #[test]
    fn update_features_rejects_downgrade_type_that_raises_the_level() {
        let t = TestImage::new();
        let r = update_features(
            &t.image,
            &update("metadata.version", 1, FeatureUpgradeType::SafeDowngrade),
        );
        assert_rejected(
            &r,
            ErrorCode::InvalidUpdateVersion,
            "Can't downgrade to a newer version.",
        );
    }

    #[test]
    fn update_features_rejects_duplicates_and_is_all_or_nothing() {
        let t = TestImage::new();
        let mut req = update("metadata.version", 1, FeatureUpgradeType::Upgrade);
        req.feature_updates.push(req.feature_updates[0].clone());
        let r = update_features(&t.image, &req);
        assert_eq!(r.reply.error_code, ErrorCode::InvalidRequest);
        assert_eq!(
            r.reply.results[0].error_code,
            ErrorCode::OperationNotAttempted
        );
        assert_eq!(r.reply.results[1].error_code, ErrorCode::InvalidRequest);
        assert!(r.records.is_empty());
    }

    #[test]
    fn update_features_validate_only_writes_nothing() {
        let t = TestImage::new();
        let mut req = update("metadata.version", 1, FeatureUpgradeType::Upgrade);
        req.validate_only = true;
        let r = update_features(&t.image, &req);
        assert_eq!(r.reply.error_code, ErrorCode::None);
        assert!(r.records.is_empty());
    }
}
