//! kraft-quorum: the Raft quorum of kraftd controllers.
//!
//! openraft drives consensus; this crate gives it a tonic network ([`network`]), kraftd's sled
//! storage, and a static voter set in the style of KRaft's `controller.quorum.voters`
//! ([`config::QuorumConfig`]). [`Node`] is the handle the controller uses:
//!
//! ```text
//!  Node::start ─► open LogStore + StateMachineStore ─► Raft::new ─► bootstrap once (pristine)
//!  Node::propose(bytes) ─► raft.client_write ─► commit ─► Machine::apply ─► reply bytes
//!                      └─► not leader: QuorumError::NotLeader { leader hint }
//! ```
//!
//! The gRPC server is composed by the caller: [`Node::raft_service`] returns the
//! `RaftService` implementation to mount next to the application's services.

pub mod config;
pub mod error;
pub mod membership;
pub mod network;
pub mod node;
pub mod tls;

pub use config::{QuorumConfig, parse_voters};
pub use error::{LeaderHint, QuorumError};
pub use kraft_storage::{Command, CommandReply, Machine};
pub use membership::{QuorumDescription, ReplicaState, VoterChangeRefused};
pub use node::{Node, Proposal, QuorumStatus};
pub use tls::PeerTls;
