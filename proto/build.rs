//! Compiles `proto/kraft/v1/*.proto` with protox (pure Rust, no system `protoc`), writes the
//! encoded descriptor set for gRPC reflection, and generates tonic clients and servers.

use std::path::PathBuf;

use prost::Message as _;

const FILES: &[&str] = &[
    "proto/kraft/v1/common.proto",
    "proto/kraft/v1/broker.proto",
    "proto/kraft/v1/admin.proto",
    "proto/kraft/v1/raft.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for f in FILES {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(FILES, ["proto"])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("kraft_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure().compile_fds(fds)?;
    Ok(())
}
