//! The real binary: SIGTERM and SIGINT shut it down gracefully, saving the tables.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use feira::client::Client;
use support::*;

/// Starts `feira-server` on port 0 and returns it with the address it logged.
fn spawn_server(data: &std::path::Path) -> (Child, String, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_feira-server"))
        .args(["--addr", "127.0.0.1:0", "--data"])
        .arg(data)
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("the server binary starts");
    let (lines, receive) = mpsc::channel();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let addr = loop {
        let line = receive
            .recv_timeout(Duration::from_secs(30))
            .expect("the server logs its address");
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.trim().to_string();
        }
    };
    (child, addr, receive)
}

fn send_signal(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

fn graceful_stop_with(signal: &str) {
    let dir = demo_data_dir();
    let (mut child, addr, log) = spawn_server(dir.path());
    let mut alice = Client::connect(addr.as_str(), Duration::from_secs(10)).unwrap();
    alice.login("alice", "alice-pass").unwrap();
    assert!(alice.call_line("ORDER Pera 2").unwrap().is_ok());
    // An idle client stays connected while the server stops.
    let mut idle = Client::connect(addr.as_str(), Duration::from_secs(10)).unwrap();
    assert!(idle.call_line("PING").unwrap().is_ok());

    send_signal(&child, signal);
    let status = child.wait().expect("the server exits");
    assert!(status.success(), "exit status {status:?}");
    // Open connections were closed, not left hanging.
    assert!(idle.call_line("PING").is_err());
    // The stderr reader thread ends at end-of-file: collect everything it sends.
    let logged: Vec<String> = log.iter().collect();
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
    graceful_stop_with("-TERM");
}

#[test]
fn sigint_stops_gracefully() {
    graceful_stop_with("-INT");
}

#[test]
fn a_bad_data_directory_refuses_to_start_with_file_and_line() {
    let dir = demo_data_dir();
    std::fs::write(
        dir.path().join("products.csv"),
        "name,price,stock\nCaju,1.20,10\nPera,x,3\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_feira-server"))
        .args(["--addr", "127.0.0.1:0", "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("products.csv line 3") && stderr.contains("price"),
        "{stderr}"
    );
}
