//! The metadata image as the Raft state machine: how committed log entries reach
//! [`MetadataImage::apply`].

use std::io;

use kraft_storage::{Command, CommandReply, Machine};
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

impl ApplyOutcome {
    /// Decodes a reply produced by [`Machine::apply`] below.
    pub fn decode(reply: &CommandReply) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(&reply.data)
    }
}

fn reply(outcome: &ApplyOutcome) -> CommandReply {
    // Encoding a two-variant enum of a string cannot fail; fall back to an empty reply rather
    // than panic inside apply.
    CommandReply {
        data: serde_json::to_vec(outcome).unwrap_or_default(),
    }
}

impl Machine for MetadataImage {
    fn apply(&mut self, log_index: u64, command: &Command) -> CommandReply {
        let outcome = match RecordBatch::decode(&command.data) {
            Ok(batch) => match MetadataImage::apply(self, &batch, log_index) {
                Ok(()) => ApplyOutcome::Applied,
                Err(e) => ApplyOutcome::Rejected {
                    reason: e.to_string(),
                },
            },
            Err(e) => ApplyOutcome::Rejected {
                reason: format!("undecodable record batch: {e}"),
            },
        };
        if let ApplyOutcome::Rejected { reason } = &outcome {
            // Identical on every replica: the same batch fails the same guard everywhere.
            error!(log_index, %reason, "rejected record batch");
            self.apply_blank(log_index);
        }
        reply(&outcome)
    }

    fn apply_blank(&mut self, log_index: u64) {
        if let Err(e) = MetadataImage::apply(self, &RecordBatch::default(), log_index) {
            error!(log_index, error = %e, "could not advance the applied offset");
        }
    }

    fn encode(&self) -> Result<Vec<u8>, io::Error> {
        MetadataImage::encode(self).map_err(io::Error::other)
    }

    fn restore(&mut self, data: &[u8]) -> Result<(), io::Error> {
        *self = MetadataImage::decode(data).map_err(io::Error::other)?;
        Ok(())
    }
}
