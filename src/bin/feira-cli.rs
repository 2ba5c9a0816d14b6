//! `feira-cli`: parse the flags, then run one command or an interactive session.
//! Everything else lives in the library (`feira::cli`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use feira::cli::sharing::SharingOptions;
use feira::cli::{self, Options};

/// The feira client. With a command, runs it and exits; without one, opens an
/// interactive session (a numbered menu, and every verb of the protocol).
#[derive(Parser, Debug)]
#[command(
    version,
    about,
    after_help = "\
Examples:
  feira-cli                                  interactive session (menu and verbs)
  feira-cli ping
  FEIRA_PASSWORD=alice-pass feira-cli --user alice products 5.00
  feira-cli --user alice order \"Raquete de tênis\" 1     (prompts for the password)
  feira-cli chord lookup apple --via 127.0.0.1:7000   (ask a Chord node: docs/CHORD.md)
  feira-cli --user admin stats --watch       STATS every second, with rates (Ctrl-C stops)
  feira-cli time --http 127.0.0.1:8080       the server's clock, and this machine's skew from it

The password comes from $FEIRA_PASSWORD, or is asked on the terminal.
Exit codes: 0 success; 1 the server answered ERR (printed on stderr as `ERR CODE message`);
2 no answer: bad usage, the server cannot be reached, the connection was lost or refused
(ERR BUSY), or no password could be read."
)]
struct Args {
    /// The server's address; the flag wins over $FEIRA_ADDR.
    #[arg(long, env = feira::protocol::ADDR_ENV, default_value = feira::protocol::DEFAULT_ADDR)]
    addr: String,
    /// Log in as this user before the command (or at the start of the session).
    #[arg(long)]
    user: Option<String>,
    /// Seconds to wait to connect, and for each reply; for `get_file`, for connecting
    /// to the peer and receiving its header together, and for each wait on the file.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// Send the command over the gRPC door at this address instead (one-shot mode:
    /// products, product, order, orders, restock, balance); needs a build with the
    /// `grpc` feature.
    #[arg(long, value_name = "ADDR")]
    grpc: Option<String>,
    /// Print the reply exactly as it came over the wire (one-shot mode).
    #[arg(long)]
    raw: bool,
    /// The folder whose files this client serves to other peers after `connect`.
    #[arg(long, default_value = feira::cli::sharing::DEFAULT_SHARED_FOLDER)]
    share_dir: PathBuf,
    /// Where `get_file` saves downloads when no local path is given.
    #[arg(long, default_value = feira::cli::sharing::DEFAULT_DOWNLOAD_DIR)]
    download_dir: PathBuf,
    /// The port this client's file listener uses after `connect` (0: any free port).
    #[arg(long, default_value_t = 0)]
    listen_port: u16,
    /// The slowest a `get_file` download may run, in bytes a second, measured over each
    /// --timeout; a peer slower than that is cut off (0: no minimum).
    #[arg(long, default_value_t = feira::p2p::fetch::DEFAULT_MIN_RATE)]
    min_rate: u64,
    /// A verb and its arguments, sent as one request (flags go before it). Without
    /// one, an interactive session starts.
    #[arg(value_name = "VERB [ARGS]", trailing_var_arg = true)]
    command: Vec<String>,
}

/// `feira-cli chord ...`: the Chord client (the same subcommands as `feira-chord`).
#[derive(Parser, Debug)]
#[command(
    name = "feira-cli chord",
    about = "Ask a Chord node (see docs/CHORD.md)"
)]
struct ChordArgs {
    #[command(subcommand)]
    command: feira::chord::cli::ClientCommand,
}

/// `feira-cli stats --watch [--interval SECS] [--count N]`: the client's own flags
/// after `stats` (STATS itself takes no arguments, so a word starting with `--` there
/// can only be meant for the client).
#[derive(Parser, Debug)]
#[command(
    name = "feira-cli stats",
    bin_name = "feira-cli stats",
    about = "STATS (admin), once or refreshed until Ctrl-C, with the change per second"
)]
struct StatsArgs {
    /// Send STATS again every interval and show what changed per second.
    #[arg(long)]
    watch: bool,
    /// Seconds between two refreshes (0.1 to 3600; decimals allowed).
    #[arg(long, default_value = "1", value_parser = interval, requires = "watch")]
    interval: Duration,
    /// Stop after this many refreshes (default: until Ctrl-C).
    #[arg(long, requires = "watch", value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
}

/// `feira-cli time --http ADDR`: the time from the server's web door (`GET /time`),
/// and how far this machine's clock is from it. Not a verb of the store's protocol:
/// the client's own command, over HTTP.
#[derive(Parser, Debug)]
#[command(
    name = "feira-cli time",
    bin_name = "feira-cli time",
    about = "The server's time from its web door, and the skew of this machine's clock"
)]
struct TimeArgs {
    /// The web door's address (`feira-server --http-addr`), like 127.0.0.1:8080.
    #[arg(long, value_name = "ADDR")]
    http: String,
}

fn interval(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if !(0.1..=3600.0).contains(&seconds) {
        return Err(format!("{seconds} s is outside 0.1 to 3600"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.command.first().map(String::as_str) == Some("chord") {
        let chord = ChordArgs::parse_from(&args.command);
        return feira::chord::cli::run(chord.command);
    }
    let options = Options {
        addr: args.addr,
        user: args.user,
        timeout: Duration::from_secs(args.timeout.max(1)),
        raw: args.raw,
        sharing: SharingOptions {
            shared_folder: args.share_dir,
            download_dir: args.download_dir,
            listen_port: args.listen_port,
            min_rate: args.min_rate,
        },
    };
    if args
        .command
        .first()
        .is_some_and(|w| w.eq_ignore_ascii_case("time"))
    {
        let time = TimeArgs::parse_from(&args.command);
        return ExitCode::from(cli::clock_skew::run(&time.http, options.timeout).code());
    }
    if let Some(grpc) = &args.grpc {
        return ExitCode::from(grpc_oneshot(&options, grpc, &args.command).code());
    }
    let stats_flags = args
        .command
        .first()
        .is_some_and(|verb| verb.eq_ignore_ascii_case("stats"))
        && args.command.iter().skip(1).any(|w| w.starts_with("--"));
    if stats_flags {
        let stats = StatsArgs::parse_from(&args.command);
        if stats.watch {
            let watch = cli::watch::Watch {
                interval: stats.interval,
                count: stats.count,
            };
            return ExitCode::from(cli::watch::run(&options, &watch).code());
        }
    }
    ExitCode::from(cli::run(&options, &args.command).code())
}

/// `--grpc ADDR`: one command over the gRPC door.
#[cfg(feature = "grpc")]
fn grpc_oneshot(options: &Options, addr: &str, command: &[String]) -> cli::Exit {
    if command.is_empty() {
        eprintln!(
            "feira-cli: --grpc runs one command: products, product, order, orders, restock or balance"
        );
        return cli::Exit::Trouble;
    }
    cli::grpc_oneshot::run(options, addr, command)
}

/// `--grpc ADDR` in a build without gRPC: say how to get one.
#[cfg(not(feature = "grpc"))]
fn grpc_oneshot(_: &Options, _: &str, _: &[String]) -> cli::Exit {
    eprintln!(
        "feira-cli: this feira-cli was built without gRPC: build it with `cargo build --release --features grpc`"
    );
    cli::Exit::Trouble
}
