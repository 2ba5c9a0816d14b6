//! Running one of the binaries as a child process, bounded in time.

use std::io::Read;
use std::process::{Child, ExitStatus};
use std::time::Duration;

use super::wait_until;

/// How a child process ended, and what it printed.
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
/// stdout itself while the child runs has taken that pipe already).
pub fn finish(mut child: Child, deadline: Duration) -> Run {
    let exited = wait_until(deadline, || matches!(child.try_wait(), Ok(Some(_))));
    if !exited {
        let _ = child.kill();
    }
    let status = child.wait().unwrap();
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stdout.take() {
        pipe.read_to_string(&mut stdout).unwrap();
    }
    if let Some(mut pipe) = child.stderr.take() {
        pipe.read_to_string(&mut stderr).unwrap();
    }
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
