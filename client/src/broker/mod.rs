//! A broker's side of kraftd, for Rust broker authors and the simulator: [`BrokerClient`]
//! (register, heartbeat, AlterPartition, controlled shutdown) and [`MetadataCache`] (the
//! metadata image, kept current from `BrokerService.FetchMetadata`).
//!
//! The cache applies every committed entry with `kraft_controller::committed::apply_entry`,
//! the function the controllers' state machine runs, so a broker at offset N holds exactly
//! the controllers' image at offset N. Heartbeats report the cache's applied offset, which is
//! what unfences a new broker (SPEC §3.4) and completes a controlled shutdown.
//!
//! ```text
//!  MetadataCache ◄── FetchMetadata stream (image, then deltas) ── any controller
//!       │ offset
//!       ▼
//!  BrokerClient ── RegisterBroker / BrokerHeartbeat{current_metadata_offset} ──► controllers
//! ```
//!
//! See `examples/broker.rs` for a complete broker.

mod broker_client;
mod cache;

pub use broker_client::{BrokerClient, BrokerConfig, HeartbeatStatus};
pub use cache::{Applied, CacheConfig, CacheState, MetadataCache, StreamError, image_hash};
