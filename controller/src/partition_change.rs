//! Kafka's `PartitionChangeBuilder` as a pure function (SPEC §4.2, §4.3, §4.7).
//!
//! Given a partition, the image (for broker liveness) and a requested change, produce at
//! most one [`PartitionChangeRecord`]. Epochs are not set here: apply bumps
//! `partition_epoch` on every record and `leader_epoch` iff `leader` is set (SPEC §1.2).
//!
//! Rules (no ELR, no reassignment completion yet):
//! * a replica is *acceptable* as leader or ISR member iff its broker is active
//!   (registered, unfenced, not in controlled shutdown), it is not the broker being removed,
//!   or it is the broker being added (unfenced in the same batch);
//! * a *valid* new leader is an acceptable member of the target ISR;
//! * ONLINE / UNCLEAN: keep the current leader if valid, else the first valid replica in
//!   replica order; PREFERRED: `replicas[0]` if valid, else keep the current leader if
//!   valid, else the first valid replica in `replicas[1..]`;
//! * none valid: UNCLEAN elects the first acceptable replica, forces ISR to `[it]` and sets
//!   `LeaderRecoveryState::Recovering`; otherwise the leader becomes -1;
//! * the ISR is never written empty: removing its last member keeps it (Kafka without ELR);
//! * nothing changed → no record.

use crate::ids::BrokerId;
use crate::ids::{LeaderEpoch, PartitionEpoch, TopicId};
use crate::image::{MetadataImage, PartitionRegistration};
use crate::records::{LeaderRecoveryState, PartitionChangeRecord};

/// Kafka `PartitionChangeBuilder.Election`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Election {
    /// Keep a valid leader, else the first valid replica.
    #[default]
    Online,
    /// Prefer `replicas[0]`.
    Preferred,
    /// Like `Online`, then fall back to any acceptable replica (data loss possible).
    Unclean,
}

/// A requested change to one partition; the default changes nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartitionChange {
    /// The ISR to move to (AlterPartition); `None` keeps the current ISR.
    pub target_isr: Option<Vec<BrokerId>>,
    /// A broker leaving (fenced, controlled shutdown, unregistered): removed from the
    /// target ISR and not acceptable as leader.
    pub remove_broker: Option<BrokerId>,
    /// A broker being unfenced in the same batch: acceptable although the image still
    /// shows it fenced.
    pub add_broker: Option<BrokerId>,
    /// How to elect.
    pub election: Election,
    /// The leader recovery state to move to (AlterPartition); `None` keeps it.
    pub target_leader_recovery_state: Option<LeaderRecoveryState>,
}

impl PartitionChange {
    /// Remove `broker` from the ISR, electing with `election`.
    pub fn remove(broker: BrokerId, election: Election) -> Self {
        PartitionChange {
            remove_broker: Some(broker),
            election,
            ..Self::default()
        }
    }
}

/// The election a controller-driven change uses for topic `name`: `Unclean` when the topic's
/// effective `unclean.leader.election.enable` is true (SPEC §4.7), else `Online`.
pub fn topic_election(image: &MetadataImage, name: &str) -> Election {
    let unclean = image
        .effective_topic_configs(name)
        .and_then(|c| c.get("unclean.leader.election.enable").cloned())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if unclean {
        Election::Unclean
    } else {
        Election::Online
    }
}

/// The record that makes `change` to partition `partition_id` of `topic_id`, whose current
/// state is `p`, or `None` when nothing would change. The record carries
/// `expected_partition_epoch = p.partition_epoch`.
pub fn build_partition_change(
    image: &MetadataImage,
    topic_id: TopicId,
    partition_id: i32,
    p: &PartitionRegistration,
    change: &PartitionChange,
) -> Option<PartitionChangeRecord> {
    let acceptable = |r: BrokerId| {
        Some(r) != change.remove_broker
            && (Some(r) == change.add_broker || image.broker(r).is_some_and(|b| b.is_active()))
    };
    let mut target_isr = change.target_isr.clone().unwrap_or_else(|| p.isr.clone());
    if let Some(removed) = change.remove_broker {
        target_isr.retain(|&r| r != removed);
    }
    let valid = |r: BrokerId| target_isr.contains(&r) && acceptable(r);

    let mut rec = PartitionChangeRecord::new(topic_id, partition_id);
    rec.expected_partition_epoch = Some(p.partition_epoch);

    let (leader, unclean) = elect(p, change.election, &valid, &acceptable);
    if leader != p.leader {
        rec.leader = Some(leader);
        if unclean {
            rec.isr = Some(vec![leader]);
            if p.leader_recovery_state != LeaderRecoveryState::Recovering {
                rec.leader_recovery_state = Some(LeaderRecoveryState::Recovering);
            }
        }
    }
    // Without ELR an empty ISR is never written: the last member stays (SPEC §3.5).
    if rec.isr.is_none() && !target_isr.is_empty() && target_isr != p.isr {
        rec.isr = Some(target_isr);
    }
    if rec.leader_recovery_state.is_none()
        && let Some(state) = change.target_leader_recovery_state
        && state != p.leader_recovery_state
    {
        rec.leader_recovery_state = Some(state);
    }

    let no_op = rec.leader.is_none() && rec.isr.is_none() && rec.leader_recovery_state.is_none();
    (!no_op).then_some(rec)
}

/// Returns the new leader (or [`BrokerId::NO_LEADER`]) and whether the election was unclean.
fn elect(
    p: &PartitionRegistration,
    election: Election,
    valid: &dyn Fn(BrokerId) -> bool,
    acceptable: &dyn Fn(BrokerId) -> bool,
) -> (BrokerId, bool) {
    if election == Election::Preferred {
        if let Some(&preferred) = p.replicas.first()
            && valid(preferred)
        {
            return (preferred, false);
        }
        if valid(p.leader) {
            return (p.leader, false);
        }
        return match p.replicas.iter().skip(1).copied().find(|&r| valid(r)) {
            Some(r) => (r, false),
            None => (BrokerId::NO_LEADER, false),
        };
    }
    if valid(p.leader) {
        return (p.leader, false);
    }
    if let Some(r) = p.replicas.iter().copied().find(|&r| valid(r)) {
        return (r, false);
    }
    if election == Election::Unclean
        && let Some(r) = p.replicas.iter().copied().find(|&r| acceptable(r))
    {
        return (r, true);
    }
    (BrokerId::NO_LEADER, false)
}

/// `p` after applying `rec`: the same merge as `MetadataImage::apply` (SPEC §1.2 apiKey 5),
/// for replies that carry the new state before it is committed.
pub fn merged(p: &PartitionRegistration, rec: &PartitionChangeRecord) -> PartitionRegistration {
    let mut n = p.clone();
    if let Some(isr) = &rec.isr {
        n.isr = isr.clone();
    }
    if let Some(replicas) = &rec.replicas {
        n.replicas = replicas.clone();
    }
    if let Some(removing) = &rec.removing_replicas {
        n.removing_replicas = removing.clone();
    }
    if let Some(adding) = &rec.adding_replicas {
        n.adding_replicas = adding.clone();
    }
    if let Some(state) = rec.leader_recovery_state {
        n.leader_recovery_state = state;
    }
    if let Some(leader) = rec.leader {
        n.leader = leader;
        n.leader_epoch = LeaderEpoch(n.leader_epoch.0.saturating_add(1));
    }
    n.partition_epoch = PartitionEpoch(n.partition_epoch.0.saturating_add(1));
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle_testing::{LifecycleTest, ids};
    use crate::records::Record;

    /// Brokers 1..=4 registered; `active` unfenced; one partition with `replicas`, `isr`,
    /// `leader`.
    fn setup(active: &[i32], replicas: &[i32], isr: &[i32], leader: i32) -> LifecycleTest {
        let mut t = LifecycleTest::new(1..=4, active);
        t.partition("t", 0, replicas, isr, leader);
        t
    }

    fn build(t: &LifecycleTest, change: &PartitionChange) -> Option<PartitionChangeRecord> {
        let topic = t.image().topic("t").unwrap();
        let p = &topic.partitions[&0];
        build_partition_change(t.image(), topic.topic_id, 0, p, change)
    }

    /// (leader change, ISR change, recovery state change).
    type Want = (
        Option<i32>,
        Option<&'static [i32]>,
        Option<LeaderRecoveryState>,
    );

    struct Row {
        name: &'static str,
        active: &'static [i32],
        replicas: &'static [i32],
        isr: &'static [i32],
        leader: i32,
        change: PartitionChange,
        /// `None` = no record; else (leader change, isr change, recovery state change).
        want: Option<Want>,
    }

    fn remove(b: i32) -> PartitionChange {
        PartitionChange::remove(BrokerId(b), Election::Online)
    }

    #[test]
    fn partition_change_table() {
        use LeaderRecoveryState::Recovering;
        let rows = vec![
            Row {
                name: "no change requested writes nothing",
                active: &[1, 2, 3],
                replicas: &[1, 2, 3],
                isr: &[1, 2, 3],
                leader: 1,
                change: PartitionChange::default(),
                want: None,
            },
            Row {
                name: "removing a follower shrinks the ISR without a leader change",
                active: &[1, 2, 3],
                replicas: &[1, 2, 3],
                isr: &[1, 2, 3],
                leader: 1,
                change: remove(2),
                want: Some((None, Some(&[1, 3]), None)),
            },
            Row {
                name: "removing the leader elects the next ISR member in replica order",
                active: &[1, 2, 3],
                replicas: &[1, 2, 3],
                isr: &[3, 2, 1],
                leader: 1,
                change: remove(1),
                want: Some((Some(2), Some(&[3, 2]), None)),
            },
            Row {
                name: "removing the last ISR member keeps it and goes offline",
                active: &[1, 2, 3],
                replicas: &[1, 2, 3],
                isr: &[1],
                leader: 1,
                change: remove(1),
                want: Some((Some(-1), None, None)),
            },
            Row {
                name: "removing the leader skips inactive ISR members",
                active: &[1, 3],
                replicas: &[1, 2, 3],
                isr: &[1, 2, 3],
                leader: 1,
                change: remove(1),
                want: Some((Some(3), Some(&[2, 3]), None)),
            },
            Row {
                name: "removing a broker not in the ISR writes nothing",
                active: &[1, 2, 3],
                replicas: &[1, 2, 3],
                isr: &[1, 2],
                leader: 1,
                change: remove(3),
                want: None,
            },
            Row {
                name: "unclean removal of the last ISR member elects an acceptable replica",
                active: &[1, 2, 3],
                replicas: &[1, 2, 3],
                isr: &[1],
                leader: 1,
                change: PartitionChange::remove(BrokerId(1), Election::Unclean),
                want: Some((Some(2), Some(&[2]), Some(Recovering))),
            },
            Row {
                name: "unclean election with no acceptable replica goes offline",
                active: &[1],
                replicas: &[1, 2, 3],
                isr: &[1],
                leader: 1,
                change: PartitionChange::remove(BrokerId(1), Election::Unclean),
                want: Some((Some(-1), None, None)),
            },
            Row {
                name: "unclean election prefers a clean ISR leader",
                active: &[1, 2, 3],
                replicas: &[1, 2, 3],
                isr: &[1, 3],
                leader: 1,
                change: PartitionChange::remove(BrokerId(1), Election::Unclean),
                want: Some((Some(3), Some(&[3]), None)),
            },
            Row {
                name: "online election keeps a valid non-preferred leader",
                active: &[1, 2, 3],
                replicas: &[1, 2, 3],
                isr: &[1, 2, 3],
                leader: 2,
                change: PartitionChange::default(),
                want: None,
            },
            Row {
                name: "preferred election moves leadership to replicas[0]",
                active: &[1, 2, 3],
                replicas: &[1, 2, 3],
                isr: &[1, 2, 3],
                leader: 2,
                change: PartitionChange {
                    election: Election::Preferred,
                    ..Default::default()
                },
                want: Some((Some(1), None, None)),
            },
            Row {
                name: "preferred election keeps the leader when replicas[0] is not in the ISR",
                active: &[1, 2, 3],
                replicas: &[1, 2, 3],
                isr: &[2, 3],
                leader: 2,
                change: PartitionChange {
                    election: Election::Preferred,
                    ..Default::default()
                },
                want: None,
            },
            Row {
                name: "preferred election skips an inactive replicas[0]",
                active: &[2, 3],
                replicas: &[1, 2, 3],
                isr: &[1, 2, 3],
                leader: -1,
                change: PartitionChange {
                    election: Election::Preferred,
                    ..Default::default()
                },
                want: Some((Some(2), None, None)),
            },
            Row {
                name: "a leaderless partition elects a broker being unfenced",
                active: &[],
                replicas: &[1, 2, 3],
                isr: &[2],
                leader: -1,
                change: PartitionChange {
                    add_broker: Some(BrokerId(2)),
                    ..Default::default()
                },
                want: Some((Some(2), None, None)),
            },
            Row {
                name: "target ISR expansion keeps the leader",
                active: &[1, 2, 3],
                replicas: &[1, 2, 3],
                isr: &[1],
                leader: 1,
                change: PartitionChange {
                    target_isr: Some(ids(&[1, 2])),
                    ..Default::default()
                },
                want: Some((None, Some(&[1, 2]), None)),
            },
            Row {
                name: "a target recovery state is written when it differs",
                active: &[1, 2, 3],
                replicas: &[1, 2, 3],
                isr: &[1],
                leader: 1,
                change: PartitionChange {
                    target_leader_recovery_state: Some(Recovering),
                    ..Default::default()
                },
                want: Some((None, None, Some(Recovering))),
            },
        ];
        for row in rows {
            let t = setup(row.active, row.replicas, row.isr, row.leader);
            let got = build(&t, &row.change).map(|r| {
                (
                    r.leader.map(|l| l.0),
                    r.isr.map(|i| i.iter().map(|b| b.0).collect::<Vec<_>>()),
                    r.leader_recovery_state,
                )
            });
            let want = row.want.map(|(l, i, s)| (l, i.map(|i| i.to_vec()), s));
            assert_eq!(got, want, "{}", row.name);
        }
    }

    #[test]
    fn partition_change_bumps_epochs_only_through_apply() {
        let mut t = setup(&[1, 2, 3], &[1, 2, 3], &[1, 2, 3], 1);
        let before = t.image().partition("t", 0).unwrap().clone();

        // ISR shrink only: partition epoch +1, leader epoch unchanged.
        let rec = build(&t, &remove(3)).unwrap();
        let expect = merged(&before, &rec);
        t.apply(vec![Record::PartitionChange(rec)]);
        let after = t.image().partition("t", 0).unwrap().clone();
        assert_eq!(after, expect);
        assert_eq!(after.partition_epoch.0, before.partition_epoch.0 + 1);
        assert_eq!(after.leader_epoch, before.leader_epoch);

        // Leader change: both +1.
        let rec = build(&t, &remove(1)).unwrap();
        assert_eq!(rec.expected_partition_epoch, Some(after.partition_epoch));
        t.apply(vec![Record::PartitionChange(rec)]);
        let last = t.image().partition("t", 0).unwrap();
        assert_eq!(last.partition_epoch.0, after.partition_epoch.0 + 1);
        assert_eq!(last.leader_epoch.0, after.leader_epoch.0 + 1);
        assert_eq!((last.leader, last.isr.clone()), (BrokerId(2), ids(&[2])));
    }

    #[test]
    fn topic_election_follows_unclean_leader_election_config() {
        let mut t = setup(&[1, 2, 3], &[1, 2, 3], &[1], 1);
        assert_eq!(topic_election(t.image(), "t"), Election::Online);
        t.set_topic_config("t", "unclean.leader.election.enable", "true");
        assert_eq!(topic_election(t.image(), "t"), Election::Unclean);
    }
}
