//! One committed log entry → the image: the single function both sides run.
//!
//! Controllers call it from `machine.rs` (openraft's apply); brokers call it from
//! `kraft-client`'s `MetadataCache` for every `FetchMetadata` delta. Because both run exactly
//! this code on exactly the log's bytes, a broker's image at offset N equals a controller's
//! image at offset N (SPEC §5: brokers replay the same records).

use serde::{Deserialize, Serialize};
use tracing::error;

use crate::image::MetadataImage;
use crate::records::RecordBatch;

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

/// Applies the log entry at `offset`: `data` is the entry's encoded [`RecordBatch`], or `None`
/// for an entry without a command (Raft blank or membership entry).
///
/// Whatever the outcome, the image's offset becomes `offset` (a rejected or undecodable batch
/// changes nothing else, identically on every replica), unless `offset` does not exceed the
/// image's offset, which callers must prevent.
pub fn apply_entry(image: &mut MetadataImage, offset: u64, data: Option<&[u8]>) -> ApplyOutcome {
    let outcome = match data.map(RecordBatch::decode) {
        None => {
            advance(image, offset);
            return ApplyOutcome::Applied;
        }
        Some(Ok(batch)) => match image.apply(&batch, offset) {
            Ok(()) => ApplyOutcome::Applied,
            Err(e) => ApplyOutcome::Rejected {
                reason: e.to_string(),
            },
        },
        Some(Err(e)) => ApplyOutcome::Rejected {
            reason: format!("undecodable record batch: {e}"),
        },
    };
    if let ApplyOutcome::Rejected { reason } = &outcome {
        // Identical on every replica: the same batch fails the same guard everywhere.
        error!(log_index = offset, %reason, "rejected record batch");
        advance(image, offset);
    }
    outcome
}

/// Moves the image's offset to `offset` without changing anything else.
fn advance(image: &mut MetadataImage, offset: u64) {
    if let Err(e) = image.apply(&RecordBatch::default(), offset) {
        error!(log_index = offset, error = %e, "could not advance the applied offset");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{ClusterIdRecord, Record};

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
