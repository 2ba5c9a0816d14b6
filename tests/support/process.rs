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

/// The real `feira-server` binary on port 0, killed when dropped. For what only a
/// process of its own shows: its memory and threads in /proc/PID/status.
pub struct ServerProcess {
    child: std::process::Child,
    pub addr: std::net::SocketAddr,
}

impl ServerProcess {
    /// Starts the binary on `dir` with these extra flags, and reads its address from
    /// its log ("listening on 127.0.0.1:PORT"), waiting at most `deadline` for it.
    pub fn start(dir: &std::path::Path, flags: &[&str], deadline: Duration) -> ServerProcess {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_feira-server"))
            .args(["--addr", "127.0.0.1:0", "--data"])
            .arg(dir)
            .args(flags)
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the feira-server binary starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, rx) = std::sync::mpsc::channel();
        // Keep reading the log until the process ends, so it never blocks on a full pipe,
        // and pass it on: the test's output shows it if the test fails.
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                eprintln!("feira-server: {line}");
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let _ = tx.send(rest.trim().to_string());
                }
            }
        });
        let Ok(addr) = rx.recv_timeout(deadline) else {
            let _ = child.kill();
            panic!("feira-server did not say where it listens within {deadline:?}");
        };
        let addr = addr.parse().expect("a socket address in the log");
        ServerProcess { child, addr }
    }

    /// A field of /proc/PID/status as a number: `VmRSS` and `VmHWM` in KiB, `Threads`.
    pub fn status(&self, field: &str) -> u64 {
        let path = format!("/proc/{}/status", self.child.id());
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        text.lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|value| value.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {field} in {path}"))
    }

    /// Starts measuring the peak memory (`VmHWM`) again from the current `VmRSS`.
    pub fn reset_peak_memory(&self) {
        let path = format!("/proc/{}/clear_refs", self.child.id());
        std::fs::write(&path, "5").unwrap_or_else(|e| panic!("{path}: {e}"));
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
