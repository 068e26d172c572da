//! `kraft-client`: the Rust client of kraftd's `AdminService` and `BrokerService`, shared by
//! the `kraftctl` CLI, the broker simulator and the system tests.
//!
//! * [`Client`]: one cached gRPC channel to a controller picked from a Kafka-style
//!   `--bootstrap-server host:port[,host:port]` list, with typed methods per RPC. Any
//!   controller can answer (controllers forward writes to the active one), so the client only
//!   fails over on transient errors.
//! * [`ClientError`]: transport and gRPC failures. Per-item outcomes stay values: each reply
//!   item carries an `ItemError` with Kafka's error code (0 = NONE); see [`item_failure`].
//! * [`broker`]: a broker's session ([`broker::BrokerClient`]) and metadata image
//!   ([`broker::MetadataCache`], following `FetchMetadata`), for Rust broker authors.
//! * [`simulate::BrokerSimulator`]: fake brokers built on [`broker`] that register, follow the
//!   metadata stream and heartbeat their applied offset (KIP-631).
//! * [`render`]: Kafka-shaped text and JSON renderings used by `kraftctl`.
//! * [`args`]: parsers for `kraftctl`'s Kafka-syntax arguments (`--add-config k=[a,b]`,
//!   reassignment JSON files) and the requests built from them.
//!
//! ```text
//! kraftctl ─┐                      ┌─ controller 1 ─┐
//! tests ────┼─ Client ── Channel ──┤  controller 2  ├─ forward writes ─> active controller
//! simulator ┘   │ UNAVAILABLE?     └─ controller 3 ─┘
//!               └─> leader hint, else next endpoint; backoff; give up at retry_deadline
//! ```
#![warn(missing_docs)]

pub mod args;
pub mod broker;
pub mod certs;
mod client;
mod config;
mod endpoints;
mod error;
pub mod render;
mod security;
pub mod simulate;

pub use client::Client;
pub use config::ClientConfig;
pub use endpoints::parse_bootstrap;
pub use error::ClientError;
pub use kraft_proto as proto;
pub use security::{ClientTls, Security};

use kraft_proto::ItemError;

/// The error of a reply item if it failed: `Some` only when present with a non-zero
/// `error_code` (Kafka's NONE is 0).
pub fn item_failure(error: Option<&ItemError>) -> Option<&ItemError> {
    error.filter(|e| e.error_code != 0)
}
