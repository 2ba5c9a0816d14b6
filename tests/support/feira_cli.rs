//! The `feira-cli` binary as a child process, run as a person or a script would run it,
//! and bounded in time.

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::process::{self, Run};

/// How long any one run of the client may take before the test gives up on it.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// `feira-cli --addr ADDR`, with no password in its environment and no history file,
/// so it can never stop to ask anything on a terminal; its stdout and stderr piped.
pub fn command(addr: SocketAddr) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_feira-cli"));
    command
        .arg("--addr")
        .arg(addr.to_string())
        .env_remove("FEIRA_PASSWORD")
        .env("FEIRA_HISTORY", "")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Runs the client with `stdin` as its input, bounded by [`DEADLINE`].
pub fn run(mut command: Command, stdin: &str) -> Run {
    command.stdin(Stdio::piped());
    let mut child = command.spawn().expect("the client starts");
    // Write and close stdin, so the client sees the end of its script.
    // A client that exits without reading it all (the server is down) closes the pipe
    // early: that is its business, not a failure of the test.
    let mut input = child.stdin.take().unwrap();
    let _ = input.write_all(stdin.as_bytes());
    drop(input);
    finish(child)
}

/// Waits for the client to exit (killing it after [`DEADLINE`]) and collects its output.
pub fn finish(child: Child) -> Run {
    process::finish(child, DEADLINE)
}
