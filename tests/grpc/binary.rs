//! The programs: `feira-server --grpc-addr` serves both doors from one process, and
//! `feira-cli --grpc` prints what the socket one-shot prints.

use std::process::Command;
use std::time::Duration;

use feira::grpc::client::GrpcClient;

use crate::support::process::finish;
use crate::support::server_process::ServerProcess;
use crate::support::*;

/// The address the server logged for its gRPC door (`gRPC door on ADDR ...`).
fn grpc_addr(server: &ServerProcess) -> String {
    let line = (server.started_log.iter())
        .find_map(|line| line.split("gRPC door on ").nth(1))
        .unwrap_or_else(|| panic!("no gRPC door in the log: {:#?}", server.started_log));
    line.split_whitespace()
        .next()
        .expect("an address")
        .to_string()
}

#[test]
fn the_server_serves_both_doors_from_one_process_and_stops_cleanly() {
    let dir = demo_data_dir();
    let server = ServerProcess::start_with(dir.path(), &["--grpc-addr", "127.0.0.1:0"]);
    let addr = grpc_addr(&server);
    let mut grpc = GrpcClient::connect(&addr, REPLY_TIMEOUT).expect("connect over gRPC");
    grpc.login("alice", "alice-pass").expect("Login");
    grpc.place_order("Caju", 5).expect("ORDER over gRPC");
    let mut socket = server.login(ALICE);
    assert_eq!(ok(&mut socket, "PRODUCT Caju")[0][2], "195");
    drop(socket);
    drop(grpc);
    let (status, _) = server.terminate();
    assert!(status.success(), "{status:?}");
    // The order survived the shutdown: it is in the tables a restart reads.
    let products = read_csv(&dir.path().join("products.csv"));
    assert!(
        products
            .iter()
            .any(|row| row[0] == "Caju" && row[2] == "195")
    );
}

#[test]
fn the_client_runs_the_same_command_over_both_doors() {
    let dir = demo_data_dir();
    let server = ServerProcess::start_with(dir.path(), &["--grpc-addr", "127.0.0.1:0"]);
    let grpc = grpc_addr(&server);
    let socket = server.addr.to_string();
    let run = |door: &[&str], words: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_feira-cli"));
        command
            .args(door)
            .args(["--user", "alice"])
            .args(words)
            .env("FEIRA_PASSWORD", "alice-pass")
            .env_remove("FEIRA_ADDR");
        let child = command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("feira-cli runs");
        finish(child, Duration::from_secs(60))
    };
    for words in [
        &["products", "2.50"][..],
        &["product", "Maçã"],
        &["balance"],
        &["product", "Kiwi"],
        &["order", "Maçã", "-3"],
    ] {
        let by_socket = run(&["--addr", &socket], words);
        let by_grpc = run(&["--grpc", &grpc], words);
        assert_eq!(by_grpc.stdout, by_socket.stdout, "{words:?}");
        assert_eq!(by_grpc.stderr, by_socket.stderr, "{words:?}");
        assert_eq!(by_grpc.status.code(), by_socket.status.code(), "{words:?}");
    }
    let ordered = run(&["--grpc", &grpc], &["order", "Maçã", "2"]);
    assert_eq!(ordered.status.code(), Some(0), "{ordered:?}");
    assert!(ordered.stdout.contains("2 x Maçã = 5.00"), "{ordered:?}");
    let restock = run(&["--grpc", &grpc], &["restock", "Maçã", "5"]);
    assert_eq!(
        restock.status.code(),
        Some(1),
        "alice is no admin: {restock:?}"
    );
    assert!(restock.stderr.starts_with("ERR FORBIDDEN"), "{restock:?}");
}
