//! AllocateProducerIds (Kafka apiKey 67, SPEC §2.12).

use super::ControllerResult;
use crate::error_code::ErrorCode;
use crate::ids::{BrokerEpoch, BrokerId};
use crate::image::MetadataImage;
use crate::records::{ProducerIdsRecord, Record};

/// Kafka's `ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE`.
pub const PRODUCER_ID_BLOCK_SIZE: i32 = 1000;

/// An AllocateProducerIds request, sent by a broker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllocateProducerIds {
    /// The broker.
    pub broker_id: BrokerId,
    /// Its current epoch.
    pub broker_epoch: BrokerEpoch,
}

/// The answer to [`AllocateProducerIds`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllocateProducerIdsReply {
    /// `ErrorCode::None` on success.
    pub error_code: ErrorCode,
    /// Names the field and the rule on failure.
    pub error_message: Option<String>,
    /// First id of the block; -1 on failure.
    pub producer_id_start: i64,
    /// Block length; 0 on failure.
    pub producer_id_len: i32,
}

/// Handle AllocateProducerIds (Kafka `ProducerIdControlManager.generateNextProducerId`).
///
/// 1. broker not registered, or `broker_epoch` not its current epoch → `STALE_BROKER_EPOCH`;
/// 2. the block's end would pass `i64::MAX` → `UNKNOWN_SERVER_ERROR`.
///
/// Otherwise the block `[next, next + 1000)` where `next` is the image's next producer id,
/// and one `ProducerIds` record with `next_producer_id = next + 1000`. Because the image
/// holds `next`, blocks are disjoint across calls, restarts and failovers; apply rejects a
/// record that does not move `next` forward, so two racing allocations cannot both commit.
pub fn allocate_producer_ids(
    image: &MetadataImage,
    req: &AllocateProducerIds,
) -> ControllerResult<AllocateProducerIdsReply> {
    let fail = |error_code, message: String| {
        ControllerResult::reply_only(AllocateProducerIdsReply {
            error_code,
            error_message: Some(message),
            producer_id_start: -1,
            producer_id_len: 0,
        })
    };
    let Some(b) = image.broker(req.broker_id) else {
        return fail(
            ErrorCode::StaleBrokerEpoch,
            format!("No broker registration found for broker {}", req.broker_id),
        );
    };
    if b.broker_epoch != req.broker_epoch {
        return fail(
            ErrorCode::StaleBrokerEpoch,
            format!(
                "Expected broker epoch {}, but got broker epoch {}",
                b.broker_epoch, req.broker_epoch
            ),
        );
    }
    let start = image.producer_ids().next_producer_id();
    let Some(next) = start.checked_add(i64::from(PRODUCER_ID_BLOCK_SIZE)) else {
        return fail(
            ErrorCode::UnknownServerError,
            "Exhausted all producerIds as the next block's end producerId has exceeded the \
             int64 type limit"
                .to_string(),
        );
    };
    ControllerResult {
        records: vec![Record::ProducerIds(ProducerIdsRecord {
            broker_id: req.broker_id,
            broker_epoch: req.broker_epoch,
            next_producer_id: next,
        })],
        reply: AllocateProducerIdsReply {
            error_code: ErrorCode::None,
            error_message: None,
            producer_id_start: start,
            producer_id_len: PRODUCER_ID_BLOCK_SIZE,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApplyError;
    use crate::image::MetadataImage;
    use crate::testing::TestImage;

    fn req_for(t: &TestImage, id: i32) -> AllocateProducerIds {
        AllocateProducerIds {
            broker_id: BrokerId(id),
            broker_epoch: t.image.broker(BrokerId(id)).unwrap().broker_epoch,
        }
    }

    #[test]
    fn allocate_producer_ids_hands_out_consecutive_disjoint_blocks() {
        let mut t = TestImage::new().brokers(1..=2).unfenced(1..=2);
        let mut starts = Vec::new();
        for id in [1, 2, 1] {
            let r = allocate_producer_ids(&t.image, &req_for(&t, id));
            assert_eq!(r.reply.error_code, ErrorCode::None);
            assert_eq!(r.reply.producer_id_len, 1000);
            starts.push(r.reply.producer_id_start);
            t.apply_all(&r.records);
        }
        assert_eq!(starts, vec![0, 1000, 2000]);
        assert_eq!(t.image.producer_ids().next_producer_id(), 3000);
        assert_eq!(t.image.producer_ids().last_broker_id(), Some(BrokerId(1)));
    }

    #[test]
    fn allocate_producer_ids_rejects_stale_or_unknown_broker() {
        let t = TestImage::new().brokers(1..=1);
        let mut req = req_for(&t, 1);
        req.broker_epoch = BrokerEpoch(req.broker_epoch.0 + 100);
        let r = allocate_producer_ids(&t.image, &req);
        assert_eq!(r.reply.error_code, ErrorCode::StaleBrokerEpoch);
        assert!(
            r.reply
                .error_message
                .unwrap()
                .contains("Expected broker epoch")
        );
        assert!(r.records.is_empty());
        req.broker_id = BrokerId(9);
        let r = allocate_producer_ids(&t.image, &req);
        assert_eq!(r.reply.error_code, ErrorCode::StaleBrokerEpoch);
        assert_eq!(r.reply.producer_id_start, -1);
    }

    #[test]
    fn allocate_producer_ids_reports_exhaustion() {
        let mut t = TestImage::new().brokers(1..=1);
        let epoch = t.image.broker(BrokerId(1)).unwrap().broker_epoch;
        t.apply_all(&[Record::ProducerIds(ProducerIdsRecord {
            broker_id: BrokerId(1),
            broker_epoch: epoch,
            next_producer_id: i64::MAX - 10,
        })]);
        let r = allocate_producer_ids(&t.image, &req_for(&t, 1));
        assert_eq!(r.reply.error_code, ErrorCode::UnknownServerError);
        assert!(r.records.is_empty());
    }

    #[test]
    fn producer_ids_replay_requires_strictly_increasing_next_id() {
        let mut t = TestImage::new().brokers(1..=1);
        let r1 = allocate_producer_ids(&t.image, &req_for(&t, 1));
        // Two allocations computed from the same image: only the first may commit.
        let r2 = allocate_producer_ids(&t.image, &req_for(&t, 1));
        t.apply_all(&r1.records);
        let before = t.image.clone();
        assert!(matches!(
            t.try_apply(&r2.records),
            Err(ApplyError::ProducerIdsNotIncreasing {
                next_producer_id: 1000,
                current: 1000
            })
        ));
        assert_eq!(t.image, before);
    }

    #[test]
    fn producer_ids_record_with_stale_broker_epoch_is_rejected() {
        let mut t = TestImage::new().brokers(1..=1);
        let epoch = t.image.broker(BrokerId(1)).unwrap().broker_epoch;
        let stale = Record::ProducerIds(ProducerIdsRecord {
            broker_id: BrokerId(1),
            broker_epoch: BrokerEpoch(epoch.0 + 1),
            next_producer_id: 1000,
        });
        assert!(matches!(
            t.try_apply(&[stale]),
            Err(ApplyError::StaleBrokerEpoch { .. })
        ));
    }

    #[test]
    fn producer_ids_survive_a_snapshot() {
        let mut t = TestImage::new().brokers(1..=1);
        let r = allocate_producer_ids(&t.image, &req_for(&t, 1));
        t.apply_all(&r.records);
        let restored = MetadataImage::decode(&t.image.encode().unwrap()).unwrap();
        assert_eq!(restored.producer_ids().next_producer_id(), 1000);
        let r = allocate_producer_ids(&restored, &req_for(&t, 1));
        assert_eq!(r.reply.producer_id_start, 1000);
    }
}
