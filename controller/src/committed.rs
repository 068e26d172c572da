//! One committed log entry → the image: the single function both sides run.
//!
//! Controllers call it from `machine.rs` (openraft's apply); brokers call it from
//! `kraft-client`'s `MetadataCache` for every `FetchMetadata` delta. Because both run exactly
//! this code on exactly the log's bytes, a broker's image at offset N equals a controller's
//! image at offset N (SPEC §5: brokers replay the same records).

use serde::{Deserialize, Serialize};
use tracing::error;

use crate::image::MetadataImage;
use crate::records::{RecordBatch, decode_entry};

/// What applying one committed batch did, as returned to the proposer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApplyOutcome {
    /// Every record was applied.
    Applied,
    /// A guard rejected the batch; the image is unchanged except for its offset.
    Rejected {
        /// The guard that failed.
        reason: String,
    },
}

/// Applies the log entry at `offset`: `data` is the entry's encoded [`RecordBatch`] (or group
/// of batches, see [`crate::records::encode_entry`]), or `None` for an entry without a command
/// (Raft blank or membership entry). Returns the first rejection, else `Applied`.
///
/// Whatever the outcome, the image's offset becomes `offset` (a rejected or undecodable batch
/// changes nothing else, identically on every replica), unless `offset` does not exceed the
/// image's offset, which callers must prevent.
pub fn apply_entry(image: &mut MetadataImage, offset: u64, data: Option<&[u8]>) -> ApplyOutcome {
    apply_entry_all(image, offset, data)
        .into_iter()
        .find(|o| matches!(o, ApplyOutcome::Rejected { .. }))
        .unwrap_or(ApplyOutcome::Applied)
}

/// [`apply_entry`] with one outcome per batch of the entry, in order: a group entry carries
/// several requests' batches, each applied all or nothing on its own at the entry's offset.
pub fn apply_entry_all(
    image: &mut MetadataImage,
    offset: u64,
    data: Option<&[u8]>,
) -> Vec<ApplyOutcome> {
    let batches = match data.map(decode_entry) {
        None => {
            advance(image, offset);
            return vec![ApplyOutcome::Applied];
        }
        Some(Ok(batches)) => batches,
        Some(Err(e)) => {
            let reason = format!("undecodable record batch: {e}");
            error!(log_index = offset, %reason, "rejected record batch");
            advance(image, offset);
            return vec![ApplyOutcome::Rejected { reason }];
        }
    };
    if image.last_applied_offset() > 0 && offset <= image.last_applied_offset() {
        // Replayed entry: the same check `MetadataImage::apply` makes, once for the entry.
        let reason = format!(
            "offset {offset} does not exceed the last applied offset {}",
            image.last_applied_offset()
        );
        error!(log_index = offset, %reason, "rejected record batch");
        return vec![ApplyOutcome::Rejected { reason }; batches.len().max(1)];
    }
    let mut outcomes = Vec::with_capacity(batches.len());
    for batch in &batches {
        outcomes.push(match image.apply_in_entry(batch, offset) {
            Ok(()) => ApplyOutcome::Applied,
            Err(e) => {
                // Identical on every replica: the same batch fails the same guard everywhere.
                let reason = e.to_string();
                error!(log_index = offset, %reason, "rejected record batch");
                ApplyOutcome::Rejected { reason }
            }
        });
    }
    // Also for an empty group and after a rejection: the offset always moves.
    advance_in_entry(image, offset);
    outcomes
}

/// Moves the image's offset to `offset` without changing anything else.
fn advance(image: &mut MetadataImage, offset: u64) {
    if let Err(e) = image.apply(&RecordBatch::default(), offset) {
        error!(log_index = offset, error = %e, "could not advance the applied offset");
    }
}

/// [`advance`] that accepts the offset the image is already at (a group's later batches).
fn advance_in_entry(image: &mut MetadataImage, offset: u64) {
    if let Err(e) = image.apply_in_entry(&RecordBatch::default(), offset) {
        error!(log_index = offset, error = %e, "could not advance the applied offset");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{ClusterIdRecord, Record};

    use crate::handlers;
    use crate::records::{BATCH_FORMAT_BINARY, BATCH_FORMAT_GROUP, encode_entry};
    use crate::testing::{TestImage, create_req};

    #[test]
    fn a_group_entry_applies_each_batch_on_its_own_at_one_offset() {
        let mut t = TestImage::new().brokers(1..=3).unfenced(1..=3);
        let a = handlers::create_topics(&t.image, &create_req("a", 1, 3), &mut t.ctx).records;
        let c = handlers::create_topics(&t.image, &create_req("c", 2, 3), &mut t.ctx).records;
        // The second batch creates `a` again: its guard rejects it, and only it.
        let batches = [
            RecordBatch::new(a.clone()),
            RecordBatch::new(a),
            RecordBatch::new(c),
        ];
        let data = encode_entry(&batches).expect("encode");
        assert_eq!(data[0], BATCH_FORMAT_GROUP);
        assert_eq!(
            decode_entry(&data).expect("decode").as_slice(),
            batches.as_slice()
        );
        let offset = t.image.last_applied_offset() + 1;
        let mut broker = t.image.clone();

        let outcomes = apply_entry_all(&mut t.image, offset, Some(&data));
        assert_eq!(outcomes.len(), 3);
        assert_eq!(outcomes[0], ApplyOutcome::Applied);
        assert!(
            matches!(&outcomes[1], ApplyOutcome::Rejected { reason } if reason.contains('a')),
            "{outcomes:?}"
        );
        assert_eq!(outcomes[2], ApplyOutcome::Applied);
        assert!(t.image.topics().get("a").is_some() && t.image.topics().get("c").is_some());
        assert_eq!(t.image.last_applied_offset(), offset);

        // A broker replays the same bytes through `apply_entry`: same image, first rejection.
        assert_eq!(apply_entry(&mut broker, offset, Some(&data)), outcomes[1]);
        assert_eq!(broker, t.image);

        // Replaying the entry at its own offset is refused as a whole and changes nothing.
        let before = t.image.clone();
        let again = apply_entry_all(&mut t.image, offset, Some(&data));
        assert_eq!(again.len(), 3);
        assert!(
            again
                .iter()
                .all(|o| matches!(o, ApplyOutcome::Rejected { .. }))
        );
        assert_eq!(t.image, before);
    }

    #[test]
    fn a_single_batch_entry_keeps_the_plain_batch_format() {
        let batch = RecordBatch::new(vec![Record::ClusterId(ClusterIdRecord {
            cluster_id: "c".into(),
        })]);
        let data = encode_entry(std::slice::from_ref(&batch)).expect("encode");
        assert_eq!(data[0], BATCH_FORMAT_BINARY);
        assert_eq!(data, batch.encode().expect("encode"));
        assert_eq!(decode_entry(&data).expect("decode"), vec![batch]);
        let empty = encode_entry(&[]).expect("empty group");
        let mut image = MetadataImage::new();
        assert_eq!(apply_entry_all(&mut image, 4, Some(&empty)), vec![]);
        assert_eq!(image.last_applied_offset(), 4);
    }

    #[test]
    fn every_entry_kind_advances_the_offset() {
        let mut image = MetadataImage::new();
        assert_eq!(apply_entry(&mut image, 1, None), ApplyOutcome::Applied);
        assert_eq!(image.last_applied_offset(), 1);
        let batch = RecordBatch::new(vec![Record::ClusterId(ClusterIdRecord {
            cluster_id: "c".into(),
        })])
        .encode()
        .unwrap();
        assert_eq!(
            apply_entry(&mut image, 2, Some(&batch)),
            ApplyOutcome::Applied
        );
        assert_eq!(image.cluster_id(), Some("c"));
        assert!(matches!(
            apply_entry(&mut image, 3, Some(b"not json")),
            ApplyOutcome::Rejected { .. }
        ));
        assert_eq!(image.last_applied_offset(), 3);
        assert_eq!(image.cluster_id(), Some("c"));
    }
}
