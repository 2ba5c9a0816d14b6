//! The server's settings, with the defaults a classroom needs.
//!
//! Why a struct of its own: `feira-server` fills it from its flags, and the tests build
//! one with `Config::default()` and change a field or two; the server itself never reads
//! a flag or an environment variable.

use std::path::PathBuf;
use std::time::Duration;

use crate::accounts::throttle::Limits;
use crate::protocol::DEFAULT_MAX_LINE;
use crate::storage::Layers;
use crate::wallet::WalletPolicy;

/// Everything the server can be told at start-up.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen. Port 0 picks a free port (tests use it).
    pub addr: String,
    /// The data directory with the CSV tables and the journal.
    pub data_dir: PathBuf,
    /// Connections served at once; the next one gets `ERR BUSY` and is closed.
    pub max_connections: usize,
    /// A connection that sends nothing for this long is closed.
    pub idle_timeout: Duration,
    /// A request line must arrive whole within this time once it has started
    /// (so a client trickling a byte a second cannot hold a thread forever).
    pub line_timeout: Duration,
    /// A client must take each reply within this time once it starts to leave, or the
    /// connection is cut off (so a client that stops reading cannot hold a thread and
    /// its reply).
    pub write_timeout: Duration,
    /// The longest request line, in bytes.
    pub max_line: usize,
    /// Checkpoint when the journal grows past this many bytes.
    pub checkpoint_bytes: u64,
    /// How many password hashes may run at once (each takes 19 MiB).
    pub hash_concurrency: usize,
    /// Stack size of each connection thread. Small, so that thousands fit.
    pub thread_stack: usize,
    /// The audit log's channel size, send timeout and fsync cadence.
    pub audit: crate::sharing::AuditOptions,
    /// A new wallet's balance and how long a pay key lives.
    pub wallet: WalletPolicy,
    /// Failed logins and registrations allowed per name and per client address
    /// (`--max-registrations-per-hour` sets `registrations`).
    pub throttle: Limits,
    /// How a reply that waits for the disk leaves (`--reply-path`).
    pub reply_path: ReplyPath,
    /// Which speed layers of storage are on (`--group-commit`, `--prezero`,
    /// `--checkpoint`, `--csv`).
    pub storage: Layers,
}

/// How a reply that must wait for the journal's fsync leaves (`--reply-path`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReplyPath {
    /// The plain way: the connection thread waits until the fsync covers its request,
    /// then writes the reply itself (src/server/replies.rs).
    Plain,
    /// A speed layer: the connection thread hands the reply over to the thread that
    /// runs the covering fsync, which sends it, and goes back to reading its socket at
    /// once (src/server/reply_handover.rs).
    #[default]
    Committer,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            addr: crate::protocol::DEFAULT_ADDR.into(),
            data_dir: PathBuf::from("state"),
            max_connections: 1024,
            idle_timeout: Duration::from_secs(300),
            line_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
            max_line: DEFAULT_MAX_LINE,
            checkpoint_bytes: crate::db::DEFAULT_CHECKPOINT_BYTES,
            hash_concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
            thread_stack: 128 * 1024,
            audit: crate::sharing::AuditOptions::default(),
            wallet: WalletPolicy::default(),
            throttle: Limits::default(),
            reply_path: ReplyPath::default(),
            storage: Layers::default(),
        }
    }
}
