//! # feira
//!
//! A teaching reference for distributed-systems courses: one blocking,
//! thread-per-connection server that re-implements five classic student assignments
//! (a store, wallets, peer-to-peer file sharing, a Chord ring, sockets versus RPC) the
//! way they should be done: correct under concurrency, durable, and readable.
//!
//! # Layout
//!
//! The modules form layers, listed here from the bottom up: a module imports only
//! modules of its own layer or of the layers above it in this table, never one below
//! (docs/ARCHITECTURE.md, "Layers"; `tests/layers.rs` fails on an import that runs the
//! other way, and on any two files that import each other).
//!
//! | layer | module | what it is |
//! |---|---|---|
//! | 0. general helpers | [`error`] | the crate's error type, with file and line for damaged data |
//! | | [`clock`] | times as the tables and replies write them (RFC 3339, UTC, to the second) |
//! | | [`net`] | the accept loop every server runs: a thread per connection, `ERR BUSY` past a limit, a clean stop |
//! | 1. wire and disk | [`protocol`] | the wire format: tokens, bounded lines, exact money, the verbs, `Request` and `Reply`. Pure, no sockets |
//! | | [`storage`] | tables in memory behind their own locks, the journal and its fsync (`durability.rs`, `sync_state.rs`), snapshots; the speed layers, each one flag away from off (`layers.rs`): group commit, the pre-zeroed journal (`padding.rs`), appending checkpoints (`snapshot/append.rs`), hand-written CSV (`csv_field.rs`) |
//! | 2. the database | [`db`] | every table of a data directory, **the lock order**, the schema (one row type per table), account identity |
//! | 3. the domains | [`sharing`] | file sharing (seed 002): who is connected, published files, the audit thread |
//! | | [`wallet`] | the wallets of seed 001: balances, rotating pay keys, transfers, the ledger and its check |
//! | | [`shop`] | the shop of seeds 003 and 004: products, the ORDER critical section |
//! | | [`accounts`] | REGISTER, LOGIN, UNREGISTER; passwords, the hash gate, the login throttle |
//! | | [`p2p`] | peer-to-peer file transfer (seed 002): a serving peer, all-or-nothing downloads with SHA-256 |
//! | | [`chord`] | the Chord ring of seed 000: a node server, its maintenance thread, lookups (`feira-chord`) |
//! | 4. the server and the client | [`server`] | the store server: its listener, one thread per connection (`connection.rs`), replies sent once durable (`replies.rs`; the committer path, a speed layer: `reply_handover.rs`), sessions, the dispatcher, timeouts, shutdown |
//! | | `grpc` | the gRPC door (the `grpc` feature): `feira.v1.Store` from the same tables, locks and journal; its own small async runtime; seed 002's log server (`feira-log`) and the audit thread's forwarder to it |
//! | | [`client`] | a blocking client shared by the CLI, the benchmark and the tests |
//! | | [`http`] | the web door (`--http-addr`): `/time`, JSON statistics and catalogue, the live dashboard |
//! | 5. the programs | [`cli`] | `feira-cli`: one-shot commands, the interactive session and its menu, tables |
//! | | [`bench`] | `feira-bench`: a thread-per-connection load generator, HDR latencies, invariant checks |
//! | | [`demo`] | the demo accounts shipped in `data/`, and the start-up warning while their passwords work |
//!
//! The binaries in `src/bin/` only parse arguments and call into this library.
//!
//! # Concepts, and where to see them
//!
//! - *Thread per connection*: [`net::accept`], and its use in [`server::listener`].
//! - *Framing a request and a reply*: [`protocol::frame`], [`protocol::reply`].
//! - *One lock per table, one global lock order*: [`storage::Table`], [`db`].
//! - *A critical section*: [`shop::orders::place`].
//! - *Durability, the plain way*: [`server::connection`] (handle, then reply once
//!   durable), [`server::replies`], [`storage::Journal`].
//! - *Speed as named, measured layers*: [`storage::Layers`] (group commit, the
//!   pre-zeroed journal, appending checkpoints, hand-written CSV) and
//!   [`server::reply_handover`] (the committer sends the replies).
//! - *One process per data directory*: [`storage::DirLock`].
//! - *Slow work outside locks*: [`accounts`], [`accounts::password`].
//! - *An identity that is never reused*: [`db::identity`] (a name can be taken again;
//!   an account id cannot).
//! - *Fairness under abuse*: [`accounts::throttle`] (refuse before the slow work),
//!   [`accounts::fair_queue`] (serve the slow work in order, a share per client).
//! - *Bounded memory per connection*: long lists in pages ([`protocol::listing`]), a
//!   deadline for every reply ([`server::timed_writer`]).
//! - *Graceful shutdown*: [`net::accept`] (wake a blocked `accept`), [`server::listener`].
//! - *One canonical form per name, and text made harmless on its way out*:
//!   [`protocol::names`], [`accounts::look_alikes`], [`protocol::escape`].

pub mod accounts;
pub mod bench;
pub mod chord;
pub mod cli;
pub mod client;
pub mod clock;
pub mod db;
pub mod demo;
pub mod error;
#[cfg(feature = "grpc")]
pub mod grpc;
pub mod http;
pub mod net;
pub mod p2p;
pub mod protocol;
pub mod server;
pub mod sharing;
pub mod shop;
pub mod storage;
pub mod wallet;

pub use error::{Error, Result};
