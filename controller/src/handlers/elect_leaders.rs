//! ElectLeaders (Kafka apiKey 43, SPEC §2.8): preferred or unclean leader elections.

use std::collections::BTreeMap;

use super::ControllerResult;
use crate::ctx::Ctx;
use crate::error_code::ErrorCode;
use crate::ids::{BrokerId, TopicId};
use crate::image::{MetadataImage, PartitionRegistration, TopicImage};
use crate::partition_change::{Election, PartitionChange, build_partition_change, merged};
use crate::records::Record;

/// Kafka `ElectionType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElectionType {
    /// Move leadership to `replicas[0]` when it is in the ISR and active (Kafka 0).
    Preferred,
    /// Elect a leader for leaderless partitions, out of the ISR if need be (Kafka 1).
    Unclean,
}

/// Partitions of one topic, by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicPartitions {
    /// Topic name.
    pub topic: String,
    /// Partition indexes.
    pub partitions: Vec<i32>,
}

/// An admin asks for leader elections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElectLeaders {
    /// Which election.
    pub election_type: ElectionType,
    /// The partitions; `None` means every partition.
    pub topic_partitions: Option<Vec<TopicPartitions>>,
}

/// The outcome for one partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionElectionResult {
    /// Partition index.
    pub partition_id: i32,
    /// `ErrorCode::None` when a leader was elected.
    pub error_code: ErrorCode,
    /// Names the rule on failure.
    pub error_message: Option<String>,
}

/// The outcomes for one topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaElectionResult {
    /// Topic name.
    pub topic: String,
    /// Per partition.
    pub partition_results: Vec<PartitionElectionResult>,
}

/// The answer to [`ElectLeaders`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElectLeadersReply {
    /// Per topic: request order, or by name when all partitions were asked for.
    pub replica_election_results: Vec<ReplicaElectionResult>,
}

/// Handle ElectLeaders (Kafka `ReplicationControlManager.electLeaders`).
///
/// Per partition: unknown topic or partition → `UNKNOWN_TOPIC_OR_PARTITION`; PREFERRED with
/// the leader already `replicas[0]`, or UNCLEAN with a leader → `ELECTION_NOT_NEEDED`; no
/// change possible → `PREFERRED_LEADER_NOT_AVAILABLE` / `ELIGIBLE_LEADERS_NOT_AVAILABLE`;
/// otherwise one `PartitionChangeRecord` (leader epoch +1 at apply). With
/// `topic_partitions: None` every partition is tried and `ELECTION_NOT_NEEDED` results (and
/// topics left without results) are omitted.
pub fn elect_leaders(
    image: &MetadataImage,
    req: &ElectLeaders,
    _ctx: &mut Ctx,
) -> ControllerResult<ElectLeadersReply> {
    let mut e = Elector {
        image,
        election_type: req.election_type,
        working: BTreeMap::new(),
        records: Vec::new(),
    };
    let mut results = Vec::new();
    match &req.topic_partitions {
        Some(topics) => {
            for tp in topics {
                let partition_results = tp
                    .partitions
                    .iter()
                    .map(|&i| e.elect(&tp.topic, i))
                    .collect();
                results.push(ReplicaElectionResult {
                    topic: tp.topic.clone(),
                    partition_results,
                });
            }
        }
        None => {
            for topic in image.topics().iter() {
                let partition_results: Vec<_> = topic
                    .partitions
                    .keys()
                    .map(|&i| e.elect(&topic.name, i))
                    .filter(|r| r.error_code != ErrorCode::ElectionNotNeeded)
                    .collect();
                if !partition_results.is_empty() {
                    results.push(ReplicaElectionResult {
                        topic: topic.name.clone(),
                        partition_results,
                    });
                }
            }
        }
    }
    ControllerResult {
        records: e.records,
        reply: ElectLeadersReply {
            replica_election_results: results,
        },
    }
}

struct Elector<'a> {
    image: &'a MetadataImage,
    election_type: ElectionType,
    /// State after this request's earlier records (a partition listed twice).
    working: BTreeMap<(TopicId, i32), PartitionRegistration>,
    records: Vec<Record>,
}

impl Elector<'_> {
    fn elect(&mut self, topic: &str, index: i32) -> PartitionElectionResult {
        let result = |code: ErrorCode, message: Option<String>| PartitionElectionResult {
            partition_id: index,
            error_code: code,
            error_message: message,
        };
        let Some(t): Option<&TopicImage> = self.image.topic(topic) else {
            return result(
                ErrorCode::UnknownTopicOrPartition,
                Some(format!("No such topic as {topic}")),
            );
        };
        let key = (t.topic_id, index);
        let Some(p) = self
            .working
            .get(&key)
            .or_else(|| t.partitions.get(&index))
            .cloned()
        else {
            return result(
                ErrorCode::UnknownTopicOrPartition,
                Some(format!("No such partition as {topic}-{index}")),
            );
        };
        let not_needed = match self.election_type {
            ElectionType::Preferred => p.replicas.first() == Some(&p.leader),
            ElectionType::Unclean => p.leader != BrokerId::NO_LEADER,
        };
        if not_needed {
            return result(ErrorCode::ElectionNotNeeded, None);
        }
        let change = PartitionChange {
            election: match self.election_type {
                ElectionType::Preferred => Election::Preferred,
                ElectionType::Unclean => Election::Unclean,
            },
            ..PartitionChange::default()
        };
        match build_partition_change(self.image, t.topic_id, index, &p, &change) {
            Some(rec) => {
                self.working.insert(key, merged(&p, &rec));
                self.records.push(Record::PartitionChange(rec));
                result(ErrorCode::None, None)
            }
            None => match self.election_type {
                ElectionType::Preferred => result(
                    ErrorCode::PreferredLeaderNotAvailable,
                    Some(format!(
                        "Failed to elect leader for partition {topic}-{index}: preferred \
                         replica {} is not in the ISR or not active",
                        p.replicas.first().map_or(-1, |r| r.0)
                    )),
                ),
                ElectionType::Unclean => result(
                    ErrorCode::EligibleLeadersNotAvailable,
                    Some(format!(
                        "Failed to elect leader for partition {topic}-{index}: no replica is \
                         active"
                    )),
                ),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle_testing::LifecycleTest;
    use crate::records::LeaderRecoveryState;

    fn req(election_type: ElectionType, parts: &[(&str, i32)]) -> ElectLeaders {
        let mut topics: Vec<TopicPartitions> = Vec::new();
        for &(topic, p) in parts {
            match topics.iter_mut().find(|t| t.topic == topic) {
                Some(t) => t.partitions.push(p),
                None => topics.push(TopicPartitions {
                    topic: topic.into(),
                    partitions: vec![p],
                }),
            }
        }
        ElectLeaders {
            election_type,
            topic_partitions: Some(topics),
        }
    }

    fn codes(r: &ControllerResult<ElectLeadersReply>) -> Vec<(String, i32, ErrorCode)> {
        r.reply
            .replica_election_results
            .iter()
            .flat_map(|t| {
                t.partition_results
                    .iter()
                    .map(|p| (t.topic.clone(), p.partition_id, p.error_code))
            })
            .collect()
    }

    /// Brokers 1..=3; `active` unfenced. t-0 [1,2,3] led by 2 (ISR all); t-1 [1,2] led by 1;
    /// t-2 [3,2] ISR [3] leaderless.
    fn setup(active: &[i32]) -> LifecycleTest {
        let mut t = LifecycleTest::new(1..=3, active);
        t.partition("t", 0, &[1, 2, 3], &[1, 2, 3], 2);
        t.partition("t", 1, &[1, 2], &[1, 2], 1);
        t.partition("t", 2, &[3, 2], &[3], -1);
        t
    }

    #[test]
    fn preferred_election_moves_leadership_and_reports_per_partition() {
        let mut t = setup(&[1, 2, 3]);
        let r = elect_leaders(
            &t.t.image,
            &req(
                ElectionType::Preferred,
                &[("t", 0), ("t", 1), ("t", 9), ("nope", 0)],
            ),
            &mut t.t.ctx,
        );
        assert_eq!(
            codes(&r),
            vec![
                ("t".into(), 0, ErrorCode::None),
                ("t".into(), 1, ErrorCode::ElectionNotNeeded),
                ("t".into(), 9, ErrorCode::UnknownTopicOrPartition),
                ("nope".into(), 0, ErrorCode::UnknownTopicOrPartition),
            ]
        );
        t.apply(r.records);
        let p = t.image().partition("t", 0).unwrap();
        assert_eq!(p.leader, BrokerId(1));
        assert_eq!(p.leader_epoch.0, 1);
    }

    #[test]
    fn preferred_election_when_preferred_replica_is_inactive_is_not_available() {
        let mut t = setup(&[2, 3]);
        let r = elect_leaders(
            &t.t.image,
            &req(ElectionType::Preferred, &[("t", 0)]),
            &mut t.t.ctx,
        );
        assert_eq!(codes(&r)[0].2, ErrorCode::PreferredLeaderNotAvailable);
        assert!(r.records.is_empty());
    }

    #[test]
    fn unclean_election_elects_out_of_isr_replica_as_recovering() {
        let mut t = setup(&[1, 2]);
        let r = elect_leaders(
            &t.t.image,
            &req(ElectionType::Unclean, &[("t", 2), ("t", 0)]),
            &mut t.t.ctx,
        );
        assert_eq!(
            codes(&r),
            vec![
                ("t".into(), 2, ErrorCode::None),
                ("t".into(), 0, ErrorCode::ElectionNotNeeded),
            ]
        );
        t.apply(r.records);
        let p = t.image().partition("t", 2).unwrap();
        assert_eq!((p.leader, p.isr.clone()), (BrokerId(2), vec![BrokerId(2)]));
        assert_eq!(p.leader_recovery_state, LeaderRecoveryState::Recovering);
    }

    #[test]
    fn unclean_election_with_no_active_replica_is_eligible_leaders_not_available() {
        let mut t = setup(&[1]);
        let r = elect_leaders(
            &t.t.image,
            &req(ElectionType::Unclean, &[("t", 2)]),
            &mut t.t.ctx,
        );
        assert_eq!(codes(&r)[0].2, ErrorCode::EligibleLeadersNotAvailable);
    }

    #[test]
    fn election_for_all_partitions_omits_election_not_needed() {
        let mut t = setup(&[1, 2, 3]);
        let all = ElectLeaders {
            election_type: ElectionType::Preferred,
            topic_partitions: None,
        };
        let r = elect_leaders(&t.t.image, &all, &mut t.t.ctx);
        // t-0 moves to 1; t-1 already preferred (omitted); t-2 leaderless: preferred 3 in ISR.
        assert_eq!(
            codes(&r),
            vec![
                ("t".into(), 0, ErrorCode::None),
                ("t".into(), 2, ErrorCode::None)
            ]
        );
        t.apply(r.records);
        let r = elect_leaders(&t.t.image, &all, &mut t.t.ctx);
        assert!(r.reply.replica_election_results.is_empty());
        assert!(r.records.is_empty());
    }

    #[test]
    fn a_partition_listed_twice_is_elected_once() {
        let mut t = setup(&[1, 2, 3]);
        let r = elect_leaders(
            &t.t.image,
            &req(ElectionType::Preferred, &[("t", 0), ("t", 0)]),
            &mut t.t.ctx,
        );
        assert_eq!(codes(&r)[1].2, ErrorCode::ElectionNotNeeded);
        assert_eq!(r.records.len(), 1);
        t.apply(r.records);
    }
}
