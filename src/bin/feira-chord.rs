//! feira-chord: run a Chord node, or ask one a question.
//!
//! Thin on purpose: argument parsing, then a call into `feira::chord`. The client
//! subcommands print the reply's rows as they come (one row per line, its tag first),
//! so what you see is what travels on the wire; they exit 1 on `ERR`, 2 when the node
//! cannot be reached.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use log::{error, info};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use feira::chord::cli::ClientCommand;
use feira::chord::lifecycle::MAX_CONNECTIONS;
use feira::chord::store::Limits;
use feira::chord::{Config, Node};

#[derive(Parser)]
#[command(
    name = "feira-chord",
    version,
    about = "A Chord ring (Stoica et al. 2001): run a node, or ask one which node holds a key"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a node until Ctrl-C or SIGTERM (it then leaves the ring gracefully) or LEAVE.
    Node(NodeArgs),
    #[command(flatten)]
    Client(ClientCommand),
}

#[derive(Args)]
struct NodeArgs {
    /// The address to listen on, and to be known by (its hash is the node's id).
    #[arg(long, default_value = "127.0.0.1:7000")]
    addr: SocketAddr,
    /// The address of a node of the ring to join; without it, a new ring starts.
    #[arg(long)]
    join: Option<String>,
    /// m: the number of bits in an id (6 makes classroom drawings easy).
    #[arg(long, default_value_t = 32)]
    bits: u8,
    /// r: the length of the successor list, and how many nodes keep each key.
    #[arg(long, default_value_t = 3)]
    successors: usize,
    /// How many nodes keep each key, if fewer than --successors (1: no replication).
    #[arg(long)]
    replicas: Option<usize>,
    /// The most keys this node keeps (primary and replica copies).
    #[arg(long, default_value_t = Limits::default().max_keys)]
    max_keys: usize,
    /// The most bytes of keys and values this node keeps.
    #[arg(long, default_value_t = Limits::default().max_bytes)]
    max_bytes: usize,
    /// Client connections past this many get ERR BUSY (a reserve is kept for other nodes).
    #[arg(long, default_value_t = MAX_CONNECTIONS)]
    max_connections: usize,
    /// How often stabilize / fix_fingers / check_predecessor run, in milliseconds.
    #[arg(long, default_value_t = 200)]
    stabilize_ms: u64,
    /// The budget of each call to another node, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    timeout_ms: u64,
    /// Choose the id by hand instead of hashing the address (to follow the paper's figures).
    #[arg(long)]
    id: Option<u64>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Node(args) => run_node(args),
        Command::Client(command) => feira::chord::cli::run(command),
    }
}

fn run_node(args: NodeArgs) -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let config = Config {
        addr: args.addr,
        join: args.join,
        bits: args.bits,
        successors: args.successors,
        replicas: args.replicas,
        limits: Limits {
            max_keys: args.max_keys,
            max_bytes: args.max_bytes,
        },
        max_connections: args.max_connections,
        stabilize_every: Duration::from_millis(args.stabilize_ms),
        rpc_timeout: Duration::from_millis(args.timeout_ms),
        id: args.id,
    };
    let handle = match Node::start(config) {
        Ok(handle) => handle,
        Err(e) => {
            eprintln!("feira-chord: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The one line on stdout: scripts (and tests) read the real address from it.
    println!(
        "node {} listening on {}",
        handle.me().id,
        handle.local_addr()
    );

    let mut signals = match Signals::new([SIGINT, SIGTERM]) {
        Ok(signals) => signals,
        Err(e) => {
            eprintln!("feira-chord: cannot install signal handlers: {e}");
            handle.shutdown();
            return ExitCode::FAILURE;
        }
    };
    let stopper = handle.stopper();
    let watcher = thread::Builder::new()
        .name("chord-signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                info!("signal {signal}: leaving the ring");
                match stopper.leave() {
                    Ok(text) => info!("{text}"),
                    Err(e) => error!("{e}"),
                }
            }
        });
    if let Err(e) = watcher {
        eprintln!("feira-chord: cannot start the signal thread: {e}");
        handle.shutdown();
        return ExitCode::FAILURE;
    }
    // Returns when the node stops: after a signal, or a LEAVE from the network.
    handle.wait();
    ExitCode::SUCCESS
}
