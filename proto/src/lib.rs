//! kraftd's gRPC API, package `kraft.v1`.
//!
//! * `BrokerService`: brokers register and heartbeat.
//! * `AdminService`: operators create, list and describe topics and describe the cluster.
//! * `RaftService`: controller-to-controller Raft traffic (openraft messages as bytes).
//!
//! Generated at build time by protox + tonic-prost-build; [`FILE_DESCRIPTOR_SET`] feeds gRPC
//! reflection so `grpcurl` can list and call every service.
#![allow(missing_docs, clippy::large_enum_variant, clippy::enum_variant_names)]

tonic::include_proto!("kraft.v1");

/// Encoded `FileDescriptorSet` of every kraft.v1 file, for `tonic-reflection`.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("kraft_descriptor");
