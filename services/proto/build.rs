//! Compiles `proto/` with protox, a protobuf compiler written in Rust, so a fresh machine
//! needs no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../proto");
    println!("cargo:rerun-if-changed={proto_root}");
    let remote = protox::compile(["prometheus/remote.proto"], [proto_root])?;
    prost_build::Config::new().compile_fds(remote)?;
    let scaler = protox::compile(["externalscaler/externalscaler.proto"], [proto_root])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(scaler)?;
    Ok(())
}
