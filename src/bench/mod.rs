//! feira-bench: how fast is the server, and does it stay correct while it is fast?
//!
//! In the spirit of redis-benchmark, with the server's own model: one OS thread per
//! connection, one request at a time. A run goes like this:
//!
//! 1. [`setup`]: make sure the accounts and the bench product exist, and find out which
//!    workloads this server supports;
//! 2. every connection thread connects and logs in (login latency is reported apart:
//!    each one costs an argon2 hash, ~25 ms of CPU, on purpose);
//! 3. for each workload in turn, all threads start together (a barrier), run it for
//!    the duration, and hand back a latency histogram ([`report`]) and their errors;
//! 4. after a write workload, [`verify`] checks the server's books through the protocol.
//!
//! Other modes: [`hold`] opens thousands of logged-in connections at once and measures
//! the server's memory per connection; [`slowloris`] measures a normal client while
//! many others trickle bytes; [`flood`] measures a real user's login while many
//! connections from another address loop wrong passwords; [`summary`] and [`chart`] turn the CSV results of
//! `make bench` into docs/BENCHMARKS.md and an SVG chart. [`redis`] speaks just enough
//! of Redis's protocol to run the same client model against redis-server. With the
//! `grpc` feature, `--grpc ADDR` runs the read and the durable write over feira's gRPC
//! door with the same client model, and [`door_cost`] measures what a request costs each
//! door on the wire and in the server's CPU; [`idle`] what idle clients cost in memory.

pub mod ablation;
pub mod chart;
pub mod door_cost;
pub mod doors;
pub mod flood;
pub mod hold;
pub mod idle;
pub mod redis;
pub mod report;
pub mod setup;
pub mod slowloris;
pub mod summary;
pub mod verify;
pub mod workload;

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;

use report::{Latencies, RunSummary};
use setup::Accounts;
use workload::{Acked, PhaseResult, Plan, Worker, Workload};

/// Everything a run needs to know.
#[derive(Debug, Clone)]
pub struct Options {
    pub addr: SocketAddr,
    pub connections: usize,
    pub duration: Duration,
    pub workloads: Vec<Workload>,
    pub accounts: Accounts,
    /// The admin account, for the bench product and the stock checks.
    pub admin: (String, String),
    /// Talk to redis-server instead of feira.
    pub redis: bool,
    /// Free text that identifies the run in the CSV results.
    pub label: String,
    /// Bounds every connect, read and write.
    pub timeout: Duration,
    /// Print a progress line on stderr.
    pub progress: bool,
    /// Every TRANSFER pays the same account (one hot row) instead of the next account
    /// along (rows spread over every account).
    pub hot_row: bool,
    /// Run the workloads over feira's gRPC door at this address (the `grpc` feature);
    /// `addr` is still used to set up and to check the books.
    pub grpc: Option<SocketAddr>,
    /// The server's process id: each summary then has the server's CPU per request.
    pub server_pid: Option<u32>,
}

/// What a connection thread tells the main thread.
enum Message {
    /// Connected and logged in (with the login's duration), or failed to.
    Ready(Result<Option<Duration>, String>),
    /// One phase's results.
    Phase(PhaseResult),
}

/// Runs every workload of `options` in turn; one summary per workload.
pub fn run(options: &Options) -> Result<Vec<RunSummary>, String> {
    if options.connections == 0 {
        return Err("at least one connection is needed".into());
    }
    let (plan, workloads, mut admin, mut observers) = if options.redis {
        let mut runnable = Vec::new();
        for &w in &options.workloads {
            if w.redis_can_run() {
                runnable.push(w);
            } else {
                eprintln!(
                    "feira-bench: skipping {} against redis: it is a feira workload",
                    w.name()
                );
            }
        }
        (Plan::default(), runnable, None, Vec::new())
    } else {
        if options.grpc.is_some() && !cfg!(feature = "grpc") {
            return Err(
                "--grpc: this feira-bench was built without gRPC: build it with \
                        `cargo build --release --features grpc`"
                    .into(),
            );
        }
        let admin = (options.admin.0.as_str(), options.admin.1.as_str());
        let prepared = setup::prepare(
            options.addr,
            options.timeout,
            &options.workloads,
            &options.accounts,
            admin,
        )?;
        let plan = Plan {
            hot_row: options.hot_row,
            ..prepared.plan
        };
        let mut workloads = prepared.workloads;
        if options.grpc.is_some() {
            workloads.retain(|w| {
                w.grpc_can_run() || {
                    eprintln!(
                        "feira-bench: skipping {} over gRPC: product and order only",
                        w.name()
                    );
                    false
                }
            });
        }
        (plan, workloads, prepared.admin, prepared.observers)
    };
    if workloads.is_empty() {
        return Err("none of the workloads asked for can run against this server".into());
    }

    let n = options.connections;
    let plan = Arc::new(plan);
    let barrier = Arc::new(Barrier::new(n + 1));
    let ops = Arc::new(AtomicU64::new(0));
    let (tx, rx) = crossbeam_channel::unbounded();
    let mut threads = Vec::with_capacity(n);
    for index in 0..n {
        let (plan, barrier, ops, tx) = (plan.clone(), barrier.clone(), ops.clone(), tx.clone());
        let (options, workloads) = (options.clone(), workloads.clone());
        let spawned = thread::Builder::new()
            .name(format!("bench-{index}"))
            .stack_size(256 * 1024)
            .spawn(move || {
                connection_thread(index, &options, &plan, &workloads, &barrier, &ops, &tx)
            });
        match spawned {
            Ok(handle) => threads.push(handle),
            Err(e) => {
                // Without this thread the barrier would never open: stop here.
                return Err(format!(
                    "cannot start connection thread {index}: {e} (lower -c, or raise the thread limit)"
                ));
            }
        }
    }
    drop(tx);

    // 1. Logins.
    let mut logins = Latencies::default();
    let mut login_errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut first_login_error = None;
    let started = Instant::now();
    for done in 1..=n {
        match rx.recv() {
            Ok(Message::Ready(Ok(Some(latency)))) => logins.record(latency),
            Ok(Message::Ready(Ok(None))) => {}
            Ok(Message::Ready(Err(e))) => {
                *login_errors.entry("LOGIN".into()).or_default() += 1;
                first_login_error.get_or_insert(e);
            }
            Ok(Message::Phase(_)) | Err(_) => return Err("a connection thread died".into()),
        }
        if options.progress && (done % 50 == 0 || done == n) {
            progress(&format!(
                "connecting and logging in: {done}/{n} ({:.1} s)",
                started.elapsed().as_secs_f64()
            ));
        }
    }
    if let Some(e) = &first_login_error {
        eprintln!(
            "\nfeira-bench: {} of {n} connections could not start; the first: {e}",
            login_errors.values().sum::<u64>()
        );
    }

    // 2. The phases.
    let mut summaries = Vec::new();
    for &workload in &workloads {
        let before = match (&mut admin, workload.writes()) {
            (Some(admin), true) => Some(verify::read_books(admin, &plan.product, &mut observers)?),
            _ => None,
        };
        ops.store(0, Ordering::Relaxed);
        // The bytes on the wire and the server's CPU are read around the phase.
        let door = options.grpc.unwrap_or(options.addr);
        let counted = door_cost::snapshot(door, options.server_pid);
        barrier.wait();
        let start = Instant::now();
        let mut merged = PhaseResult::default();
        let mut results = 0;
        while results < n {
            match rx.recv_timeout(Duration::from_millis(500)) {
                Ok(Message::Phase(result)) => {
                    merge(&mut merged, result);
                    results += 1;
                }
                Ok(Message::Ready(_)) => {}
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    return Err("the connection threads stopped early".into());
                }
            }
            if options.progress {
                let elapsed = start.elapsed().as_secs_f64();
                let done = ops.load(Ordering::Relaxed);
                progress(&format!(
                    "{} x{n}: {elapsed:.0}/{:.0} s, {done} requests, {:.0}/s",
                    workload.name(),
                    options.duration.as_secs_f64(),
                    done as f64 / elapsed.max(0.001)
                ));
            }
        }
        let seconds = start.elapsed().as_secs_f64();
        // Read while every connection is still open: each waits at the barrier once
        // more after its last phase.
        let cost = door_cost::cost(
            &counted,
            &door_cost::snapshot(door, options.server_pid),
            merged.latencies.count(),
        );
        if options.progress {
            progress("");
        }
        let mut summary = RunSummary {
            label: options.label.clone(),
            target: if options.redis { "redis" } else { "feira" }.into(),
            workload: workload.name().into(),
            connections: n,
            ..RunSummary::default()
        };
        summary.set_latencies(&merged.latencies, seconds);
        summary.cost = Some(cost);
        summary.set_logins(&logins);
        summary.errors = merged.errors;
        for (code, count) in &login_errors {
            *summary.errors.entry(code.clone()).or_default() += count;
        }
        if let (Some(before), Some(admin)) = (before, &mut admin) {
            summary.verify = match verify::read_books(admin, &plan.product, &mut observers) {
                Ok(after) => verify::check(before, after, &merged.orders, merged.lost_writes),
                Err(e) => format!("FAILED: cannot read the books after the run: {e}"),
            };
        }
        summaries.push(summary);
    }
    // The connections may close now.
    barrier.wait();
    for thread in threads {
        let _ = thread.join();
    }
    Ok(summaries)
}

/// One connection: connect, log in, then run each phase when the barrier opens.
fn connection_thread(
    index: usize,
    options: &Options,
    plan: &Plan,
    workloads: &[Workload],
    barrier: &Barrier,
    ops: &AtomicU64,
    tx: &crossbeam_channel::Sender<Message>,
) {
    let mut worker = if options.redis {
        match Worker::redis(options.addr, options.timeout) {
            Ok(worker) => {
                let _ = tx.send(Message::Ready(Ok(None)));
                Some(worker)
            }
            Err(e) => {
                let _ = tx.send(Message::Ready(Err(e)));
                None
            }
        }
    } else {
        let started = match options.grpc {
            #[cfg(feature = "grpc")]
            Some(door) => Worker::grpc(door, options.timeout, index, plan),
            _ => Worker::feira(options.addr, options.timeout, index, plan),
        };
        match started {
            Ok((worker, login)) => {
                let _ = tx.send(Message::Ready(Ok(Some(login))));
                Some(worker)
            }
            Err(e) => {
                let _ = tx.send(Message::Ready(Err(e)));
                None
            }
        }
    };
    for &workload in workloads {
        barrier.wait();
        let result = match &mut worker {
            Some(w) => w.run_phase(workload, options.duration, ops),
            None => PhaseResult::default(),
        };
        if result.broken {
            worker = None;
        }
        if tx.send(Message::Phase(result)).is_err() {
            return;
        }
    }
    // Stay connected until the main thread has read the last phase's byte counts.
    barrier.wait();
}

fn merge(into: &mut PhaseResult, from: PhaseResult) {
    into.latencies.merge(&from.latencies);
    for (code, count) in from.errors {
        *into.errors.entry(code).or_default() += count;
    }
    into.orders.extend::<Vec<Acked>>(from.orders);
    into.lost_writes += from.lost_writes;
}

/// Rewrites the progress line on a terminal; prints nothing otherwise.
fn progress(text: &str) {
    let mut stderr = std::io::stderr();
    if stderr.is_terminal() {
        let _ = write!(stderr, "\r\x1b[2K{text}");
        let _ = stderr.flush();
    }
}
