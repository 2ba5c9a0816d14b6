//! The Python example client runs against the real server, so it never drifts from
//! docs/PROTOCOL.md. Without `python3` it fails under CI and is SKIPPED, loudly,
//! elsewhere (tests/support/tools.rs).

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::process::{Run, finish};
use support::tools;
use support::*;

#[test]
fn the_python_client_logs_in_lists_and_orders() {
    if let Err(why) = tools::tool("python3") {
        tools::missing("python3", &why);
        return;
    }
    let server = start_server();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/python/feira_client.py"
    );
    let child = Command::new("python3")
        .arg(script)
        .args([
            "--addr",
            &server.addr.to_string(),
            "--user",
            "bob",
            "--password",
            "bob-pass",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let Run {
        status,
        stdout,
        stderr,
    } = finish(child, Duration::from_secs(60));
    assert!(status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("welcome, bob"), "{stdout}");
    assert!(stdout.contains("Maçã"), "{stdout}");
    assert!(stdout.contains("order 1: 1 x Maçã = 2.50"), "{stdout}");
    // BALANCE's data line is `* <user> <balance>`: 100.00 to start, less the order.
    assert!(stdout.contains("balance: 97.50"), "{stdout}");
    assert!(stdout.contains("as expected: NOT_FOUND"), "{stdout}");
    // The order really happened on the server.
    let mut bob = server.login(BOB);
    assert_eq!(ok(&mut bob, "ORDERS").len(), 1);
    assert_eq!(ok(&mut bob, "PRODUCT Maçã")[0][2], "299");
}
