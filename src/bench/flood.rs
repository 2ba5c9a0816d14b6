//! Login under flood: while many connections from one address loop wrong passwords on
//! made-up names, how long does a real user from another address take to log in?
//!
//! Why it matters: every password check costs the server an argon2 hash, on purpose.
//! If the flood's attempts queue for the hash ahead of everyone else, a real user waits
//! behind all of them (12 to 22 s before the throttle and the fair hash gate:
//! docs/RELIABILITY.md, "Fair logins"). The target is a login within about a second.
//!
//! The flood and the user come from different loopback addresses (127.0.0.2 and
//! 127.0.0.3 by default; Linux routes all of 127/8 to loopback), so the server counts
//! them apart, as it would two machines. Each flooding connection has a thread of its
//! own and sends its next LOGIN as soon as the last one is answered, as an attacker's
//! script would (it does not wait for the `retry in` the server advises). The user opens
//! a new connection for every login, as someone starting the client would, and registers
//! a new account once a second.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::report::{Latencies, micros};
use crate::client::Client;
use crate::protocol::{ErrorCode, Reply};

/// What the flood run measured.
#[derive(Debug, Clone, Default)]
pub struct FloodReport {
    pub flooders: usize,
    /// How long the user was measured, with the flood running throughout.
    pub seconds: f64,
    /// The flood's attempts in that time: refused before hashing (`THROTTLED`),
    /// hashed and refused (`AUTH_FAILED`), and anything else.
    pub refused: u64,
    pub hashed: u64,
    pub other: u64,
    /// The user's logins (connect and LOGIN), and their latency.
    pub logins: u64,
    pub login_p50_us: u64,
    pub login_p99_us: u64,
    pub login_max_us: u64,
    /// The user's registrations, and the slowest.
    pub registrations: u64,
    pub register_max_us: u64,
    pub first_error: Option<String>,
}

pub const FLOOD_COLUMNS: &[&str] = &[
    "flooders",
    "seconds",
    "refused",
    "hashed",
    "other",
    "logins",
    "login_p50_us",
    "login_p99_us",
    "login_max_us",
    "registrations",
    "register_max_us",
    "first_error",
];

/// The target: a real user's login within about a second, whatever the flood.
pub const TARGET_US: u64 = 1_000_000;

impl FloodReport {
    pub fn csv_fields(&self) -> Vec<String> {
        vec![
            self.flooders.to_string(),
            format!("{:.1}", self.seconds),
            self.refused.to_string(),
            self.hashed.to_string(),
            self.other.to_string(),
            self.logins.to_string(),
            self.login_p50_us.to_string(),
            self.login_p99_us.to_string(),
            self.login_max_us.to_string(),
            self.registrations.to_string(),
            self.register_max_us.to_string(),
            self.first_error.clone().unwrap_or_default(),
        ]
    }

    /// Per second of the measured time.
    fn rate(&self, count: u64) -> f64 {
        count as f64 / self.seconds.max(0.001)
    }

    pub fn human(&self) -> String {
        format!(
            "{} connections flooding wrong logins for {:.1} s: {:.0} refused/s, {:.1} hashed/s{}\n\
             a real user from another address: {} logins, p50 {} p99 {} max {} (target: within {}); \
             {} registrations, max {}{}\n",
            self.flooders,
            self.seconds,
            self.rate(self.refused),
            self.rate(self.hashed),
            if self.other > 0 {
                format!(", {} other replies", self.other)
            } else {
                String::new()
            },
            self.logins,
            micros(self.login_p50_us),
            micros(self.login_p99_us),
            micros(self.login_max_us),
            micros(TARGET_US),
            self.registrations,
            micros(self.register_max_us),
            self.first_error
                .as_ref()
                .map_or(String::new(), |e| format!("\nfirst error: {e}")),
        )
    }
}

/// Where the flood comes from, and who the real user is.
#[derive(Debug, Clone)]
pub struct FloodOptions {
    pub addr: SocketAddr,
    pub flooders: usize,
    pub duration: Duration,
    pub flood_from: IpAddr,
    pub user_from: IpAddr,
    /// The real user's account.
    pub account: (String, String),
    pub timeout: Duration,
}

/// The flood's replies, counted by kind.
#[derive(Default)]
struct Tally {
    refused: AtomicU64,
    hashed: AtomicU64,
    other: AtomicU64,
}

impl Tally {
    fn count(&self, reply: &Reply) {
        let counter = match reply.code() {
            Some(ErrorCode::Throttled) => &self.refused,
            Some(ErrorCode::AuthFailed) => &self.hashed,
            _ => &self.other,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> [u64; 3] {
        [&self.refused, &self.hashed, &self.other].map(|c| c.load(Ordering::Relaxed))
    }
}

/// Runs the flood and measures the user; see the module doc.
pub fn flood(options: &FloodOptions) -> FloodReport {
    let mut report = FloodReport {
        flooders: options.flooders,
        ..FloodReport::default()
    };
    let tally = Tally::default();
    let stop = AtomicBool::new(false);
    let answered = AtomicU64::new(0);
    let errors = parking_lot::Mutex::new(None::<String>);
    thread::scope(|scope| {
        for index in 0..options.flooders {
            let (tally, stop, answered, errors) = (&tally, &stop, &answered, &errors);
            let spawned = thread::Builder::new()
                .name(format!("flood-{index}"))
                .stack_size(128 * 1024)
                .spawn_scoped(scope, move || {
                    if let Err(e) = flood_thread(index, options, tally, stop, answered) {
                        errors.lock().get_or_insert(e);
                    }
                });
            if let Err(e) = spawned {
                errors
                    .lock()
                    .get_or_insert(format!("cannot start flood thread {index}: {e}"));
                break;
            }
        }
        // The flood is in full swing once every connection has had an answer.
        let deadline = Instant::now() + options.timeout;
        while answered.load(Ordering::Relaxed) < options.flooders as u64
            && Instant::now() < deadline
            && errors.lock().is_none()
        {
            thread::sleep(Duration::from_millis(10));
        }
        let before = tally.snapshot();
        let start = Instant::now();
        measure_user(options, &mut report);
        report.seconds = start.elapsed().as_secs_f64();
        let after = tally.snapshot();
        [report.refused, report.hashed, report.other] =
            [0, 1, 2].map(|i| after[i].saturating_sub(before[i]));
        stop.store(true, Ordering::Relaxed);
    });
    if let Some(e) = errors.into_inner() {
        report.first_error.get_or_insert(e);
    }
    report
}

/// One flooding connection: wrong passwords for made-up names until told to stop.
fn flood_thread(
    index: usize,
    options: &FloodOptions,
    tally: &Tally,
    stop: &AtomicBool,
    answered: &AtomicU64,
) -> Result<(), String> {
    let mut client = Client::connect_from(options.flood_from, options.addr, options.timeout)
        .map_err(|e| format!("a flooding connection from {}: {e}", options.flood_from))?;
    let mut k = 0u64;
    while !stop.load(Ordering::Relaxed) {
        k += 1;
        let reply = client
            .call_line(&format!("LOGIN nouser{index}x{k} wrong-password"))
            .map_err(|e| format!("a flooding connection: {e}"))?;
        tally.count(&reply);
        if k == 1 {
            answered.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(())
}

/// The real user: a new connection and a LOGIN every 100 ms, a REGISTER once a second.
fn measure_user(options: &FloodOptions, report: &mut FloodReport) {
    let (user, password) = (&options.account.0, &options.account.1);
    let mut logins = Latencies::default();
    let mut registers = Latencies::default();
    let start = Instant::now();
    let mut next_register = start;
    let mut round = 0u64;
    while start.elapsed() < options.duration {
        round += 1;
        let began = Instant::now();
        let result = Client::connect_from(options.user_from, options.addr, options.timeout)
            .and_then(|mut client| {
                client.login(user, password)?;
                Ok(client)
            });
        let mut client = match result {
            Ok(client) => client,
            Err(e) => {
                report
                    .first_error
                    .get_or_insert(format!("the user's login: {e}"));
                break;
            }
        };
        logins.record(began.elapsed());
        if Instant::now() >= next_register {
            next_register += Duration::from_secs(1);
            let line = format!(
                "REGISTER flood-check-{}-{round} flood-check-pass",
                std::process::id()
            );
            let began = Instant::now();
            match client.call_line(&line) {
                Ok(reply) if reply.is_ok() => registers.record(began.elapsed()),
                Ok(reply) => {
                    report
                        .first_error
                        .get_or_insert(format!("{line}: {:?}", reply.status));
                }
                Err(e) => {
                    report.first_error.get_or_insert(format!("{line}: {e}"));
                }
            }
        }
        let _ = client.send_line("QUIT");
        thread::sleep(Duration::from_millis(100));
    }
    report.logins = logins.count();
    report.login_p50_us = logins.quantile_micros(0.5);
    report.login_p99_us = logins.quantile_micros(0.99);
    report.login_max_us = logins.max_micros();
    report.registrations = registers.count();
    report.register_max_us = registers.max_micros();
}

/// The Markdown section for docs/BENCHMARKS.md, from the rows of flood.csv.
pub fn markdown(rows: &[Vec<String>]) -> String {
    let get = |row: &[String], name: &str| column(row, name).to_string();
    let mut md = String::from(
        "\n## Login under flood\n\n\
         Connections from 127.0.0.2 send wrong passwords for made-up names as fast as they are \
         answered, while a real user from 127.0.0.3 opens a connection and logs in every 100 ms \
         (and registers once a second). Refused: answered `THROTTLED` before any hashing; hashed: \
         answered `AUTH_FAILED` after a password check.\n\n\
         | flooding connections | seconds | flood refused/s | flood hashed/s | user's logins | p50 | p99 | max | registrations (max) | first error |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for row in rows {
        let seconds: f64 = get(row, "seconds").parse().unwrap_or(0.0);
        let per_second = |name: &str| {
            let count: f64 = get(row, name).parse().unwrap_or(0.0);
            count / seconds.max(0.001)
        };
        md.push_str(&format!(
            "| {} | {} | {:.0} | {:.1} | {} | {} | {} | {} | {} ({}) | {} |\n",
            get(row, "flooders"),
            get(row, "seconds"),
            per_second("refused"),
            per_second("hashed"),
            get(row, "logins"),
            micros_text(&get(row, "login_p50_us")),
            micros_text(&get(row, "login_p99_us")),
            micros_text(&get(row, "login_max_us")),
            get(row, "registrations"),
            micros_text(&get(row, "register_max_us")),
            get(row, "first_error"),
        ));
    }
    md
}

/// The target rows for the summary's table of targets.
pub fn target_rows(rows: &[Vec<String>]) -> Vec<String> {
    rows.iter()
        .map(|row| {
            let max: u64 = column(row, "login_max_us").parse().unwrap_or(u64::MAX);
            let p99: u64 = column(row, "login_p99_us").parse().unwrap_or(u64::MAX);
            let logins = column(row, "logins");
            let failed = !column(row, "first_error").is_empty();
            let met = max <= TARGET_US && logins != "0" && !failed;
            format!(
                "| {} connections flooding wrong logins from one address: a login from another within about a second | {logins} logins, p99 {}, max {} | {} |",
                column(row, "flooders"),
                micros(p99),
                micros(max),
                if met { "**met**" } else { "**missed**" }
            )
        })
        .collect()
}

fn column<'a>(row: &'a [String], name: &str) -> &'a str {
    FLOOD_COLUMNS
        .iter()
        .position(|c| *c == name)
        .and_then(|i| row.get(i))
        .map_or("", String::as_str)
}

fn micros_text(text: &str) -> String {
    text.parse().map_or_else(|_| text.to_string(), micros)
}
