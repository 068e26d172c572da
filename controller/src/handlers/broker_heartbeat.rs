//! BrokerHeartbeat (Kafka apiKey 63, SPEC §2.2), minimal: fence and unfence.

use super::ControllerResult;
use crate::ctx::Ctx;
use crate::error_code::ErrorCode;
use crate::ids::{BrokerEpoch, BrokerId};
use crate::image::MetadataImage;
use crate::records::{BrokerRegistrationChangeRecord, Record};

/// A registered broker reports in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerHeartbeat {
    /// The broker.
    pub broker_id: BrokerId,
    /// The epoch its registration returned.
    pub broker_epoch: BrokerEpoch,
    /// Highest metadata offset the broker has applied.
    pub current_metadata_offset: i64,
    /// The broker wants to be (or stay) fenced, e.g. while starting.
    pub want_fence: bool,
    /// The broker wants to shut down.
    pub want_shutdown: bool,
}

/// The answer to [`BrokerHeartbeat`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerHeartbeatReply {
    /// `ErrorCode::None` on success.
    pub error_code: ErrorCode,
    /// Names the rule on failure.
    pub error_message: Option<String>,
    /// `current_metadata_offset >= ` the offset of the broker's registration record.
    pub is_caught_up: bool,
    /// The fenced state once this result's records are applied.
    pub is_fenced: bool,
    /// The broker may stop now.
    pub should_shut_down: bool,
}

/// Handle a heartbeat.
///
/// * Unknown broker or epoch mismatch → `STALE_BROKER_EPOCH` (`checkBrokerEpoch`).
/// * `is_caught_up = current_metadata_offset >= registered_offset` (SPEC §3.4).
/// * Fenced, wants shutdown → `should_shut_down`, no record (it is already fenced).
/// * Fenced, caught up, `!want_fence` → `BrokerRegistrationChange{fenced: Some(false)}`.
/// * Unfenced, `want_fence` → `BrokerRegistrationChange{fenced: Some(true)}`.
/// * Otherwise no record.
///
/// Not yet (later issues): session soft state, controlled shutdown of an unfenced broker,
/// ISR removal and leader election on fence/unfence (`partition_change.rs`).
pub fn broker_heartbeat(
    image: &MetadataImage,
    req: &BrokerHeartbeat,
    _ctx: &mut Ctx,
) -> ControllerResult<BrokerHeartbeatReply> {
    let stale = |message: String| {
        ControllerResult::reply_only(BrokerHeartbeatReply {
            error_code: ErrorCode::StaleBrokerEpoch,
            error_message: Some(message),
            is_caught_up: false,
            is_fenced: true,
            should_shut_down: false,
        })
    };
    let Some(b) = image.broker(req.broker_id) else {
        return stale(format!(
            "No broker registration found for broker {}",
            req.broker_id
        ));
    };
    if b.broker_epoch != req.broker_epoch {
        return stale(format!(
            "Expected broker epoch {}, but got broker epoch {}",
            b.broker_epoch, req.broker_epoch
        ));
    }

    let is_caught_up = u64::try_from(req.current_metadata_offset)
        .is_ok_and(|offset| offset >= b.registered_offset);
    let change = |fenced: bool| {
        Record::BrokerRegistrationChange(BrokerRegistrationChangeRecord {
            broker_id: b.broker_id,
            broker_epoch: b.broker_epoch,
            fenced: Some(fenced),
            in_controlled_shutdown: None,
        })
    };

    let (records, is_fenced, should_shut_down) = if b.fenced {
        if req.want_shutdown {
            (Vec::new(), true, true)
        } else if is_caught_up && !req.want_fence {
            (vec![change(false)], false, false)
        } else {
            (Vec::new(), true, false)
        }
    } else if req.want_fence {
        (vec![change(true)], true, false)
    } else {
        (Vec::new(), false, false)
    };

    ControllerResult {
        records,
        reply: BrokerHeartbeatReply {
            error_code: ErrorCode::None,
            error_message: None,
            is_caught_up,
            is_fenced,
            should_shut_down,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{TestImage, heartbeat_req};

    #[test]
    fn heartbeat_unfences_once_caught_up() {
        let mut t = TestImage::new().brokers(1..=1);
        let b = t.image.broker(BrokerId(1)).unwrap().clone();
        assert!(b.fenced);

        // Behind its own registration: stays fenced.
        let behind = heartbeat_req(&b, b.registered_offset as i64 - 1, false);
        let r = broker_heartbeat(&t.image, &behind, &mut t.ctx);
        assert_eq!(r.reply.error_code, ErrorCode::None);
        assert!(!r.reply.is_caught_up);
        assert!(r.reply.is_fenced);
        assert!(r.records.is_empty());

        // Caught up but still wants fence (starting): stays fenced.
        let starting = heartbeat_req(&b, b.registered_offset as i64, true);
        let r = broker_heartbeat(&t.image, &starting, &mut t.ctx);
        assert!(r.reply.is_caught_up);
        assert!(r.reply.is_fenced);
        assert!(r.records.is_empty());

        // Caught up and ready: unfence.
        let ready = heartbeat_req(&b, b.registered_offset as i64, false);
        let r = broker_heartbeat(&t.image, &ready, &mut t.ctx);
        assert!(r.reply.is_caught_up);
        assert!(!r.reply.is_fenced);
        assert_eq!(r.records.len(), 1);
        t.apply_all(&r.records);
        assert!(!t.image.broker(BrokerId(1)).unwrap().fenced);

        // Once unfenced, the same heartbeat writes nothing.
        let r = broker_heartbeat(&t.image, &ready, &mut t.ctx);
        assert!(!r.reply.is_fenced);
        assert!(r.records.is_empty());
    }

    #[test]
    fn heartbeat_want_fence_fences_an_unfenced_broker() {
        let mut t = TestImage::new().brokers(1..=1).unfenced(1..=1);
        let b = t.image.broker(BrokerId(1)).unwrap().clone();
        let r = broker_heartbeat(&t.image, &heartbeat_req(&b, 1000, true), &mut t.ctx);
        assert!(r.reply.is_fenced);
        assert_eq!(r.records.len(), 1);
        t.apply_all(&r.records);
        assert!(t.image.broker(BrokerId(1)).unwrap().fenced);
    }

    #[test]
    fn heartbeat_with_stale_epoch_is_rejected() {
        let mut t = TestImage::new().brokers(1..=1);
        let mut req = heartbeat_req(t.image.broker(BrokerId(1)).unwrap(), 1000, false);
        req.broker_epoch = BrokerEpoch(req.broker_epoch.0 - 1);
        let r = broker_heartbeat(&t.image, &req, &mut t.ctx);
        assert_eq!(r.reply.error_code, ErrorCode::StaleBrokerEpoch);
        assert!(r.records.is_empty());

        req.broker_id = BrokerId(42);
        let r = broker_heartbeat(&t.image, &req, &mut t.ctx);
        assert_eq!(r.reply.error_code, ErrorCode::StaleBrokerEpoch);
        assert!(r.records.is_empty());
    }

    #[test]
    fn heartbeat_fenced_broker_wanting_shutdown_may_stop() {
        let mut t = TestImage::new().brokers(1..=1);
        let b = t.image.broker(BrokerId(1)).unwrap().clone();
        let mut req = heartbeat_req(&b, 1000, false);
        req.want_shutdown = true;
        let r = broker_heartbeat(&t.image, &req, &mut t.ctx);
        assert!(r.reply.should_shut_down);
        assert!(r.reply.is_fenced);
        assert!(r.records.is_empty());
    }
}
