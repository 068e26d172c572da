//! Broker sessions: leader-only soft state, never in the log (Kafka `BrokerHeartbeatManager`,
//! SPEC §3.5, STYLE §3).
//!
//! The active controller remembers, per broker, when it last heard from it and which
//! metadata offset it reported. Time is always an argument (`now_ms`, from
//! [`crate::Ctx::now_ms`]); nothing here reads a clock. Decisions that follow from this
//! state (fencing a broker whose session expired, answering `should_shut_down`) are turned
//! into records by the handlers, so followers never need it.
//!
//! Contract with the service (the single writer):
//! * on becoming the active controller, call [`BrokerHeartbeatManager::activate`] with the
//!   image and the current time before handling any broker RPC or fencing anyone;
//! * the handlers `register_broker_with_sessions` and `broker_heartbeat_with_sessions` touch
//!   the session themselves;
//! * after writing a heartbeat's batch, call
//!   [`BrokerHeartbeatManager::set_controlled_shutdown_offset`] with that batch's log index
//!   (harmless when the broker did not enter controlled shutdown);
//! * drop the whole manager on losing leadership (a new term starts from `activate`).

use std::collections::BTreeMap;

use crate::ids::BrokerId;
use crate::image::MetadataImage;

/// Kafka's `broker.session.timeout.ms` default (SPEC §3.1).
pub const DEFAULT_SESSION_TIMEOUT_MS: i64 = 9000;

/// Where a broker stands in controlled shutdown, as far as the soft state knows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ControlledShutdown {
    /// Not shutting down (or not known to be: e.g. after a controller failover).
    #[default]
    No,
    /// A heartbeat handler moved the broker into controlled shutdown; the offset of the
    /// batch that did it is known only after the write.
    Pending,
    /// The log index of the batch that moved the broker into controlled shutdown.
    At(u64),
}

/// What the active controller knows about one broker's session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BrokerSession {
    /// Time of the last heartbeat or registration, in ms (the caller's clock).
    pub last_contact_ms: i64,
    /// The last `current_metadata_offset` the broker reported (-1 when none yet).
    pub metadata_offset: i64,
    /// Controlled shutdown progress.
    pub controlled_shutdown: ControlledShutdown,
}

impl BrokerSession {
    /// The offset of the batch that moved the broker into controlled shutdown, once known.
    pub fn controlled_shutdown_offset(&self) -> Option<u64> {
        match self.controlled_shutdown {
            ControlledShutdown::At(offset) => Some(offset),
            _ => None,
        }
    }
}

/// Per-broker sessions of the active controller (soft state).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerHeartbeatManager {
    session_timeout_ms: i64,
    sessions: BTreeMap<BrokerId, BrokerSession>,
}

impl Default for BrokerHeartbeatManager {
    fn default() -> Self {
        Self::new(DEFAULT_SESSION_TIMEOUT_MS)
    }
}

impl BrokerHeartbeatManager {
    /// An empty manager whose sessions last `session_timeout_ms` after the last contact.
    pub fn new(session_timeout_ms: i64) -> Self {
        BrokerHeartbeatManager {
            session_timeout_ms,
            sessions: BTreeMap::new(),
        }
    }

    /// `broker.session.timeout.ms`.
    pub fn session_timeout_ms(&self) -> i64 {
        self.session_timeout_ms
    }

    /// The session of `broker`, if tracked.
    pub fn session(&self, broker: BrokerId) -> Option<&BrokerSession> {
        self.sessions.get(&broker)
    }

    /// Record contact from `broker` at `now_ms`, reporting `metadata_offset`. Creates the
    /// session if needed; keeps the controlled-shutdown progress.
    pub fn touch(&mut self, broker: BrokerId, now_ms: i64, metadata_offset: i64) {
        let s = self.sessions.entry(broker).or_insert(BrokerSession {
            last_contact_ms: now_ms,
            metadata_offset,
            controlled_shutdown: ControlledShutdown::No,
        });
        s.last_contact_ms = now_ms;
        s.metadata_offset = metadata_offset;
    }

    /// A fresh session for a new incarnation: contact now, no offset, not shutting down.
    pub fn reset(&mut self, broker: BrokerId, now_ms: i64) {
        self.sessions.insert(
            broker,
            BrokerSession {
                last_contact_ms: now_ms,
                metadata_offset: -1,
                controlled_shutdown: ControlledShutdown::No,
            },
        );
    }

    /// The session of `broker` exists and has not expired: `now_ms <= last_contact_ms +
    /// session_timeout_ms` (Kafka `hasValidSession`; callers also check the registration
    /// is unfenced).
    pub fn has_valid_session(&self, broker: BrokerId, now_ms: i64) -> bool {
        self.sessions
            .get(&broker)
            .is_some_and(|s| now_ms <= s.last_contact_ms.saturating_add(self.session_timeout_ms))
    }

    /// Unfenced brokers of `image` (including those in controlled shutdown) whose session has
    /// expired at `now_ms`, oldest contact first. Brokers without a session are not listed:
    /// [`BrokerHeartbeatManager::activate`] gives every broker one.
    pub fn expired_unfenced(&self, image: &MetadataImage, now_ms: i64) -> Vec<BrokerId> {
        let mut expired: Vec<(i64, BrokerId)> = image
            .unfenced_brokers()
            .filter_map(|b| {
                let s = self.sessions.get(&b.broker_id)?;
                (!self.has_valid_session(b.broker_id, now_ms))
                    .then_some((s.last_contact_ms, b.broker_id))
            })
            .collect();
        expired.sort();
        expired.into_iter().map(|(_, id)| id).collect()
    }

    /// The first of [`BrokerHeartbeatManager::expired_unfenced`] (oldest contact, then lowest
    /// id), without building the list: what the fencing loop asks ten times a second. Only
    /// the sessions are scanned until one has expired, so with every session alive the image
    /// is not looked at.
    pub fn oldest_expired_unfenced(&self, image: &MetadataImage, now_ms: i64) -> Option<BrokerId> {
        self.sessions
            .iter()
            .filter(|(_, s)| now_ms > s.last_contact_ms.saturating_add(self.session_timeout_ms))
            .filter(|(id, _)| image.broker(**id).is_some_and(|b| !b.fenced))
            .min_by_key(|(id, s)| (s.last_contact_ms, **id))
            .map(|(id, _)| *id)
    }

    /// What a newly active controller does (Kafka `ClusterControlManager.activate`,
    /// KAFKA-18138): forget everything and give every registered broker a full session
    /// starting at `now_ms`, so nobody is fenced just because the controller changed.
    pub fn activate(&mut self, image: &MetadataImage, now_ms: i64) {
        self.sessions.clear();
        for &id in image.cluster().brokers().keys() {
            self.reset(id, now_ms);
        }
    }

    /// Forget `broker` (unregistered).
    pub fn remove(&mut self, broker: BrokerId) {
        self.sessions.remove(&broker);
    }

    /// The lowest metadata offset reported by an active broker (unfenced, not in controlled
    /// shutdown); a tracked-less active broker counts as -1; `i64::MAX` when none is active
    /// (SPEC §2.2, Kafka `lowestActiveOffset`).
    pub fn lowest_active_offset(&self, image: &MetadataImage) -> i64 {
        image
            .cluster()
            .brokers()
            .values()
            .filter(|b| b.is_active())
            .map(|b| {
                self.sessions
                    .get(&b.broker_id)
                    .map_or(-1, |s| s.metadata_offset)
            })
            .min()
            .unwrap_or(i64::MAX)
    }

    /// Mark `broker` as entering controlled shutdown; its offset follows after the write.
    pub(crate) fn mark_controlled_shutdown_pending(&mut self, broker: BrokerId, now_ms: i64) {
        self.sessions
            .entry(broker)
            .or_insert(BrokerSession {
                last_contact_ms: now_ms,
                metadata_offset: -1,
                controlled_shutdown: ControlledShutdown::No,
            })
            .controlled_shutdown = ControlledShutdown::Pending;
    }

    /// Record `offset`, the log index of the batch that moved `broker` into controlled
    /// shutdown. Only a pending marker is replaced (Kafka sets it once), so the service may
    /// call this after every heartbeat write. Returns whether it was recorded.
    pub fn set_controlled_shutdown_offset(&mut self, broker: BrokerId, offset: u64) -> bool {
        match self.sessions.get_mut(&broker) {
            Some(s) if s.controlled_shutdown == ControlledShutdown::Pending => {
                s.controlled_shutdown = ControlledShutdown::At(offset);
                true
            }
            _ => false,
        }
    }

    /// The controlled-shutdown offset of `broker`, fixing it at `fallback` when unknown (the
    /// service did not report the batch offset, or the controller failed over). `fallback`
    /// must be at least the offset of the batch that moved it: the image's last applied
    /// offset is.
    pub(crate) fn controlled_shutdown_offset_or(
        &mut self,
        broker: BrokerId,
        now_ms: i64,
        fallback: u64,
    ) -> u64 {
        let s = self.sessions.entry(broker).or_insert(BrokerSession {
            last_contact_ms: now_ms,
            metadata_offset: -1,
            controlled_shutdown: ControlledShutdown::No,
        });
        match s.controlled_shutdown {
            ControlledShutdown::At(offset) => offset,
            _ => {
                s.controlled_shutdown = ControlledShutdown::At(fallback);
                fallback
            }
        }
    }

    /// Clear controlled-shutdown progress (the broker was unfenced or re-registered).
    pub(crate) fn clear_controlled_shutdown(&mut self, broker: BrokerId) {
        if let Some(s) = self.sessions.get_mut(&broker) {
            s.controlled_shutdown = ControlledShutdown::No;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestImage;

    #[test]
    fn session_is_valid_until_the_timeout_and_not_after() {
        let mut hb = BrokerHeartbeatManager::default();
        let b = BrokerId(1);
        assert!(!hb.has_valid_session(b, 0), "no session yet");
        hb.touch(b, 1_000, 5);
        assert!(hb.has_valid_session(b, 1_000 + 9_000));
        assert!(!hb.has_valid_session(b, 1_000 + 9_001));
        hb.touch(b, 9_000, 6);
        assert!(hb.has_valid_session(b, 18_000));
        assert_eq!(hb.session(b).unwrap().metadata_offset, 6);
    }

    #[test]
    fn expired_unfenced_lists_only_unfenced_brokers_past_their_session_oldest_first() {
        let t = TestImage::new().brokers(1..=4).unfenced(1..=3);
        let mut hb = BrokerHeartbeatManager::default();
        hb.touch(BrokerId(1), 2_000, 0);
        hb.touch(BrokerId(2), 1_000, 0);
        hb.touch(BrokerId(3), 5_000, 0);
        hb.touch(BrokerId(4), 0, 0); // fenced: never listed
        assert!(hb.expired_unfenced(&t.image, 10_000).is_empty());
        assert_eq!(hb.expired_unfenced(&t.image, 10_001), vec![BrokerId(2)]);
        assert_eq!(
            hb.expired_unfenced(&t.image, 14_001),
            vec![BrokerId(2), BrokerId(1), BrokerId(3)]
        );
    }

    #[test]
    fn oldest_expired_unfenced_is_the_head_of_expired_unfenced() {
        let t = TestImage::new().brokers(1..=5).unfenced(1..=4);
        let mut hb = BrokerHeartbeatManager::default();
        hb.touch(BrokerId(1), 2_000, 0);
        hb.touch(BrokerId(2), 1_000, 0);
        hb.touch(BrokerId(3), 1_000, 0);
        hb.touch(BrokerId(5), 0, 0); // fenced: never chosen
        hb.touch(BrokerId(9), 0, 0); // not registered: never chosen
        // Broker 4 has no session: not chosen either.
        for now in [0, 10_000, 10_001, 11_001, 20_000] {
            assert_eq!(
                hb.oldest_expired_unfenced(&t.image, now),
                hb.expired_unfenced(&t.image, now).first().copied(),
                "at {now}"
            );
        }
        assert_eq!(hb.oldest_expired_unfenced(&t.image, 10_000), None);
        assert_eq!(
            hb.oldest_expired_unfenced(&t.image, 10_001),
            Some(BrokerId(2)),
            "same contact time: lowest id first"
        );
    }

    #[test]
    fn activate_gives_every_registered_broker_a_full_session() {
        let t = TestImage::new().brokers(1..=3).unfenced(1..=3);
        let mut hb = BrokerHeartbeatManager::default();
        hb.touch(BrokerId(1), 0, 7);
        hb.touch(BrokerId(9), 0, 7); // not registered: forgotten
        hb.activate(&t.image, 100_000);
        assert!(hb.session(BrokerId(9)).is_none());
        for id in 1..=3 {
            let s = hb.session(BrokerId(id)).unwrap();
            assert_eq!((s.last_contact_ms, s.metadata_offset), (100_000, -1));
        }
        assert!(hb.expired_unfenced(&t.image, 109_000).is_empty());
        assert_eq!(hb.expired_unfenced(&t.image, 109_001).len(), 3);
    }

    #[test]
    fn lowest_active_offset_ignores_fenced_brokers_and_counts_silent_ones_as_minus_one() {
        let t = TestImage::new().brokers(1..=3).unfenced(1..=2);
        let mut hb = BrokerHeartbeatManager::default();
        assert_eq!(hb.lowest_active_offset(&TestImage::new().image), i64::MAX);
        hb.touch(BrokerId(1), 0, 40);
        assert_eq!(hb.lowest_active_offset(&t.image), -1);
        hb.touch(BrokerId(2), 0, 30);
        hb.touch(BrokerId(3), 0, 10); // fenced
        assert_eq!(hb.lowest_active_offset(&t.image), 30);
    }

    #[test]
    fn controlled_shutdown_offset_is_set_once_from_pending() {
        let mut hb = BrokerHeartbeatManager::default();
        let b = BrokerId(1);
        assert!(!hb.set_controlled_shutdown_offset(b, 5), "not pending");
        hb.touch(b, 0, 0);
        hb.mark_controlled_shutdown_pending(b, 0);
        assert!(hb.set_controlled_shutdown_offset(b, 12));
        assert!(!hb.set_controlled_shutdown_offset(b, 20));
        assert_eq!(
            hb.session(b).unwrap().controlled_shutdown_offset(),
            Some(12)
        );
        hb.touch(b, 1, 3);
        assert_eq!(hb.controlled_shutdown_offset_or(b, 1, 99), 12);
        hb.clear_controlled_shutdown(b);
        assert_eq!(hb.controlled_shutdown_offset_or(b, 1, 99), 99);
    }
}
