//! Idle clients: what a client that is connected and says nothing costs the server in
//! memory, at each door. On the socket door each one is a thread with its stack and
//! its buffers; on the gRPC door an HTTP/2 connection's state on a shared runtime.
//!
//! The server's resident memory (VmRSS) is read after a warm-up client has come and
//! gone, then again once every client is connected and has had one answer (so that the
//! server has surely taken it on), and the difference is divided among them. The
//! clients are not logged in: a login costs an argon2 hash, 25 ms a client, and a
//! session adds only a small entry to memory; the question is the connection's cost.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::door_cost::rss_and_threads;
use crate::client::Client;

/// The result of holding idle clients at one door.
#[derive(Debug, Clone, Default)]
pub struct IdleReport {
    /// `sockets` or `grpc`.
    pub door: String,
    pub wanted: usize,
    /// Clients connected and answered at the same time.
    pub held: usize,
    pub seconds: f64,
    pub rss_before_kib: Option<u64>,
    pub rss_after_kib: Option<u64>,
    pub threads_before: Option<u64>,
    pub threads_after: Option<u64>,
    pub first_error: Option<String>,
}

/// The CSV columns of an idle report.
pub const IDLE_COLUMNS: &[&str] = &[
    "door",
    "wanted",
    "held",
    "seconds",
    "rss_before_kib",
    "rss_after_kib",
    "per_client_kib",
    "threads_before",
    "threads_after",
    "first_error",
];

impl IdleReport {
    /// Resident memory per idle client, in KiB.
    pub fn per_client_kib(&self) -> Option<f64> {
        let (before, after) = (self.rss_before_kib?, self.rss_after_kib?);
        (self.held > 0).then(|| (after as f64 - before as f64) / self.held as f64)
    }

    /// The fields in [`IDLE_COLUMNS`] order.
    pub fn csv_fields(&self) -> Vec<String> {
        let number = |n: Option<u64>| n.map_or(String::new(), |n| n.to_string());
        vec![
            self.door.clone(),
            self.wanted.to_string(),
            self.held.to_string(),
            format!("{:.1}", self.seconds),
            number(self.rss_before_kib),
            number(self.rss_after_kib),
            self.per_client_kib()
                .map_or(String::new(), |kib| format!("{kib:.1}")),
            number(self.threads_before),
            number(self.threads_after),
            self.first_error.clone().unwrap_or_default(),
        ]
    }

    /// One line for a person.
    pub fn human(&self) -> String {
        format!(
            "{}: {} of {} idle clients held in {:.1} s; server RSS {} -> {} KiB ({} KiB a client), threads {} -> {}{}",
            self.door,
            self.held,
            self.wanted,
            self.seconds,
            self.rss_before_kib.unwrap_or(0),
            self.rss_after_kib.unwrap_or(0),
            self.per_client_kib()
                .map_or("?".into(), |kib| format!("{kib:.1}")),
            self.threads_before.unwrap_or(0),
            self.threads_after.unwrap_or(0),
            self.first_error
                .as_ref()
                .map_or(String::new(), |e| format!("; first error: {e}")),
        )
    }
}

/// Holds `n` idle clients on the socket door at `addr` (each has sent one PING).
pub fn idle_sockets(addr: SocketAddr, n: usize, pid: u32, timeout: Duration) -> IdleReport {
    hold_idle("sockets", n, pid, || {
        let mut client = Client::connect(addr, timeout).map_err(|e| e.to_string())?;
        client.call_line("PING").map_err(|e| e.to_string())?;
        Ok(client)
    })
}

/// Holds `n` idle clients on the gRPC door at `addr` (each has had one answer: a
/// `GetProduct` without a token, refused `UNAUTHENTICATED` after the HTTP/2 handshake).
#[cfg(feature = "grpc")]
pub fn idle_grpc(addr: SocketAddr, n: usize, pid: u32, timeout: Duration) -> IdleReport {
    hold_idle("grpc", n, pid, || {
        let mut client = crate::grpc::client::GrpcClient::connect(&addr.to_string(), timeout)?;
        match client.get_product("Caju") {
            Err(status) if status.code() == tonic::Code::Unauthenticated => Ok(client),
            Err(status) => Err(status.message().to_string()),
            Ok(_) => Err("a call without a token was answered".into()),
        }
    })
}

fn hold_idle<C>(
    door: &str,
    n: usize,
    pid: u32,
    mut connect: impl FnMut() -> Result<C, String>,
) -> IdleReport {
    let mut report = IdleReport {
        door: door.into(),
        wanted: n,
        ..IdleReport::default()
    };
    // A warm-up client, come and gone: the door's first-use allocations are "before".
    if let Err(e) = connect() {
        report.first_error = Some(e);
        return report;
    }
    (report.rss_before_kib, report.threads_before) = rss_and_threads(pid);
    let started = Instant::now();
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        match connect() {
            Ok(client) => held.push(client),
            Err(e) => {
                report.first_error.get_or_insert(e);
            }
        }
    }
    report.seconds = started.elapsed().as_secs_f64();
    report.held = held.len();
    (report.rss_after_kib, report.threads_after) = rss_and_threads(pid);
    drop(held);
    report
}
