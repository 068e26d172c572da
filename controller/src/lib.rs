//! kraft-controller: the pure domain core of kraftd's KRaft-style metadata controller.
//!
//! It owns the metadata *records*, the replicated *image* they build, and the *handlers*
//! that turn RPC requests into records. Everything here is synchronous and deterministic:
//! no tokio, no storage, no network. The service layer (`service/`, added separately)
//! decodes protobuf, calls a handler, proposes its records through Raft and replies.
//!
//! ```text
//!   request ──► handlers::create_topics(&image, &req, &mut ctx)      (leader only)
//!                     │  validate against the image, decide (ids, placement via ctx)
//!                     ▼
//!               ControllerResult { records, reply }
//!                     │  records ──► RecordBatch ──► Raft propose / commit
//!                     ▼
//!   every node: MetadataImage::apply(&batch, log_index)   all or nothing; guards reject
//!                     │                                   a stale batch identically
//!                     ▼
//!               reply sent once applied; reads (describe_*, list_topics) use the image
//! ```
//!
//! Main types: [`Record`] / [`RecordBatch`] (the log format), [`MetadataImage`] (the
//! state; a snapshot is its `serde_json`), [`Ctx`] (clock, RNG, ids for handlers),
//! [`ErrorCode`] (Kafka's numbers, carried in replies), [`ApplyError`] (a guard failed).
//!
//! Module map: `ids` (newtypes), `records/`, `image/` (+ `apply`), `handlers/` (one file
//! per RPC), `placement` (rack-aware replica placement, SPEC §4.8), `topic_name` (§4.9),
//! `topic_config` (accepted topic configs, defaults and validators), `committed` (one
//! committed log entry → the image, shared with brokers); the run-time side, behind the
//! `server` cargo feature (on by default): `machine` (the image as openraft's state machine),
//! `service/` (the single writer, tonic services, forwarding, error mapping), `server` (one
//! gRPC server per controller) and `metrics` (Prometheus `/metrics` on its own port). Brokers
//! depend on this crate with `default-features = false` to apply the metadata stream with
//! exactly the controllers' code.

#![warn(missing_docs)]

#[cfg(feature = "server")]
pub mod auth;
pub mod committed;
pub mod config;
pub mod ctx;
pub mod error;
pub mod error_code;
pub mod handlers;
pub mod heartbeats;
pub mod ids;
pub mod image;
pub mod limits;
#[cfg(feature = "server")]
pub mod machine;
#[cfg(feature = "server")]
pub mod metrics;
pub mod partition_change;
pub mod placement;
pub mod records;
#[cfg(feature = "server")]
pub mod rpc_layer;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "server")]
pub mod service;
#[cfg(feature = "server")]
pub mod tls;
pub mod topic_config;
pub mod topic_name;

#[cfg(test)]
mod lifecycle_testing;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod proptests_lifecycle;
#[cfg(test)]
mod testing;

pub use ctx::Ctx;
pub use error::ApplyError;
pub use error_code::ErrorCode;
pub use handlers::ControllerResult;
pub use ids::{BrokerEpoch, BrokerId, LeaderEpoch, PartitionEpoch, TopicId};
pub use image::MetadataImage;
pub use limits::Limits;
pub use records::{Record, RecordBatch};
