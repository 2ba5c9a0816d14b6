//! Peer-to-peer file sharing: the part that happens between two peers.
//!
//! Why it is apart from the server: in seed 002 the central server only keeps track of
//! who is connected, at which address, publishing what (the assignment calls it a
//! directory); the file bytes travel directly from one client to another. This module
//! is that direct path, and nothing here talks to the server. docs/P2P.md is its contract.
//!
//! # Layout, bottom-up
//! Each file uses only the files above it, never one below: the imports form a
//! one-way graph.
//! - [`share`]: turning a name that came off the network into a path inside the shared
//!   folder, or refusing it (`..`, absolute paths, symlinks that lead outside);
//!   `timing` (private): a deadline for a whole line (request or header) and a minimum
//!   rate for a body, which a socket's per-read timeout cannot give;
//! - [`wire`]: the peer protocol, pure: `GET <name>`, then `OK <size> <sha256>` or
//!   `ERR <CODE> <message>`, then exactly `size` raw bytes;
//! - [`digest`]: streaming SHA-256 of a file, and the cache that spares re-hashing it;
//! - the serving side: `admission` (private): its two limits, connections still sending
//!   their request and downloads; `send` (private): one connection's thread, from the
//!   request to the last byte; [`server`]: [`PeerServer`], the serving peer on the
//!   crate's accept loop (`net::accept`), with a clean shutdown;
//! - the downloading side: `fetch_error` (private): [`FetchError`], why a download
//!   failed; `part` and `receive` (private): the temporary file that cleans up after
//!   itself, and the reader/hasher/writer pipeline that fills it;
//!   [`fetch`](mod@fetch): [`fetch()`], the downloading peer: bytes go to a temporary
//!   file that is renamed into place only when the size and the SHA-256 match.

mod admission;
pub mod digest;
pub mod fetch;
mod fetch_error;
mod part;
mod receive;
mod send;
pub mod server;
pub mod share;
mod timing;
pub mod wire;

pub use fetch::{FetchOptions, FetchReport, fetch, fetch_with, local_path_for};
pub use fetch_error::FetchError;
pub use server::{PeerOptions, PeerServer};
pub use share::{NameError, SharedFolder};
pub use wire::{Header, Sha256Digest};

/// The size of the buffers that move file bytes (reading, hashing, writing).
///
/// Why 256 KiB: each `read`/`write` system call has a fixed cost, so small buffers
/// (the seed used 1 KiB) spend their time in the kernel's entry and exit rather than
/// moving bytes. Past a few hundred KiB the gain flattens, and the buffer still fits
/// comfortably in the CPU's L2 cache, so hashing a chunk just read stays fast.
pub const CHUNK: usize = 256 * 1024;
