//! Many logged-in connections at once: does every one get served, and what does each
//! cost the server in memory?
//!
//! Why this matters for a thread-per-connection server: each connection is a thread
//! with its own stack and buffers. The question "can it hold 10,000 users?" is a
//! question about memory per connection, so we read the server's resident memory
//! (VmRSS in /proc/PID/status) before the connections open and after they are all
//! logged in, and divide.
//!
//! The client side does not need a thread per connection here: a few threads open and
//! log in the connections, keep them open, and later send one request on each.

use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use super::report::{Latencies, micros};
use crate::client::Client;

/// The result of holding connections.
#[derive(Debug, Clone, Default)]
pub struct HoldReport {
    pub wanted: usize,
    /// Connections open and logged in at the same time.
    pub held: usize,
    /// Of those, how many answered a request while all were open.
    pub served: usize,
    pub login_seconds: f64,
    /// The server's memory before anything, and after a warm-up (a few logins, so the
    /// password hashing buffers exist) with no connection open: the "before" figure.
    pub rss_cold_kib: Option<u64>,
    pub rss_before_kib: Option<u64>,
    pub rss_after_kib: Option<u64>,
    pub server_threads: Option<u64>,
    pub p99_us: u64,
    pub max_us: u64,
    /// The first error met, if any.
    pub first_error: Option<String>,
}

/// The CSV columns of a hold report.
pub const HOLD_COLUMNS: &[&str] = &[
    "wanted",
    "held",
    "served",
    "login_seconds",
    "rss_cold_kib",
    "rss_before_kib",
    "rss_after_kib",
    "per_connection_kib",
    "server_threads",
    "p99_us",
    "max_us",
    "first_error",
];

impl HoldReport {
    /// Resident memory per held connection, in KiB.
    pub fn per_connection_kib(&self) -> Option<f64> {
        let (before, after) = (self.rss_before_kib?, self.rss_after_kib?);
        (self.held > 0).then(|| after.saturating_sub(before) as f64 / self.held as f64)
    }

    pub fn csv_fields(&self) -> Vec<String> {
        let opt = |v: Option<u64>| v.map_or(String::new(), |v| v.to_string());
        vec![
            self.wanted.to_string(),
            self.held.to_string(),
            self.served.to_string(),
            format!("{:.1}", self.login_seconds),
            opt(self.rss_cold_kib),
            opt(self.rss_before_kib),
            opt(self.rss_after_kib),
            self.per_connection_kib()
                .map_or(String::new(), |v| format!("{v:.1}")),
            opt(self.server_threads),
            self.p99_us.to_string(),
            self.max_us.to_string(),
            self.first_error.clone().unwrap_or_default(),
        ]
    }

    pub fn human(&self) -> String {
        let kib = |v: Option<u64>| v.map_or("?".to_string(), |v| format!("{v} KiB"));
        format!(
            "held {}/{} logged-in connections (logins took {:.1} s); served {} while all were open \
             (p99 {}, max {})\nserver memory: {} cold, {} after a warm-up, {} with all open = {} per connection; \
             server threads: {}{}\n",
            self.held,
            self.wanted,
            self.login_seconds,
            self.served,
            micros(self.p99_us),
            micros(self.max_us),
            kib(self.rss_cold_kib),
            kib(self.rss_before_kib),
            kib(self.rss_after_kib),
            self.per_connection_kib()
                .map_or("?".to_string(), |v| format!("{v:.1} KiB")),
            self.server_threads
                .map_or("?".to_string(), |v| v.to_string()),
            self.first_error
                .as_ref()
                .map_or(String::new(), |e| format!("\nfirst error: {e}")),
        )
    }
}

/// A field of /proc/PID/status (`VmRSS`, `Threads`) as a number (kB for memory).
pub fn proc_status(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// Opens `count` connections with `threads` helper threads, logs each in (accounts
/// round-robin), holds them all, then sends `WHOAMI` on each.
pub fn hold(
    addr: SocketAddr,
    count: usize,
    threads: usize,
    accounts: &[(String, String)],
    server_pid: Option<u32>,
    timeout: Duration,
) -> HoldReport {
    let mut report = HoldReport {
        wanted: count,
        rss_cold_kib: server_pid.and_then(|pid| proc_status(pid, "VmRSS")),
        ..HoldReport::default()
    };
    let threads = threads.clamp(1, count.max(1));
    let idle_threads = server_pid.and_then(|pid| proc_status(pid, "Threads"));
    // Warm-up: log in `threads` connections at once and close them, so that memory
    // the server allocates once (the hashing buffers) is not charged to connections.
    thread::scope(|scope| {
        for t in 0..threads {
            scope.spawn(move || {
                let (user, password) = &accounts[t % accounts.len()];
                let _ = Client::connect(addr, timeout).and_then(|mut c| c.login(user, password));
            });
        }
    });
    if let Some(pid) = server_pid {
        // Wait (bounded) for the warm-up connections' threads to end.
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && proc_status(pid, "Threads") > idle_threads {
            thread::sleep(Duration::from_millis(20));
        }
        report.rss_before_kib = proc_status(pid, "VmRSS");
    }
    let start = Instant::now();
    // Each helper opens its share; connections stay open when the helper ends.
    let opened: Vec<(Vec<Client>, Option<String>)> = thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    let mut clients = Vec::new();
                    for i in (t..count).step_by(threads) {
                        let (user, password) = &accounts[i % accounts.len()];
                        let attempt = Client::connect(addr, timeout)
                            .and_then(|mut c| c.login(user, password).map(|()| c));
                        match attempt {
                            Ok(client) => clients.push(client),
                            Err(e) => return (clients, Some(format!("connection {i}: {e}"))),
                        }
                    }
                    (clients, None)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| (Vec::new(), Some("a thread panicked".into())))
            })
            .collect()
    });
    report.login_seconds = start.elapsed().as_secs_f64();
    let mut shares = Vec::new();
    for (clients, error) in opened {
        report.held += clients.len();
        if report.first_error.is_none() {
            report.first_error = error;
        }
        shares.push(clients);
    }
    if let Some(pid) = server_pid {
        report.rss_after_kib = proc_status(pid, "VmRSS");
        report.server_threads = proc_status(pid, "Threads");
    }
    // Every connection is open: now each one asks something that needs its session.
    let served: Vec<(usize, Latencies, Option<String>)> = thread::scope(|scope| {
        let handles: Vec<_> = shares
            .iter_mut()
            .map(|clients| {
                scope.spawn(move || {
                    let mut latencies = Latencies::default();
                    let mut ok = 0;
                    let mut error = None;
                    for client in clients.iter_mut() {
                        let start = Instant::now();
                        match client.call_line("WHOAMI") {
                            Ok(reply) if reply.is_ok() => ok += 1,
                            Ok(reply) => {
                                error.get_or_insert(format!("WHOAMI: {:?}", reply.status));
                            }
                            Err(e) => {
                                error.get_or_insert(format!("WHOAMI: {e}"));
                            }
                        }
                        latencies.record(start.elapsed());
                    }
                    (ok, latencies, error)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| (0, Latencies::default(), Some("panic".into())))
            })
            .collect()
    });
    let mut all = Latencies::default();
    for (ok, latencies, error) in served {
        report.served += ok;
        all.merge(&latencies);
        if report.first_error.is_none() {
            report.first_error = error;
        }
    }
    report.p99_us = all.quantile_micros(0.99);
    report.max_us = all.max_micros();
    report
}
