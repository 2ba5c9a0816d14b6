//! Running a program as a child process (a binary of this crate, an example, `python3`),
//! bounded in time, and sending it signals.

use std::io::Read;
use std::process::{Child, ExitStatus};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::wait::wait_until;

/// How a child process ended, and what it printed.
#[derive(Debug)]
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The exit code (`None` if a signal ended it).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

/// Waits for `child` to exit (killing it after `deadline`, which fails the test) and
/// collects what it printed on the pipes that are still there (a test that reads
/// stdout itself while the child runs has taken that pipe already). The pipes are read
/// while the child runs, so that a child that prints a lot never blocks on a full one.
pub fn finish(mut child: Child, deadline: Duration) -> Run {
    // Close its input first, as `Child::wait_with_output` does: a child that reads to
    // the end of its input must see that end.
    drop(child.stdin.take());
    let stdout = child.stdout.take().map(read_all);
    let stderr = child.stderr.take().map(read_all);
    let exited = wait_until(deadline, || matches!(child.try_wait(), Ok(Some(_))));
    if !exited {
        let _ = child.kill();
    }
    let status = child.wait().unwrap();
    let text = |pipe: Option<JoinHandle<std::io::Result<String>>>| {
        pipe.map(|reader| {
            let read = reader.join().expect("the pipe reader does not panic");
            read.expect("the program prints UTF-8")
        })
        .unwrap_or_default()
    };
    let (stdout, stderr) = (text(stdout), text(stderr));
    assert!(
        exited,
        "the process did not exit within {deadline:?}; stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    Run {
        status,
        stdout,
        stderr,
    }
}

/// Reads a pipe to its end on a thread of its own.
fn read_all(mut pipe: impl Read + Send + 'static) -> JoinHandle<std::io::Result<String>> {
    thread::spawn(move || {
        let mut text = String::new();
        pipe.read_to_string(&mut text).map(|_| text)
    })
}

/// Sends `signal` (`libc::SIGTERM`, `libc::SIGINT`) to the process `pid`, as `kill`
/// would, without needing the `kill` program.
pub fn send_signal(pid: u32, signal: i32) {
    let pid = libc::pid_t::try_from(pid).expect("a process id fits a pid_t");
    // SAFETY: kill(2) takes plain integers; the process is a child of this test, so
    // the id is not reused while the test holds its `Child`.
    let sent = unsafe { libc::kill(pid, signal) };
    assert_eq!(
        sent,
        0,
        "kill({pid}, {signal}): {}",
        std::io::Error::last_os_error()
    );
}

/// Sends `signal` to every process of the process group `pgid` (a child started with
/// `process_group(0)` leads its own), as a terminal's Ctrl-C does.
pub fn send_signal_to_group(pgid: u32, signal: i32) {
    let pgid = libc::pid_t::try_from(pgid).expect("a process id fits a pid_t");
    // SAFETY: kill(2) takes plain integers; a negative id names the group the test's
    // child leads, which lives while the test holds its `Child`.
    let sent = unsafe { libc::kill(-pgid, signal) };
    assert_eq!(
        sent,
        0,
        "kill(-{pgid}, {signal}): {}",
        std::io::Error::last_os_error()
    );
}
