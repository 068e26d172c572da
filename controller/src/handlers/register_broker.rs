//! BrokerRegistration (Kafka apiKey 62, SPEC §2.1).

use uuid::Uuid;

use super::ControllerResult;
use crate::ctx::Ctx;
use crate::error_code::ErrorCode;
use crate::ids::{BrokerEpoch, BrokerId};
use crate::image::MetadataImage;
use crate::records::{Listener, Record, RegisterBrokerRecord, SupportedFeature};

/// A broker asks to register (or re-register) `broker_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisterBroker {
    /// The broker's `node.id`; must be `>= 0`.
    pub broker_id: BrokerId,
    /// The cluster the broker was formatted for.
    pub cluster_id: String,
    /// Random per process start.
    pub incarnation_id: Uuid,
    /// Advertised listeners; at least one, names unique.
    pub listeners: Vec<Listener>,
    /// Rack, if configured.
    pub rack: Option<String>,
    /// Supported features.
    pub features: Vec<SupportedFeature>,
}

/// The answer to [`RegisterBroker`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisterBrokerReply {
    /// `ErrorCode::None` on success.
    pub error_code: ErrorCode,
    /// Names the field and the rule on failure.
    pub error_message: Option<String>,
    /// The broker epoch, when already known: `Some` for an idempotent re-registration of the
    /// same incarnation. `None` on success with a new incarnation: the epoch is the Raft log
    /// index of the proposed batch, fixed at apply; read it from the image after commit
    /// (`image.broker(id).broker_epoch`, checking `incarnation_id`).
    pub broker_epoch: Option<BrokerEpoch>,
}

impl RegisterBrokerReply {
    fn error(code: ErrorCode, message: String) -> Self {
        RegisterBrokerReply {
            error_code: code,
            error_message: Some(message),
            broker_epoch: None,
        }
    }
}

/// Handle a broker registration.
///
/// Rules, in order:
/// 1. `broker_id < 0`, no listeners, or duplicate listener names → `INVALID_REQUEST`.
/// 2. No cluster id in the image yet → `NOT_CONTROLLER` (retriable: the active controller
///    writes it at activation). Different cluster id → `INCONSISTENT_CLUSTER_ID`.
/// 3. A finalized feature the broker advertises with a range that excludes the finalized
///    level → `UNSUPPORTED_VERSION` (SPEC §2.1 rule 3; features the broker does not list are
///    not checked yet).
/// 4. Same id, same incarnation → idempotent: no record, or an amendment if listeners, rack
///    or features changed; the reply carries the existing epoch.
/// 5. Same id, different incarnation, existing registration unfenced →
///    `DUPLICATE_BROKER_REGISTRATION`. (Session expiry will relax this in a later issue.)
/// 6. Otherwise one `RegisterBrokerRecord` with `fenced = true`.
pub fn register_broker(
    image: &MetadataImage,
    req: &RegisterBroker,
    _ctx: &mut Ctx,
) -> ControllerResult<RegisterBrokerReply> {
    match check(image, req) {
        Err((code, message)) => {
            ControllerResult::reply_only(RegisterBrokerReply::error(code, message))
        }
        Ok(result) => result,
    }
}

fn check(
    image: &MetadataImage,
    req: &RegisterBroker,
) -> Result<ControllerResult<RegisterBrokerReply>, (ErrorCode, String)> {
    let invalid = |m: String| (ErrorCode::InvalidRequest, m);
    if req.broker_id.0 < 0 {
        return Err(invalid(format!(
            "broker_id must be non-negative, got {}",
            req.broker_id
        )));
    }
    if req.listeners.is_empty() {
        return Err(invalid(
            "listeners must contain at least one listener".to_string(),
        ));
    }
    for (i, l) in req.listeners.iter().enumerate() {
        if req.listeners[..i].iter().any(|o| o.name == l.name) {
            return Err(invalid(format!(
                "listeners must have unique names, '{}' appears twice",
                l.name
            )));
        }
    }

    match image.cluster_id() {
        None => {
            return Err((
                ErrorCode::NotController,
                "The controller has not written the cluster id yet; retry.".to_string(),
            ));
        }
        Some(id) if id != req.cluster_id => {
            return Err((
                ErrorCode::InconsistentClusterId,
                format!(
                    "Expected cluster ID {id}, but got cluster ID {}",
                    req.cluster_id
                ),
            ));
        }
        Some(_) => {}
    }

    for (name, &level) in image.features().levels() {
        if let Some(f) = req.features.iter().find(|f| &f.name == name)
            && !(f.min..=f.max).contains(&level)
        {
            return Err((
                ErrorCode::UnsupportedVersion,
                format!(
                    "Unable to register because the broker does not support finalized version \
                     {level} of {name}. The broker wants a version between {} and {}, inclusive.",
                    f.min, f.max
                ),
            ));
        }
    }

    let record = RegisterBrokerRecord {
        broker_id: req.broker_id,
        incarnation_id: req.incarnation_id,
        listeners: req.listeners.clone(),
        rack: req.rack.clone(),
        features: req.features.clone(),
        fenced: true,
    };
    let ok = |broker_epoch| RegisterBrokerReply {
        error_code: ErrorCode::None,
        error_message: None,
        broker_epoch,
    };

    match image.broker(req.broker_id) {
        Some(existing) if existing.incarnation_id == req.incarnation_id => {
            let unchanged = existing.listeners == req.listeners
                && existing.rack == req.rack
                && existing.features == req.features;
            let records = if unchanged {
                Vec::new()
            } else {
                // Amendment: apply keeps epoch and fencing; state it here too for readers.
                vec![Record::RegisterBroker(RegisterBrokerRecord {
                    fenced: existing.fenced,
                    ..record
                })]
            };
            Ok(ControllerResult {
                records,
                reply: ok(Some(existing.broker_epoch)),
            })
        }
        Some(existing) if !existing.fenced => Err((
            ErrorCode::DuplicateBrokerRegistration,
            "Another broker is registered with that broker id.".to_string(),
        )),
        _ => Ok(ControllerResult {
            records: vec![Record::RegisterBroker(record)],
            reply: ok(None),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{TestImage, listener, register_req};

    #[test]
    fn register_broker_new_broker_writes_fenced_record() {
        let mut t = TestImage::new();
        let req = register_req(1, t.incarnation(1));
        let r = register_broker(&t.image, &req, &mut t.ctx);
        assert_eq!(r.reply.error_code, ErrorCode::None);
        assert_eq!(r.reply.broker_epoch, None);
        assert_eq!(r.records.len(), 1);
        let offset = t.apply_all(&r.records);
        let b = t.image.broker(BrokerId(1)).unwrap();
        assert!(b.fenced);
        assert_eq!(b.broker_epoch, BrokerEpoch(offset as i64));
        assert_eq!(b.registered_offset, offset);
    }

    #[test]
    fn register_broker_same_incarnation_is_idempotent() {
        let mut t = TestImage::new().brokers(1..=1).unfenced(1..=1);
        let epoch = t.image.broker(BrokerId(1)).unwrap().broker_epoch;
        let req = register_req(1, t.incarnation(1));
        let r = register_broker(&t.image, &req, &mut t.ctx);
        assert_eq!(r.reply.error_code, ErrorCode::None);
        assert_eq!(r.reply.broker_epoch, Some(epoch));
        assert!(r.records.is_empty());
    }

    #[test]
    fn register_broker_same_incarnation_new_listener_amends_and_keeps_epoch() {
        let mut t = TestImage::new().brokers(1..=1).unfenced(1..=1);
        let before = t.image.broker(BrokerId(1)).unwrap().clone();
        let mut req = register_req(1, t.incarnation(1));
        req.listeners.push(listener("EXTERNAL", 9093));
        let r = register_broker(&t.image, &req, &mut t.ctx);
        assert_eq!(r.reply.broker_epoch, Some(before.broker_epoch));
        assert_eq!(r.records.len(), 1);
        let offset = t.apply_all(&r.records);
        let after = t.image.broker(BrokerId(1)).unwrap();
        assert_eq!(after.broker_epoch, before.broker_epoch);
        assert!(!after.fenced, "amendment keeps the broker unfenced");
        assert_eq!(after.listeners.len(), 2);
        assert_eq!(after.registered_offset, offset);
    }

    #[test]
    fn register_broker_new_incarnation_while_unfenced_is_duplicate() {
        let mut t = TestImage::new().brokers(1..=1).unfenced(1..=1);
        let req = register_req(1, Uuid::from_u128(999));
        let r = register_broker(&t.image, &req, &mut t.ctx);
        assert_eq!(r.reply.error_code, ErrorCode::DuplicateBrokerRegistration);
        assert_eq!(
            r.reply.error_message.as_deref(),
            Some("Another broker is registered with that broker id.")
        );
        assert!(r.records.is_empty());
    }

    #[test]
    fn register_broker_new_incarnation_while_fenced_gets_new_epoch() {
        let mut t = TestImage::new().brokers(1..=1);
        let old = t.image.broker(BrokerId(1)).unwrap().broker_epoch;
        let req = register_req(1, Uuid::from_u128(999));
        let r = register_broker(&t.image, &req, &mut t.ctx);
        assert_eq!(r.reply.error_code, ErrorCode::None);
        let offset = t.apply_all(&r.records);
        let b = t.image.broker(BrokerId(1)).unwrap();
        assert_eq!(b.broker_epoch, BrokerEpoch(offset as i64));
        assert!(b.broker_epoch > old);
        assert_eq!(b.incarnation_id, Uuid::from_u128(999));
    }

    #[test]
    fn register_broker_wrong_cluster_id() {
        let mut t = TestImage::new();
        let mut req = register_req(1, t.incarnation(1));
        req.cluster_id = "other".into();
        let r = register_broker(&t.image, &req, &mut t.ctx);
        assert_eq!(r.reply.error_code, ErrorCode::InconsistentClusterId);
        let msg = r.reply.error_message.unwrap();
        assert!(
            msg.contains("other") && msg.contains(crate::testing::CLUSTER_ID),
            "{msg}"
        );
        assert!(r.records.is_empty());
    }

    #[test]
    fn register_broker_before_cluster_id_is_not_controller() {
        let mut t = TestImage::without_cluster_id();
        let req = register_req(1, t.incarnation(1));
        let r = register_broker(&t.image, &req, &mut t.ctx);
        assert_eq!(r.reply.error_code, ErrorCode::NotController);
        assert!(r.records.is_empty());
    }

    #[test]
    fn register_broker_rejects_negative_id_and_missing_listeners() {
        let mut t = TestImage::new();
        let req = register_req(-1, t.incarnation(1));
        let r = register_broker(&t.image, &req, &mut t.ctx);
        assert_eq!(r.reply.error_code, ErrorCode::InvalidRequest);
        assert!(r.reply.error_message.unwrap().contains("broker_id"));
        assert!(r.records.is_empty());

        let mut req = register_req(1, t.incarnation(1));
        req.listeners.clear();
        let r = register_broker(&t.image, &req, &mut t.ctx);
        assert_eq!(r.reply.error_code, ErrorCode::InvalidRequest);
        assert!(r.reply.error_message.unwrap().contains("listeners"));
        assert!(r.records.is_empty());

        let mut req = register_req(1, t.incarnation(1));
        req.listeners.push(req.listeners[0].clone());
        let r = register_broker(&t.image, &req, &mut t.ctx);
        assert_eq!(r.reply.error_code, ErrorCode::InvalidRequest);
        assert!(r.records.is_empty());
    }

    #[test]
    fn register_broker_rejects_unsupported_finalized_feature() {
        let mut t = TestImage::new();
        t.apply_all(&[Record::FeatureLevel(crate::records::FeatureLevelRecord {
            name: "metadata.version".into(),
            level: 20,
        })]);
        let mut req = register_req(1, t.incarnation(1));
        req.features = vec![SupportedFeature {
            name: "metadata.version".into(),
            min: 1,
            max: 19,
        }];
        let r = register_broker(&t.image, &req, &mut t.ctx);
        assert_eq!(r.reply.error_code, ErrorCode::UnsupportedVersion);
        assert!(r.records.is_empty());
    }
}
