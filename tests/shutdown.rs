//! The real binary: SIGTERM and SIGINT shut it down gracefully, saving the tables.

mod support;

use std::time::Duration;

use support::server_process::{ServerProcess, run_to_end, server_command};
use support::*;

fn graceful_stop_with(signal: i32) {
    let dir = demo_data_dir();
    let server = ServerProcess::start(dir.path());
    let mut alice = server.login(ALICE);
    assert!(alice.call_line("ORDER Pera 2").unwrap().is_ok());
    // An idle client stays connected while the server stops.
    let mut idle = server.client();
    assert!(idle.call_line("PING").unwrap().is_ok());

    let (status, logged) = server.stop_with(signal);
    assert!(status.success(), "exit status {status:?}");
    // Open connections were closed, not left hanging.
    assert!(idle.call_line("PING").is_err());
    assert!(
        logged.iter().any(|l| l.contains("shutdown complete")),
        "{logged:#?}"
    );
    // The tables were checkpointed: the order is in the snapshot, the journal is empty.
    let orders = std::fs::read_to_string(dir.path().join("orders.csv")).unwrap();
    assert!(orders.contains("alice,2,Pera,2"), "{orders}");
    assert_eq!(journal_text(dir.path()).lines().count(), 1);
}

#[test]
fn sigterm_stops_gracefully() {
    graceful_stop_with(libc::SIGTERM);
}

#[test]
fn sigint_stops_gracefully() {
    graceful_stop_with(libc::SIGINT);
}

#[test]
fn a_bad_data_directory_refuses_to_start_with_file_and_line() {
    let dir = demo_data_dir();
    std::fs::write(
        dir.path().join("products.csv"),
        "name,price,stock\nCaju,1.20,10\nPera,x,3\n",
    )
    .unwrap();
    let run = run_to_end(
        server_command(dir.path(), "127.0.0.1:0"),
        Duration::from_secs(30),
    );
    assert!(!run.status.success());
    assert!(
        run.stderr.contains("products.csv line 3") && run.stderr.contains("price"),
        "{}",
        run.stderr
    );
}
