//! The Python example client runs against the real server, so it never drifts from
//! docs/PROTOCOL.md. Without `python3` it fails under CI and is SKIPPED, loudly,
//! elsewhere (tests/support/tools.rs).

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::process::{Run, finish};
use support::tools;
use support::*;

/// Runs the Python client against `server`, its command line completed by `finish_args`
/// (the address, the account); `None` if this machine has no `python3` (a failure
/// under CI, a loud SKIPPED elsewhere).
fn python_client(finish_args: impl FnOnce(&mut Command)) -> Option<Run> {
    if let Err(why) = tools::tool("python3") {
        tools::missing("python3", &why);
        return None;
    }
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/python/feira_client.py"
    );
    let mut command = Command::new("python3");
    command
        .arg(script)
        .env_remove("FEIRA_ADDR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    finish_args(&mut command);
    let child = command.spawn().expect("python3 runs");
    Some(finish(child, Duration::from_secs(60)))
}

#[test]
fn the_python_client_logs_in_lists_and_orders() {
    let server = start_server();
    let addr = server.addr.to_string();
    let Some(Run {
        status,
        stdout,
        stderr,
    }) = python_client(|command| {
        command.args(["--addr", &addr, "--user", "bob", "--password", "bob-pass"]);
    })
    else {
        return;
    };
    assert!(status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("welcome, bob"), "{stdout}");
    assert!(stdout.contains("Maçã"), "{stdout}");
    assert!(stdout.contains("order 1: 1 x Maçã = 2.50"), "{stdout}");
    // BALANCE's data line is `* <user> <balance>`: 100.00 to start, less the order.
    assert!(stdout.contains("balance: 97.50"), "{stdout}");
    // It says what it tried and what it expected, not a bare "as expected".
    assert!(
        stdout.contains(
            "ordering \"No such product\" is refused with NOT_FOUND (as expected): no product named"
        ),
        "{stdout}"
    );
    // The order really happened on the server.
    let mut bob = server.login(BOB);
    assert_eq!(ok(&mut bob, "ORDERS").len(), 1);
    assert_eq!(ok(&mut bob, "PRODUCT Maçã")[0][2], "299");
}

/// Without `--addr` it looks where `FEIRA_ADDR` says, as the other clients do.
#[test]
fn the_python_client_finds_the_server_through_feira_addr() {
    let server = start_server();
    let Some(run) = python_client(|command| {
        command.env("FEIRA_ADDR", server.addr.to_string());
    }) else {
        return;
    };
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("welcome, alice"), "{}", run.stdout);
}
