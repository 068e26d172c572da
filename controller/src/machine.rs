//! The metadata image as the Raft state machine: how committed log entries reach
//! [`MetadataImage::apply`] (through [`crate::committed::apply_entry`], which brokers run too).

use std::io;

use kraft_storage::{Command, CommandReply, Machine};

pub use crate::committed::ApplyOutcome;
use crate::committed::apply_entry;
use crate::image::MetadataImage;

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
        reply(&apply_entry(self, log_index, Some(&command.data)))
    }

    fn apply_blank(&mut self, log_index: u64) {
        apply_entry(self, log_index, None);
    }

    fn encode(&self) -> Result<Vec<u8>, io::Error> {
        MetadataImage::encode(self).map_err(io::Error::other)
    }

    fn restore(&mut self, data: &[u8]) -> Result<(), io::Error> {
        *self = MetadataImage::decode(data).map_err(io::Error::other)?;
        Ok(())
    }
}
