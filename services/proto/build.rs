//! Compiles `proto/` with protox, a protobuf compiler written in Rust, so a fresh machine
//! needs no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../proto");
    println!("cargo:rerun-if-changed={proto_root}");
    let descriptors = protox::compile(["prometheus/remote.proto"], [proto_root])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
