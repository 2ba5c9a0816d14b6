//! The Python example client runs against the real server, so it never drifts from
//! docs/PROTOCOL.md. Skipped (with a message) only where no `python3` exists.

mod support;

use std::process::Command;

use support::*;

#[test]
fn the_python_client_logs_in_lists_and_orders() {
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("SKIPPED: python3 is not installed");
        return;
    }
    let server = start_server();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/python/feira_client.py"
    );
    let output = Command::new("python3")
        .arg(script)
        .args([
            "--addr",
            &server.addr.to_string(),
            "--user",
            "bob",
            "--password",
            "bob-pass",
        ])
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
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
