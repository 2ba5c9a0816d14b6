//! The Python gRPC client (examples/python/grpc_client.py, with grpcio and stubs that
//! grpcio-tools generated from proto/feira.proto) against the real server.
//!
//! `make py-grpc` (which `make test` runs first) makes the virtual environment and the
//! stubs in target/. Without them this test fails under CI and is SKIPPED, loudly,
//! elsewhere (tests/support/tools.rs).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::grpc::start_both;
use crate::support::process::finish;
use crate::support::tools;
use crate::support::*;

/// The virtual environment's python, if `make py-grpc` made it.
fn venv_python() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join("target/py-venv/bin/python");
    let stubs = root.join("target/py-grpc/feira_pb2_grpc.py");
    if python.exists() && stubs.exists() {
        return Some(python);
    }
    tools::missing(
        "the Python gRPC environment",
        "target/py-venv and target/py-grpc: run `make py-grpc`",
    );
    None
}

#[test]
fn the_python_grpc_client_logs_in_lists_orders_and_is_refused_properly() {
    let Some(python) = venv_python() else {
        return;
    };
    let both = start_both();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/python/grpc_client.py"
    );
    let child = Command::new(python)
        .arg(script)
        .args(["--addr", &both.grpc_addr(), "--user", "alice", "--demo"])
        .env("FEIRA_PASSWORD", "alice-pass")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the venv's python runs");
    let run = finish(child, Duration::from_secs(60));
    assert_eq!(run.code(), Some(0), "{run:?}");
    // Seed 004's query, in cents and printed as money.
    assert!(run.stdout.contains("Maçã 2.50 300"), "{run:?}");
    assert!(run.stdout.contains("order 1: 2 x Maçã = 5.00"), "{run:?}");
    assert!(
        run.stdout
            .contains("refused: NOT_FOUND: NOT_FOUND no product named"),
        "{run:?}"
    );
    assert!(run.stdout.contains("alice 95.00"), "{run:?}");
    // The order is the store's: the socket door sees it.
    let mut socket = both.server.login(ALICE);
    assert_eq!(ok(&mut socket, "PRODUCT \"Maçã\"")[0][2], "298");
}
