//! `feira-server`: parse the flags, start the server, stop it on SIGINT or SIGTERM.
//! Everything else lives in the library (`feira::server`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use feira::accounts::throttle::{DEFAULT_REGISTRATIONS_PER_HOUR, Limits};
use feira::accounts::token_bucket::Rate;
use feira::protocol::Cents;
use feira::server::{Config, ReplyPath, Server};
use feira::storage::{CsvEncoding, Layers};
use feira::wallet::WalletPolicy;

/// The feira server: a store, wallets and file sharing over one line protocol.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// Address to listen on (port 0 picks a free port); the flag wins over $FEIRA_ADDR.
    #[arg(long, env = feira::protocol::ADDR_ENV, default_value = feira::protocol::DEFAULT_ADDR)]
    addr: String,
    /// Data directory with the CSV tables and the journal. Not `data/`: that folder holds
    /// the tracked demo data, which the server must never change (`make run-server`
    /// copies it to `state/` first).
    #[arg(long, default_value = "state")]
    data: PathBuf,
    /// Connections served at once; more get `ERR BUSY`.
    #[arg(long, default_value_t = 1024)]
    max_connections: usize,
    /// Seconds a connection may stay silent before it is closed.
    #[arg(long, default_value_t = 300)]
    idle_timeout: u64,
    /// Seconds a request line may take to arrive once it has started.
    #[arg(long, default_value_t = 10)]
    line_timeout: u64,
    /// Seconds a client has to take each reply before the connection is cut off.
    #[arg(long, default_value_t = 30)]
    write_timeout: u64,
    /// Longest request line in bytes.
    #[arg(long, default_value_t = feira::protocol::DEFAULT_MAX_LINE)]
    max_line: usize,
    /// What a new account's wallet holds, like 100.00.
    #[arg(long, default_value = "100.00", value_parser = parse_cents)]
    initial_balance: Cents,
    /// Seconds a pay key works before the server replaces it (1 to 31536000).
    #[arg(long, default_value_t = 180, value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    key_rotation_secs: u64,
    /// Accounts one client address may create: this many at once, then this many an
    /// hour (each new wallet holds the initial balance: money made from nothing).
    #[arg(long, default_value_t = DEFAULT_REGISTRATIONS_PER_HOUR,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_registrations_per_hour: u32,
    /// Also serve gRPC (proto/feira.proto, docs/RPC.md) on this address, from the same
    /// tables, locks and journal; needs a build with the `grpc` feature. Without this
    /// flag, nothing gRPC runs.
    #[arg(long, value_name = "ADDR")]
    grpc_addr: Option<String>,
    /// gRPC connections served at once; more are closed at once.
    #[arg(long, default_value_t = 256)]
    grpc_max_connections: usize,
    /// Also serve HTTP here (the time service, JSON statistics, the live dashboard:
    /// docs/HTTP.md), like 127.0.0.1:8080. Without it, nothing HTTP runs.
    #[arg(long)]
    http_addr: Option<String>,
    /// Also send every audited operation to seed 002's log server (`feira-log`) at this
    /// address, besides audit.csv; needs a build with the `grpc` feature. A slow or dead
    /// log server never slows the store: its events are dropped and counted (STATS).
    #[arg(long, value_name = "ADDR")]
    log_server: Option<String>,
    #[command(flatten)]
    speed: SpeedArgs,
}

/// The speed layers: each is an optimisation of a plain version that does the same
/// job, on by default. Switch one off to see what it buys (docs/BENCHMARKS.md, "What
/// each speed layer buys", measures each); every promise holds either way.
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "Speed layers (each on by default)")]
struct SpeedArgs {
    /// Switch every speed layer off: the plain server. A flag below still sets its own
    /// layer.
    #[arg(long)]
    plain: bool,
    /// Who writes a reply that waits for the disk: `committer` (the thread that runs the
    /// fsync sends it; src/server/reply_handover.rs) or `plain` (the connection thread
    /// waits for the fsync, then writes it). [default: committer]
    #[arg(long, value_enum)]
    reply_path: Option<ReplyPathArg>,
    /// Group commit: one fsync for every thread waiting at once (`on`;
    /// src/storage/group_commit.rs), or an fsync of its own for each (`off`).
    /// [default: on]
    #[arg(long, value_enum)]
    group_commit: Option<Switch>,
    /// Journal files zeroed ahead of their lines, which are written over the zeros
    /// (`on`; src/storage/padding.rs), or every line appended, growing the file (`off`).
    /// [default: on]
    #[arg(long, value_enum)]
    prezero: Option<Switch>,
    /// A checkpoint appends a table's new rows to its snapshot when none of the saved
    /// rows changed (`append`; src/storage/snapshot/append.rs), or rewrites every
    /// snapshot whole (`rewrite`). [default: append]
    #[arg(long, value_enum)]
    checkpoint: Option<CheckpointArg>,
    /// CSV written by hand into reused buffers (`hand`; src/storage/csv_field.rs), or
    /// by the csv crate's Writer (`crate`): the same bytes. [default: hand]
    #[arg(long, value_enum)]
    csv: Option<CsvArg>,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum ReplyPathArg {
    Plain,
    Committer,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum Switch {
    On,
    Off,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum CheckpointArg {
    Append,
    Rewrite,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum CsvArg {
    Hand,
    Crate,
}

impl SpeedArgs {
    /// The reply path and the storage layers these flags ask for: every layer on, or
    /// off with `--plain`, then each flag given.
    fn layers(&self) -> (ReplyPath, Layers) {
        let (mut reply_path, mut storage) = match self.plain {
            true => (ReplyPath::Plain, Layers::PLAIN),
            false => (ReplyPath::Committer, Layers::FAST),
        };
        if let Some(path) = self.reply_path {
            reply_path = match path {
                ReplyPathArg::Plain => ReplyPath::Plain,
                ReplyPathArg::Committer => ReplyPath::Committer,
            };
        }
        if let Some(switch) = self.group_commit {
            storage.group_commit = matches!(switch, Switch::On);
        }
        if let Some(switch) = self.prezero {
            storage.prezero = matches!(switch, Switch::On);
        }
        if let Some(checkpoint) = self.checkpoint {
            storage.append_checkpoints = matches!(checkpoint, CheckpointArg::Append);
        }
        if let Some(csv) = self.csv {
            storage.csv = match csv {
                CsvArg::Hand => CsvEncoding::Hand,
                CsvArg::Crate => CsvEncoding::Crate,
            };
        }
        (reply_path, storage)
    }
}

/// The layers that are off, as the flags that switch them off, for the log.
fn layers_off(reply_path: ReplyPath, storage: &Layers) -> Vec<&'static str> {
    let mut off = Vec::new();
    if reply_path == ReplyPath::Plain {
        off.push("--reply-path plain");
    }
    if !storage.group_commit {
        off.push("--group-commit off");
    }
    if !storage.prezero {
        off.push("--prezero off");
    }
    if !storage.append_checkpoints {
        off.push("--checkpoint rewrite");
    }
    if storage.csv == CsvEncoding::Crate {
        off.push("--csv crate");
    }
    off
}

fn parse_cents(text: &str) -> Result<Cents, String> {
    text.parse()
        .map_err(|e: feira::protocol::money::MoneyError| e.to_string())
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Read a password from standard input and print its argon2id PHC string
    /// (to create admin accounts by hand in users.csv).
    HashPassword,
    /// Replay the wallets' ledger (transfers.csv) and compare it with wallets.csv,
    /// orders.csv and users.csv; exit 1 naming the first discrepancy. The directory is
    /// not changed (it is checked on a copy): run it on a stopped server's data.
    Check {
        /// The data directory to check.
        #[arg(long, default_value = "state")]
        data: PathBuf,
    },
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(cli.serve),
        Command::HashPassword => hash_password(),
        Command::Check { data } => check(&data),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            log::error!("{message}");
            eprintln!("feira-server: {message}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: ServeArgs) -> Result<(), String> {
    let (reply_path, storage) = args.speed.layers();
    let off = layers_off(reply_path, &storage);
    if !off.is_empty() {
        log::info!("speed layers switched off: {}", off.join(", "));
    }
    // The log server's forwarder, if asked for: started before the audit thread, which
    // hands it the events; stopped after it, so that the last events are sent.
    let (forward, stop_forwarder) = start_log_forwarder(args.log_server)?;
    let audit = feira::sharing::AuditOptions {
        forward,
        ..feira::sharing::AuditOptions::default()
    };
    let config = Config {
        addr: args.addr,
        data_dir: args.data,
        max_connections: args.max_connections,
        idle_timeout: Duration::from_secs(args.idle_timeout.max(1)),
        line_timeout: Duration::from_secs(args.line_timeout.max(1)),
        write_timeout: Duration::from_secs(args.write_timeout.max(1)),
        max_line: args.max_line,
        wallet: WalletPolicy {
            initial_balance: args.initial_balance,
            key_lifetime: Duration::from_secs(args.key_rotation_secs),
        },
        throttle: Limits {
            registrations: Rate::per_hour(args.max_registrations_per_hour),
            ..Limits::default()
        },
        reply_path,
        storage,
        audit,
        ..Config::default()
    };
    let server = Server::bind(config).map_err(|e| e.to_string())?;
    let shared = server.shared();
    let web = match &args.http_addr {
        Some(addr) => Some(start_web(addr, &shared)?),
        None => None,
    };
    if shared.db.users.read().is_empty() {
        log::warn!(
            "{} holds no accounts: REGISTER creates customers, but there is no admin; \
             to start from the demo data, run `make run-server` (it copies data/ to state/)",
            shared.config.data_dir.display()
        );
    }
    let demo = feira::demo::active_demo_users(&shared.db);
    if !demo.is_empty() {
        log::warn!(
            "demo credentials are active for {}: see the README, and change them before any real use",
            demo.join(", ")
        );
    }
    // The gRPC door, if asked for: stopped first at shutdown, so that its calls have
    // finished before the socket door's final checkpoint.
    let stop_grpc = start_grpc(args.grpc_addr, args.grpc_max_connections, &shared)?;
    // SIGINT (Ctrl-C) and SIGTERM both ask for a graceful shutdown.
    let handle = server.shutdown_handle();
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])
    .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                log::info!("signal {signal} received: shutting down");
                stop_grpc();
                handle.shutdown();
            }
        })
        .map_err(|e| format!("cannot start the signal thread: {e}"))?;
    let result = server.run().map_err(|e| e.to_string());
    // The web door reads the server's tables: it stops after the store has drained.
    drop(web);
    stop_forwarder();
    result
}

/// Starts the web door, and prints where the dashboard is, with its token (to the
/// terminal only: it is the instructor's key to the statistics).
fn start_web(
    addr: &str,
    shared: &feira::server::SharedRef,
) -> Result<feira::http::RunningDoor, String> {
    let token = feira::http::Token::generate()?;
    let door = feira::http::WebDoor::bind(addr, shared.clone(), token.clone(), Default::default())
        .map_err(|e| e.to_string())?;
    let web = door.start().map_err(|e| e.to_string())?;
    log::info!("http: serving on {} (docs/HTTP.md)", web.addr);
    println!(
        "dashboard: http://{}/?token={}  (or an admin's name and password)",
        web.addr,
        token.as_str()
    );
    Ok(web)
}

/// What stops the log forwarder (after sending what is queued, within a bound).
type Stop = Box<dyn FnOnce() + Send>;

/// Starts the forwarder to the log server at `addr`, if given: the handover for the
/// audit log's options, and what stops it.
#[cfg(feature = "grpc")]
fn start_log_forwarder(
    addr: Option<String>,
) -> Result<(Option<feira::sharing::audit::Forward>, Stop), String> {
    let Some(addr) = addr else {
        return Ok((None, Box::new(|| {})));
    };
    let config = feira::grpc::ForwarderConfig {
        addr,
        ..feira::grpc::ForwarderConfig::default()
    };
    let (forwarder, forward) =
        feira::grpc::LogForwarder::start(config).map_err(|e| e.to_string())?;
    Ok((Some(forward), Box::new(move || forwarder.stop())))
}

/// `--log-server` in a build without gRPC: refused, saying how to get one.
#[cfg(not(feature = "grpc"))]
fn start_log_forwarder(
    addr: Option<String>,
) -> Result<(Option<feira::sharing::audit::Forward>, Stop), String> {
    match addr {
        Some(_) => Err(
            "--log-server: this feira-server was built without gRPC: build it with \
             `cargo build --release --features grpc`"
                .into(),
        ),
        None => Ok((None, Box::new(|| {}))),
    }
}

/// Starts the gRPC door on `addr`, if given; returns what stops it.
#[cfg(feature = "grpc")]
fn start_grpc(
    addr: Option<String>,
    max_connections: usize,
    shared: &feira::server::SharedRef,
) -> Result<Box<dyn FnOnce() + Send>, String> {
    let Some(addr) = addr else {
        return Ok(Box::new(|| {}));
    };
    let config = feira::grpc::GrpcConfig {
        addr,
        max_connections,
        ..feira::grpc::GrpcConfig::default()
    };
    let door = feira::grpc::GrpcDoor::start(shared.clone(), config).map_err(|e| e.to_string())?;
    Ok(Box::new(move || door.stop()))
}

/// `--grpc-addr` in a build without gRPC: refused, saying how to get one.
#[cfg(not(feature = "grpc"))]
fn start_grpc(
    addr: Option<String>,
    _max_connections: usize,
    _shared: &feira::server::SharedRef,
) -> Result<Box<dyn FnOnce() + Send>, String> {
    match addr {
        Some(_) => Err(
            "--grpc-addr: this feira-server was built without gRPC: build it with \
             `cargo build --release --features grpc` (or run `make run-grpc`)"
                .into(),
        ),
        None => Ok(Box::new(|| {})),
    }
}

fn check(data: &std::path::Path) -> Result<(), String> {
    match feira::wallet::check::check_dir(data).map_err(|e| e.to_string())? {
        Ok(report) => {
            println!("{}: the ledger agrees: {report}", data.display());
            Ok(())
        }
        Err(discrepancy) => Err(format!("{}: check failed: {discrepancy}", data.display())),
    }
}

fn hash_password() -> Result<(), String> {
    let mut password = String::new();
    std::io::stdin()
        .read_line(&mut password)
        .map_err(|e| format!("cannot read the password: {e}"))?;
    let password = password.trim_end_matches(['\n', '\r']);
    println!("{}", feira::accounts::password::hash(password)?);
    Ok(())
}
