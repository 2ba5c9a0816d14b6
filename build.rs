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

    /// Every .proto file of the gRPC door, each a package of its own. A new service in a
    /// file of its own is one more line here.
    const PROTOS: &[&str] = &["proto/feira.proto", "proto/audit_log.proto"];

    pub fn generate() -> Result<(), Box<dyn std::error::Error>> {
        let out = PathBuf::from(std::env::var("OUT_DIR")?);
        for proto in PROTOS {
            println!("cargo:rerun-if-changed={proto}");
            let descriptors = protox::compile([proto], ["proto"])?;
            // The descriptors, for server reflection (`tonic::include_file_descriptor_set!`):
            // `feira_descriptor.bin` for proto/feira.proto, and so on.
            let stem = std::path::Path::new(proto)
                .file_stem()
                .and_then(|s| s.to_str())
                .ok_or("a .proto file name")?;
            let bytes = prost::Message::encode_to_vec(&descriptors);
            std::fs::write(out.join(format!("{stem}_descriptor.bin")), bytes)?;
            tonic_prost_build::configure().compile_fds(descriptors)?;
        }
        Ok(())
    }
}
