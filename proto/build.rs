//! Generates the tonic client and server from `cluster.proto` with the vendored
//! `protoc`, so building needs no system protobuf compiler.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded; prost-build reads PROTOC from the environment.
    unsafe { std::env::set_var("PROTOC", protoc) };
    println!("cargo:rerun-if-changed=cluster.proto");
    tonic_prost_build::configure().compile_protos(&["cluster.proto"], &["."])?;
    Ok(())
}
