//! The real `feira-server` binary as a child process: started on port 0, its log read
//! as it runs, stopped by a signal or killed with -9.
//!
//! For the tests that need a process of its own: a crash (`kill -9`), a signal, the
//! server's memory in /proc, a second server on the same directory. Every other test
//! runs the server in its own process: [`TestServer`](super::server::TestServer).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use feira::client::Client;

use super::client::{REPLY_TIMEOUT, login};
use super::process::{Run, finish, send_signal};
use super::wait::wait_until;

/// A running `feira-server`; killed (SIGKILL) if still running when dropped.
pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
    /// The lines of its log (stderr), as they come.
    log: mpsc::Receiver<String>,
    /// The lines it prints on its standard output (the web door's address and token).
    stdout: mpsc::Receiver<String>,
    /// The lines it logged before the one that gave its address (start-up).
    pub started_log: Vec<String>,
    /// The line that gave its address (`... listening on 127.0.0.1:41234`).
    pub listening_line: String,
}

impl ServerProcess {
    /// Starts the binary on `dir`, listening on a free port, and waits (30 s at most)
    /// until it logs the address it listens on.
    pub fn start(dir: &Path) -> ServerProcess {
        ServerProcess::start_with(dir, &[])
    }

    /// The same, with these flags added (`--write-timeout 1`).
    pub fn start_with(dir: &Path, flags: &[&str]) -> ServerProcess {
        let mut command = server_command(dir, "127.0.0.1:0");
        command.args(flags);
        ServerProcess::spawn(command)
    }

    /// Starts this command line of `feira-server`, which must log where it listens
    /// (RUST_LOG=info), and waits (30 s at most) until it does.
    pub fn spawn(mut command: Command) -> ServerProcess {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the feira-server binary starts");
        let printed = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let (printed_lines, stdout) = mpsc::channel();
        std::thread::spawn(move || {
            for line in printed.lines().map_while(Result::ok) {
                if printed_lines.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = BufReader::new(child.stderr.take().expect("stderr is piped"));
        let (lines, log) = mpsc::channel();
        // Keep reading until the process ends, so that it never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = Vec::new();
        let (addr, listening_line) = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match log.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.split("listening on ").nth(1) {
                        let addr = rest.trim().parse().expect("a socket address in the log");
                        break (addr, line);
                    }
                    seen.push(line);
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("feira-server did not say where it listens; its log:\n{seen:#?}");
                }
            }
        };
        ServerProcess {
            child,
            addr,
            log,
            stdout,
            started_log: seen,
            listening_line,
        }
    }

    /// The lines it has logged since the last call (after the line that gave its
    /// address), without waiting for more.
    pub fn new_log_lines(&self) -> Vec<String> {
        self.log.try_iter().collect()
    }

    /// The first line it prints on its standard output that contains `needle`, waiting
    /// 30 s at most (which fails the test).
    pub fn stdout_line(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => panic!("feira-server printed no line with {needle:?}"),
            }
        }
    }

    /// The names of its threads (`conn-7`, `http-accept`), from /proc.
    pub fn thread_names(&self) -> Vec<String> {
        let tasks = format!("/proc/{}/task", self.pid());
        let entries = std::fs::read_dir(&tasks).unwrap_or_else(|e| panic!("{tasks}: {e}"));
        entries
            .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path().join("comm")).ok())
            .map(|name| name.trim().to_string())
            .collect()
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A field of /proc/PID/status as a number: `VmRSS` and `VmHWM` in KiB, `Threads`.
    pub fn status(&self, field: &str) -> u64 {
        let path = format!("/proc/{}/status", self.pid());
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        text.lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|value| value.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {field} in {path}"))
    }

    /// Starts measuring the peak memory (`VmHWM`) again from the current `VmRSS`.
    pub fn reset_peak_memory(&self) {
        let path = format!("/proc/{}/clear_refs", self.pid());
        std::fs::write(&path, "5").unwrap_or_else(|e| panic!("{path}: {e}"));
    }

    /// A new connection, not logged in.
    pub fn client(&self) -> Client {
        Client::connect(self.addr, REPLY_TIMEOUT).expect("connect to feira-server")
    }

    /// A connection logged in as `user`.
    pub fn login(&self, user: (&str, &str)) -> Client {
        login(self.addr, user)
    }

    /// kill -9: no shutdown, no checkpoint.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits (30 s at most) for the process to exit; returns how it
    /// ended and the lines it logged after the one that gave its address.
    pub fn terminate(self) -> (ExitStatus, Vec<String>) {
        self.stop_with(libc::SIGTERM)
    }

    /// Sends `signal` (`libc::SIGTERM`, `libc::SIGINT`) and waits (30 s at most) for the
    /// process to exit; returns how it ended and the lines it logged after the one that
    /// gave its address.
    pub fn stop_with(mut self, signal: i32) -> (ExitStatus, Vec<String>) {
        send_signal(self.child.id(), signal);
        let exited = wait_until(Duration::from_secs(30), || {
            matches!(self.child.try_wait(), Ok(Some(_)))
        });
        assert!(
            exited,
            "feira-server did not stop within 30 s of signal {signal}"
        );
        let status = self.child.wait().expect("the server exits");
        // The reader thread ends at end-of-file: this collects the rest of the log.
        let logged = self.log.iter().collect();
        (status, logged)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `feira-server --addr ADDR --data DIR`, logging at info level.
pub fn server_command(dir: &Path, addr: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_feira-server"));
    command
        .args(["--addr", addr, "--data"])
        .arg(dir)
        .env("RUST_LOG", "info");
    command
}

/// Runs `feira-server` with these arguments to its end (at most `deadline`).
pub fn run_to_end(mut command: Command, deadline: Duration) -> Run {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the feira-server binary starts");
    finish(child, deadline)
}
