//! `feira-server`: parse the flags, start the server, stop it on SIGINT or SIGTERM.
//! Everything else lives in the library (`feira::server`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use feira::accounts::throttle::{DEFAULT_REGISTRATIONS_PER_HOUR, Limits};
use feira::accounts::token_bucket::Rate;
use feira::protocol::Cents;
use feira::server::{Config, Server};
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
        ..Config::default()
    };
    let server = Server::bind(config).map_err(|e| e.to_string())?;
    let shared = server.shared();
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
                handle.shutdown();
            }
        })
        .map_err(|e| format!("cannot start the signal thread: {e}"))?;
    server.run().map_err(|e| e.to_string())
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
