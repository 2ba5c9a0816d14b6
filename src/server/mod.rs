//! The server: a listener thread that hands every connection to a thread of its own.
//!
//! - [`config`]: the settings;
//! - [`listener`]: [`Server`], the accept loop, the connection limit, shutdown;
//! - [`connection`]: one connection's thread: read a line, handle it, write the reply;
//! - [`replies`]: replies in order, each sent once the disk has what it says: the
//!   connection thread waits for the fsync, then writes (the plain path);
//! - [`reply_handover`]: the committer path, a speed layer (`--reply-path committer`,
//!   the default): the thread that runs the fsync sends the reply;
//! - [`timed_reader`]: the idle and line timeouts;
//! - [`timed_writer`]: the write deadline: a client takes each reply in time, or is cut off;
//! - [`session`]: one connection's [`Session`](session::Session): who is logged in, and
//!   what the connection remembers between requests;
//! - [`dispatch`]: what each request does, from the parsed request to the reply;
//! - [`stats`]: the STATS reply: connections, requests by verb, lock contention.

pub mod config;
pub mod connection;
pub mod dispatch;
pub mod listener;
pub mod replies;
pub mod reply_handover;
pub mod session;
pub mod stats;
pub mod timed_reader;
pub mod timed_writer;

pub use config::{Config, ReplyPath};
pub use listener::{Server, ShutdownHandle};

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use crate::accounts::password::HashGate;
use crate::accounts::throttle::Throttle;
use crate::db::Db;
use crate::sharing::{AuditLog, ConnectedPeers};

/// What every connection thread shares. Each part has its own synchronisation; there
/// is no big lock around the whole.
pub struct Shared {
    /// The settings, fixed for the server's life (read without a lock).
    pub config: Config,
    /// Every table, each behind its own lock, and the journal (src/db.rs).
    pub db: Db,
    /// Bounds the memory taken by password hashing, and shares it fairly.
    pub hash_gate: HashGate,
    /// Refuses logins and registrations over their limits, before any hashing.
    pub throttle: Throttle,
    /// Counters for STATS and the logs.
    pub counters: Counters,
    /// The users connected for file sharing (in memory only).
    pub peers: ConnectedPeers,
    /// The sending side of the audit log of file-sharing operations.
    pub audit: AuditLog,
    /// When the server started, for STATS's uptime.
    pub started: Instant,
}

/// Server-wide counters; atomics, so counting never waits.
pub struct Counters {
    /// Connections being served now.
    pub live: AtomicUsize,
    /// Connections accepted since start.
    pub accepted: AtomicU64,
    /// Connections refused with BUSY.
    pub refused: AtomicU64,
    /// Requests handled.
    pub requests: AtomicU64,
    /// Requests handled, by verb: one counter per row of `protocol::verbs::VERBS`.
    pub by_verb: Vec<AtomicU64>,
    /// Pay keys replaced since start. Shared (`Arc`) with the key rotation thread,
    /// which counts its passes into it (src/wallet/rotation.rs).
    pub key_rotations: Arc<AtomicU64>,
}

impl Default for Counters {
    fn default() -> Counters {
        Counters {
            live: AtomicUsize::new(0),
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            by_verb: crate::protocol::verbs::VERBS
                .iter()
                .map(|_| AtomicU64::new(0))
                .collect(),
            key_rotations: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl Counters {
    /// Counts one request for this verb.
    pub fn count_verb(&self, verb: &str) {
        let index = crate::protocol::verbs::VERBS
            .iter()
            .position(|v| v.name == verb);
        if let Some(counter) = index.and_then(|i| self.by_verb.get(i)) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Connections being served now. `Relaxed`: a figure for STATS and the limit's
    /// check, which [`listener`]'s accept thread alone increments.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }
}

/// Background threads that need only the database (key rotation) take the shared state.
impl AsRef<Db> for Shared {
    fn as_ref(&self) -> &Db {
        &self.db
    }
}

/// A handle on the shared state, cheap to clone into each thread.
pub type SharedRef = Arc<Shared>;
