//! Compiles the slice of etcd's v3 API the bench calls (proto/etcd/kv.proto) with protox: no
//! system `protoc`, no etcd client crate.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const FILE: &str = "proto/etcd/kv.proto";
    println!("cargo:rerun-if-changed={FILE}");
    let fds = protox::compile([FILE], ["proto"])?;
    tonic_prost_build::configure()
        .build_server(false)
        .compile_fds(fds)?;
    Ok(())
}
