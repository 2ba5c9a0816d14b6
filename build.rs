//! The build script: with the `grpc` feature, compiles proto/feira.proto into Rust
//! (messages, server and client stubs) and a file descriptor set for server reflection.
//! Without the feature it does nothing, so the default build stays as it was.
//!
//! Why protox: it is a proto compiler written in Rust, so building needs no `protoc`
//! binary on the machine (CI and a student's laptop alike).

fn main() {
    // Without this line cargo would run the script again after any change in the
    // package (a doc, a test), and rebuild the library each time.
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "grpc")]
    if let Err(e) = grpc::generate() {
        // A build script reports a failure by panicking: cargo shows the message.
        panic!("cannot compile the gRPC protocol: {e}");
    }
}

#[cfg(feature = "grpc")]
mod grpc {
    use std::path::PathBuf;

    /// Every .proto file of the gRPC door. A new service in a file of its own is one
    /// more line here.
    const PROTOS: &[&str] = &["proto/feira.proto"];

    pub fn generate() -> Result<(), Box<dyn std::error::Error>> {
        for proto in PROTOS {
            println!("cargo:rerun-if-changed={proto}");
        }
        let descriptors = protox::compile(PROTOS, ["proto"])?;
        // The descriptors, for server reflection (`tonic::include_file_descriptor_set!`).
        let out = PathBuf::from(std::env::var("OUT_DIR")?);
        let bytes = prost::Message::encode_to_vec(&descriptors);
        std::fs::write(out.join("feira_descriptor.bin"), bytes)?;
        tonic_prost_build::configure().compile_fds(descriptors)?;
        Ok(())
    }
}
