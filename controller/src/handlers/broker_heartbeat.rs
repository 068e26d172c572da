//! BrokerHeartbeat (Kafka apiKey 63, SPEC §2.2): the broker state machine
//! (Kafka `BrokerHeartbeatManager.calculateNextBrokerState` + `processBrokerHeartbeat`).

use super::ControllerResult;
use crate::ctx::Ctx;
use crate::error_code::ErrorCode;
use crate::heartbeats::BrokerHeartbeatManager;
use crate::ids::{BrokerEpoch, BrokerId};
use crate::image::MetadataImage;
use crate::records::{BrokerRegistrationChangeRecord, Record};

use super::broker_lifecycle::{elect_with_unfenced, fence_records, leads_any, remove_from_isrs};

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
    /// The broker is (or, once this result is applied, will be) in controlled shutdown.
    pub in_controlled_shutdown: bool,
}

/// A broker's state as the heartbeat state machine sees it (Kafka `BrokerControlState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BrokerControlState {
    /// Registered, fenced: neither leader nor ISR member.
    Fenced,
    /// Unfenced and active.
    Unfenced,
    /// Unfenced, leaving: in no ISR, leads nothing once its records are applied.
    ControlledShutdown,
    /// The broker may stop; it is fenced.
    ShutdownNow,
}

impl BrokerControlState {
    fn fenced(self) -> bool {
        matches!(
            self,
            BrokerControlState::Fenced | BrokerControlState::ShutdownNow
        )
    }
}

/// Handle a heartbeat with the active controller's session state (SPEC §2.2).
///
/// * Unknown broker or epoch mismatch → `STALE_BROKER_EPOCH` (`checkBrokerEpoch`); the
///   session is not touched.
/// * `is_caught_up = current_metadata_offset >= registered_offset` (SPEC §3.4).
/// * Every valid heartbeat touches the session at `ctx.now_ms()` with its offset.
///
/// State machine (current state from the image: fenced → FENCED, in controlled shutdown →
/// CONTROLLED_SHUTDOWN, else UNFENCED):
///
/// | current | request | next | records |
/// |---|---|---|---|
/// | FENCED | want_shutdown | SHUTDOWN_NOW | leaves any ISR it is still in |
/// | FENCED | !want_fence, caught up | UNFENCED | `fenced: Some(false)` (and clears controlled shutdown) + it leads leaderless partitions where eligible |
/// | UNFENCED | want_fence (± want_shutdown) | FENCED / SHUTDOWN_NOW | leaves every ISR + `fenced: Some(true)` |
/// | UNFENCED | want_shutdown, leads ≥ 1 | CONTROLLED_SHUTDOWN | `in_controlled_shutdown: Some(true)` + leaves every ISR, leaderships move |
/// | UNFENCED | want_shutdown, leads nothing | SHUTDOWN_NOW | leaves every ISR + `fenced: Some(true)` |
/// | CONTROLLED_SHUTDOWN | leads nothing, `controlled_shutdown_offset <= lowest_active_offset` | SHUTDOWN_NOW | as above |
/// | otherwise | | unchanged | – |
///
/// Reply: `is_fenced` = FENCED or SHUTDOWN_NOW, `should_shut_down` = SHUTDOWN_NOW,
/// `in_controlled_shutdown` = CONTROLLED_SHUTDOWN.
///
/// Controlled-shutdown offset contract: entering CONTROLLED_SHUTDOWN marks the session
/// pending; after writing the batch the service calls
/// `heartbeats.set_controlled_shutdown_offset(broker_id, batch_log_index)`. If it does not
/// (or the controller failed over), the first later heartbeat in CONTROLLED_SHUTDOWN fixes
/// the offset at the image's last applied offset, which is later than the real one: the
/// broker then waits slightly longer, never less.
pub fn broker_heartbeat_with_sessions(
    image: &MetadataImage,
    req: &BrokerHeartbeat,
    heartbeats: &mut BrokerHeartbeatManager,
    ctx: &mut Ctx,
) -> ControllerResult<BrokerHeartbeatReply> {
    let stale = |message: String| {
        ControllerResult::reply_only(BrokerHeartbeatReply {
            error_code: ErrorCode::StaleBrokerEpoch,
            error_message: Some(message),
            is_caught_up: false,
            is_fenced: true,
            should_shut_down: false,
            in_controlled_shutdown: false,
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

    use BrokerControlState::*;
    let now_ms = ctx.now_ms();
    let id = b.broker_id;
    let is_caught_up = u64::try_from(req.current_metadata_offset)
        .is_ok_and(|offset| offset >= b.registered_offset);
    let current = if b.fenced {
        Fenced
    } else if b.in_controlled_shutdown {
        ControlledShutdown
    } else {
        Unfenced
    };
    let next = match current {
        Fenced if req.want_shutdown => ShutdownNow,
        Fenced if !req.want_fence && is_caught_up => Unfenced,
        Fenced => Fenced,
        Unfenced if req.want_fence && req.want_shutdown => ShutdownNow,
        Unfenced if req.want_fence => Fenced,
        Unfenced if req.want_shutdown && leads_any(image, id) => ControlledShutdown,
        Unfenced if req.want_shutdown => ShutdownNow,
        Unfenced => Unfenced,
        ControlledShutdown if leads_any(image, id) => ControlledShutdown,
        ControlledShutdown => {
            let offset =
                heartbeats.controlled_shutdown_offset_or(id, now_ms, image.last_applied_offset());
            let lowest = heartbeats.lowest_active_offset(image);
            if i64::try_from(offset).is_ok_and(|o| o <= lowest) {
                ShutdownNow
            } else {
                ControlledShutdown
            }
        }
        ShutdownNow => ShutdownNow,
    };

    let change = |fenced: Option<bool>, in_controlled_shutdown: Option<bool>| {
        Record::BrokerRegistrationChange(BrokerRegistrationChangeRecord {
            broker_id: id,
            broker_epoch: b.broker_epoch,
            fenced,
            in_controlled_shutdown,
        })
    };
    let records = match (current, next) {
        (c, n) if c == n => Vec::new(),
        (Fenced, ShutdownNow) => remove_from_isrs(image, id),
        (Fenced, Unfenced) => {
            heartbeats.clear_controlled_shutdown(id);
            let mut records = vec![change(
                Some(false),
                b.in_controlled_shutdown.then_some(false),
            )];
            records.extend(elect_with_unfenced(image, id));
            records
        }
        (Unfenced, ControlledShutdown) => {
            heartbeats.mark_controlled_shutdown_pending(id, now_ms);
            let mut records = vec![change(None, Some(true))];
            records.extend(remove_from_isrs(image, id));
            records
        }
        (_, Fenced | ShutdownNow) => fence_records(image, id),
        _ => Vec::new(),
    };
    heartbeats.touch(id, now_ms, req.current_metadata_offset);

    ControllerResult {
        records,
        reply: BrokerHeartbeatReply {
            error_code: ErrorCode::None,
            error_message: None,
            is_caught_up,
            is_fenced: next.fenced(),
            should_shut_down: next == ShutdownNow,
            in_controlled_shutdown: next == ControlledShutdown,
        },
    }
}

/// Transitional: [`broker_heartbeat_with_sessions`] with a session state that knows
/// nothing (every registered broker on a fresh session). Kept so the service compiles
/// until it holds a [`BrokerHeartbeatManager`]; it cannot finish a controlled shutdown
/// reliably (the controlled-shutdown offset is forgotten between calls).
pub fn broker_heartbeat(
    image: &MetadataImage,
    req: &BrokerHeartbeat,
    ctx: &mut Ctx,
) -> ControllerResult<BrokerHeartbeatReply> {
    let mut heartbeats = BrokerHeartbeatManager::default();
    heartbeats.activate(image, ctx.now_ms());
    broker_heartbeat_with_sessions(image, req, &mut heartbeats, ctx)
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

    use crate::heartbeats::BrokerHeartbeatManager as Hb;
    use crate::lifecycle_testing::LifecycleTest;

    fn beat(
        t: &mut LifecycleTest,
        id: i32,
        offset: i64,
        fence: bool,
        shutdown: bool,
    ) -> ControllerResult<BrokerHeartbeatReply> {
        let b = t.broker(id);
        let mut req = heartbeat_req(&b, offset, fence);
        req.want_shutdown = shutdown;
        broker_heartbeat_with_sessions(&t.t.image, &req, &mut t.hb, &mut t.t.ctx)
    }

    /// Brokers 1..=3 unfenced; broker 1 leads t-0 [1,2,3] and t-1 [1,2]; t-2 [2,1] led by 2.
    fn cluster() -> LifecycleTest {
        let mut t = LifecycleTest::new(1..=3, &[1, 2, 3]);
        t.partition("t", 0, &[1, 2, 3], &[1, 2, 3], 1);
        t.partition("t", 1, &[1, 2], &[1, 2], 1);
        t.partition("t", 2, &[2, 1], &[2, 1], 2);
        t
    }

    #[test]
    fn heartbeat_touches_the_session_but_a_stale_one_does_not() {
        let mut t = cluster();
        t.at(5_000);
        beat(&mut t, 2, 42, false, false);
        let s = t.hb.session(BrokerId(2)).unwrap();
        assert_eq!((s.last_contact_ms, s.metadata_offset), (5_000, 42));
        let mut req = heartbeat_req(&t.broker(3), 42, false);
        req.broker_epoch = BrokerEpoch(0);
        t.at(6_000);
        let r = broker_heartbeat_with_sessions(&t.t.image, &req, &mut t.hb, &mut t.t.ctx);
        assert_eq!(r.reply.error_code, ErrorCode::StaleBrokerEpoch);
        assert_eq!(t.hb.session(BrokerId(3)).unwrap().last_contact_ms, 0);
    }

    #[test]
    fn heartbeat_want_fence_removes_the_broker_from_every_isr() {
        let mut t = cluster();
        let r = beat(&mut t, 1, 100, true, false);
        assert!(r.reply.is_fenced && !r.reply.should_shut_down);
        t.apply(r.records);
        assert!(t.broker(1).fenced);
        assert_eq!(t.leader_isr("t", 0), (2, vec![2, 3]));
        assert_eq!(t.leader_isr("t", 1), (2, vec![2]));
        assert_eq!(t.leader_isr("t", 2), (2, vec![2]));
    }

    #[test]
    fn heartbeat_unfence_elects_the_broker_leader_of_leaderless_partitions() {
        let mut t = LifecycleTest::new(1..=3, &[2]);
        t.partition("t", 0, &[1, 2], &[1], -1);
        t.partition("t", 1, &[3, 1], &[3, 1], -1);
        t.partition("t", 2, &[3, 2], &[3], -1);
        let offset = t.image().last_applied_offset() as i64;
        let r = beat(&mut t, 1, offset, false, false);
        assert!(!r.reply.is_fenced);
        assert!(matches!(r.records[0], Record::BrokerRegistrationChange(_)));
        assert_eq!(r.records.len(), 3, "unfence + two elections");
        t.apply(r.records);
        assert_eq!(t.leader_isr("t", 0), (1, vec![1]));
        assert_eq!(t.leader_isr("t", 1), (1, vec![3, 1]));
        assert_eq!(
            t.leader_isr("t", 2),
            (-1, vec![3]),
            "not a replica of t-2... broker 1 is not in its ISR"
        );
    }

    #[test]
    fn controlled_shutdown_moves_every_leadership_before_should_shut_down() {
        let mut t = cluster();
        for id in 1..=3 {
            beat(&mut t, id, 10, false, false);
        }
        // Broker 1 asks to shut down: it leads t-0 and t-1.
        let r = beat(&mut t, 1, 10, false, true);
        assert!(!r.reply.should_shut_down && !r.reply.is_fenced);
        assert!(r.reply.in_controlled_shutdown);
        let offset = t.apply(r.records);
        assert!(t.hb.set_controlled_shutdown_offset(BrokerId(1), offset));
        assert!(t.broker(1).in_controlled_shutdown && !t.broker(1).fenced);
        assert_eq!(t.leader_isr("t", 0), (2, vec![2, 3]));
        assert_eq!(t.leader_isr("t", 1), (2, vec![2]));
        assert_eq!(t.leader_isr("t", 2), (2, vec![2]));

        // The others have not seen the new leaders yet: keep waiting.
        let r = beat(&mut t, 1, offset as i64, false, true);
        assert!(!r.reply.should_shut_down && r.records.is_empty());
        beat(&mut t, 2, offset as i64, false, false);
        let r = beat(&mut t, 1, offset as i64, false, true);
        assert!(!r.reply.should_shut_down, "broker 3 is still behind");
        beat(&mut t, 3, offset as i64, false, false);

        // Every active broker caught up: shut down now, fenced.
        let r = beat(&mut t, 1, offset as i64, false, true);
        assert!(r.reply.should_shut_down && r.reply.is_fenced);
        t.apply(r.records);
        assert!(t.broker(1).fenced);
    }

    #[test]
    fn controlled_shutdown_offset_falls_back_to_the_applied_offset_after_failover() {
        let mut t = cluster();
        let r = beat(&mut t, 1, 10, false, true);
        let offset = t.apply(r.records);
        t.hb = Hb::default();
        t.hb.activate(&t.t.image, 0);
        let r = beat(&mut t, 1, offset as i64, false, true);
        assert!(
            !r.reply.should_shut_down,
            "active brokers have not reported yet"
        );
        assert_eq!(
            t.hb.session(BrokerId(1))
                .unwrap()
                .controlled_shutdown_offset(),
            Some(offset)
        );
        beat(&mut t, 2, offset as i64, false, false);
        beat(&mut t, 3, offset as i64, false, false);
        assert!(
            beat(&mut t, 1, offset as i64, false, true)
                .reply
                .should_shut_down
        );
    }

    #[test]
    fn unfenced_broker_that_leads_nothing_shuts_down_at_once() {
        let mut t = cluster();
        let r = beat(&mut t, 3, 10, false, true);
        assert!(r.reply.should_shut_down && r.reply.is_fenced);
        t.apply(r.records);
        assert!(t.broker(3).fenced);
        assert_eq!(t.leader_isr("t", 0), (1, vec![1, 2]));
    }

    #[test]
    fn want_fence_and_want_shutdown_together_shut_down_now() {
        let mut t = cluster();
        let r = beat(&mut t, 1, 10, true, true);
        assert!(r.reply.should_shut_down && r.reply.is_fenced);
        t.apply(r.records);
        assert_eq!(t.leader_isr("t", 0), (2, vec![2, 3]));
    }
}
