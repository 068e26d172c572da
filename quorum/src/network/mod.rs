//! openraft's network over tonic gRPC (`kraft.v1.RaftService`).
//!
//! openraft messages travel as serde_json bytes in `RaftMessage.data`; snapshots are streamed
//! as chunks (client-streaming `InstallSnapshot`). [`client`] keeps one cached `Channel` per
//! peer; [`server`] hands incoming RPCs to the local `Raft`.

pub mod client;
pub mod server;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Largest snapshot chunk sent in one message.
pub const SNAPSHOT_CHUNK_BYTES: usize = 1024 * 1024;

pub(crate) fn encode<T: Serialize>(v: &T) -> Result<kraft_proto::RaftMessage, tonic::Status> {
    serde_json::to_vec(v)
        .map(|data| kraft_proto::RaftMessage { data })
        .map_err(|e| tonic::Status::internal(format!("encode raft message: {e}")))
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, tonic::Status> {
    serde_json::from_slice(bytes)
        .map_err(|e| tonic::Status::invalid_argument(format!("decode {what}: {e}")))
}
