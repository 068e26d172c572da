//! The metadata image as the Raft state machine: how committed log entries reach
//! [`MetadataImage::apply`] (through [`crate::committed::apply_entry`], which brokers run too).

use std::io;

use kraft_storage::{Command, CommandReply, Machine};

pub use crate::committed::ApplyOutcome;
use crate::committed::apply_entry;
use crate::image::MetadataImage;
use crate::records::{CodecError, decode_binary, encode_binary};

impl ApplyOutcome {
    /// Decodes a reply produced by [`Machine::apply`] below (binary, format byte first, as
    /// record batches).
    pub fn decode(reply: &CommandReply) -> Result<Self, CodecError> {
        decode_binary(&reply.data)
    }
}

fn reply(outcome: &ApplyOutcome) -> CommandReply {
    // Encoding a two-variant enum of a string cannot fail; fall back to an empty reply rather
    // than panic inside apply (the proposer then reports it as undecodable).
    CommandReply {
        data: encode_binary(outcome).unwrap_or_default(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_outcomes_round_trip_binary_and_legacy_json() {
        for outcome in [
            ApplyOutcome::Applied,
            ApplyOutcome::Rejected {
                reason: "broker 3 epoch 7 is not current".into(),
            },
        ] {
            let r = reply(&outcome);
            assert_eq!(r.data[0], crate::records::BATCH_FORMAT_BINARY);
            assert_eq!(ApplyOutcome::decode(&r).expect("decode"), outcome);
            let json = CommandReply {
                data: serde_json::to_vec(&outcome).expect("json"),
            };
            assert_eq!(ApplyOutcome::decode(&json).expect("legacy"), outcome);
        }
        let empty = CommandReply { data: Vec::new() };
        assert!(ApplyOutcome::decode(&empty).is_err());
    }
}
