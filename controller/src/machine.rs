//! The metadata image as the Raft state machine: how committed log entries reach
//! [`MetadataImage::apply`] (through [`crate::committed::apply_entry`], which brokers run too).

use std::io;

use kraft_storage::{Command, CommandReply, Machine};

pub use crate::committed::ApplyOutcome;
use crate::committed::{apply_entry, apply_entry_all};
use crate::image::MetadataImage;
use crate::records::{
    BATCH_FORMAT_GROUP, CodecError, decode_binary, decode_body, encode_binary, encode_group,
};

impl ApplyOutcome {
    /// Decodes a reply produced by [`Machine::apply`] below (binary, format byte first, as
    /// record batches) for a single-batch entry.
    pub fn decode(reply: &CommandReply) -> Result<Self, CodecError> {
        decode_binary(&reply.data)
    }

    /// Decodes the outcomes of every batch of an entry: a group reply (one outcome per
    /// batch, in order) or a single outcome.
    pub fn decode_all(reply: &CommandReply) -> Result<Vec<Self>, CodecError> {
        match reply.data.first() {
            Some(&BATCH_FORMAT_GROUP) => decode_body(&reply.data),
            _ => Ok(vec![Self::decode(reply)?]),
        }
    }
}

fn reply(outcomes: &[ApplyOutcome], group: bool) -> CommandReply {
    // Encoding a two-variant enum of a string cannot fail; fall back to an empty reply rather
    // than panic inside apply (the proposer then reports it as undecodable).
    let data = match outcomes {
        [one] if !group => encode_binary(one),
        many => encode_group(&many),
    };
    CommandReply {
        data: data.unwrap_or_default(),
    }
}

impl Machine for MetadataImage {
    fn apply(&mut self, log_index: u64, command: &Command) -> CommandReply {
        let group = command.data.first() == Some(&BATCH_FORMAT_GROUP);
        reply(
            &apply_entry_all(self, log_index, Some(&command.data)),
            group,
        )
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
            let r = reply(std::slice::from_ref(&outcome), false);
            assert_eq!(r.data[0], crate::records::BATCH_FORMAT_BINARY);
            assert_eq!(ApplyOutcome::decode(&r).expect("decode"), outcome);
            let json = CommandReply {
                data: serde_json::to_vec(&outcome).expect("json"),
            };
            assert_eq!(ApplyOutcome::decode(&json).expect("legacy"), outcome);
        }
        let empty = CommandReply { data: Vec::new() };
        assert!(ApplyOutcome::decode(&empty).is_err());
        assert!(ApplyOutcome::decode_all(&empty).is_err());
    }

    #[test]
    fn group_replies_carry_one_outcome_per_batch() {
        let outcomes = vec![
            ApplyOutcome::Applied,
            ApplyOutcome::Rejected {
                reason: "topic a exists".into(),
            },
        ];
        let r = reply(&outcomes, true);
        assert_eq!(r.data[0], BATCH_FORMAT_GROUP);
        assert_eq!(ApplyOutcome::decode_all(&r).expect("decode"), outcomes);
        // A group of one still answers as a group; a plain batch as one outcome.
        let one = reply(&outcomes[..1], true);
        assert_eq!(
            ApplyOutcome::decode_all(&one).expect("decode"),
            outcomes[..1]
        );
        let plain = reply(&outcomes[..1], false);
        assert_eq!(plain.data[0], crate::records::BATCH_FORMAT_BINARY);
        assert_eq!(
            ApplyOutcome::decode_all(&plain).expect("decode"),
            outcomes[..1]
        );
    }
}
