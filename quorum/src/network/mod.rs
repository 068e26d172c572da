//! openraft's network over tonic gRPC (`kraft.v1.RaftService`).
//!
//! openraft messages travel in `RaftMessage.data` in kraftd's binary encoding
//! ([`kraft_storage::codec`]: format byte `0x01`, then postcard; entry payloads are raw bytes),
//! so an `AppendEntries` carries its entries without re-encoding them as text. Decoding still
//! accepts the serde_json form older nodes send (first byte `{`/`[`/`"`). The snapshot header
//! (vote + meta, once per snapshot) stays serde_json; snapshots are streamed as chunks
//! (client-streaming `InstallSnapshot`). [`client`] keeps one cached `Channel` per peer;
//! [`server`] hands incoming RPCs to the local `Raft`.

pub mod client;
pub mod server;

use kraft_storage::codec;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Largest snapshot chunk sent in one message.
pub const SNAPSHOT_CHUNK_BYTES: usize = 1024 * 1024;

pub(crate) fn encode<T: Serialize>(v: &T) -> Result<kraft_proto::RaftMessage, tonic::Status> {
    codec::to_bytes(v)
        .map(|data| kraft_proto::RaftMessage { data })
        .map_err(|e| tonic::Status::internal(format!("encode raft message: {e}")))
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, tonic::Status> {
    codec::from_bytes(bytes)
        .map_err(|e| tonic::Status::invalid_argument(format!("decode {what}: {e}")))
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::fmt::Debug;

    use kraft_storage::{Command, TypeConfig};
    use openraft::entry::RaftEntry;
    use openraft::raft::{
        AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
        VoteRequest, VoteResponse,
    };
    use openraft::vote::RaftLeaderId;
    use openraft::{BasicNode, EntryPayload, Membership};
    use proptest::prelude::*;

    use super::*;

    type LogId = openraft::alias::LogIdOf<TypeConfig>;
    type Vote = openraft::alias::VoteOf<TypeConfig>;
    type Entry = openraft::alias::EntryOf<TypeConfig>;

    fn log_id(term: u64, index: u64) -> LogId {
        LogId::new(
            openraft::impls::leader_id_adv::LeaderId { term, node_id: 2 }.to_committed(),
            index,
        )
    }

    /// Binary round trip, and the legacy JSON form still decodes to the same value.
    fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(v: &T) {
        let msg = encode(v).expect("encode");
        assert_eq!(msg.data[0], codec::FORMAT_BINARY);
        assert_eq!(&decode::<T>(&msg.data, "test").expect("decode"), v);
        let json = serde_json::to_vec(v).expect("json");
        assert_eq!(&decode::<T>(&json, "test").expect("legacy json"), v);
    }

    fn entries(payloads: &[(Vec<u8>, u64)], first: u64) -> Vec<Entry> {
        let nodes: BTreeMap<u64, BasicNode> = (1..=3)
            .map(|i| (i, BasicNode::new(format!("127.0.0.1:{}", 7000 + i))))
            .collect();
        let membership =
            Membership::new(vec![BTreeSet::from([1, 2, 3])], nodes).expect("membership");
        let mut out = vec![
            Entry::new(log_id(4, first), EntryPayload::Blank),
            Entry::new(log_id(4, first + 1), EntryPayload::Membership(membership)),
        ];
        for (i, (data, time_ms)) in payloads.iter().enumerate() {
            out.push(Entry::new(
                log_id(4, first + 2 + i as u64),
                EntryPayload::Normal(Command {
                    data: data.clone(),
                    time_ms: *time_ms,
                }),
            ));
        }
        out
    }

    proptest! {
        #[test]
        fn append_entries_requests_round_trip(
            payloads in proptest::collection::vec(
                (proptest::collection::vec(any::<u8>(), 0..300), any::<u64>()), 0..8),
            first in 1u64..1_000_000,
            committed in proptest::option::of(0u64..1_000_000),
        ) {
            let req = AppendEntriesRequest::<TypeConfig> {
                vote: Vote::new_committed(4, 2),
                prev_log_id: (first > 1).then(|| log_id(3, first - 1)),
                entries: entries(&payloads, first),
                leader_commit: committed.map(|c| log_id(3, c)),
            };
            let msg = encode(&req).expect("encode");
            let back: AppendEntriesRequest<TypeConfig> =
                decode(&msg.data, "AppendEntriesRequest").expect("decode");
            prop_assert_eq!(&back.vote, &req.vote);
            prop_assert_eq!(back.prev_log_id, req.prev_log_id);
            prop_assert_eq!(&back.entries, &req.entries);
            prop_assert_eq!(back.leader_commit, req.leader_commit);
            // Entry payload bytes travel raw: the message is not much larger than them.
            let raw: usize = payloads.iter().map(|(d, _)| d.len()).sum();
            prop_assert!(msg.data.len() < raw + 200 + 24 * payloads.len());
        }
    }

    #[test]
    fn every_raft_message_round_trips() {
        round_trip(&AppendEntriesResponse::<TypeConfig>::Success);
        round_trip(&AppendEntriesResponse::<TypeConfig>::Conflict);
        round_trip(&AppendEntriesResponse::<TypeConfig>::PartialSuccess(Some(
            log_id(2, 9),
        )));
        round_trip(&AppendEntriesResponse::<TypeConfig>::PartialSuccess(None));
        round_trip(&AppendEntriesResponse::<TypeConfig>::HigherVote(Vote::new(
            7, 3,
        )));
        round_trip(&VoteRequest::<TypeConfig>::new(
            Vote::new(5, 1),
            Some(log_id(4, 100)),
        ));
        round_trip(&VoteRequest::<TypeConfig>::new(Vote::new(1, 1), None));
        round_trip(&VoteResponse::<TypeConfig>::new(
            Vote::new_committed(5, 1),
            Some(log_id(4, 100)),
            true,
        ));
        round_trip(&SnapshotResponse::<TypeConfig>::new(Vote::new_committed(
            6, 2,
        )));
        round_trip(&TransferLeaderRequest::<TypeConfig>::new(
            Vote::new_committed(6, 2),
            3,
            Some(log_id(6, 40)),
        ));
    }

    #[test]
    fn undecodable_messages_are_invalid_argument_naming_the_message() {
        for bad in [&[][..], &[0x01][..], &[0x09, 1, 2][..], &b"{not json"[..]] {
            let err = decode::<VoteRequest<TypeConfig>>(bad, "VoteRequest").expect_err("bad");
            assert_eq!(err.code(), tonic::Code::InvalidArgument);
            assert!(err.message().contains("decode VoteRequest"), "{err}");
        }
    }
}
