//! Binary encoding of openraft values: Raft log entries in sled and Raft messages on the wire.
//!
//! Every encoded value starts with a format byte, so that a later change of encoding is
//! detected rather than misread:
//!
//! * [`FORMAT_BINARY`] (`0x01`): [postcard] (compact varints, length-prefixed raw bytes for
//!   [`crate::Command`] payloads) of the serde form of the value.
//! * `{`, `[` or `"`: legacy serde_json, as kraftd wrote before this format existed; still
//!   decoded so that existing logs and older peers keep working.
//!
//! A log value ([`encode_entry`]) also carries a CRC-32 of its postcard bytes, so a flipped
//! byte in sled's file is a decode error, not a different entry:
//!
//! ```text
//!  log value:     0x01 · crc32(body) u32 LE · body = postcard(Entry)
//!  raft message:  0x01 · postcard(message)
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::types::Entry;

/// Format byte of the binary (postcard) encoding.
pub const FORMAT_BINARY: u8 = 0x01;

/// Why bytes did not decode.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// Nothing to decode.
    #[error("empty value")]
    Empty,
    /// The first byte names no known format.
    #[error("unknown format byte {0:#04x} (expected 0x01 binary or legacy JSON)")]
    UnknownFormat(u8),
    /// The value is shorter than its header.
    #[error("value of {0} bytes is shorter than its header")]
    Short(usize),
    /// The stored checksum does not match the bytes.
    #[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Checksum {
        /// Checksum in the value.
        stored: u32,
        /// Checksum of the bytes found.
        computed: u32,
    },
    /// postcard could not encode or decode the value.
    #[error("binary encoding: {0}")]
    Binary(#[from] postcard::Error),
    /// The binary value is followed by bytes that belong to nothing.
    #[error("{0} trailing bytes after the value")]
    Trailing(usize),
    /// Legacy JSON that does not decode.
    #[error("legacy JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Encodes `v` as [`FORMAT_BINARY`] followed by its postcard bytes.
pub fn to_bytes<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(64);
    out.push(FORMAT_BINARY);
    Ok(postcard::to_extend(v, out)?)
}

/// Decodes what [`to_bytes`] wrote (or legacy JSON). Never panics.
pub fn from_bytes<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    match bytes.first() {
        None => Err(CodecError::Empty),
        Some(&FORMAT_BINARY) => postcard_exact(&bytes[1..]),
        Some(b'{' | b'[' | b'"') => Ok(serde_json::from_slice(bytes)?),
        Some(&b) => Err(CodecError::UnknownFormat(b)),
    }
}

fn postcard_exact<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (v, rest) = postcard::take_from_bytes(bytes)?;
    if rest.is_empty() {
        Ok(v)
    } else {
        Err(CodecError::Trailing(rest.len()))
    }
}

/// Encodes a Raft log entry for sled: format byte, CRC-32, postcard.
pub fn encode_entry(entry: &Entry) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&[FORMAT_BINARY, 0, 0, 0, 0]);
    let mut out = postcard::to_extend(entry, out)?;
    let crc = crc32fast::hash(&out[5..]);
    out[1..5].copy_from_slice(&crc.to_le_bytes());
    Ok(out)
}

/// Decodes what [`encode_entry`] wrote (or a legacy JSON entry). Never panics.
pub fn decode_entry(bytes: &[u8]) -> Result<Entry, CodecError> {
    match bytes.first() {
        None => Err(CodecError::Empty),
        Some(&FORMAT_BINARY) => {
            let (crc, body) = bytes
                .get(1..5)
                .zip(bytes.get(5..))
                .ok_or(CodecError::Short(bytes.len()))?;
            let stored = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
            let computed = crc32fast::hash(body);
            if stored != computed {
                return Err(CodecError::Checksum { stored, computed });
            }
            postcard_exact(body)
        }
        Some(b'{') => Ok(serde_json::from_slice(bytes)?),
        Some(&b) => Err(CodecError::UnknownFormat(b)),
    }
}

#[cfg(test)]
mod tests {
    use openraft::entry::RaftEntry;
    use openraft::{BasicNode, EntryPayload, Membership};
    use proptest::prelude::*;
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::types::{Command, log_id};

    fn membership(voters: &BTreeSet<u64>, learners: &BTreeSet<u64>) -> Membership<u64, BasicNode> {
        let nodes: BTreeMap<u64, BasicNode> = voters
            .iter()
            .chain(learners)
            .map(|id| (*id, BasicNode::new(format!("127.0.0.1:{}", 9000 + id))))
            .collect();
        Membership::new(vec![voters.clone()], nodes).expect("valid membership")
    }

    fn payload() -> impl Strategy<Value = openraft::alias::EntryPayloadOf<crate::TypeConfig>> {
        prop_oneof![
            Just(EntryPayload::Blank),
            (proptest::collection::vec(any::<u8>(), 0..600), any::<u64>())
                .prop_map(|(data, time_ms)| EntryPayload::Normal(Command { data, time_ms })),
            (
                proptest::collection::btree_set(0u64..20, 1..5),
                proptest::collection::btree_set(20u64..40, 0..3)
            )
                .prop_map(|(v, l)| EntryPayload::Membership(membership(&v, &l))),
        ]
    }

    fn entry() -> impl Strategy<Value = Entry> {
        (any::<u64>(), any::<u64>(), any::<u64>(), payload())
            .prop_map(|(term, node, index, p)| Entry::new(log_id(term, node, index), p))
    }

    proptest! {
        #[test]
        fn entries_of_every_payload_kind_round_trip(e in entry()) {
            let bytes = encode_entry(&e).expect("encode");
            prop_assert_eq!(bytes[0], FORMAT_BINARY);
            prop_assert_eq!(decode_entry(&bytes).expect("decode"), e.clone());
            // The legacy JSON form still decodes.
            let json = serde_json::to_vec(&e).expect("json");
            prop_assert_eq!(decode_entry(&json).expect("legacy"), e.clone());
            // Generic message form.
            prop_assert_eq!(from_bytes::<Entry>(&to_bytes(&e).expect("to")).expect("from"), e);
        }

        #[test]
        fn any_damage_to_an_entry_is_detected(e in entry(), at in any::<prop::sample::Index>(), flip in 1u8..) {
            let mut bytes = encode_entry(&e).expect("encode");
            let i = at.index(bytes.len());
            bytes[i] ^= flip;
            prop_assert!(decode_entry(&bytes).is_err(), "flipped byte {} decoded", i);
            let cut = at.index(bytes.len());
            prop_assert!(decode_entry(&encode_entry(&e).expect("encode")[..cut]).is_err());
        }
    }

    #[test]
    fn binary_is_much_smaller_than_json_for_payload_bytes() {
        let e = Entry::new(
            log_id(3, 1, 10),
            EntryPayload::Normal(Command {
                data: vec![200; 200],
                time_ms: 1_700_000_000_000,
            }),
        );
        let bin = encode_entry(&e).expect("encode").len();
        let json = serde_json::to_vec(&e).expect("json").len();
        assert!(bin < 230 && json > 3 * bin, "binary {bin} B, json {json} B");
    }

    #[test]
    fn unknown_formats_and_garbage_are_errors() {
        assert!(matches!(decode_entry(&[]), Err(CodecError::Empty)));
        assert!(matches!(
            decode_entry(&[0x02, 1, 2]),
            Err(CodecError::UnknownFormat(2))
        ));
        assert!(matches!(
            decode_entry(&[0x01, 1, 2]),
            Err(CodecError::Short(3))
        ));
        assert!(matches!(
            from_bytes::<u64>(&[0x01, 5, 9]),
            Err(CodecError::Trailing(1))
        ));
        assert!(matches!(
            from_bytes::<u64>(&[0x07]),
            Err(CodecError::UnknownFormat(7))
        ));
    }
}
