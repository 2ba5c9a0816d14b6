//! The wire protocol: pure functions and types, no I/O beyond reading from a `BufRead`.
//!
//! Why it is separate from the server: the client, the benchmark, the tests and the
//! fuzzers all speak the same protocol, and code with no sockets in it is easy to test.
//! docs/PROTOCOL.md is the contract this module implements.
//!
//! - [`token`]: splitting a line into tokens and quoting them back;
//! - [`args`]: the verb and the arguments of a request, read left to right;
//! - [`frame`]: reading one bounded line from a stream;
//! - [`listing`]: long lists in pages, and the most rows one reply shows;
//! - [`money`]: exact amounts in cents;
//! - [`pay_key`]: how a wallet's pay key is written and read back;
//! - [`names`]: the canonical form of names, and the characters no name may hold;
//! - [`escape`]: text made harmless for a terminal or a spreadsheet on its way out;
//! - [`verbs`]: the table of verbs: name, arguments, who may use it, what it does;
//! - [`request`]: the [`Request`] enum, one variant per verb;
//! - [`reply`]: the [`Reply`] (data lines, then `OK` or `ERR CODE message`).

pub mod args;
pub mod escape;
pub mod frame;
pub mod listing;
pub mod money;
pub mod names;
pub mod pay_key;
pub mod reply;
pub mod request;
pub mod token;
pub mod verbs;

pub use money::Cents;
pub use pay_key::PayKey;
pub use reply::{ErrorCode, Refusal, Reply};
pub use request::{MAX_QUANTITY, Request, Secret};

/// Where a feira server listens, and where its clients look for it, unless told otherwise.
pub const DEFAULT_ADDR: &str = "127.0.0.1:7878";

/// The environment variable that moves the server, `feira-cli`, `feira-bench` and the
/// Makefile to another address at once: `export FEIRA_ADDR=127.0.0.1:7979`. Two people
/// on one machine each pick a port, and every command follows. A flag (`--addr`) still
/// wins over it; without either, [`DEFAULT_ADDR`].
pub const ADDR_ENV: &str = "FEIRA_ADDR";

/// The longest request line the server accepts by default, in bytes (8 KiB).
pub const DEFAULT_MAX_LINE: usize = 8 * 1024;
