//! Broker lifecycle changes driven by the controller: fencing brokers whose session expired
//! (SPEC §3.5) and UnregisterBroker (Kafka apiKey 64, SPEC §2.3), plus the partition
//! updates every lifecycle transition shares (Kafka `generateLeaderAndIsrUpdates`).

use super::ControllerResult;
use crate::ctx::Ctx;
use crate::error_code::ErrorCode;
use crate::heartbeats::BrokerHeartbeatManager;
use crate::ids::BrokerId;
use crate::image::MetadataImage;
use crate::partition_change::{PartitionChange, build_partition_change, topic_election};
use crate::records::{BrokerRegistrationChangeRecord, Record, UnregisterBrokerRecord};

/// For every partition whose ISR holds `broker`: remove it and, if it led, elect a new
/// leader from the remaining ISR (the topic's election: unclean if its config allows).
/// The last ISR member stays, with leader -1 (SPEC §3.5).
pub(crate) fn remove_from_isrs(image: &MetadataImage, broker: BrokerId) -> Vec<Record> {
    let mut records = Vec::new();
    for topic in image.topics().iter_unordered() {
        let election = topic_election(image, &topic.name);
        for (&index, p) in &topic.partitions {
            if !p.isr.contains(&broker) && p.leader != broker {
                continue;
            }
            let change = PartitionChange::remove(broker, election);
            if let Some(rec) = build_partition_change(image, topic.topic_id, index, p, &change) {
                records.push(Record::PartitionChange(rec));
            }
        }
    }
    records
}

/// For every leaderless partition that has `broker` as a replica: elect a leader, counting
/// `broker` as active although the image still shows it fenced (Kafka
/// `handleBrokerUnfenced`, SPEC §3.4).
pub(crate) fn elect_with_unfenced(image: &MetadataImage, broker: BrokerId) -> Vec<Record> {
    let mut records = Vec::new();
    for topic in image.topics().iter_unordered() {
        let election = topic_election(image, &topic.name);
        for (&index, p) in &topic.partitions {
            if p.leader != BrokerId::NO_LEADER || !p.replicas.contains(&broker) {
                continue;
            }
            let change = PartitionChange {
                add_broker: Some(broker),
                election,
                ..PartitionChange::default()
            };
            if let Some(rec) = build_partition_change(image, topic.topic_id, index, p, &change) {
                records.push(Record::PartitionChange(rec));
            }
        }
    }
    records
}

/// Whether `broker` leads at least one partition.
pub(crate) fn leads_any(image: &MetadataImage, broker: BrokerId) -> bool {
    image
        .topics()
        .iter_unordered()
        .any(|t| t.partitions.values().any(|p| p.leader == broker))
}

/// Kafka `handleBrokerFenced`: remove `broker` from every ISR, then fence it.
pub(crate) fn fence_records(image: &MetadataImage, broker: BrokerId) -> Vec<Record> {
    let Some(b) = image.broker(broker) else {
        return Vec::new();
    };
    let mut records = remove_from_isrs(image, broker);
    records.push(Record::BrokerRegistrationChange(
        BrokerRegistrationChangeRecord {
            broker_id: broker,
            broker_epoch: b.broker_epoch,
            fenced: Some(true),
            in_controlled_shutdown: None,
        },
    ));
    records
}

/// Fence ONE unfenced broker whose session expired at `ctx.now_ms()` (the one heard from
/// least recently), like Kafka's `maybeFenceOneStaleBroker`.
///
/// Records, atomically: the broker leaves every ISR (new leaders from the remaining ISR;
/// the last member stays with leader -1), then `BrokerRegistrationChange{fenced: true}`.
/// The reply names the fenced broker, `None` when no session has expired (no records).
/// The service calls this periodically and, after writing a non-empty result, again at once.
pub fn fence_stale_brokers(
    image: &MetadataImage,
    heartbeats: &BrokerHeartbeatManager,
    ctx: &mut Ctx,
) -> ControllerResult<Option<BrokerId>> {
    match heartbeats.oldest_expired_unfenced(image, ctx.now_ms()) {
        None => ControllerResult::reply_only(None),
        Some(broker) => {
            tracing::info!(broker_id = %broker, "fencing broker whose session expired");
            ControllerResult {
                records: fence_records(image, broker),
                reply: Some(broker),
            }
        }
    }
}

/// An operator removes a broker (Kafka UnregisterBroker, apiKey 64).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnregisterBroker {
    /// The broker to remove.
    pub broker_id: BrokerId,
}

/// The answer to [`UnregisterBroker`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnregisterBrokerReply {
    /// `ErrorCode::None` on success.
    pub error_code: ErrorCode,
    /// Names the rule on failure.
    pub error_message: Option<String>,
}

/// Handle UnregisterBroker (SPEC §2.3).
///
/// * Not registered → `BROKER_ID_NOT_REGISTERED` "Broker ID N is not currently registered".
/// * Otherwise: remove the broker from every ISR (new leaders elected; a last ISR member
///   stays), then `UnregisterBroker{broker_id, broker_epoch}`. The broker's session is
///   dropped from `heartbeats` at once.
pub fn unregister_broker(
    image: &MetadataImage,
    req: &UnregisterBroker,
    heartbeats: &mut BrokerHeartbeatManager,
    _ctx: &mut Ctx,
) -> ControllerResult<UnregisterBrokerReply> {
    let Some(b) = image.broker(req.broker_id) else {
        return ControllerResult::reply_only(UnregisterBrokerReply {
            error_code: ErrorCode::BrokerIdNotRegistered,
            error_message: Some(format!(
                "Broker ID {} is not currently registered",
                req.broker_id
            )),
        });
    };
    let mut records = remove_from_isrs(image, req.broker_id);
    records.push(Record::UnregisterBroker(UnregisterBrokerRecord {
        broker_id: req.broker_id,
        broker_epoch: b.broker_epoch,
    }));
    heartbeats.remove(req.broker_id);
    ControllerResult {
        records,
        reply: UnregisterBrokerReply {
            error_code: ErrorCode::None,
            error_message: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::broker_heartbeat_with_sessions;
    use crate::lifecycle_testing::LifecycleTest;
    use crate::testing::heartbeat_req;

    /// Brokers 1..=3 unfenced; t-0 replicas [1,2,3] led by 1, t-1 [2,1] led by 2,
    /// t-2 [1] (sole replica) led by 1.
    fn cluster() -> LifecycleTest {
        let mut t = LifecycleTest::new(1..=3, &[1, 2, 3]);
        t.partition("t", 0, &[1, 2, 3], &[1, 2, 3], 1);
        t.partition("t", 1, &[2, 1], &[2, 1], 2);
        t.partition("t", 2, &[1], &[1], 1);
        t
    }

    fn fence_once(t: &mut LifecycleTest) -> Option<BrokerId> {
        let r = fence_stale_brokers(&t.t.image, &t.hb, &mut t.t.ctx);
        if !r.records.is_empty() {
            t.apply(r.records);
        }
        r.reply
    }

    #[test]
    fn session_expiry_fences_after_9s_but_not_before() {
        let mut t = cluster();
        for id in 1..=3 {
            t.hb.touch(BrokerId(id), 1_000, 0);
        }
        t.at(10_000);
        assert_eq!(fence_once(&mut t), None, "exactly 9 s: still valid");
        t.at(10_001);
        // Brokers 2 and 3 keep heartbeating; broker 1 does not.
        for id in 2..=3 {
            let b = t.broker(id);
            let r = broker_heartbeat_with_sessions(
                &t.t.image,
                &heartbeat_req(&b, 100, false),
                &mut t.hb,
                &mut t.t.ctx,
            );
            assert!(r.records.is_empty());
        }
        assert_eq!(fence_once(&mut t), Some(BrokerId(1)));
        assert!(t.broker(1).fenced);
        assert_eq!(t.leader_isr("t", 0), (2, vec![2, 3]));
        assert_eq!(t.leader_isr("t", 1), (2, vec![2]));
        assert_eq!(t.leader_isr("t", 2), (-1, vec![1]), "last ISR member stays");
        assert_eq!(
            fence_once(&mut t),
            None,
            "one broker per call, nobody else expired"
        );
    }

    #[test]
    fn fence_stale_brokers_fences_one_broker_per_call_oldest_first() {
        let mut t = cluster();
        t.hb.touch(BrokerId(1), 500, 0);
        t.hb.touch(BrokerId(2), 100, 0);
        t.hb.touch(BrokerId(3), 100_000, 0);
        t.at(20_000);
        assert_eq!(fence_once(&mut t), Some(BrokerId(2)));
        assert_eq!(fence_once(&mut t), Some(BrokerId(1)));
        assert_eq!(fence_once(&mut t), None);
        assert_eq!(t.leader_isr("t", 0), (3, vec![3]));
        assert_eq!(t.leader_isr("t", 1), (-1, vec![1]));
    }

    #[test]
    fn new_controller_activate_fences_nobody_who_keeps_heartbeating() {
        let mut t = cluster();
        // The old controller last heard from everyone long ago; the new one activates.
        for id in 1..=3 {
            t.hb.touch(BrokerId(id), 0, 0);
        }
        t.hb.activate(&t.t.image, 50_000);
        t.at(59_000);
        assert_eq!(fence_once(&mut t), None);
        for step in 0..10 {
            let now = 59_000 + step * 2_000;
            t.at(now);
            for id in 1..=3 {
                let b = t.broker(id);
                broker_heartbeat_with_sessions(
                    &t.t.image,
                    &heartbeat_req(&b, 100, false),
                    &mut t.hb,
                    &mut t.t.ctx,
                );
            }
            assert_eq!(fence_once(&mut t), None, "at {now}");
        }
        assert!(t.image().unfenced_brokers().count() == 3);
    }

    #[test]
    fn fence_stale_brokers_with_unclean_topic_elects_an_out_of_sync_replica() {
        let mut t = LifecycleTest::new(1..=3, &[1, 2, 3]);
        t.partition("u", 0, &[1, 2], &[1], 1);
        t.set_topic_config("u", "unclean.leader.election.enable", "true");
        t.hb.touch(BrokerId(1), 0, 0);
        t.hb.touch(BrokerId(2), 100_000, 0);
        t.hb.touch(BrokerId(3), 100_000, 0);
        t.at(10_000);
        assert_eq!(fence_once(&mut t), Some(BrokerId(1)));
        let p = t.image().partition("u", 0).unwrap();
        assert_eq!((p.leader, p.isr.clone()), (BrokerId(2), vec![BrokerId(2)]));
        assert_eq!(
            p.leader_recovery_state,
            crate::records::LeaderRecoveryState::Recovering
        );
    }

    #[test]
    fn unregister_unknown_broker_is_not_registered() {
        let mut t = cluster();
        let r = unregister_broker(
            &t.t.image,
            &UnregisterBroker {
                broker_id: BrokerId(9),
            },
            &mut t.hb,
            &mut t.t.ctx,
        );
        assert_eq!(r.reply.error_code, ErrorCode::BrokerIdNotRegistered);
        assert_eq!(
            r.reply.error_message.as_deref(),
            Some("Broker ID 9 is not currently registered")
        );
        assert!(r.records.is_empty());
    }

    #[test]
    fn unregister_broker_removes_it_from_isrs_and_drops_its_session() {
        let mut t = cluster();
        let r = unregister_broker(
            &t.t.image,
            &UnregisterBroker {
                broker_id: BrokerId(1),
            },
            &mut t.hb,
            &mut t.t.ctx,
        );
        assert_eq!(r.reply.error_code, ErrorCode::None);
        assert!(matches!(
            r.records.last(),
            Some(Record::UnregisterBroker(_))
        ));
        t.apply(r.records);
        assert!(t.image().broker(BrokerId(1)).is_none());
        assert!(t.hb.session(BrokerId(1)).is_none());
        assert_eq!(t.leader_isr("t", 0), (2, vec![2, 3]));
        assert_eq!(t.leader_isr("t", 1), (2, vec![2]));
        assert_eq!(t.leader_isr("t", 2), (-1, vec![1]));
    }
}
