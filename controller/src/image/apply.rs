//! `MetadataImage::apply`: committed batch → image, all or nothing.
//!
//! Records are applied in order, in place; each mutation first pushes an [`Undo`] entry.
//! If any record's guard fails, the undo log is replayed backwards and the image is exactly
//! as before. This costs only what the batch touches (cloning the image per batch would
//! cost the whole image every 500 ms NoOp).

use std::collections::BTreeMap;

use super::topics::Taken;
use super::{BrokerRegistration, MetadataImage, PartitionRegistration, Partitions, TopicImage};
use crate::error::ApplyError;
use crate::ids::{BrokerEpoch, BrokerId, LeaderEpoch, PartitionEpoch, TopicId};
use crate::records::{
    BrokerRegistrationChangeRecord, ConfigRecord, ConfigResourceType, Record, RecordBatch,
    RecordKind, RegisterBrokerRecord,
};

/// How to reverse one mutation.
enum Undo {
    ClusterId(Option<String>),
    Broker(BrokerId, Option<BrokerRegistration>),
    TopicInserted(String),
    TopicRemoved(TopicImage),
    Partition {
        topic_id: TopicId,
        partition_id: i32,
        prev: Option<PartitionRegistration>,
    },
    Config {
        resource_type: ConfigResourceType,
        resource_name: String,
        name: String,
        prev: Option<String>,
    },
    ConfigResource {
        resource_type: ConfigResourceType,
        resource_name: String,
        prev: Option<BTreeMap<String, String>>,
    },
    Feature(String, Option<i16>),
    ProducerIds(super::ProducerIdsImage),
}

impl MetadataImage {
    /// Apply a committed batch found at Raft log index `offset`.
    ///
    /// All or nothing: on `Err` the image is unchanged (including `last_applied_offset`);
    /// on `Ok` every record is applied and `last_applied_offset = offset` (also for an
    /// empty or NoOp-only batch). Guards (documented on each record type) make a stale batch
    /// fail identically on every replica. A new broker incarnation gets
    /// `broker_epoch = offset`.
    ///
    /// `offset` must exceed `last_applied_offset`, except that a fresh image (offset 0)
    /// accepts offset 0.
    pub fn apply(&mut self, batch: &RecordBatch, offset: u64) -> Result<(), ApplyError> {
        if self.last_applied_offset > 0 && offset <= self.last_applied_offset {
            return Err(ApplyError::OffsetNotIncreasing {
                offset,
                last_applied: self.last_applied_offset,
            });
        }
        self.apply_in_entry(batch, offset)
    }

    /// [`MetadataImage::apply`] for one batch of a group entry: `offset` may equal
    /// `last_applied_offset` (an earlier batch of the same entry), never be below it.
    pub fn apply_in_entry(&mut self, batch: &RecordBatch, offset: u64) -> Result<(), ApplyError> {
        if offset < self.last_applied_offset {
            return Err(ApplyError::OffsetNotIncreasing {
                offset,
                last_applied: self.last_applied_offset,
            });
        }
        let mut undo = Vec::new();
        for record in &batch.records {
            if let Err(e) = self.apply_record(record, offset, &mut undo) {
                self.rollback(undo);
                tracing::warn!(offset, error = %e, "rejected stale metadata batch");
                return Err(e);
            }
        }
        self.last_applied_offset = offset;
        Ok(())
    }

    /// Check one record's guards, then mutate, logging undo entries. A record either fails
    /// before mutating anything or succeeds.
    fn apply_record(
        &mut self,
        record: &Record,
        offset: u64,
        undo: &mut Vec<Undo>,
    ) -> Result<(), ApplyError> {
        match record {
            Record::RegisterBroker(r) => self.apply_register_broker(r, offset, undo),
            Record::UnregisterBroker(r) => {
                self.check_broker_epoch(RecordKind::UnregisterBroker, r.broker_id, r.broker_epoch)?;
                let prev = self.cluster.brokers.remove(&r.broker_id);
                undo.push(Undo::Broker(r.broker_id, prev));
                Ok(())
            }
            Record::BrokerRegistrationChange(r) => self.apply_broker_change(r, undo),
            Record::Topic(r) => {
                let topic = TopicImage {
                    name: r.name.clone(),
                    topic_id: r.topic_id,
                    partitions: Partitions::new(),
                };
                match self.topics.try_insert(topic) {
                    Ok(()) => {
                        undo.push(Undo::TopicInserted(r.name.clone()));
                        Ok(())
                    }
                    Err(Taken::Name) => Err(ApplyError::TopicExists {
                        name: r.name.clone(),
                    }),
                    Err(Taken::CollidesWith(existing)) => Err(ApplyError::TopicNameCollision {
                        name: r.name.clone(),
                        existing,
                    }),
                    Err(Taken::Id(existing)) => Err(ApplyError::TopicIdExists {
                        topic_id: r.topic_id,
                        existing,
                    }),
                }
            }
            Record::Partition(r) => {
                let t = self.topic_mut(RecordKind::Partition, r.topic_id)?;
                if t.partitions.contains_key(&r.partition_id) {
                    return Err(ApplyError::PartitionExists {
                        topic_id: r.topic_id,
                        partition_id: r.partition_id,
                    });
                }
                t.partitions.insert(
                    r.partition_id,
                    PartitionRegistration {
                        replicas: r.replicas.clone(),
                        isr: r.isr.clone(),
                        removing_replicas: r.removing_replicas.clone(),
                        adding_replicas: r.adding_replicas.clone(),
                        leader: r.leader,
                        leader_recovery_state: r.leader_recovery_state,
                        leader_epoch: r.leader_epoch,
                        partition_epoch: r.partition_epoch,
                    },
                );
                undo.push(Undo::Partition {
                    topic_id: r.topic_id,
                    partition_id: r.partition_id,
                    prev: None,
                });
                Ok(())
            }
            Record::PartitionChange(r) => {
                let t = self.topic_mut(RecordKind::PartitionChange, r.topic_id)?;
                let p =
                    t.partitions
                        .get_mut(&r.partition_id)
                        .ok_or(ApplyError::UnknownPartition {
                            record: RecordKind::PartitionChange,
                            topic_id: r.topic_id,
                            partition_id: r.partition_id,
                        })?;
                if let Some(expected) = r.expected_partition_epoch
                    && expected != p.partition_epoch
                {
                    return Err(ApplyError::StalePartitionEpoch {
                        topic_id: r.topic_id,
                        partition_id: r.partition_id,
                        record_epoch: expected,
                        current_epoch: p.partition_epoch,
                    });
                }
                let prev = p.clone();
                if let Some(isr) = &r.isr {
                    p.isr = isr.clone();
                }
                if let Some(replicas) = &r.replicas {
                    p.replicas = replicas.clone();
                }
                if let Some(removing) = &r.removing_replicas {
                    p.removing_replicas = removing.clone();
                }
                if let Some(adding) = &r.adding_replicas {
                    p.adding_replicas = adding.clone();
                }
                if let Some(state) = r.leader_recovery_state {
                    p.leader_recovery_state = state;
                }
                // SPEC §1.2 apiKey 5: partition epoch on every change, leader epoch iff the
                // leader field is present.
                if let Some(leader) = r.leader {
                    p.leader = leader;
                    p.leader_epoch = LeaderEpoch(p.leader_epoch.0.saturating_add(1));
                }
                p.partition_epoch = PartitionEpoch(p.partition_epoch.0.saturating_add(1));
                undo.push(Undo::Partition {
                    topic_id: r.topic_id,
                    partition_id: r.partition_id,
                    prev: Some(prev),
                });
                Ok(())
            }
            Record::RemoveTopic(r) => {
                let name = self.topic_name_of(RecordKind::RemoveTopic, r.topic_id)?;
                let prev_configs =
                    self.configs
                        .replace_resource(ConfigResourceType::Topic, &name, None);
                undo.push(Undo::ConfigResource {
                    resource_type: ConfigResourceType::Topic,
                    resource_name: name.clone(),
                    prev: prev_configs,
                });
                if let Some(topic) = self.topics.remove(&name) {
                    undo.push(Undo::TopicRemoved(topic));
                }
                Ok(())
            }
            Record::Config(r) => self.apply_config(r, undo),
            Record::FeatureLevel(r) => {
                if r.level < 0 {
                    return Err(ApplyError::NegativeFeatureLevel {
                        name: r.name.clone(),
                        level: r.level,
                    });
                }
                let prev = if r.level == 0 {
                    self.features.levels.remove(&r.name)
                } else {
                    self.features.levels.insert(r.name.clone(), r.level)
                };
                undo.push(Undo::Feature(r.name.clone(), prev));
                Ok(())
            }
            Record::ClusterId(r) => {
                if let Some(current) = &self.cluster.cluster_id {
                    return Err(ApplyError::ClusterIdAlreadySet {
                        current: current.clone(),
                        proposed: r.cluster_id.clone(),
                    });
                }
                self.cluster.cluster_id = Some(r.cluster_id.clone());
                undo.push(Undo::ClusterId(None));
                Ok(())
            }
            Record::ProducerIds(r) => {
                self.check_broker_epoch(RecordKind::ProducerIds, r.broker_id, r.broker_epoch)?;
                let current = self.producer_ids.next_producer_id;
                if r.next_producer_id <= current {
                    return Err(ApplyError::ProducerIdsNotIncreasing {
                        next_producer_id: r.next_producer_id,
                        current,
                    });
                }
                let prev = std::mem::replace(
                    &mut self.producer_ids,
                    super::ProducerIdsImage {
                        next_producer_id: r.next_producer_id,
                        last_broker_id: Some(r.broker_id),
                    },
                );
                undo.push(Undo::ProducerIds(prev));
                Ok(())
            }
            Record::NoOp => Ok(()),
        }
    }

    fn apply_register_broker(
        &mut self,
        r: &RegisterBrokerRecord,
        offset: u64,
        undo: &mut Vec<Undo>,
    ) -> Result<(), ApplyError> {
        let existing = self.cluster.brokers.get(&r.broker_id);
        let registration = match existing {
            // Same incarnation: an amendment keeps epoch and state (SPEC §2.1 rule 5).
            Some(e) if e.incarnation_id == r.incarnation_id => BrokerRegistration {
                listeners: r.listeners.clone(),
                rack: r.rack.clone(),
                features: r.features.clone(),
                registered_offset: offset,
                ..e.clone()
            },
            _ => {
                let epoch = i64::try_from(offset).map_err(|_| ApplyError::OffsetOutOfRange {
                    record: RecordKind::RegisterBroker,
                    offset,
                })?;
                BrokerRegistration {
                    broker_id: r.broker_id,
                    incarnation_id: r.incarnation_id,
                    broker_epoch: BrokerEpoch(epoch),
                    listeners: r.listeners.clone(),
                    rack: r.rack.clone(),
                    features: r.features.clone(),
                    fenced: r.fenced,
                    in_controlled_shutdown: false,
                    registered_offset: offset,
                }
            }
        };
        let prev = self.cluster.brokers.insert(r.broker_id, registration);
        undo.push(Undo::Broker(r.broker_id, prev));
        Ok(())
    }

    fn apply_broker_change(
        &mut self,
        r: &BrokerRegistrationChangeRecord,
        undo: &mut Vec<Undo>,
    ) -> Result<(), ApplyError> {
        self.check_broker_epoch(
            RecordKind::BrokerRegistrationChange,
            r.broker_id,
            r.broker_epoch,
        )?;
        let Some(b) = self.cluster.brokers.get_mut(&r.broker_id) else {
            return Err(ApplyError::UnknownBroker {
                record: RecordKind::BrokerRegistrationChange,
                broker_id: r.broker_id,
            });
        };
        let prev = b.clone();
        if let Some(fenced) = r.fenced {
            b.fenced = fenced;
        }
        if let Some(shutdown) = r.in_controlled_shutdown {
            b.in_controlled_shutdown = shutdown;
        }
        undo.push(Undo::Broker(r.broker_id, Some(prev)));
        Ok(())
    }

    fn apply_config(&mut self, r: &ConfigRecord, undo: &mut Vec<Undo>) -> Result<(), ApplyError> {
        if r.resource_type == ConfigResourceType::Topic
            && !self.topics.contains_name(&r.resource_name)
        {
            return Err(ApplyError::UnknownTopicName {
                record: RecordKind::Config,
                name: r.resource_name.clone(),
            });
        }
        let prev = self
            .configs
            .set(r.resource_type, &r.resource_name, &r.name, r.value.clone());
        undo.push(Undo::Config {
            resource_type: r.resource_type,
            resource_name: r.resource_name.clone(),
            name: r.name.clone(),
            prev,
        });
        Ok(())
    }

    fn check_broker_epoch(
        &self,
        record: RecordKind,
        broker_id: BrokerId,
        record_epoch: BrokerEpoch,
    ) -> Result<(), ApplyError> {
        let b = self
            .cluster
            .brokers
            .get(&broker_id)
            .ok_or(ApplyError::UnknownBroker { record, broker_id })?;
        if b.broker_epoch != record_epoch {
            return Err(ApplyError::StaleBrokerEpoch {
                record,
                broker_id,
                record_epoch,
                current_epoch: b.broker_epoch,
            });
        }
        Ok(())
    }

    fn topic_mut(
        &mut self,
        record: RecordKind,
        topic_id: TopicId,
    ) -> Result<&mut TopicImage, ApplyError> {
        self.topics
            .get_mut_by_id(topic_id)
            .ok_or(ApplyError::UnknownTopicId { record, topic_id })
    }

    fn topic_name_of(&self, record: RecordKind, topic_id: TopicId) -> Result<String, ApplyError> {
        self.topics
            .name_of(topic_id)
            .map(str::to_string)
            .ok_or(ApplyError::UnknownTopicId { record, topic_id })
    }

    fn rollback(&mut self, undo: Vec<Undo>) {
        for u in undo.into_iter().rev() {
            match u {
                Undo::ClusterId(prev) => self.cluster.cluster_id = prev,
                Undo::Broker(id, Some(prev)) => {
                    self.cluster.brokers.insert(id, prev);
                }
                Undo::Broker(id, None) => {
                    self.cluster.brokers.remove(&id);
                }
                Undo::TopicInserted(name) => {
                    self.topics.remove(&name);
                }
                Undo::TopicRemoved(topic) => self.topics.insert(topic),
                Undo::Partition {
                    topic_id,
                    partition_id,
                    prev,
                } => {
                    if let Some(t) = self.topics.get_mut_by_id(topic_id) {
                        match prev {
                            Some(p) => t.partitions.insert(partition_id, p),
                            None => t.partitions.remove(&partition_id),
                        };
                    }
                }
                Undo::Config {
                    resource_type,
                    resource_name,
                    name,
                    prev,
                } => {
                    self.configs.set(resource_type, &resource_name, &name, prev);
                }
                Undo::ConfigResource {
                    resource_type,
                    resource_name,
                    prev,
                } => {
                    self.configs
                        .replace_resource(resource_type, &resource_name, prev);
                }
                Undo::Feature(name, Some(level)) => {
                    self.features.levels.insert(name, level);
                }
                Undo::Feature(name, None) => {
                    self.features.levels.remove(&name);
                }
                Undo::ProducerIds(prev) => self.producer_ids = prev,
            }
        }
    }
}

#[cfg(test)]
#[path = "apply_test.rs"]
mod tests;
