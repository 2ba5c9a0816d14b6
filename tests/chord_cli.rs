//! The `feira-chord` binary: nodes as real processes, the client subcommands and their
//! exit codes, and a graceful leave on SIGTERM that hands the keys over.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use support::process::send_signal;
use support::wait_until;

const BIN: &str = env!("CARGO_BIN_EXE_feira-chord");

/// A node process, killed if the test fails half-way.
struct Process {
    child: Child,
    addr: String,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `feira-chord node` on a free port and reads its address from its first line.
fn start_node(join: Option<&str>) -> Process {
    let mut command = Command::new(BIN);
    command.args([
        "node",
        "--addr",
        "127.0.0.1:0",
        "--bits",
        "16",
        "--stabilize-ms",
        "30",
    ]);
    if let Some(join) = join {
        command.args(["--join", join]);
    }
    let mut child = command
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start feira-chord node");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("the node prints its address");
    // "node <id> listening on <addr>"
    let addr = line
        .split_whitespace()
        .last()
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    Process { child, addr }
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run feira-chord")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Waits for the process to exit by itself, and returns whether it succeeded.
fn wait_exit(process: &mut Process, deadline: Duration) -> bool {
    let status = wait_until(deadline, || process.child.try_wait().unwrap());
    status
        .unwrap_or_else(|| panic!("the node did not exit in {deadline:?}"))
        .success()
}

#[test]
fn nodes_as_processes_answer_the_cli_and_leave_on_sigterm() {
    let mut first = start_node(None);
    let mut second = start_node(Some(&first.addr));

    // RING from the first node shows both, once stabilisation has run.
    wait_until(Duration::from_secs(20), || {
        let ring = run(&["ring", "--via", &first.addr]);
        match ring.status.success() && stdout(&ring).contains("OK 2 nodes") {
            true => Ok(()),
            false => Err(stdout(&ring)),
        }
    })
    .expect("RING shows both nodes");

    // PUT through one node, GET through the other; several keys so both hold some.
    for i in 0..20 {
        let key = format!("fruta {i}");
        let put = run(&["put", &key, "maçã", "--via", &first.addr]);
        assert!(put.status.success(), "{put:?}");
        assert!(stdout(&put).contains("OK stored on"), "{}", stdout(&put));
        let get = run(&["get", &key, "--via", &second.addr]);
        assert!(get.status.success(), "{get:?}");
        assert!(
            stdout(&get).contains("value        maçã"),
            "{}",
            stdout(&get)
        );
    }

    // `feira-cli chord ...` is the same client: the same answer through the other binary.
    let via_cli = Command::new(env!("CARGO_BIN_EXE_feira-cli"))
        .args(["chord", "get", "fruta 3", "--via", &first.addr])
        .output()
        .unwrap();
    assert!(via_cli.status.success(), "{via_cli:?}");
    assert!(
        stdout(&via_cli).contains("value        maçã"),
        "{}",
        stdout(&via_cli)
    );

    // ERR exits 1 and says why on stderr; an unreachable node exits 2.
    let missing = run(&["get", "nothing", "--via", &first.addr]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("ERR NOT_FOUND"));
    let fingers = run(&["fingers", "--via", &second.addr]);
    assert!(
        stdout(&fingers).contains("finger       15 "),
        "{}",
        stdout(&fingers)
    );
    let nowhere = run(&["lookup", "k", "--via", "127.0.0.1:1", "--timeout-ms", "500"]);
    assert_eq!(nowhere.status.code(), Some(2));

    // SIGTERM: the second node leaves gracefully and exits 0 ...
    send_signal(second.child.id(), libc::SIGTERM);
    assert!(wait_exit(&mut second, Duration::from_secs(10)));
    // ... and every key is still there, now all on the first node.
    let keys = run(&["keys", "--via", &first.addr]);
    assert!(stdout(&keys).contains("OK 20 keys"), "{}", stdout(&keys));

    // LEAVE through the CLI stops the last node, which exits 0.
    let leave = run(&["leave", "--via", &first.addr]);
    assert!(leave.status.success(), "{leave:?}");
    assert!(wait_exit(&mut first, Duration::from_secs(10)));
}
