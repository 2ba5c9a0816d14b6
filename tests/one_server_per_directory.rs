//! One server per data directory: a second server on a directory in use stops at once,
//! names the directory and the process that holds it, and changes nothing; the first
//! server's acknowledged writes survive a crash after that.
//!
//! What used to happen: the second server replayed and checkpointed the first one's
//! journal (renaming the file away) before it failed to bind its port, or, on another
//! port, ran beside it. The first server kept writing its acknowledged lines into the
//! renamed, then deleted, file, and after a kill -9 they were gone.

mod support;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use feira::server::Server;
use support::server_process::{ServerProcess, run_to_end, server_command};
use support::*;

/// Every file of the directory: its inode and its bytes. A checkpoint renames new
/// files over the old ones (new inodes) or appends to them (new bytes).
fn fingerprint(dir: &Path) -> BTreeMap<String, (u64, Vec<u8>)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let inode = std::fs::metadata(&path).unwrap().ino();
            (name, (inode, std::fs::read(&path).unwrap()))
        })
        .collect()
}

/// The ids of alice's orders of `product`, oldest first.
fn order_ids(client: &mut feira::client::Client, product: &str) -> Vec<String> {
    // ORDERS lists the newest first.
    let mut ids: Vec<String> = ok(client, "ORDERS")
        .into_iter()
        .filter(|row| row[1] == product)
        .map(|row| row[0].clone())
        .collect();
    ids.reverse();
    ids
}

/// Places an order and returns its id (the first field of its data line).
fn order(client: &mut feira::client::Client, line: &str) -> String {
    let rows = ok(client, line);
    rows[0][0].clone()
}

#[test]
fn a_second_server_binary_refuses_the_directory_and_the_first_loses_nothing() {
    let dir = demo_data_dir();
    let first = ServerProcess::start(dir.path());
    let mut alice = first.login(ALICE);
    let mut acknowledged = vec![order(&mut alice, "ORDER Pera 1")];
    let before = fingerprint(dir.path());

    // The same port (a second `make run-server`), then another port.
    let same_port = first.addr.to_string();
    for addr in [same_port.as_str(), "127.0.0.1:0"] {
        let run = run_to_end(server_command(dir.path(), addr), Duration::from_secs(20));
        assert_ne!(
            run.code(),
            Some(0),
            "a second server on {addr} must not run"
        );
        let said = &run.stderr;
        assert!(
            said.contains(&dir.path().display().to_string()),
            "the message names the directory: {said}"
        );
        assert!(
            said.contains(&format!("process {}", first.pid())),
            "the message names the process that holds it: {said}"
        );
        assert_eq!(
            fingerprint(dir.path()),
            before,
            "the second server on {addr} changed the directory"
        );
    }

    // `check` reads a live directory through a copy, and changes nothing either.
    let mut check = std::process::Command::new(env!("CARGO_BIN_EXE_feira-server"));
    check.arg("check").arg("--data").arg(dir.path());
    let run = run_to_end(check, Duration::from_secs(30));
    assert_eq!(run.code(), Some(0), "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("the ledger agrees"), "{}", run.stdout);
    assert_eq!(
        fingerprint(dir.path()),
        before,
        "check changed the directory"
    );

    // The first server carries on; what it acknowledges now survives a kill -9.
    for quantity in 2..=4 {
        acknowledged.push(order(&mut alice, &format!("ORDER Pera {quantity}")));
    }
    first.kill();
    // The lock file the killed server left does not stop the next start.
    let restarted = ServerProcess::start(dir.path());
    let mut alice = restarted.login(ALICE);
    assert_eq!(order_ids(&mut alice, "Pera"), acknowledged);
}

#[test]
fn a_second_server_in_the_same_process_is_refused_and_changes_nothing() {
    let server = start_server();
    let mut alice = server.login(ALICE);
    ok(&mut alice, "ORDER Pera 2");
    let dir = server.data_dir();
    let before = fingerprint(&dir);

    for addr in [server.addr.to_string(), "127.0.0.1:0".to_string()] {
        let mut config = test_config(&dir);
        config.addr = addr.clone();
        let error = match Server::bind(config) {
            Ok(_) => panic!("a second server bound {addr} on a directory in use"),
            Err(e) => e.to_string(),
        };
        assert!(error.contains(&dir.display().to_string()), "{error}");
        assert!(
            error.contains(&format!("process {}", std::process::id())),
            "{error}"
        );
        assert_eq!(fingerprint(&dir), before, "a refused bind on {addr}");
    }
    // The first server is unharmed, and once it is stopped the directory is free.
    ok(&mut alice, "ORDER Pera 1");
    let restarted = server.restart();
    let mut alice = restarted.login(ALICE);
    let quantities: Vec<String> = ok(&mut alice, "ORDERS")
        .into_iter()
        .filter(|row| row[1] == "Pera")
        .map(|row| row[2].clone())
        .collect();
    assert_eq!(quantities, ["1", "2"], "newest first");
}

#[test]
fn a_port_in_use_stops_the_start_before_the_data_is_read() {
    // A directory whose journal a start would replay and checkpoint into the snapshots.
    let dir = demo_data_dir();
    let db = feira::db::Db::open(dir.path(), 1 << 20).unwrap();
    let alice = db.users.read()["alice"].account();
    feira::shop::orders::place(&db, &alice, "Pera", 2).unwrap();
    drop(db);
    let before = fingerprint(dir.path());

    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut config = test_config(dir.path());
    config.addr = busy.local_addr().unwrap().to_string();
    let error = Server::bind(config).err().expect("the port is taken");
    assert!(error.to_string().contains("cannot listen"), "{error}");
    assert_eq!(fingerprint(dir.path()), before, "the data was touched");
}
