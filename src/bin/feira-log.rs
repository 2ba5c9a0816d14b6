//! `feira-log`: seed 002's log server, over gRPC. It serves the `AuditLog` service
//! (proto/audit_log.proto), prints one line per event (`alice PUBLISH notes.txt
//! 2026-12-01T10:00:00Z`) and appends it to a file. `feira-server --log-server ADDR`
//! sends it every audited operation. Built with the `grpc` feature; everything else
//! lives in the library (`feira::grpc::log_server`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use feira::grpc::LogServer;

/// Seed 002's log server: prints and appends every operation feira-server sends it.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// Address to listen on (port 0 picks a free port, logged at start).
    #[arg(long, default_value = "127.0.0.1:50052")]
    addr: String,
    /// The file each line is appended to.
    #[arg(long, default_value = "feira-log.txt")]
    file: PathBuf,
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    match serve(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("feira-log: {message}");
            ExitCode::FAILURE
        }
    }
}

fn serve(cli: &Cli) -> Result<(), String> {
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])
    .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let server = LogServer::start(&cli.addr, &cli.file).map_err(|e| e.to_string())?;
    log::info!("appending each event to {}", cli.file.display());
    log::info!("feira-log listening on {}", server.local_addr());
    if let Some(signal) = signals.forever().next() {
        log::info!("signal {signal} received: stopping");
    }
    server.stop();
    Ok(())
}
