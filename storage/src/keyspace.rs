//! Typed key spaces of the Raft-log `Db`: one sled tree each.
//!
//! * `log`: key = log index as 8 big-endian bytes (so iteration is in index order),
//!   value = the openraft entry in the binary format of [`crate::codec::encode_entry`]
//!   (format byte `0x01`, CRC-32, postcard); entries written as serde_json by older versions
//!   (first byte `{`) still decode.
//! * `meta`: fixed keys below, values serde_json.

/// Tree holding log entries.
pub const LOG_TREE: &str = "log";
/// Tree holding vote, committed and last-purged ids.
pub const META_TREE: &str = "meta";

/// Meta key: the persisted vote.
pub const KEY_VOTE: &[u8] = b"vote";
/// Meta key: the last committed log id.
pub const KEY_COMMITTED: &[u8] = b"committed";
/// Meta key: the last purged log id.
pub const KEY_LAST_PURGED: &[u8] = b"last_purged";

/// Encodes a log index as a key that sorts in index order.
pub fn log_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

/// Decodes a log key; `None` when the key is not 8 bytes.
pub fn parse_log_key(key: &[u8]) -> Option<u64> {
    let bytes: [u8; 8] = key.try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}
