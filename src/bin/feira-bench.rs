//! `feira-bench`: parse the flags and call into the library (`feira::bench`).
//!
//! ```text
//! feira-bench --addr 127.0.0.1:7878 -c 50 -d 10s -t ping,product,order
//! feira-bench --redis --addr 127.0.0.1:6379 -c 50 -d 10s -t ping
//! feira-bench hold --addr 127.0.0.1:7878 -n 10000 --server-pid 1234
//! feira-bench slowloris --addr 127.0.0.1:7878 -n 1000 -d 8s
//! feira-bench flood --addr 127.0.0.1:7878 -n 200 -d 10s
//! feira-bench --addr 127.0.0.1:7878 --grpc 127.0.0.1:50051 -c 50 -t product,order --server-pid 1234
//! feira-bench idle --addr 127.0.0.1:7878 --door grpc --grpc 127.0.0.1:50051 -n 1000 --server-pid 1234
//! feira-bench summarize --results DIR --chart docs/bench-chart.svg
//! ```

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use feira::bench::flood::{FLOOD_COLUMNS, FloodOptions, flood};
use feira::bench::hold::{HOLD_COLUMNS, hold};
use feira::bench::idle::{IDLE_COLUMNS, IdleReport, idle_sockets};
use feira::bench::report::{CSV_COLUMNS, DOORS_COLUMNS, append_csv, csv_line};
use feira::bench::setup::{Accounts, demo_accounts};
use feira::bench::slowloris::{SLOWLORIS_COLUMNS, slowloris};
use feira::bench::workload::Workload;
use feira::bench::{Options, run, summary};

/// Measures a feira server (or redis-server, for comparison): throughput, latency
/// percentiles and errors, with the server's invariants checked after write workloads.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Args, Debug)]
struct Common {
    /// The server's address; the flag wins over $FEIRA_ADDR.
    #[arg(long, env = feira::protocol::ADDR_ENV, default_value = feira::protocol::DEFAULT_ADDR)]
    addr: String,
    /// Accounts to log in with, `user:password,user:password`, shared round-robin
    /// (default: the demo customers alice and bob).
    #[arg(long)]
    accounts: Option<String>,
    /// Register `bench-1` .. `bench-N` first and log in as them instead (a server
    /// accepts `--max-registrations-per-hour` from one address: 60 by default).
    #[arg(long)]
    users: Option<usize>,
    /// Seconds to wait for a connect or a reply before giving up on it.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// Append the results as a CSV row to this file (header written when new).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct RunArgs {
    #[command(flatten)]
    common: Common,
    /// Connections, each with its own thread.
    #[arg(short = 'c', long, default_value_t = 50)]
    connections: usize,
    /// How long each workload runs: `10s`, `500ms`, `1m`.
    #[arg(short = 'd', long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Workloads, comma-separated: ping, product, order, transfer, mixed (feira);
    /// ping, incr (redis).
    #[arg(short = 't', long, default_value = "ping,product,order")]
    tests: String,
    /// The admin account (`user:password`) that creates the bench product and reads
    /// the stock before and after write workloads.
    #[arg(long, default_value = "admin:admin-pass")]
    admin: String,
    /// Benchmark a redis-server instead, with the same client model.
    #[arg(long)]
    redis: bool,
    /// Every TRANSFER pays the same account: one hot wallet row for every writer
    /// (ORDER always buys the one bench product).
    #[arg(long)]
    hot_row: bool,
    /// A label for this run in the CSV output.
    #[arg(long, default_value = "run")]
    label: String,
    /// Run the workloads (product, order) over feira's gRPC door at this address, with
    /// the same client model; --addr still sets up and checks the books. Needs a build
    /// with the `grpc` feature.
    #[arg(long, value_name = "ADDR")]
    grpc: Option<String>,
    /// The server's process id: the server's CPU per request is measured too.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Append one row per workload to this CSV file with what a request cost the door
    /// (bytes on the wire each way, measured by the kernel, and server CPU).
    #[arg(long, value_name = "FILE")]
    doors_out: Option<PathBuf>,
    /// Print one CSV row per workload on stdout (with a header).
    #[arg(long, conflicts_with = "json")]
    csv: bool,
    /// Print one JSON object per workload on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Open N logged-in connections at once, then serve a request on each; report the
    /// server's memory per connection (with --server-pid).
    Hold {
        #[command(flatten)]
        common: Common,
        /// How many connections to hold.
        #[arg(short = 'n', long, default_value_t = 10_000)]
        connections: usize,
        /// Threads that open and log in the connections.
        #[arg(long, default_value_t = 16)]
        threads: usize,
        /// The server's process id, to read its VmRSS and thread count from /proc.
        #[arg(long)]
        server_pid: Option<u32>,
    },
    /// N connections trickle a byte a second while one normal client sends PING.
    Slowloris {
        #[command(flatten)]
        common: Common,
        /// How many trickling connections.
        #[arg(short = 'n', long, default_value_t = 1000)]
        connections: usize,
        /// How long to trickle.
        #[arg(short = 'd', long, default_value = "8s", value_parser = humantime::parse_duration)]
        duration: Duration,
    },
    /// N connections from one loopback address loop wrong passwords on made-up names,
    /// while a real user (the first of --accounts) logs in again and again from another.
    Flood {
        #[command(flatten)]
        common: Common,
        /// How many flooding connections.
        #[arg(short = 'n', long, default_value_t = 200)]
        connections: usize,
        /// How long to measure the user, with the flood running throughout.
        #[arg(short = 'd', long, default_value = "10s", value_parser = humantime::parse_duration)]
        duration: Duration,
        /// The flood's local address (any of 127.0.0.0/8 is loopback on Linux).
        #[arg(long, default_value = "127.0.0.2")]
        flood_from: IpAddr,
        /// The real user's local address.
        #[arg(long, default_value = "127.0.0.3")]
        user_from: IpAddr,
    },
    /// Hold N idle clients (connected, one answer each, not logged in) at one door and
    /// report the server's memory per client.
    Idle {
        #[command(flatten)]
        common: Common,
        /// How many idle clients.
        #[arg(short = 'n', long, default_value_t = 1000)]
        connections: usize,
        /// Which door: `sockets` (at --addr) or `grpc` (at --grpc).
        #[arg(long, default_value = "sockets")]
        door: String,
        /// The gRPC door's address, for `--door grpc`.
        #[arg(long, value_name = "ADDR")]
        grpc: Option<String>,
        /// The server's process id, to read its VmRSS and thread count from /proc.
        #[arg(long)]
        server_pid: u32,
    },
    /// Turn the CSV files of `make bench` into Markdown tables (stdout) and a chart.
    Summarize {
        /// The directory with runs.csv, hold.csv and slowloris.csv.
        #[arg(long)]
        results: PathBuf,
        /// Where to write the SVG chart.
        #[arg(long)]
        chart: Option<PathBuf>,
        /// How the Markdown links to the chart.
        #[arg(long, default_value = "bench-chart.svg")]
        chart_link: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => run_workloads(cli.run),
        Some(Command::Hold {
            common,
            connections,
            threads,
            server_pid,
        }) => run_hold(common, connections, threads, server_pid),
        Some(Command::Slowloris {
            common,
            connections,
            duration,
        }) => run_slowloris(common, connections, duration),
        Some(Command::Flood {
            common,
            connections,
            duration,
            flood_from,
            user_from,
        }) => run_flood(common, connections, duration, flood_from, user_from),
        Some(Command::Idle {
            common,
            connections,
            door,
            grpc,
            server_pid,
        }) => run_idle(common, connections, &door, grpc, server_pid),
        Some(Command::Summarize {
            results,
            chart,
            chart_link,
        }) => summary::summarize(&results, chart.as_deref(), &chart_link).map(|md| {
            print!("{md}");
            true
        }),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("feira-bench: {message}");
            ExitCode::FAILURE
        }
    }
}

fn resolve(addr: &str) -> Result<SocketAddr, String> {
    addr.to_socket_addrs()
        .map_err(|e| format!("{addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("{addr} resolves to nothing"))
}

fn pair(text: &str) -> Result<(String, String), String> {
    text.split_once(':')
        .map(|(u, p)| (u.to_string(), p.to_string()))
        .ok_or_else(|| format!("{text:?}: write user:password"))
}

fn accounts(common: &Common) -> Result<Accounts, String> {
    match (&common.accounts, common.users) {
        (_, Some(n)) if n > 0 => Ok(Accounts::Register(n)),
        (Some(list), _) => Ok(Accounts::Existing(
            list.split(',').map(pair).collect::<Result<_, _>>()?,
        )),
        _ => Ok(demo_accounts()),
    }
}

/// Returns Ok(false) when an invariant check failed.
fn run_workloads(args: RunArgs) -> Result<bool, String> {
    let workloads = args
        .tests
        .split(',')
        .filter(|t| !t.trim().is_empty())
        .map(|t| {
            Workload::parse(t).ok_or_else(|| {
                let names: Vec<&str> = Workload::ALL.iter().map(|w| w.name()).collect();
                format!("unknown workload {t:?}; choose from {}", names.join(", "))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let options = Options {
        addr: resolve(&args.common.addr)?,
        connections: args.connections,
        duration: args.duration,
        workloads,
        accounts: accounts(&args.common)?,
        admin: pair(&args.admin)?,
        redis: args.redis,
        label: args.label,
        timeout: Duration::from_secs(args.common.timeout.max(1)),
        progress: true,
        hot_row: args.hot_row,
        grpc: args.grpc.as_deref().map(resolve).transpose()?,
        server_pid: args.server_pid,
    };
    let door = if options.grpc.is_some() {
        "grpc"
    } else {
        "sockets"
    };
    let summaries = run(&options)?;
    if args.csv {
        print!("{}", csv_line(CSV_COLUMNS));
    }
    for summary in &summaries {
        if args.csv {
            print!("{}", csv_line(&summary.csv_fields()));
        } else if args.json {
            println!("{}", summary.json());
        } else {
            print!("{}", summary.human());
        }
        if let Some(path) = &args.common.out {
            append_csv(path, CSV_COLUMNS, &summary.csv_fields())
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
        if let Some(path) = &args.doors_out {
            append_csv(path, DOORS_COLUMNS, &summary.doors_fields(door))
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    let failed = summaries.iter().filter(|s| s.verify_failed()).count();
    if failed > 0 {
        eprintln!("feira-bench: the invariant check FAILED after {failed} workload(s)");
    }
    Ok(failed == 0)
}

fn run_hold(
    common: Common,
    connections: usize,
    threads: usize,
    server_pid: Option<u32>,
) -> Result<bool, String> {
    let addr = resolve(&common.addr)?;
    let accounts = match accounts(&common)? {
        Accounts::Existing(list) => list,
        Accounts::Register(_) => return Err("hold logs in with --accounts, not --users".into()),
    };
    let timeout = Duration::from_secs(common.timeout.max(1));
    let report = hold(addr, connections, threads, &accounts, server_pid, timeout);
    print!("{}", report.human());
    if let Some(path) = &common.out {
        append_csv(path, HOLD_COLUMNS, &report.csv_fields())
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(report.held == connections && report.served == connections)
}

fn run_idle(
    common: Common,
    connections: usize,
    door: &str,
    grpc: Option<String>,
    server_pid: u32,
) -> Result<bool, String> {
    let timeout = Duration::from_secs(common.timeout.max(1));
    let report: IdleReport = match (door, grpc) {
        ("sockets", _) => idle_sockets(resolve(&common.addr)?, connections, server_pid, timeout),
        #[cfg(feature = "grpc")]
        ("grpc", Some(addr)) => {
            feira::bench::idle::idle_grpc(resolve(&addr)?, connections, server_pid, timeout)
        }
        ("grpc", _) if !cfg!(feature = "grpc") => {
            return Err("--door grpc: this feira-bench was built without gRPC".into());
        }
        ("grpc", None) => return Err("--door grpc needs --grpc ADDR".into()),
        (other, _) => return Err(format!("--door {other:?}: sockets or grpc")),
    };
    println!("{}", report.human());
    if let Some(path) = &common.out {
        append_csv(path, IDLE_COLUMNS, &report.csv_fields())
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(report.first_error.is_none() && report.held == connections)
}

fn run_slowloris(common: Common, connections: usize, duration: Duration) -> Result<bool, String> {
    let addr = resolve(&common.addr)?;
    let account = match accounts(&common)? {
        Accounts::Existing(list) => list.into_iter().next().ok_or("no account")?,
        Accounts::Register(_) => return Err("slowloris logs in with --accounts".into()),
    };
    let report = slowloris(addr, connections, duration, (&account.0, &account.1));
    print!("{}", report.human());
    if let Some(path) = &common.out {
        append_csv(path, SLOWLORIS_COLUMNS, &report.csv_fields())
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(report.first_error.is_none())
}

fn run_flood(
    common: Common,
    connections: usize,
    duration: Duration,
    flood_from: IpAddr,
    user_from: IpAddr,
) -> Result<bool, String> {
    let account = match accounts(&common)? {
        Accounts::Existing(list) => list.into_iter().next().ok_or("no account")?,
        Accounts::Register(_) => return Err("flood logs in with --accounts".into()),
    };
    let report = flood(&FloodOptions {
        addr: resolve(&common.addr)?,
        flooders: connections,
        duration,
        flood_from,
        user_from,
        account,
        timeout: Duration::from_secs(common.timeout.max(1)),
    });
    print!("{}", report.human());
    if let Some(path) = &common.out {
        append_csv(path, FLOOD_COLUMNS, &report.csv_fields())
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(report.first_error.is_none())
}
