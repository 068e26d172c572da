//! Test support: a [`TestImage`] built by applying real records, like Kafka's
//! `ReplicationControlTestContext` (STYLE §3).

use uuid::Uuid;

use crate::ErrorCode;
use crate::ctx::Ctx;
use crate::error::ApplyError;
use crate::handlers::{
    BrokerHeartbeat, CreatableTopic, CreateTopics, RegisterBroker, broker_heartbeat,
    register_broker,
};
use crate::ids::BrokerId;
use crate::image::{BrokerRegistration, MetadataImage};
use crate::records::{ClusterIdRecord, Listener, Record, RecordBatch};

/// The cluster id every [`TestImage::new`] image has.
pub(crate) const CLUSTER_ID: &str = "kraftd-test-cluster";

/// An image plus a seeded ctx; every change goes through handlers and `apply`.
pub(crate) struct TestImage {
    pub image: MetadataImage,
    pub ctx: Ctx,
    next_offset: u64,
}

impl TestImage {
    /// An image whose only record is the cluster id; ctx seeded with 7.
    pub fn new() -> Self {
        let mut t = Self::without_cluster_id();
        t.apply_all(&[Record::ClusterId(ClusterIdRecord {
            cluster_id: CLUSTER_ID.into(),
        })]);
        t
    }

    /// An empty image (no cluster id yet).
    pub fn without_cluster_id() -> Self {
        TestImage {
            image: MetadataImage::new(),
            ctx: Ctx::new(7, 0),
            next_offset: 1,
        }
    }

    /// Reseed the ctx.
    pub fn seed(mut self, seed: u64) -> Self {
        self.ctx = Ctx::new(seed, 0);
        self
    }

    /// The incarnation id [`TestImage::brokers`] registers broker `id` with.
    pub fn incarnation(&self, id: i32) -> Uuid {
        Uuid::from_u128(0x1000 + id as u128)
    }

    /// Register these brokers (fenced) through the handler.
    pub fn brokers(mut self, ids: impl IntoIterator<Item = i32>) -> Self {
        for id in ids {
            let req = register_req(id, self.incarnation(id));
            self.register(req);
        }
        self
    }

    /// Register broker `id` on `rack` (fenced).
    pub fn broker_on_rack(mut self, id: i32, rack: &str) -> Self {
        let mut req = register_req(id, self.incarnation(id));
        req.rack = Some(rack.into());
        self.register(req);
        self
    }

    fn register(&mut self, req: RegisterBroker) {
        let r = register_broker(&self.image, &req, &mut self.ctx);
        assert_eq!(r.reply.error_code, ErrorCode::None, "{:?}", r.reply);
        self.apply_all(&r.records);
    }

    /// Unfence these registered brokers with a caught-up heartbeat.
    pub fn unfenced(mut self, ids: impl IntoIterator<Item = i32>) -> Self {
        for id in ids {
            let b = self.image.broker(BrokerId(id)).expect("registered").clone();
            let req = heartbeat_req(&b, self.image.last_applied_offset() as i64, false);
            let r = broker_heartbeat(&self.image, &req, &mut self.ctx);
            assert!(!r.reply.is_fenced, "{:?}", r.reply);
            self.apply_all(&r.records);
        }
        self
    }

    /// Apply `records` as one batch at the next offset; panics if a guard fails.
    pub fn apply_all(&mut self, records: &[Record]) -> u64 {
        self.try_apply(records).expect("batch applies")
    }

    /// Apply `records` as one batch at the next offset.
    pub fn try_apply(&mut self, records: &[Record]) -> Result<u64, ApplyError> {
        let offset = self.next_offset;
        self.image
            .apply(&RecordBatch::new(records.to_vec()), offset)?;
        self.next_offset += 1;
        Ok(offset)
    }
}

/// A PLAINTEXT listener on localhost.
pub(crate) fn listener(name: &str, port: u16) -> Listener {
    Listener {
        name: name.into(),
        host: "localhost".into(),
        port,
        security_protocol: "PLAINTEXT".into(),
    }
}

/// A valid registration of `id` for [`CLUSTER_ID`].
pub(crate) fn register_req(id: i32, incarnation_id: Uuid) -> RegisterBroker {
    RegisterBroker {
        broker_id: BrokerId(id),
        cluster_id: CLUSTER_ID.into(),
        incarnation_id,
        listeners: vec![listener("PLAINTEXT", 9092)],
        rack: None,
        features: Vec::new(),
    }
}

/// A heartbeat from `b` at metadata offset `offset`.
pub(crate) fn heartbeat_req(
    b: &BrokerRegistration,
    offset: i64,
    want_fence: bool,
) -> BrokerHeartbeat {
    BrokerHeartbeat {
        broker_id: b.broker_id,
        broker_epoch: b.broker_epoch,
        current_metadata_offset: offset,
        want_fence,
        want_shutdown: false,
    }
}

/// Create one topic with no configs.
pub(crate) fn create_req(name: &str, num_partitions: i32, replication_factor: i16) -> CreateTopics {
    CreateTopics {
        topics: vec![topic(name, num_partitions, replication_factor)],
        validate_only: false,
    }
}

/// One creatable topic with no configs.
pub(crate) fn topic(name: &str, num_partitions: i32, replication_factor: i16) -> CreatableTopic {
    CreatableTopic {
        name: name.into(),
        num_partitions,
        replication_factor,
        configs: Vec::new(),
    }
}
