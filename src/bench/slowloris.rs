//! Slowloris: many connections that trickle a request one byte at a time. Does a normal
//! client still get quick answers, and does the server close the tricklers?
//!
//! Why it matters: each trickling connection holds a server thread. The server's line
//! timeout (a request line must arrive whole within N seconds once it has started)
//! bounds how long; this measures both the bound and the normal client's latency.
//!
//! One client thread drives all the tricklers: a byte per connection per second costs
//! nothing to send, and a thread per trickler would only measure our own scheduler.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::report::{Latencies, micros};
use crate::client::Client;

/// What the slowloris run measured.
#[derive(Debug, Clone, Default)]
pub struct SlowlorisReport {
    pub tricklers: usize,
    pub seconds: f64,
    /// The normal client's requests during the run, and their latency.
    pub requests: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    /// Tricklers the server had closed by the end.
    pub closed: usize,
    pub first_error: Option<String>,
}

pub const SLOWLORIS_COLUMNS: &[&str] = &[
    "tricklers",
    "seconds",
    "requests",
    "p50_us",
    "p99_us",
    "max_us",
    "closed",
    "first_error",
];

impl SlowlorisReport {
    pub fn csv_fields(&self) -> Vec<String> {
        vec![
            self.tricklers.to_string(),
            format!("{:.1}", self.seconds),
            self.requests.to_string(),
            self.p50_us.to_string(),
            self.p99_us.to_string(),
            self.max_us.to_string(),
            self.closed.to_string(),
            self.first_error.clone().unwrap_or_default(),
        ]
    }

    pub fn human(&self) -> String {
        format!(
            "{} trickling connections for {:.1} s: a normal client made {} requests, p50 {} p99 {} max {}; \
             the server closed {} of the tricklers{}\n",
            self.tricklers,
            self.seconds,
            self.requests,
            micros(self.p50_us),
            micros(self.p99_us),
            micros(self.max_us),
            self.closed,
            self.first_error
                .as_ref()
                .map_or(String::new(), |e| format!("\nfirst error: {e}")),
        )
    }
}

/// Opens `tricklers` connections that send one byte a second (never a newline) for
/// `duration`, while one logged-in client sends `PING` every 10 ms.
pub fn slowloris(
    addr: SocketAddr,
    tricklers: usize,
    duration: Duration,
    account: (&str, &str),
) -> SlowlorisReport {
    let mut report = SlowlorisReport {
        tricklers,
        ..SlowlorisReport::default()
    };
    let mut slow = Vec::with_capacity(tricklers);
    for _ in 0..tricklers {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(10)) {
            Ok(stream) => {
                let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
                slow.push(Some(stream));
            }
            Err(e) => {
                report
                    .first_error
                    .get_or_insert(format!("cannot open a trickler: {e}"));
                break;
            }
        }
    }
    // The normal client connects after the tricklers, so that opening them (which can
    // take a while against a full accept backlog) does not count against its idle time.
    let mut normal = match Client::connect(addr, Duration::from_secs(10))
        .and_then(|mut c| c.login(account.0, account.1).map(|()| c))
    {
        Ok(client) => client,
        Err(e) => {
            report.first_error = Some(format!("the normal client cannot log in: {e}"));
            return report;
        }
    };
    let start = Instant::now();
    let mut latencies = Latencies::default();
    let mut next_trickle = start;
    let mut byte = 0usize;
    while start.elapsed() < duration {
        if Instant::now() >= next_trickle {
            let letter = b"PRODUCT feira-bench"[byte % 19];
            byte += 1;
            for stream in slow.iter_mut().flatten() {
                // A write to a connection the server has closed fails sooner or later;
                // that is what we are waiting for, so errors are fine here.
                let _ = stream.write_all(&[letter]);
            }
            next_trickle += Duration::from_secs(1);
        }
        let sent = Instant::now();
        match normal.call_line("PING") {
            Ok(_) => latencies.record(sent.elapsed()),
            Err(e) => {
                report
                    .first_error
                    .get_or_insert(format!("the normal client: {e}"));
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    report.seconds = start.elapsed().as_secs_f64();
    // Which tricklers has the server closed? It answers `ERR TIMEOUT ...` and closes:
    // reading finds that line and then end-of-file.
    for stream in slow.iter_mut() {
        if let Some(s) = stream {
            let _ = s.set_read_timeout(Some(Duration::from_millis(20)));
            let mut buf = [0u8; 256];
            let closed = loop {
                match s.read(&mut buf) {
                    Ok(0) => break true,
                    Ok(_) => continue,
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
                    Err(_) => break false,
                }
            };
            if closed {
                report.closed += 1;
            }
        }
        *stream = None;
    }
    report.requests = latencies.count();
    report.p50_us = latencies.quantile_micros(0.5);
    report.p99_us = latencies.quantile_micros(0.99);
    report.max_us = latencies.max_micros();
    report
}
