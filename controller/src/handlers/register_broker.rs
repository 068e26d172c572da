//! BrokerRegistration (Kafka apiKey 62, SPEC §2.1).

use uuid::Uuid;

use super::ControllerResult;
use crate::ctx::Ctx;
use crate::error_code::ErrorCode;
use crate::heartbeats::BrokerHeartbeatManager;
use crate::ids::{BrokerEpoch, BrokerId};
use crate::image::MetadataImage;
use crate::records::{Listener, Record, RegisterBrokerRecord, SupportedFeature};

use super::broker_lifecycle::remove_from_isrs;

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

/// Handle a broker registration with the active controller's session state.
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
/// 5. Same id, different incarnation, while the old one holds a valid session (unfenced and
///    heard from within `broker.session.timeout.ms` of `ctx.now_ms()`) →
///    `DUPLICATE_BROKER_REGISTRATION`. A broker in controlled shutdown may re-register at
///    once (KAFKA-19047).
/// 6. Otherwise: the old incarnation leaves every ISR it is still in (new leaders elected;
///    a last ISR member stays), then one `RegisterBrokerRecord` with `fenced = true`; the
///    new epoch is the batch's log index, fixed at apply.
///
/// On success the session is touched at `ctx.now_ms()` (a new incarnation starts a fresh
/// session).
pub fn register_broker_with_sessions(
    image: &MetadataImage,
    req: &RegisterBroker,
    heartbeats: &mut BrokerHeartbeatManager,
    ctx: &mut Ctx,
) -> ControllerResult<RegisterBrokerReply> {
    let now_ms = ctx.now_ms();
    match check(image, req, heartbeats, now_ms) {
        Err((code, message)) => {
            ControllerResult::reply_only(RegisterBrokerReply::error(code, message))
        }
        Ok(result) => {
            match image.broker(req.broker_id) {
                Some(e) if e.incarnation_id == req.incarnation_id => {
                    let offset = heartbeats
                        .session(req.broker_id)
                        .map_or(-1, |s| s.metadata_offset);
                    heartbeats.touch(req.broker_id, now_ms, offset);
                }
                _ => heartbeats.reset(req.broker_id, now_ms),
            }
            result
        }
    }
}

/// Transitional: [`register_broker_with_sessions`] with every registered broker on a fresh
/// session, i.e. any unfenced broker not in controlled shutdown holds its id. Kept so the
/// service compiles until it holds a [`BrokerHeartbeatManager`].
pub fn register_broker(
    image: &MetadataImage,
    req: &RegisterBroker,
    ctx: &mut Ctx,
) -> ControllerResult<RegisterBrokerReply> {
    let mut heartbeats = BrokerHeartbeatManager::default();
    heartbeats.activate(image, ctx.now_ms());
    register_broker_with_sessions(image, req, &mut heartbeats, ctx)
}

fn check(
    image: &MetadataImage,
    req: &RegisterBroker,
    heartbeats: &BrokerHeartbeatManager,
    now_ms: i64,
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
        Some(existing)
            if !existing.fenced
                && !existing.in_controlled_shutdown
                && heartbeats.has_valid_session(req.broker_id, now_ms) =>
        {
            Err((
                ErrorCode::DuplicateBrokerRegistration,
                "Another broker is registered with that broker id.".to_string(),
            ))
        }
        _ => {
            let mut records = remove_from_isrs(image, req.broker_id);
            records.push(Record::RegisterBroker(record));
            Ok(ControllerResult {
                records,
                reply: ok(None),
            })
        }
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

    use crate::lifecycle_testing::LifecycleTest;

    fn register(
        t: &mut LifecycleTest,
        id: i32,
        incarnation: u128,
    ) -> ControllerResult<RegisterBrokerReply> {
        let req = register_req(id, Uuid::from_u128(incarnation));
        register_broker_with_sessions(&t.t.image, &req, &mut t.hb, &mut t.t.ctx)
    }

    #[test]
    fn register_broker_new_incarnation_with_valid_session_is_duplicate() {
        let mut t = LifecycleTest::new(1..=1, &[1]);
        t.hb.touch(BrokerId(1), 1_000, 5);
        t.at(10_000);
        let r = register(&mut t, 1, 999);
        assert_eq!(r.reply.error_code, ErrorCode::DuplicateBrokerRegistration);
        assert!(r.records.is_empty());
    }

    #[test]
    fn register_broker_new_incarnation_after_session_expiry_gets_new_epoch_and_leaves_isrs() {
        let mut t = LifecycleTest::new(1..=2, &[1, 2]);
        t.partition("t", 0, &[1, 2], &[1, 2], 1);
        let old = t.broker(1).broker_epoch;
        t.hb.touch(BrokerId(1), 1_000, 5);
        t.at(10_001);
        let r = register(&mut t, 1, 999);
        assert_eq!(r.reply.error_code, ErrorCode::None);
        assert_eq!(r.reply.broker_epoch, None);
        let offset = t.apply(r.records);
        let b = t.broker(1);
        assert!(b.fenced && !b.in_controlled_shutdown);
        assert_eq!(b.broker_epoch, BrokerEpoch(offset as i64));
        assert!(b.broker_epoch > old);
        assert_eq!(t.leader_isr("t", 0), (2, vec![2]));
        let s = t.hb.session(BrokerId(1)).unwrap();
        assert_eq!((s.last_contact_ms, s.metadata_offset), (10_001, -1));
    }

    #[test]
    fn register_broker_in_controlled_shutdown_may_re_register_at_once() {
        let mut t = LifecycleTest::new(1..=2, &[1, 2]);
        let b = t.broker(1);
        t.apply(vec![Record::BrokerRegistrationChange(
            crate::records::BrokerRegistrationChangeRecord {
                broker_id: BrokerId(1),
                broker_epoch: b.broker_epoch,
                fenced: None,
                in_controlled_shutdown: Some(true),
            },
        )]);
        t.hb.touch(BrokerId(1), 0, 5);
        let r = register(&mut t, 1, 999);
        assert_eq!(r.reply.error_code, ErrorCode::None);
        t.apply(r.records);
        let b = t.broker(1);
        assert!(b.fenced && !b.in_controlled_shutdown);
    }

    #[test]
    fn register_broker_same_incarnation_keeps_epoch_and_touches_session() {
        let mut t = LifecycleTest::new(1..=1, &[1]);
        let epoch = t.broker(1).broker_epoch;
        t.hb.touch(BrokerId(1), 0, 33);
        t.at(60_000);
        let inc = t.t.incarnation(1).as_u128();
        let r = register(&mut t, 1, inc);
        assert_eq!(r.reply.broker_epoch, Some(epoch));
        assert!(r.records.is_empty());
        let s = t.hb.session(BrokerId(1)).unwrap();
        assert_eq!((s.last_contact_ms, s.metadata_offset), (60_000, 33));
    }
}
