//! Test support for broker lifecycle and partition state: a [`TestImage`] plus the leader's
//! soft state ([`BrokerHeartbeatManager`]) and partitions with chosen replicas, ISR and
//! leader (written as real records, like Kafka's `ReplicationControlTestContext`).

use uuid::Uuid;

use crate::heartbeats::BrokerHeartbeatManager;
use crate::ids::{BrokerId, LeaderEpoch, PartitionEpoch, TopicId};
use crate::image::{BrokerRegistration, MetadataImage};
use crate::records::{
    ConfigRecord, ConfigResourceType, LeaderRecoveryState, PartitionRecord, Record, TopicRecord,
};
use crate::testing::TestImage;

/// Broker ids from plain integers.
pub(crate) fn ids(v: &[i32]) -> Vec<BrokerId> {
    v.iter().copied().map(BrokerId).collect()
}

/// An image, a ctx and the heartbeat manager of the active controller.
pub(crate) struct LifecycleTest {
    pub t: TestImage,
    pub hb: BrokerHeartbeatManager,
    topics: u128,
}

impl LifecycleTest {
    /// Register `brokers`, unfence `active`, and activate the heartbeat manager at time 0.
    pub fn new(brokers: impl IntoIterator<Item = i32>, active: &[i32]) -> Self {
        let t = TestImage::new()
            .brokers(brokers)
            .unfenced(active.iter().copied());
        let mut hb = BrokerHeartbeatManager::default();
        hb.activate(&t.image, 0);
        LifecycleTest { t, hb, topics: 0 }
    }

    /// The image.
    pub fn image(&self) -> &MetadataImage {
        &self.t.image
    }

    /// A copy of broker `id`'s registration.
    pub fn broker(&self, id: i32) -> BrokerRegistration {
        self.t
            .image
            .broker(BrokerId(id))
            .expect("registered")
            .clone()
    }

    /// Set the handler clock.
    pub fn at(&mut self, now_ms: i64) -> &mut Self {
        self.t.ctx.set_now_ms(now_ms);
        self
    }

    /// Apply `records` as one batch; returns its offset.
    pub fn apply(&mut self, records: Vec<Record>) -> u64 {
        self.t.apply_all(&records)
    }

    /// Create partition `index` of `topic` (creating the topic if needed) with exactly
    /// this state; `leader` -1 means none.
    pub fn partition(
        &mut self,
        topic: &str,
        index: i32,
        replicas: &[i32],
        isr: &[i32],
        leader: i32,
    ) {
        let mut records = Vec::new();
        let topic_id = match self.t.image.topic(topic) {
            Some(t) => t.topic_id,
            None => {
                self.topics += 1;
                let topic_id = TopicId(Uuid::from_u128(0x7000 + self.topics));
                records.push(Record::Topic(TopicRecord {
                    name: topic.into(),
                    topic_id,
                }));
                topic_id
            }
        };
        records.push(Record::Partition(PartitionRecord {
            topic_id,
            partition_id: index,
            replicas: ids(replicas),
            isr: ids(isr),
            leader: BrokerId(leader),
            leader_epoch: LeaderEpoch(0),
            partition_epoch: PartitionEpoch(0),
            leader_recovery_state: LeaderRecoveryState::Recovered,
            adding_replicas: Vec::new(),
            removing_replicas: Vec::new(),
        }));
        self.apply(records);
    }

    /// Set a topic config key.
    pub fn set_topic_config(&mut self, topic: &str, key: &str, value: &str) {
        self.apply(vec![Record::Config(ConfigRecord {
            resource_type: ConfigResourceType::Topic,
            resource_name: topic.into(),
            name: key.into(),
            value: Some(value.into()),
        })]);
    }

    /// (leader, isr) of `topic`-`index` as plain integers.
    pub fn leader_isr(&self, topic: &str, index: i32) -> (i32, Vec<i32>) {
        let p = self.t.image.partition(topic, index).expect("partition");
        (p.leader.0, p.isr.iter().map(|b| b.0).collect())
    }
}
